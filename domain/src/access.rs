//! Who may do what: the role rules as one pure function, so every entry point (HTTP, CLI,
//! tests) decides alike. Per-project access needs to know whether the caller belongs to the
//! project; the caller of [`decide`] looks that up.

use crate::user::Role;

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: no token either (health, login).
    Nothing,
    /// Any signed-in user (their own profile, lists that show only their projects).
    SignedIn,
    /// Administration (users).
    Admin,
    /// A command outside any project (creating a project, previewing a file): admin or operator.
    Operate,
    /// Reading across all projects (global dashboard, projection status): admin or auditor.
    Oversee,
    /// Reading one project or what belongs to it.
    ReadProject,
    /// A command in one project.
    WriteProject,
}

/// The answer. `Hidden` is for a project the caller may not see at all: it is answered like a
/// project that does not exist, so ids of other tenants leak nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Forbidden,
    Hidden,
}

/// Decides for `role` (None: no valid token; callers answer 401 before asking) and, for the
/// project needs, whether the caller is a member of the project concerned.
pub fn decide(role: Role, need: Need, member: bool) -> Decision {
    use Decision::*;
    match need {
        Need::Nothing | Need::SignedIn => Allow,
        Need::Admin => allow_if(role == Role::Admin),
        Need::Operate => allow_if(matches!(role, Role::Admin | Role::Operator)),
        Need::Oversee => allow_if(matches!(role, Role::Admin | Role::Auditor)),
        Need::ReadProject => match role {
            Role::Admin | Role::Auditor => Allow,
            Role::Operator | Role::Viewer if member => Allow,
            Role::Operator | Role::Viewer => Hidden,
        },
        Need::WriteProject => match role {
            Role::Admin => Allow,
            Role::Auditor => Forbidden,
            Role::Operator if member => Allow,
            Role::Viewer if member => Forbidden,
            Role::Operator | Role::Viewer => Hidden,
        },
    }
}

fn allow_if(allowed: bool) -> Decision {
    if allowed {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

/// Whether the role sees every project in lists (others see the projects they belong to).
pub fn sees_every_project(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Auditor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    #[test]
    fn project_reads_and_writes_by_role_and_membership() {
        let table = [
            // role, member, read, write
            (Role::Admin, false, Allow, Allow),
            (Role::Admin, true, Allow, Allow),
            (Role::Auditor, false, Allow, Forbidden),
            (Role::Operator, true, Allow, Allow),
            (Role::Operator, false, Hidden, Hidden),
            (Role::Viewer, true, Allow, Forbidden),
            (Role::Viewer, false, Hidden, Hidden),
        ];
        for (role, member, read, write) in table {
            assert_eq!(
                decide(role, Need::ReadProject, member),
                read,
                "{role:?} read"
            );
            assert_eq!(
                decide(role, Need::WriteProject, member),
                write,
                "{role:?} write"
            );
        }
    }

    #[test]
    fn global_needs_by_role() {
        for role in Role::ALL {
            assert_eq!(decide(role, Need::SignedIn, false), Allow);
            assert_eq!(
                decide(role, Need::Admin, true) == Allow,
                role == Role::Admin
            );
            assert_eq!(
                decide(role, Need::Operate, true) == Allow,
                matches!(role, Role::Admin | Role::Operator)
            );
            assert_eq!(
                decide(role, Need::Oversee, true) == Allow,
                matches!(role, Role::Admin | Role::Auditor)
            );
            // Global needs never hide: there is no project to hide.
            for need in [Need::Admin, Need::Operate, Need::Oversee] {
                assert_ne!(decide(role, need, false), Hidden);
            }
        }
    }
}
