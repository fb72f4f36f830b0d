//! `match-bench <bank.csv> <ledger.csv> <out-dir> [--sequential]`: CSV files to results with
//! Recon's own crates, timed per phase.
//!
//! 1. import: both files through `sources::read_csv` (header mapping, date and decimal parsing;
//!    no fingerprints, which matching does not need), each on its own thread (`--sequential`:
//!    one after the other);
//! 2. match: `matching::reconcile` with one 1:1 pass: normalised reference (case folded, spaces
//!    and punctuation removed), amount tolerance 0.01 absolute, booking dates at most 3 days
//!    apart (currency always equal);
//! 3. write: `matches.csv` (`left_ids,right_ids,pass,score`, ids `;`-joined),
//!    `unmatched_left.csv` and `unmatched_right.csv` (`id,status`; status `unmatched`, or
//!    `suggested` for records withheld in a tie suggestion).
//!
//! The file formats are the ones `gen-recon-data` writes (bank: `id,booking_date,amount,
//! currency,reference,counterparty`; ledger: `entry_id,posting_date,amount,currency,doc_ref,
//! customer`).

use std::collections::hash_map::{Entry, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use domain::records::{CompactString, Record};
use sources::{CsvOptions, Mapping, OnError};

/// Recon's binaries allocate with mimalloc (decision 0009): faster small allocations, and
/// memory in huge pages, which saves most page faults of a large run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BANK_MAPPING: &str = r#"{"id": "id", "booking_date": "booking_date", "amount": "amount",
    "currency": "currency", "reference": "reference", "counterparty": "counterparty"}"#;
const LEDGER_MAPPING: &str = r#"{"id": "entry_id", "booking_date": "posting_date", "amount": "amount",
    "currency": "currency", "reference": "doc_ref", "counterparty": "customer"}"#;
const RULES: &str = r#"{"version": 1, "passes": [{
    "name": "reference 1:1",
    "cardinality": "one_to_one",
    "reference": {"case_fold": true, "remove_spaces": true, "remove_punctuation": true},
    "amount_tolerance": {"absolute": "0.01"},
    "date_window": {"field": "booking_date", "days": 3}
}]}"#;

