//! Turning one row of cells (from CSV or XLSX) into a record under a resolved mapping.

use std::borrow::Cow;

use chrono::NaiveDate;
use domain::money::Currency;
use domain::records::{CompactString, Record, ToCompactString};
use rust_decimal::Decimal;

use crate::decimal::{decimal_from_f64, f64_text, parse_decimal};
use crate::mapping::{AmountCols, Col, DateFormat, Resolved};
use crate::report::{PreviewRow, ReadRecord, RowError};
use crate::text::{non_empty_field, trim};

/// One cell as a source delivers it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Empty,
    Text(&'a str),
    /// A spreadsheet number (an IEEE double).
    Number(f64),
    /// A spreadsheet integer.
    Int(i64),
    /// A spreadsheet date (or date-time: the date part).
    Date(NaiveDate),
    Bool(bool),
    /// A spreadsheet error value such as `#DIV/0!`.
    Error(String),
}

impl Cell<'_> {
    fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => trim(s).is_empty(),
            _ => false,
        }
    }

    /// The cell as text: numbers in their shortest exact form, dates as `YYYY-MM-DD`.
    pub(crate) fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.trim().to_string(),
            Cell::Number(f) => f64_text(*f),
            Cell::Int(i) => i.to_string(),
            Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
            Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            Cell::Error(e) => e.clone(),
        }
    }

    /// [`Cell::text`], borrowed from a text cell rather than copied.
    fn trimmed_text(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(s) => Cow::Borrowed(trim(s)),
            other => Cow::Owned(other.text()),
        }
    }
}

pub(crate) enum RowOutcome {
    Blank,
    Record(ReadRecord),
    Bad(Vec<RowError>),
}

struct Row<'c, 'a> {
    cells: &'c [Cell<'a>],
    number: u64,
    errors: Vec<RowError>,
}

impl<'c, 'a> Row<'c, 'a> {
    fn err(&mut self, col: &Col, message: impl Into<String>) {
        self.errors
            .push(RowError::new(self.number, Some(col.label.clone()), message));
    }

    /// The cell, or an error when the row is too short or the cell holds a spreadsheet error.
    fn cell(&mut self, col: &Col) -> Option<&'c Cell<'a>> {
        match self.cells.get(col.index) {
            None => {
                let n = self.cells.len();
                self.err(
                    col,
                    format!(
                        "the row has only {n} column{}",
                        if n == 1 { "" } else { "s" }
                    ),
                );
                None
            }
            Some(Cell::Error(e)) => {
                let e = e.clone();
                self.err(col, format!("the cell holds the spreadsheet error {e}"));
                None
            }
            Some(c) => Some(c),
        }
    }

    /// `None` (no error) for an empty or missing optional cell.
    fn optional_cell(&mut self, col: &Col) -> Option<&'c Cell<'a>> {
        match self.cells.get(col.index) {
            None => None,
            Some(c) if c.is_blank() => None,
            Some(_) => self.cell(col),
        }
    }

    fn date(&mut self, col: &Col, format: &DateFormat, required: bool) -> Option<NaiveDate> {
        let cell = if required {
            self.cell(col)?
        } else {
            self.optional_cell(col)?
        };
        let parsed = match cell {
            Cell::Date(d) => Ok(*d),
            Cell::Empty => Err("the date is empty".to_string()),
            Cell::Text(s) => format.parse(s),
            // A number in a date column: a date typed as digits (20240131) under `%Y%m%d`.
            Cell::Number(f) => format.parse(&f64_text(*f)),
            Cell::Int(i) => format.parse(&i.to_string()),
            other => Err(format!("\"{}\" is not a date", other.text())),
        };
        parsed.map_err(|e| self.err(col, e)).ok()
    }

    fn decimal(&mut self, col: &Col, m: &Resolved, required: bool) -> Option<Decimal> {
        let cell = if required {
            self.cell(col)?
        } else {
            self.optional_cell(col)?
        };
        let parsed = match cell {
            Cell::Empty => Err("the amount is empty".to_string()),
            Cell::Text(s) => parse_decimal(s, &m.decimal),
            Cell::Number(f) => decimal_from_f64(*f),
            Cell::Int(i) => Ok(Decimal::from(*i)),
            other => Err(format!("\"{}\" is not a decimal number", other.text())),
        };
        parsed.map_err(|e| self.err(col, e)).ok()
    }

