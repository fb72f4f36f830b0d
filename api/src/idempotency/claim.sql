-- Claims an idempotency key for a request: inserts it as running, or, when the key's record
-- has expired ($5) or its first request was abandoned while running ($6), takes it over.
-- Answers a row only when this request now owns the key.
INSERT INTO idempotency_keys AS k (user_id, key, request_hash, state, created_at)
VALUES ($1, $2, $3, 'running', $4)
ON CONFLICT (user_id, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, state = 'running', status = NULL, headers = NULL,
        body = NULL, created_at = EXCLUDED.created_at
    WHERE k.created_at < $5 OR (k.state = 'running' AND k.created_at < $6)
RETURNING created_at
