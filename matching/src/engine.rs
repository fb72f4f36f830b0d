//! The engine: per pass, index the available records, generate candidates from the indexes,
//! score them and decide (confirm, suggest, or leave for later passes).

use std::collections::{BinaryHeap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::Datelike;
use domain::records::{CompactString, Record, Side};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::amounts::Minor;
use crate::keys::{intern_long, run_end, Key, Keyed, Keyer};
use crate::normalise::similarity_text;
use crate::outcome::{
    Candidate, Condition, Conditions, MatchGroup, MatchOutcome, MatchReason, Progress,
    SimilarityScore, Suggestion,
};
use crate::rules::{Cardinality, CompiledPass, DateField, TextField};
use crate::{par, summary};

/// Records processed between two progress calls.
pub const PROGRESS_EVERY: usize = 4096;
/// Search steps (subsets visited) allowed per target in a one_to_many / many_to_one pass.
pub const MAX_SEARCH_STEPS: u64 = 100_000;
/// Most records of a window (amount window in 1:1, date window in 1:N / N:1) checked for one
/// record; a larger window is narrowed to the entries nearest the record's amount or date.
pub const MAX_WINDOW_SCAN: usize = 1000;
/// Most tied candidates listed in one suggestion.
pub const MAX_LISTED_TIES: usize = 10;

pub(crate) const AVAILABLE: u8 = 0;
pub(crate) const MATCHED: u8 = 1;
pub(crate) const SUGGESTED: u8 = 2;

/// How a run may use the machine. The outcome never depends on these.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Threads used for inputs of at least `parallel_from` records (both sides together).
    pub threads: usize,
    pub parallel_from: usize,
    /// Fixes the number of key partitions of 1:1 passes (`1 << bits`); by input size otherwise.
    pub partition_bits: Option<u32>,
    /// Integer minor units for amounts when they all fit (`false`: `Decimal` throughout).
    pub minor_units: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            // The machines this runs on have few cores to spare; small inputs gain nothing.
            threads: 2,
            parallel_from: 16_384,
            partition_bits: None,
            minor_units: true,
        }
    }
}

/// The progress callback asked the engine to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop;

type ProgressFn<'a> = &'a dyn Fn(Progress) -> ControlFlow<()>;

pub(crate) fn run(
    passes: &[CompiledPass],
    left: &[Record],
    right: &[Record],
    progress: Option<ProgressFn<'_>>,
    options: Options,
) -> Result<MatchOutcome, Stop> {
    let threads = if left.len() + right.len() >= options.parallel_from {
        options.threads.max(1)
    } else {
        1
    };
    let minor = if options.minor_units {
        Minor::new(left, right, passes, threads)
    } else {
        None
    };
    let mut engine = Engine {
        left,
        right,
        reporter: Reporter {
            progress,
            pass_count: passes.len(),
        },
        threads,
        options,
        minor,
        status_left: vec![AVAILABLE; left.len()],
        status_right: vec![AVAILABLE; right.len()],
        matches: Vec::new(),
        suggestions: Vec::new(),
    };
    for pass in passes {
        let ctx = PassCtx::new(pass, left, right, &engine.status_left, &engine.status_right);
        engine.report(pass.index, 0, 1)?;
        match pass.cardinality {
            Cardinality::OneToOne => engine.one_to_one(&ctx)?,
            Cardinality::OneToMany => engine.groups(&ctx, Side::Left)?,
            Cardinality::ManyToOne => engine.groups(&ctx, Side::Right)?,
            Cardinality::ManyToMany => engine.many_to_many(&ctx)?,
        }
    }
    engine.finish()
}

pub(crate) struct Engine<'a> {
    pub(crate) left: &'a [Record],
    pub(crate) right: &'a [Record],
    pub(crate) reporter: Reporter<'a>,
    /// Threads for this run (1 below `options.parallel_from` records).
    pub(crate) threads: usize,
    pub(crate) options: Options,
    /// Amounts in minor units, when they all fit.
    pub(crate) minor: Option<Minor>,
    pub(crate) status_left: Vec<u8>,
    pub(crate) status_right: Vec<u8>,
    pub(crate) matches: Vec<MatchGroup>,
    pub(crate) suggestions: Vec<Suggestion>,
}