    fn text(&mut self, col: &Option<Col>) -> Option<CompactString> {
        let col = col.as_ref()?;
        match self.optional_cell(col)? {
            Cell::Text(s) => non_empty_field(s),
            other => non_empty_field(&other.text()),
        }
    }
}

/// Converts one row. `number` is the spreadsheet row number (1-based, header included).
pub(crate) fn convert_row(cells: &[Cell<'_>], m: &Resolved, number: u64) -> RowOutcome {
    if cells.iter().all(Cell::is_blank) {
        return RowOutcome::Blank;
    }
    let mut row = Row {
        cells,
        number,
        errors: Vec::new(),
    };

    let id: Option<CompactString> = match &m.id {
        None => Some(number.to_compact_string()),
        Some(col) => match row.cell(col) {
            Some(Cell::Text(s)) if !trim(s).is_empty() => Some(trim(s).into()),
            Some(c @ (Cell::Number(_) | Cell::Int(_) | Cell::Date(_) | Cell::Bool(_))) => {
                Some(c.text().into())
            }
            Some(_) => {
                row.err(col, "the id is empty");
                None
            }
            None => None,
        },
    };
    let booking_date = row.date(&m.booking_date, &m.date_format, true);
    let value_date = match &m.value_date {
        Some(col) => row.date(col, &m.date_format, false),
        None => None,
    };
    let amount = match &m.amount {
        AmountCols::Signed(col) => row.decimal(col, m, true),
        AmountCols::DebitCredit { debit, credit } => {
            let before = row.errors.len();
            let d = row.decimal(debit, m, false);
            let c = row.decimal(credit, m, false);
            if row.errors.len() > before {
                None
            } else if d.is_none() && c.is_none() {
                row.err(
                    debit,
                    format!(
                        "both debit (\"{}\") and credit (\"{}\") are empty",
                        debit.label, credit.label
                    ),
                );
                None
            } else {
                Some(c.unwrap_or(Decimal::ZERO) - d.unwrap_or(Decimal::ZERO))
            }
        }
    };
    let amount = amount.map(|a| if m.negate_amount { -a } else { a });
    let currency = match &m.currency {
        Some(col) => match row.optional_cell(col).map(Cell::trimmed_text) {
            Some(t) => match Currency::parse(&t) {
                Ok(c) => Some(c),
                Err(_) => {
                    row.err(
                        col,
                        format!("\"{t}\" is not a three-letter ISO 4217 currency code"),
                    );
                    None
                }
            },
            None => match m.fixed_currency {
                Some(c) => Some(c),
                None => {
                    if row.cells.len() > col.index {
                        row.err(col, "the currency is empty");
                    } else {
                        row.cell(col);
                    }
                    None
                }
            },
        },
        None => m.fixed_currency,
    };
    let reference = row.text(&m.reference);
    let counterparty = row.text(&m.counterparty);
    let description = row.text(&m.description);

    match (id, booking_date, amount, currency) {
        (Some(id), Some(booking_date), Some(amount), Some(currency)) if row.errors.is_empty() => {
            let record = Record {
                id,
                booking_date,
                value_date,
                amount,
                currency,
                reference,
                counterparty,
                description,
            };
            RowOutcome::Record(ReadRecord {
                record,
                row: number,
            })
        }
        _ => {
            if row.errors.is_empty() {
                // Unreachable in practice: every missing part pushed an error.
                row.errors
                    .push(RowError::new(number, None, "the row could not be read"));
            }
            RowOutcome::Bad(row.errors)
        }
    }
}

/// A preview row from a converted row.
pub(crate) fn preview_row(cells: &[Cell<'_>], m: &Resolved, number: u64) -> Option<PreviewRow> {
    let texts = cells.iter().map(Cell::text).collect();
    match convert_row(cells, m, number) {
        RowOutcome::Blank => None,
        RowOutcome::Record(r) => Some(PreviewRow {
            row: number,
            cells: texts,
            record: Some(r.fingerprinted()),
            errors: vec![],
        }),
        RowOutcome::Bad(errors) => Some(PreviewRow {
            row: number,
            cells: texts,
            record: None,
            errors,
        }),
    }
}
