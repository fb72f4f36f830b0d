//! SWIFT MT940 (customer statement message), streamed line by line.
//!
//! Fields read: `:20:` (statement reference; starts a statement), `:25:` (account), `:28:`/`:28C:`
//! (statement number), `:60F:`/`:60M:` (opening balance: gives the currency), `:61:` (one
//! transaction each), `:86:` (the information line(s) following a `:61:`), `:62F:`/`:62M:`
//! (closing balance: ends the statement). `:21:`, `:13:`, `:13D:`, `:34F:`, `:64:`, `:65:`,
//! `:90C:`, `:90D:`, `:NS:` are accepted and ignored; any other tag is an error.
//!
//! Tolerated: CRLF or LF line ends, header lines before `:20:` (bank identifiers, `940`, SWIFT
//! `{1:…}{2:…}{4:` block wrappers), `-` / `-}` message terminators and trailer lines, control
//! characters (SOH/ETX), UTF-8 or (when a line is not valid UTF-8) windows-1252 text.
//!
//! A `:61:` line is `YYMMDD` value date, optional `MMDD` entry date, mark (`C`, `D`, `RC` =
//! reversal of credit, i.e. a debit; `RD` = reversal of debit, i.e. a credit), optional funds
//! code letter, amount with a decimal comma (`1234,56`, `500,`), transaction type (`NTRF`,
//! `FMSC`, …), customer reference (mandatory in SWIFT; tolerated when missing), optional `//`
//! bank reference, and optionally a second line of supplementary details.
//!
//! Record: `booking_date` is the entry date (its year taken nearest the value date), else the
//! value date; `value_date` the value date; `amount` signed by the mark; `currency` from the
//! opening balance; `reference` the customer reference unless `NONREF`, else the bank reference
//! unless `NONREF`; `description` the `:86:` text (lines, and repeated `:86:` fields, joined with
//! `\n`; the supplementary
//! details when there is no `:86:`); `counterparty` the name subfields `?32`/`?33` of a German
//! structured `:86:` (`NNN?00…`), if any; `id` `<:20:>/<:28C:>/<opening balance date>/<n>` with
//! `n` the transaction's position in its statement. `ImportedRecord::row` and row errors give the
//! line number of the `:61:`.
//!
//! A malformed `:61:` (bad date, amount without decimal comma, missing transaction type, …) is a row
//! error. A broken structure (a field out of place, an unknown tag, a statement without account,
//! opening or closing balance, a file without any statement) fails the whole import
//! ([`ImportError::Format`]).

use std::io::BufRead;

use chrono::{Datelike, NaiveDate};
use domain::money::Currency;
use domain::records::Record;
use rust_decimal::Decimal;

use crate::error::ImportError;
use crate::fingerprint::fingerprint;
use crate::report::{Driver, ImportReport, ImportedRecord, OnError, RowError};
use crate::text::non_empty;

const FORMAT: &str = "MT940";

fn fatal(message: impl Into<String>) -> ImportError {
    ImportError::format(FORMAT, message)
}

/// A field being collected: its tag, the line it starts on and its lines.
struct Field {
    tag: String,
    line: u64,
    lines: Vec<String>,
}

/// A parsed `:61:` line.
struct TxLine {
    value_date: NaiveDate,
    entry_date: Option<NaiveDate>,
    amount: Decimal,
    /// Mandatory in SWIFT, but some banks leave it out: tolerated.
    customer_ref: Option<String>,
    bank_ref: Option<String>,
    supplementary: Option<String>,
}

struct Tx {
    line: u64,
    parsed: Result<TxLine, String>,
    info: Option<String>,
}

struct Statement {
    reference: String,
    number: String,
    line: u64,
    account: Option<String>,
    opening: Option<(Currency, NaiveDate)>,
    closed: bool,
    transactions: u64,
    pending: Option<Tx>,
}

struct Parser<F: FnMut(Result<ImportedRecord, Vec<RowError>>)> {
    each: F,
    statement: Option<Statement>,
    statements: u64,
}

/// `:20:` → `Some("20")`; also `:28C:`, `:NS:`.
fn tag_of(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(':')?;
    let end = rest.find(':')?;
    let tag = &rest[..end];
    let b = tag.as_bytes();
    let ok = tag == "NS"
        || (b.len() == 2 || b.len() == 3)
            && b[0].is_ascii_digit()
            && b[1].is_ascii_digit()
            && b.get(2).is_none_or(|c| c.is_ascii_uppercase());
    if ok {
        Some((tag, &rest[end + 1..]))
    } else {
        None
    }
}

