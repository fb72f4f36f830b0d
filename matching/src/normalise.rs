//! Text normalisation: references (for exact keys) and similarity texts.

use crate::rules::{CompiledReference, ReferenceRule};

/// Normalises `raw` by `rule` into `out` (cleared first). Returns false when the record takes no
/// part in a reference comparison: no match of the extraction pattern, or nothing left.
pub(crate) fn normalise_into(rule: &CompiledReference, raw: &str, out: &mut String) -> bool {
    out.clear();
    let raw = raw.trim();
    let part = match &rule.extract {
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
            if (b as char).is_whitespace() {
                if rule.remove_spaces {
                    continue;
                }
            } else if rule.remove_punctuation && !b.is_ascii_alphanumeric() {
                continue;
            }
            out.push(if rule.case_fold {
                b.to_ascii_lowercase()
            } else {
                b
            } as char);
        }
        return !out.is_empty();
    }
    for c in part.chars() {
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
    !out.is_empty()
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
    let mut out = String::new();
    normalise_into(&compiled, raw, &mut out).then_some(out)
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

    proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_chars(raw in "[ -~\t\x0b\x0c\r\n]{0,24}", a: bool, b: bool, c: bool) {
            let r = rule(a, b, c);
            let mut out = String::new();
            let kept = normalise_into(&r, &raw, &mut out);
            let want = slow(&r, &raw);
            prop_assert_eq!(&out, &want);
            prop_assert_eq!(kept, !want.is_empty());
        }
    }

    #[test]
    fn unicode_references_fold_and_drop_punctuation() {
        let mut out = String::new();
        assert!(normalise_into(
            &rule(true, true, true),
            " Ärger–Nr. 12 ",
            &mut out
        ));
        assert_eq!(out, "ärgernr12");
        assert!(!normalise_into(&rule(true, true, true), " -/. ", &mut out));
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
