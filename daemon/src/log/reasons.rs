//! What a refusal or an error may quote of outside input: bounded, cut on a character
//! boundary.

/// The longest reason a refusal carries (protocol.md §8). A reason may quote what the node
/// received, which can be nearly a frame long: a refusal quoting all of it would not fit in a
/// frame and would never be sent.
pub(crate) const MAX_REASON_LEN: usize = 1024;

/// `reason`, cut on a character boundary to at most [`MAX_REASON_LEN`] bytes.
pub(crate) fn bounded_reason(mut reason: String) -> String {
    const MORE: &str = "…";
    if reason.len() > MAX_REASON_LEN {
        let mut cut = MAX_REASON_LEN - MORE.len();
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push_str(MORE);
    }
    reason
}

/// Outside input named in an error: its first 64 bytes (cut on a character boundary) and, when
/// cut, its length, so an operator recognises it without the error repeating all of it.
pub(crate) fn quoted(input: &str) -> String {
    const SHOWN: usize = 64;
    if input.len() <= SHOWN {
        return format!("`{input}`");
    }
    let mut cut = SHOWN;
    while !input.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("`{}…` ({} bytes)", &input[..cut], input.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        assert_eq!(bounded_reason("short".into()), "short");
        let exact = "a".repeat(MAX_REASON_LEN);
        assert_eq!(bounded_reason(exact.clone()), exact);
        // Two-byte characters straddling the limit: the cut falls before the one split by it.
        let long = "é".repeat(MAX_REASON_LEN);
        let cut = bounded_reason(long);
        assert!(cut.len() <= MAX_REASON_LEN, "{}", cut.len());
        assert!(cut.ends_with("é…"));
        assert_eq!(quoted("tile/0/000"), "`tile/0/000`");
        let q = quoted(&"é".repeat(100));
        assert_eq!(q, format!("`{}…` (200 bytes)", "é".repeat(32)));
    }
}
