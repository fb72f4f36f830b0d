-- The per-statement NOTIFY trigger serialised every appending commit behind PostgreSQL's
-- cluster-wide notification lock (the append benchmark: 9.3k vs 2.9k inserts/s). Followers are
-- now woken by a NOTIFY the command side sends after commit, coalesced (at most one per few
-- milliseconds), outside the appending transaction. Followers still read the store itself, so a
-- missed wake-up only delays (they also poll).
DROP TRIGGER events_notify ON events;
DROP FUNCTION recon_notify_events();
