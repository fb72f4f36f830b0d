//! Column mapping for tabular sources (CSV, XLSX): which column holds what, and how dates and
//! amounts are written.
//!
//! JSON form (every key except `booking_date` and the amount/currency choice is optional):
//!
//! ```json
//! {
//!   "id": "Transaction ID",
//!   "booking_date": "Booking date",
//!   "value_date": 2,
//!   "amount": "Amount",
//!   "currency": "Currency",
//!   "reference": "Reference",
//!   "counterparty": "Counterparty",
//!   "description": "Description",
//!   "date_format": "%d/%m/%Y",
//!   "decimal": { "decimal_separator": ",", "thousands_separator": "." }
//! }
//! ```
//!
//! - A column is a header name (string, matched after trimming; case-insensitively if no exact
//!   match) or a 0-based index (number). Files without a header row need indices.
//! - `id`: optional; without it a record's id is its spreadsheet row number (`"2"`, `"3"`, …).
//! - The amount is either `amount` (signed) or both `debit` and `credit` (amount = credit −
//!   debit; an empty cell counts as 0). `negate_amount: true` flips the sign (for ledgers that
//!   record the opposite side).
//! - The currency is a `currency` column or a `fixed_currency` (`"EUR"`) for the whole file; with
//!   both, the fixed currency fills empty cells of the column.
//! - `date_format`: chrono strftime (`%Y-%m-%d` by default, `%d/%m/%Y`, `%d.%m.%Y`, `%m/%d/%y`,
//!   …); a format with a time (`%Y-%m-%d %H:%M`) is accepted, the date part is kept.
//!   Spreadsheet date cells need no format.
//! - `decimal`: see [`DecimalFormat`] (default: `.` decimal separator, no thousands separator).

use std::fmt::{self, Write as _};

use chrono::format::{Item, Numeric, Pad, Parsed, StrftimeItems};
use chrono::NaiveDate;
use domain::money::Currency;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::decimal::DecimalFormat;
use crate::error::MappingError;
use crate::text::trim;

/// A column, by header name or by 0-based index.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Index(usize),
    Name(String),
}

impl<'de> Deserialize<'de> for ColumnRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ColumnRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header name (string) or a 0-based column index (number)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ColumnRef, E> {
                if v.trim().is_empty() {
                    Err(E::custom("a column name cannot be empty"))
                } else {
                    Ok(ColumnRef::Name(v.to_string()))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ColumnRef, E> {
                usize::try_from(v)
                    .map(ColumnRef::Index)
                    .map_err(|_| E::custom("column index too large"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ColumnRef, E> {
                if v < 0 {
                    Err(E::custom(format!(
                        "column index {v} is negative (indices start at 0)"
                    )))
                } else {
                    self.visit_u64(v.unsigned_abs())
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl From<&str> for ColumnRef {
    fn from(v: &str) -> Self {
        ColumnRef::Name(v.to_string())
    }
}

impl From<usize> for ColumnRef {
    fn from(v: usize) -> Self {
        ColumnRef::Index(v)
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Index(i) => write!(f, "index {i}"),
            ColumnRef::Name(n) => write!(f, "\"{n}\""),
        }
    }
}

fn default_date_format() -> String {
    "%Y-%m-%d".to_string()
}

/// How the columns of a tabular file become a [`domain::records::Record`]. See the module
/// documentation for the JSON form.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub id: Option<ColumnRef>,
    /// Required (an `Option` only so that its absence is reported with the other problems).
    #[serde(default)]
    pub booking_date: Option<ColumnRef>,
    #[serde(default)]
    pub value_date: Option<ColumnRef>,
    #[serde(default)]
    pub amount: Option<ColumnRef>,
    #[serde(default)]
    pub debit: Option<ColumnRef>,
    #[serde(default)]
    pub credit: Option<ColumnRef>,
    #[serde(default)]
    pub negate_amount: bool,
    #[serde(default)]
    pub currency: Option<ColumnRef>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "EUR"))]
    pub fixed_currency: Option<Currency>,
    #[serde(default)]
    pub reference: Option<ColumnRef>,
    #[serde(default)]
    pub counterparty: Option<ColumnRef>,
    #[serde(default)]
    pub description: Option<ColumnRef>,
    #[serde(default = "default_date_format")]
    pub date_format: String,
    #[serde(default)]
    pub decimal: DecimalFormat,
}

impl Default for Mapping {
    fn default() -> Self {
        Self {
            id: None,
            booking_date: None,
            value_date: None,
            amount: None,
            debit: None,
            credit: None,
            negate_amount: false,
            currency: None,
            fixed_currency: None,
            reference: None,
            counterparty: None,
            description: None,
            date_format: default_date_format(),
            decimal: DecimalFormat::default(),
        }
    }
}

impl Mapping {
    /// Parses and validates a JSON mapping. Errors carry JSON paths (`mapping.amount: …`).
    pub fn from_json(json: &str) -> Result<Mapping, Vec<MappingError>> {
        let mut de = serde_json::Deserializer::from_str(json);
        let mapping: Mapping = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path.is_empty() || path == "." {
                "mapping".to_string()
            } else {
                format!("mapping.{path}")
            };
            vec![MappingError::new(path, e.into_inner().to_string())]
        })?;
        let errors = mapping.validate();
        if errors.is_empty() {
            Ok(mapping)
        } else {
            Err(errors)
        }
    }

