//! Telling readers that the read models changed. After every committed batch that applied
//! events, the projector (embedded or Kafka, in any process) sends `NOTIFY recon_read_models`;
//! API processes listen and drop what they cached (`api::read_cache`). Sent after the commit,
//! never inside it, so a reader that hears it finds the new rows.

use sqlx::PgPool;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "recon_read_models";

/// Announces a committed change. A lost notification is harmless only while nobody caches, so a
/// failure is logged: listeners also drop everything whenever their own connection drops.
pub(crate) async fn announce(pool: &PgPool) {
    if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, "cannot announce a read-model change");
    }
}
