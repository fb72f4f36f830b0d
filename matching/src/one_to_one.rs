//! The 1:1 pass.
//!
//! Records only ever pair with records of the same key, so the pass splits into independent
//! problems, one per key. Each side's available records are indexed in chunks (one per thread)
//! and each chunk is partitioned by key hash (a counting sort, no global sort); partition `p`
//! of the left side only meets partition `p` of the right. Partitions are solved in batches on
//! the run's threads: within a partition, entries are sorted by (key, amount, position), joined
//! on the key, candidates scored within the amount window, and mutual unique bests confirmed
//! round by round. Solving a partition alone settles exactly as the whole pass would (rounds
//! never cross keys), and the results are merged in a fixed order (matches by left position,
//! suggestions by subject id), so the outcome is the same for any number of threads or
//! partitions.

use std::cmp::Ordering;
use std::sync::atomic::{self, AtomicUsize};
use std::sync::Arc;

use domain::records::{Record, Side};

use crate::amounts::{Amounts, DecimalAmounts, MinorAmounts};
use crate::engine::{
    nearest, reason, to_u32, Engine, PassCtx, Stop, AVAILABLE, MATCHED, MAX_LISTED_TIES,
    PROGRESS_EVERY, SUGGESTED,
};
use crate::keys::{intern_long, run_end, Key, Keyed, KeyedChunk, Keyer};
use crate::outcome::{Candidate, MatchGroup, Suggestion};
use crate::par;

/// What the search needs of a record, inline: its key, amount, day and position.
#[derive(Debug, Clone, Copy)]
struct OneEntry<A> {
    key: Key,
    amount: A,
    idx: u32,
    /// Day number on the pass's date field (0 without a window).
    day: i32,
}

impl<A> Keyed for OneEntry<A> {
    fn key_mut(&mut self) -> &mut Key {
        &mut self.key
    }
    fn key(&self) -> Key {
        self.key
    }
}

/// One chunk of one side: its entries grouped by partition, `offsets[p]..offsets[p + 1]`.
struct Chunk<A> {
    keyed: KeyedChunk<OneEntry<A>>,
    offsets: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Edge {
    l: u32,
    r: u32,
    score: f64,
}

#[derive(Debug, Clone, Copy)]
struct Best {
    score: f64,
    count: u32,
    partner: u32,
}

const NO_BEST: Best = Best {
    score: f64::NEG_INFINITY,
    count: 0,
    partner: u32::MAX,
};

impl Best {
    fn offer(&mut self, score: f64, partner: u32) {
        if score > self.score {
            *self = Best {
                score,
                count: 1,
                partner,
            };
        } else if score == self.score {
            self.count += 1;
        }
    }
}

/// A settled record whose best candidates tie: its suggestion, still to be built.
#[derive(Debug)]
struct Tie {
    side: Side,
    subject: u32,
    /// The tied records of the other side, ordered by id, at most [`MAX_LISTED_TIES`].
    tied: Vec<u32>,
    best: f64,
}

/// What a batch of partitions decided (record positions).
#[derive(Debug, Default)]
struct Decided {
    confirmed: Vec<(u32, u32, f64)>,
    ties: Vec<Tie>,
    withhold_left: Vec<u32>,
    withhold_right: Vec<u32>,
}

/// Per-thread buffers, reused from partition to partition. Indices inside a partition are
/// positions in `le` / `re`.
struct Scratch<A> {
    le: Vec<OneEntry<A>>,
    re: Vec<OneEntry<A>>,
    edges: Vec<Edge>,
    /// Per left: (first edge, number of edges).
    l_range: Vec<(u32, u32)>,
    lefts: Vec<u32>,
    cands: Vec<(f64, u32)>,
    r_start: Vec<u32>,
    fill: Vec<u32>,
    r_adj: Vec<u32>,
    rights: Vec<u32>,
    best_l: Vec<Best>,
    best_r: Vec<Best>,
    status_l: Vec<u8>,
    status_r: Vec<u8>,
    check: Vec<u32>,
    newly: Vec<(u32, u32, f64)>,
    dirty_l: Vec<u32>,
    dirty_r: Vec<u32>,
}

impl<A> Scratch<A> {
    fn new() -> Self {
        Self {
            le: Vec::new(),
            re: Vec::new(),
            edges: Vec::new(),
            l_range: Vec::new(),
            lefts: Vec::new(),
            cands: Vec::new(),
            r_start: Vec::new(),
            fill: Vec::new(),
            r_adj: Vec::new(),
            rights: Vec::new(),
            best_l: Vec::new(),
            best_r: Vec::new(),
            status_l: Vec::new(),
            status_r: Vec::new(),
            check: Vec::new(),
            newly: Vec::new(),
            dirty_l: Vec::new(),
            dirty_r: Vec::new(),
        }
    }
}

/// Partitions for a side of `n` records: about 8 entries per partition and side, so that each
/// partition is sorted and solved in cache, at most 2^17 of them.
fn partition_bits(n: usize) -> u32 {
    let target = n / 8;
    if target <= 1 {
        0
    } else {
        (usize::BITS - (target - 1).leading_zeros()).min(17)
    }
}

impl Engine<'_> {
    pub(crate) fn one_to_one(&mut self, ctx: &PassCtx<'_>) -> Result<(), Stop> {
        // Lent out for the pass: the pass borrows it while updating the engine.
        let minor = self.minor.take();
        let result = match minor.as_ref().and_then(|m| MinorAmounts::new(ctx.pass, m)) {
            Some(amounts) => self.one_to_one_with(ctx, &amounts),
            None => self.one_to_one_with(ctx, &DecimalAmounts { pass: ctx.pass }),
        };
        self.minor = minor;
        result
    }

