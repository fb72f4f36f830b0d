//! Behaviour of each condition and cardinality.

mod common;

use std::cell::Cell;
use std::ops::ControlFlow;

use common::*;
use domain::records::Side;
use matching::{Condition, MatchError};

const REF_1TO1: &str = r#"{"name": "ref", "cardinality": "one_to_one", "reference": {}}"#;

#[test]
fn exact_reference_and_amount_match_one_to_one() {
    let left = [
        rec("L1", 0, "100.00", Some("INV 1")),
        rec("L2", 0, "50", Some("INV 2")),
    ];
    let right = [
        rec("R2", 0, "50.00", Some("inv-2")),
        rec("R1", 0, "100", Some("inv1")),
    ];
    let out = run(&one_pass(REF_1TO1), &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"]), p(&["L2"], &["R2"])]);
    let m = &out.matches[0];
    assert_eq!((m.pass_index, &*m.pass_name), (0, "ref"));
    assert_eq!(m.score, 1.0);
    assert_eq!(m.reason.amount_difference, dec("0"));
    assert_eq!(m.reason.day_difference, 0);
    assert_eq!(
        m.reason.conditions.iter().collect::<Vec<_>>(),
        vec![
            Condition::CurrencyEqual,
            Condition::ReferenceNormalisedEqual,
            Condition::AmountWithinTolerance
        ]
    );
    // Matches are listed in input order of their left record.
    assert_eq!(out.matches[0].left.as_slice(), ["L1"]);
    assert_eq!(out.matches[1].left.as_slice(), ["L2"]);
    assert!(out.unmatched_left.is_empty() && out.unmatched_right.is_empty());
}

#[test]
fn amounts_must_be_equal_without_a_tolerance() {
    let left = [rec("L1", 0, "100.00", Some("A"))];
    let right = [rec("R1", 0, "100.01", Some("A"))];
    let out = run(&one_pass(REF_1TO1), &left, &right);
    assert!(out.matches.is_empty());
    assert_eq!(out.unmatched_left, vec!["L1"]);
    assert_eq!(out.unmatched_right, vec!["R1"]);
}

#[test]
fn absolute_tolerance() {
    let rules = one_pass(
        r#"{"name": "t", "cardinality": "one_to_one", "reference": {}, "amount_tolerance": {"absolute": "0.05"}}"#,
    );
    let left = [
        rec("L1", 0, "100.00", Some("A")),
        rec("L2", 0, "100.00", Some("B")),
    ];
    let right = [
        rec("R1", 0, "100.05", Some("A")),
        rec("R2", 0, "99.94", Some("B")),
    ];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"])]);
    assert_eq!(out.matches[0].reason.amount_difference, dec("-0.05"));
    assert_eq!(
        out.matches[0].score, 0.0,
        "at the edge of the tolerance the amount scores 0"
    );
}

#[test]
fn percent_tolerance_is_of_the_smaller_amount() {
    let rules = one_pass(
        r#"{"name": "t", "cardinality": "one_to_one", "reference": {}, "amount_tolerance": {"percent": "1"}}"#,
    );
    // 1 % of 100 = 1: 101 is within; 1 % of 100 for (100, 101.01) is 1 < 1.01: outside.
    let left = [
        rec("L1", 0, "100", Some("A")),
        rec("L2", 0, "100", Some("B")),
        rec("L3", 0, "-100", Some("C")),
    ];
    let right = [
        rec("R1", 0, "101", Some("A")),
        rec("R2", 0, "101.01", Some("B")),
        rec("R3", 0, "-99.5", Some("C")),
    ];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"]), p(&["L3"], &["R3"])]);
    // Opposite signs never agree by percent.
    let left = [rec("L1", 0, "0.5", Some("A"))];
    let right = [rec("R1", 0, "-0.5", Some("A"))];
    let rules = one_pass(
        r#"{"name": "t", "cardinality": "one_to_one", "reference": {}, "amount_tolerance": {"percent": "100"}}"#,
    );
    assert!(run(&rules, &left, &right).matches.is_empty());
}

#[test]
fn date_window_on_booking_and_value_dates() {
    let rules = one_pass(
        r#"{"name": "d", "cardinality": "one_to_one", "reference": {}, "date_window": {"days": 2}}"#,
    );
    let left = [rec("L1", 0, "10", Some("A")), rec("L2", 0, "10", Some("B"))];
    let right = [rec("R1", 2, "10", Some("A")), rec("R2", 3, "10", Some("B"))];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"])]);
    assert_eq!(out.matches[0].reason.day_difference, 2);
    // score = mean(amount 1, date 1 - 2/3) = 2/3
    assert!((out.matches[0].score - 2.0 / 3.0).abs() < 1e-9);

    let rules = one_pass(
        r#"{"name": "d", "cardinality": "one_to_one", "reference": {}, "date_window": {"field": "value_date", "days": 1}}"#,
    );
    // L1's value date is 5 (booking 0): R1 on day 5 matches by value date; L2 has no value
    // date, so its booking date (0) is used.
    let left = [
        with_value_date(rec("L1", 0, "10", Some("A")), 5),
        rec("L2", 0, "10", Some("B")),
    ];
    let right = [
        rec("R1", 5, "10", Some("A")),
        with_value_date(rec("R2", 9, "10", Some("B")), 1),
    ];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"]), p(&["L2"], &["R2"])]);
}

#[test]
fn reference_normalisation_steps_can_be_turned_off() {
    let left = [
        rec("L1", 0, "1", Some("Ab-1")),
        rec("L2", 0, "2", Some("X Y")),
    ];
    let right = [
        rec("R1", 0, "1", Some("ab1")),
        rec("R2", 0, "2", Some("x y")),
    ];
    let strict = one_pass(
        r#"{"name": "s", "cardinality": "one_to_one",
            "reference": {"case_fold": false, "remove_spaces": false, "remove_punctuation": false}}"#,
    );
    assert!(run(&strict, &left, &right).matches.is_empty());
    let fold_only = one_pass(
        r#"{"name": "s", "cardinality": "one_to_one",
            "reference": {"case_fold": true, "remove_spaces": false, "remove_punctuation": false}}"#,
    );
    assert_eq!(
        pairs(&run(&fold_only, &left, &right)),
        vec![p(&["L2"], &["R2"])]
    );
    assert_eq!(
        matching::normalise_reference(&Default::default(), "  Re: INV-00 12 / ä "),
        Some("reinv0012ä".to_string())
    );
}

