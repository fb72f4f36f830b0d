//! What a reconciliation produces.

use domain::money::Currency;
use domain::records::{CompactString, Side};
use rust_decimal::Decimal;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rules::TextField;

/// The result of running a rule set over two sides. Deterministic for the same input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchOutcome {
    /// Confirmed matches, in pass order; within a pass, in input order of their first left record.
    pub matches: Vec<MatchGroup>,
    /// Ties for a person to decide, in pass order; within a pass, left subjects first, by id.
    pub suggestions: Vec<Suggestion>,
    /// Ids of left records in no match and no suggestion, in input order.
    pub unmatched_left: Vec<CompactString>,
    /// Ids of right records in no match and no suggestion, in input order.
    pub unmatched_right: Vec<CompactString>,
    /// Counts and sums per currency, ordered by currency code.
    pub summary: Vec<CurrencySummary>,
}

/// The record ids of one side of a match: one inline (most matches), more on the heap.
pub type Ids = smallvec::SmallVec<[CompactString; 1]>;

/// A confirmed match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchGroup {
    pub pass_index: usize,
    /// Shared by all matches and suggestions of the pass.
    pub pass_name: Arc<str>,
    /// Left record ids, ordered by id (one unless the pass is many_to_one or many_to_many).
    pub left: Ids,
    /// Right record ids, ordered by id (one unless the pass is one_to_many or many_to_many).
    pub right: Ids,
    /// 0..=1: the mean of the graded conditions (amount, date, each similarity), 1 = perfect.
    pub score: f64,
    pub reason: MatchReason,
}

/// Why records matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchReason {
    /// Every condition of the pass; all held.
    pub conditions: Conditions,
    /// Sum of the left amounts minus sum of the right amounts (exact).
    pub amount_difference: Decimal,
    /// Largest distance in days between a left and a right record of the match, on the pass's
    /// date field (booking date when the pass has no date window).
    pub day_difference: i64,
    /// The similarity found per similarity condition (the lowest across the pairs of a group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub similarities: Vec<SimilarityScore>,
}

/// The Jaro-Winkler similarity found for one similarity condition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimilarityScore {
    pub field: TextField,
    pub similarity: f64,
}

/// A condition a pass can hold records to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Same currency (always required).
    CurrencyEqual,
    /// `equal: ["reference"]`: exactly equal references.
    ReferenceEqual,
    /// `equal: ["counterparty"]`: exactly equal counterparties.
    CounterpartyEqual,
    /// `reference`: equal after normalisation (and extraction).
    ReferenceNormalisedEqual,
    /// The amounts (or sums) agree within the tolerance (exactly, without one).
    AmountWithinTolerance,
    /// The dates are within the window.
    DateWithinWindow,
    /// The descriptions are similar enough.
    DescriptionSimilar,
    /// The counterparties are similar enough.
    CounterpartySimilar,
}

impl Condition {
    pub const ALL: [Condition; 8] = [
        Condition::CurrencyEqual,
        Condition::ReferenceEqual,
        Condition::CounterpartyEqual,
        Condition::ReferenceNormalisedEqual,
        Condition::AmountWithinTolerance,
        Condition::DateWithinWindow,
        Condition::DescriptionSimilar,
        Condition::CounterpartySimilar,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Condition`]s, stored as bits (no allocation per match) and serialised as a JSON
/// list of their names in the order of [`Condition::ALL`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Conditions(u16);

impl Conditions {
    pub fn insert(&mut self, c: Condition) {
        self.0 |= c.bit();
    }

    pub fn contains(self, c: Condition) -> bool {
        self.0 & c.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Condition> {
        Condition::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Condition> for Conditions {
    fn from_iter<I: IntoIterator<Item = Condition>>(iter: I) -> Self {
        let mut set = Conditions::default();
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl fmt::Debug for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Condition>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// A record whose best candidates tie: nothing is confirmed, a person decides. The subject and
/// every record of every candidate are withheld from confirmed matches and from later passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub pass_index: usize,
    /// Shared by all matches and suggestions of the pass.
    pub pass_name: Arc<str>,
    /// The side of the subject record.
    pub side: Side,
    /// The subject record's id.
    pub record: CompactString,
    /// The tied candidates (records of the other side), ordered by their ids.
    pub candidates: Vec<Candidate>,
}

/// One tied candidate: a single record (1:1) or a group (1:N, N:1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Ids of the other side's records, ordered by id.
    pub records: Vec<CompactString>,
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
