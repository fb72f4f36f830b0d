//! One line of a data source, normalised: what importers produce and the matching engine reads.

/// Text of a record: ids, references and names are short, so up to 24 bytes are stored inline
/// (no heap allocation per field for a million-row file).
pub use compact_str::{CompactString, ToCompactString};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// Which side of a reconciliation a record belongs to (e.g. bank = left, ledger = right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    /// The side's name as stored and shown (`left`, `right`).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    pub fn other(self) -> Self {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// A normalised record. `amount` is signed (credits positive, debits negative, as the source
/// mapping decides) and exact; it always travels with its `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The record's id within its data source (from the mapped id column, or the row number).
    pub id: CompactString,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount: Decimal,
    pub currency: Currency,
    pub reference: Option<CompactString>,
    pub counterparty: Option<CompactString>,
    pub description: Option<CompactString>,
}

/// Appends `value` as one quoted CSV cell (a `"` doubled), as results are stored and exported.
pub fn push_csv_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}
