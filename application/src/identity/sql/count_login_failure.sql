-- Counts one failed sign-in for an address ($1) at $2. Failures older than the lock window
-- ($3) start the count again; the failure that reaches the limit ($5) locks until $4.
INSERT INTO login_failures AS f (email, failures, last_failed_at, locked_until)
VALUES ($1, 1, $2, NULL)
ON CONFLICT (email) DO UPDATE SET
    failures       = CASE WHEN f.last_failed_at < $3 THEN 1 ELSE f.failures + 1 END,
    last_failed_at = $2,
    locked_until   = CASE
        WHEN (CASE WHEN f.last_failed_at < $3 THEN 1 ELSE f.failures + 1 END) >= $5 THEN $4
        ELSE NULL END
RETURNING failures, locked_until