#[test]
fn regex_extracts_the_part_that_matters() {
    let rules = one_pass(
        r#"{"name": "x", "cardinality": "one_to_one", "reference": {"extract": "(?i)inv(?:oice)?[ -]*0*(\\d+)"}}"#,
    );
    let left = [
        rec("L1", 0, "10", Some("Payment for Invoice 000123, thanks")),
        rec("L2", 0, "20", Some("no number here")),
        rec("L3", 0, "30", Some("INV-77")),
    ];
    let right = [
        rec("R1", 0, "10", Some("INV123")),
        rec("R2", 0, "20", Some("no number here")),
        rec("R3", 0, "30", Some("inv 0077")),
    ];
    let out = run(&rules, &left, &right);
    // L2/R2 do not match the pattern, so they take no part even though they are equal.
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"]), p(&["L3"], &["R3"])]);
    let pattern = matching::ReferenceRule {
        extract: Some("(?i)inv(?:oice)?[ -]*0*(\\d+)".into()),
        ..Default::default()
    };
    assert_eq!(
        matching::normalise_reference(&pattern, "Payment for Invoice 000123, thanks"),
        Some("123".into())
    );
    let rule = matching::ReferenceRule {
        extract: Some("[A-Z]{3}\\d+".into()),
        ..Default::default()
    };
    assert_eq!(
        matching::normalise_reference(&rule, "x ABC12 y"),
        Some("abc12".into())
    );
}

#[test]
fn equal_fields_are_exact() {
    let rules = one_pass(
        r#"{"name": "e", "cardinality": "one_to_one", "equal": ["counterparty", "reference"]}"#,
    );
    let left = [
        with_cp(rec("L1", 0, "10", Some("A")), "ACME"),
        with_cp(rec("L2", 0, "10", Some("A")), "Acme"),
        rec("L3", 0, "10", Some("A")),
    ];
    let right = [
        with_cp(rec("R1", 0, "10", Some("A")), " ACME "),
        with_cp(rec("R2", 0, "10", Some("a")), "Acme"),
    ];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"])]);
    assert!(out.matches[0]
        .reason
        .conditions
        .contains(Condition::CounterpartyEqual));
    assert!(out.matches[0]
        .reason
        .conditions
        .contains(Condition::ReferenceEqual));
    assert!(!out.matches[0]
        .reason
        .conditions
        .contains(Condition::DateWithinWindow));
}