/// One record of an index: its key, the value it is sorted by within the key, its position.
#[derive(Debug, Clone, Copy)]
struct Entry<V> {
    key: Key,
    value: V,
    idx: u32,
}

impl<V> Keyed for Entry<V> {
    fn key_mut(&mut self) -> &mut Key {
        &mut self.key
    }
    fn key(&self) -> Key {
        self.key
    }
}

/// A pass with its per-record derived data (keys are built by the cardinality's routine).
pub(crate) struct PassCtx<'p> {
    pub(crate) pass: &'p CompiledPass,
    pub(crate) name: Arc<str>,
    /// The conditions every match of this pass meets.
    conditions: Conditions,
    /// Similarity texts per similarity condition, per record (None: absent or not available).
    sim_left: Vec<Vec<Option<Box<str>>>>,
    sim_right: Vec<Vec<Option<Box<str>>>>,
}

/// What a (left, right) pair contributes besides the amount: `date_num` is `window + 1 - days`
/// (0 without a window), `sims` the similarity per condition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairParts {
    pub(crate) date_num: i64,
    pub(crate) sims: [f64; 2],
}

impl<'p> PassCtx<'p> {
    fn new(
        pass: &'p CompiledPass,
        left: &[Record],
        right: &[Record],
        sl: &[u8],
        sr: &[u8],
    ) -> Self {
        let texts = |recs: &[Record], status: &[u8]| -> Vec<Vec<Option<Box<str>>>> {
            pass.similar
                .iter()
                .map(|(field, _)| {
                    recs.iter()
                        .zip(status)
                        .map(|(r, s)| {
                            if *s != AVAILABLE {
                                return None;
                            }
                            text_of(r, *field).and_then(similarity_text)
                        })
                        .collect()
                })
                .collect()
        };
        let mut conditions = Conditions::default();
        conditions.insert(Condition::CurrencyEqual);
        if pass.equal_reference {
            conditions.insert(Condition::ReferenceEqual);
        }
        if pass.equal_counterparty {
            conditions.insert(Condition::CounterpartyEqual);
        }
        if pass.reference.is_some() {
            conditions.insert(Condition::ReferenceNormalisedEqual);
        }
        conditions.insert(Condition::AmountWithinTolerance);
        if pass.date.is_some() {
            conditions.insert(Condition::DateWithinWindow);
        }
        for (field, _) in &pass.similar {
            conditions.insert(match field {
                TextField::Description => Condition::DescriptionSimilar,
                TextField::Counterparty => Condition::CounterpartySimilar,
            });
        }
        Self {
            pass,
            name: Arc::from(pass.name.as_str()),
            conditions,
            sim_left: texts(left, sl),
            sim_right: texts(right, sr),
        }
    }

    /// Date window and similarity conditions of one pair (keys are equal by construction).
    fn pair_parts(&self, left: &[Record], right: &[Record], l: u32, r: u32) -> Option<PairParts> {
        let day = |r: &Record| self.day(r);
        self.pair_parts_on_days(day(&left[l as usize]), day(&right[r as usize]), l, r)
    }

    /// The day number of `r` on the pass's date field (0 when the pass has no window).
    pub(crate) fn day(&self, r: &Record) -> i64 {
        self.pass.date.map_or(0, |(field, _)| day_num(r, field))
    }

    /// [`PassCtx::pair_parts`] given the two records' [`PassCtx::day`]s.
    pub(crate) fn pair_parts_on_days(
        &self,
        left_day: i64,
        right_day: i64,
        l: u32,
        r: u32,
    ) -> Option<PairParts> {
        let mut parts = PairParts {
            date_num: 0,
            sims: [0.0; 2],
        };
        if let Some((_, window)) = self.pass.date {
            let d = (left_day - right_day).abs();
            if d > i64::from(window) {
                return None;
            }
            parts.date_num = i64::from(window) + 1 - d;
        }
        for (k, (_, threshold)) in self.pass.similar.iter().enumerate() {
            let a = self.sim_left[k][l as usize].as_deref()?;
            let b = self.sim_right[k][r as usize].as_deref()?;
            let s = strsim::jaro_winkler(a, b);
            if s < *threshold {
                return None;
            }
            parts.sims[k] = s;
        }
        Some(parts)
    }

