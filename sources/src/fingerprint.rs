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

use domain::records::Record;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

const VERSION: &str = "recon-record-v1";

/// The fingerprint of a record, see the module documentation.
pub fn fingerprint(record: &Record) -> String {
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

/// `1.50` → `1.5`, `-0.00` → `0`, `100` → `100`.
fn normalise_amount(amount: Decimal) -> String {
    let n = amount.normalize();
    if n.is_zero() {
        "0".to_string()
    } else {
        n.to_string()
    }
}

/// SHA-256 (lower-case hex) of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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
        hex::encode(self.hasher.clone().finalize())
    }

    /// Reads whatever the consumer left unread, then returns the SHA-256 (hex) of the whole
    /// stream and its length.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((hex::encode(self.hasher.finalize()), self.bytes))
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
    use chrono::NaiveDate;
    use domain::money::Currency;
    use std::str::FromStr;

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
