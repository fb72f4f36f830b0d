#![allow(dead_code)]

use std::str::FromStr;

use chrono::NaiveDate;
use domain::money::Currency;
use domain::records::Record;
use matching::{MatchOutcome, RuleSet};
use rust_decimal::Decimal;

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(n)
}

/// A record on 2024-01-01 + `d` days, in EUR, with a reference.
pub fn rec(id: &str, d: i64, amount: &str, reference: Option<&str>) -> Record {
    Record {
        id: id.into(),
        booking_date: day(d),
        value_date: None,
        amount: dec(amount),
        currency: Currency::parse("EUR").unwrap(),
        reference: reference.map(Into::into),
        counterparty: None,
        description: None,
    }
}

pub fn cur(mut r: Record, c: &str) -> Record {
    r.currency = Currency::parse(c).unwrap();
    r
}

pub fn with_cp(mut r: Record, cp: &str) -> Record {
    r.counterparty = Some(cp.into());
    r
}

pub fn with_desc(mut r: Record, d: &str) -> Record {
    r.description = Some(d.into());
    r
}

pub fn with_value_date(mut r: Record, d: i64) -> Record {
    r.value_date = Some(day(d));
    r
}

pub fn rules(json: &str) -> RuleSet {
    RuleSet::from_json_str(json).unwrap_or_else(|e| panic!("rule set should be valid: {e}"))
}

/// One pass as a rule set.
pub fn one_pass(pass_json: &str) -> RuleSet {
    rules(&format!(r#"{{"version": 1, "passes": [{pass_json}]}}"#))
}

pub fn run(rules: &RuleSet, left: &[Record], right: &[Record]) -> MatchOutcome {
    let out = matching::reconcile(rules, left, right).unwrap();
    check_partition(&out, left, right);
    out
}

/// (left ids, right ids) of every match, sorted.
pub fn pairs(out: &MatchOutcome) -> Vec<(Vec<String>, Vec<String>)> {
    let mut v: Vec<_> = out
        .matches
        .iter()
        .map(|m| {
            let mut l: Vec<String> = m.left.iter().map(|s| s.to_string()).collect();
            let mut r: Vec<String> = m.right.iter().map(|s| s.to_string()).collect();
            l.sort();
            r.sort();
            (l, r)
        })
        .collect();
    v.sort();
    v
}

pub fn p(l: &[&str], r: &[&str]) -> (Vec<String>, Vec<String>) {
    (
        l.iter().map(|s| s.to_string()).collect(),
        r.iter().map(|s| s.to_string()).collect(),
    )
}

/// Every input record is in exactly one of: a match, a suggestion (as subject or candidate),
/// the unmatched list. No record is in two matches.
pub fn check_partition(out: &MatchOutcome, left: &[Record], right: &[Record]) {
    use std::collections::{HashMap, HashSet};
    let mut where_l: HashMap<&str, &str> = HashMap::new();
    let mut where_r: HashMap<&str, &str> = HashMap::new();
    for m in &out.matches {
        for id in &m.left {
            assert!(
                where_l.insert(id, "match").is_none(),
                "left {id} in two matches"
            );
        }
        for id in &m.right {
            assert!(
                where_r.insert(id, "match").is_none(),
                "right {id} in two matches"
            );
        }
        assert!((0.0..=1.0).contains(&m.score));
    }
    let mut sugg_l: HashSet<&str> = HashSet::new();
    let mut sugg_r: HashSet<&str> = HashSet::new();
    for s in &out.suggestions {
        assert!(
            s.candidates.len() >= 2,
            "a suggestion lists at least two tied candidates"
        );
        let (subject_set, other_set) = match s.side {
            domain::records::Side::Left => (&mut sugg_l, &mut sugg_r),
            domain::records::Side::Right => (&mut sugg_r, &mut sugg_l),
        };
        subject_set.insert(&s.record);
        for c in &s.candidates {
            for id in &c.records {
                other_set.insert(id);
            }
        }
    }
    for id in sugg_l {
        assert!(
            where_l.insert(id, "suggestion").is_none(),
            "left {id} matched and suggested"
        );
    }
    for id in sugg_r {
        assert!(
            where_r.insert(id, "suggestion").is_none(),
            "right {id} matched and suggested"
        );
    }
    for id in &out.unmatched_left {
        assert!(where_l.insert(id, "unmatched").is_none(), "left {id} twice");
    }
    for id in &out.unmatched_right {
        assert!(
            where_r.insert(id, "unmatched").is_none(),
            "right {id} twice"
        );
    }
    assert_eq!(
        where_l.len(),
        left.len(),
        "every left record accounted for once"
    );
    assert_eq!(
        where_r.len(),
        right.len(),
        "every right record accounted for once"
    );
    for r in left {
        assert!(where_l.contains_key(r.id.as_str()));
    }
    for r in right {
        assert!(where_r.contains_key(r.id.as_str()));
    }
    // Summary counts agree.
    let total_l: u64 = out.summary.iter().map(|s| s.left.records).sum();
    let total_r: u64 = out.summary.iter().map(|s| s.right.records).sum();
    assert_eq!(total_l as usize, left.len());
    assert_eq!(total_r as usize, right.len());
    let unmatched_l: u64 = out.summary.iter().map(|s| s.left.unmatched).sum();
    assert_eq!(unmatched_l as usize, out.unmatched_left.len());
}