    /// Checks the mapping on its own (not against a file). Empty when valid.
    pub fn validate(&self) -> Vec<MappingError> {
        let mut errors = Vec::new();
        if self.booking_date.is_none() {
            errors.push(MappingError::new("mapping.booking_date", "is required"));
        }
        match (&self.amount, &self.debit, &self.credit) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (None, None, None) => errors.push(MappingError::new(
                "mapping.amount",
                "is required (or both mapping.debit and mapping.credit)",
            )),
            (Some(_), _, _) => errors.push(MappingError::new(
                "mapping.amount",
                "give either amount or debit and credit, not both",
            )),
            (None, Some(_), None) => errors.push(MappingError::new(
                "mapping.credit",
                "is required when mapping.debit is given (amount = credit - debit)",
            )),
            (None, None, Some(_)) => errors.push(MappingError::new(
                "mapping.debit",
                "is required when mapping.credit is given (amount = credit - debit)",
            )),
        }
        if self.currency.is_none() && self.fixed_currency.is_none() {
            errors.push(MappingError::new(
                "mapping.currency",
                "is required: a column, or mapping.fixed_currency for the whole file",
            ));
        }
        if let Err(e) = validate_date_format(&self.date_format) {
            errors.push(MappingError::new("mapping.date_format", e));
        }
        errors.extend(self.decimal.validate("mapping.decimal"));
        errors
    }

    /// The mapped columns with their JSON field names, in a fixed order.
    fn columns(&self) -> Vec<(&'static str, &ColumnRef)> {
        let fields: [(&'static str, &Option<ColumnRef>); 9] = [
            ("id", &self.id),
            ("booking_date", &self.booking_date),
            ("value_date", &self.value_date),
            ("amount", &self.amount),
            ("debit", &self.debit),
            ("credit", &self.credit),
            ("currency", &self.currency),
            ("reference", &self.reference),
            ("counterparty", &self.counterparty),
        ];
        let mut out: Vec<(&'static str, &ColumnRef)> = fields
            .iter()
            .filter_map(|(n, c)| c.as_ref().map(|c| (*n, c)))
            .collect();
        if let Some(c) = &self.description {
            out.push(("description", c));
        }
        out
    }

    /// Validates the mapping and binds it to a file's header (`None`: the file has no header).
    pub(crate) fn resolve(
        &self,
        headers: Option<&[String]>,
    ) -> Result<Resolved, Vec<MappingError>> {
        let mut errors = self.validate();
        let mut bound: Vec<(&'static str, Col)> = Vec::new();
        for (field, column) in self.columns() {
            match bind(field, column, headers) {
                Ok(col) => bound.push((field, col)),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let get = |name: &str| {
            bound
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, c)| c.clone())
        };
        let booking_date = get("booking_date")
            .ok_or_else(|| vec![MappingError::new("mapping.booking_date", "is required")])?;
        let amount = match (get("amount"), get("debit"), get("credit")) {
            (Some(a), _, _) => AmountCols::Signed(a),
            (None, Some(debit), Some(credit)) => AmountCols::DebitCredit { debit, credit },
            _ => return Err(vec![MappingError::new("mapping.amount", "is required")]),
        };
        Ok(Resolved {
            id: get("id"),
            booking_date,
            value_date: get("value_date"),
            amount,
            negate_amount: self.negate_amount,
            currency: get("currency"),
            fixed_currency: self.fixed_currency,
            reference: get("reference"),
            counterparty: get("counterparty"),
            description: get("description"),
            date_format: DateFormat::new(&self.date_format),
            decimal: self.decimal,
        })
    }
}

/// A column bound to a file: its index and how errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Col {
    pub index: usize,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AmountCols {
    Signed(Col),
    DebitCredit { debit: Col, credit: Col },
}

/// A mapping bound to a file's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub id: Option<Col>,
    pub booking_date: Col,
    pub value_date: Option<Col>,
    pub amount: AmountCols,
    pub negate_amount: bool,
    pub currency: Option<Col>,
    pub fixed_currency: Option<Currency>,
    pub reference: Option<Col>,
    pub counterparty: Option<Col>,
    pub description: Option<Col>,
    pub date_format: DateFormat,
    pub decimal: DecimalFormat,
}

/// Spreadsheet column letters: 0 → A, 25 → Z, 26 → AA.
pub(crate) fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    out.iter().rev().collect()
}

