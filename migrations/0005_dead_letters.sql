-- Kafka messages the projector could not read as Recon events (not JSON, not an event): kept
-- here with the reason instead of stopping the consumer. Real events are never dead-lettered:
-- an event that cannot be applied stops its projector (visible as lag) until fixed.
CREATE TABLE projection_dead_letters
(
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    key         text,
    payload     text,
    reason      text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
