//! Property tests: the engine against brute-force oracles on small random inputs.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use domain::money::Currency;
use domain::records::{CompactString, Record, Side};
use matching::{MatchOutcome, RuleSet};
use proptest::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

const REFS: [Option<&str>; 6] = [
    Some("A-1"),
    Some("a 1"),
    Some("B.2"),
    Some("b2"),
    Some("C3"),
    None,
];
const BASES: [i64; 3] = [1000, 2000, -1000];

#[derive(Debug, Clone)]
struct Gen {
    reference: usize,
    usd: bool,
    base: usize,
    delta: i64,
    day: i64,
}

fn arb_gen() -> impl Strategy<Value = Gen> {
    (
        0..REFS.len(),
        prop::bool::weighted(0.1),
        0..BASES.len(),
        -2i64..=2,
        0i64..4,
    )
        .prop_map(|(reference, usd, base, delta, day)| Gen {
            reference,
            usd,
            base,
            delta,
            day,
        })
}

fn build(prefix: &str, gens: &[Gen]) -> Vec<Record> {
    gens.iter()
        .enumerate()
        .map(|(i, g)| {
            let mut r = rec(&format!("{prefix}{i}"), g.day, "0", REFS[g.reference]);
            r.amount = Decimal::new(BASES[g.base] + g.delta, 2);
            if g.usd {
                r.currency = Currency::parse("USD").unwrap();
            }
            r
        })
        .collect()
}

/// Records for group passes: few keys, amounts that can add up.
#[derive(Debug, Clone)]
struct GroupGen {
    key: usize,
    usd: bool,
    amount: usize,
    cents: i64,
    day: i64,
}

const GROUP_REFS: [&str; 3] = ["A-1", "b.2", "C 3"];
const TARGETS: [i64; 5] = [500, 1000, 1500, 2000, -500];
const MEMBERS: [i64; 6] = [250, 500, 750, -250, 1250, 1000];

fn arb_group_gen() -> impl Strategy<Value = GroupGen> {
    let key = prop_oneof![6 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize)];
    let cents = prop_oneof![6 => Just(0i64), 1 => Just(-1i64), 1 => Just(1i64)];
    (key, prop::bool::weighted(0.05), 0..6usize, cents, 0i64..2).prop_map(
        |(key, usd, amount, cents, day)| GroupGen {
            key,
            usd,
            amount,
            cents,
            day,
        },
    )
}

