//! Recon's matching engine: pure (no I/O, no clocks, no randomness), deterministic, exact.
//!
//! Given a [`RuleSet`] and the records of two sides, [`reconcile`] decides which records match,
//! which ties need a person ([`Suggestion`]s) and which stay unmatched. Amounts are exact
//! throughout: [`rust_decimal::Decimal`], or integer minor units where every amount fits (same
//! results, faster); only scores and similarity thresholds are `f64`.
//!
//! # The rule set
//!
//! A rule set is data (JSON) with a `version` (currently `1`) and an ordered list of passes.
//! Passes run as a waterfall: records matched by a pass, or withheld in one of its suggestions,
//! are not offered to the passes after it.
//!
//! ```json
//! {
//!   "version": 1,
//!   "passes": [
//!     {
//!       "name": "invoice number, same amount, within 3 days",
//!       "cardinality": "one_to_one",
//!       "reference": { "extract": "INV-?(\\d+)" },
//!       "date_window": { "field": "booking_date", "days": 3 }
//!     },
//!     {
//!       "name": "same counterparty, amount within 1 cent or 0.5 %",
//!       "cardinality": "one_to_one",
//!       "equal": ["counterparty"],
//!       "amount_tolerance": { "absolute": "0.01", "percent": "0.5" },
//!       "date_window": { "field": "value_date", "days": 5 },
//!       "similar": [ { "field": "description", "threshold": 0.85 } ]
//!     },
//!     {
//!       "name": "split payments and credit notes",
//!       "cardinality": "one_to_many",
//!       "reference": { "case_fold": true, "remove_spaces": true, "remove_punctuation": true },
//!       "amount_tolerance": { "absolute": "0.05" },
//!       "max_group_size": 5,
//!       "max_candidates": 20
//!     },
//!     {
//!       "name": "everything under one reference",
//!       "cardinality": "many_to_many",
//!       "reference": {},
//!       "max_group_size": 8
//!     }
//!   ]
//! }
//! ```
//!
//! A pass has:
//!
//! - `name` (required, unique, non-empty) and `cardinality`: `one_to_one`, `one_to_many` (one
//!   left record to a group of right records), `many_to_one` (a group of left records to one
//!   right record) or `many_to_many`.
//! - `equal`: fields that must be exactly equal (after trimming): `reference`, `counterparty`,
//!   `currency`. **The currency is always required equal**, listed or not: nothing ever matches
//!   across currencies. A record missing a listed field takes no part in the pass.
//! - `reference`: references must be equal after normalisation. `extract` (optional regex) is
//!   applied to the raw, trimmed reference first; its first capture group (the whole match if
//!   it has none) is kept, and a reference it does not match takes no part in the pass. Then,
//!   each on by default, `case_fold` (Unicode lower case), `remove_spaces` (all whitespace),
//!   `remove_punctuation` (every character that is neither alphanumeric nor whitespace). An
//!   empty result takes no part.
//! - `amount_tolerance`: `absolute` and/or `percent` (decimal strings such as `"0.01"`, or JSON
//!   numbers; both default to 0). Amounts `a`, `b` (or a group's sum and its counterpart) agree
//!   when `|a - b| <= max(absolute, percent / 100 * min(|a|, |b|))`. Percent is of the smaller
//!   magnitude, so it is symmetric and never bridges opposite signs. **Without
//!   `amount_tolerance`, amounts must be exactly equal**: the amount is always a condition.
//! - `date_window`: `{ "field": "booking_date" | "value_date", "days": N }`: dates at most N
//!   days apart (`value_date` falls back to the booking date of a record without one).
//! - `similar`: `[{ "field": "description" | "counterparty", "threshold": 0..=1 }]`: Jaro-Winkler
//!   similarity of the lower-cased, whitespace-collapsed texts at least the threshold; a record
//!   without the text fails it.
//! - `max_group_size` (default 5, 2..=10) and `max_candidates` (default 20, 1..=100): the bounds,
//!   below.
//!
//! [`RuleSet::from_json_str`] / [`RuleSet::from_json_value`] read and validate;
//! [`RuleSet::validate`] returns every problem at once with its JSON path, e.g.
//! `passes[1].amount_tolerance.percent: must be between 0 and 100` or
//! `passes[0].reference.extract: invalid regular expression: …`.
//!
//! # How candidates are found
//!
//! Never by comparing every pair. Per pass, each side's available records get an exact key:
//! the currency plus the normalised reference / equal fields the pass uses (stored inline up to
//! 28 bytes, longer ones interned). Records only ever pair within a key, so a 1:1 pass
//! partitions both sides by a hash of the key and settles each partition on its own (on two
//! threads from 16,384 records; the outcome never depends on the threads or partitions).
//! Within a partition, both sides are sorted by (key, amount) and merge-joined on the key;
//! within a key, the amount window `[a - w, a + w]` (`w` = the largest tolerance any partner of
//! `a` could allow) is found by binary search, and only the records inside it are checked. A
//! pass with no exact field is still keyed by currency and still uses the sorted-amount window.
//! Group passes sort the "many" side by (key, date) and binary-search the date window.
//!
//! # Scores
//!
//! Every match carries a deterministic score in `0..=1`: the mean of the amount component
//! (`1 - difference / allowed`, 1 when nothing is allowed), the date component (`1 - days /
//! (window + 1)`, when the pass has a window) and one component per similarity condition (the
//! similarity), averaged over the pairs of a group, rounded to 1e-9.
//!
//! # Ties and cardinalities
//!
//! **1:1.** Every record's candidates are scored. A pair is confirmed when each is the other's
//! *unique* best candidate (strictly higher score than any other available candidate). Confirmed
//! records leave the pool, the bests of their neighbours are recomputed, and this repeats until
//! nothing changes. A record still available whose best score is shared by two or more
//! candidates is then the subject of a [`Suggestion`] listing those tied candidates (ordered by
//! record id, the first [`MAX_LISTED_TIES`]); the subject and its listed candidates are withheld
//! from confirmed matches and from later passes. A record whose unique best prefers someone else simply stays available for
//! later passes. The outcome does not depend on the order of records in the input (ties are
//! ordered by record id; duplicate ids fall back to input position).
//!
//! **1:N / N:1.** For each record of the "one" side (the target), candidates of the other side
//! that share its key and meet the date window and similarity conditions are collected; if
//! there are more than `max_candidates`, the best `max_candidates` of them (by date/similarity
//! score, then id) are kept. A bounded subset-sum search over these *signed* amounts (so a
//! credit note can take part) finds groups of 2..=`max_group_size` records whose sum is within
//! the tolerance of the target: group sizes are tried in increasing order and, for each size,
//! depth-first over the candidates sorted by amount, cutting every branch that could not reach
//! the target even with the smallest (or largest) amounts still available. The search stops
//! after [`MAX_SEARCH_STEPS`] steps per target (what it found by then counts). The best group
//! wins by score, then by fewer records; two or more groups equal on both make a suggestion (up
//! to [`MAX_LISTED_TIES`] groups listed, the first ones found; their records are withheld).
//! Targets are settled best first (score, then fewer records, then target id); a target one of
//! whose candidates was taken by an earlier target searches again among the records left and
//! waits for its turn with what it finds now. Single-record matches are for `one_to_one`
//! passes: put one before a group pass.
//!
//! **N:M.** All available records sharing the pass key form one group per side; they match when
//! both groups hold 1..=`max_group_size` records, the sums agree within tolerance and every
//! left/right pair meets the date window and similarity conditions. N:M needs an exact key.
//!
//! # Bounds
//!
//! - `max_candidates` (default 20): candidates kept per left record in 1:1 passes (best score
//!   first, then id; a right record keeps every left that kept it) and per target in 1:N / N:1.
//! - `max_group_size` (default 5): the most records on the "many" side of a group (both sides in
//!   N:M). A group search visits at most `C(20,2) + … + C(20,5)` = 21,679 subsets with the
//!   defaults, and never takes more than [`MAX_SEARCH_STEPS`] steps.
//! - [`MAX_WINDOW_SCAN`] (1,000): the most records of one window checked for one record. Only a
//!   degenerate key hits it (over a thousand records of one side with the same key and an
//!   amount, or date, inside one record's window): the window is then narrowed to the 1,000
//!   entries nearest the record's amount (1:1) or date (1:N / N:1), so the cost stays linear.
//! - 1:N and N:1 passes need an exact key or a date window; N:M passes need an exact key.
//! - At most `u32::MAX - 1` records per side.
//!
//! # Output
//!
//! [`MatchOutcome`] lists confirmed [`MatchGroup`]s (pass index and name, left and right ids,
//! score, and a [`MatchReason`]: the [`Conditions`] that held, the exact signed amount
//! difference `sum(left) - sum(right)`, the largest day difference, and the similarity per
//! similarity condition), [`Suggestion`]s, the unmatched ids of each side (input order) and a
//! [`CurrencySummary`] per currency (counts and exact sums: all, matched, suggested, unmatched).
//! Every input record is in exactly one of: a match, a suggestion (as its subject or in one of
//! its candidates), the unmatched list.
//!
//! # Progress and cancellation
//!
//! [`reconcile_with_progress`] calls a callback at the start of each pass and every
//! [`PROGRESS_EVERY`] records of a pass's main loops; returning `ControlFlow::Break(())` stops
//! the run with [`MatchError::Cancelled`] within milliseconds. The callback is only ever called
//! on the thread that called [`reconcile_with_progress`].

