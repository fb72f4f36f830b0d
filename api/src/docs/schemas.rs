//! Schemas of fields whose rules live in the domain, built from the domain's own constants so
//! the document cannot drift from what the parsers accept.

use domain::validation::{Description, Name};
use domain::Role;
use utoipa::openapi::{Object, ObjectBuilder, Type};

/// A name (`domain::validation::Name`): 1 to `Name::MAX_CHARS` characters, not blank.
pub fn name() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(Name::MAX_CHARS))
        .pattern(Some("\\S"))
        .examples(["Bank vs ledger"])
        .build()
}

/// A description (`domain::validation::Description`): at most `Description::MAX_CHARS`.
pub fn description() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(Description::MAX_CHARS))
        .build()
}

/// A role (`domain::Role`), by name.
pub fn role() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Role::ALL.iter().map(|r| r.as_str())))
        .examples(["operator"])
        .build()
}

/// A new password: `application::identity::passwords` limits, in bytes.
pub fn new_password() -> Object {
    use application::identity::passwords::{MAX_LEN, MIN_LEN};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(MIN_LEN))
        .max_length(Some(MAX_LEN))
        .build()
}