#[test]
fn currency_is_never_crossed() {
    // No key at all: still only within a currency, even with a huge tolerance.
    let rules = one_pass(
        r#"{"name": "c", "cardinality": "one_to_one", "amount_tolerance": {"absolute": "1000"}, "equal": ["currency"]}"#,
    );
    let left = [cur(rec("L1", 0, "10", None), "USD")];
    let right = [
        cur(rec("R1", 0, "10", None), "EUR"),
        cur(rec("R2", 0, "15", None), "USD"),
    ];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R2"])]);
    let out = run(
        &one_pass(REF_1TO1),
        &[cur(rec("L1", 0, "10", Some("A")), "USD")],
        &[rec("R1", 0, "10", Some("A"))],
    );
    assert!(out.matches.is_empty());
    // Summary per currency.
    assert_eq!(out.summary.len(), 2);
    assert_eq!(out.summary[0].currency.as_str(), "EUR");
    assert_eq!(out.summary[0].right.unmatched, 1);
    assert_eq!(out.summary[1].left.unmatched_amount, dec("10"));
}

#[test]
fn pass_without_exact_key_uses_amount_window_and_best_score() {
    let rules = one_pass(
        r#"{"name": "amt", "cardinality": "one_to_one", "amount_tolerance": {"absolute": "1"}, "date_window": {"days": 5}}"#,
    );
    let left = [rec("L1", 0, "100", None), rec("L2", 0, "500", None)];
    let right = [
        rec("R1", 0, "100.50", None),
        rec("R2", 1, "100", None),
        rec("R3", 20, "500", None),
    ];
    let out = run(&rules, &left, &right);
    // R2: amount 1, date 1-1/6 → 0.9167; R1: amount 0.5, date 1 → 0.75. L2/R3: dates too far.
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R2"])]);
    assert_eq!(out.unmatched_right, vec!["R1", "R3"]);
}

#[test]
fn jaro_winkler_threshold() {
    let rules = |t: f64| {
        one_pass(&format!(
            r#"{{"name": "s", "cardinality": "one_to_one", "equal": ["reference"],
                "similar": [{{"field": "description", "threshold": {t}}}]}}"#
        ))
    };
    let sim = matching::text_similarity("ACME  Corp payment", "acme corp paymnt");
    assert!(sim > 0.9 && sim < 1.0, "{sim}");
    let left = [
        with_desc(rec("L1", 0, "10", Some("A")), "ACME  Corp payment"),
        rec("L2", 0, "10", Some("B")),
    ];
    let right = [
        with_desc(rec("R1", 0, "10", Some("A")), "acme corp paymnt"),
        with_desc(rec("R2", 0, "10", Some("B")), "x"),
    ];
    let out = run(&rules(sim - 1e-9), &left, &right);
    assert_eq!(
        pairs(&out),
        vec![p(&["L1"], &["R1"])],
        "L2 has no description: fails"
    );
    assert!(out.matches[0]
        .reason
        .conditions
        .contains(Condition::DescriptionSimilar));
    assert_eq!(out.matches[0].reason.similarities[0].similarity, sim);
    assert_eq!(
        out.matches[0].reason.similarities[0].field,
        matching::TextField::Description
    );
    assert!(run(&rules(sim + 1e-6), &left, &right).matches.is_empty());
    // Counterparty similarity too.
    let rules = one_pass(
        r#"{"name": "s", "cardinality": "one_to_one", "reference": {}, "similar": [{"field": "counterparty", "threshold": 0.8}]}"#,
    );
    let left = [with_cp(rec("L1", 0, "10", Some("A")), "Deutsche Bahn AG")];
    let right = [with_cp(rec("R1", 0, "10", Some("A")), "DEUTSCHE BAHN")];
    assert_eq!(run(&rules, &left, &right).matches.len(), 1);
}

