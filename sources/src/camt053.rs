//! ISO 20022 camt.053 (Bank-to-Customer Statement), versions .001.02 to .001.08.
//!
//! Elements are matched by local name, so any namespace (or none) is accepted. The document is
//! streamed: only the entry (`Ntry`) being read is held as a small tree. Every `Ntry` of every
//! `Stmt` becomes a record:
//!
//! | record field   | source (first present wins)                                                |
//! |----------------|----------------------------------------------------------------------------|
//! | `amount`       | `Ntry/Amt`, negative when `CdtDbtInd` is `DBIT`                             |
//! | `currency`     | `Ntry/Amt/@Ccy`, else the statement's `Acct/Ccy`                           |
//! | `booking_date` | `BookgDt/Dt`, `BookgDt/DtTm` (its date as written), else `ValDt`            |
//! | `value_date`   | `ValDt/Dt`, `ValDt/DtTm`                                                    |
//! | `reference`    | `TxDtls/Refs/EndToEndId` (unless `NOTPROVIDED`), `TxDtls/RmtInf/Strd/CdtrRefInf/Ref`, `Ntry/AcctSvcrRef`, `TxDtls/Refs/AcctSvcrRef`, first `RmtInf/Ustrd` |
//! | `counterparty` | credit: `RltdPties/Dbtr` name (`Nm` or, from v8, `Pty/Nm`), else `UltmtDbtr`; debit: `Cdtr`, else `UltmtCdtr` |
//! | `description`  | `AddtlNtryInf`, else the `RmtInf/Ustrd` lines, else `TxDtls/AddtlTxInf`     |
//! | `id`           | `NtryRef`, `AcctSvcrRef`, else `<Stmt/Id>/<position in statement>`         |
//!
//! `TxDtls` is the first transaction of `NtryDtls` (a batch entry's later transactions are not
//! split into records: the entry is what the account was booked with). `ImportedRecord::row` and
//! row errors number the entries 1, 2, … across the file. A file that is not well-formed XML, is
//! not a camt.053 document or holds no statement fails as a whole ([`ImportError::Format`]); an
//! entry with a bad or missing amount, indicator, currency or date is a row error.

use std::io::BufRead;

use chrono::NaiveDate;
use domain::money::Currency;
use domain::records::Record;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};
use rust_decimal::Decimal;

use crate::error::ImportError;
use crate::fingerprint::fingerprint;
use crate::report::{Driver, ImportReport, ImportedRecord, OnError, RowError};
use crate::text::non_empty;

const FORMAT: &str = "camt.053";

