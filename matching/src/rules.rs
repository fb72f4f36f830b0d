//! The rule set: data (serde JSON), validated with JSON field paths, then compiled for the engine.

use std::collections::HashSet;

use domain::ValidationErrors;
use regex::{Regex, RegexBuilder};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The rule-set format version this engine reads.
pub const RULE_SET_VERSION: u32 = 1;
/// Default bound on the number of records in the "many" side of a group (1:N, N:1, N:M).
pub const DEFAULT_MAX_GROUP_SIZE: usize = 5;
/// Default bound on the candidates considered per record (per target in group passes).
pub const DEFAULT_MAX_CANDIDATES: usize = 20;
/// Largest `max_group_size` a pass may ask for.
pub const MAX_GROUP_SIZE_LIMIT: usize = 10;
/// Largest `max_candidates` a pass may ask for.
pub const MAX_CANDIDATES_LIMIT: usize = 100;
/// Largest `date_window.days` a pass may ask for.
pub const MAX_WINDOW_DAYS: u32 = 3660;
/// Longest `reference.extract` pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 1000;

/// A versioned, ordered list of passes. Passes run in order; a record matched (or put into a
/// suggestion) by a pass is not offered to the passes after it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    pub version: u32,
    pub passes: Vec<Pass>,
}

/// How many records of each side one match may hold.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cardinality {
    /// One left record to one right record.
    OneToOne,
    /// One left record to a group of 2..=max_group_size right records.
    OneToMany,
    /// A group of 2..=max_group_size left records to one right record.
    ManyToOne,
    /// All records sharing the pass key on each side (1..=max_group_size per side).
    ManyToMany,
}

/// A field that must be exactly equal (after trimming) on both sides.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EqualField {
    /// Always required anyway: listing it changes nothing.
    Currency,
    Reference,
    Counterparty,
}

/// Which date a date window compares.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateField {
    #[default]
    BookingDate,
    /// The value date, or the booking date of a record that has none.
    ValueDate,
}

/// A text field compared by Jaro-Winkler similarity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextField {
    Description,
    Counterparty,
}

/// One pass of the waterfall.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pass {
    pub name: String,
    pub cardinality: Cardinality,
    /// Fields that must be exactly equal. Currency is always required equal, listed or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<EqualField>,
    /// References must be equal after normalisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceRule>,
    /// How far amounts (or a group's sum) may differ. Absent: they must be exactly equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_tolerance: Option<AmountTolerance>,
    /// How many days apart the two records' dates may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_window: Option<DateWindow>,
    /// Text fields that must be similar (Jaro-Winkler, case-insensitive) at or above a threshold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub similar: Vec<Similarity>,
    /// Group passes: most records on the "many" side of one match (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_group_size: Option<usize>,
    /// Most candidates considered per record / per group target (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_candidates: Option<usize>,
}

/// Reference normalisation. Each step defaults to on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRule {
    #[serde(default = "yes")]
    pub case_fold: bool,
    #[serde(default = "yes")]
    pub remove_spaces: bool,
    #[serde(default = "yes")]
    pub remove_punctuation: bool,
    /// A regular expression applied to the raw (trimmed) reference before the steps above: its
    /// first capture group (the whole match if it has none) is the part that is compared. A
    /// reference it does not match takes no part in the pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
}

impl Default for ReferenceRule {
    fn default() -> Self {
        Self {
            case_fold: true,
            remove_spaces: true,
            remove_punctuation: true,
            extract: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// Amount tolerance: the difference may be at most `absolute`, or at most `percent` % of the
/// smaller of the two amounts (in absolute value), whichever allows more. Both default to 0.
/// Both accept a JSON string (`"0.05"`, exact) or a JSON number.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountTolerance {
    #[serde(default, deserialize_with = "lenient_decimal::deserialize")]
    pub absolute: Decimal,
    #[serde(default, deserialize_with = "lenient_decimal::deserialize")]
    pub percent: Decimal,
}

/// Date window: the dates may be at most `days` apart.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateWindow {
    #[serde(default)]
    pub field: DateField,
    pub days: u32,
}

/// Similarity condition: Jaro-Winkler of the lower-cased, whitespace-collapsed texts must be at
/// least `threshold` (0..=1). A record without the field fails the condition.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Similarity {
    pub field: TextField,
    pub threshold: f64,
}