    pub(crate) fn score(
        &self,
        amount_component: f64,
        date_sum: i64,
        pairs: u64,
        sim_sums: [f64; 2],
    ) -> f64 {
        combine(self.pass, amount_component, date_sum, pairs, sim_sums)
    }
}

/// The score: mean of the amount component, the date component (if the pass has a window) and
/// one component per similarity condition, rounded to 1e-9 so equal scores compare equal.
pub(crate) fn combine(
    pass: &CompiledPass,
    amount: f64,
    date_sum: i64,
    pairs: u64,
    sim_sums: [f64; 2],
) -> f64 {
    let pairs = pairs.max(1) as f64;
    let mut total = amount;
    let mut n = 1.0;
    if let Some((_, window)) = pass.date {
        total += date_sum as f64 / (pairs * (f64::from(window) + 1.0));
        n += 1.0;
    }
    for sum in sim_sums.iter().take(pass.similar.len()) {
        total += sum / pairs;
        n += 1.0;
    }
    let s = ((total / n) * 1e9).round() / 1e9;
    s.clamp(0.0, 1.0)
}

/// The difference allowed between amounts (or sums) `a` and `b`.
pub(crate) fn allowed(pass: &CompiledPass, a: Decimal, b: Decimal) -> Decimal {
    let smaller = a.abs().min(b.abs());
    let relative = pass
        .tol_fraction
        .checked_mul(smaller)
        .unwrap_or(Decimal::MAX);
    pass.tol_absolute.max(relative)
}

/// `Some(amount component)` when `a` and `b` are within the pass's tolerance.
pub(crate) fn amount_component(pass: &CompiledPass, a: Decimal, b: Decimal) -> Option<f64> {
    let diff = a.checked_sub(b)?.abs();
    let allowed = allowed(pass, a, b);
    if diff > allowed {
        return None;
    }
    if allowed.is_zero() {
        return Some(1.0);
    }
    let ratio = diff.checked_div(allowed)?;
    Some(
        (Decimal::ONE - ratio)
            .to_f64()
            .unwrap_or(0.0)
            .clamp(0.0, 1.0),
    )
}

fn day_num(r: &Record, field: DateField) -> i64 {
    let d = match field {
        DateField::BookingDate => r.booking_date,
        DateField::ValueDate => r.value_date.unwrap_or(r.booking_date),
    };
    i64::from(d.num_days_from_ce())
}

fn text_of(r: &Record, field: TextField) -> Option<&str> {
    match field {
        TextField::Description => r.description.as_deref(),
        TextField::Counterparty => r.counterparty.as_deref(),
    }
}

pub(crate) fn to_u32(i: usize) -> u32 {
    // `reconcile` refuses inputs with more than u32::MAX records per side.
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Narrows a window `lo..hi` of a sorted run to at most [`MAX_WINDOW_SCAN`] entries centred on
/// position `mid()` (where the searched value would sit), so a degenerate key (thousands of
/// records with the same reference and amount) cannot make the scan quadratic.
pub(crate) fn nearest(lo: usize, hi: usize, mid: impl FnOnce() -> usize) -> (usize, usize) {
    if hi.saturating_sub(lo) <= MAX_WINDOW_SCAN {
        return (lo, hi);
    }
    let start = mid()
        .saturating_sub(MAX_WINDOW_SCAN / 2)
        .clamp(lo, hi - MAX_WINDOW_SCAN);
    (start, start + MAX_WINDOW_SCAN)
}

/// Calls the progress callback, if any.
#[derive(Clone, Copy)]
pub(crate) struct Reporter<'a> {
    progress: Option<ProgressFn<'a>>,
    pass_count: usize,
}

impl Reporter<'_> {
    pub(crate) fn report(&self, pass_index: usize, done: usize, total: usize) -> Result<(), Stop> {
        if let Some(f) = self.progress {
            let p = Progress {
                pass_index,
                pass_count: self.pass_count,
                done: done as u64,
                total: total as u64,
            };
            if f(p).is_break() {
                return Err(Stop);
            }
        }
        Ok(())
    }
}

