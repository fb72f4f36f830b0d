//! The User aggregate: who may sign in, with which role. Event-sourced like everything else.
//!
//! Password hashes are not in the events: the store is append-only and fanned out to Kafka and
//! audit exports, and a secret must never travel there. Each password is kept, hashed, in a
//! credentials table under a fresh credential id; the events name only that id, so the history
//! still says when a password changed and which credential is current.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Version, CURRENT_EVENT_VERSION};

/// What a user may do (see `access` for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Users and every project.
    Admin,
    /// Commands and reads in the projects they belong to.
    Operator,
    /// Reads in the projects they belong to.
    Viewer,
    /// Reads everything, event histories and exports; changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Viewer, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(raw: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| "must be one of admin, operator, viewer, auditor".to_string())
    }
}

/// An e-mail address, trimmed and lower-cased: the sign-in name, unique among users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Email, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} bytes", Self::MAX_LEN));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Email(email))
            }
            _ => Err("must be an address such as alice@example.com".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    #[default]
    Absent,
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    Create {
        user_id: Uuid,
        email: Email,
        role: Role,
        /// The credential (hashed password) stored for this user beforehand.
        credential_id: Uuid,
    },
    ChangeRole {
        expected_version: Option<Version>,
        role: Role,
    },
    ChangePassword {
        credential_id: Uuid,
    },
    Disable {
        expected_version: Option<Version>,
    },
    /// Too many failed sign-ins: no sign-in until `until`.
    Lock {
        until: DateTime<Utc>,
        failures: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserEvent {
    UserCreated {
        user_id: Uuid,
        email: Email,
        role: Role,
        credential_id: Uuid,
    },
    UserRoleChanged {
        role: Role,
    },
    UserPasswordChanged {
        credential_id: Uuid,
    },
    UserDisabled {},
    UserLocked {
        until: DateTime<Utc>,
        failures: u32,
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            UserEvent::UserCreated { .. } => "UserCreated",
            UserEvent::UserRoleChanged { .. } => "UserRoleChanged",
            UserEvent::UserPasswordChanged { .. } => "UserPasswordChanged",
            UserEvent::UserDisabled { .. } => "UserDisabled",
            UserEvent::UserLocked { .. } => "UserLocked",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        CURRENT_EVENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user already exists")]
    AlreadyExists,
    #[error("user not found")]
    NotFound,
    #[error("user is disabled")]
    Disabled,
    #[error("version conflict: expected version {expected}, user is at version {actual}")]
    VersionConflict { expected: Version, actual: Version },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub user_id: Option<Uuid>,
    pub email: Option<Email>,
    pub role: Option<Role>,
    pub status: UserStatus,
    /// The credential a sign-in is checked against.
    pub credential_id: Option<Uuid>,
    pub locked_until: Option<DateTime<Utc>>,
    pub version: Version,
}

impl User {
    /// Whether the user may sign in at `now` (active and not locked).
    pub fn is_locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    fn check_active(&self, expected: Option<Version>) -> Result<(), UserError> {
        match self.status {
            UserStatus::Absent => Err(UserError::NotFound),
            UserStatus::Disabled => Err(UserError::Disabled),
            UserStatus::Active => {
                crate::check_expected_version(expected, self.version).map_err(|v| {
                    UserError::VersionConflict {
                        expected: v.expected,
                        actual: v.actual,
                    }
                })
            }
        }
    }

    pub fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
        match command {
            UserCommand::Create {
                user_id,
                email,
                role,
                credential_id,
            } => {
                if self.status != UserStatus::Absent {
                    return Err(UserError::AlreadyExists);
                }
                Ok(vec![UserEvent::UserCreated {
                    user_id,
                    email,
                    role,
                    credential_id,
                }])
            }
            UserCommand::ChangeRole {
                expected_version,
                role,
            } => {
                self.check_active(expected_version)?;
                if self.role == Some(role) {
                    return Ok(vec![]);
                }
                Ok(vec![UserEvent::UserRoleChanged { role }])
            }
            UserCommand::ChangePassword { credential_id } => {
                self.check_active(None)?;
                Ok(vec![UserEvent::UserPasswordChanged { credential_id }])
            }
            UserCommand::Disable { expected_version } => {
                self.check_active(expected_version)?;
                Ok(vec![UserEvent::UserDisabled {}])
            }
            UserCommand::Lock { until, failures } => {
                if self.status == UserStatus::Absent {
                    return Err(UserError::NotFound);
                }
                if self.locked_until.is_some_and(|current| current >= until) {
                    return Ok(vec![]);
                }
                Ok(vec![UserEvent::UserLocked { until, failures }])
            }
        }
    }
}

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _service: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            UserEvent::UserCreated {
                user_id,
                email,
                role,
                credential_id,
            } => {
                self.user_id = Some(user_id);
                self.email = Some(email);
                self.role = Some(role);
                self.credential_id = Some(credential_id);
                self.status = UserStatus::Active;
            }
            UserEvent::UserRoleChanged { role } => self.role = Some(role),
            UserEvent::UserPasswordChanged { credential_id } => {
                self.credential_id = Some(credential_id);
                // A new password ends a lock: an admin resetting it is how a user gets back in.
                self.locked_until = None;
            }
            UserEvent::UserDisabled {} => self.status = UserStatus::Disabled,
            UserEvent::UserLocked { until, .. } => self.locked_until = Some(until),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<User>;

    fn created() -> UserEvent {
        UserEvent::UserCreated {
            user_id: Uuid::from_u128(1),
            email: Email::parse("alice@example.com").unwrap(),
            role: Role::Operator,
            credential_id: Uuid::from_u128(10),
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in ["", "alice", "@example.com", "alice@", "a b@c.d", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@x.io", "a".repeat(260))).is_err());
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("root").is_err());
        assert!(Role::parse("Admin").is_err());
    }

    #[test]
    fn create_then_create_again_is_refused() {
        Given::with(())
            .given_no_previous_events()
            .when(UserCommand::Create {
                user_id: Uuid::from_u128(1),
                email: Email::parse("alice@example.com").unwrap(),
                role: Role::Operator,
                credential_id: Uuid::from_u128(10),
            })
            .then_expect_events(vec![created()]);
        Given::with(())
            .given(vec![created()])
            .when(UserCommand::Create {
                user_id: Uuid::from_u128(1),
                email: Email::parse("bob@example.com").unwrap(),
                role: Role::Admin,
                credential_id: Uuid::from_u128(11),
            })
            .then_expect_error(UserError::AlreadyExists);
    }

    #[test]
    fn a_disabled_user_accepts_no_role_or_password_change() {
        Given::with(())
            .given(vec![created(), UserEvent::UserDisabled {}])
            .when(UserCommand::ChangeRole {
                expected_version: None,
                role: Role::Admin,
            })
            .then_expect_error(UserError::Disabled);
        Given::with(())
            .given(vec![created(), UserEvent::UserDisabled {}])
            .when(UserCommand::ChangePassword {
                credential_id: Uuid::from_u128(12),
            })
            .then_expect_error(UserError::Disabled);
    }

    #[test]
    fn role_change_to_the_same_role_emits_nothing_and_stale_versions_conflict() {
        Given::with(())
            .given(vec![created()])
            .when(UserCommand::ChangeRole {
                expected_version: None,
                role: Role::Operator,
            })
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![created()])
            .when(UserCommand::ChangeRole {
                expected_version: Some(3),
                role: Role::Viewer,
            })
            .then_expect_error(UserError::VersionConflict {
                expected: 3,
                actual: 1,
            });
    }

    #[test]
    fn a_lock_holds_until_its_time_and_a_new_password_lifts_it() {
        let until = DateTime::parse_from_rfc3339("2026-01-01T12:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut user = User::default();
        user.apply(created());
        user.apply(UserEvent::UserLocked { until, failures: 5 });
        assert!(user.is_locked_at(until - chrono::Duration::seconds(1)));
        assert!(!user.is_locked_at(until));
        // An older or equal lock adds nothing.
        assert_eq!(
            user.decide(UserCommand::Lock { until, failures: 6 }),
            Ok(vec![])
        );
        user.apply(UserEvent::UserPasswordChanged {
            credential_id: Uuid::from_u128(12),
        });
        assert!(!user.is_locked_at(until - chrono::Duration::seconds(1)));
        assert_eq!(user.credential_id, Some(Uuid::from_u128(12)));
    }
}