    fn one_to_one_with<X: Amounts>(&mut self, ctx: &PassCtx<'_>, amounts: &X) -> Result<(), Stop> {
        let pass = ctx.pass;
        let (left, right) = (self.left, self.right);
        let threads = self.threads;
        let bits = self
            .options
            .partition_bits
            .unwrap_or_else(|| partition_bits(left.len().max(right.len())));

        // Index: chunk c of the left side is batch c, of the right side batch threads + c. Each
        // thread keys its chunks into one buffer, partitioned out of it chunk after chunk.
        let (sl, sr) = (&self.status_left, &self.status_right);
        let mut chunks: Vec<Chunk<X::A>> = par::batches(
            threads,
            2 * threads,
            Vec::new,
            |buffer, b| {
                let (side, recs, status) = if b < threads {
                    (Side::Left, left, sl)
                } else {
                    (Side::Right, right, sr)
                };
                let range = par::chunk(recs.len(), threads, b % threads);
                let keyed = Keyer::new(pass).chunk(
                    &recs[range.clone()],
                    &status[range.clone()],
                    range.start,
                    std::mem::take(buffer),
                    |key, i, r| OneEntry {
                        key,
                        amount: amounts.amount(side, i, r),
                        idx: to_u32(i),
                        // Day numbers come from chrono's i32: always fits.
                        day: i32::try_from(ctx.day(r)).unwrap_or_default(),
                    },
                );
                let (chunk, spent) = partition(keyed, bits);
                *buffer = spent;
                chunk
            },
            &mut || self.report(pass.index, 0, 1),
        )?;
        if chunks.iter().any(|c| !c.keyed.long.is_empty()) {
            intern_long(&mut chunks.iter_mut().map(|c| &mut c.keyed).collect::<Vec<_>>());
        }
        let (lc, rc) = chunks.split_at(threads.min(chunks.len()));

        // Batches of whole partitions, of about PROGRESS_EVERY entries each.
        let parts = 1usize << bits;
        let size = |cs: &[Chunk<X::A>], p: usize| -> usize {
            cs.iter()
                .map(|c| (c.offsets[p + 1] - c.offsets[p]) as usize)
                .sum()
        };
        let mut bounds = vec![0usize];
        let mut weights = Vec::new();
        let (mut acc, mut acc_left) = (0usize, 0usize);
        for p in 0..parts {
            let l = size(lc, p);
            acc += l + size(rc, p);
            acc_left += l;
            if acc >= PROGRESS_EVERY || p + 1 == parts {
                bounds.push(p + 1);
                weights.push(acc_left);
                acc = 0;
                acc_left = 0;
            }
        }
        let total: usize = weights.iter().sum();
        let done = AtomicUsize::new(0);
        let decided = par::batches(
            threads,
            weights.len(),
            Scratch::new,
            |s, b| {
                let mut out = Decided::default();
                for p in bounds[b]..bounds[b + 1] {
                    gather(&mut s.le, lc, p);
                    gather(&mut s.re, rc, p);
                    if !s.le.is_empty() && !s.re.is_empty() {
                        solve(ctx, amounts, left, right, s, &mut out);
                    }
                }
                done.fetch_add(weights[b], atomic::Ordering::Relaxed);
                out
            },
            &mut || self.report(pass.index, done.load(atomic::Ordering::Relaxed), total),
        )?;
        drop(chunks);

        // Merge, in batch order (partitions hold disjoint records). Matches go by left position:
        // positions are unique, so they are placed rather than sorted.
        let mut by_left: Vec<Option<(u32, f64)>> = vec![None; left.len()];
        let (mut ties_left, mut ties_right) = (Vec::new(), Vec::new());
        for d in decided {
            for &(l, r, score) in &d.confirmed {
                self.status_left[l as usize] = MATCHED;
                self.status_right[r as usize] = MATCHED;
                by_left[l as usize] = Some((r, score));
            }
            for &l in &d.withhold_left {
                self.status_left[l as usize] = SUGGESTED;
            }
            for &r in &d.withhold_right {
                self.status_right[r as usize] = SUGGESTED;
            }
            for t in d.ties {
                match t.side {
                    Side::Left => ties_left.push(t),
                    Side::Right => ties_right.push(t),
                }
            }
        }

        // Suggestions: left subjects by id, then right subjects by id.
        ties_left.sort_by(|a, b| by_id(left, a.subject, b.subject));
        ties_right.sort_by(|a, b| by_id(right, a.subject, b.subject));
        for t in ties_left.iter().chain(&ties_right) {
            self.suggestions.push(suggestion(ctx, left, right, t));
        }

        // Matches, made on the run's threads straight into the outcome.
        let confirmed: Vec<(u32, u32, f64)> = by_left
            .iter()
            .enumerate()
            .filter_map(|(l, m)| m.map(|(r, score)| (to_u32(l), r, score)))
            .collect();
        drop(by_left);
        let total = confirmed.len();
        let reporter = self.reporter;
        par::extend_in_order(
            threads,
            total,
            PROGRESS_EVERY,
            &mut self.matches,
            // A copy of the name per thread: threads cloning one `Arc` would contend for its
            // counter on every match.
            || Arc::<str>::from(&*ctx.name),
            |name, k| {
                let (l, r, score) = confirmed[k];
                MatchGroup {
                    pass_index: pass.index,
                    pass_name: name.clone(),
                    left: smallvec::smallvec![left[l as usize].id.clone()],
                    right: smallvec::smallvec![right[r as usize].id.clone()],
                    score,
                    reason: reason(ctx, left, right, &[l], &[r]),
                }
            },
            &mut |done| reporter.report(pass.index, done.min(total), total),
        )?;
        Ok(())
    }
}

