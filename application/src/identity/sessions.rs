//! Sign-in, refresh and sign-out.
//!
//! Every refused sign-in takes the same path and time (an argon2 verification, against a decoy
//! hash when the address names no user) and says the same thing, so answers do not tell which
//! addresses have accounts. Failures are counted per address, known or not; the fifth within
//! [`LOCK_DURATION`] locks the address for that long (a `UserLocked` event when it names a user).

use chrono::{DateTime, Utc};
use commands::CommandMetadata;
use domain::user::{Email, UserCommand, UserStatus};
use serde::Serialize;
use uuid::Uuid;

use super::tokens::{new_refresh_token, refresh_token_hash, ACCESS_TTL, REFRESH_TTL};
use super::{passwords, Identity};

pub const FAILURES_BEFORE_LOCK: i32 = 5;
pub const LOCK_DURATION: chrono::Duration = chrono::Duration::minutes(15);

/// What a sign-in or a refresh answers. Tokens are secrets: never logged.
#[derive(utoipa::ToSchema, Serialize)]
pub struct Session {
    pub access_token: String,
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: i64,
    pub refresh_token: String,
    pub user_id: Uuid,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong address or password, unknown or disabled account: one answer for all.
    #[error("wrong e-mail address or password")]
    Refused,
    /// Too many failures for this address; try again after `retry_after` seconds.
    #[error("wrong e-mail address or password")]
    Locked { retry_after: i64 },
    /// A refresh token that is unknown, expired, revoked or used before.
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Store(String),
}

impl Identity {
    pub async fn login(&self, email: &str, password: String) -> Result<Session, LoginError> {
        let now = Utc::now();
        let email = Email::parse(email).ok();
        let user = match &email {
            Some(email) => self
                .user_by_email(email)
                .await
                .map_err(|e| LoginError::Store(e.to_string()))?,
            None => None,
        };
        let stored = match &user {
            Some(u) => self.credential_hash(u.credential_id).await?,
            None => None,
        };
        // Always verify, so every refusal costs the same time.
        let matched = passwords::verify(password, stored).await;
        let Some(email) = email else {
            return Err(LoginError::Refused);
        };
        if let Some(retry_after) = self.locked_for(&email, now).await? {
            return Err(LoginError::Locked { retry_after });
        }
        let user = user.filter(|u| matched && u.status == UserStatus::Active);
        let Some(user) = user else {
            self.count_failure(&email, now).await?;
            return Err(LoginError::Refused);
        };
        sqlx::query("DELETE FROM login_failures WHERE email = $1")
            .bind(email.as_str())
            .execute(&self.pool)
            .await?;
        let (Some(user_id), Some(role)) = (user.user_id, user.role) else {
            return Err(LoginError::Refused);
        };
        let mut conn = self.pool.acquire().await?;
        let refresh_token = insert_refresh_token(&mut conn, user_id, Uuid::now_v7(), now).await?;
        Ok(Session {
            access_token: self.tokens.issue(user_id, role, now),
            token_type: "Bearer",
            expires_in: ACCESS_TTL.num_seconds(),
            refresh_token,
            user_id,
        })
    }

    /// Seconds left of a lock on this address, if it is locked.
    async fn locked_for(
        &self,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let until: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE email = $1")
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(until
            .flatten()
            .filter(|until| *until > now)
            .map(|until| (until - now).num_seconds().max(1)))
    }

    /// Counts a failure; the fifth within the lock duration locks the address.
    async fn count_failure(&self, email: &Email, now: DateTime<Utc>) -> Result<(), LoginError> {
        let (failures, locked_until): (i32, Option<DateTime<Utc>>) =
            sqlx::query_as(include_str!("sql/count_login_failure.sql"))
                .bind(email.as_str())
                .bind(now)
                .bind(now - LOCK_DURATION)
                .bind(now + LOCK_DURATION)
                .bind(FAILURES_BEFORE_LOCK)
                .fetch_one(&self.pool)
                .await?;
        if let (Some(until), true) = (locked_until, failures == FAILURES_BEFORE_LOCK) {
            tracing::warn!(failures, "sign-in locked after repeated failures");
            if let Ok(Some(user)) = self.user_by_email(email).await {
                if let Some(user_id) = user.user_id {
                    let command = UserCommand::Lock {
                        until,
                        failures: failures as u32,
                    };
                    self.store
                        .user(user_id, command, &CommandMetadata::system("sign-in"))
                        .await
                        .map_err(|e| LoginError::Store(e.to_string()))?;
                }
            }
        }
        Ok(())
    }

    /// Trades a refresh token for a new access token and a new refresh token. A token used
    /// before is a stolen copy or a replay: the whole family (that sign-in) is revoked.
    pub async fn refresh(&self, token: &str) -> Result<Session, LoginError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens
                 WHERE token_hash = $1 FOR UPDATE",
        )
        .bind(refresh_token_hash(token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family_id, user_id, expires_at, used_at, revoked_at)) = row else {
            return Err(LoginError::InvalidRefreshToken);
        };
        if used_at.is_some() {
            revoke_family(&mut tx, family_id).await?;
            tx.commit().await?;
            tracing::warn!(%user_id, "a used refresh token was presented again; its sign-in is revoked");
            return Err(LoginError::InvalidRefreshToken);
        }
        if revoked_at.is_some() || expires_at <= now {
            return Err(LoginError::InvalidRefreshToken);
        }
        sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1")
            .bind(refresh_token_hash(token))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let user = self
            .store
            .load_user(user_id)
            .await
            .map_err(|e| LoginError::Store(e.to_string()))?;
        let Some(role) = user.role.filter(|_| user.status == UserStatus::Active) else {
            revoke_family(&mut tx, family_id).await?;
            tx.commit().await?;
            return Err(LoginError::InvalidRefreshToken);
        };
        let next = insert_refresh_token(&mut tx, user_id, family_id, now).await?;
        tx.commit().await?;
        Ok(Session {
            access_token: self.tokens.issue(user_id, role, now),
            token_type: "Bearer",
            expires_in: ACCESS_TTL.num_seconds(),
            refresh_token: next,
            user_id,
        })
    }

    /// Ends the sign-in the refresh token belongs to (its whole family). Unknown tokens are
    /// ignored: signing out twice is not an error.
    pub async fn logout(&self, token: &str) -> Result<(), LoginError> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now()
             WHERE revoked_at IS NULL AND family_id =
               (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
        )
        .bind(refresh_token_hash(token))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// family, user, expiry, used, revoked.
type RefreshRow = (
    Uuid,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// A new refresh token of `family_id`; only its hash is stored.
async fn insert_refresh_token(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let token = new_refresh_token();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(refresh_token_hash(&token))
    .bind(family_id)
    .bind(user_id)
    .bind(now)
    .bind(now + REFRESH_TTL)
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

async fn revoke_family(tx: &mut sqlx::PgConnection, family_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
