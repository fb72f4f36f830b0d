-- Parks an event ($2) of a projection ($1) with the reason it could not be applied ($8).
INSERT INTO projection_parked_events
    (projection, event_id, aggregate_type, aggregate_id, sequence, position, event_type, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (projection, event_id) DO NOTHING
