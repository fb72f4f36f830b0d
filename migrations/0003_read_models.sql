-- What each projection has applied, per aggregate. Updated in the same transaction as the read
-- model, so a redelivered or replayed event is recognised and skipped.
CREATE TABLE projection_applied
(
    projection    text        NOT NULL,
    aggregate_id  text        NOT NULL,
    last_sequence bigint      NOT NULL,
    last_position bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, aggregate_id)
);

-- Where the in-process (embedded) projector has read the store up to.
CREATE TABLE projection_store_checkpoints
(
    projection     text PRIMARY KEY,
    transaction_id xid8   NOT NULL,
    position       bigint NOT NULL
);

CREATE TABLE rm_projects
(
    project_id    uuid PRIMARY KEY,
    name          text        NOT NULL,
    description   text        NOT NULL,
    base_currency text        NOT NULL,
    status        text        NOT NULL,
    version       bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX rm_projects_created ON rm_projects (created_at, project_id);

CREATE TABLE rm_jobs
(
    job_id          uuid PRIMARY KEY,
    project_id      uuid        NOT NULL,
    name            text        NOT NULL,
    left_source_id  uuid        NOT NULL,
    right_source_id uuid        NOT NULL,
    rule_set        jsonb       NOT NULL,
    status          text        NOT NULL,
    matched         bigint,
    unmatched_left  bigint,
    unmatched_right bigint,
    suggestions     bigint,
    failure_reason  text,
    cancel_reason   text,
    version         bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX rm_jobs_by_project ON rm_jobs (project_id, created_at, job_id);
CREATE INDEX rm_jobs_by_status ON rm_jobs (status);

-- Dashboard counters, kept by the projector (never recounted on read).
CREATE TABLE rm_dashboard_counters
(
    counter text PRIMARY KEY,
    value   bigint NOT NULL
);
