//! Users: create, change role, change password, disable. The e-mail claim and the credential
//! are written before the command that names them; should the command fail, what was written
//! names no user and is never used.

use commands::{CommandError, CommandMetadata, Committed};
use domain::user::{Email, Role, User, UserCommand, UserStatus};
use domain::{ValidationErrors, Version};
use serde::Serialize;
use uuid::Uuid;

use super::{passwords, Identity};

/// What creating a user needs (already parsed by the caller, or by [`NewUser::parse`]).
pub struct NewUser {
    pub email: Email,
    pub role: Role,
    pub password: String,
}

impl NewUser {
    pub fn parse(email: &str, role: &str, password: String) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(email));
        let role = errors.check("role", Role::parse(role));
        errors.check("password", passwords::check_new(&password));
        match (email, role, errors.errors.is_empty()) {
            (Some(email), Some(role), true) => Ok(NewUser {
                email,
                role,
                password,
            }),
            _ => Err(errors),
        }
    }
}

/// A user as the API shows it: never a password or a hash.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct UserView {
    pub user_id: Uuid,
    pub email: String,
    #[schema(value_type = String, example = "operator")]
    pub role: Role,
    #[schema(value_type = String, example = "active")]
    pub status: UserStatus,
    pub version: Version,
}

impl UserView {
    pub fn of(user: &User) -> Option<Self> {
        Some(Self {
            user_id: user.user_id?,
            email: user.email.as_ref()?.as_str().to_string(),
            role: user.role?,
            status: user.status,
            version: user.version,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("a user with this e-mail address exists")]
    EmailTaken,
    #[error("no such user")]
    NotFound,
    #[error("the current password is wrong")]
    WrongPassword,
    /// Admins cannot demote or disable themselves, so the last admin cannot lock everyone out
    /// by mistake; another admin must do it.
    #[error("an admin cannot change their own role or disable themselves; another admin must")]
    OwnAccount,
    #[error(transparent)]
    Command(#[from] CommandError<domain::UserError>),
    #[error("cannot hash the password: {0}")]
    Hashing(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<CommandError<std::convert::Infallible>> for UserError {
    fn from(e: CommandError<std::convert::Infallible>) -> Self {
        UserError::Command(commands::store::widen(e))
    }
}

impl Identity {
    /// Creates a user; `metadata.actor` is who does it (an admin, or `cli` for the first one).
    pub async fn create_user(
        &self,
        new: NewUser,
        metadata: &CommandMetadata,
    ) -> Result<Committed, UserError> {
        let user_id = Uuid::now_v7();
        let claimed = sqlx::query(
            "INSERT INTO user_emails (email, user_id) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING",
        )
        .bind(new.email.as_str())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        if claimed.rows_affected() == 0 {
            return Err(UserError::EmailTaken);
        }
        let credential_id = self.store_credential(user_id, new.password).await?;
        let command = UserCommand::Create {
            user_id,
            email: new.email,
            role: new.role,
            credential_id,
        };
        Ok(self.store.user(user_id, command, metadata).await?)
    }

    async fn store_credential(&self, user_id: Uuid, password: String) -> Result<Uuid, UserError> {
        let hash = passwords::hash(password)
            .await
            .map_err(UserError::Hashing)?;
        let credential_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO user_credentials (credential_id, user_id, password_hash) VALUES ($1, $2, $3)",
        )
        .bind(credential_id)
        .bind(user_id)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(credential_id)
    }

    pub(crate) async fn credential_hash(
        &self,
        credential_id: Option<Uuid>,
    ) -> Result<Option<String>, sqlx::Error> {
        let Some(credential_id) = credential_id else {
            return Ok(None);
        };
        sqlx::query_scalar("SELECT password_hash FROM user_credentials WHERE credential_id = $1")
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await
    }

    /// The user with this address, if any.
    pub(crate) async fn user_by_email(&self, email: &Email) -> Result<Option<User>, UserError> {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT user_id FROM user_emails WHERE email = $1")
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await?;
        match id {
            None => Ok(None),
            Some(id) => {
                let user = self.store.load_user(id).await?;
                Ok((user.status != UserStatus::Absent).then_some(user))
            }
        }
    }

    pub async fn get_user(&self, id: Uuid) -> Result<UserView, UserError> {
        let user = self.store.load_user(id).await?;
        UserView::of(&user).ok_or(UserError::NotFound)
    }

    /// Whether any user exists (embedded mode tells how to create the first one otherwise).
    pub async fn any_user(&self) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM user_emails)")
            .fetch_one(&self.pool)
            .await
    }

    /// Ends every sign-in of the user (their refresh tokens stop working).
    async fn revoke_sessions(&self, user_id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Changes user `id`'s role, as admin `by`.
    pub async fn change_role(
        &self,
        by: Uuid,
        id: Uuid,
        role: Role,
        expected_version: Option<Version>,
        metadata: &CommandMetadata,
    ) -> Result<Committed, UserError> {
        if by == id {
            return Err(UserError::OwnAccount);
        }
        let command = UserCommand::ChangeRole {
            expected_version,
            role,
        };
        Ok(self.store.user(id, command, metadata).await?)
    }

    /// Disables user `id`, as admin `by`.
    pub async fn disable(
        &self,
        by: Uuid,
        id: Uuid,
        expected_version: Option<Version>,
        metadata: &CommandMetadata,
    ) -> Result<Committed, UserError> {
        if by == id {
            return Err(UserError::OwnAccount);
        }
        let committed = self
            .store
            .user(id, UserCommand::Disable { expected_version }, metadata)
            .await?;
        // A disabled user's sign-ins end now, not when their refresh tokens expire.
        self.revoke_sessions(id).await?;
        Ok(committed)
    }

    /// Changes the caller's own password; the current one must be given.
    pub async fn change_password(
        &self,
        id: Uuid,
        current: String,
        new: String,
        metadata: &CommandMetadata,
    ) -> Result<Committed, UserError> {
        let mut errors = ValidationErrors::new();
        errors.check("new_password", passwords::check_new(&new));
        errors.clone().into_result().map_err(UserError::Invalid)?;
        let user = self.store.load_user(id).await?;
        let stored = self.credential_hash(user.credential_id).await?;
        if !passwords::verify(current, stored).await {
            return Err(UserError::WrongPassword);
        }
        let credential_id = self.store_credential(id, new).await?;
        let committed = self
            .store
            .user(id, UserCommand::ChangePassword { credential_id }, metadata)
            .await?;
        // Other sessions of this user end; a lock of their address is lifted.
        self.revoke_sessions(id).await?;
        if let Some(email) = &user.email {
            sqlx::query("DELETE FROM login_failures WHERE email = $1")
                .bind(email.as_str())
                .execute(&self.pool)
                .await?;
        }
        Ok(committed)
    }
}
