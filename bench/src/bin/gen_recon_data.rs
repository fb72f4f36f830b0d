//! `gen-recon-data <count> <seed> <out-dir>`: two matching data sets with known truth.
//!
//! Writes `<out-dir>/bank.csv` and `<out-dir>/ledger.csv` (exactly `count` rows each) and
//! `<out-dir>/truth.csv` (the records that truly belong together). Deterministic: the same
//! count and seed give byte-identical files (own SplitMix64 generator, no external RNG).
//!
//! Mix (per side, of `count`):
//! - 88 % true 1:1 pairs. The reference is the same on both sides for 85 % of them, differs only
//!   in case / spaces / punctuation for 12 % (`INV-2024-0012345` vs `inv 2024/0012345`), and has
//!   a real typo for 3 % (a digit changed or two adjacent characters swapped: not findable by
//!   an exact reference key). The bank books 0-3 days after the ledger (40/30/20/10 %). 15 % of
//!   the pairs differ by one cent (within the 0.01 tolerance).
//! - 4 % of the bank rows are split payments: one bank row pays 2 or 3 ledger rows (alternately)
//!   with the same reference whose amounts sum exactly to the bank amount (about 10 % of the
//!   ledger rows).
//! - Noise: the remaining bank rows (8 %) are unrelated transfers (30 % of them without a
//!   reference); the remaining ledger rows (2 %) are unrelated postings, a quarter of them
//!   double bookings (a copy of a pair's ledger row with the same reference and amount, dated
//!   within the window), which compete with the true partner.
//!
//! Amounts are decimal strings with two decimals (8 % negative), currencies 88 % EUR, 12 % USD.
//! Row order is shuffled on both sides; ids are unique, unrelated to the row order.
//!
//! Columns: bank.csv `id,booking_date,amount,currency,reference,counterparty`; ledger.csv
//! `entry_id,posting_date,amount,currency,doc_ref,customer`; truth.csv
//! `kind,bank_ids,ledger_ids` with `kind` `pair` | `pair_typo` | `split` and ids `;`-separated.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::{Datelike, NaiveDate};

/// SplitMix64: tiny, fast, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `percent` / 100.
    fn pct(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone)]
struct Row {
    id: String,
    date: NaiveDate,
    cents: i64,
    currency: &'static str,
    reference: String,
    counterparty: String,
}

const COMPANY_A: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Nakatomi",
    "Oscorp",
    "Aperture",
    "Gringotts",
    "Monarch",
    "Dunder",
    "Pied Piper",
    "Black Mesa",
    "Weyland",
    "Massive Dynamic",
    "Sirius",
    "Blue Sun",
    "Krusty",
];
const COMPANY_B: &[&str] = &[
    "GmbH", "AG", "SARL", "BV", "Ltd", "SpA", "Oy", "AB", "KG", "SAS",
];

fn company(rng: &mut Rng) -> String {
    let a = COMPANY_A[rng.below(COMPANY_A.len() as u64) as usize];
    let b = COMPANY_B[rng.below(COMPANY_B.len() as u64) as usize];
    let n = rng.below(40);
    format!("{a} {n} {b}")
}

/// A bijection of `0..1e9` (the multiplier is prime to 10) so ids look unrelated to the
/// generation order; the two sides use different multipliers so partners' ids look unrelated.
fn scramble(i: u64, multiplier: u64) -> u64 {
    (i % 1_000_000_000 * multiplier + 12_345) % 1_000_000_000
}

fn amount_cents(rng: &mut Rng) -> i64 {
    // Log-uniform between 5.00 and 50,000.00.
    let lo = (500f64).ln();
    let hi = (5_000_000f64).ln();
    let cents = (lo + rng.unit() * (hi - lo)).exp().round() as i64;
    if rng.pct(8) {
        -cents
    } else {
        cents
    }
}

fn currency(rng: &mut Rng) -> &'static str {
    if rng.pct(12) {
        "USD"
    } else {
        "EUR"
    }
}

fn drift(rng: &mut Rng) -> u64 {
    match rng.below(100) {
        0..=39 => 0,
        40..=69 => 1,
        70..=89 => 2,
        _ => 3,
    }
}

/// The canonical (ledger) reference of pair number `k`, in one of three families.
fn canonical_reference(rng: &mut Rng, k: u64) -> String {
    match rng.below(100) {
        0..=59 => format!("INV-2024-{:07}", k),
        60..=84 => format!("SO{:08}", k),
        _ => format!("RF{:02}{:010}", 10 + rng.below(90), k),
    }
}

