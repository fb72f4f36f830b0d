-- Per relay: events committed after its checkpoint (not yet published to Kafka), and the age of
-- the oldest of them. Store order is (transaction_id, position), as the relay reads it.
SELECT r.relay,
       count(e.position)::bigint AS lag_events,
       coalesce(extract(epoch FROM now() - min(e.recorded_at)), 0)::float8 AS lag_seconds,
       r.published_events
FROM relay_checkpoints r
LEFT JOIN events e ON (e.transaction_id, e.position) > (r.transaction_id, r.position)
GROUP BY r.relay, r.published_events