/// A small element tree for one entry.
#[derive(Debug, Default)]
struct Node {
    name: String,
    ccy: Option<String>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, p| n.child(p))
    }

    /// Trimmed non-empty text at `path`.
    fn text_at(&self, path: &[&str]) -> Option<String> {
        self.at(path).and_then(|n| non_empty(&n.text))
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

struct Statement {
    id: Option<String>,
    account_currency: Option<String>,
    entries: u64,
}

/// Reads `input` and calls `each` with every entry's record or errors, in document order.
fn read<R: BufRead>(
    input: R,
    mut each: impl FnMut(Result<ImportedRecord, Vec<RowError>>),
) -> Result<(), ImportError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    // Local names of the open elements outside an entry.
    let mut path: Vec<String> = Vec::new();
    // The entry being read: its open elements (the entry itself first).
    let mut entry: Vec<Node> = Vec::new();
    let mut statement: Option<Statement> = None;
    let mut statements = 0u64;
    let mut entry_no = 0u64;
    let mut text = String::new();
    let mut seen_root = false;

    let xml_error = |reader: &Reader<R>, e: &dyn std::fmt::Display| {
        ImportError::format(
            FORMAT,
            format!(
                "not well-formed XML near byte {}: {e}",
                reader.buffer_position()
            ),
        )
    };

    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(&reader, &e))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let name = e.local_name().as_ref().to_string();
                if !seen_root {
                    seen_root = true;
                    if name != "Document" {
                        return Err(ImportError::format(
                            FORMAT,
                            format!("the root element is <{name}>, not <Document>: this is not an ISO 20022 document"),
                        ));
                    }
                }
                if !entry.is_empty() || (name == "Ntry" && path.last().is_some_and(|p| p == "Stmt"))
                {
                    let ccy = if name == "Amt" {
                        e.try_get_attribute("Ccy").ok().flatten().and_then(|a| {
                            a.normalized_value(XmlVersion::Implicit1_0)
                                .ok()
                                .map(|v| v.into_owned())
                        })
                    } else {
                        None
                    };
                    entry.push(Node {
                        name,
                        ccy,
                        ..Node::default()
                    });
                    if is_empty {
                        close_node(&mut entry, &mut statement, &mut entry_no, &mut each);
                    }
                    continue;
                }
                if path.len() == 1 && name != "BkToCstmrStmt" {
                    return Err(ImportError::format(
                        FORMAT,
                        format!("<Document> holds <{name}>, not <BkToCstmrStmt>: this is not a camt.053 statement"),
                    ));
                }
                if name == "Stmt" && path.last().is_some_and(|p| p == "BkToCstmrStmt") {
                    statements += 1;
                    statement = Some(Statement {
                        id: None,
                        account_currency: None,
                        entries: 0,
                    });
                }
                text.clear();
                if !is_empty {
                    path.push(name);
                }
            }
            Event::End(_) => {
                if !entry.is_empty() {
                    close_node(&mut entry, &mut statement, &mut entry_no, &mut each);
                    continue;
                }
                let closed = path.pop();
                if let (Some(st), Some(closed)) = (statement.as_mut(), closed.as_deref()) {
                    let parent = path.last().map(String::as_str);
                    let grand = path
                        .len()
                        .checked_sub(2)
                        .and_then(|i| path.get(i))
                        .map(String::as_str);
                    if closed == "Id" && parent == Some("Stmt") {
                        st.id = non_empty(&text);
                    } else if closed == "Ccy" && parent == Some("Acct") && grand == Some("Stmt") {
                        st.account_currency = non_empty(&text);
                    }
                }
                text.clear();
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match entry.last_mut() {
                    Some(n) => n.text.push_str(&content),
                    None => text.push_str(&content),
                }
            }
            Event::CData(t) => {
                let content = t.xml10_content();
                match entry.last_mut() {
                    Some(n) => n.text.push_str(&content),
                    None => text.push_str(&content),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| xml_error(&reader, &e))? {
                    Some(c) => c,
                    None => match r.xml10_content().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => {
                            return Err(ImportError::format(
                                FORMAT,
                                format!(
                                    "unknown XML entity &{other}; near byte {}",
                                    reader.buffer_position()
                                ),
                            ))
                        }
                    },
                };
                match entry.last_mut() {
                    Some(n) => n.text.push(resolved),
                    None => text.push(resolved),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !path.is_empty() || !entry.is_empty() {
        return Err(ImportError::format(
            FORMAT,
            "the file ends inside an element: it is truncated",
        ));
    }
    if !seen_root {
        return Err(ImportError::format(FORMAT, "the file holds no XML element"));
    }
    if statements == 0 {
        return Err(ImportError::format(
            FORMAT,
            "the document holds no statement (<Stmt>)",
        ));
    }
    Ok(())
}

/// Closes the innermost open node of the entry; when the entry itself closes, converts it.
fn close_node(
    entry: &mut Vec<Node>,
    statement: &mut Option<Statement>,
    entry_no: &mut u64,
    each: &mut impl FnMut(Result<ImportedRecord, Vec<RowError>>),
) {
    let Some(node) = entry.pop() else { return };
    match entry.last_mut() {
        Some(parent) => parent.children.push(node),
        None => {
            *entry_no += 1;
            if let Some(st) = statement.as_mut() {
                st.entries += 1;
                each(convert_entry(&node, st, *entry_no));
            }
        }
    }
}

fn date_of(node: Option<&Node>) -> Option<Result<NaiveDate, String>> {
    let node = node?;
    let raw = node.text_at(&["Dt"]).or_else(|| node.text_at(&["DtTm"]))?;
    let date = raw
        .get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    Some(date.ok_or_else(|| format!("\"{raw}\" is not an ISO date")))
}

fn party_name(parties: Option<&Node>, role: &str) -> Option<String> {
    let p = parties?.child(role)?;
    p.text_at(&["Nm"]).or_else(|| p.text_at(&["Pty", "Nm"]))
}