impl<'a> Engine<'a> {
    pub(crate) fn report(&self, pass_index: usize, done: usize, total: usize) -> Result<(), Stop> {
        self.reporter.report(pass_index, done, total)
    }

    fn recs(&self, side: Side) -> &'a [Record] {
        match side {
            Side::Left => self.left,
            Side::Right => self.right,
        }
    }

    fn status(&self, side: Side) -> &[u8] {
        match side {
            Side::Left => &self.status_left,
            Side::Right => &self.status_right,
        }
    }

    fn status_mut(&mut self, side: Side) -> &mut Vec<u8> {
        match side {
            Side::Left => &mut self.status_left,
            Side::Right => &mut self.status_right,
        }
    }

    /// Index entries of the available records that have a key, of sides `sides[0]` and
    /// `sides[1]`, each sorted by (key, value, position).
    fn entries<V: Ord + Copy>(
        &self,
        pass: &CompiledPass,
        sides: [Side; 2],
        value: impl Fn(&Record) -> V,
    ) -> [Vec<Entry<V>>; 2] {
        let mut keyer = Keyer::new(pass);
        let [mut a, mut b] = sides.map(|side| {
            keyer.chunk(
                self.recs(side),
                self.status(side),
                0,
                Vec::new(),
                |key, i, r| Entry {
                    key,
                    value: value(r),
                    idx: to_u32(i),
                },
            )
        });
        intern_long(&mut [&mut a, &mut b]);
        [a.items, b.items].map(|mut items| {
            items.sort_unstable_by_key(|e| (e.key, e.value, e.idx));
            items
        })
    }

    // ------------------------------------------------------------------------- 1:N and N:1

    /// One record of `target_side` to a group of 2..=max_group_size records of the other side.
    fn groups(&mut self, ctx: &PassCtx<'_>, target_side: Side) -> Result<(), Stop> {
        let pass = ctx.pass;
        let member_side = target_side.other();
        let (left, right) = (self.left, self.right);
        let (targets, members) = (self.recs(target_side), self.recs(member_side));
        let [te, me] = self.entries(pass, [target_side, member_side], |r| ctx.day(r));
        // Key → run of member entries (sorted by date within the run).
        let mut runs: HashMap<Key, (usize, usize)> = HashMap::new();
        let mut k = 0;
        while k < me.len() {
            let end = run_end(&me, k);
            runs.insert(me[k].key, (k, end));
            k = end;
        }
        // Targets in id order, so that everything after is independent of input order.
        let mut order: Vec<(Key, i64, u32)> = te.iter().map(|e| (e.key, e.value, e.idx)).collect();
        drop(te);
        order.sort_by(|a, b| {
            targets[a.2 as usize]
                .id
                .cmp(&targets[b.2 as usize].id)
                .then(a.2.cmp(&b.2))
        });

        let lr = |t: u32, m: u32| match target_side {
            Side::Left => (t, m),
            Side::Right => (m, t),
        };
        let search = |t: u32, key: Key, date: i64, member_status: &[u8]| -> Option<Found> {
            let &(s, e) = runs.get(&key)?;
            let run = &me[s..e];
            let (lo, hi) = match pass.date {
                Some((_, w)) => (
                    run.partition_point(|m| m.value < date - i64::from(w)),
                    run.partition_point(|m| m.value <= date + i64::from(w)),
                ),
                None => (0, run.len()),
            };
            let (lo, hi) = nearest(lo, hi, || run.partition_point(|m| m.value < date));
            let mut cands: Vec<Member> = Vec::new();
            for m in &run[lo..hi] {
                if member_status[m.idx as usize] != AVAILABLE {
                    continue;
                }
                let (l, r) = lr(t, m.idx);
                if let Some(parts) = ctx.pair_parts(left, right, l, r) {
                    cands.push(Member {
                        idx: m.idx,
                        amount: members[m.idx as usize].amount,
                        parts,
                        rank: ctx.score(1.0, parts.date_num, 1, parts.sims),
                    });
                }
            }
            if cands.len() < 2 {
                return None;
            }
            if cands.len() > pass.max_candidates {
                cands.sort_by(|x, y| {
                    y.rank
                        .total_cmp(&x.rank)
                        .then_with(|| members[x.idx as usize].id.cmp(&members[y.idx as usize].id))
                        .then(x.idx.cmp(&y.idx))
                });
                cands.truncate(pass.max_candidates);
            }
            cands.sort_by(|x, y| {
                x.amount
                    .cmp(&y.amount)
                    .then_with(|| members[x.idx as usize].id.cmp(&members[y.idx as usize].id))
                    .then(x.idx.cmp(&y.idx))
            });
            subset_search(ctx, targets[t as usize].amount, &cands)
        };

        // Phase 1: every target's best group against the members available now.
        let mut heap: BinaryHeap<Pending> = BinaryHeap::new();
        for (rank, &(key, date, t)) in order.iter().enumerate() {
            if rank % PROGRESS_EVERY == 0 {
                self.report(pass.index, rank, order.len())?;
            }
            if let Some(found) = search(t, key, date, self.status(member_side)) {
                heap.push(Pending { rank, found });
            }
        }
        // Phase 2: best first (score, then smaller groups, then target id). A target some of
        // whose candidates were taken meanwhile searches again among those left and goes back
        // into the queue with what it finds now.
        let mut confirmed: Vec<(u32, Vec<u32>, f64)> = Vec::new();
        let mut settled = 0usize;
        while let Some(Pending { rank, found: f }) = heap.pop() {
            settled += 1;
            if settled.is_multiple_of(PROGRESS_EVERY) {
                self.report(pass.index, settled, order.len())?;
            }
            let (key, date, t) = order[rank];
            let status = self.status(member_side);
            if f.considered
                .iter()
                .any(|&m| status[m as usize] != AVAILABLE)
            {
                if let Some(found) = search(t, key, date, status) {
                    heap.push(Pending { rank, found });
                }
                continue;
            }
            if f.tied == 1 {
                let group = f.groups.into_iter().next().unwrap_or_default();
                self.status_mut(target_side)[t as usize] = MATCHED;
                for &m in &group {
                    self.status_mut(member_side)[m as usize] = MATCHED;
                }
                confirmed.push((t, group, f.score));
            } else {
                let subject = &targets[t as usize];
                let mut candidates: Vec<Candidate> = f
                    .groups
                    .iter()
                    .map(|g| {
                        let (ls, rs) = match target_side {
                            Side::Left => (vec![t], g.clone()),
                            Side::Right => (g.clone(), vec![t]),
                        };
                        let mut records: Vec<CompactString> =
                            g.iter().map(|&m| members[m as usize].id.clone()).collect();
                        records.sort();
                        Candidate {
                            records,
                            score: f.score,
                            reason: reason(ctx, left, right, &ls, &rs),
                        }
                    })
                    .collect();
                candidates.sort_by(|a, b| a.records.cmp(&b.records));
                self.suggestions.push(Suggestion {
                    pass_index: pass.index,
                    pass_name: ctx.name.clone(),
                    side: target_side,
                    record: subject.id.clone(),
                    candidates,
                });
                self.status_mut(target_side)[t as usize] = SUGGESTED;
                for &m in f.groups.iter().flatten() {
                    self.status_mut(member_side)[m as usize] = SUGGESTED;
                }
            }
        }
        let mut confirmed: Vec<(Vec<u32>, Vec<u32>, f64)> = confirmed
            .into_iter()
            .map(|(t, group, score)| match target_side {
                Side::Left => (vec![t], group, score),
                Side::Right => (group, vec![t], score),
            })
            .collect();
        // Listed by the input position of their first left record.
        confirmed.sort_unstable_by_key(|c| c.0.first().copied());
        for (ls, rs, score) in confirmed {
            self.push_match(ctx, ls, rs, score);
        }
        Ok(())
    }

    fn push_match(&mut self, ctx: &PassCtx<'_>, mut ls: Vec<u32>, mut rs: Vec<u32>, score: f64) {
        let (left, right) = (self.left, self.right);
        ls.sort_by(|&a, &b| {
            left[a as usize]
                .id
                .cmp(&left[b as usize].id)
                .then(a.cmp(&b))
        });
        rs.sort_by(|&a, &b| {
            right[a as usize]
                .id
                .cmp(&right[b as usize].id)
                .then(a.cmp(&b))
        });
        let reason = reason(ctx, left, right, &ls, &rs);
        self.matches.push(MatchGroup {
            pass_index: ctx.pass.index,
            pass_name: ctx.name.clone(),
            left: ls.iter().map(|&l| left[l as usize].id.clone()).collect(),
            right: rs.iter().map(|&r| right[r as usize].id.clone()).collect(),
            score,
            reason,
        });
    }

    // ---------------------------------------------------------------------------------- N:M

    /// All available records sharing a key on each side, when both runs hold
    /// 1..=max_group_size records, their sums agree within tolerance and every left/right pair
    /// meets the date window and similarity conditions.
    fn many_to_many(&mut self, ctx: &PassCtx<'_>) -> Result<(), Stop> {
        let pass = ctx.pass;
        let (left, right) = (self.left, self.right);
        let [le, re] = self.entries(pass, [Side::Left, Side::Right], |_| ());
        let (mut i, mut j) = (0usize, 0usize);
        let mut last_report = 0usize;
        let mut confirmed: Vec<(Vec<u32>, Vec<u32>, f64)> = Vec::new();
        while i < le.len() && j < re.len() {
            if i - last_report >= PROGRESS_EVERY {
                last_report = i;
                self.report(pass.index, i, le.len())?;
            }
            let (lk, rk) = (le[i].key, re[j].key);
            if lk < rk {
                i = run_end(&le, i);
                continue;
            }
            if rk < lk {
                j = run_end(&re, j);
                continue;
            }
            let (ie, je) = (run_end(&le, i), run_end(&re, j));
            let (ls, rs) = (&le[i..ie], &re[j..je]);
            i = ie;
            j = je;
            if ls.len() > pass.max_group_size || rs.len() > pass.max_group_size {
                continue;
            }
            let sum = |entries: &[Entry<()>], recs: &[Record]| {
                entries.iter().try_fold(Decimal::ZERO, |acc, e| {
                    acc.checked_add(recs[e.idx as usize].amount)
                })
            };
            let (Some(sl), Some(sr)) = (sum(ls, left), sum(rs, right)) else {
                continue;
            };
            let Some(ac) = amount_component(pass, sl, sr) else {
                continue;
            };
            let mut date_sum = 0i64;
            let mut sims = [0.0f64; 2];
            let mut ok = true;
            'pairs: for l in ls {
                for r in rs {
                    match ctx.pair_parts(left, right, l.idx, r.idx) {
                        Some(p) => {
                            date_sum += p.date_num;
                            sims[0] += p.sims[0];
                            sims[1] += p.sims[1];
                        }
                        None => {
                            ok = false;
                            break 'pairs;
                        }
                    }
                }
            }
            if !ok {
                continue;
            }
            let pairs = (ls.len() * rs.len()) as u64;
            let score = ctx.score(ac, date_sum, pairs, sims);
            let mut ls: Vec<u32> = ls.iter().map(|e| e.idx).collect();
            ls.sort_by(|&a, &b| {
                left[a as usize]
                    .id
                    .cmp(&left[b as usize].id)
                    .then(a.cmp(&b))
            });
            confirmed.push((ls, rs.iter().map(|e| e.idx).collect(), score));
        }
        for (ls, rs, _) in &confirmed {
            for &l in ls {
                self.status_left[l as usize] = MATCHED;
            }
            for &r in rs {
                self.status_right[r as usize] = MATCHED;
            }
        }
        confirmed.sort_unstable_by_key(|c| c.0.first().copied());
        for (ls, rs, score) in confirmed {
            self.push_match(ctx, ls, rs, score);
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------- output

    fn finish(self) -> Result<MatchOutcome, Stop> {
        let summary = self.summary()?;
        let unmatched = |recs: &[Record], status: &[u8]| -> Vec<CompactString> {
            recs.iter()
                .zip(status)
                .filter(|(_, s)| **s == AVAILABLE)
                .map(|(r, _)| r.id.clone())
                .collect()
        };
        Ok(MatchOutcome {
            unmatched_left: unmatched(self.left, &self.status_left),
            unmatched_right: unmatched(self.right, &self.status_right),
            matches: self.matches,
            suggestions: self.suggestions,
            summary,
        })
    }

    /// Counts and sums per currency: integer sums, a side per thread, when amounts are in minor
    /// units; the `Decimal` tally otherwise.
    fn summary(&self) -> Result<Vec<crate::outcome::CurrencySummary>, Stop> {
        let (left, right) = (self.left, self.right);
        let (sl, sr) = (&self.status_left, &self.status_right);
        let Some(minor) = &self.minor else {
            return Ok(summary::summarise_decimal(left, right, sl, sr));
        };
        let mut sides = par::batches(
            self.threads,
            2,
            || (),
            |_, b| {
                let (side, recs, status) = if b == 0 {
                    (Side::Left, left, sl)
                } else {
                    (Side::Right, right, sr)
                };
                summary::tally_minor(recs, minor.side(side), status, side)
            },
            &mut || Ok(()),
        )?;
        let combined = match (sides.pop(), sides.pop()) {
            (Some(r), Some(l)) => summary::combine_minor(l, r, minor),
            _ => None,
        };
        Ok(combined.unwrap_or_else(|| summary::summarise_decimal(left, right, sl, sr)))
    }
}

