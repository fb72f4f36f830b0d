//! Small text helpers shared by the importers.

/// `str::trim`, with a shortcut for the usual cell that neither starts nor ends with whitespace
/// and is ASCII at both ends: `str::trim` decodes characters from both ends, which adds up when
/// every cell of a million rows is trimmed a few times.
pub(crate) fn trim(s: &str) -> &str {
    let solid = |b: &u8| b.is_ascii() && !char::from(*b).is_whitespace();
    let bytes = s.as_bytes();
    if bytes.first().is_some_and(solid) && bytes.last().is_some_and(solid) {
        s
    } else {
        s.trim()
    }
}

/// Trimmed text, or `None` when empty.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let t = trim(s);
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// Trimmed text as a record field (inline up to 24 bytes), or `None` when empty.
pub(crate) fn non_empty_field(s: &str) -> Option<domain::records::CompactString> {
    let t = trim(s);
    if t.is_empty() {
        None
    } else {
        Some(t.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_like_str_trim() {
        for s in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r\n",
            "\u{b}a\u{c}",
            "\u{a0}a",
            "a\u{a0}",
            "\u{3000}x",
            "é",
            " é ",
            "\u{85}a",
            "a\u{2028}",
            "\u{1c}a\u{1f}",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn trim_equals_str_trim(s in "\\s{0,2}\\PC{0,6}\\s{0,2}") {
            prop_assert_eq!(trim(&s), s.trim());
        }
    }
}
