-- The age in seconds of the oldest event, among the newest $2 by position, that the read models
-- ($1) have not applied; 0 when there is none.
SELECT coalesce(extract(epoch FROM now() - min(e.recorded_at)), 0)::float8
FROM (SELECT aggregate_id, sequence, recorded_at FROM events ORDER BY position DESC LIMIT $2) e
LEFT JOIN projection_applied a ON a.projection = $1 AND a.aggregate_id = e.aggregate_id
WHERE e.sequence > coalesce(a.last_sequence, 0)