fn import(path: &Path, mapping_json: &str) -> Result<Vec<Record>> {
    let mapping = Mapping::from_json(mapping_json).map_err(|e| {
        anyhow!(
            "mapping: {}",
            e.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    // A rough capacity guess (about 60 bytes a row) saves the reallocation copies.
    let guess = file.metadata().map(|m| m.len() / 60).unwrap_or(0) as usize;
    let mut records = Vec::with_capacity(guess);
    // Matching needs no fingerprints: read without them.
    let report = sources::read_csv(
        file,
        &CsvOptions::default(),
        &mapping,
        OnError::Reject,
        |r| records.push(r.record),
    )
    .map_err(|e| anyhow!("import {}: {e}", path.display()))?;
    records.shrink_to_fit();
    eprintln!(
        "match-bench: {}: {} rows, {} records",
        path.display(),
        report.rows_read,
        report.records_ok
    );
    Ok(records)
}

/// `left_ids,right_ids,pass,score` rows (no header) for `matches`, appended to `out`; ids of a
/// group `;`-joined, score with 9 decimals.
fn format_matches(matches: &[matching::MatchGroup], out: Vec<u8>) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(out);
    let mut buf = String::new();
    let mut scores = ScoreText::default();
    for m in matches {
        for ids in [&m.left, &m.right] {
            match ids.as_slice() {
                [one] => w.write_field(one.as_bytes())?,
                many => {
                    buf.clear();
                    for (i, id) in many.iter().enumerate() {
                        if i > 0 {
                            buf.push(';');
                        }
                        buf.push_str(id);
                    }
                    w.write_field(buf.as_bytes())?;
                }
            }
        }
        w.write_field(m.pass_name.as_bytes())?;
        w.write_field(scores.get(m.score)?)?;
        w.write_record(None::<&[u8]>)?;
    }
    w.into_inner()
        .map_err(|e| anyhow!("format matches: {}", e.error()))
}

/// `{:.9}` of scores, remembered by their bits: a run has few distinct scores (amount and day
/// differences take few values) and formatting a float to a precision is slow.
#[derive(Default)]
struct ScoreText {
    known: HashMap<u64, Box<str>>,
    scratch: String,
}

impl ScoreText {
    const MAX_REMEMBERED: usize = 1 << 16;

    fn get(&mut self, score: f64) -> Result<&[u8]> {
        let full = self.known.len() >= Self::MAX_REMEMBERED;
        match self.known.entry(score.to_bits()) {
            Entry::Occupied(known) => Ok(known.into_mut().as_bytes()),
            Entry::Vacant(slot) => {
                self.scratch.clear();
                write!(self.scratch, "{score:.9}")?;
                if full {
                    return Ok(self.scratch.as_bytes());
                }
                Ok(slot.insert(self.scratch.as_str().into()).as_bytes())
            }
        }
    }
}

/// `matches.csv`: header, then the rows, formatted in two halves on two threads.
fn write_matches(path: &Path, matches: &[matching::MatchGroup]) -> Result<()> {
    let (first, second) = matches.split_at(matches.len() / 2);
    // Sized for rows of 1:1 matches with short ids (about 48 bytes), so that the buffers
    // rarely grow (each growth copies what is there).
    let buffer = |rows: usize| Vec::with_capacity(64 + rows * 56);
    let (head, tail) = std::thread::scope(|s| -> Result<_> {
        let tail = s.spawn(|| format_matches(second, buffer(second.len())));
        let mut head = buffer(first.len());
        head.extend_from_slice(b"left_ids,right_ids,pass,score\n");
        let head = format_matches(first, head)?;
        let tail = tail
            .join()
            .map_err(|_| anyhow!("formatting thread panicked"))??;
        Ok((head, tail))
    })?;
    let mut file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    file.write_all(&head)?;
    file.write_all(&tail)?;
    Ok(())
}

/// `id,status`: the unmatched ids, then the ids withheld in suggestions.
fn write_unmatched(path: &Path, unmatched: &[CompactString], suggested: &[&str]) -> Result<()> {
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1 << 20)
        .from_path(path)?;
    w.write_record(["id", "status"])?;
    for id in unmatched {
        w.write_record([id.as_str(), "unmatched"])?;
    }
    for id in suggested {
        w.write_record([*id, "suggested"])?;
    }
    w.flush()?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sequential = args.iter().any(|a| a == "--sequential");
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    if paths.len() != 3 {
        bail!("usage: match-bench <bank.csv> <ledger.csv> <out-dir> [--sequential]");
    }
    let (bank_path, ledger_path, out) = (
        PathBuf::from(paths[0]),
        PathBuf::from(paths[1]),
        PathBuf::from(paths[2]),
    );
    std::fs::create_dir_all(&out)?;
    let rules = matching::RuleSet::from_json_str(RULES).map_err(|e| anyhow!("rules: {e}"))?;

    let total = Instant::now();
    let t = Instant::now();
    let (left, right) = if sequential {
        (
            import(&bank_path, BANK_MAPPING)?,
            import(&ledger_path, LEDGER_MAPPING)?,
        )
    } else {
        std::thread::scope(|s| -> Result<_> {
            let l = s.spawn(|| import(&bank_path, BANK_MAPPING));
            let r = import(&ledger_path, LEDGER_MAPPING);
            let l = l.join().map_err(|_| anyhow!("import thread panicked"))?;
            Ok((l?, r?))
        })?
    };
    let import_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let outcome =
        matching::reconcile(&rules, &left, &right).map_err(|e| anyhow!("reconcile: {e}"))?;
    let match_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (mut suggested_left, mut suggested_right): (Vec<&str>, Vec<&str>) =
        (Vec::new(), Vec::new());
    for s in &outcome.suggestions {
        let (subject, others) = match s.side {
            domain::records::Side::Left => (&mut suggested_left, &mut suggested_right),
            domain::records::Side::Right => (&mut suggested_right, &mut suggested_left),
        };
        subject.push(&s.record);
        for c in &s.candidates {
            others.extend(c.records.iter().map(CompactString::as_str));
        }
    }
    suggested_left.sort_unstable();
    suggested_left.dedup();
    suggested_right.sort_unstable();
    suggested_right.dedup();
    // The matches file (most of the output) formatted on both threads, then the two
    // unmatched files, one per thread.
    write_matches(&out.join("matches.csv"), &outcome.matches)?;
    std::thread::scope(|s| -> Result<()> {
        let right = s.spawn(|| {
            write_unmatched(
                &out.join("unmatched_right.csv"),
                &outcome.unmatched_right,
                &suggested_right,
            )
        });
        write_unmatched(
            &out.join("unmatched_left.csv"),
            &outcome.unmatched_left,
            &suggested_left,
        )?;
        right
            .join()
            .map_err(|_| anyhow!("writer thread panicked"))?
    })?;
    let write_s = t.elapsed().as_secs_f64();
    let total_s = total.elapsed().as_secs_f64();

    println!(
        "match-bench: {} bank x {} ledger records; {} matches, {} suggestions ({} + {} records withheld), {} + {} unmatched",
        left.len(),
        right.len(),
        outcome.matches.len(),
        outcome.suggestions.len(),
        suggested_left.len(),
        suggested_right.len(),
        outcome.unmatched_left.len(),
        outcome.unmatched_right.len()
    );
    println!(
        "match-bench: import {import_s:.3}s ({}), match {match_s:.3}s, write {write_s:.3}s, total {total_s:.3}s",
        if sequential { "sequential" } else { "2 files in parallel" }
    );
    println!(
        "RESULT import_s={import_s:.3} match_s={match_s:.3} write_s={write_s:.3} total_s={total_s:.3} matches={} suggestions={}",
        outcome.matches.len(),
        outcome.suggestions.len()
    );
    // The process ends here: freeing 2M records and the outcome one by one would only delay
    // the exit (about 0.05 s), the OS takes the memory back at once.
    std::mem::forget((left, right, outcome));
    Ok(())
}
