//! Plain-text tables and lists, as every command's human-readable output writes them.

use comfy_table::{ContentArrangement, Table, presets};

/// Columns aligned on their display width, without borders, one line per row (never wrapped,
/// so that each line stays one record for `grep`).
pub fn table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    for r in rows {
        t.add_row(r);
    }
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

/// Items joined by commas, or `-` for none.
pub fn joined<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|i| i.as_ref().to_string()).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}
