//! Content fingerprints of records and SHA-256 of raw files.
//!
//! A record's fingerprint is the SHA-256 (lower-case hex) of a versioned, length-prefixed
//! serialisation of its normalised fields:
//!
//! `recon-record-v1` · id · booking date (`YYYY-MM-DD`) · value date (or empty) · amount ·
//! currency · reference · counterparty · description
//!
//! where the amount is normalised (trailing zeros dropped, `-0` is `0`: `1.50` and `1.5` give the
//! same fingerprint), text fields are trimmed and a missing text equals an empty one. Each field
//! is written as `<byte length>:<bytes>;` so no two different records share a serialisation.
//! Re-importing the same statement therefore yields the same fingerprints; any change of content
//! (including the source's own id) yields a different one.

use std::io::{self, Read};

use chrono::{Datelike, NaiveDate};
use domain::records::Record;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::text::trim;

const VERSION: &str = "recon-record-v1";

/// The fingerprint of a record, see the module documentation.
///
/// Computed without heap allocation but for the returned `String` (and dates outside the years
/// 0 to 9999): fields go through a stack buffer into the hasher, dates and amounts are written
/// into stack arrays.
pub fn fingerprint(record: &Record) -> String {
    let mut out = Serialiser::new();
    out.field(VERSION.as_bytes());
    out.field(trim(&record.id).as_bytes());
    out.field(DateText::new(record.booking_date).as_bytes());
    match record.value_date {
        Some(d) => out.field(DateText::new(d).as_bytes()),
        None => out.field(b""),
    }
    let mut amount = [0u8; AMOUNT_TEXT_MAX];
    out.field(amount_text(record.amount, &mut amount));
    out.field(record.currency.as_str().as_bytes());
    for text in [&record.reference, &record.counterparty, &record.description] {
        out.field(text.as_deref().map(trim).unwrap_or("").as_bytes());
    }
    hex_string(out.finish())
}

/// The serialisation on its way to the hasher, batched in a stack buffer: one hasher update per
/// buffer-full rather than four per field.
struct Serialiser {
    hasher: Sha256,
    buf: [u8; 256],
    len: usize,
}

impl Serialiser {
    fn new() -> Self {
        Self {
            hasher: Sha256::new(),
            buf: [0; 256],
            len: 0,
        }
    }

    /// One field: `<byte length>:<bytes>;`.
    fn field(&mut self, bytes: &[u8]) {
        let width = decimal_width(bytes.len());
        let total = width + 1 + bytes.len() + 1;
        match self.buf.get_mut(self.len..self.len + total) {
            Some(dst) => {
                let (length, rest) = dst.split_at_mut(width);
                write_decimal(bytes.len(), length);
                let (colon, rest) = rest.split_at_mut(1);
                let (text, semicolon) = rest.split_at_mut(bytes.len());
                colon.copy_from_slice(b":");
                text.copy_from_slice(bytes);
                semicolon.copy_from_slice(b";");
                self.len += total;
            }
            // Not enough room left: piece by piece, flushing as needed.
            None => {
                let mut digits = [0u8; 20];
                let length = &mut digits[..width];
                write_decimal(bytes.len(), length);
                self.put(length);
                self.put(b":");
                self.put(bytes);
                self.put(b";");
            }
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.flush();
        }
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            // Longer than the whole (just emptied) buffer.
            None => self.hasher.update(bytes),
        }
    }

    fn flush(&mut self) {
        self.hasher.update(&self.buf[..self.len]);
        self.len = 0;
    }

    fn finish(mut self) -> [u8; 32] {
        self.flush();
        self.hasher.finalize().into()
    }
}