fn bind(field: &str, column: &ColumnRef, headers: Option<&[String]>) -> Result<Col, MappingError> {
    let path = format!("mapping.{field}");
    match (column, headers) {
        (ColumnRef::Index(i), None) => Ok(Col { index: *i, label: column_letter(*i) }),
        (ColumnRef::Index(i), Some(h)) => match h.get(*i) {
            Some(name) if !name.trim().is_empty() => Ok(Col { index: *i, label: name.trim().to_string() }),
            Some(_) => Ok(Col { index: *i, label: column_letter(*i) }),
            None => Err(MappingError::new(
                path,
                format!("column index {i} is beyond the header's {} columns (indices start at 0)", h.len()),
            )),
        },
        (ColumnRef::Name(n), None) => Err(MappingError::new(
            path,
            format!("column \"{n}\" is a header name, but the file has no header row: use a 0-based index"),
        )),
        (ColumnRef::Name(n), Some(h)) => {
            let want = n.trim();
            let mut hits: Vec<usize> =
                h.iter().enumerate().filter(|(_, x)| x.trim() == want).map(|(i, _)| i).collect();
            if hits.is_empty() {
                let lower = want.to_lowercase();
                hits = h
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| x.trim().to_lowercase() == lower)
                    .map(|(i, _)| i)
                    .collect();
            }
            match hits.as_slice() {
                [i] => Ok(Col { index: *i, label: h[*i].trim().to_string() }),
                [] => {
                    let mut known = String::new();
                    for (k, name) in h.iter().enumerate() {
                        if k > 0 {
                            known.push_str(", ");
                        }
                        let _ = write!(known, "\"{}\"", name.trim());
                    }
                    Err(MappingError::new(
                        path,
                        format!("column \"{want}\" is not in the header (columns: {known})"),
                    ))
                }
                many => Err(MappingError::new(
                    path,
                    format!(
                        "column \"{want}\" appears {} times in the header (indices {}): use a 0-based index",
                        many.len(),
                        many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    ),
                )),
            }
        }
    }
}

/// Checks that `format` is a strftime format that writes and reads back a full date.
pub(crate) fn validate_date_format(format: &str) -> Result<(), String> {
    if format.trim().is_empty() {
        return Err("is empty".to_string());
    }
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!("\"{format}\" is not a valid strftime format"));
    }
    // A day above 12 and a time that is not midnight, to catch formats that lose information.
    let sample = NaiveDate::from_ymd_opt(2024, 11, 28)
        .and_then(|d| d.and_hms_opt(13, 45, 30))
        .ok_or_else(|| "internal: bad sample date".to_string())?;
    let mut written = String::new();
    if write!(written, "{}", sample.format(format)).is_err() {
        return Err(format!("\"{format}\" cannot write a date"));
    }
    match DateFormat::new(format).parse(&written) {
        Ok(d) if d == sample.date() => Ok(()),
        _ => Err(format!(
            "\"{format}\" does not identify a full date: it needs year, month and day (e.g. %d/%m/%Y)"
        )),
    }
}

