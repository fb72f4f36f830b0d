//! What a reconciliation produces.

use domain::money::Currency;
use domain::records::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::rules::{DateField, EqualField, TextField};

/// The result of running a rule set over two sides. Deterministic for the same input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchOutcome {
    /// Confirmed matches, in pass order; within a pass, in input order of their first left record.
    pub matches: Vec<MatchGroup>,
    /// Ties for a person to decide, in pass order; within a pass, left subjects first, by id.
    pub suggestions: Vec<Suggestion>,
    /// Ids of left records in no match and no suggestion, in input order.
    pub unmatched_left: Vec<String>,
    /// Ids of right records in no match and no suggestion, in input order.
    pub unmatched_right: Vec<String>,
    /// Counts and sums per currency, ordered by currency code.
    pub summary: Vec<CurrencySummary>,
}

/// A confirmed match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchGroup {
    pub pass_index: usize,
    pub pass_name: String,
    /// Left record ids (one unless the pass is many_to_one or many_to_many).
    pub left: Vec<String>,
    /// Right record ids (one unless the pass is one_to_many or many_to_many).
    pub right: Vec<String>,
    /// 0..=1: the mean of the graded conditions (amount, date, each similarity), 1 = perfect.
    pub score: f64,
    pub reason: MatchReason,
}

/// Why records matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchReason {
    /// Every condition of the pass, as it held for this match.
    pub conditions: Vec<ConditionMet>,
    /// Sum of the left amounts minus sum of the right amounts (exact).
    pub amount_difference: Decimal,
    /// Largest distance in days between a left and a right record of the match, on the pass's
    /// date field (booking date when the pass has no date window).
    pub day_difference: i64,
}

/// One condition that held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum ConditionMet {
    /// The currencies are equal (always required).
    Currency,
    /// The field is exactly equal on both sides.
    Equal { field: EqualField },
    /// The references are equal after normalisation (and extraction); `key` is what was compared.
    Reference { key: String },
    /// The amounts (sums, for groups) differ by at most `allowed`.
    Amount { difference: Decimal, allowed: Decimal },
    /// The dates are at most `window` days apart (`days` is the largest distance found).
    Date { field: DateField, days: i64, window: u32 },
    /// Jaro-Winkler similarity of the field is at least the threshold (`similarity` is the
    /// lowest found across the pairs of a group).
    Similar { field: TextField, similarity: f64, threshold: f64 },
}

/// A record whose best candidates tie: nothing is confirmed, a person decides. The subject and
/// every record of every candidate are withheld from confirmed matches and from later passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub pass_index: usize,
    pub pass_name: String,
    /// The side of the subject record.
    pub side: Side,
    /// The subject record's id.
    pub record: String,
    /// The tied candidates (records of the other side), ordered by their ids.
    pub candidates: Vec<Candidate>,
}

/// One tied candidate: a single record (1:1) or a group (1:N, N:1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Ids of the other side's records, ordered by id.
    pub records: Vec<String>,
    pub score: f64,
    pub reason: MatchReason,
}

/// Counts and exact sums for one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencySummary {
    pub currency: Currency,
    pub left: SideSummary,
    pub right: SideSummary,
}

/// Counts and exact sums for one side of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SideSummary {
    pub records: u64,
    pub amount: Decimal,
    pub matched: u64,
    pub matched_amount: Decimal,
    pub suggested: u64,
    pub suggested_amount: Decimal,
    pub unmatched: u64,
    pub unmatched_amount: Decimal,
}

/// Where the engine is, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Index of the running pass.
    pub pass_index: usize,
    /// Number of passes in the rule set.
    pub pass_count: usize,
    /// Records of this pass's main loop processed so far.
    pub done: u64,
    /// Records of this pass's main loop in all.
    pub total: u64,
}
