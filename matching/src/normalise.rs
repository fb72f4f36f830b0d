//! Text normalisation: references (for exact keys) and similarity texts.

use crate::rules::{CompiledReference, ReferenceRule};

/// Whether a rule keeps a character (case folding aside).
fn keeps(rule: &CompiledReference, c: char) -> bool {
    if c.is_whitespace() {
        !rule.remove_spaces
    } else {
        !rule.remove_punctuation || c.is_alphanumeric()
    }
}

/// A reference rule ready to normalise many references: ASCII text (almost every reference)
/// goes through a byte table built from the same per-character rule as the general path.
pub(crate) struct Normaliser<'r> {
    rule: &'r CompiledReference,
    /// Output byte per ASCII byte, or [`DROP`].
    ascii: [u8; 128],
    /// Whether an ASCII byte is whitespace (for trimming).
    space: [bool; 128],
}

/// Marks a dropped byte in [`Normaliser::ascii`] (never an ASCII output byte).
const DROP: u8 = 0xFF;

/// ASCII references are normalised in blocks of this many bytes (a power of two).
const BLOCK: usize = 32;

impl<'r> Normaliser<'r> {
    pub(crate) fn new(rule: &'r CompiledReference) -> Self {
        let mut ascii = [DROP; 128];
        let mut space = [false; 128];
        for b in 0u8..128 {
            let c = char::from(b);
            let i = usize::from(b);
            space[i] = c.is_whitespace();
            if keeps(rule, c) {
                ascii[i] = if rule.case_fold {
                    b.to_ascii_lowercase()
                } else {
                    b
                };
            }
        }
        Self { rule, ascii, space }
    }