/// The same reference written differently: case, spaces, punctuation only.
fn variant(rng: &mut Rng, r: &str) -> String {
    let sep = [" ", "/", ".", "", " - "][rng.below(5) as usize];
    let lower = rng.pct(50);
    let mut out = String::with_capacity(r.len() + 4);
    if rng.pct(20) {
        out.push('/');
    }
    let mut prev_digit = None;
    for c in r.chars() {
        if c == '-' {
            out.push_str(sep);
            prev_digit = None;
            continue;
        }
        // Insert a separator between letters and digits sometimes ("SO 0001234").
        let is_digit = c.is_ascii_digit();
        if prev_digit == Some(false) && is_digit && sep == " " {
            out.push(' ');
        }
        prev_digit = Some(is_digit);
        out.push(if lower { c.to_ascii_lowercase() } else { c });
    }
    if out.eq_ignore_ascii_case(r) && !lower {
        // Make sure the variant differs from the original in some way.
        out = out.to_ascii_lowercase();
    }
    out
}

/// A real typo: one digit changed, or two adjacent differing characters swapped.
fn typo(rng: &mut Rng, r: &str) -> String {
    let mut b: Vec<u8> = r.as_bytes().to_vec();
    let digits: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
    if rng.pct(50) {
        for _ in 0..8 {
            let i = rng.below(b.len() as u64 - 1) as usize;
            if b[i] != b[i + 1] && b[i].is_ascii_alphanumeric() && b[i + 1].is_ascii_alphanumeric()
            {
                b.swap(i, i + 1);
                return String::from_utf8_lossy(&b).into_owned();
            }
        }
    }
    let i = digits[rng.below(digits.len() as u64) as usize];
    b[i] = b'0' + ((b[i] - b'0' + 1 + rng.below(9) as u8) % 10);
    String::from_utf8_lossy(&b).into_owned()
}

fn fmt_date(d: NaiveDate, out: &mut String) {
    use std::fmt::Write as _;
    let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
}

fn fmt_cents(c: i64, out: &mut String) {
    use std::fmt::Write as _;
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:02}", a / 100, a % 100);
}