/// Orders record positions by the records' ids, then by position (duplicate ids).
fn by_id(recs: &[Record], a: u32, b: u32) -> Ordering {
    recs[a as usize]
        .id
        .cmp(&recs[b as usize].id)
        .then(a.cmp(&b))
}

/// Groups a chunk's entries by partition (a counting sort on the key hash), keeping the
/// positions of its long keys up to date. Hands back the vector it sorted out of, for reuse
/// (an empty one when it sorted nothing).
fn partition<A: Copy>(
    mut keyed: KeyedChunk<OneEntry<A>>,
    bits: u32,
) -> (Chunk<A>, Vec<OneEntry<A>>) {
    let parts = 1usize << bits;
    let mut offsets = Vec::new();
    bucket_starts(
        &mut offsets,
        parts,
        keyed.items.iter().map(|e| e.key.partition(bits)),
    );
    if let (true, Some(&first)) = (parts > 1, keyed.items.first()) {
        let mut fill = offsets[..parts].to_vec();
        let mut out = vec![first; keyed.items.len()];
        let mut long = keyed.long.iter_mut().peekable();
        for (i, e) in keyed.items.iter().enumerate() {
            let slot = &mut fill[e.key.partition(bits)];
            out[*slot as usize] = *e;
            if let Some((pos, _)) = long.next_if(|(pos, _)| *pos == i) {
                *pos = *slot as usize;
            }
            *slot += 1;
        }
        let spent = std::mem::replace(&mut keyed.items, out);
        return (Chunk { keyed, offsets }, spent);
    }
    (Chunk { keyed, offsets }, Vec::new())
}