/// A candidate member of a group.
#[derive(Debug, Clone, Copy)]
struct Member {
    idx: u32,
    amount: Decimal,
    parts: PairParts,
    rank: f64,
}

/// The best groups found for one target: all tied at (score, size), `tied` counting all of
/// them even past the listed ones.
#[derive(Debug, Clone)]
struct Found {
    score: f64,
    size: usize,
    groups: Vec<Vec<u32>>,
    tied: usize,
    /// Every candidate the search considered.
    considered: Vec<u32>,
}

/// A target waiting in the settling queue, ordered best first: higher score, then fewer
/// records, then lower `rank` (the target's position in id order).
struct Pending {
    rank: usize,
    found: Found,
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.found
            .score
            .total_cmp(&other.found.score)
            .then(other.found.size.cmp(&self.found.size))
            .then(other.rank.cmp(&self.rank))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Pending {}

/// Bounded subset-sum over signed amounts: groups of 2..=max_group_size candidates whose sum is
/// within the pass tolerance of `target`. `cands` must be sorted by amount (ascending). Sizes
/// are searched in increasing order; for each size `k`, depth-first over the candidates, a
/// branch is cut when even the smallest (or largest) amounts still to be chosen could not bring
/// the sum within reach. At most [`MAX_SEARCH_STEPS`] steps per target.
fn subset_search(ctx: &PassCtx<'_>, target: Decimal, cands: &[Member]) -> Option<Found> {
    let pass = ctx.pass;
    let n = cands.len();
    // prefix[i] = sum of the i smallest amounts.
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(Decimal::ZERO);
    for c in cands {
        let last = prefix.last().copied().unwrap_or_default();
        prefix.push(last.checked_add(c.amount)?);
    }
    let reach = allowed(pass, target, target);
    let mut s = Search {
        ctx,
        cands,
        prefix,
        lo: target.checked_sub(reach)?,
        hi: target.checked_add(reach)?,
        target,
        steps: 0,
        chosen: Vec::with_capacity(pass.max_group_size),
        best: None,
    };
    for k in 2..=pass.max_group_size.min(n) {
        s.dfs(0, k, Decimal::ZERO);
    }
    s.best.map(|mut b| {
        b.considered = cands.iter().map(|c| c.idx).collect();
        b
    })
}

struct Search<'c, 'p> {
    ctx: &'c PassCtx<'p>,
    cands: &'c [Member],
    prefix: Vec<Decimal>,
    lo: Decimal,
    hi: Decimal,
    target: Decimal,
    steps: u64,
    chosen: Vec<usize>,
    best: Option<Found>,
}

impl Search<'_, '_> {
    /// Chooses `left` more candidates from `start..`, the sum so far being `sum`.
    fn dfs(&mut self, start: usize, left: usize, sum: Decimal) {
        let n = self.cands.len();
        if left == 0 || start + left > n {
            return;
        }
        for i in start..=n - left {
            if self.steps >= MAX_SEARCH_STEPS {
                return;
            }
            self.steps += 1;
            let sum2 = sum.saturating_add(self.cands[i].amount);
            let rest = left - 1;
            // Smallest and largest sums the remaining `rest` choices from i+1.. can add.
            let least = self.prefix[i + 1 + rest].saturating_sub(self.prefix[i + 1]);
            let most = self.prefix[n].saturating_sub(self.prefix[n - rest]);
            if sum2.saturating_add(least) > self.hi {
                // Later candidates are no smaller: nothing further can come down to reach.
                return;
            }
            if sum2.saturating_add(most) < self.lo {
                continue;
            }
            self.chosen.push(i);
            if rest == 0 {
                self.consider(sum2);
            } else {
                self.dfs(i + 1, rest, sum2);
            }
            self.chosen.pop();
        }
    }