fn write_rows(path: &PathBuf, header: &str, rows: &[Row]) -> Result<()> {
    let mut w = BufWriter::with_capacity(
        1 << 20,
        File::create(path).with_context(|| format!("create {}", path.display()))?,
    );
    writeln!(w, "{header}")?;
    let mut line = String::with_capacity(128);
    for r in rows {
        line.clear();
        line.push_str(&r.id);
        line.push(',');
        fmt_date(r.date, &mut line);
        line.push(',');
        fmt_cents(r.cents, &mut line);
        line.push(',');
        line.push_str(r.currency);
        line.push(',');
        line.push_str(&r.reference);
        line.push(',');
        line.push_str(&r.counterparty);
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    w.flush()?;
    Ok(())
}

fn shuffle<T>(rng: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        bail!("usage: gen-recon-data <count> <seed> <out-dir>");
    }
    let count: u64 = args[1].parse().context("count")?;
    let seed: u64 = args[2].parse().context("seed")?;
    let dir = PathBuf::from(&args[3]);
    if count < 100 {
        bail!("count must be at least 100");
    }
    std::fs::create_dir_all(&dir)?;
    let mut rng = Rng(seed ^ 0x5245_434f_4e42_454e);

    let pairs = count * 88 / 100;
    let splits = count * 4 / 100;
    let split_sizes: Vec<u64> = (0..splits).map(|s| 2 + (s % 2)).collect();
    let parts: u64 = split_sizes.iter().sum();
    let bank_noise = count - pairs - splits;
    let ledger_noise = count - pairs - parts;

    let base = NaiveDate::from_ymd_opt(2024, 1, 1).context("base date")?;
    let day = |rng: &mut Rng| base + chrono::Days::new(rng.below(366));

    let mut bank: Vec<Row> = Vec::with_capacity(count as usize);
    let mut ledger: Vec<Row> = Vec::with_capacity(count as usize);
    let mut truth = String::with_capacity(count as usize * 40);
    truth.push_str("kind,bank_ids,ledger_ids\n");
    let (mut nb, mut nl) = (0u64, 0u64);
    let mut bank_id = || {
        nb += 1;
        format!("B{:09}", scramble(nb, 2_654_435_761))
    };
    let mut ledger_id = || {
        nl += 1;
        format!("L{:09}", scramble(nl, 387_420_489))
    };

    // True 1:1 pairs.
    let (mut n_variant, mut n_typo, mut n_cent) = (0u64, 0u64, 0u64);
    for k in 0..pairs {
        let reference = canonical_reference(&mut rng, k);
        let ledger_date = day(&mut rng);
        let bank_date = ledger_date + chrono::Days::new(drift(&mut rng));
        let cents = amount_cents(&mut rng);
        let cur = currency(&mut rng);
        let party = company(&mut rng);
        let roll = rng.below(100);
        let (bank_ref, kind) = match roll {
            0..=84 => (reference.clone(), "pair"),
            85..=96 => {
                n_variant += 1;
                (variant(&mut rng, &reference), "pair")
            }
            _ => {
                n_typo += 1;
                (typo(&mut rng, &reference), "pair_typo")
            }
        };
        let bank_cents = if rng.pct(15) {
            n_cent += 1;
            cents + if rng.pct(50) { 1 } else { -1 }
        } else {
            cents
        };
        let b = Row {
            id: bank_id(),
            date: bank_date,
            cents: bank_cents,
            currency: cur,
            reference: bank_ref,
            counterparty: party.to_ascii_uppercase(),
        };
        let l = Row {
            id: ledger_id(),
            date: ledger_date,
            cents,
            currency: cur,
            reference,
            counterparty: party,
        };
        truth.push_str(&format!("{kind},{},{}\n", b.id, l.id));
        bank.push(b);
        ledger.push(l);
    }

    // Split payments: one bank row, 2-3 ledger rows with the same reference.
    for (s, &size) in split_sizes.iter().enumerate() {
        let reference = format!("SO{:08}", pairs + s as u64);
        let bank_date = day(&mut rng);
        let cur = currency(&mut rng);
        let party = company(&mut rng);
        let mut ids = Vec::new();
        let mut total = 0i64;
        for _ in 0..size {
            let cents = amount_cents(&mut rng).abs();
            total += cents;
            let l = Row {
                id: ledger_id(),
                date: bank_date - chrono::Days::new(drift(&mut rng)),
                cents,
                currency: cur,
                reference: reference.clone(),
                counterparty: party.clone(),
            };
            ids.push(l.id.clone());
            ledger.push(l);
        }
        let b = Row {
            id: bank_id(),
            date: bank_date,
            cents: total,
            currency: cur,
            reference: reference.clone(),
            counterparty: party.to_ascii_uppercase(),
        };
        truth.push_str(&format!("split,{},{}\n", b.id, ids.join(";")));
        bank.push(b);
    }

    // Bank noise: unrelated transfers.
    for k in 0..bank_noise {
        let reference = if rng.pct(30) {
            String::new()
        } else {
            format!("TRF{:010}", k * 7 + rng.below(7))
        };
        let b = Row {
            id: bank_id(),
            date: day(&mut rng),
            cents: amount_cents(&mut rng),
            currency: currency(&mut rng),
            reference,
            counterparty: company(&mut rng).to_ascii_uppercase(),
        };
        bank.push(b);
    }

    // Ledger noise: unrelated postings, a quarter of them double bookings of a pair's row.
    let mut n_double = 0u64;
    for k in 0..ledger_noise {
        let l = if rng.pct(25) && pairs > 0 {
            n_double += 1;
            let original = &ledger[rng.below(pairs) as usize];
            let shift = rng.below(3);
            let date = if rng.pct(50) {
                original.date + chrono::Days::new(shift)
            } else {
                original.date - chrono::Days::new(shift)
            };
            Row {
                id: String::new(),
                date,
                ..original.clone()
            }
        } else {
            Row {
                id: String::new(),
                date: day(&mut rng),
                cents: amount_cents(&mut rng),
                currency: currency(&mut rng),
                reference: format!("INV-2025-{:07}", k),
                counterparty: company(&mut rng),
            }
        };
        ledger.push(Row {
            id: ledger_id(),
            ..l
        });
    }

    shuffle(&mut rng, &mut bank);
    shuffle(&mut rng, &mut ledger);
    write_rows(
        &dir.join("bank.csv"),
        "id,booking_date,amount,currency,reference,counterparty",
        &bank,
    )?;
    write_rows(
        &dir.join("ledger.csv"),
        "entry_id,posting_date,amount,currency,doc_ref,customer",
        &ledger,
    )?;
    std::fs::write(dir.join("truth.csv"), truth)?;
    eprintln!(
        "gen-recon-data: {} bank rows, {} ledger rows in {}; {pairs} pairs ({n_variant} reference variants, {n_typo} typos, {n_cent} one-cent differences), {splits} split payments ({parts} ledger rows), noise {bank_noise} bank / {ledger_noise} ledger ({n_double} double bookings)",
        bank.len(),
        ledger.len(),
        dir.display()
    );
    Ok(())
}
