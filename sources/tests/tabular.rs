//! CSV and XLSX importers through the public API.

use std::io::{Cursor, Read};
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sources::{
    import_csv, import_xlsx, preview_csv, preview_xlsx, sha256_hex, CsvOptions, HashingReader,
    ImportError, ImportReport, ImportedRecord, Mapping, OnError, SheetRef, XlsxOptions,
    MAX_LISTED_ERRORS,
};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn date(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn mapping(json: &str) -> Mapping {
    Mapping::from_json(json).unwrap_or_else(|e| panic!("mapping: {e:?}"))
}

fn csv(
    input: &[u8],
    options: &CsvOptions,
    m: &Mapping,
    policy: OnError,
) -> (Result<ImportReport, ImportError>, Vec<ImportedRecord>) {
    let mut out = Vec::new();
    let res = import_csv(input, options, m, policy, |r| out.push(r));
    (res, out)
}

const BASIC: &str = "Id,Date,Amount,Currency,Reference,Payee,Memo\n\
                     T1,2024-01-31,12.50,EUR,INV-1,\"Acme, Inc.\",\"two\nlines\"\n\
                     T2,2024-02-01,-3,usd,,,\n";

fn basic_mapping() -> Mapping {
    mapping(
        r#"{"id": "Id", "booking_date": "Date", "amount": "Amount", "currency": "Currency",
            "reference": "Reference", "counterparty": "Payee", "description": "Memo"}"#,
    )
}

#[test]
fn csv_basic_with_header() {
    let (res, recs) = csv(
        BASIC.as_bytes(),
        &CsvOptions::default(),
        &basic_mapping(),
        OnError::Reject,
    );
    let report = res.unwrap();
    assert_eq!(report.rows_read, 2);
    assert_eq!(report.records_ok, 2);
    assert_eq!(recs.len(), 2);
    let a = &recs[0];
    assert_eq!(a.row, 2);
    assert_eq!(a.record.id, "T1");
    assert_eq!(a.record.booking_date, date(2024, 1, 31));
    assert_eq!(a.record.amount, d("12.50"));
    assert_eq!(a.record.counterparty.as_deref(), Some("Acme, Inc."));
    assert_eq!(a.record.description.as_deref(), Some("two\nlines"));
    assert_eq!(a.fingerprint.len(), 64);
    let b = &recs[1];
    assert_eq!(b.row, 3);
    assert_eq!(b.record.currency.as_str(), "USD");
    assert_eq!(b.record.reference, None);
}

#[test]
fn csv_utf8_bom_and_utf16_with_bom() {
    let text = "Date,Amount,Payee\n2024-01-31,1.5,Café Zürich\n";
    let m = mapping(
        r#"{"booking_date": "Date", "amount": "Amount", "counterparty": "Payee", "fixed_currency": "EUR"}"#,
    );
    let expected = {
        let (res, recs) = csv(text.as_bytes(), &CsvOptions::default(), &m, OnError::Reject);
        res.unwrap();
        recs
    };
    assert_eq!(
        expected[0].record.counterparty.as_deref(),
        Some("Café Zürich")
    );

    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(text.as_bytes());
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    for (name, bytes) in [("utf-8 bom", bom), ("utf-16le", le), ("utf-16be", be)] {
        let (res, recs) = csv(&bytes, &CsvOptions::default(), &m, OnError::Reject);
        res.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(recs, expected, "{name}");
    }
}

/// `Date;Amount;Payee` files (decimal comma, EUR) for the encoding tests.
fn payee_mapping() -> Mapping {
    mapping(
        r#"{"booking_date": "Date", "amount": "Amount", "counterparty": "Payee", "fixed_currency": "EUR", "decimal": {"decimal_separator": ","}}"#,
    )
}