#[test]
fn ties_become_suggestions_not_matches() {
    let left = [rec("L1", 0, "10", Some("A")), rec("L9", 0, "77", Some("Z"))];
    let right = [
        rec("R2", 0, "10", Some("A")),
        rec("R1", 0, "10", Some("A")),
        rec("R9", 0, "77", Some("Z")),
    ];
    let out = run(&one_pass(REF_1TO1), &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L9"], &["R9"])]);
    assert_eq!(out.suggestions.len(), 1);
    let s = &out.suggestions[0];
    assert_eq!(
        (s.side, s.record.as_str(), s.pass_index),
        (Side::Left, "L1", 0)
    );
    let ids: Vec<_> = s.candidates.iter().map(|c| c.records.clone()).collect();
    assert_eq!(
        ids,
        vec![vec!["R1".to_string()], vec!["R2".to_string()]],
        "ordered by id"
    );
    assert!(out.unmatched_left.is_empty() && out.unmatched_right.is_empty());
    assert_eq!(out.summary[0].left.suggested, 1);
    assert_eq!(out.summary[0].right.suggested, 2);
    assert_eq!(out.summary[0].right.suggested_amount, dec("20"));
}

#[test]
fn a_better_candidate_is_not_a_tie() {
    let rules = one_pass(
        r#"{"name": "d", "cardinality": "one_to_one", "reference": {}, "date_window": {"days": 3}}"#,
    );
    let left = [rec("L1", 0, "10", Some("A"))];
    let right = [rec("R1", 2, "10", Some("A")), rec("R2", 1, "10", Some("A"))];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R2"])]);
    assert_eq!(out.unmatched_right, vec!["R1"]);
}

#[test]
fn rounds_settle_chains_of_preferences() {
    // R1 prefers L1 (same day); L1 prefers R1. Once they pair, L2's next best R2 is unique.
    let rules = one_pass(
        r#"{"name": "d", "cardinality": "one_to_one", "reference": {}, "date_window": {"days": 5}}"#,
    );
    let left = [rec("L1", 0, "10", Some("A")), rec("L2", 1, "10", Some("A"))];
    let right = [rec("R1", 0, "10", Some("A")), rec("R2", 4, "10", Some("A"))];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"]), p(&["L2"], &["R2"])]);
}

#[test]
fn waterfall_does_not_offer_matched_records_to_later_passes() {
    let rules = rules(
        r#"{"version": 1, "passes": [
            {"name": "strict", "cardinality": "one_to_one", "reference": {}},
            {"name": "loose", "cardinality": "one_to_one", "amount_tolerance": {"absolute": "5"}}
        ]}"#,
    );
    let left = [
        rec("L1", 0, "100", Some("A")),
        rec("L2", 0, "100", Some("B")),
    ];
    let right = [
        rec("R1", 0, "100", Some("A")),
        rec("R2", 0, "102", Some("C")),
    ];
    let out = run(&rules, &left, &right);
    // Without the waterfall, L1 and L2 would tie for R2 ... and R1 would tie too.
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1"]), p(&["L2"], &["R2"])]);
    assert_eq!(
        (out.matches[0].pass_index, &*out.matches[0].pass_name),
        (0, "strict")
    );
    assert_eq!(
        (out.matches[1].pass_index, &*out.matches[1].pass_name),
        (1, "loose")
    );
}

#[test]
fn suggested_records_are_withheld_from_later_passes() {
    let rules = rules(
        r#"{"version": 1, "passes": [
            {"name": "strict", "cardinality": "one_to_one", "reference": {}},
            {"name": "loose", "cardinality": "one_to_one", "amount_tolerance": {"absolute": "5"}}
        ]}"#,
    );
    let left = [rec("L1", 0, "100", Some("A"))];
    let right = [
        rec("R1", 0, "100", Some("A")),
        rec("R2", 0, "100", Some("A")),
        rec("R3", 0, "101", None),
    ];
    let out = run(&rules, &left, &right);
    assert!(out.matches.is_empty());
    assert_eq!(out.suggestions.len(), 1);
    assert_eq!(out.unmatched_right, vec!["R3"]);
}

