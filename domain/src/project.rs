//! The Project aggregate: a named reconciliation workspace with a base currency.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Currency;
use crate::validation::{Description, Name};
use crate::{Version, CURRENT_EVENT_VERSION};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// No `ProjectCreated` event yet.
    #[default]
    Absent,
    Active,
    Archived,
}

/// Commands a project accepts. `expected_version` carries a client's `If-Match`: when set, the
/// command is refused unless the project is at exactly that version.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectCommand {
    Create {
        project_id: Uuid,
        name: Name,
        description: Description,
        base_currency: Currency,
        /// The user creating it, who becomes its first member (none for system commands).
        owner: Option<Uuid>,
    },
    /// Replaces name and description (PUT semantics). The base currency is fixed at creation:
    /// amounts already reconciled were valued in it.
    Update {
        expected_version: Option<Version>,
        name: Name,
        description: Description,
    },
    Archive {
        expected_version: Option<Version>,
    },
    /// Gives a user access to the project (what their role allows, in this project).
    AddMember {
        expected_version: Option<Version>,
        user_id: Uuid,
    },
    RemoveMember {
        expected_version: Option<Version>,
        user_id: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProjectEvent {
    ProjectCreated {
        project_id: Uuid,
        name: Name,
        description: Description,
        base_currency: Currency,
    },
    ProjectUpdated {
        name: Name,
        description: Description,
    },
    ProjectArchived {},
    ProjectMemberAdded {
        user_id: Uuid,
    },
    ProjectMemberRemoved {
        user_id: Uuid,
    },
}

impl DomainEvent for ProjectEvent {
    fn event_type(&self) -> String {
        match self {
            ProjectEvent::ProjectCreated { .. } => "ProjectCreated",
            ProjectEvent::ProjectUpdated { .. } => "ProjectUpdated",
            ProjectEvent::ProjectArchived { .. } => "ProjectArchived",
            ProjectEvent::ProjectMemberAdded { .. } => "ProjectMemberAdded",
            ProjectEvent::ProjectMemberRemoved { .. } => "ProjectMemberRemoved",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        CURRENT_EVENT_VERSION.to_string()
    }
}

/// Why a project refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectError {
    /// `Create` was sent to a project that already exists.
    #[error("project already exists")]
    AlreadyExists,
    /// A command other than `Create` was sent to a project that was never created.
    #[error("project not found")]
    NotFound,
    /// The project is archived; it accepts no further changes.
    #[error("project is archived")]
    Archived,
    /// The client's `If-Match` version is not the project's current version.
    #[error("version conflict: expected version {expected}, project is at version {actual}")]
    VersionConflict { expected: Version, actual: Version },
    /// `RemoveMember` for a user who is not a member.
    #[error("the user is not a member of this project")]
    NotAMember,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub project_id: Option<Uuid>,
    pub name: Option<Name>,
    pub description: Description,
    pub base_currency: Option<Currency>,
    pub status: ProjectStatus,
    /// Users with access to the project (besides admins and auditors, who see every project).
    #[serde(default)]
    pub members: BTreeSet<Uuid>,
    pub version: Version,
}

impl Project {
    fn check_version(&self, expected: Option<Version>) -> Result<(), ProjectError> {
        crate::check_expected_version(expected, self.version).map_err(|v| {
            ProjectError::VersionConflict {
                expected: v.expected,
                actual: v.actual,
            }
        })
    }

    fn check_active(&self, expected: Option<Version>) -> Result<(), ProjectError> {
        match self.status {
            ProjectStatus::Absent => Err(ProjectError::NotFound),
            ProjectStatus::Archived => Err(ProjectError::Archived),
            ProjectStatus::Active => self.check_version(expected),
        }
    }

    /// The pure decision: which events a command produces in this state.
    pub fn decide(&self, command: ProjectCommand) -> Result<Vec<ProjectEvent>, ProjectError> {
        match command {
            ProjectCommand::Create {
                project_id,
                name,
                description,
                base_currency,
                owner,
            } => {
                if self.status != ProjectStatus::Absent {
                    return Err(ProjectError::AlreadyExists);
                }
                let mut events = vec![ProjectEvent::ProjectCreated {
                    project_id,
                    name,
                    description,
                    base_currency,
                }];
                events.extend(owner.map(|user_id| ProjectEvent::ProjectMemberAdded { user_id }));
                Ok(events)
            }
            ProjectCommand::Update {
                expected_version,
                name,
                description,
            } => {
                self.check_active(expected_version)?;
                if self.name.as_ref() == Some(&name) && self.description == description {
                    return Ok(vec![]);
                }
                Ok(vec![ProjectEvent::ProjectUpdated { name, description }])
            }
            ProjectCommand::Archive { expected_version } => {
                self.check_active(expected_version)?;
                Ok(vec![ProjectEvent::ProjectArchived {}])
            }
            ProjectCommand::AddMember {
                expected_version,
                user_id,
            } => {
                self.check_active(expected_version)?;
                if self.members.contains(&user_id) {
                    return Ok(vec![]);
                }
                Ok(vec![ProjectEvent::ProjectMemberAdded { user_id }])
            }
            ProjectCommand::RemoveMember {
                expected_version,
                user_id,
            } => {
                self.check_active(expected_version)?;
                if !self.members.contains(&user_id) {
                    return Err(ProjectError::NotAMember);
                }
                Ok(vec![ProjectEvent::ProjectMemberRemoved { user_id }])
            }
        }
    }
}

impl Aggregate for Project {
    const TYPE: &'static str = "project";
    type Command = ProjectCommand;
    type Event = ProjectEvent;
    type Error = ProjectError;
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
            ProjectEvent::ProjectCreated {
                project_id,
                name,
                description,
                base_currency,
            } => {
                self.project_id = Some(project_id);
                self.name = Some(name);
                self.description = description;
                self.base_currency = Some(base_currency);
                self.status = ProjectStatus::Active;
            }
            ProjectEvent::ProjectUpdated { name, description } => {
                self.name = Some(name);
                self.description = description;
            }
            ProjectEvent::ProjectArchived {} => self.status = ProjectStatus::Archived,
            ProjectEvent::ProjectMemberAdded { user_id } => {
                self.members.insert(user_id);
            }
            ProjectEvent::ProjectMemberRemoved { user_id } => {
                self.members.remove(&user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<Project>;

    fn id() -> Uuid {
        Uuid::from_u128(7)
    }

    fn created() -> ProjectEvent {
        ProjectEvent::ProjectCreated {
            project_id: id(),
            name: Name::parse("Bank vs ledger").unwrap(),
            description: Description::parse("daily").unwrap(),
            base_currency: Currency::parse("EUR").unwrap(),
        }
    }

    fn update(expected_version: Option<Version>, name: &str) -> ProjectCommand {
        ProjectCommand::Update {
            expected_version,
            name: Name::parse(name).unwrap(),
            description: Description::parse("daily").unwrap(),
        }
    }

    #[test]
    fn create_on_a_new_project_emits_created() {
        Given::with(())
            .given_no_previous_events()
            .when(ProjectCommand::Create {
                project_id: id(),
                name: Name::parse("Bank vs ledger").unwrap(),
                description: Description::parse("daily").unwrap(),
                base_currency: Currency::parse("EUR").unwrap(),
                owner: None,
            })
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn create_twice_is_refused() {
        Given::with(())
            .given(vec![created()])
            .when(ProjectCommand::Create {
                project_id: id(),
                name: Name::parse("again").unwrap(),
                description: Description::default(),
                base_currency: Currency::parse("USD").unwrap(),
                owner: None,
            })
            .then_expect_error(ProjectError::AlreadyExists);
    }

    #[test]
    fn update_emits_updated_with_new_values() {
        Given::with(())
            .given(vec![created()])
            .when(update(Some(1), "Renamed"))
            .then_expect_events(vec![ProjectEvent::ProjectUpdated {
                name: Name::parse("Renamed").unwrap(),
                description: Description::parse("daily").unwrap(),
            }]);
    }

    #[test]
    fn update_with_identical_values_emits_nothing() {
        Given::with(())
            .given(vec![created()])
            .when(update(None, "Bank vs ledger"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn update_of_an_unknown_project_is_not_found() {
        Given::with(())
            .given_no_previous_events()
            .when(update(None, "x"))
            .then_expect_error(ProjectError::NotFound);
    }

    #[test]
    fn update_with_a_stale_version_conflicts() {
        Given::with(())
            .given(vec![
                created(),
                ProjectEvent::ProjectUpdated {
                    name: Name::parse("Second").unwrap(),
                    description: Description::default(),
                },
            ])
            .when(update(Some(1), "Third"))
            .then_expect_error(ProjectError::VersionConflict {
                expected: 1,
                actual: 2,
            });
    }

    #[test]
    fn archive_emits_archived_and_archived_projects_refuse_changes() {
        Given::with(())
            .given(vec![created()])
            .when(ProjectCommand::Archive {
                expected_version: Some(1),
            })
            .then_expect_events(vec![ProjectEvent::ProjectArchived {}]);
        Given::with(())
            .given(vec![created(), ProjectEvent::ProjectArchived {}])
            .when(update(None, "x"))
            .then_expect_error(ProjectError::Archived);
        Given::with(())
            .given(vec![created(), ProjectEvent::ProjectArchived {}])
            .when(ProjectCommand::Archive {
                expected_version: None,
            })
            .then_expect_error(ProjectError::Archived);
    }

    #[test]
    fn the_owner_becomes_the_first_member_and_members_come_and_go() {
        let owner = Uuid::from_u128(99);
        Given::with(())
            .given_no_previous_events()
            .when(ProjectCommand::Create {
                project_id: id(),
                name: Name::parse("Bank vs ledger").unwrap(),
                description: Description::parse("daily").unwrap(),
                base_currency: Currency::parse("EUR").unwrap(),
                owner: Some(owner),
            })
            .then_expect_events(vec![
                created(),
                ProjectEvent::ProjectMemberAdded { user_id: owner },
            ]);
        let member = ProjectEvent::ProjectMemberAdded { user_id: owner };
        Given::with(())
            .given(vec![created(), member.clone()])
            .when(ProjectCommand::AddMember {
                expected_version: None,
                user_id: owner,
            })
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![created(), member.clone()])
            .when(ProjectCommand::RemoveMember {
                expected_version: Some(2),
                user_id: owner,
            })
            .then_expect_events(vec![ProjectEvent::ProjectMemberRemoved { user_id: owner }]);
        Given::with(())
            .given(vec![created()])
            .when(ProjectCommand::RemoveMember {
                expected_version: None,
                user_id: owner,
            })
            .then_expect_error(ProjectError::NotAMember);
        Given::with(())
            .given(vec![created(), ProjectEvent::ProjectArchived {}])
            .when(ProjectCommand::AddMember {
                expected_version: None,
                user_id: owner,
            })
            .then_expect_error(ProjectError::Archived);
        let mut project = Project::default();
        project.apply(created());
        project.apply(member);
        assert!(project.members.contains(&owner));
        project.apply(ProjectEvent::ProjectMemberRemoved { user_id: owner });
        assert!(project.members.is_empty());
    }

    #[test]
    fn apply_counts_versions() {
        let mut p = Project::default();
        p.apply(created());
        p.apply(ProjectEvent::ProjectArchived {});
        assert_eq!(p.version, 2);
        assert_eq!(p.status, ProjectStatus::Archived);
    }
}
