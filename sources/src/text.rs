//! Small text helpers shared by the importers.

/// Trimmed text, or `None` when empty.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// Trimmed text as a record field (inline up to 24 bytes), or `None` when empty.
pub(crate) fn non_empty_field(s: &str) -> Option<domain::records::CompactString> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.into())
    }
}
