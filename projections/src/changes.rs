//! Telling readers that the read models changed. Every batch that applied events sends
//! `NOTIFY recon_read_models` in its own transaction: PostgreSQL delivers it at commit, once the
//! new rows are visible, and never for a batch that rolled back, so a committed change cannot
//! go unannounced (a listener that was disconnected drops its cache on reconnecting). API
//! processes listen and drop what they cached (`api::read_cache`); read-your-writes waits wake
//! on it. The projector is one writer per process, so the notify queue's commit-time lock costs
//! one batch, not every command (unlike a NOTIFY in the appending transactions, see migration
//! 0006).

use sqlx::PgConnection;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "recon_read_models";

/// Announces the change the transaction is about to commit.
pub(crate) async fn announce(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(tx)
        .await?;
    Ok(())
}