mod lenient_decimal {
    use rust_decimal::Decimal;
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;
    use std::str::FromStr;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_any(V)
    }

    struct V;

    impl Visitor<'_> for V {
        type Value = Decimal;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a decimal number or a string holding one")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
            Decimal::from_str(v.trim())
                .or_else(|_| Decimal::from_scientific(v.trim()))
                .map_err(|_| E::custom(format!("`{v}` is not a decimal number")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
            if !v.is_finite() {
                return Err(E::custom("must be a finite number"));
            }
            // Display gives the shortest text that reads back as the same float: 0.1 → "0.1".
            self.visit_str(&v.to_string())
        }
    }
}

impl RuleSet {
    /// Reads a rule set from JSON and validates it. Errors carry JSON field paths; a document
    /// that does not have the rule-set shape is reported at the deepest path found (`passes[2]`),
    /// or at the empty path for the document as a whole.
    pub fn from_json_value(value: &serde_json::Value) -> Result<RuleSet, ValidationErrors> {
        match RuleSet::deserialize(value) {
            Ok(rules) => {
                rules.validate()?;
                Ok(rules)
            }
            Err(whole) => {
                let mut errors = ValidationErrors::new();
                if let Some(passes) = value.get("passes").and_then(|p| p.as_array()) {
                    for (i, pass) in passes.iter().enumerate() {
                        if let Err(e) = Pass::deserialize(pass) {
                            errors.add(format!("passes[{i}]"), e.to_string());
                        }
                    }
                }
                if errors.errors.is_empty() {
                    errors.add("", whole.to_string());
                }
                Err(errors)
            }
        }
    }

    /// Reads a rule set from JSON text and validates it.
    pub fn from_json_str(text: &str) -> Result<RuleSet, ValidationErrors> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            let mut errors = ValidationErrors::new();
            errors.add("", format!("not valid JSON: {e}"));
            errors
        })?;
        Self::from_json_value(&value)
    }

    /// Checks every field; all problems are reported at once, each with its JSON path.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        compile(self).map(|_| ())
    }
}

/// Validates a rule set (same as [`RuleSet::validate`]).
pub fn validate(rules: &RuleSet) -> Result<(), ValidationErrors> {
    rules.validate()
}

/// A pass ready to run: defaults filled in, percent as a fraction, regex compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledPass {
    pub index: usize,
    pub name: String,
    pub cardinality: Cardinality,
    pub equal_reference: bool,
    pub equal_counterparty: bool,
    pub reference: Option<CompiledReference>,
    pub tol_absolute: Decimal,
    /// `percent / 100`.
    pub tol_fraction: Decimal,
    pub date: Option<(DateField, u32)>,
    pub similar: Vec<(TextField, f64)>,
    pub max_group_size: usize,
    pub max_candidates: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledReference {
    pub case_fold: bool,
    pub remove_spaces: bool,
    pub remove_punctuation: bool,
    pub extract: Option<Regex>,
}

