-- One aggregate's events, oldest first.
SELECT position,
       transaction_id::text::bigint AS transaction_id,
       event_id,
       aggregate_type,
       aggregate_id,
       sequence,
       event_type,
       event_version,
       payload,
       metadata,
       recorded_at
FROM events
WHERE aggregate_id = $1
ORDER BY sequence
