-- Committed events after a checkpoint, in store order, gap-safe: only events whose writing
-- transaction is older than every transaction still running are visible, so no event can later
-- appear before one already returned. See docs/decisions/0001-gap-safe-ordering.md.
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
WHERE (transaction_id, position) > ($1::bigint::text::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT $3
