//! `cargo bench --bench reconcile -- [N] [--no-key] [--generate-only]`: a 1:1 pass (reference + amount tolerance + date
//! window) on N x N generated records (default 1,000,000). Prints the time; no criterion needed.

use std::str::FromStr;
use std::time::Instant;

use chrono::NaiveDate;
use domain::money::Currency;
use domain::records::Record;
use matching::RuleSet;
use rust_decimal::Decimal;

fn side(prefix: &str, n: usize, shift: i64) -> Vec<Record> {
    let eur = Currency::from_str("EUR").unwrap_or_else(|e| panic!("{e}"));
    let base = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    (0..n)
        .map(|i| {
            // A permutation of 0..n when n is not a multiple of any prime factor of the
            // multiplier (2654435761 is prime): each reference occurs once per side.
            let k = (i as u64 * 2_654_435_761) % n as u64;
            Record {
                id: format!("{prefix}{i}").into(),
                booking_date: base + chrono::Duration::days((k % 28) as i64 + shift),
                value_date: None,
                amount: Decimal::new(1_000 + (k as i64 * 37) % 1_000_000, 2),
                currency: eur,
                reference: Some(format!("INV-{k:08}").into()),
                counterparty: None,
                description: None,
            }
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // `--no-key`: the same pass without the reference, so candidates come from the
    // sorted-amount window alone.
    let reference = if std::env::args().any(|a| a == "--no-key") {
        ""
    } else {
        r#""reference": {},"#
    };
    let rules = RuleSet::from_json_str(&format!(
        r#"{{"version": 1, "passes": [{{"name": "ref", "cardinality": "one_to_one", {reference}
            "amount_tolerance": {{"absolute": "0.01"}}, "date_window": {{"days": 3}}}}]}}"#
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let left = side("L", n, 0);
    let mut right = side("R", n, 1);
    // Every 10th right record is a cent off (inside tolerance), every 100th a euro off.
    for (i, r) in right.iter_mut().enumerate() {
        if i % 100 == 0 {
            r.amount += Decimal::ONE;
        } else if i % 10 == 0 {
            r.amount += Decimal::new(1, 2);
        }
    }
    eprintln!("generated 2 x {n} records in {:?}", t.elapsed());
    if std::env::args().any(|a| a == "--generate-only") {
        return;
    }
    let t = Instant::now();
    let out = matching::reconcile(&rules, &left, &right).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "reconciled {n} x {n} in {:?}: {} matches, {} suggestions, {} unmatched left",
        t.elapsed(),
        out.matches.len(),
        out.suggestions.len(),
        out.unmatched_left.len()
    );
}