#[test]
fn csv_windows_1252_and_invalid_utf8_hint() {
    let mut bytes = b"Date;Amount;Payee\n2024-01-31;1,5;Caf".to_vec();
    bytes.push(0xE9);
    bytes.extend_from_slice(b" \x80\n");
    let m = payee_mapping();
    let options = CsvOptions {
        encoding: Some("windows-1252".into()),
        ..CsvOptions::semicolon()
    };
    let (res, recs) = csv(&bytes, &options, &m, OnError::Reject);
    res.unwrap();
    assert_eq!(recs[0].record.counterparty.as_deref(), Some("Café €"));

    let latin1 = CsvOptions {
        encoding: Some("latin1".into()),
        ..CsvOptions::semicolon()
    };
    let (res, _) = csv(&bytes, &latin1, &m, OnError::Reject);
    res.unwrap();

    let (res, _) = csv(&bytes, &CsvOptions::semicolon(), &m, OnError::Reject);
    match res {
        Err(ImportError::Rejected(r)) => {
            assert_eq!(r.errors[0].row, 2);
            assert!(
                r.errors[0].message.contains("not valid UTF-8"),
                "{}",
                r.errors[0]
            );
            assert!(r.errors[0].message.contains("windows-1252"));
        }
        other => panic!("{other:?}"),
    }

    let bad = CsvOptions {
        encoding: Some("klingon".into()),
        ..CsvOptions::default()
    };
    match csv(&bytes, &bad, &m, OnError::Reject).0 {
        Err(ImportError::Mapping(errs)) => assert_eq!(errs[0].path, "csv.encoding"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn csv_a_utf8_bom_wins_over_a_configured_encoding() {
    let mut bytes = b"\xEF\xBB\xBFDate;Amount;Payee\n2024-01-31;1,5;".to_vec();
    bytes.extend_from_slice("Café".as_bytes());
    bytes.push(b'\n');
    let m = payee_mapping();
    let options = CsvOptions {
        encoding: Some("windows-1252".into()),
        ..CsvOptions::semicolon()
    };
    let (res, recs) = csv(&bytes, &options, &m, OnError::Reject);
    res.unwrap();
    assert_eq!(recs[0].record.counterparty.as_deref(), Some("Café"));
}

#[test]
fn csv_explicit_utf8_reports_invalid_bytes_instead_of_replacing_them() {
    let mut bytes = b"Date;Amount;Payee\n2024-01-31;1,5;Caf".to_vec();
    bytes.push(0xE9);
    bytes.push(b'\n');
    let m = payee_mapping();
    let options = CsvOptions {
        encoding: Some("utf-8".into()),
        ..CsvOptions::semicolon()
    };
    match csv(&bytes, &options, &m, OnError::Reject).0 {
        Err(ImportError::Rejected(r)) => {
            assert_eq!(
                (r.errors[0].row, r.errors[0].column.as_deref()),
                (2, Some("Payee"))
            );
            assert!(
                r.errors[0].message.contains("not valid UTF-8"),
                "{}",
                r.errors[0]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn csv_semicolon_with_european_decimals() {
    let text = "Buchungstag;Valuta;Betrag;Verwendungszweck\n\
                31.01.2024;01.02.2024;1.234,56;Miete\n\
                01.02.2024;;-12,30;Kaffee\n\
                02.02.2024;;(1.000,00);Storno\n\
                03.02.2024;;5,00-;Gebühr\n";
    let m = mapping(
        r#"{"booking_date": "Buchungstag", "value_date": "Valuta", "amount": "Betrag",
            "description": "Verwendungszweck", "fixed_currency": "EUR", "date_format": "%d.%m.%Y",
            "decimal": {"decimal_separator": ",", "thousands_separator": "."}}"#,
    );
    let (res, recs) = csv(
        text.as_bytes(),
        &CsvOptions::semicolon(),
        &m,
        OnError::Reject,
    );
    res.unwrap();
    let amounts: Vec<Decimal> = recs.iter().map(|r| r.record.amount).collect();
    assert_eq!(
        amounts,
        [d("1234.56"), d("-12.30"), d("-1000.00"), d("-5.00")]
    );
    assert_eq!(recs[0].record.value_date, Some(date(2024, 2, 1)));
    assert_eq!(recs[1].record.value_date, None);
    assert_eq!(recs[0].record.id, "2", "no id column: the row number");
    assert_eq!(recs[0].record.currency.as_str(), "EUR");
}

#[test]
fn csv_debit_and_credit_columns() {
    let text = "Date,Debit,Credit,Ccy\n2024-01-01,10.00,,EUR\n2024-01-02,,25.5,EUR\n2024-01-03,1,3,EUR\n2024-01-04,,,EUR\n";
    let m = mapping(
        r#"{"booking_date": "Date", "debit": "Debit", "credit": "Credit", "currency": "Ccy"}"#,
    );
    let (res, recs) = csv(text.as_bytes(), &CsvOptions::default(), &m, OnError::Skip);
    let report = res.unwrap();
    let amounts: Vec<Decimal> = recs.iter().map(|r| r.record.amount).collect();
    assert_eq!(amounts, [d("-10.00"), d("25.5"), d("2")]);
    assert_eq!(
        report.errors[0].to_string(),
        r#"row 5, column "Debit": both debit ("Debit") and credit ("Credit") are empty"#
    );

    let negated = mapping(
        r#"{"booking_date": "Date", "debit": "Debit", "credit": "Credit", "currency": "Ccy", "negate_amount": true}"#,
    );
    let (_, recs) = csv(
        text.as_bytes(),
        &CsvOptions::default(),
        &negated,
        OnError::Skip,
    );
    assert_eq!(recs[0].record.amount, d("10.00"));
}

#[test]
fn csv_fixed_currency_fills_empty_currency_cells() {
    let text = "Date,Amount,Ccy\n2024-01-01,1,\n2024-01-02,2,CHF\n2024-01-03,3,EURO\n";
    let only_fixed =
        mapping(r#"{"booking_date": "Date", "amount": "Amount", "fixed_currency": "GBP"}"#);
    let (_, recs) = csv(
        text.as_bytes(),
        &CsvOptions::default(),
        &only_fixed,
        OnError::Skip,
    );
    assert!(recs.iter().all(|r| r.record.currency.as_str() == "GBP"));

    let both = mapping(
        r#"{"booking_date": "Date", "amount": "Amount", "currency": "Ccy", "fixed_currency": "GBP"}"#,
    );
    let (res, recs) = csv(
        text.as_bytes(),
        &CsvOptions::default(),
        &both,
        OnError::Skip,
    );
    let cur: Vec<&str> = recs.iter().map(|r| r.record.currency.as_str()).collect();
    assert_eq!(cur, ["GBP", "CHF"]);
    assert_eq!(
        res.unwrap().errors[0].to_string(),
        r#"row 4, column "Ccy": "EURO" is not a three-letter ISO 4217 currency code"#
    );

    let column_only = mapping(r#"{"booking_date": "Date", "amount": "Amount", "currency": "Ccy"}"#);
    let (res, _) = csv(
        text.as_bytes(),
        &CsvOptions::default(),
        &column_only,
        OnError::Skip,
    );
    assert_eq!(
        res.unwrap().errors[0].to_string(),
        r#"row 2, column "Ccy": the currency is empty"#
    );
}

#[test]
fn csv_mapping_column_missing_from_header() {
    let m = mapping(r#"{"booking_date": "Date", "amount": "Betrag", "fixed_currency": "EUR"}"#);
    let (res, recs) = csv(
        BASIC.as_bytes(),
        &CsvOptions::default(),
        &m,
        OnError::Reject,
    );
    assert!(recs.is_empty());
    match res {
        Err(ImportError::Mapping(errs)) => {
            assert_eq!(errs.len(), 1);
            assert_eq!(errs[0].path, "mapping.amount");
            assert!(errs[0].to_string().starts_with(
                r#"mapping.amount: column "Betrag" is not in the header (columns: "Id", "Date""#
            ));
        }
        other => panic!("{other:?}"),
    }
    // Invalid options are reported with their paths too.
    let opts = CsvOptions {
        delimiter: '"',
        ..CsvOptions::default()
    };
    match csv(BASIC.as_bytes(), &opts, &basic_mapping(), OnError::Reject).0 {
        Err(ImportError::Mapping(errs)) => assert_eq!(errs[0].path, "csv.quote"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn csv_bad_date_and_bad_decimal_rows() {
    let text =
        "Date,Amount\n31/01/2024,12.30\n31/02/2024,1\n01/03/2024,\"12,3x\"\n02/03/2024,7\n,\n";
    let m = mapping(
        r#"{"booking_date": "Date", "amount": "Amount", "fixed_currency": "EUR", "date_format": "%d/%m/%Y", "decimal": {"decimal_separator": ","}}"#,
    );
    let (res, recs) = csv(text.as_bytes(), &CsvOptions::default(), &m, OnError::Skip);
    let report = res.unwrap();
    assert_eq!(
        recs.len(),
        1,
        "12.30 is not a number with a decimal comma and no grouping"
    );
    assert_eq!(recs[0].row, 5);
    let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            r#"row 2, column "Amount": "12.30" is not a decimal number (unexpected ".")"#,
            r#"row 3, column "Date": "31/02/2024" is not a date in the format "%d/%m/%Y""#,
            r#"row 4, column "Amount": "12,3x" is not a decimal number (unexpected "x")"#,
        ]
    );
    assert_eq!(report.rows_read, 5);
    assert_eq!(report.rows_blank, 1);
    assert_eq!(report.rows_skipped, 3);
    assert_eq!(report.records_ok, 1);
    assert_eq!(report.errors_total, 3);
}

#[test]
fn csv_skip_versus_reject() {
    let text = "Date,Amount\n2024-01-01,1\n2024-01-02,x\n2024-01-03,3\n2024-01-04,y\n";
    let m = mapping(r#"{"booking_date": "Date", "amount": "Amount", "fixed_currency": "EUR"}"#);

    let (res, recs) = csv(text.as_bytes(), &CsvOptions::default(), &m, OnError::Skip);
    let report = res.unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(
        (report.records_ok, report.rows_skipped, report.errors_total),
        (2, 2, 2)
    );
    let rows: Vec<u64> = report.errors.iter().map(|e| e.row).collect();
    assert_eq!(rows, [3, 5]);

    let (res, recs) = csv(text.as_bytes(), &CsvOptions::default(), &m, OnError::Reject);
    // Records read before the first bad row may have been delivered; none after it.
    assert_eq!(recs.len(), 1);
    match res {
        Err(ImportError::Rejected(report)) => {
            assert_eq!(report.errors_total, 2);
            assert_eq!(report.rows_skipped, 0);
            assert_eq!(report.records_ok, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn csv_error_list_is_capped() {
    let mut text = String::from("Date,Amount\n");
    for _ in 0..1500 {
        text.push_str("2024-01-01,bad\n");
    }
    let m = mapping(r#"{"booking_date": "Date", "amount": "Amount", "fixed_currency": "EUR"}"#);
    match csv(text.as_bytes(), &CsvOptions::default(), &m, OnError::Reject).0 {
        Err(ImportError::Rejected(report)) => {
            assert_eq!(report.errors.len(), MAX_LISTED_ERRORS);
            assert_eq!(report.errors_total, 1500);
            assert_eq!(report.errors.last().map(|e| e.row), Some(1001));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn csv_without_header_uses_indices() {
    let text = "A-1|2024-01-31|'1|000.50'|x\nA-2|2024-02-01|2|y\n";
    // '|' is not an allowed thousands separator.
    assert!(Mapping::from_json(r#"{"booking_date": 1, "amount": 2, "fixed_currency": "EUR", "decimal": {"thousands_separator": "|"}}"#).is_err());
    let m = mapping(
        r#"{"id": 0, "booking_date": 1, "amount": 2, "description": 3, "fixed_currency": "EUR",
                       "decimal": {"thousands_separator": ","}}"#,
    );
    let text = text.replace("1|000.50", "1,000.50");
    let opts = CsvOptions {
        delimiter: '|',
        quote: '\'',
        has_header: false,
        ..CsvOptions::default()
    };
    let (res, recs) = csv(text.as_bytes(), &opts, &m, OnError::Reject);
    res.unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].row, 1);
    assert_eq!(recs[0].record.id, "A-1");
    assert_eq!(recs[0].record.amount, d("1000.50"));

    // Names need a header.
    let named = mapping(r#"{"booking_date": "Date", "amount": 2, "fixed_currency": "EUR"}"#);
    match csv(text.as_bytes(), &opts, &named, OnError::Reject).0 {
        Err(ImportError::Mapping(errs)) => {
            assert_eq!(errs[0].path, "mapping.booking_date");
            assert!(errs[0].message.contains("no header row"));
        }
        other => panic!("{other:?}"),
    }

    // Short rows: errors name the spreadsheet column.
    let short = "A-3|2024-01-31\n";
    let (res, _) = csv(short.as_bytes(), &opts, &m, OnError::Skip);
    assert_eq!(
        res.unwrap().errors[0].to_string(),
        r#"row 1, column "C": the row has only 2 columns"#
    );
}

#[test]
fn csv_skip_rows_before_header() {
    let text = "Account statement\nExported 2024-02-01\nDate,Amount\n2024-01-31,1\n";
    let opts = CsvOptions {
        skip_rows: 2,
        ..CsvOptions::default()
    };
    let m = mapping(r#"{"booking_date": "Date", "amount": "Amount", "fixed_currency": "EUR"}"#);
    let (res, recs) = csv(text.as_bytes(), &opts, &m, OnError::Reject);
    res.unwrap();
    assert_eq!(recs[0].row, 4);
}

#[test]
fn csv_fingerprints_are_stable_and_amount_normalised() {
    let m = basic_mapping();
    let (_, first) = csv(
        BASIC.as_bytes(),
        &CsvOptions::default(),
        &m,
        OnError::Reject,
    );
    let (_, second) = csv(
        BASIC.as_bytes(),
        &CsvOptions::default(),
        &m,
        OnError::Reject,
    );
    assert_eq!(first, second);
    let other = BASIC.replace("12.50", "12.5");
    let (_, third) = csv(
        other.as_bytes(),
        &CsvOptions::default(),
        &m,
        OnError::Reject,
    );
    assert_eq!(first[0].fingerprint, third[0].fingerprint);
    let changed = BASIC.replace("12.50", "12.51");
    let (_, fourth) = csv(
        changed.as_bytes(),
        &CsvOptions::default(),
        &m,
        OnError::Reject,
    );
    assert_ne!(first[0].fingerprint, fourth[0].fingerprint);
    assert_eq!(first[1].fingerprint, fourth[1].fingerprint);
}

#[test]
fn csv_preview_first_rows() {
    let text = "Date,Amount\n2024-01-01,1\n\n2024-01-02,x\n2024-01-03,3\n2024-01-04,4\n";
    let m = mapping(r#"{"booking_date": "Date", "amount": "Amount", "fixed_currency": "EUR"}"#);
    let p = preview_csv(text.as_bytes(), &CsvOptions::default(), &m, 3).unwrap();
    assert_eq!(
        p.headers,
        Some(vec!["Date".to_string(), "Amount".to_string()])
    );
    assert_eq!(p.rows.len(), 3);
    assert_eq!(
        p.rows[0].record.as_ref().map(|r| r.record.amount),
        Some(d("1"))
    );
    assert_eq!(
        p.rows[1].row, 3,
        "the blank line is skipped by the CSV reader"
    );
    assert!(p.rows[1].record.is_none());
    assert_eq!(
        p.rows[1].errors[0].message,
        r#""x" is not a decimal number (unexpected "x")"#
    );
    assert_eq!(p.rows[2].cells, ["2024-01-03", "3"]);
    // Serialises for the API.
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["rows"][0]["record"]["record"]["amount"], "1");
}

/// A reader that produces a large CSV on the fly, so nothing big is ever in memory.
struct Generated {
    rows: u64,
    next: u64,
    pending: Vec<u8>,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            if self.next == 0 {
                self.pending.extend_from_slice(b"Id;Date;Amount\n");
            } else if self.next <= self.rows {
                let n = self.next;
                self.pending.extend_from_slice(
                    format!("R{n};2024-01-{:02};{},{:02}\n", n % 28 + 1, n, n % 100).as_bytes(),
                );
            } else {
                return Ok(0);
            }
            self.next += 1;
        }
        let k = buf.len().min(self.pending.len());
        buf[..k].copy_from_slice(&self.pending[..k]);
        self.pending.drain(..k);
        Ok(k)
    }
}

#[test]
fn csv_streams_large_inputs_and_hashes_them() {
    let rows = 50_000;
    let m = mapping(
        r#"{"id": "Id", "booking_date": "Date", "amount": "Amount", "fixed_currency": "EUR", "decimal": {"decimal_separator": ","}}"#,
    );
    let mut hashing = HashingReader::new(Generated {
        rows,
        next: 0,
        pending: Vec::new(),
    });
    let mut count = 0u64;
    let mut total = Decimal::ZERO;
    let report = import_csv(
        &mut hashing,
        &CsvOptions::semicolon(),
        &m,
        OnError::Reject,
        |r| {
            count += 1;
            total += r.record.amount;
        },
    )
    .unwrap();
    assert_eq!(count, rows);
    assert_eq!(report.records_ok, rows);
    let expected: Decimal = (1..=rows)
        .map(|n| Decimal::new((n * 100 + n % 100) as i64, 2))
        .sum();
    assert_eq!(total, expected);
    let (hex, len) = hashing.finish().unwrap();
    let mut all = Vec::new();
    Generated {
        rows,
        next: 0,
        pending: Vec::new(),
    }
    .read_to_end(&mut all)
    .unwrap();
    assert_eq!(len, all.len() as u64);
    assert_eq!(hex, sha256_hex(&all));
}

// ---------------------------------------------------------------- XLSX

fn workbook() -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let date_format = Format::new().set_num_format("dd/mm/yyyy");
    let other = book.add_worksheet();
    other.set_name("Notes").unwrap();
    other.write_string(0, 0, "nothing here").unwrap();
    let sheet = book.add_worksheet();
    sheet.set_name("Transactions").unwrap();
    for (c, h) in ["Id", "Date", "Amount", "Text amount", "Text date", "Memo"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    // Row 2: numbers as doubles, a real date cell.
    sheet.write_number(1, 0, 1001.0).unwrap();
    sheet
        .write_datetime_with_format(
            1,
            1,
            ExcelDateTime::from_ymd(2024, 1, 31).unwrap(),
            &date_format,
        )
        .unwrap();
    sheet.write_number(1, 2, 0.1).unwrap();
    sheet.write_string(1, 3, "1.234,56").unwrap();
    sheet.write_string(1, 4, "31.01.2024").unwrap();
    sheet.write_string(1, 5, "first").unwrap();
    // Row 3: a number that is not exact in binary.
    sheet.write_number(2, 0, 1002.0).unwrap();
    sheet
        .write_datetime_with_format(
            2,
            1,
            ExcelDateTime::from_ymd(2024, 2, 29).unwrap(),
            &date_format,
        )
        .unwrap();
    sheet.write_number(2, 2, -1234.56).unwrap();
    sheet.write_string(2, 3, "-0,01").unwrap();
    sheet.write_string(2, 4, "29.02.2024").unwrap();
    // Row 4: bad text amount.
    sheet.write_number(3, 0, 1003.0).unwrap();
    sheet.write_string(3, 1, "not a date").unwrap();
    sheet.write_number(3, 2, 5.0).unwrap();
    sheet.write_string(3, 3, "12,3x").unwrap();
    sheet.write_string(3, 4, "01.03.2024").unwrap();
    book.save_to_buffer().unwrap()
}

fn xlsx(
    options: &XlsxOptions,
    m: &Mapping,
    policy: OnError,
) -> (Result<ImportReport, ImportError>, Vec<ImportedRecord>) {
    let mut out = Vec::new();
    let res = import_xlsx(Cursor::new(workbook()), options, m, policy, |r| out.push(r));
    (res, out)
}

#[test]
fn xlsx_numeric_and_date_cells_are_exact() {
    let m = mapping(
        r#"{"id": "Id", "booking_date": "Date", "amount": "Amount", "description": "Memo", "fixed_currency": "EUR"}"#,
    );
    let options = XlsxOptions {
        sheet: SheetRef::Name("Transactions".into()),
        ..XlsxOptions::default()
    };
    let (res, recs) = xlsx(&options, &m, OnError::Skip);
    let report = res.unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].row, 2);
    assert_eq!(recs[0].record.id, "1001");
    assert_eq!(recs[0].record.booking_date, date(2024, 1, 31));
    assert_eq!(recs[0].record.amount, d("0.1"));
    assert_eq!(recs[0].record.description.as_deref(), Some("first"));
    assert_eq!(recs[1].record.amount, d("-1234.56"));
    assert_eq!(recs[1].record.booking_date, date(2024, 2, 29));
    assert_eq!(
        report.errors[0].to_string(),
        r#"row 4, column "Date": "not a date" is not a date in the format "%Y-%m-%d""#
    );
}

#[test]
fn xlsx_text_cells_use_the_mapping_formats() {
    let m = mapping(
        r#"{"booking_date": 4, "amount": "Text amount", "fixed_currency": "EUR", "date_format": "%d.%m.%Y",
            "decimal": {"decimal_separator": ",", "thousands_separator": "."}}"#,
    );
    let options = XlsxOptions {
        sheet: SheetRef::Index(1),
        ..XlsxOptions::default()
    };
    let (res, recs) = xlsx(&options, &m, OnError::Skip);
    let report = res.unwrap();
    let amounts: Vec<Decimal> = recs.iter().map(|r| r.record.amount).collect();
    assert_eq!(amounts, [d("1234.56"), d("-0.01")]);
    assert_eq!(recs[0].record.id, "2");
    assert_eq!(
        report.errors[0].to_string(),
        r#"row 4, column "Text amount": "12,3x" is not a decimal number (unexpected "x")"#
    );

    match xlsx(&options, &m, OnError::Reject).0 {
        Err(ImportError::Rejected(r)) => assert_eq!(r.errors_total, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn xlsx_sheet_selection_errors_and_preview() {
    let m = mapping(r#"{"booking_date": "Date", "amount": "Amount", "fixed_currency": "EUR"}"#);
    let missing = XlsxOptions {
        sheet: SheetRef::Name("Nope".into()),
        ..XlsxOptions::default()
    };
    match xlsx(&missing, &m, OnError::Reject).0 {
        Err(ImportError::Mapping(errs)) => {
            assert_eq!(errs[0].path, "xlsx.sheet");
            assert!(
                errs[0].message.contains(r#""Notes", "Transactions""#),
                "{}",
                errs[0]
            );
        }
        other => panic!("{other:?}"),
    }
    let out_of_range = XlsxOptions {
        sheet: SheetRef::Index(5),
        ..XlsxOptions::default()
    };
    assert!(matches!(
        xlsx(&out_of_range, &m, OnError::Reject).0,
        Err(ImportError::Mapping(_))
    ));
    // The first sheet has no "Date" column.
    match xlsx(&XlsxOptions::default(), &m, OnError::Reject).0 {
        Err(ImportError::Mapping(errs)) => assert_eq!(errs[0].path, "mapping.booking_date"),
        other => panic!("{other:?}"),
    }
    // Not a workbook at all.
    let err = import_xlsx(
        Cursor::new(b"hello".to_vec()),
        &XlsxOptions::default(),
        &m,
        OnError::Reject,
        |_| {},
    );
    assert!(matches!(err, Err(ImportError::Format { .. })));

    let options = XlsxOptions {
        sheet: SheetRef::Name("Transactions".into()),
        ..XlsxOptions::default()
    };
    let p = preview_xlsx(Cursor::new(workbook()), &options, &m, 2).unwrap();
    assert_eq!(p.rows.len(), 2);
    assert_eq!(p.rows[0].cells[..3], ["1001", "2024-01-31", "0.1"]);
    assert_eq!(p.headers.as_ref().map(Vec::len), Some(6));
    assert!(preview_xlsx(Cursor::new(workbook()), &options, &m, 0)
        .unwrap()
        .rows
        .is_empty());
}

mod never_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn csv_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), skip in any::<bool>()) {
            let m = mapping(r#"{"id": 0, "booking_date": 1, "amount": 2, "currency": 3, "fixed_currency": "EUR", "description": 9}"#);
            let opts = CsvOptions { has_header: false, ..CsvOptions::default() };
            let policy = if skip { OnError::Skip } else { OnError::Reject };
            let _ = import_csv(&bytes[..], &opts, &m, policy, |_| {});
            let _ = preview_csv(&bytes[..], &opts, &m, 5);
        }
    }
}