mod amounts;
mod engine;
mod keys;
mod normalise;
mod one_to_one;
mod outcome;
mod par;
mod rules;
mod summary;
#[cfg(test)]
mod tests;

use std::ops::ControlFlow;

use domain::records::Record;
use domain::ValidationErrors;

pub use engine::{MAX_LISTED_TIES, MAX_SEARCH_STEPS, MAX_WINDOW_SCAN, PROGRESS_EVERY};
pub use normalise::{normalise_reference, text_similarity};
pub use outcome::{
    Candidate, Condition, Conditions, CurrencySummary, MatchGroup, MatchOutcome, MatchReason,
    Progress, SideSummary, SimilarityScore, Suggestion,
};
pub use rules::{
    validate, AmountTolerance, Cardinality, DateField, DateWindow, EqualField, Pass, ReferenceRule,
    RuleSet, Similarity, TextField, DEFAULT_MAX_CANDIDATES, DEFAULT_MAX_GROUP_SIZE,
    MAX_CANDIDATES_LIMIT, MAX_GROUP_SIZE_LIMIT, MAX_PATTERN_LEN, MAX_WINDOW_DAYS, RULE_SET_VERSION,
};

/// Why a reconciliation did not produce an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("invalid rule set: {0}")]
    InvalidRules(#[from] ValidationErrors),
    #[error("cancelled")]
    Cancelled,
    #[error("too many records: at most {} per side", u32::MAX - 1)]
    TooManyRecords,
}

