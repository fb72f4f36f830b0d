//! A 1:1 pass on 100k x 100k records finishes (timing is printed by the harness, not asserted).

mod common;

use std::time::Instant;

use common::*;
use domain::records::Record;
use rust_decimal::Decimal;

fn side(prefix: &str, n: usize, shift: i64) -> Vec<Record> {
    (0..n)
        .map(|i| {
            // A cheap deterministic scramble so neither side is in reference order.
            let k = (i as u64).wrapping_mul(2_654_435_761) % n as u64;
            let mut r = rec(
                &format!("{prefix}{i}"),
                (k % 28) as i64 + shift,
                "0",
                Some(&format!("INV-{k:07}")),
            );
            r.amount = Decimal::new(1_000 + (k as i64 * 37) % 1_000_000, 2);
            r
        })
        .collect()
}

#[test]
fn one_to_one_on_100k_by_100k_finishes() {
    let n = 100_000;
    let left = side("L", n, 0);
    let mut right = side("R", n, 1);
    // Every 10th right record is a cent off (inside tolerance), every 100th a euro off (outside).
    for (i, r) in right.iter_mut().enumerate() {
        if i % 100 == 0 {
            r.amount += Decimal::ONE;
        } else if i % 10 == 0 {
            r.amount += Decimal::new(1, 2);
        }
    }
    let rules = one_pass(
        r#"{"name": "ref", "cardinality": "one_to_one", "reference": {},
            "amount_tolerance": {"absolute": "0.01"}, "date_window": {"days": 3}}"#,
    );
    let start = Instant::now();
    let out = matching::reconcile(&rules, &left, &right).unwrap();
    let elapsed = start.elapsed();
    eprintln!(
        "1:1 on {n} x {n}: {elapsed:?}, {} matches",
        out.matches.len()
    );
    assert_eq!(out.matches.len(), n - n / 100);
    assert_eq!(out.unmatched_left.len(), n / 100);
    assert!(out.suggestions.is_empty());
}
