//! Rule-set parsing and validation.

mod common;

use matching::{Cardinality, DateField, RuleSet};
use serde_json::json;

fn paths(value: serde_json::Value) -> Vec<String> {
    match RuleSet::from_json_value(&value) {
        Ok(_) => vec![],
        Err(e) => e
            .errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect(),
    }
}

#[test]
fn crate_doc_example_parses_and_validates() {
    let text = r#"{
      "version": 1,
      "passes": [
        {
          "name": "invoice number, same amount, within 3 days",
          "cardinality": "one_to_one",
          "reference": { "extract": "INV-?(\\d+)" },
          "date_window": { "field": "booking_date", "days": 3 }
        },
        {
          "name": "same counterparty, amount within 1 cent or 0.5 %",
          "cardinality": "one_to_one",
          "equal": ["counterparty"],
          "amount_tolerance": { "absolute": "0.01", "percent": "0.5" },
          "date_window": { "field": "value_date", "days": 5 },
          "similar": [ { "field": "description", "threshold": 0.85 } ]
        },
        {
          "name": "split payments and credit notes",
          "cardinality": "one_to_many",
          "reference": { "case_fold": true, "remove_spaces": true, "remove_punctuation": true },
          "amount_tolerance": { "absolute": "0.05" },
          "max_group_size": 5,
          "max_candidates": 20
        },
        {
          "name": "everything under one reference",
          "cardinality": "many_to_many",
          "reference": {},
          "max_group_size": 8
        }
      ]
    }"#;
    let rules = RuleSet::from_json_str(text).unwrap();
    assert_eq!(rules.version, 1);
    assert_eq!(rules.passes.len(), 4);
    assert_eq!(
        rules.passes[1].date_window.as_ref().unwrap().field,
        DateField::ValueDate
    );
    assert_eq!(rules.passes[2].cardinality, Cardinality::OneToMany);
    assert_eq!(
        rules.passes[1].amount_tolerance.as_ref().unwrap().percent,
        common::dec("0.5")
    );
    let reference = rules.passes[3].reference.as_ref().unwrap();
    assert!(reference.case_fold && reference.remove_spaces && reference.remove_punctuation);
    // Round trip: serialising and reading back gives the same rule set.
    let back = RuleSet::from_json_str(&serde_json::to_string(&rules).unwrap()).unwrap();
    assert_eq!(back, rules);
}

#[test]
fn tolerances_accept_json_numbers_exactly() {
    let rules = RuleSet::from_json_value(&json!({"version": 1, "passes": [{
        "name": "p", "cardinality": "one_to_one",
        "amount_tolerance": {"absolute": 0.1, "percent": 2}
    }]}))
    .unwrap();
    let tol = rules.passes[0].amount_tolerance.as_ref().unwrap();
    assert_eq!(tol.absolute, common::dec("0.1"));
    assert_eq!(tol.percent, common::dec("2"));
}

#[test]
fn percent_out_of_range_is_reported_with_its_path() {
    let errors = paths(json!({"version": 1, "passes": [
        {"name": "a", "cardinality": "one_to_one"},
        {"name": "b", "cardinality": "one_to_one", "amount_tolerance": {"percent": "120"}}
    ]}));
    assert_eq!(
        errors,
        vec!["passes[1].amount_tolerance.percent: must be between 0 and 100"]
    );
    let errors = paths(json!({"version": 1, "passes": [
        {"name": "a", "cardinality": "one_to_one", "amount_tolerance": {"percent": "-1", "absolute": "-0.01"}}
    ]}));
    assert_eq!(
        errors,
        vec![
            "passes[0].amount_tolerance.absolute: must not be negative",
            "passes[0].amount_tolerance.percent: must be between 0 and 100"
        ]
    );
}

#[test]
fn invalid_regex_is_reported_with_its_path() {
    let errors = paths(json!({"version": 1, "passes": [
        {"name": "a", "cardinality": "one_to_one", "reference": {"extract": "INV-(\\d+"}}
    ]}));
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("passes[0].reference.extract: invalid regular expression"),
        "{errors:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = paths(json!({"version": 2, "passes": [
        {"name": " ", "cardinality": "one_to_one", "similar": [{"field": "description", "threshold": 1.5}],
         "date_window": {"days": 100000}, "max_group_size": 1, "max_candidates": 0,
         "equal": ["counterparty", "counterparty"]},
        {"name": "x", "cardinality": "one_to_many"},
        {"name": "x", "cardinality": "many_to_many", "date_window": {"days": 1}}
    ]}));
    assert_eq!(
        errors,
        vec![
            "version: unsupported version 2; this engine reads version 1",
            "passes[0].name: must not be empty",
            "passes[0].equal[1]: is listed twice",
            "passes[0].date_window.days: must be at most 3660",
            "passes[0].similar[0].threshold: must be between 0 and 1",
            "passes[0].max_group_size: must be between 2 and 10",
            "passes[0].max_candidates: must be between 1 and 100",
            "passes[1].cardinality: a one_to_many or many_to_one pass needs `equal` (reference or counterparty), `reference` or `date_window` to bound its candidates",
            "passes[2].name: `x` is used by an earlier pass",
            "passes[2].cardinality: a many_to_many pass groups records by key: it needs `equal` (reference or counterparty) or `reference`",
        ]
    );
}

#[test]
fn empty_pass_list_is_invalid() {
    assert_eq!(
        paths(json!({"version": 1, "passes": []})),
        vec!["passes: must hold at least one pass"]
    );
}

#[test]
fn shape_errors_point_at_the_pass() {
    let errors = paths(json!({"version": 1, "passes": [
        {"name": "a", "cardinality": "one_to_one"},
        {"name": "b", "cardinality": "one_to_one", "amount_tolerence": {"absolute": "1"}}
    ]}));
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("passes[1]: unknown field `amount_tolerence`"),
        "{errors:?}"
    );
    let errors =
        paths(json!({"version": 1, "passes": [{"name": "a", "cardinality": "one_to_few"}]}));
    assert!(
        errors[0].starts_with("passes[0]: unknown variant `one_to_few`"),
        "{errors:?}"
    );
    let errors = paths(json!({"passes": []}));
    assert!(
        errors[0].starts_with(": missing field `version`"),
        "{errors:?}"
    );
    assert!(RuleSet::from_json_str("{not json").is_err());
}

#[test]
fn reconcile_refuses_an_invalid_rule_set() {
    let rules: RuleSet = serde_json::from_value(json!({"version": 1, "passes": [
        {"name": "a", "cardinality": "one_to_one", "reference": {"extract": "("}}
    ]}))
    .unwrap();
    assert!(rules.validate().is_err());
    match matching::reconcile(&rules, &[], &[]) {
        Err(matching::MatchError::InvalidRules(e)) => {
            assert_eq!(e.errors[0].path, "passes[0].reference.extract")
        }
        other => panic!("expected invalid rules, got {other:?}"),
    }
}
