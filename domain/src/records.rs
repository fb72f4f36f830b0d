//! One line of a data source, normalised: what importers produce and the matching engine reads.

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
    pub id: String,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount: Decimal,
    pub currency: Currency,
    pub reference: Option<String>,
    pub counterparty: Option<String>,
    pub description: Option<String>,
}