fn build_group(prefix: &str, gens: &[GroupGen], amounts: &[i64]) -> Vec<Record> {
    gens.iter()
        .enumerate()
        .map(|(i, g)| {
            let mut r = rec(&format!("{prefix}{i}"), g.day, "0", Some(GROUP_REFS[g.key]));
            r.amount = Decimal::new(amounts[g.amount % amounts.len()] + g.cents, 2);
            if g.usd {
                r.currency = Currency::parse("USD").unwrap();
            }
            r
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Params {
    use_ref: bool,
    abs: Decimal,
    pct: Decimal,
    window: i64,
}

fn arb_params() -> impl Strategy<Value = Params> {
    (
        prop::bool::weighted(0.7),
        prop::sample::select(vec!["0", "0.01", "0.02"]),
        prop::sample::select(vec!["0", "0.1", "1"]),
        0i64..3,
    )
        .prop_map(|(use_ref, abs, pct, window)| Params {
            use_ref,
            abs: dec(abs),
            pct: dec(pct),
            window,
        })
}

fn rules_for(p: &Params, cardinality: &str, extra: &str) -> RuleSet {
    let reference = if p.use_ref { r#""reference": {},"# } else { "" };
    one_pass(&format!(
        r#"{{"name": "p", "cardinality": "{cardinality}", {reference}
            "amount_tolerance": {{"absolute": "{}", "percent": "{}"}},
            "date_window": {{"days": {}}} {extra}}}"#,
        p.abs, p.pct, p.window
    ))
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn key_ok(p: &Params, l: &Record, r: &Record) -> bool {
    if l.currency != r.currency {
        return false;
    }
    if !p.use_ref {
        return true;
    }
    match (&l.reference, &r.reference) {
        (Some(a), Some(b)) => !norm(a).is_empty() && norm(a) == norm(b),
        _ => false,
    }
}

fn allowed(p: &Params, a: Decimal, b: Decimal) -> Decimal {
    p.abs
        .max(p.pct / Decimal::ONE_HUNDRED * a.abs().min(b.abs()))
}

fn amount_component(p: &Params, a: Decimal, b: Decimal) -> Option<f64> {
    let diff = (a - b).abs();
    let allowed = allowed(p, a, b);
    if diff > allowed {
        None
    } else if allowed.is_zero() {
        Some(1.0)
    } else {
        Some((Decimal::ONE - diff / allowed).to_f64().unwrap())
    }
}

fn days(l: &Record, r: &Record) -> i64 {
    (l.booking_date - r.booking_date).num_days().abs()
}

fn score(amount: f64, date_sum: i64, n: usize, window: i64) -> f64 {
    let date = date_sum as f64 / (n as f64 * (window as f64 + 1.0));
    (((amount + date) / 2.0 * 1e9).round() / 1e9).clamp(0.0, 1.0)
}

/// The 1:1 pass, by brute force over all pairs.
fn pair_score(p: &Params, l: &Record, r: &Record) -> Option<f64> {
    if !key_ok(p, l, r) {
        return None;
    }
    let d = days(l, r);
    if d > p.window {
        return None;
    }
    let ac = amount_component(p, l.amount, r.amount)?;
    Some(score(ac, p.window + 1 - d, 1, p.window))
}

#[derive(Debug, PartialEq, Eq)]
struct Decided {
    pairs: BTreeSet<(CompactString, CompactString)>,
    suggestions: BTreeSet<(Side, CompactString, Vec<CompactString>)>,
    unmatched_left: BTreeSet<CompactString>,
    unmatched_right: BTreeSet<CompactString>,
}

fn oracle_one_to_one(p: &Params, left: &[Record], right: &[Record]) -> Decided {
    let s: Vec<Vec<Option<f64>>> = left
        .iter()
        .map(|l| right.iter().map(|r| pair_score(p, l, r)).collect())
        .collect();
    let mut al = vec![true; left.len()];
    let mut ar = vec![true; right.len()];
    let best = |scores: &mut dyn Iterator<Item = (usize, f64)>| {
        let mut b: Option<(f64, Vec<usize>)> = None;
        for (i, x) in scores {
            match &mut b {
                Some((bs, v)) if x == *bs => v.push(i),
                Some((bs, _)) if x < *bs => {}
                _ => b = Some((x, vec![i])),
            }
        }
        b
    };
    let mut pairs = BTreeSet::new();
    loop {
        let bl: Vec<_> = (0..left.len())
            .map(|l| {
                if !al[l] {
                    return None;
                }
                best(
                    &mut (0..right.len())
                        .filter(|&r| ar[r])
                        .filter_map(|r| s[l][r].map(|x| (r, x))),
                )
            })
            .collect();
        let br: Vec<_> = (0..right.len())
            .map(|r| {
                if !ar[r] {
                    return None;
                }
                best(
                    &mut (0..left.len())
                        .filter(|&l| al[l])
                        .filter_map(|l| s[l][r].map(|x| (l, x))),
                )
            })
            .collect();
        let mut new = vec![];
        for (l, b) in bl.iter().enumerate() {
            if let Some((_, v)) = b {
                if v.len() == 1 {
                    let r = v[0];
                    if let Some((_, w)) = &br[r] {
                        if w.len() == 1 && w[0] == l {
                            new.push((l, r));
                        }
                    }
                }
            }
        }
        if new.is_empty() {
            // Suggestions on the settled state.
            let mut suggestions = BTreeSet::new();
            let (mut wl, mut wr) = (al.clone(), ar.clone());
            for l in 0..left.len() {
                if let Some((_, v)) = &bl[l] {
                    if v.len() >= 2 {
                        let mut tied: Vec<usize> = v.clone();
                        tied.sort_by(|&a, &b| right[a].id.cmp(&right[b].id));
                        tied.truncate(matching::MAX_LISTED_TIES);
                        let ids: Vec<CompactString> =
                            tied.iter().map(|&r| right[r].id.clone()).collect();
                        suggestions.insert((Side::Left, left[l].id.clone(), ids));
                        wl[l] = false;
                        for &r in &tied {
                            wr[r] = false;
                        }
                    }
                }
            }
            for r in 0..right.len() {
                if let Some((_, v)) = &br[r] {
                    if v.len() >= 2 {
                        let mut tied: Vec<usize> = v.clone();
                        tied.sort_by(|&a, &b| left[a].id.cmp(&left[b].id));
                        tied.truncate(matching::MAX_LISTED_TIES);
                        let ids: Vec<CompactString> =
                            tied.iter().map(|&l| left[l].id.clone()).collect();
                        suggestions.insert((Side::Right, right[r].id.clone(), ids));
                        wr[r] = false;
                        for &l in &tied {
                            wl[l] = false;
                        }
                    }
                }
            }
            return Decided {
                pairs,
                suggestions,
                unmatched_left: (0..left.len())
                    .filter(|&l| wl[l])
                    .map(|l| left[l].id.clone())
                    .collect(),
                unmatched_right: (0..right.len())
                    .filter(|&r| wr[r])
                    .map(|r| right[r].id.clone())
                    .collect(),
            };
        }
        for (l, r) in new {
            al[l] = false;
            ar[r] = false;
            pairs.insert((left[l].id.clone(), right[r].id.clone()));
        }
    }
}

fn decided(out: &MatchOutcome) -> Decided {
    Decided {
        pairs: out
            .matches
            .iter()
            .map(|m| {
                assert_eq!((m.left.len(), m.right.len()), (1, 1));
                (m.left[0].clone(), m.right[0].clone())
            })
            .collect(),
        suggestions: out
            .suggestions
            .iter()
            .map(|s| {
                let ids: Vec<CompactString> =
                    s.candidates.iter().map(|c| c.records[0].clone()).collect();
                let mut sorted = ids.clone();
                sorted.sort();
                assert_eq!(ids, sorted, "candidates ordered by id");
                (s.side, s.record.clone(), ids)
            })
            .collect(),
        unmatched_left: out.unmatched_left.iter().cloned().collect(),
        unmatched_right: out.unmatched_right.iter().cloned().collect(),
    }
}

/// (score, size, id rank, target, tied groups)
type Pick = (f64, usize, usize, usize, Vec<Vec<usize>>);

type GroupDecision = (
    BTreeSet<(CompactString, Vec<CompactString>)>,
    BTreeSet<(CompactString, Vec<Vec<CompactString>>)>,
);

/// 1:N (or N:1, with the sides swapped) by brute force: repeatedly take the target whose best
/// group (over all subsets of its available candidates) ranks first by score, then fewer
/// records, then target id; confirm it when unique, else suggest the (first ten) tied groups.
fn oracle_groups(
    p: &Params,
    targets: &[Record],
    members: &[Record],
    max_group: usize,
) -> GroupDecision {
    let mut avail_t = vec![true; targets.len()];
    let mut avail_m = vec![true; members.len()];
    let (mut matches, mut suggestions) = (BTreeSet::new(), BTreeSet::new());
    let mut by_id: Vec<usize> = (0..targets.len()).collect();
    by_id.sort_by(|&a, &b| targets[a].id.cmp(&targets[b].id));
    loop {
        // (score, size, id rank, target, tied groups)
        let mut pick: Option<Pick> = None;
        for (rank, &t) in by_id.iter().enumerate() {
            if !avail_t[t] {
                continue;
            }
            let tr = &targets[t];
            let mut cands: Vec<usize> = (0..members.len())
                .filter(|&m| {
                    avail_m[m] && key_ok(p, tr, &members[m]) && days(tr, &members[m]) <= p.window
                })
                .collect();
            // The engine searches candidates in amount order, then id.
            cands.sort_by(|&a, &b| {
                members[a]
                    .amount
                    .cmp(&members[b].amount)
                    .then(members[a].id.cmp(&members[b].id))
            });
            let n = cands.len();
            let mut subsets: Vec<Vec<usize>> = (0u32..(1 << n))
                .map(|mask| (0..n).filter(|&k| mask & (1 << k) != 0).collect::<Vec<_>>())
                .filter(|s: &Vec<usize>| s.len() >= 2 && s.len() <= max_group)
                .collect();
            subsets.sort();
            let mut best: Option<(f64, usize, Vec<Vec<usize>>)> = None;
            for sub in subsets {
                let sum: Decimal = sub.iter().map(|&k| members[cands[k]].amount).sum();
                let Some(ac) = amount_component(p, sum, tr.amount) else {
                    continue;
                };
                let date_sum: i64 = sub
                    .iter()
                    .map(|&k| p.window + 1 - days(tr, &members[cands[k]]))
                    .sum();
                let sc = score(ac, date_sum, sub.len(), p.window);
                let group: Vec<usize> = sub.iter().map(|&k| cands[k]).collect();
                match &mut best {
                    Some((bs, bn, v)) if sc == *bs && sub.len() == *bn => v.push(group),
                    Some((bs, bn, _)) if sc < *bs || (sc == *bs && sub.len() > *bn) => {}
                    _ => best = Some((sc, sub.len(), vec![group])),
                }
            }
            if let Some((sc, size, tied)) = best {
                let better = match &pick {
                    None => true,
                    Some((ps, pn, _, _, _)) => sc > *ps || (sc == *ps && size < *pn),
                };
                if better {
                    pick = Some((sc, size, rank, t, tied));
                }
            }
        }
        let Some((_, _, _, t, mut tied)) = pick else {
            return (matches, suggestions);
        };
        avail_t[t] = false;
        let ids = |g: &Vec<usize>| {
            let mut v = g.iter().map(|&m| members[m].id.clone()).collect::<Vec<_>>();
            v.sort();
            v
        };
        if tied.len() == 1 {
            for &m in &tied[0] {
                avail_m[m] = false;
            }
            matches.insert((targets[t].id.clone(), ids(&tied[0])));
        } else {
            tied.truncate(matching::MAX_LISTED_TIES);
            for g in &tied {
                for &m in g {
                    avail_m[m] = false;
                }
            }
            let mut listed: Vec<Vec<CompactString>> = tied.iter().map(ids).collect();
            listed.sort();
            suggestions.insert((targets[t].id.clone(), listed));
        }
    }
}

/// 1000 cases, or `PROPTEST_CASES`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// 1:1 with (optional) exact reference + amount tolerance + date window: the engine decides
    /// exactly what the all-pairs oracle decides, and every confirmed match meets the pass.
    #[test]
    fn one_to_one_equals_brute_force_oracle(
        lg in prop::collection::vec(arb_gen(), 0..12),
        rg in prop::collection::vec(arb_gen(), 0..12),
        p in arb_params(),
    ) {
        let (left, right) = (build("L", &lg), build("R", &rg));
        let rules = rules_for(&p, "one_to_one", "");
        let out = run(&rules, &left, &right); // checks the partition invariants
        let by_id = |recs: &[Record], id: &str| recs.iter().find(|r| r.id == id).unwrap().clone();
        for m in &out.matches {
            let (l, r) = (by_id(&left, &m.left[0]), by_id(&right, &m.right[0]));
            let s = pair_score(&p, &l, &r);
            prop_assert_eq!(s, Some(m.score), "confirmed match must meet the pass, same score");
            prop_assert_eq!(m.reason.amount_difference, l.amount - r.amount);
            prop_assert_eq!(m.reason.day_difference, days(&l, &r));
        }
        prop_assert_eq!(decided(&out), oracle_one_to_one(&p, &left, &right));
    }

    /// 1:N with a single target: the engine's choice equals the best of all subsets (score, then
    /// fewer records); ties of two or more groups become a suggestion.
    #[test]
    fn one_to_many_single_target_equals_brute_force(
        tg in arb_group_gen(),
        rg in prop::collection::vec(arb_group_gen(), 0..10),
        p in arb_params(),
        max_group in 2usize..5,
    ) {
        let p = Params { use_ref: true, ..p };
        // Most members share the target's key.
        let rg: Vec<GroupGen> = rg
            .into_iter()
            .map(|g| GroupGen { key: if g.key == 2 { (tg.key + 1) % 3 } else { tg.key }, ..g })
            .collect();
        let left = build_group("L", &[tg], &TARGETS);
        let right = build_group("R", &rg, &MEMBERS);
        let rules = rules_for(&p, "one_to_many", &format!(r#", "max_group_size": {max_group}"#));
        let out = run(&rules, &left, &right);
        let t = &left[0];
        let mut cands: Vec<usize> = (0..right.len())
            .filter(|&i| key_ok(&p, t, &right[i]) && days(t, &right[i]) <= p.window)
            .collect();
        // The engine searches candidates in amount order, then id.
        cands.sort_by(|&a, &b| right[a].amount.cmp(&right[b].amount).then(right[a].id.cmp(&right[b].id)));
        // All subsets of 2..=max_group candidates, in lexicographic order of positions.
        let mut best: Option<(f64, usize)> = None;
        let mut tied: Vec<Vec<CompactString>> = vec![];
        let n = cands.len();
        let mut subsets: Vec<Vec<usize>> = (0u32..(1 << n))
            .map(|mask| (0..n).filter(|&k| mask & (1 << k) != 0).collect::<Vec<_>>())
            .filter(|s: &Vec<usize>| s.len() >= 2 && s.len() <= max_group)
            .collect();
        subsets.sort();
        for s in subsets {
            let sum: Decimal = s.iter().map(|&k| right[cands[k]].amount).sum();
            let Some(ac) = amount_component(&p, sum, t.amount) else { continue };
            let date_sum: i64 = s.iter().map(|&k| p.window + 1 - days(t, &right[cands[k]])).sum();
            let sc = score(ac, date_sum, s.len(), p.window);
            let mut ids: Vec<CompactString> = s.iter().map(|&k| right[cands[k]].id.clone()).collect();
            ids.sort();
            match best {
                Some((bs, bn)) if sc == bs && s.len() == bn => tied.push(ids),
                Some((bs, bn)) if sc < bs || (sc == bs && s.len() > bn) => {}
                _ => { best = Some((sc, s.len())); tied = vec![ids]; }
            }
        }
        match tied.len() {
            0 => {
                prop_assert!(out.matches.is_empty() && out.suggestions.is_empty());
            }
            1 => {
                prop_assert_eq!(out.matches.len(), 1);
                let m = &out.matches[0];
                prop_assert_eq!(m.right.as_slice(), tied[0].as_slice());
                prop_assert_eq!(m.score, best.unwrap().0);
                let sum: Decimal = right.iter().filter(|r| m.right.contains(&r.id)).map(|r| r.amount).sum();
                prop_assert_eq!(m.reason.amount_difference, t.amount - sum);
            }
            _ => {
                prop_assert!(out.matches.is_empty());
                prop_assert_eq!(out.suggestions.len(), 1);
                let listed: Vec<Vec<CompactString>> = out.suggestions[0].candidates.iter().map(|c| c.records.clone()).collect();
                tied.truncate(matching::MAX_LISTED_TIES);
                tied.sort();
                prop_assert_eq!(listed, tied);
            }
        }
    }

    /// 1:N and N:1 with several targets competing for members: the engine decides exactly
    /// what the brute-force oracle decides.
    #[test]
    fn group_passes_equal_brute_force_oracle(
        tg in prop::collection::vec(arb_group_gen(), 0..5),
        mg in prop::collection::vec(arb_group_gen(), 0..12),
        p in arb_params(),
        many_to_one in any::<bool>(),
        max_group in 2usize..5,
    ) {
        let p = Params { use_ref: true, ..p };
        let (targets, members) = if many_to_one {
            (build_group("R", &tg, &TARGETS), build_group("L", &mg, &MEMBERS))
        } else {
            (build_group("L", &tg, &TARGETS), build_group("R", &mg, &MEMBERS))
        };
        let cardinality = if many_to_one { "many_to_one" } else { "one_to_many" };
        let rules = rules_for(&p, cardinality, &format!(r#", "max_group_size": {max_group}"#));
        let out = if many_to_one { run(&rules, &members, &targets) } else { run(&rules, &targets, &members) };
        let mut got_matches = BTreeSet::new();
        for m in &out.matches {
            let (t, g) = if many_to_one { (&m.right, &m.left) } else { (&m.left, &m.right) };
            prop_assert_eq!(t.len(), 1);
            got_matches.insert((t[0].clone(), g.to_vec()));
        }
        let got_suggestions: BTreeSet<(CompactString, Vec<Vec<CompactString>>)> = out
            .suggestions
            .iter()
            .map(|s| (s.record.clone(), s.candidates.iter().map(|c| c.records.clone()).collect()))
            .collect();
        let (want_matches, want_suggestions) = oracle_groups(&p, &targets, &members, max_group);
        prop_assert_eq!(got_matches, want_matches);
        prop_assert_eq!(got_suggestions, want_suggestions);
    }

    /// Group passes on many records: invariants (no record twice, every input record exactly
    /// once, every group meets its pass) and independence of the input order.
    #[test]
    fn group_passes_keep_invariants(
        lg in prop::collection::vec(arb_group_gen(), 0..14),
        rg in prop::collection::vec(arb_group_gen(), 0..14),
        p in arb_params(),
        cardinality in prop::sample::select(vec!["one_to_many", "many_to_one", "many_to_many"]),
        max_group in 2usize..5,
    ) {
        let p = Params { use_ref: true, ..p };
        let (la, ra): (&[i64], &[i64]) = match cardinality {
            "one_to_many" => (&TARGETS, &MEMBERS),
            "many_to_one" => (&MEMBERS, &TARGETS),
            _ => (&MEMBERS, &MEMBERS),
        };
        let (mut left, mut right) = (build_group("L", &lg, la), build_group("R", &rg, ra));
        let rules = rules_for(&p, cardinality, &format!(r#", "max_group_size": {max_group}"#));
        let out = run(&rules, &left, &right);
        let find = |recs: &[Record], id: &str| recs.iter().find(|r| r.id == id).unwrap().clone();
        for m in &out.matches {
            let ls: Vec<Record> = m.left.iter().map(|id| find(&left, id)).collect();
            let rs: Vec<Record> = m.right.iter().map(|id| find(&right, id)).collect();
            match cardinality {
                "one_to_many" => prop_assert!(ls.len() == 1 && (2..=max_group).contains(&rs.len())),
                "many_to_one" => prop_assert!(rs.len() == 1 && (2..=max_group).contains(&ls.len())),
                _ => prop_assert!((1..=max_group).contains(&ls.len()) && (1..=max_group).contains(&rs.len())),
            }
            for l in &ls {
                for r in &rs {
                    prop_assert!(key_ok(&p, l, r), "same currency and reference");
                    prop_assert!(days(l, r) <= p.window);
                }
            }
            let sl: Decimal = ls.iter().map(|r| r.amount).sum();
            let sr: Decimal = rs.iter().map(|r| r.amount).sum();
            prop_assert!(amount_component(&p, sl, sr).is_some(), "sums agree within tolerance");
            prop_assert_eq!(m.reason.amount_difference, sl - sr);
        }
        // Input order does not matter.
        let summary = |o: &MatchOutcome| {
            let mut m: BTreeMap<(Vec<CompactString>, Vec<CompactString>), f64> = BTreeMap::new();
            for g in &o.matches {
                m.insert((g.left.to_vec(), g.right.to_vec()), g.score);
            }
            let s: BTreeSet<_> = o.suggestions.iter().map(|s| (s.side, s.record.clone())).collect();
            (m, s, o.unmatched_left.iter().cloned().collect::<BTreeSet<_>>())
        };
        left.reverse();
        right.reverse();
        let again = run(&rules, &left, &right);
        prop_assert_eq!(summary(&out), summary(&again));
    }
}