fn convert_entry(n: &Node, st: &Statement, entry_no: u64) -> Result<ImportedRecord, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut err =
        |col: &str, msg: String| errors.push(RowError::new(entry_no, Some(col.to_string()), msg));

    let amt = n.child("Amt");
    let magnitude = match amt.and_then(|a| non_empty(&a.text)) {
        None => {
            err("Ntry/Amt", "the entry has no amount".to_string());
            None
        }
        Some(t) if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            match Decimal::from_str_exact(&t) {
                Ok(d) => Some(d),
                Err(_) => {
                    err("Ntry/Amt", format!("\"{t}\" is not a decimal number"));
                    None
                }
            }
        }
        Some(t) => {
            err("Ntry/Amt", format!("\"{t}\" is not a decimal number"));
            None
        }
    };
    let currency_raw = amt
        .and_then(|a| a.ccy.clone())
        .or_else(|| st.account_currency.clone());
    let currency = match currency_raw {
        Some(c) => match Currency::parse(&c) {
            Ok(c) => Some(c),
            Err(_) => {
                err(
                    "Ntry/Amt/@Ccy",
                    format!("\"{c}\" is not a three-letter ISO 4217 currency code"),
                );
                None
            }
        },
        None => {
            err(
                "Ntry/Amt/@Ccy",
                "the entry's amount has no currency".to_string(),
            );
            None
        }
    };
    let credit = match n.text_at(&["CdtDbtInd"]).as_deref() {
        Some("CRDT") => Some(true),
        Some("DBIT") => Some(false),
        Some(other) => {
            err("Ntry/CdtDbtInd", format!("\"{other}\" is not CRDT or DBIT"));
            None
        }
        None => {
            err(
                "Ntry/CdtDbtInd",
                "the entry has no credit/debit indicator".to_string(),
            );
            None
        }
    };
    let booking = match date_of(n.child("BookgDt")) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            err("Ntry/BookgDt", e);
            None
        }
        None => None,
    };
    let value_date = match date_of(n.child("ValDt")) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            err("Ntry/ValDt", e);
            None
        }
        None => None,
    };
    let booking_date = booking.or(value_date);
    if booking_date.is_none() && n.child("BookgDt").is_none() && n.child("ValDt").is_none() {
        err(
            "Ntry/BookgDt",
            "the entry has neither a booking date nor a value date".to_string(),
        );
    }

    let tx = n.at(&["NtryDtls", "TxDtls"]);
    let tx_text = |path: &[&str]| tx.and_then(|t| t.text_at(path));
    let ustrd: Vec<String> = tx
        .and_then(|t| t.child("RmtInf"))
        .map(|r| r.all("Ustrd").filter_map(|u| non_empty(&u.text)).collect())
        .unwrap_or_default();
    let reference = tx_text(&["Refs", "EndToEndId"])
        .filter(|r| !r.eq_ignore_ascii_case("NOTPROVIDED"))
        .or_else(|| tx_text(&["RmtInf", "Strd", "CdtrRefInf", "Ref"]))
        .or_else(|| n.text_at(&["AcctSvcrRef"]))
        .or_else(|| tx_text(&["Refs", "AcctSvcrRef"]))
        .or_else(|| ustrd.first().cloned());
    let parties = tx.and_then(|t| t.child("RltdPties"));
    let counterparty = match credit {
        Some(true) => party_name(parties, "Dbtr").or_else(|| party_name(parties, "UltmtDbtr")),
        Some(false) => party_name(parties, "Cdtr").or_else(|| party_name(parties, "UltmtCdtr")),
        None => None,
    };
    let description = n
        .text_at(&["AddtlNtryInf"])
        .or_else(|| {
            if ustrd.is_empty() {
                None
            } else {
                Some(ustrd.join(" "))
            }
        })
        .or_else(|| tx_text(&["AddtlTxInf"]));
    let id = n
        .text_at(&["NtryRef"])
        .or_else(|| n.text_at(&["AcctSvcrRef"]))
        .unwrap_or_else(|| {
            let stmt = st.id.clone().unwrap_or_else(|| "stmt".to_string());
            format!("{stmt}/{}", st.entries)
        });

    match (magnitude, currency, credit, booking_date) {
        (Some(m), Some(currency), Some(credit), Some(booking_date)) if errors.is_empty() => {
            let record = Record {
                id: id.into(),
                booking_date,
                value_date,
                amount: if credit { m } else { -m },
                currency,
                reference: reference.map(Into::into),
                counterparty: counterparty.map(Into::into),
                description: description.map(Into::into),
            };
            Ok(ImportedRecord {
                fingerprint: fingerprint(&record),
                record,
                row: entry_no,
            })
        }
        _ => {
            if errors.is_empty() {
                errors.push(RowError::new(entry_no, None, "the entry could not be read"));
            }
            Err(errors)
        }
    }
}

/// Imports a camt.053 document: every entry of every statement, in document order.
pub fn import_camt053<R: BufRead, F: FnMut(ImportedRecord)>(
    input: R,
    policy: OnError,
    sink: F,
) -> Result<ImportReport, ImportError> {
    let mut driver = Driver::new(policy, sink);
    read(input, |outcome| driver.row(outcome))?;
    driver.finish()
}

/// All records of a camt.053 document, or the first failure (any bad entry rejects the file).
pub fn parse_camt053(input: &[u8]) -> Result<Vec<ImportedRecord>, ImportError> {
    let mut out = Vec::new();
    import_camt053(input, OnError::Reject, |r| out.push(r))?;
    Ok(out)
}