fn decode_line(bytes: &[u8]) -> String {
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    };
    text.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .filter(|c| *c != '\u{feff}')
        .collect()
}

/// `YYMMDD` → date (years 00–69 are 20xx, 70–99 are 19xx).
fn yymmdd(s: &str) -> Option<NaiveDate> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let yy: i32 = s[0..2].parse().ok()?;
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    NaiveDate::from_ymd_opt(year, s[2..4].parse().ok()?, s[4..6].parse().ok()?)
}

/// The SWIFT amount `1234,56` / `500,` → decimal; a comma is required.
fn swift_amount(s: &str) -> Result<Decimal, String> {
    let Some((int, frac)) = s.split_once(',') else {
        return Err(format!("amount \"{s}\" has no decimal comma"));
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("\"{s}\" is not an amount"));
    }
    let text = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    Decimal::from_str_exact(&text).map_err(|_| format!("\"{s}\" is not an amount"))
}

/// A balance field (`:60F:`, `:62F:` …): `C160229EUR1200,00`.
fn balance(s: &str) -> Result<(Currency, NaiveDate, Decimal), String> {
    let s = s.trim();
    let bad = || format!("\"{s}\" is not a balance (C/D mark, YYMMDD date, currency, amount)");
    let mark = s.get(..1).ok_or_else(bad)?;
    if mark != "C" && mark != "D" {
        return Err(bad());
    }
    let date = s.get(1..7).and_then(yymmdd).ok_or_else(bad)?;
    let currency = s
        .get(7..10)
        .and_then(|c| Currency::parse(c).ok())
        .ok_or_else(bad)?;
    let amount = s
        .get(10..)
        .ok_or_else(bad)
        .and_then(|a| swift_amount(a).map_err(|_| bad()))?;
    Ok((currency, date, amount))
}

fn parse_61(lines: &[String]) -> Result<TxLine, String> {
    let first = lines.first().map(|l| l.trim_end()).unwrap_or("");
    let s = first;
    let value_raw = s.get(..6).unwrap_or(s);
    let value_date = yymmdd(value_raw)
        .ok_or_else(|| format!("\"{value_raw}\" is not a valid value date (YYMMDD)"))?;
    let mut rest = &s[6..];
    let mut entry_date = None;
    if rest.len() >= 4 && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        let mmdd = &rest[..4];
        let month: u32 = mmdd[..2]
            .parse()
            .map_err(|_| format!("\"{mmdd}\" is not an entry date"))?;
        let day: u32 = mmdd[2..]
            .parse()
            .map_err(|_| format!("\"{mmdd}\" is not an entry date"))?;
        let y = value_date.year();
        entry_date = [y - 1, y, y + 1]
            .iter()
            .filter_map(|y| NaiveDate::from_ymd_opt(*y, month, day))
            .min_by_key(|d| (*d - value_date).num_days().abs());
        if entry_date.is_none() {
            return Err(format!("\"{mmdd}\" is not a valid entry date (MMDD)"));
        }
        rest = &rest[4..];
    }
    let (credit, after_mark) = if let Some(r) = rest.strip_prefix("RC") {
        (false, r)
    } else if let Some(r) = rest.strip_prefix("RD") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix('C') {
        (true, r)
    } else if let Some(r) = rest.strip_prefix('D') {
        (false, r)
    } else {
        return Err(format!(
            "\"{}\" does not start with a debit/credit mark (C, D, RC, RD)",
            rest
        ));
    };
    rest = after_mark;
    // Optional funds code: one letter before the amount.
    if rest.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        rest = &rest[1..];
    }
    let amount_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b',')
        .count();
    if amount_len == 0 {
        return Err("the amount is missing".to_string());
    }
    let amount = swift_amount(&rest[..amount_len])?;
    rest = &rest[amount_len..];
    let bad_code = || {
        format!(
            "\"{rest}\" does not start with a transaction type (N, F or S and three characters)"
        )
    };
    let code = rest.get(..4).ok_or_else(bad_code)?;
    let cb = code.as_bytes();
    if !matches!(cb[0], b'N' | b'F' | b'S') || !cb[1..].iter().all(u8::is_ascii_alphanumeric) {
        return Err(bad_code());
    }
    rest = rest.get(4..).unwrap_or("");
    let (customer, bank) = match rest.split_once("//") {
        Some((c, b)) => (c, non_empty(b)),
        None => (rest, None),
    };
    Ok(TxLine {
        value_date,
        entry_date,
        amount: if credit { amount } else { -amount },
        customer_ref: non_empty(customer),
        bank_ref: bank,
        supplementary: lines.get(1).and_then(|l| non_empty(l)),
    })
}

