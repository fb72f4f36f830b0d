//! camt.053 and MT940 importers, on fixtures written for these tests (tests/fixtures/).

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sources::{import_camt053, import_mt940, parse_camt053, parse_mt940, ImportError, OnError};

const CAMT_V2: &[u8] = include_bytes!("fixtures/camt053_v2_two_statements.xml");
const CAMT_V8: &[u8] = include_bytes!("fixtures/camt053_v8_prefixed.xml");
const MT940_BLOCKS: &[u8] = include_bytes!("fixtures/mt940_swift_blocks_crlf.sta");
const MT940_TWO: &[u8] = include_bytes!("fixtures/mt940_two_statements.sta");

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn date(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn format_message(e: ImportError) -> String {
    e.to_string()
}

#[test]
fn camt053_v2_entries_of_all_statements() {
    let recs = parse_camt053(CAMT_V2).unwrap();
    assert_eq!(recs.len(), 3);

    let a = &recs[0].record;
    assert_eq!(a.id, "E-1");
    assert_eq!(a.amount, d("1250.50"));
    assert_eq!(a.currency.as_str(), "EUR");
    assert_eq!(a.booking_date, date(2024, 3, 1));
    assert_eq!(a.value_date, Some(date(2024, 3, 2)));
    assert_eq!(a.reference.as_deref(), Some("INV-2024-001"));
    assert_eq!(a.counterparty.as_deref(), Some("Acme & Sons GmbH"));
    assert_eq!(a.description.as_deref(), Some("Invoice 2024-001 thank you"));
    assert_eq!(recs[0].row, 1);

    let b = &recs[1].record;
    assert_eq!(b.id, "BANKREF-2");
    assert_eq!(b.amount, d("-99.9"));
    // NOTPROVIDED end-to-end id is skipped in favour of the bank's reference.
    assert_eq!(b.reference.as_deref(), Some("BANKREF-2"));
    assert_eq!(b.counterparty.as_deref(), Some("Office Supplies SA"));
    assert_eq!(b.description.as_deref(), Some("Card payment"));

    let c = &recs[2].record;
    assert_eq!(c.id, "STMT-B/1");
    assert_eq!(c.currency.as_str(), "USD");
    assert_eq!(c.amount, d("10"));
    assert_eq!(c.booking_date, date(2024, 3, 4));
    assert_eq!(c.value_date, None);
    assert_eq!(c.reference.as_deref(), Some("Refund 77"));
    assert_eq!(recs[2].row, 3);

    // Stable fingerprints on re-import.
    let again = parse_camt053(CAMT_V2).unwrap();
    let fp: Vec<_> = recs.iter().map(|r| &r.fingerprint).collect();
    let fp2: Vec<_> = again.iter().map(|r| &r.fingerprint).collect();
    assert_eq!(fp, fp2);
}

#[test]
fn camt053_v8_with_prefixes_and_party_wrappers() {
    let recs = parse_camt053(CAMT_V8).unwrap();
    assert_eq!(recs.len(), 1);
    let r = &recs[0].record;
    assert_eq!(r.id, "SVC-8");
    assert_eq!(r.amount, d("-42.00"));
    assert_eq!(r.booking_date, date(2024, 4, 30));
    assert_eq!(r.value_date, Some(date(2024, 5, 2)));
    assert_eq!(r.reference.as_deref(), Some("RF18539007547034"));
    assert_eq!(r.counterparty.as_deref(), Some("Energy Co"));
    assert_eq!(r.description.as_deref(), Some("Direct debit May"));
}

#[test]
fn camt053_structural_errors_are_clear() {
    let no_stmt = br#"<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>X</MsgId></GrpHdr></BkToCstmrStmt></Document>"#;
    let e = format_message(parse_camt053(no_stmt).unwrap_err());
    assert_eq!(e, "camt.053: the document holds no statement (<Stmt>)");

    let not_camt = br#"<Document><BkToCstmrDbtCdtNtfctn/></Document>"#;
    assert!(
        format_message(parse_camt053(not_camt).unwrap_err()).contains("not a camt.053 statement")
    );

    let wrong_root = br#"<html><body/></html>"#;
    assert!(format_message(parse_camt053(wrong_root).unwrap_err()).contains("not <Document>"));

    let truncated = &CAMT_V2[..CAMT_V2.len() / 2];
    assert!(parse_camt053(truncated).is_err());

    let mismatched = br#"<Document><BkToCstmrStmt><Stmt></Ntry></BkToCstmrStmt></Document>"#;
    assert!(format_message(parse_camt053(mismatched).unwrap_err()).contains("not well-formed"));

    assert!(parse_camt053(b"").is_err());
    assert!(parse_camt053(b"not xml at all").is_err());
}

#[test]
fn camt053_bad_entries_are_row_errors() {
    let xml = r#"<Document><BkToCstmrStmt><Stmt><Id>S</Id>
        <Ntry><Amt Ccy="EUR">12,3x</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2024-01-01</Dt></BookgDt></Ntry>
        <Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2024-01-02</Dt></BookgDt></Ntry>
        <Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>XXXX</CdtDbtInd><BookgDt><Dt>2024-13-01</Dt></BookgDt></Ntry>
        </Stmt></BkToCstmrStmt></Document>"#;
    let mut got = Vec::new();
    let report = import_camt053(xml.as_bytes(), OnError::Skip, |r| got.push(r)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.id, "S/2");
    assert_eq!(report.rows_read, 3);
    assert_eq!(report.rows_skipped, 2);
    assert_eq!(report.errors_total, 3);
    assert_eq!(
        report.errors[0].to_string(),
        r#"row 1, column "Ntry/Amt": "12,3x" is not a decimal number"#
    );
    assert_eq!(
        report.errors[1].to_string(),
        r#"row 3, column "Ntry/CdtDbtInd": "XXXX" is not CRDT or DBIT"#
    );
    assert_eq!(
        report.errors[2].to_string(),
        r#"row 3, column "Ntry/BookgDt": "2024-13-01" is not an ISO date"#
    );

    match import_camt053(xml.as_bytes(), OnError::Reject, |_| {}) {
        Err(ImportError::Rejected(report)) => assert_eq!(report.errors_total, 3),
        other => panic!("expected rejection, got {other:?}"),
    }
}

#[test]
fn mt940_swift_blocks_crlf_and_marks() {
    let recs = parse_mt940(MT940_BLOCKS).unwrap();
    assert_eq!(recs.len(), 4);
    let sum: Decimal = recs.iter().map(|r| r.record.amount).sum();
    // Opening 1000,00 + movements = closing 260,25.
    assert_eq!(d("1000.00") + sum, d("260.25"));

    let a = &recs[0].record;
    assert_eq!(a.id, "RECON-STMT-1/00042/001/20231229/1");
    assert_eq!(a.amount, d("250.75"));
    assert_eq!(a.currency.as_str(), "EUR");
    assert_eq!(a.value_date, Some(date(2023, 12, 29)));
    // Entry date 0102 lies in the next year.
    assert_eq!(a.booking_date, date(2024, 1, 2));
    assert_eq!(a.reference.as_deref(), Some("INV-7781"));
    assert_eq!(
        a.description.as_deref(),
        Some("Payment invoice 7781\nCustomer Alpha")
    );
    assert_eq!(recs[0].row, 6);

    let b = &recs[1].record;
    assert_eq!(b.amount, d("-1000"));
    assert_eq!(b.booking_date, date(2023, 12, 30));
    assert_eq!(b.reference.as_deref(), Some("BR-0002"));
    assert_eq!(b.counterparty.as_deref(), Some("Landlord Real Estate BV"));

    // RD: reversal of a debit, i.e. a credit; no reference at all.
    let c = &recs[2].record;
    assert_eq!(c.amount, d("12.5"));
    assert_eq!(c.reference, None);
    assert_eq!(c.description, None);

    // RC: reversal of a credit, i.e. a debit; the supplementary details stand in for :86:.
    let e = &recs[3].record;
    assert_eq!(e.amount, d("-3.00"));
    assert_eq!(e.reference.as_deref(), Some("REV-1"));
    assert_eq!(e.description.as_deref(), Some("reversal of a credit"));
}

#[test]
fn mt940_multiple_statements_headers_and_funds_codes() {
    let recs = parse_mt940(MT940_TWO).unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0].record.amount, d("20.00"));
    assert_eq!(recs[0].record.currency.as_str(), "CHF");
    assert_eq!(recs[0].record.reference.as_deref(), Some("ORDER-1"));
    assert_eq!(
        recs[0].record.description.as_deref(),
        Some("First line\nsecond line")
    );
    assert_eq!(recs[1].record.amount, d("-5.25"));
    // The statement-level :86: after :62F: is not attached to the last transaction.
    assert_eq!(recs[1].record.description, None);
    assert_eq!(recs[2].record.amount, d("1"));
    assert_eq!(recs[2].record.id, "DAILY/2/1/20240106/1");
    assert_ne!(recs[0].record.id, recs[2].record.id);
    // Same content, same fingerprints; ids make the lines distinct.
    assert_eq!(
        parse_mt940(MT940_TWO).unwrap()[1].fingerprint,
        recs[1].fingerprint
    );
}