#[test]
fn one_to_many_finds_split_payments_with_credit_notes() {
    let rules = one_pass(
        r#"{"name": "split", "cardinality": "one_to_many", "reference": {}, "amount_tolerance": {"absolute": "0.01"}}"#,
    );
    // Bank paid 250 for invoices 100 + 180, less a credit note of -30; R9 is a distractor.
    let left = [rec("L1", 0, "250.00", Some("ORDER-7"))];
    let right = [
        rec("R1", 0, "100.00", Some("order 7")),
        rec("R2", 0, "180.00", Some("Order7")),
        rec("R3", 0, "-30.00", Some("ORDER 7")),
        rec("R9", 0, "999.00", Some("ORDER 7")),
    ];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1", "R2", "R3"])]);
    assert_eq!(out.matches[0].reason.amount_difference, dec("0"));
    assert_eq!(out.unmatched_right, vec!["R9"]);
}

#[test]
fn many_to_one_groups_left_records() {
    let rules = one_pass(
        r#"{"name": "n1", "cardinality": "many_to_one", "equal": ["counterparty"], "date_window": {"days": 3}}"#,
    );
    let left = [
        with_cp(rec("L1", 0, "40", None), "ACME"),
        with_cp(rec("L2", 1, "60", None), "ACME"),
        with_cp(rec("L3", 9, "60", None), "ACME"),
        with_cp(rec("L4", 0, "60", None), "OTHER"),
    ];
    let right = [with_cp(rec("R1", 1, "100", None), "ACME")];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1", "L2"], &["R1"])]);
    let m = &out.matches[0];
    assert_eq!(m.reason.day_difference, 1);
    // date components: (4-1 + 4-0) / (2 * 4) = 7/8; score = (1 + 7/8) / 2
    assert!((m.score - 0.9375).abs() < 1e-12, "{}", m.score);
}

