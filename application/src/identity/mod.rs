//! Identity: users (event-sourced, see `domain::user`), passwords, sign-in, tokens.

pub mod passwords;
mod sessions;
pub mod tokens;
mod users;

use std::sync::Arc;

use commands::CommandStore;
use sqlx::PgPool;

pub use sessions::{LoginError, Session, FAILURES_BEFORE_LOCK, LOCK_DURATION};
pub use tokens::AccessTokens;
pub use users::{NewUser, UserError, UserView};

/// The identity use cases, shared by the API and the CLI.
pub struct Identity {
    pub(crate) store: Arc<CommandStore>,
    pub(crate) pool: PgPool,
    pub tokens: Arc<AccessTokens>,
}

impl Identity {
    pub fn new(store: Arc<CommandStore>, tokens: Arc<AccessTokens>) -> Self {
        Self {
            pool: store.pool().clone(),
            store,
            tokens,
        }
    }
}
