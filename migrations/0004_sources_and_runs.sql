-- The record store: every data source's records, derived from its kept raw files and
-- deduplicated by fingerprint (re-importing a statement adds nothing).
CREATE TABLE source_records
(
    source_id    uuid    NOT NULL,
    fingerprint  text    NOT NULL,
    file_sha256  text    NOT NULL,
    row_number   bigint  NOT NULL,
    record_id    text    NOT NULL,
    booking_date date    NOT NULL,
    value_date   date,
    amount       numeric NOT NULL,
    currency     text    NOT NULL,
    reference    text,
    counterparty text,
    description  text,
    PRIMARY KEY (source_id, fingerprint)
);

CREATE TABLE rm_sources
(
    source_id  uuid PRIMARY KEY,
    project_id uuid        NOT NULL,
    name       text        NOT NULL,
    settings   jsonb       NOT NULL,
    files      bigint      NOT NULL DEFAULT 0,
    records    bigint      NOT NULL DEFAULT 0,
    last_file  jsonb,
    version    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX rm_sources_by_project ON rm_sources (project_id, created_at, source_id);

ALTER TABLE rm_jobs
    ADD COLUMN run      integer NOT NULL DEFAULT 0,
    ADD COLUMN progress jsonb,
    ADD COLUMN outcome  jsonb;

-- Which worker runs which job run. A lease expires unless its worker renews it, so a job whose
-- worker died is picked up by another; `finished` stops a done run from being picked up again.
CREATE TABLE job_leases
(
    job_id     uuid PRIMARY KEY,
    run        integer     NOT NULL,
    worker_id  text        NOT NULL,
    expires_at timestamptz NOT NULL,
    finished   boolean     NOT NULL DEFAULT false
);

-- Results of job runs. Written in one transaction per run (replacing any partial attempt of the
-- same run), before the run's JobCompleted event; shown only for the run the job completed.
CREATE TABLE result_matches
(
    job_id            uuid             NOT NULL,
    run               integer          NOT NULL,
    seq               bigint           NOT NULL,
    pass_index        integer          NOT NULL,
    pass_name         text             NOT NULL,
    score             double precision NOT NULL,
    amount_difference numeric          NOT NULL,
    day_difference    integer          NOT NULL,
    conditions        jsonb            NOT NULL,
    left_ids          jsonb            NOT NULL,
    right_ids         jsonb            NOT NULL,
    PRIMARY KEY (job_id, run, seq)
);

CREATE TABLE result_unmatched
(
    job_id       uuid    NOT NULL,
    run          integer NOT NULL,
    side         text    NOT NULL,
    seq          bigint  NOT NULL,
    record_id    text    NOT NULL,
    booking_date date    NOT NULL,
    amount       numeric NOT NULL,
    currency     text    NOT NULL,
    reference    text,
    PRIMARY KEY (job_id, run, side, seq)
);

CREATE TABLE result_suggestions
(
    job_id     uuid    NOT NULL,
    run        integer NOT NULL,
    seq        bigint  NOT NULL,
    pass_index integer NOT NULL,
    pass_name  text    NOT NULL,
    side       text    NOT NULL,
    record_id  text    NOT NULL,
    candidates jsonb   NOT NULL,
    PRIMARY KEY (job_id, run, seq)
);