/// A strftime date format, parsed once for a whole import rather than once per row; a format
/// with a time of day keeps the date part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateFormat {
    text: String,
    items: Vec<Item<'static>>,
    digits: Option<DigitsOnly>,
}

impl DateFormat {
    pub(crate) fn new(format: &str) -> Self {
        // Error items are kept: parsing then fails on them, as it would with the text.
        let items: Vec<Item<'static>> = StrftimeItems::new(format).map(Item::to_owned).collect();
        Self {
            text: format.to_string(),
            digits: DigitsOnly::new(&items),
            items,
        }
    }

    /// Parses a date (trimmed) written in this format.
    pub(crate) fn parse(&self, raw: &str) -> Result<NaiveDate, String> {
        let s = trim(raw);
        if s.is_empty() {
            return Err("the date is empty".to_string());
        }
        if let Some(date) = self.digits.as_ref().and_then(|d| d.parse(s)) {
            return Ok(date);
        }
        self.parse_chrono(s)
            .map_err(|_| format!("\"{s}\" is not a date in the format \"{}\"", self.text))
    }

    /// What `NaiveDate::parse_from_str` gives, or failing that the date of
    /// `NaiveDateTime::parse_from_str` (both parse the same items, only the result differs).
    fn parse_chrono(&self, s: &str) -> chrono::ParseResult<NaiveDate> {
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, s, self.items.iter())?;
        parsed
            .to_naive_date()
            .or_else(|_| parsed.to_naive_datetime_with_offset(0).map(|dt| dt.date()))
    }
}

/// The fast path of a format made only of `%Y`, `%m`, `%d` (each once, zero-padded) and
/// punctuation, such as `%Y-%m-%d`, `%d/%m/%Y` or `%d.%m.%Y`: a date written in it at full
/// width (`2024-01-31`, not `2024-1-31`) is read digit by digit. Anything else (short fields,
/// signs, spaces, impossible dates) is left to chrono, so the results are chrono's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DigitsOnly {
    /// The date's bytes: [`DigitsOnly::DIGIT`] where a digit goes, otherwise the literal byte.
    shape: Vec<u8>,
    year: usize,
    month: usize,
    day: usize,
}

impl DigitsOnly {
    /// Never a literal byte, which is punctuation.
    const DIGIT: u8 = 0;