    /// Appends the normalised form of `raw` to `out`. Returns false when the record takes no
    /// part in a reference comparison: no match of the extraction pattern, or nothing left
    /// (`out` may then hold part of it; callers discard it).
    pub(crate) fn append(&self, raw: &str, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        if self.rule.extract.is_none() && raw.is_ascii() {
            // Almost every reference: trimming and each step are one table lookup per byte,
            // written without branching (a dropped byte is overwritten by the next one).
            let bytes = raw.as_bytes();
            let is_space = |b: &u8| self.space[usize::from(b & 0x7F)];
            let first = bytes
                .iter()
                .position(|b| !is_space(b))
                .unwrap_or(bytes.len());
            let last = bytes
                .iter()
                .rposition(|b| !is_space(b))
                .map_or(first, |i| i + 1);
            let part = &bytes[first..last];
            // In blocks through a fixed buffer: the index mask proves every write in bounds.
            for block in part.chunks(BLOCK) {
                let mut buf = [0u8; BLOCK];
                let mut n = 0;
                for &b in block {
                    let o = self.ascii[usize::from(b & 0x7F)];
                    buf[n & (BLOCK - 1)] = o;
                    n += usize::from(o != DROP);
                }
                out.extend_from_slice(&buf[..n]);
            }
            return out.len() > start;
        }
        let raw = raw.trim();
        let part = match &self.rule.extract {
            None => raw,
            Some(re) => match re.captures(raw) {
                None => return false,
                Some(caps) => match caps.get(1).or_else(|| caps.get(0)) {
                    Some(m) => m.as_str(),
                    None => return false,
                },
            },
        };
        if part.is_ascii() {
            for &b in part.as_bytes() {
                let o = self.ascii[usize::from(b & 0x7F)];
                if o != DROP {
                    out.push(o);
                }
            }
        } else {
            let mut utf8 = [0u8; 4];
            for c in part.chars() {
                if !keeps(self.rule, c) {
                    continue;
                }
                if self.rule.case_fold {
                    for l in c.to_lowercase() {
                        out.extend_from_slice(l.encode_utf8(&mut utf8).as_bytes());
                    }
                } else {
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        out.len() > start
    }
}

/// Normalises a reference as a pass with this rule would before comparing it. `None` when the
/// reference takes no part (the extraction pattern does not match, or nothing is left), and
/// when the pattern is invalid (validation reports that).
pub fn normalise_reference(rule: &ReferenceRule, raw: &str) -> Option<String> {
    let extract = match &rule.extract {
        None => None,
        Some(p) => Some(regex::Regex::new(p).ok()?),
    };
    let compiled = CompiledReference {
        case_fold: rule.case_fold,
        remove_spaces: rule.remove_spaces,
        remove_punctuation: rule.remove_punctuation,
        extract,
    };
    let mut out = Vec::new();
    if !Normaliser::new(&compiled).append(raw, &mut out) {
        return None;
    }
    // Always valid: built from whole characters.
    String::from_utf8(out).ok()
}

/// The text a similarity condition compares: lower-cased, whitespace collapsed to single spaces.
pub(crate) fn similarity_text(raw: &str) -> Option<Box<str>> {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    (!out.is_empty()).then(|| out.into_boxed_str())
}

/// Jaro-Winkler similarity of two texts after the same normalisation the engine applies.
pub fn text_similarity(a: &str, b: &str) -> f64 {
    match (similarity_text(a), similarity_text(b)) {
        (Some(a), Some(b)) => strsim::jaro_winkler(&a, &b),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(case_fold: bool, remove_spaces: bool, remove_punctuation: bool) -> CompiledReference {
        CompiledReference {
            case_fold,
            remove_spaces,
            remove_punctuation,
            extract: None,
        }
    }

    /// The char-by-char path, which the ASCII fast path must agree with.
    fn slow(rule: &CompiledReference, raw: &str) -> String {
        let mut out = String::new();
        for c in raw.trim().chars() {
            if c.is_whitespace() {
                if rule.remove_spaces {
                    continue;
                }
            } else if rule.remove_punctuation && !c.is_alphanumeric() {
                continue;
            }
            if rule.case_fold {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// `Normaliser::append` gives what [`slow`] gives, and says whether anything is left.
    fn agrees_with_chars(r: &CompiledReference, raw: &str) -> Result<(), TestCaseError> {
        let mut out = Vec::new();
        let kept = Normaliser::new(r).append(raw, &mut out);
        let want = slow(r, raw);
        prop_assert_eq!(String::from_utf8(out).unwrap(), want.clone());
        prop_assert_eq!(kept, !want.is_empty());
        Ok(())
    }

    proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_chars(raw in "[ -~\t\x0b\x0c\r\n]{0,80}", a: bool, b: bool, c: bool) {
            let r = rule(a, b, c);
            agrees_with_chars(&r, &raw)?;
        }

        #[test]
        fn extraction_path_agrees_with_chars(raw in "[ -~\t\x0b\x0c\r\n]{0,24}", a: bool, b: bool, c: bool) {
            // Extracting everything: the same text through the general path.
            let mut r = rule(a, b, c);
            r.extract = Some(regex::Regex::new("(?s)^(.*)$").unwrap());
            agrees_with_chars(&r, &raw)?;
        }

        #[test]
        fn unicode_path_agrees_with_chars(raw in "[ -~\t\u{85}\u{a0}Ää–ß]{0,24}", a: bool, b: bool, c: bool) {
            let r = rule(a, b, c);
            agrees_with_chars(&r, &raw)?;
        }
    }

    #[test]
    fn unicode_references_fold_and_drop_punctuation() {
        let r = rule(true, true, true);
        let mut out = Vec::new();
        assert!(Normaliser::new(&r).append(" Ärger–Nr. 12 ", &mut out));
        assert_eq!(out, "ärgernr12".as_bytes());
        out.clear();
        assert!(!Normaliser::new(&r).append(" -/. ", &mut out));
    }

    #[test]
    fn similarity_text_collapses_whitespace_and_case() {
        assert_eq!(
            similarity_text("  ACME \t Corp\n").as_deref(),
            Some("acme corp")
        );
        assert_eq!(similarity_text("   "), None);
        assert_eq!(text_similarity("ACME Corp", "acme   corp"), 1.0);
        assert_eq!(text_similarity("", "x"), 0.0);
    }
}
