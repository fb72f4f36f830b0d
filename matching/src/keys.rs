//! Exact keys: the currency plus the texts a pass requires equal (normalised reference,
//! trimmed reference, trimmed counterparty), as a fixed-size value. Keys of up to
//! [`INLINE`] bytes are stored whole, so building one costs no allocation and comparing two is
//! a comparison of plain values; a longer key is interned once per pass ([`intern_long`]) and
//! then stands for its full text by an id.

use std::collections::HashMap;

use domain::money::Currency;
use domain::records::{CompactString, Record};

use crate::engine::AVAILABLE;
use crate::normalise::Normaliser;
use crate::rules::CompiledPass;

/// Bytes of a key stored inline: the currency (3), a separator per text and the texts.
pub(crate) const INLINE: usize = 28;
// `Key::head` and `Key::tail` hold exactly the inline bytes.
const _: () = assert!(INLINE == 3 * 8 + 4);

/// Separates the texts of a key (never part of UTF-8 text, so the encoding is unambiguous).
const SEPARATOR: u8 = 0xFF;

/// An exact key. Equal keys mean equal currency and texts. The order (hash first) is arbitrary
/// but total; nothing in the outcome depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// A hash of the full key text (partitions records; compared first).
    hash: u64,
    /// Length of the full key text; above [`INLINE`], `head[0]` holds the long key's id.
    len: u32,
    /// The text, zero padded, as little-endian words: compared as integers, not by `memcmp`.
    head: [u64; 3],
    tail: u32,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Field by field, as the derived order would, but as one straight run of integer
        // comparisons (no slice loop).
        let fields = |k: &Key| (k.hash, k.len, k.head[0], k.head[1], k.head[2], k.tail);
        fields(self).cmp(&fields(other))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Key {
    /// The partition of this key among `1 << bits` partitions.
    pub(crate) fn partition(&self, bits: u32) -> usize {
        if bits == 0 {
            0
        } else {
            (self.hash >> (64 - bits)) as usize
        }
    }

    fn is_long(&self) -> bool {
        self.len as usize > INLINE
    }
}

/// Anything carrying a key (index entries), so long keys can be resolved in place.
pub(crate) trait Keyed {
    fn key_mut(&mut self) -> &mut Key;
    fn key(&self) -> Key;
}

/// The end (exclusive) of the run of entries with the same key as `entries[start]`, in entries
/// sorted by key. Runs are short (a key is rarely on a side twice) and each is passed once: a
/// scan beats a search.
pub(crate) fn run_end<T: Keyed>(entries: &[T], start: usize) -> usize {
    let key = entries[start].key();
    entries[start..]
        .iter()
        .position(|e| e.key() != key)
        .map_or(entries.len(), |n| start + n)
}

/// Builds the keys of one pass (one per thread: it owns a scratch buffer).
pub(crate) struct Keyer<'p> {
    pass: &'p CompiledPass,
    normaliser: Option<Normaliser<'p>>,
    buf: Vec<u8>,
    /// Recent currencies and their bytes (`Currency::as_str` validates UTF-8 each time).
    currencies: [Option<(Currency, [u8; 3])>; 4],
}

/// Entries of one run of records with their keys; long keys still to be resolved by
/// [`intern_long`] (their position in `items` and full text).
pub(crate) struct KeyedChunk<T> {
    pub items: Vec<T>,
    pub long: Vec<(usize, Box<[u8]>)>,
}

impl<'p> Keyer<'p> {
    pub(crate) fn new(pass: &'p CompiledPass) -> Self {
        Self {
            pass,
            normaliser: pass.reference.as_ref().map(Normaliser::new),
            buf: Vec::with_capacity(64),
            currencies: [None; 4],
        }
    }

    fn currency_bytes(&mut self, c: Currency) -> [u8; 3] {
        for (known, bytes) in self.currencies.iter().flatten() {
            if *known == c {
                return *bytes;
            }
        }
        let mut bytes = [0u8; 3];
        for (b, s) in bytes.iter_mut().zip(c.as_str().bytes()) {
            *b = s;
        }
        // The newest first; the oldest drops out.
        self.currencies.rotate_right(1);
        self.currencies[0] = Some((c, bytes));
        bytes
    }