fn mt940_error(text: &str) -> String {
    parse_mt940(text.as_bytes()).unwrap_err().to_string()
}

#[test]
fn mt940_broken_files_fail_clearly() {
    let head = ":20:X\n:25:ACC\n:28C:1\n:60F:C240101EUR0,\n";
    assert_eq!(
        mt940_error(&format!(
            "{head}:61:240101C500NTRFNONREF\n:62F:C240101EUR500,\n-\n"
        )),
        r#"import rejected: 1 bad row(s), first: row 5, column ":61:": amount "500" has no decimal comma"#
    );
    assert!(mt940_error(&format!(
        "{head}:61:240230C5,NTRFNONREF\n:62F:C240101EUR5,\n"
    ))
    .contains(r#""240230" is not a valid value date (YYMMDD)"#));
    assert!(mt940_error(&format!(
        "{head}:61:240101X5,NTRFNONREF\n:62F:C240101EUR5,\n"
    ))
    .contains("debit/credit mark"));
    assert!(
        mt940_error(&format!("{head}:61:240101C5,00\n:62F:C240101EUR5,\n"))
            .contains("transaction type")
    );
    assert_eq!(
        mt940_error(&format!(
            "{head}:61:240101C5,NTRFNONREF\n:12:what\n:62F:C240101EUR5,\n"
        )),
        "MT940: line 6: unknown tag :12:"
    );
    assert!(mt940_error(&format!(
        "{head}:61:240101C5,NTRFNONREF\n:25:again\n:62F:C240101EUR5,\n"
    ))
    .contains("line 6: :25: repeated or after the opening balance"));
    assert!(
        mt940_error(&format!("{head}:61:240101C5,NTRFNONREF\n")).contains("has no closing balance")
    );
    assert!(
        mt940_error(":20:X\n:28C:1\n:60F:C240101EUR0,\n:62F:C240101EUR0,\n")
            .contains("no account identification")
    );
    assert!(
        mt940_error(":20:X\n:25:A\n:60F:C24010EUR0,\n:62F:C240101EUR0,\n")
            .contains("is not a balance")
    );
    assert_eq!(
        mt940_error("1\n2\n3\n"),
        "MT940: no MT940 statement found (no :20: field)"
    );
    assert_eq!(
        mt940_error(""),
        "MT940: no MT940 statement found (no :20: field)"
    );
    assert!(mt940_error(":25:ACC\n").contains("outside a statement"));
}

#[test]
fn mt940_non_utf8_lines_fall_back_to_windows_1252_and_skip_policy() {
    let mut bytes =
        b":20:X\n:25:ACC\n:28C:1\n:60F:C240101EUR0,\n:61:240101C5,NTRFNONREF\n:86:Caf".to_vec();
    bytes.push(0xE9); // é in windows-1252
    bytes.extend_from_slice(b"\n:61:240101C5NTRFNONREF\n:62F:C240101EUR5,\n-\n");
    let mut got = Vec::new();
    let report = import_mt940(&bytes[..], OnError::Skip, |r| got.push(r)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.description.as_deref(), Some("Café"));
    assert_eq!(report.rows_read, 2);
    assert_eq!(report.rows_skipped, 1);
    assert_eq!(report.errors[0].row, 7);
}

mod never_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn mt940_on_damaged_input(cut in 0usize..600, pos in 0usize..600, byte in any::<u8>()) {
            for base in [MT940_BLOCKS, MT940_TWO] {
                let mut bytes = base[..cut.min(base.len())].to_vec();
                if !bytes.is_empty() {
                    let i = pos % bytes.len();
                    bytes[i] = byte;
                }
                let _ = parse_mt940(&bytes);
            }
        }

        #[test]
        fn camt053_on_damaged_input(cut in 0usize..3000, pos in 0usize..3000, byte in any::<u8>()) {
            for base in [CAMT_V2, CAMT_V8] {
                let mut bytes = base[..cut.min(base.len())].to_vec();
                if !bytes.is_empty() {
                    let i = pos % bytes.len();
                    bytes[i] = byte;
                }
                let _ = parse_camt053(&bytes);
            }
        }

        #[test]
        fn mt940_on_random_lines(lines in proptest::collection::vec("(:[0-9]{2}[A-Z]?:)?[ -~]{0,30}", 0..20)) {
            let text = lines.join("\n");
            let _ = parse_mt940(text.as_bytes());
        }
    }
}
