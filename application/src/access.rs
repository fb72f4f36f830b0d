//! Who the caller is, and whether they may touch a project.
//!
//! An access token proves who signed in; what they may do is read from the store (their
//! current role and status, kept here for at most [`PRINCIPAL_TTL`]), so a disabled user or a
//! changed role takes effect within seconds, not when the token expires.

use std::sync::Arc;
use std::time::Duration;

use commands::CommandStore;
use domain::access::{decide, Decision, Need};
use domain::project::ProjectStatus;
use domain::user::{Role, UserStatus};
use uuid::Uuid;

use crate::identity::tokens::Claims;
use crate::identity::AccessTokens;

/// How long a caller's role and status are trusted without reading the store again. A change
/// made through this process takes effect at once (see [`Gatekeeper::forget`]).
pub const PRINCIPAL_TTL: Duration = Duration::from_secs(5);

/// The authenticated caller of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
}

impl Caller {
    /// The user id as recorded in event metadata (`actor`).
    pub fn actor(&self) -> String {
        self.user_id.to_string()
    }

    /// The member filter for lists: operators and viewers see their projects only.
    pub fn member_filter(&self) -> Option<Uuid> {
        (!domain::access::sees_every_project(self.role)).then_some(self.user_id)
    }
}

/// What a path's id names, so the project concerned can be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    None,
    Project(Uuid),
    Job(Uuid),
    Source(Uuid),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// No token, or one that is malformed, expired, signed with another key, or of a user who
    /// no longer exists or is disabled.
    #[error("a valid access token is required")]
    Unauthenticated,
    #[error("your role does not allow this")]
    Forbidden,
    /// The project (or what the path names) does not exist or is not visible to the caller.
    #[error("not found")]
    Hidden,
    #[error("{0}")]
    Unavailable(String),
}

pub struct Gatekeeper {
    store: Arc<CommandStore>,
    tokens: Arc<AccessTokens>,
    /// Callers by user id, kept [`PRINCIPAL_TTL`].
    principals: moka::sync::Cache<Uuid, Caller>,
}

impl Gatekeeper {
    pub fn new(store: Arc<CommandStore>, tokens: Arc<AccessTokens>) -> Self {
        Self {
            store,
            tokens,
            principals: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PRINCIPAL_TTL)
                .build(),
        }
    }

    /// The caller an `Authorization: Bearer` token names, if it is valid and the user active.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AccessError> {
        let claims = self
            .tokens
            .verify(token)
            .ok_or(AccessError::Unauthenticated)?;
        self.authenticate_verified(&claims).await
    }

    /// The caller of claims already verified (by [`AccessTokens::verify`]) for this request.
    pub async fn authenticate_verified(&self, claims: &Claims) -> Result<Caller, AccessError> {
        if let Some(caller) = self.cached(claims.sub) {
            return Ok(caller);
        }
        let user = self
            .store
            .load_user(claims.sub)
            .await
            .map_err(|e| AccessError::Unavailable(e.to_string()))?;
        let (UserStatus::Active, Some(role)) = (user.status, user.role) else {
            return Err(AccessError::Unauthenticated);
        };
        let caller = Caller {
            user_id: claims.sub,
            role,
        };
        self.principals.insert(caller.user_id, caller);
        Ok(caller)
    }

    fn cached(&self, user_id: Uuid) -> Option<Caller> {
        self.principals.get(&user_id)
    }

    /// Drops what is kept of a user (after their role or status changed).
    pub fn forget(&self, user_id: Uuid) {
        self.principals.invalidate(&user_id);
    }

    /// Whether `caller` may do what `need`s, on the project `subject` belongs to.
    pub async fn authorize(
        &self,
        caller: &Caller,
        need: Need,
        subject: Subject,
    ) -> Result<(), AccessError> {
        let project_scoped = matches!(need, Need::ReadProject | Need::WriteProject);
        // Admins and auditors see every project: no lookup (the handler answers 404 for an id
        // that does not exist).
        let member = if project_scoped && !domain::access::sees_every_project(caller.role) {
            match self.project_of(subject).await? {
                Some(project) => self.is_member(project, caller.user_id).await?,
                None => false,
            }
        } else {
            false
        };
        match decide(caller.role, need, member) {
            Decision::Allow => Ok(()),
            Decision::Forbidden => Err(AccessError::Forbidden),
            Decision::Hidden => Err(AccessError::Hidden),
        }
    }

    /// The project a subject belongs to, read from the store (never from a read model, which
    /// may not have caught up with a job created a moment ago).
    async fn project_of(&self, subject: Subject) -> Result<Option<Uuid>, AccessError> {
        let unavailable = |e: commands::CommandError<std::convert::Infallible>| {
            AccessError::Unavailable(e.to_string())
        };
        Ok(match subject {
            Subject::None => None,
            Subject::Project(id) => Some(id),
            Subject::Job(id) => {
                self.store
                    .load_job(id)
                    .await
                    .map_err(unavailable)?
                    .project_id
            }
            Subject::Source(id) => {
                self.store
                    .load_data_source(id)
                    .await
                    .map_err(unavailable)?
                    .project_id
            }
        })
    }

    async fn is_member(&self, project_id: Uuid, user_id: Uuid) -> Result<bool, AccessError> {
        let project = self
            .store
            .load_project(project_id)
            .await
            .map_err(|e| AccessError::Unavailable(e.to_string()))?;
        Ok(project.status != ProjectStatus::Absent && project.members.contains(&user_id))
    }
}