/// The first step of a counting sort: `starts` (emptied first) gets `buckets + 1` offsets,
/// bucket `b`'s items (one per element of `of` equal to `b`) going at `starts[b]..starts[b + 1]`.
fn bucket_starts(starts: &mut Vec<u32>, buckets: usize, of: impl Iterator<Item = usize>) {
    starts.clear();
    starts.resize(buckets + 1, 0);
    for b in of {
        starts[b + 1] += 1;
    }
    for b in 0..buckets {
        starts[b + 1] += starts[b];
    }
}

/// Partition `p`'s entries from every chunk, sorted by (key, amount, position).
fn gather<A: Copy + Ord>(into: &mut Vec<OneEntry<A>>, chunks: &[Chunk<A>], p: usize) {
    into.clear();
    for c in chunks {
        into.extend_from_slice(&c.keyed.items[c.offsets[p] as usize..c.offsets[p + 1] as usize]);
    }
    into.sort_unstable_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then_with(|| a.amount.cmp(&b.amount))
            .then(a.idx.cmp(&b.idx))
    });
}

/// Settles one partition (`s.le`, `s.re`, sorted): candidates per key within the amount
/// window, then rounds of mutual unique bests, then ties as suggestions.
fn solve<X: Amounts>(
    ctx: &PassCtx<'_>,
    amounts: &X,
    left: &[Record],
    right: &[Record],
    s: &mut Scratch<X::A>,
    out: &mut Decided,
) {
    let pass = ctx.pass;
    let Scratch {
        le,
        re,
        edges,
        l_range,
        lefts,
        cands,
        r_start,
        fill,
        r_adj,
        rights,
        best_l,
        best_r,
        status_l,
        status_r,
        check,
        newly,
        dirty_l,
        dirty_r,
    } = s;
    let (le, re) = (&*le, &*re);

    // Candidate edges, from the left: per key run, a binary-searched amount window.
    edges.clear();
    lefts.clear();
    l_range.clear();
    l_range.resize(le.len(), (0, 0));
    let (mut i, mut j) = (0usize, 0usize);
    while i < le.len() && j < re.len() {
        match le[i].key.cmp(&re[j].key) {
            Ordering::Less => {
                i = run_end(le, i);
                continue;
            }
            Ordering::Greater => {
                j = run_end(re, j);
                continue;
            }
            Ordering::Equal => {}
        }
        let (ie, je) = (run_end(le, i), run_end(re, j));
        let group = &re[j..je];
        for (l, e) in le.iter().enumerate().take(ie).skip(i) {
            let a = e.amount;
            let (lo, hi) = amounts.window(a);
            let lo = lo.map_or(0, |lo| group.partition_point(|g| g.amount < lo));
            let hi = hi.map_or(group.len(), |hi| group.partition_point(|g| g.amount <= hi));
            let (lo, hi) = nearest(lo, hi, || group.partition_point(|g| g.amount < a));
            cands.clear();
            for (k, g) in group.get(lo..hi).unwrap_or(&[]).iter().enumerate() {
                let days = (i64::from(e.day), i64::from(g.day));
                let Some(parts) = ctx.pair_parts_on_days(days.0, days.1, e.idx, g.idx) else {
                    continue;
                };
                let exact = || (left[e.idx as usize].amount, right[g.idx as usize].amount);
                let Some(ac) = amounts.component(a, g.amount, exact) else {
                    continue;
                };
                let score = ctx.score(ac, parts.date_num, 1, parts.sims);
                cands.push((score, to_u32(j + lo + k)));
            }
            if cands.is_empty() {
                continue;
            }
            if cands.len() > pass.max_candidates {
                cands.sort_by(|x, y| {
                    y.0.total_cmp(&x.0)
                        .then_with(|| by_id(right, re[x.1 as usize].idx, re[y.1 as usize].idx))
                });
                cands.truncate(pass.max_candidates);
            }
            let l = to_u32(l);
            l_range[l as usize] = (to_u32(edges.len()), to_u32(cands.len()));
            lefts.push(l);
            edges.extend(cands.iter().map(|&(score, r)| Edge { l, r, score }));
        }
        i = ie;
        j = je;
    }
    if lefts.is_empty() {
        return;
    }

    // Right adjacency (edge ids), counting sort by right entry.
    let nr = re.len();
    bucket_starts(r_start, nr, edges.iter().map(|e| e.r as usize));
    fill.clear();
    fill.extend_from_slice(&r_start[..nr]);
    r_adj.clear();
    r_adj.resize(edges.len(), 0);
    for (id, e) in edges.iter().enumerate() {
        let slot = &mut fill[e.r as usize];
        r_adj[*slot as usize] = to_u32(id);
        *slot += 1;
    }
    rights.clear();
    rights.extend((0..nr).filter(|&r| r_start[r + 1] > r_start[r]).map(to_u32));

    let (edges, l_range, r_start, r_adj) = (&*edges, &*l_range, &*r_start, &*r_adj);
    let l_edges = |l: u32| -> &[Edge] {
        let (s, n) = l_range[l as usize];
        &edges[s as usize..(s + n) as usize]
    };
    let r_edges = |r: u32| {
        r_adj[r_start[r as usize] as usize..r_start[r as usize + 1] as usize]
            .iter()
            .map(|&id| edges[id as usize])
    };
    let best_of_left = |l: u32, sr: &[u8]| {
        let mut b = NO_BEST;
        for e in l_edges(l) {
            if sr[e.r as usize] == AVAILABLE {
                b.offer(e.score, e.r);
            }
        }
        b
    };
    let best_of_right = |r: u32, sl: &[u8]| {
        let mut b = NO_BEST;
        for e in r_edges(r) {
            if sl[e.l as usize] == AVAILABLE {
                b.offer(e.score, e.l);
            }
        }
        b
    };

    status_l.clear();
    status_l.resize(le.len(), AVAILABLE);
    status_r.clear();
    status_r.resize(nr, AVAILABLE);
    best_l.clear();
    best_l.resize(le.len(), NO_BEST);
    best_r.clear();
    best_r.resize(nr, NO_BEST);
    for &l in lefts.iter() {
        best_l[l as usize] = best_of_left(l, status_r);
    }
    for &r in rights.iter() {
        best_r[r as usize] = best_of_right(r, status_l);
    }

    // Rounds: confirm every mutual unique best pair; recompute the bests of their neighbours;
    // repeat until nothing changes.
    check.clear();
    check.extend_from_slice(lefts);
    loop {
        newly.clear();
        for &l in check.iter() {
            if status_l[l as usize] != AVAILABLE {
                continue;
            }
            let b = best_l[l as usize];
            if b.count != 1 {
                continue;
            }
            let r = b.partner;
            let br = best_r[r as usize];
            if status_r[r as usize] == AVAILABLE && br.count == 1 && br.partner == l {
                status_l[l as usize] = MATCHED;
                status_r[r as usize] = MATCHED;
                newly.push((l, r, b.score));
            }
        }
        if newly.is_empty() {
            break;
        }
        dirty_l.clear();
        dirty_r.clear();
        for &(l, r, _) in newly.iter() {
            dirty_r.extend(
                l_edges(l)
                    .iter()
                    .filter(|e| status_r[e.r as usize] == AVAILABLE)
                    .map(|e| e.r),
            );
            dirty_l.extend(
                r_edges(r)
                    .filter(|e| status_l[e.l as usize] == AVAILABLE)
                    .map(|e| e.l),
            );
        }
        dirty_l.sort_unstable();
        dirty_l.dedup();
        dirty_r.sort_unstable();
        dirty_r.dedup();
        for &l in dirty_l.iter() {
            best_l[l as usize] = best_of_left(l, status_r);
        }
        for &r in dirty_r.iter() {
            best_r[r as usize] = best_of_right(r, status_l);
        }
        check.clear();
        check.extend_from_slice(dirty_l);
        check.extend(
            dirty_r
                .iter()
                .map(|&r| best_r[r as usize])
                .filter(|b| b.count == 1)
                .map(|b| b.partner),
        );
        check.sort_unstable();
        check.dedup();
        out.confirmed.extend(
            newly
                .iter()
                .map(|&(l, r, score)| (le[l as usize].idx, re[r as usize].idx, score)),
        );
    }

    // Ties left over become suggestions (decided on the settled state; the caller withholds).
    for &l in lefts.iter() {
        let b = best_l[l as usize];
        if status_l[l as usize] != AVAILABLE || b.count < 2 {
            continue;
        }
        let tied = l_edges(l)
            .iter()
            .filter(|e| status_r[e.r as usize] == AVAILABLE && e.score == b.score)
            .map(|e| re[e.r as usize].idx)
            .collect();
        push_tie(out, Side::Left, le[l as usize].idx, tied, right, b.score);
    }
    for &r in rights.iter() {
        let b = best_r[r as usize];
        if status_r[r as usize] != AVAILABLE || b.count < 2 {
            continue;
        }
        let tied = r_edges(r)
            .filter(|e| status_l[e.l as usize] == AVAILABLE && e.score == b.score)
            .map(|e| le[e.l as usize].idx)
            .collect();
        push_tie(out, Side::Right, re[r as usize].idx, tied, left, b.score);
    }
}