/// Name subfields `?32`/`?33` of a German structured `:86:` (`NNN?00…?32NAME?33NAME2…`).
fn structured_name(info: &str) -> Option<String> {
    let flat: String = info.split('\n').collect();
    let b = flat.as_bytes();
    if b.len() < 4 || !b[..3].iter().all(u8::is_ascii_digit) || b[3] != b'?' {
        return None;
    }
    let mut name = String::new();
    for part in flat.split('?').skip(1) {
        if let Some(v) = part.strip_prefix("32").or_else(|| part.strip_prefix("33")) {
            name.push_str(v);
        }
    }
    non_empty(&name)
}

impl<F: FnMut(Result<ImportedRecord, Vec<RowError>>)> Parser<F> {
    fn flush_pending(&mut self) {
        let Some(st) = self.statement.as_mut() else {
            return;
        };
        let Some(tx) = st.pending.take() else { return };
        let column = Some(":61:".to_string());
        let outcome = match tx.parsed {
            Err(message) => Err(vec![RowError::new(tx.line, column, message)]),
            Ok(t) => match st.opening {
                None => Err(vec![RowError::new(
                    tx.line,
                    column,
                    "no opening balance before it",
                )]),
                Some((currency, opening_date)) => {
                    let reference = [t.customer_ref.clone(), t.bank_ref.clone()]
                        .into_iter()
                        .flatten()
                        .find(|r| !r.eq_ignore_ascii_case("NONREF"));
                    let record = Record {
                        id: format!(
                            "{}/{}/{}/{}",
                            st.reference,
                            st.number,
                            opening_date.format("%Y%m%d"),
                            st.transactions
                        )
                        .into(),
                        booking_date: t.entry_date.unwrap_or(t.value_date),
                        value_date: Some(t.value_date),
                        amount: t.amount,
                        currency,
                        reference: reference.map(Into::into),
                        counterparty: tx.info.as_deref().and_then(structured_name).map(Into::into),
                        description: tx.info.clone().or(t.supplementary.clone()).map(Into::into),
                    };
                    Ok(ImportedRecord {
                        fingerprint: fingerprint(&record),
                        record,
                        row: tx.line,
                    })
                }
            },
        };
        (self.each)(outcome);
    }

    fn end_statement(&mut self) -> Result<(), ImportError> {
        self.flush_pending();
        if let Some(st) = self.statement.take() {
            if !st.closed {
                return Err(fatal(format!(
                    "statement \"{}\" (line {}) has no closing balance (:62F:/:62M:): the file is truncated or broken",
                    st.reference, st.line
                )));
            }
        }
        Ok(())
    }