/// A validated, compiled rule set, reusable across runs.
#[derive(Debug, Clone)]
pub struct Matcher {
    passes: Vec<rules::CompiledPass>,
}

impl Matcher {
    /// Validates and compiles `rules` (regexes included).
    pub fn new(rules: &RuleSet) -> Result<Self, ValidationErrors> {
        Ok(Self {
            passes: rules::compile(rules)?,
        })
    }

    /// Runs every pass over `left` and `right`.
    pub fn run(&self, left: &[Record], right: &[Record]) -> Result<MatchOutcome, MatchError> {
        self.run_inner(left, right, None)
    }

    /// Runs every pass, calling `progress` at the start of each pass and every
    /// [`PROGRESS_EVERY`] records; `ControlFlow::Break(())` cancels the run.
    pub fn run_with_progress(
        &self,
        left: &[Record],
        right: &[Record],
        progress: &dyn Fn(Progress) -> ControlFlow<()>,
    ) -> Result<MatchOutcome, MatchError> {
        self.run_inner(left, right, Some(progress))
    }

    fn run_inner(
        &self,
        left: &[Record],
        right: &[Record],
        progress: Option<&dyn Fn(Progress) -> ControlFlow<()>>,
    ) -> Result<MatchOutcome, MatchError> {
        let limit = (u32::MAX - 1) as usize;
        if left.len() > limit || right.len() > limit {
            return Err(MatchError::TooManyRecords);
        }
        engine::run(
            &self.passes,
            left,
            right,
            progress,
            engine::Options::default(),
        )
        .map_err(|engine::Stop| MatchError::Cancelled)
    }
}

/// Validates `rules` and reconciles `left` against `right`.
pub fn reconcile(
    rules: &RuleSet,
    left: &[Record],
    right: &[Record],
) -> Result<MatchOutcome, MatchError> {
    Matcher::new(rules)?.run(left, right)
}

/// [`reconcile`] with a progress callback that can cancel the run.
pub fn reconcile_with_progress(
    rules: &RuleSet,
    left: &[Record],
    right: &[Record],
    progress: &dyn Fn(Progress) -> ControlFlow<()>,
) -> Result<MatchOutcome, MatchError> {
    Matcher::new(rules)?.run_with_progress(left, right, progress)
}