/// Withholds `subject` (a record of `side`) and its `tied` candidates (positions in `others`,
/// the other side's records), keeping the tie for its suggestion.
fn push_tie(
    out: &mut Decided,
    side: Side,
    subject: u32,
    mut tied: Vec<u32>,
    others: &[Record],
    best: f64,
) {
    tied.sort_by(|&x, &y| by_id(others, x, y));
    tied.truncate(MAX_LISTED_TIES);
    let (own, other) = match side {
        Side::Left => (&mut out.withhold_left, &mut out.withhold_right),
        Side::Right => (&mut out.withhold_right, &mut out.withhold_left),
    };
    own.push(subject);
    other.extend_from_slice(&tied);
    out.ties.push(Tie {
        side,
        subject,
        tied,
        best,
    });
}

/// The suggestion for a tie: each tied record with its reason.
fn suggestion(ctx: &PassCtx<'_>, left: &[Record], right: &[Record], t: &Tie) -> Suggestion {
    let (own, others) = match t.side {
        Side::Left => (left, right),
        Side::Right => (right, left),
    };
    let candidates = t
        .tied
        .iter()
        .map(|&other| {
            let (l, r) = match t.side {
                Side::Left => (t.subject, other),
                Side::Right => (other, t.subject),
            };
            Candidate {
                records: vec![others[other as usize].id.clone()],
                score: t.best,
                reason: reason(ctx, left, right, &[l], &[r]),
            }
        })
        .collect();
    Suggestion {
        pass_index: ctx.pass.index,
        pass_name: ctx.name.clone(),
        side: t.side,
        record: own[t.subject as usize].id.clone(),
        candidates,
    }
}
