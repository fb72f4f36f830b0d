-- Idempotency keys (IETF httpapi Idempotency-Key draft): the first response to a mutation with a
-- key is kept per (user, key) for 24 hours, with a hash of the request it answered.
CREATE TABLE idempotency_keys
(
    user_id      uuid        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    -- 'running' until the first request has answered, then 'done'.
    state        text        NOT NULL,
    status       integer,
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
