//! The engine's fast paths against its reference paths: amounts in integer minor units against
//! `Decimal`, several threads and key partitions against one, on random inputs and rule sets.
//! Outcomes must be identical down to their JSON (decimal scales, float bits).

use chrono::NaiveDate;
use domain::money::Currency;
use domain::records::Record;
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::engine::{run, Options};
use crate::rules::compile;
use crate::RuleSet;

const RULES: &[&str] = &[
    r#"{"name": "ref", "cardinality": "one_to_one", "reference": {},
        "amount_tolerance": {"absolute": "0.01"}, "date_window": {"days": 3}}"#,
    r#"{"name": "pct", "cardinality": "one_to_one", "reference": {"remove_spaces": false},
        "amount_tolerance": {"absolute": "0.005", "percent": "0.5"},
        "date_window": {"field": "value_date", "days": 2}}"#,
    r#"{"name": "exact", "cardinality": "one_to_one", "equal": ["reference", "counterparty"]}"#,
    r#"{"name": "loose", "cardinality": "one_to_one", "amount_tolerance": {"absolute": "1"},
        "max_candidates": 2, "similar": [{"field": "counterparty", "threshold": 0.5}]}"#,
    r#"{"name": "p100", "cardinality": "one_to_one", "reference": {"case_fold": false},
        "amount_tolerance": {"percent": "100"}}"#,
];

/// A waterfall with group passes after a 1:1 pass.
const WATERFALL: &str = r#"{"version": 1, "passes": [
    {"name": "ref", "cardinality": "one_to_one", "reference": {},
     "amount_tolerance": {"absolute": "0.01"}, "date_window": {"days": 1}},
    {"name": "split", "cardinality": "one_to_many", "reference": {},
     "amount_tolerance": {"absolute": "0.05"}, "max_group_size": 3},
    {"name": "merge", "cardinality": "many_to_one", "equal": ["counterparty"],
     "date_window": {"days": 2}},
    {"name": "nm", "cardinality": "many_to_many", "reference": {}},
    {"name": "rest", "cardinality": "one_to_one", "amount_tolerance": {"absolute": "0.5"}}
]}"#;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// Records with few keys (ties, groups), long and non-ASCII references, mixed scales,
/// negative and zero amounts, and now and then one too large for minor units.
fn records(rng: &mut Rng, prefix: &str, n: usize, huge: bool, distinct: u64) -> Vec<Record> {
    let base = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let refs = [
        "INV-1",
        "inv 1",
        "B.2",
        "b2",
        "Ärger–Nr. 3",
        "a reference far longer than the twenty-eight inline bytes",
        "A REFERENCE far longer than the twenty-eight inline bytes",
        "  ",
    ];
    let cps = ["ACME", "acme corp", "Globex"];
    let curs = ["EUR", "EUR", "USD"];
    (0..n)
        .map(|_| {
            let scale = rng.below(4) as u32;
            let mut m = [1000i64, 2000, -1000, 0, 1500][rng.below(5) as usize];
            m = m * 10i64.pow(scale) + rng.below(3) as i64 - 1;
            let amount = if huge && rng.below(20) == 0 {
                Decimal::MAX - Decimal::from(rng.below(5))
            } else {
                Decimal::new(m, scale)
            };
            let day = rng.below(4) as i64;
            Record {
                id: format!("{prefix}{}", rng.below(n as u64 * 2)).into(),
                booking_date: base + chrono::Duration::days(day),
                value_date: (rng.below(3) == 0)
                    .then(|| base + chrono::Duration::days(day + rng.below(3) as i64)),
                amount,
                currency: Currency::parse(curs[rng.below(3) as usize]).unwrap(),
                reference: (rng.below(10) > 0).then(|| {
                    if distinct > 0 {
                        let k = rng.below(distinct);
                        [format!("INV-{k}"), format!("inv {k}")][rng.below(2) as usize]
                            .as_str()
                            .into()
                    } else {
                        refs[rng.below(refs.len() as u64) as usize].into()
                    }
                }),
                counterparty: (rng.below(10) > 0)
                    .then(|| cps[rng.below(cps.len() as u64) as usize].into()),
                description: None,
            }
        })
        .collect()
}

fn outcome(rules: &RuleSet, left: &[Record], right: &[Record], options: Options) -> String {
    let passes = compile(rules).unwrap();
    let out = run(&passes, left, right, None, options).unwrap();
    serde_json::to_string(&out).unwrap()
}

/// `Decimal`, one thread, one partition: the reference.
const REFERENCE: Options = Options {
    threads: 1,
    parallel_from: usize::MAX,
    partition_bits: Some(0),
    minor_units: false,
};

fn variants() -> Vec<Options> {
    let mut v = Vec::new();
    for bits in [None, Some(0), Some(3), Some(9)] {
        for minor_units in [true, false] {
            v.push(Options {
                threads: 2,
                parallel_from: 0,
                partition_bits: bits,
                minor_units,
            });
        }
    }
    v.push(Options::default());
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fast_paths_agree_with_reference(seed: u64, n in 0usize..120, m in 0usize..120, huge in prop::bool::weighted(0.2)) {
        let mut rng = Rng(seed);
        let left = records(&mut rng, "L", n, huge, 0);
        let right = records(&mut rng, "R", m, huge, 0);
        let mut sets: Vec<RuleSet> = RULES
            .iter()
            .map(|p| RuleSet::from_json_str(&format!(r#"{{"version": 1, "passes": [{p}]}}"#)).unwrap())
            .collect();
        sets.push(RuleSet::from_json_str(WATERFALL).unwrap());
        for rules in &sets {
            let want = outcome(rules, &left, &right, REFERENCE);
            for options in variants() {
                let got = outcome(rules, &left, &right, options);
                prop_assert!(got == want, "options {options:?} differ on {}", rules.passes[0].name);
            }
        }
    }
}

#[test]
fn large_input_takes_the_parallel_path_and_agrees() {
    let mut rng = Rng(7);
    let left = records(&mut rng, "L", 9_000, false, 3_000);
    let right = records(&mut rng, "R", 9_000, false, 3_000);
    for pass in &RULES[..2] {
        let rules =
            RuleSet::from_json_str(&format!(r#"{{"version": 1, "passes": [{pass}]}}"#)).unwrap();
        let want = outcome(&rules, &left, &right, REFERENCE);
        assert_eq!(outcome(&rules, &left, &right, Options::default()), want);
    }
}