    /// The key of `r`, `None` when the record takes no part in the pass (a required field
    /// missing or empty). A long key comes back with its full text, to be interned.
    pub(crate) fn key(&mut self, r: &Record) -> Option<(Key, Option<Box<[u8]>>)> {
        let currency = self.currency_bytes(r.currency);
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(&currency);
        if let Some(n) = &self.normaliser {
            buf.push(SEPARATOR);
            if !n.append(r.reference.as_deref()?, buf) {
                return None;
            }
        }
        if self.pass.equal_reference {
            buf.push(SEPARATOR);
            buf.extend_from_slice(trimmed(&r.reference)?.as_bytes());
        }
        if self.pass.equal_counterparty {
            buf.push(SEPARATOR);
            buf.extend_from_slice(trimmed(&r.counterparty)?.as_bytes());
        }
        let len = u32::try_from(buf.len()).ok()?;
        if buf.len() <= INLINE {
            // Zero padded to a fixed size: copied and hashed as whole words.
            buf.resize(INLINE, 0);
            let mut text = [0; INLINE];
            text.copy_from_slice(&buf[..INLINE]);
            let word = |i: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&text[i..i + 8]);
                u64::from_le_bytes(w)
            };
            let mut tail = [0u8; 4];
            tail.copy_from_slice(&text[24..INLINE]);
            Some((
                Key {
                    hash: hash(&text, len),
                    len,
                    head: [word(0), word(8), word(16)],
                    tail: u32::from_le_bytes(tail),
                },
                None,
            ))
        } else {
            let key = Key {
                hash: hash(buf, len),
                len,
                head: [0; 3],
                tail: 0,
            };
            Some((key, Some(buf.as_slice().into())))
        }
    }

    /// Keys every available record of `recs` (positions `offset..`; `status` theirs), making an
    /// item of each with `make(key, position, record)`, into `items` (emptied first: a buffer
    /// handed back for reuse, or a new vector).
    pub(crate) fn chunk<T>(
        &mut self,
        recs: &[Record],
        status: &[u8],
        offset: usize,
        mut items: Vec<T>,
        mut make: impl FnMut(Key, usize, &Record) -> T,
    ) -> KeyedChunk<T> {
        items.clear();
        items.reserve(recs.len());
        let mut out = KeyedChunk {
            items,
            long: Vec::new(),
        };
        for (i, (r, s)) in recs.iter().zip(status).enumerate() {
            if *s != AVAILABLE {
                continue;
            }
            if let Some((key, long)) = self.key(r) {
                if let Some(text) = long {
                    out.long.push((out.items.len(), text));
                }
                out.items.push(make(key, offset + i, r));
            }
        }
        out
    }
}

/// Gives every distinct long key text one id, in chunk order, and stores it in the keys'
/// `head`: afterwards equal keys are equal values, long or not.
pub(crate) fn intern_long<T: Keyed>(chunks: &mut [&mut KeyedChunk<T>]) {
    let mut ids: HashMap<Box<[u8]>, u64> = HashMap::new();
    for chunk in chunks.iter_mut() {
        for (pos, text) in std::mem::take(&mut chunk.long) {
            let next = ids.len() as u64;
            let id = *ids.entry(text).or_insert(next);
            if let Some(item) = chunk.items.get_mut(pos) {
                let key = item.key_mut();
                debug_assert!(key.is_long());
                key.head = [id, 0, 0];
                key.tail = 0;
            }
        }
    }
}

fn trimmed(s: &Option<CompactString>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A fast, well-mixed 64-bit hash (word-wise multiply-rotate, murmur3's finaliser). Fixed, not
/// seeded: a flood of colliding keys only makes one partition large (sorted, so never
/// quadratic), and the outcome never depends on the hash.
fn hash(bytes: &[u8], len: u32) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = u64::from(len).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile;
    use crate::RuleSet;

    fn pass(json: &str) -> CompiledPass {
        let rules =
            RuleSet::from_json_str(&format!(r#"{{"version": 1, "passes": [{json}]}}"#)).unwrap();
        compile(&rules).unwrap().remove(0)
    }

    fn record(currency: &str, reference: &str, counterparty: &str) -> Record {
        Record {
            id: "x".into(),
            booking_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            value_date: None,
            amount: rust_decimal::Decimal::ONE,
            currency: Currency::parse(currency).unwrap(),
            reference: Some(reference.into()),
            counterparty: Some(counterparty.into()),
            description: None,
        }
    }

    struct Item {
        key: Key,
        pos: usize,
    }

    impl Keyed for Item {
        fn key_mut(&mut self) -> &mut Key {
            &mut self.key
        }
        fn key(&self) -> Key {
            self.key
        }
    }

    /// Keys of `records` (`None`: no part in the pass), long ones interned together.
    fn keys(p: &CompiledPass, records: &[Record]) -> Vec<Option<Key>> {
        let status = vec![AVAILABLE; records.len()];
        let mut chunk = Keyer::new(p).chunk(records, &status, 0, Vec::new(), |key, pos, _| Item {
            key,
            pos,
        });
        intern_long(&mut [&mut chunk]);
        let mut out = vec![None; records.len()];
        for item in chunk.items {
            out[item.pos] = Some(item.key);
        }
        out
    }

    #[test]
    fn equal_texts_make_equal_keys_and_fields_do_not_run_together() {
        let p = pass(
            r#"{"name": "p", "cardinality": "one_to_one", "reference": {},
                "equal": ["counterparty"]}"#,
        );
        let long = "a reference far longer than the inline part of a key";
        let k = keys(
            &p,
            &[
                record("EUR", "INV-1", "bc"),
                record("EUR", "inv 1", "bc"),
                record("USD", "INV-1", "bc"),
                record("EUR", "INV-1b", "c"),
                record("EUR", long, "x"),
                record("EUR", &long.to_uppercase(), "x"),
                record("EUR", &format!("{long} 2"), "x"),
                record("EUR", " -.", "x"),
            ],
        );
        assert_eq!(k[0], k[1], "the same after normalisation");
        assert_ne!(k[0], k[2], "another currency");
        assert_ne!(k[0], k[3], "reference and counterparty do not run together");
        assert!(
            k[4].is_some() && k[4] == k[5],
            "long keys compare by their full text"
        );
        assert_ne!(k[4], k[6]);
        assert_eq!(
            k[7], None,
            "nothing left of the reference: no part in the pass"
        );
    }
}
