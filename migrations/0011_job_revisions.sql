-- A job's definition revision (1 when created, one more with each JobUpdated) and the revision
-- the run whose results are shown was computed from. Existing rows get their revision counted
-- from the store; their results' revision is unknown (NULL).
ALTER TABLE rm_jobs
    ADD COLUMN revision integer NOT NULL DEFAULT 1,
    ADD COLUMN results_revision integer;

UPDATE rm_jobs j
SET revision = 1 + (SELECT count(*) FROM events e
                    WHERE e.aggregate_id = j.job_id::text AND e.event_type = 'JobUpdated');