#[test]
fn group_size_and_candidate_bounds_are_respected() {
    let six = |max: usize| {
        one_pass(&format!(
            r#"{{"name": "g", "cardinality": "one_to_many", "reference": {{}}, "max_group_size": {max}}}"#
        ))
    };
    let left = [rec("L1", 0, "6", Some("A"))];
    let right: Vec<_> = (0..6)
        .map(|i| rec(&format!("R{i}"), 0, "1", Some("A")))
        .collect();
    assert!(
        run(&six(5), &left, &right).matches.is_empty(),
        "needs 6 records, only 5 allowed"
    );
    assert_eq!(run(&six(6), &left, &right).matches.len(), 1);
    // With max_candidates 2, only two of the candidates are considered: 1 + 1 ≠ 3.
    let left = [rec("L1", 0, "3", Some("A"))];
    let right: Vec<_> = (0..3)
        .map(|i| rec(&format!("R{i}"), 0, "1", Some("A")))
        .collect();
    let capped = one_pass(
        r#"{"name": "g", "cardinality": "one_to_many", "reference": {}, "max_candidates": 2}"#,
    );
    assert!(run(&capped, &left, &right).matches.is_empty());
    let uncapped = one_pass(r#"{"name": "g", "cardinality": "one_to_many", "reference": {}}"#);
    assert_eq!(run(&uncapped, &left, &right).matches.len(), 1);
}

#[test]
fn tied_groups_become_a_suggestion() {
    let rules = one_pass(r#"{"name": "g", "cardinality": "one_to_many", "reference": {}}"#);
    let left = [rec("L1", 0, "10", Some("A"))];
    // {R1, R2} and {R3, R4} both sum to 10.
    let right = [
        rec("R1", 0, "4", Some("A")),
        rec("R2", 0, "6", Some("A")),
        rec("R3", 0, "3", Some("A")),
        rec("R4", 0, "7", Some("A")),
    ];
    let out = run(&rules, &left, &right);
    assert!(out.matches.is_empty());
    assert_eq!(out.suggestions.len(), 1);
    let groups: Vec<_> = out.suggestions[0]
        .candidates
        .iter()
        .map(|c| c.records.clone())
        .collect();
    assert_eq!(groups, vec![vec!["R1", "R2"], vec!["R3", "R4"]]);
    // A smaller group beats a larger one with the same score.
    let right = [
        rec("R1", 0, "4", Some("A")),
        rec("R2", 0, "6", Some("A")),
        rec("R3", 0, "3", Some("A")),
        rec("R4", 0, "3", Some("A")),
        rec("R5", 0, "0.5", Some("A")),
        rec("R6", 0, "3.5", Some("A")),
    ];
    let rules = one_pass(
        r#"{"name": "g", "cardinality": "one_to_many", "reference": {}, "max_group_size": 3}"#,
    );
    let left = [rec("L1", 0, "10", Some("A"))];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1"], &["R1", "R2"])]);
}

#[test]
fn competing_targets_are_settled_best_first() {
    let rules = one_pass(
        r#"{"name": "g", "cardinality": "one_to_many", "reference": {}, "date_window": {"days": 10}}"#,
    );
    // L1 and L2 both could take {R1, R2}; L2 is closer in date so it wins; L1 then finds {R3, R4}.
    let left = [rec("L1", 5, "10", Some("A")), rec("L2", 0, "10", Some("A"))];
    let right = [
        rec("R1", 0, "4", Some("A")),
        rec("R2", 0, "6", Some("A")),
        rec("R3", 3, "2", Some("A")),
        rec("R4", 3, "8", Some("A")),
    ];
    let out = run(&rules, &left, &right);
    assert_eq!(
        pairs(&out),
        vec![p(&["L1"], &["R3", "R4"]), p(&["L2"], &["R1", "R2"])]
    );
}

#[test]
fn many_to_many_by_reference() {
    let rules = one_pass(
        r#"{"name": "nm", "cardinality": "many_to_many", "reference": {}, "amount_tolerance": {"absolute": "0.10"}}"#,
    );
    let left = [
        rec("L1", 0, "30", Some("BATCH-1")),
        rec("L2", 0, "70", Some("batch 1")),
        rec("L3", 0, "5", Some("BATCH-2")),
        rec("L4", 0, "5", Some("BATCH-3")),
    ];
    let right = [
        rec("R1", 0, "50", Some("Batch1")),
        rec("R2", 0, "25", Some("BATCH1")),
        rec("R3", 0, "24.95", Some("BATCH1")),
        rec("R4", 0, "6", Some("BATCH-2")),
    ];
    let out = run(&rules, &left, &right);
    assert_eq!(pairs(&out), vec![p(&["L1", "L2"], &["R1", "R2", "R3"])]);
    assert_eq!(out.matches[0].reason.amount_difference, dec("0.05"));
    assert_eq!(out.unmatched_left, vec!["L3", "L4"]);
}

#[test]
fn progress_is_reported_and_cancellation_stops() {
    let left: Vec<_> = (0..20_000)
        .map(|i| rec(&format!("L{i}"), 0, "1", Some(&format!("r{i}"))))
        .collect();
    let right: Vec<_> = (0..20_000)
        .map(|i| rec(&format!("R{i}"), 0, "1", Some(&format!("r{i}"))))
        .collect();
    let rules = one_pass(REF_1TO1);
    let calls = Cell::new(0u32);
    let out = matching::reconcile_with_progress(&rules, &left, &right, &|p| {
        assert_eq!(p.pass_count, 1);
        assert!(p.done <= p.total);
        calls.set(calls.get() + 1);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(out.matches.len(), 20_000);
    assert!(calls.get() >= 5, "called {} times", calls.get());
    let calls = Cell::new(0u32);
    let res = matching::reconcile_with_progress(&rules, &left, &right, &|_| {
        calls.set(calls.get() + 1);
        if calls.get() >= 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(res, Err(MatchError::Cancelled));
    assert_eq!(calls.get(), 2, "stops at the first Break");
}

#[test]
fn outcome_is_independent_of_input_order() {
    let rules = rules(
        r#"{"version": 1, "passes": [
            {"name": "a", "cardinality": "one_to_one", "reference": {}, "amount_tolerance": {"absolute": "1"}, "date_window": {"days": 3}},
            {"name": "b", "cardinality": "one_to_many", "reference": {}},
            {"name": "c", "cardinality": "one_to_one", "amount_tolerance": {"absolute": "2"}}
        ]}"#,
    );
    let mut left = vec![];
    let mut right = vec![];
    for i in 0..60 {
        let r = format!("ref{}", i % 7);
        left.push(rec(
            &format!("L{i:02}"),
            i % 4,
            &format!("{}", 10 + i % 5),
            Some(&r),
        ));
        right.push(rec(
            &format!("R{i:02}"),
            i % 3,
            &format!("{}.5", 10 + i % 6),
            Some(&r),
        ));
    }
    let a = run(&rules, &left, &right);
    left.reverse();
    right.rotate_left(17);
    let b = run(&rules, &left, &right);
    assert_eq!(pairs(&a), pairs(&b));
    let subjects = |o: &matching::MatchOutcome| {
        let mut v: Vec<_> = o
            .suggestions
            .iter()
            .map(|s| (s.pass_index, s.side, s.record.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(subjects(&a), subjects(&b));
    // And the same input gives the very same outcome, serialised.
    let c = run(&rules, &left, &right);
    assert_eq!(
        serde_json::to_string(&b).unwrap(),
        serde_json::to_string(&c).unwrap()
    );
}

#[test]
fn outcome_serialises_amounts_as_strings() {
    let out = run(
        &one_pass(REF_1TO1),
        &[rec("L1", 0, "1.10", Some("A"))],
        &[rec("R1", 0, "1.1", Some("A"))],
    );
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["matches"][0]["reason"]["amount_difference"], "0.00");
    assert_eq!(
        v["matches"][0]["reason"]["conditions"],
        serde_json::json!([
            "currency_equal",
            "reference_normalised_equal",
            "amount_within_tolerance"
        ])
    );
    assert_eq!(v["matches"][0]["pass_name"], "ref");
    let back: matching::MatchOutcome = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(back, out);
    assert_eq!(v["summary"][0]["currency"], "EUR");
}

#[test]
fn group_search_is_bounded_on_large_candidate_sets() {
    // 40 candidates, groups of up to 10: far more subsets than the search budget allows.
    let rules = one_pass(
        r#"{"name": "g", "cardinality": "one_to_many", "reference": {}, "max_group_size": 10, "max_candidates": 40}"#,
    );
    let left = [rec("L1", 0, "100.05", Some("A"))];
    let right: Vec<_> = (0..40)
        .map(|i| rec(&format!("R{i:02}"), 0, &format!("{}.01", i + 1), Some("A")))
        .collect();
    let start = std::time::Instant::now();
    let a = run(&rules, &left, &right);
    let b = run(&rules, &left, &right);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(a, b, "deterministic even when the budget cuts the search");
    // Many five-record groups sum to 100.05 with the same score: a suggestion.
    assert!(a.matches.is_empty());
    assert_eq!(a.suggestions.len(), 1);
    assert_eq!(a.suggestions[0].candidates.len(), matching::MAX_LISTED_TIES);
    assert!(a.suggestions[0]
        .candidates
        .iter()
        .all(|c| c.records.len() == 5));
}

#[test]
fn a_suggestion_lists_at_most_ten_ties_and_withholds_only_those() {
    let left = [rec("L1", 0, "10", Some("A"))];
    let right: Vec<_> = (0..12)
        .map(|i| rec(&format!("R{i:02}"), 0, "10", Some("A")))
        .collect();
    let out = run(&one_pass(REF_1TO1), &left, &right);
    assert!(out.matches.is_empty());
    assert_eq!(out.suggestions.len(), 1);
    let listed: Vec<_> = out.suggestions[0]
        .candidates
        .iter()
        .map(|c| c.records[0].clone())
        .collect();
    assert_eq!(
        listed,
        (0..10).map(|i| format!("R{i:02}")).collect::<Vec<_>>()
    );
    assert_eq!(out.unmatched_right, vec!["R10", "R11"]);
}

#[test]
fn a_degenerate_key_stays_linear_and_ends_in_suggestions() {
    // 5,000 records per side with the same reference, amount and date: every pair ties.
    let left: Vec<_> = (0..5_000)
        .map(|i| rec(&format!("L{i:05}"), 0, "10", Some("A")))
        .collect();
    let right: Vec<_> = (0..5_000)
        .map(|i| rec(&format!("R{i:05}"), 0, "10", Some("A")))
        .collect();
    let start = std::time::Instant::now();
    let out = run(&one_pass(REF_1TO1), &left, &right);
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert!(out.matches.is_empty());
    assert!(!out.suggestions.is_empty());
    assert!(out.suggestions.iter().all(|s| s.candidates.len() >= 2));
}
