-- The event store. Column names of the first seven columns are postgres-es's; the rest are
-- Recon's: a store-wide position, an event id, the time it was recorded and the id of the
-- transaction that wrote it (for gap-safe reading, see docs/decisions/0001-gap-safe-ordering.md).
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        jsonb                        NOT NULL,
    metadata       jsonb                        NOT NULL,
    position       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id       uuid        NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- Store order: (transaction_id, position). Readers only read below the oldest running
-- transaction, so the order never changes under them.
CREATE INDEX events_store_order ON events (transaction_id, position);
CREATE INDEX events_by_aggregate_id ON events (aggregate_id, sequence);
CREATE INDEX events_recorded_at ON events (recorded_at);

-- Snapshots, for postgres-es's snapshot store (unused today; a snapshot that no longer
-- deserialises would fall back to replaying events).
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          jsonb                                NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Nothing is ever overwritten: the store refuses UPDATE, DELETE and TRUNCATE.
CREATE FUNCTION recon_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event store is append-only: % on events is refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION recon_refuse_event_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION recon_refuse_event_change();

-- Wake followers (relay, embedded projector) when events commit. A wake-up only; followers
-- read the store itself, so a lost notification delays and never loses.
CREATE FUNCTION recon_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recon_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION recon_notify_events();
