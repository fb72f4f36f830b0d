-- Events a projection could not apply (a payload that no longer decodes, a value the read
-- models refuse), parked so the projection goes on with the rest: the aggregate's applied
-- sequence moves past them in the same transaction. Reported in /api/v1/projections/status
-- and /metrics. RECON_PROJECTION_FAILURES=stop keeps the old behaviour (retry until fixed).
CREATE TABLE projection_parked_events
(
    projection     text        NOT NULL,
    event_id       uuid        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    position       bigint      NOT NULL,
    event_type     text        NOT NULL,
    reason         text        NOT NULL,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, event_id)
);