    fn new(items: &[Item<'_>]) -> Option<Self> {
        let (mut shape, mut year, mut month, mut day) = (Vec::new(), None, None, None);
        for item in items {
            match item {
                Item::Numeric(numeric, Pad::Zero) => {
                    let (at, width) = match numeric {
                        Numeric::Year => (&mut year, 4),
                        Numeric::Month => (&mut month, 2),
                        Numeric::Day => (&mut day, 2),
                        _ => return None,
                    };
                    if at.replace(shape.len()).is_some() {
                        return None;
                    }
                    shape.resize(shape.len() + width, Self::DIGIT);
                }
                Item::Literal(text) => shape.extend_from_slice(punctuation(text)?),
                Item::OwnedLiteral(text) => shape.extend_from_slice(punctuation(text)?),
                _ => return None,
            }
        }
        Some(Self {
            shape,
            year: year?,
            month: month?,
            day: day?,
        })
    }

    /// The date, or `None` when `s` does not have exactly the shape or is not a real date.
    fn parse(&self, s: &str) -> Option<NaiveDate> {
        let bytes = s.as_bytes();
        if bytes.len() != self.shape.len() {
            return None;
        }
        for (&b, &want) in bytes.iter().zip(&self.shape) {
            let fits = if want == Self::DIGIT {
                b.is_ascii_digit()
            } else {
                b == want
            };
            if !fits {
                return None;
            }
        }
        let number = |at: usize, width: usize| -> Option<u32> {
            let digits = bytes.get(at..at + width)?;
            Some(digits.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0')))
        };
        let year = i32::try_from(number(self.year, 4)?).ok()?;
        NaiveDate::from_ymd_opt(year, number(self.month, 2)?, number(self.day, 2)?)
    }
}

/// The bytes of a literal made only of ASCII punctuation (`-`, `/`, `.`), else `None`.
fn punctuation(text: &str) -> Option<&[u8]> {
    let bytes = text.as_bytes();
    (!bytes.is_empty() && bytes.iter().all(u8::is_ascii_punctuation)).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use proptest::prelude::*;

    #[test]
    fn parses_full_example() {
        let m = Mapping::from_json(
            r#"{"id": "Transaction ID", "booking_date": "Date", "value_date": 2,
                "amount": "Amount", "currency": "Currency", "reference": "Ref",
                "date_format": "%d/%m/%Y",
                "decimal": {"decimal_separator": ",", "thousands_separator": "."}}"#,
        )
        .unwrap();
        assert_eq!(m.value_date, Some(ColumnRef::Index(2)));
        assert_eq!(m.id, Some(ColumnRef::Name("Transaction ID".into())));
        assert_eq!(m.decimal, DecimalFormat::new(',', Some('.')));
        // Round-trips through JSON.
        let back = Mapping::from_json(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn errors_carry_json_paths() {
        let errs = Mapping::from_json(r#"{"booking_date": "Date"}"#).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["mapping.amount", "mapping.currency"]);
        assert_eq!(
            errs[0].to_string(),
            "mapping.amount: is required (or both mapping.debit and mapping.credit)"
        );

        let errs = Mapping::from_json(r#"{"booking_date": "D", "amount": -1}"#).unwrap_err();
        assert_eq!(errs[0].path, "mapping.amount");
        let errs =
            Mapping::from_json(r#"{"booking_date": "D", "amount": "A", "fixed_currency": "EURO"}"#)
                .unwrap_err();
        assert_eq!(errs[0].path, "mapping.fixed_currency");
        let errs = Mapping::from_json(r#"{"booking_date": "D", "amount": "A", "fixed_currency": "EUR", "decimal": {"decimal_separator": ";"}}"#)
            .unwrap_err();
        assert_eq!(errs[0].path, "mapping.decimal.decimal_separator");
        let errs = Mapping::from_json(
            r#"{"booking_date": "D", "amount": "A", "fixed_currency": "EUR", "colour": 1}"#,
        )
        .unwrap_err();
        assert_eq!(errs[0].path, "mapping.colour");
        let errs =
            Mapping::from_json(r#"{"booking_date": "D", "debit": "A", "fixed_currency": "EUR"}"#)
                .unwrap_err();
        assert_eq!(errs[0].path, "mapping.credit");
        let errs = Mapping::from_json(r#"{"amount": "A", "debit": "B", "credit": "C", "fixed_currency": "EUR", "date_format": "%H:%M"}"#)
            .unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "mapping.booking_date",
                "mapping.amount",
                "mapping.date_format"
            ]
        );
    }

    #[test]
    fn date_formats() {
        assert!(validate_date_format("%d/%m/%Y").is_ok());
        assert!(validate_date_format("%Y-%m-%d %H:%M").is_ok());
        assert!(validate_date_format("%d.%m.%y").is_ok());
        assert!(validate_date_format("%Y-%m").is_err());
        assert!(validate_date_format("%Q").is_err());
        assert!(validate_date_format("").is_err());
        let dmy = DateFormat::new("%d/%m/%Y");
        assert_eq!(
            dmy.parse("31/01/2024"),
            NaiveDate::from_ymd_opt(2024, 1, 31).ok_or(String::new())
        );
        assert_eq!(
            dmy.parse("31/02/2024").unwrap_err(),
            "\"31/02/2024\" is not a date in the format \"%d/%m/%Y\""
        );
    }

    /// The original per-row parse (chrono re-reading the format every time): the oracle.
    fn parse_date_oracle(raw: &str, format: &str) -> Result<NaiveDate, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("the date is empty".to_string());
        }
        NaiveDate::parse_from_str(s, format)
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, format).map(|dt| dt.date()))
            .map_err(|_| format!("\"{s}\" is not a date in the format \"{format}\""))
    }

    /// Formats with the digits-only fast path, then some without.
    const FAST_FORMATS: [&str; 8] = [
        "%Y-%m-%d",
        "%d/%m/%Y",
        "%d.%m.%Y",
        "%Y%m%d",
        "%m/%d/%Y",
        "%F",
        "%Y/%d/%m",
        "%d/%m/%Y%%",
    ];
    const SLOW_FORMATS: [&str; 6] = [
        "%d.%m.%y",
        "%Y-%m-%d %H:%M",
        "%e/%m/%Y",
        "%d %b %Y",
        "%-d/%-m/%Y",
        "%Y-%m-%dT%H:%M:%S",
    ];

    #[test]
    fn fast_path_is_taken_only_for_digit_formats() {
        for f in FAST_FORMATS {
            let format = DateFormat::new(f);
            let digits = format.digits.as_ref().unwrap_or_else(|| panic!("{f}"));
            let sample = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
            assert_eq!(
                digits.parse(&sample.format(f).to_string()),
                Some(sample),
                "{f}"
            );
        }
        for f in SLOW_FORMATS {
            assert!(DateFormat::new(f).digits.is_none(), "{f}");
        }
    }

    #[test]
    fn date_parsing_agrees_with_chrono_on_edge_cases() {
        let inputs = [
            "2024-01-31",
            " 2024-01-31 ",
            "2024-02-29",
            "2023-02-29",
            "2024-02-30",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "0000-01-01",
            "9999-12-31",
            "2024-1-31",
            "24-01-31",
            "+2024-01-31",
            "-2024-01-31",
            "2024-01-3a",
            "2024/01/31",
            "2024-01-31x",
            "2024-01-311",
            "",
            "  ",
            "20240131",
            "31/01/2024",
            "31.01.2024",
            "01/31/2024",
            "31/1/2024",
            "2024-01-31 13:45",
            "2024-01-31T13:45:30",
            "31 Jan 2024",
            "1/2/2024",
            "01.02.24",
            "31/01/2024%",
            "２０２４-01-31",
            "2024-01-31\u{a0}",
        ];
        for f in FAST_FORMATS.iter().chain(&SLOW_FORMATS) {
            let format = DateFormat::new(f);
            for input in inputs {
                assert_eq!(
                    format.parse(input),
                    parse_date_oracle(input, f),
                    "{f} {input:?}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn date_parsing_agrees_with_chrono(
            which in 0usize..14,
            input in prop_oneof![
                "[0-9]{0,10}",
                "[0-9/.: +-]{0,14}",
                "[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}",
                "\\PC{0,12}",
            ],
        ) {
            let f = FAST_FORMATS.iter().chain(&SLOW_FORMATS).nth(which).unwrap();
            prop_assert_eq!(DateFormat::new(f).parse(&input), parse_date_oracle(&input, f));
        }

        #[test]
        fn written_dates_parse_like_chrono(
            which in 0usize..14,
            days in -800_000i32..4_000_000,
            hour in 0u32..24,
        ) {
            let f = FAST_FORMATS.iter().chain(&SLOW_FORMATS).nth(which).unwrap();
            let date = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            let text = date.and_hms_opt(hour, 7, 9).unwrap().format(f).to_string();
            let parsed = DateFormat::new(f).parse(&text);
            prop_assert_eq!(&parsed, &parse_date_oracle(&text, f));
            if (0..=9999).contains(&date.year()) && !f.contains("%y") {
                prop_assert_eq!(parsed, Ok(date));
            }
        }
    }

    #[test]
    fn binding_to_headers() {
        let h: Vec<String> = ["Date", "Amount", "Amount", "ccy"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = Mapping {
            booking_date: Some("date".into()),
            amount: Some("Amount".into()),
            currency: Some("CCY".into()),
            reference: Some("Nope".into()),
            description: Some(9.into()),
            ..Mapping::default()
        };
        let errs = m.resolve(Some(&h)).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].starts_with("mapping.amount: column \"Amount\" appears 2 times"));
        assert!(text[1].starts_with("mapping.reference: column \"Nope\" is not in the header"));
        assert!(text[2].starts_with("mapping.description: column index 9 is beyond"));
        let errs = m.resolve(None).unwrap_err();
        assert!(errs[0].to_string().contains("no header row"));
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(27), "AB");
    }
}
