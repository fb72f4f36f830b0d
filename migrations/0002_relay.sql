-- How far the relay has published to Kafka: the store-order key of the last event the broker
-- acknowledged. Written only after the acknowledgement, so a crash means a re-send.
CREATE TABLE relay_checkpoints
(
    relay            text PRIMARY KEY,
    transaction_id   xid8        NOT NULL,
    position         bigint      NOT NULL,
    published_events bigint      NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