    fn consider(&mut self, sum: Decimal) {
        let ctx = self.ctx;
        let Some(ac) = amount_component(ctx.pass, sum, self.target) else {
            return;
        };
        let mut date_sum = 0i64;
        let mut sims = [0.0f64; 2];
        for &c in &self.chosen {
            let p = self.cands[c].parts;
            date_sum += p.date_num;
            sims[0] += p.sims[0];
            sims[1] += p.sims[1];
        }
        let size = self.chosen.len();
        let score = ctx.score(ac, date_sum, size as u64, sims);
        let group: Vec<u32> = self.chosen.iter().map(|&c| self.cands[c].idx).collect();
        match &mut self.best {
            Some(b) if score == b.score && size == b.size => {
                b.tied += 1;
                if b.groups.len() < MAX_LISTED_TIES {
                    b.groups.push(group);
                }
            }
            Some(b) if score < b.score || (score == b.score && size > b.size) => {}
            _ => {
                self.best = Some(Found {
                    score,
                    size,
                    groups: vec![group],
                    tied: 1,
                    considered: Vec::new(),
                });
            }
        }
    }
}

/// The exact sum of the amounts of records `ids`.
#[inline]
fn sum_of(recs: &[Record], ids: &[u32]) -> Decimal {
    match ids {
        // `Decimal::ZERO + x` is `x` itself (scale and all): no addition for one record.
        [one] => recs[*one as usize].amount,
        _ => ids.iter().fold(Decimal::ZERO, |acc, &i| {
            acc.saturating_add(recs[i as usize].amount)
        }),
    }
}

/// The reason for a match (or a suggested candidate) of these left and right records.
pub(crate) fn reason(
    ctx: &PassCtx<'_>,
    left: &[Record],
    right: &[Record],
    ls: &[u32],
    rs: &[u32],
) -> MatchReason {
    let pass = ctx.pass;
    let (sl, sr) = (sum_of(left, ls), sum_of(right, rs));
    let date_field = pass.date.map_or(DateField::BookingDate, |(f, _)| f);
    let mut days = 0i64;
    let mut similarities: Vec<SimilarityScore> = pass
        .similar
        .iter()
        .map(|(field, _)| SimilarityScore {
            field: *field,
            similarity: f64::INFINITY,
        })
        .collect();
    for &l in ls {
        for &r in rs {
            let d = (day_num(&left[l as usize], date_field)
                - day_num(&right[r as usize], date_field))
            .abs();
            days = days.max(d);
            for (k, s) in similarities.iter_mut().enumerate() {
                let a = ctx.sim_left[k][l as usize].as_deref();
                let b = ctx.sim_right[k][r as usize].as_deref();
                let v = match (a, b) {
                    (Some(a), Some(b)) => strsim::jaro_winkler(a, b),
                    _ => 0.0,
                };
                s.similarity = s.similarity.min(v);
            }
        }
    }
    MatchReason {
        conditions: ctx.conditions,
        amount_difference: sl.saturating_sub(sr),
        day_difference: days,
        similarities,
    }
}