pub(crate) fn compile(rules: &RuleSet) -> Result<Vec<CompiledPass>, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if rules.version != RULE_SET_VERSION {
        errors.add(
            "version",
            format!(
                "unsupported version {}; this engine reads version {RULE_SET_VERSION}",
                rules.version
            ),
        );
    }
    if rules.passes.is_empty() {
        errors.add("passes", "must hold at least one pass");
    }
    let mut names = HashSet::new();
    let mut compiled = Vec::with_capacity(rules.passes.len());
    for (i, pass) in rules.passes.iter().enumerate() {
        let p = format!("passes[{i}]");
        let name = pass.name.trim();
        if name.is_empty() {
            errors.add(format!("{p}.name"), "must not be empty");
        } else if name.chars().count() > 200 {
            errors.add(format!("{p}.name"), "must be at most 200 characters");
        } else if !names.insert(name.to_string()) {
            errors.add(
                format!("{p}.name"),
                format!("`{name}` is used by an earlier pass"),
            );
        }
        let mut seen = HashSet::new();
        for (j, f) in pass.equal.iter().enumerate() {
            if !seen.insert(*f) {
                errors.add(format!("{p}.equal[{j}]"), "is listed twice");
            }
        }
        let tol = pass.amount_tolerance.clone().unwrap_or_default();
        if tol.absolute.is_sign_negative() && !tol.absolute.is_zero() {
            errors.add(
                format!("{p}.amount_tolerance.absolute"),
                "must not be negative",
            );
        }
        if tol.percent < Decimal::ZERO || tol.percent > Decimal::ONE_HUNDRED {
            errors.add(
                format!("{p}.amount_tolerance.percent"),
                "must be between 0 and 100",
            );
        }
        if let Some(w) = &pass.date_window {
            if w.days > MAX_WINDOW_DAYS {
                errors.add(
                    format!("{p}.date_window.days"),
                    format!("must be at most {MAX_WINDOW_DAYS}"),
                );
            }
        }
        let mut seen_sim = HashSet::new();
        for (j, s) in pass.similar.iter().enumerate() {
            if !s.threshold.is_finite() || !(0.0..=1.0).contains(&s.threshold) {
                errors.add(
                    format!("{p}.similar[{j}].threshold"),
                    "must be between 0 and 1",
                );
            }
            if !seen_sim.insert(s.field) {
                errors.add(format!("{p}.similar[{j}].field"), "is listed twice");
            }
        }
        let max_group_size = pass.max_group_size.unwrap_or(DEFAULT_MAX_GROUP_SIZE);
        if !(2..=MAX_GROUP_SIZE_LIMIT).contains(&max_group_size) {
            errors.add(
                format!("{p}.max_group_size"),
                format!("must be between 2 and {MAX_GROUP_SIZE_LIMIT}"),
            );
        }
        let max_candidates = pass.max_candidates.unwrap_or(DEFAULT_MAX_CANDIDATES);
        if !(1..=MAX_CANDIDATES_LIMIT).contains(&max_candidates) {
            errors.add(
                format!("{p}.max_candidates"),
                format!("must be between 1 and {MAX_CANDIDATES_LIMIT}"),
            );
        }
        let reference = match &pass.reference {
            None => None,
            Some(r) => {
                let extract = match &r.extract {
                    None => None,
                    Some(pattern) if pattern.len() > MAX_PATTERN_LEN => {
                        errors.add(
                            format!("{p}.reference.extract"),
                            format!("must be at most {MAX_PATTERN_LEN} bytes"),
                        );
                        None
                    }
                    Some(pattern) => match RegexBuilder::new(pattern).size_limit(1 << 20).build() {
                        Ok(re) => Some(re),
                        Err(e) => {
                            errors.add(
                                format!("{p}.reference.extract"),
                                format!("invalid regular expression: {}", one_line(&e.to_string())),
                            );
                            None
                        }
                    },
                };
                Some(CompiledReference {
                    case_fold: r.case_fold,
                    remove_spaces: r.remove_spaces,
                    remove_punctuation: r.remove_punctuation,
                    extract,
                })
            }
        };
        let equal_reference = pass.equal.contains(&EqualField::Reference);
        let equal_counterparty = pass.equal.contains(&EqualField::Counterparty);
        let has_key = equal_reference || equal_counterparty || reference.is_some();
        match pass.cardinality {
            Cardinality::OneToMany | Cardinality::ManyToOne
                if !has_key && pass.date_window.is_none() =>
            {
                errors.add(
                    format!("{p}.cardinality"),
                    "a one_to_many or many_to_one pass needs `equal` (reference or counterparty), \
                     `reference` or `date_window` to bound its candidates",
                );
            }
            Cardinality::ManyToMany if !has_key => {
                errors.add(
                    format!("{p}.cardinality"),
                    "a many_to_many pass groups records by key: it needs `equal` (reference or \
                     counterparty) or `reference`",
                );
            }
            _ => {}
        }
        compiled.push(CompiledPass {
            index: i,
            name: name.to_string(),
            cardinality: pass.cardinality,
            equal_reference,
            equal_counterparty,
            reference,
            tol_absolute: tol.absolute.max(Decimal::ZERO),
            tol_fraction: tol.percent / Decimal::ONE_HUNDRED,
            date: pass.date_window.as_ref().map(|w| (w.field, w.days)),
            similar: pass
                .similar
                .iter()
                .map(|s| (s.field, s.threshold))
                .collect(),
            max_group_size,
            max_candidates,
        });
    }
    errors.into_result().map(|()| compiled)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