    fn field(&mut self, field: Field) -> Result<(), ImportError> {
        let Field { tag, line, lines } = field;
        let content = lines.first().map(|l| l.trim()).unwrap_or("").to_string();
        if tag == "20" {
            self.end_statement()?;
            self.statements += 1;
            self.statement = Some(Statement {
                reference: content,
                number: String::new(),
                line,
                account: None,
                opening: None,
                closed: false,
                transactions: 0,
                pending: None,
            });
            return Ok(());
        }
        let Some(st) = self.statement.as_mut() else {
            return Err(fatal(format!(
                "line {line}: :{tag}: outside a statement (a statement starts with :20:)"
            )));
        };
        let out_of_place = |what: &str| {
            fatal(format!(
                "line {line}: :{tag}: {what} in statement \"{}\"",
                st.reference
            ))
        };
        match tag.as_str() {
            "21" | "13" | "13D" | "34F" | "90C" | "90D" | "NS" => {}
            "25" => {
                if st.account.is_some() || st.opening.is_some() {
                    return Err(out_of_place("repeated or after the opening balance"));
                }
                st.account = Some(content);
            }
            "28" | "28C" => {
                if st.opening.is_some() {
                    return Err(out_of_place("after the opening balance"));
                }
                st.number = content;
            }
            "60F" | "60M" => {
                if st.opening.is_some() {
                    return Err(out_of_place("repeated"));
                }
                if st.account.is_none() {
                    return Err(fatal(format!(
                        "statement \"{}\" (line {}) has no account identification (:25:) before its opening balance",
                        st.reference, st.line
                    )));
                }
                let (currency, date, _) =
                    balance(&content).map_err(|e| fatal(format!("line {line}: :{tag}: {e}")))?;
                st.opening = Some((currency, date));
            }
            "61" => {
                if st.opening.is_none() {
                    return Err(out_of_place("before the opening balance (:60F:)"));
                }
                if st.closed {
                    return Err(out_of_place("after the closing balance"));
                }
                self.flush_pending();
                if let Some(st) = self.statement.as_mut() {
                    st.transactions += 1;
                    st.pending = Some(Tx {
                        line,
                        parsed: parse_61(&lines),
                        info: None,
                    });
                }
            }
            "86" => {
                if let Some(tx) = st.pending.as_mut() {
                    // Some banks split the information over several :86: fields: keep them all.
                    let text: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
                    if let Some(more) = non_empty(&text.join("\n")) {
                        tx.info = Some(match tx.info.take() {
                            Some(before) => format!("{before}\n{more}"),
                            None => more,
                        });
                    }
                }
                // Otherwise statement-level information: not a record.
            }
            "62F" | "62M" => {
                if st.opening.is_none() {
                    return Err(out_of_place("before the opening balance (:60F:)"));
                }
                balance(&content).map_err(|e| fatal(format!("line {line}: :{tag}: {e}")))?;
                self.flush_pending();
                if let Some(st) = self.statement.as_mut() {
                    st.closed = true;
                }
            }
            "64" | "65" => {
                if !st.closed {
                    return Err(out_of_place("before the closing balance"));
                }
            }
            other => return Err(fatal(format!("line {line}: unknown tag :{other}:"))),
        }
        Ok(())
    }
}

fn read<R: BufRead>(
    mut input: R,
    each: impl FnMut(Result<ImportedRecord, Vec<RowError>>),
) -> Result<(), ImportError> {
    let mut parser = Parser {
        each,
        statement: None,
        statements: 0,
    };
    let mut current: Option<Field> = None;
    let mut raw = Vec::new();
    let mut line_no = 0u64;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        line_no += 1;
        let mut line = decode_line(&raw);
        if let Some(i) = line.find("{4:") {
            line = line[i + 3..].to_string();
        }
        let trimmed = line.trim();
        let after_closing = parser.statement.as_ref().is_some_and(|s| s.closed);
        if trimmed == "-"
            || trimmed.starts_with("-}")
            || (after_closing && trimmed.starts_with('-'))
        {
            if let Some(f) = current.take() {
                parser.field(f)?;
            }
            parser.end_statement()?;
            continue;
        }
        if let Some((tag, rest)) = tag_of(trimmed) {
            if let Some(f) = current.take() {
                parser.field(f)?;
            }
            current = Some(Field {
                tag: tag.to_string(),
                line: line_no,
                lines: vec![rest.to_string()],
            });
        } else if let Some(f) = current.as_mut() {
            f.lines.push(line.trim_end().to_string());
        }
        // Lines before the first field of a message (headers) are ignored.
    }
    if let Some(f) = current.take() {
        parser.field(f)?;
    }
    parser.end_statement()?;
    if parser.statements == 0 {
        return Err(fatal("no MT940 statement found (no :20: field)"));
    }
    Ok(())
}

/// Imports an MT940 file: every `:61:` of every statement, in file order.
pub fn import_mt940<R: BufRead, F: FnMut(ImportedRecord)>(
    input: R,
    policy: OnError,
    sink: F,
) -> Result<ImportReport, ImportError> {
    let mut driver = Driver::new(policy, sink);
    read(input, |outcome| driver.row(outcome))?;
    driver.finish()
}

/// All records of an MT940 file, or the first failure (any bad transaction rejects the file).
pub fn parse_mt940(input: &[u8]) -> Result<Vec<ImportedRecord>, ImportError> {
    let mut out = Vec::new();
    import_mt940(input, OnError::Reject, |r| out.push(r))?;
    Ok(out)
}
