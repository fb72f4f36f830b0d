-- Appends one command's events in a single statement (atomic without BEGIN/COMMIT round trips)
-- and answers their store positions. A duplicate (aggregate, sequence) is a concurrent append:
-- the primary key refuses it (23505), which the command side turns into a 409.
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
     AS e(sequence, event_type, event_version, payload, metadata)
RETURNING sequence, position