/// How many decimal digits `n` has (at most 20 for 64 bits).
fn decimal_width(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// `n` in decimal, right-aligned in `out` (which [`decimal_width`] sizes).
fn write_decimal(mut n: usize, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// A date as chrono's `%Y-%m-%d` writes it.
enum DateText {
    /// Years 0 to 9999: four digits.
    Plain([u8; 10]),
    /// Other years get a sign and more digits (`+10000-01-01`): left to chrono.
    Other(String),
}

impl DateText {
    fn new(date: NaiveDate) -> Self {
        let year = date.year();
        match u32::try_from(year) {
            Ok(y) if y <= 9999 => {
                let (m, d) = (date.month(), date.day());
                let digit = |v: u32| b'0' + (v % 10) as u8;
                DateText::Plain([
                    digit(y / 1000),
                    digit(y / 100),
                    digit(y / 10),
                    digit(y),
                    b'-',
                    digit(m / 10),
                    digit(m),
                    b'-',
                    digit(d / 10),
                    digit(d),
                ])
            }
            _ => DateText::Other(date.format("%Y-%m-%d").to_string()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            DateText::Plain(b) => b,
            DateText::Other(s) => s.as_bytes(),
        }
    }
}

/// Room for any [`amount_text`]: a sign, 29 digits, a point and a leading `0`.
const AMOUNT_TEXT_MAX: usize = 40;

/// The normalised amount as `Decimal`'s `Display` writes it: `1.50` → `1.5`, `-0.00` → `0`,
/// `100` → `100`, `0.05` → `0.05`. Written at the end of `buf`.
fn amount_text(amount: Decimal, buf: &mut [u8; AMOUNT_TEXT_MAX]) -> &[u8] {
    let n = amount.normalize();
    if n.is_zero() {
        return b"0";
    }
    let mut rest = n.mantissa().unsigned_abs();
    let mut next_digit = || match u64::try_from(rest) {
        // u128 division is a slow library call: use u64 once the rest fits.
        Ok(small) => {
            rest = u128::from(small / 10);
            (b'0' + (small % 10) as u8, small < 10)
        }
        Err(_) => {
            let digit = (rest % 10) as u8;
            rest /= 10;
            (b'0' + digit, false)
        }
    };
    // Right to left: the fraction's digits (with leading zeros), the point, the integer's
    // digits (at least one), the sign.
    let mut len = 0;
    let mut slots = buf.iter_mut().rev();
    let mut put = |b: u8| {
        if let Some(slot) = slots.next() {
            *slot = b;
            len += 1;
        }
    };
    let scale = n.scale();
    for _ in 0..scale {
        put(next_digit().0);
    }
    if scale > 0 {
        put(b'.');
    }
    loop {
        let (digit, last) = next_digit();
        put(digit);
        if last {
            break;
        }
    }
    if n.is_sign_negative() {
        put(b'-');
    }
    &buf[AMOUNT_TEXT_MAX - len..]
}

/// The two lower-case hex digits of every byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0xf]];
        b += 1;
    }
    pairs
};

/// Lower-case hex of a SHA-256 digest, through a fixed array: the one allocation is the result.
fn hex_string(digest: [u8; 32]) -> String {
    let mut pairs = [[0u8; 2]; 32];
    for (pair, b) in pairs.iter_mut().zip(digest) {
        *pair = HEX_PAIRS[usize::from(b)];
    }
    // Hex digits are ASCII, so this never fails: the lossy fallback only avoids an `unwrap`.
    String::from_utf8(pairs.as_flattened().to_vec())
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// SHA-256 (lower-case hex) of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_string(Sha256::digest(bytes).into())
}

/// A reader that hashes (SHA-256) and counts everything read through it, so the raw file's hash
/// comes for free while an importer streams it.
///
/// ```
/// use std::io::Read;
/// let mut r = sources::HashingReader::new(&b"abc"[..]);
/// let mut s = String::new();
/// r.read_to_string(&mut s).unwrap();
/// assert_eq!(r.bytes_read(), 3);
/// assert_eq!(r.hex_digest(), sources::sha256_hex(b"abc"));
/// ```
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// SHA-256 (hex) of the bytes read so far. Only the whole file's hash if the consumer read
    /// to the end: call [`HashingReader::finish`] to be sure.
    pub fn hex_digest(&self) -> String {
        hex_string(self.hasher.clone().finalize().into())
    }

    /// Reads whatever the consumer left unread, then returns the SHA-256 (hex) of the whole
    /// stream and its length.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((hex_string(self.hasher.finalize().into()), self.bytes))
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(read) = buf.get(..n) {
            self.hasher.update(read);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::money::Currency;
    use proptest::prelude::*;
    use std::str::FromStr;

    /// The original (allocating) implementation, kept as the oracle for [`fingerprint`].
    fn fingerprint_oracle(record: &Record) -> String {
        fn normalise_amount(amount: Decimal) -> String {
            let n = amount.normalize();
            if n.is_zero() {
                "0".to_string()
            } else {
                n.to_string()
            }
        }
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update(s.len().to_string().as_bytes());
            h.update(b":");
            h.update(s.as_bytes());
            h.update(b";");
        };
        field(VERSION);
        field(record.id.trim());
        field(&record.booking_date.format("%Y-%m-%d").to_string());
        field(
            &record
                .value_date
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
        );
        field(&normalise_amount(record.amount));
        field(record.currency.as_str());
        for text in [&record.reference, &record.counterparty, &record.description] {
            field(text.as_deref().map(str::trim).unwrap_or(""));
        }
        hex::encode(h.finalize())
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        let (min, max) = (
            NaiveDate::MIN.num_days_from_ce(),
            NaiveDate::MAX.num_days_from_ce(),
        );
        prop_oneof![
            // Mostly ordinary years, sometimes anything chrono can hold.
            3 => (0i32..=9999, 1u32..=366).prop_map(|(y, d)| NaiveDate::from_yo_opt(y, d)
                .unwrap_or_else(|| NaiveDate::from_yo_opt(y, 1).unwrap())),
            1 => (min..=max).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap()),
        ]
    }

    fn any_amount() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0u32..=6).prop_map(|(m, s)| Decimal::new(m, s)),
            (
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<bool>(),
                0u32..=28
            )
                .prop_map(|(lo, mid, hi, neg, s)| Decimal::from_parts(lo, mid, hi, neg, s)),
            (0u32..=28, any::<bool>()).prop_map(|(s, neg)| Decimal::from_parts(0, 0, 0, neg, s)),
        ]
    }

    fn any_text() -> impl Strategy<Value = Option<domain::records::CompactString>> {
        // Up to 300 characters: past the serialiser's 256-byte buffer.
        proptest::option::of(prop_oneof![" ?[a-zA-Z0-9 -]{0,20} ?", "\\PC{0,300}",])
            .prop_map(|t| t.map(Into::into))
    }

    prop_compose! {
        fn any_record()(
            id in prop_oneof![" ?[A-Z0-9-]{0,12} ?", "\\PC{0,40}"],
            booking_date in any_date(),
            value_date in proptest::option::of(any_date()),
            amount in any_amount(),
            currency in "[A-Z]{3}",
            reference in any_text(),
            counterparty in any_text(),
            description in any_text(),
        ) -> Record {
            Record {
                id: id.into(),
                booking_date,
                value_date,
                amount,
                currency: Currency::parse(&currency).unwrap(),
                reference,
                counterparty,
                description,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fingerprint_equals_the_original_implementation(record in any_record()) {
            prop_assert_eq!(fingerprint(&record), fingerprint_oracle(&record));
        }
    }

    #[test]
    fn fingerprint_edge_cases_equal_the_original_implementation() {
        let mut r = record("0.05");
        for amount in [
            "0.05",
            "-0.05",
            "1.50",
            "-0.00",
            "100",
            "1e-28",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "1844674407370955161.6",
        ] {
            r.amount = Decimal::from_scientific(amount)
                .or_else(|_| Decimal::from_str(amount))
                .unwrap();
            assert_eq!(fingerprint(&r), fingerprint_oracle(&r), "{amount}");
        }
        for (y, m, d) in [
            (0, 1, 1),
            (9999, 12, 31),
            (10000, 1, 1),
            (-1, 6, 15),
            (-262143, 1, 1),
        ] {
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
                r.booking_date = date;
                r.value_date = Some(date);
                assert_eq!(fingerprint(&r), fingerprint_oracle(&r), "{date}");
            }
        }
        r.description = Some("x".repeat(1000).into());
        assert_eq!(fingerprint(&r), fingerprint_oracle(&r));
    }

    fn record(amount: &str) -> Record {
        Record {
            id: "42".into(),
            booking_date: NaiveDate::from_ymd_opt(2024, 1, 31).unwrap(),
            value_date: None,
            amount: Decimal::from_str(amount).unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            reference: Some("INV-1".into()),
            counterparty: None,
            description: Some(" rent ".into()),
        }
    }

    #[test]
    fn equal_amounts_equal_fingerprints() {
        assert_eq!(fingerprint(&record("1.50")), fingerprint(&record("1.5")));
        assert_eq!(fingerprint(&record("-0.00")), fingerprint(&record("0")));
        assert_ne!(fingerprint(&record("1.5")), fingerprint(&record("-1.5")));
        assert_eq!(fingerprint(&record("1.5")).len(), 64);
    }

    #[test]
    fn any_field_changes_the_fingerprint() {
        let base = record("10");
        let fp = fingerprint(&base);
        let mut r = base.clone();
        r.id = "43".into();
        assert_ne!(fingerprint(&r), fp);
        let mut r = base.clone();
        r.value_date = Some(r.booking_date);
        assert_ne!(fingerprint(&r), fp);
        let mut r = base.clone();
        r.currency = Currency::parse("USD").unwrap();
        assert_ne!(fingerprint(&r), fp);
        // Field boundaries are unambiguous.
        let mut a = base.clone();
        a.reference = Some("ab".into());
        a.counterparty = Some("c".into());
        let mut b = base.clone();
        b.reference = Some("a".into());
        b.counterparty = Some("bc".into());
        assert_ne!(fingerprint(&a), fingerprint(&b));
        // Trimming and None == empty.
        let mut r = base.clone();
        r.description = Some("rent".into());
        assert_eq!(fingerprint(&r), fp);
        let mut r = base.clone();
        r.counterparty = Some("  ".into());
        assert_eq!(fingerprint(&r), fp);
    }

    #[test]
    fn hashing_reader_matches_one_shot_hash() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = HashingReader::new(&data[..]);
        let mut first = [0u8; 1000];
        r.read_exact(&mut first).unwrap();
        let (hex, len) = r.finish().unwrap();
        assert_eq!(len, 100_000);
        assert_eq!(hex, sha256_hex(&data));
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
