//! C2SP tlog-tiles layout: level tiles of 256 hashes and entry bundles, with partial tiles.

use super::{Hash, Tree, leaf_hash};

pub const TILE_WIDTH: u64 = 256;
/// tlog-tiles entries are u16-length-prefixed.
pub const MAX_ENTRY_LEN: usize = 65535;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("entry {0} is longer than 65535 bytes")]
    EntryTooLong(u64),
    #[error("entry bundle {0} is truncated or malformed")]
    Bundle(String),
    #[error("tile {0} is missing")]
    Missing(String),
}

/// `x001/x234/067` for 1234067: 3-digit groups, `x` on all but the last.
pub fn index_path(n: u64) -> String {
    let s = format!("{n:03}");
    let pad = (3 - s.len() % 3) % 3;
    let s = format!("{}{s}", "0".repeat(pad));
    let groups: Vec<&str> = (0..s.len() / 3).map(|i| &s[i * 3..i * 3 + 3]).collect();
    let (last, rest) = groups.split_last().expect("at least one group");
    let mut out = String::new();
    for g in rest {
        out.push('x');
        out.push_str(g);
        out.push('/');
    }
    out.push_str(last);
    out
}

fn width_suffix(width: u64) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    format!("tile/{level}/{}{}", index_path(index), width_suffix(width))
}

pub fn entries_path(index: u64, width: u64) -> String {
    format!("tile/entries/{}{}", index_path(index), width_suffix(width))
}

/// Every tile of a tree of `size` leaves: (path, bytes), level tiles then entry bundles.
pub fn tiles(
    tree: &Tree,
    entries: &[Vec<u8>],
    size: u64,
) -> Result<Vec<(String, Vec<u8>)>, TileError> {
    let mut out = Vec::new();
    let mut level = 0u8;
    loop {
        let height = 8 * u32::from(level);
        let nodes = if height >= 64 { 0 } else { size >> height };
        if nodes == 0 {
            break;
        }
        let mut n = 0;
        while n * TILE_WIDTH < nodes {
            let width = (nodes - n * TILE_WIDTH).min(TILE_WIDTH);
            let mut bytes = Vec::with_capacity(width as usize * 32);
            for i in 0..width {
                let start = (n * TILE_WIDTH + i) << height;
                bytes.extend_from_slice(&tree.subtree(start, 1u64 << height));
            }
            out.push((tile_path(level, n, width), bytes));
            n += 1;
        }
        level += 1;
    }
    let mut n = 0;
    while n * TILE_WIDTH < size {
        let width = (size - n * TILE_WIDTH).min(TILE_WIDTH);
        let mut bytes = Vec::new();
        for i in 0..width {
            let idx = n * TILE_WIDTH + i;
            let e = &entries[idx as usize];
            if e.len() > MAX_ENTRY_LEN {
                return Err(TileError::EntryTooLong(idx));
            }
            bytes.extend_from_slice(&(e.len() as u16).to_be_bytes());
            bytes.extend_from_slice(e);
        }
        out.push((entries_path(n, width), bytes));
        n += 1;
    }
    Ok(out)
}

/// Splits an entry bundle into its entries.
pub fn parse_bundle(path: &str, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(TileError::Bundle(path.into()));
        }
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        if rest.len() < 2 + len {
            return Err(TileError::Bundle(path.into()));
        }
        out.push(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    Ok(out)
}

/// The paths of the entry bundles of a tree of `size` leaves, in order.
pub fn entry_bundle_paths(size: u64) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut n = 0;
    while n * TILE_WIDTH < size {
        let width = (size - n * TILE_WIDTH).min(TILE_WIDTH);
        out.push((entries_path(n, width), width));
        n += 1;
    }
    out
}

/// Leaf hashes of a sequence of entries.
pub fn leaf_hashes(entries: &[Vec<u8>]) -> Vec<Hash> {
    entries.iter().map(|e| leaf_hash(e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_c2sp() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(tile_path(0, 1234067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 0, 17), "tile/1/000.p/17");
        assert_eq!(entries_path(2, 5), "tile/entries/002.p/5");
    }

    #[test]
    fn tiles_hold_the_right_hashes_and_entries() {
        let entries: Vec<Vec<u8>> = (0..600u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut t = Tree::new();
        for e in &entries {
            t.append(leaf_hash(e));
        }
        let tiles = tiles(&t, &entries, 600).unwrap();
        let paths: Vec<&str> = tiles.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tile/0/000",
                "tile/0/001",
                "tile/0/002.p/88",
                "tile/1/000.p/2",
                "tile/entries/000",
                "tile/entries/001",
                "tile/entries/002.p/88"
            ]
        );
        assert_eq!(&tiles[1].1[..32], &leaf_hash(&entries[256]));
        assert_eq!(&tiles[3].1[32..], &t.subtree(256, 256));
        let back = parse_bundle("x", &tiles[6].1).unwrap();
        assert_eq!(back, entries[512..].to_vec());
    }
}

/// A parsed tlog-tiles path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    Checkpoint,
    Level { level: u8, index: u64, width: u64 },
    Entries { index: u64, width: u64 },
}

/// Parses `checkpoint`, `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
pub fn parse_path(path: &str) -> Option<TilePath> {
    if path == "checkpoint" {
        return Some(TilePath::Checkpoint);
    }
    let rest = path.strip_prefix("tile/")?;
    let (kind, rest) = rest.split_once('/')?;
    let (n, width) = match rest.split_once(".p/") {
        Some((n, w)) => {
            let w: u64 = w.parse().ok().filter(|w| (1..TILE_WIDTH).contains(w))?;
            if w.to_string() != rest.split_once(".p/")?.1 {
                return None;
            }
            (n, w)
        }
        None => (rest, TILE_WIDTH),
    };
    let groups: Vec<&str> = n.split('/').collect();
    let (last, init) = groups.split_last()?;
    let mut index: u64 = 0;
    for g in init {
        let g = g.strip_prefix('x')?;
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index = index.checked_mul(1000)?.checked_add(g.parse().ok()?)?;
    }
    if last.len() != 3 || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index = index.checked_mul(1000)?.checked_add(last.parse().ok()?)?;
    if index_path(index) != n {
        return None;
    }
    if kind == "entries" {
        Some(TilePath::Entries { index, width })
    } else {
        let level: u8 = kind.parse().ok().filter(|l: &u8| *l < 8)?;
        Some(TilePath::Level {
            level,
            index,
            width,
        })
    }
}

/// Bytes of one level tile of `tree`, if the tree is large enough to hold it.
pub fn level_tile(tree: &Tree, level: u8, index: u64, width: u64) -> Option<Vec<u8>> {
    let height = 8 * u32::from(level);
    let first = index.checked_mul(TILE_WIDTH)?;
    let end = first.checked_add(width)?;
    if end.checked_shl(height)? > tree.size() || end << height >> height != end {
        return None;
    }
    let mut out = Vec::with_capacity(width as usize * 32);
    for i in first..end {
        out.extend_from_slice(&tree.subtree(i << height, 1u64 << height));
    }
    Some(out)
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn paths_parse_back() {
        for (p, want) in [
            ("checkpoint", Some(TilePath::Checkpoint)),
            (
                "tile/0/x001/x234/067",
                Some(TilePath::Level {
                    level: 0,
                    index: 1234067,
                    width: 256,
                }),
            ),
            (
                "tile/1/000.p/17",
                Some(TilePath::Level {
                    level: 1,
                    index: 0,
                    width: 17,
                }),
            ),
            (
                "tile/entries/002.p/5",
                Some(TilePath::Entries { index: 2, width: 5 }),
            ),
            ("tile/0/1", None),
            ("tile/0/000.p/256", None),
            ("tile/0/x000/001", None),
            ("tile/../etc", None),
        ] {
            assert_eq!(parse_path(p), want, "{p}");
        }
    }
}

/// Paths of every level tile of a tree of `size` leaves, with their widths.
pub fn level_tile_paths(size: u64) -> Vec<(String, u8, u64, u64)> {
    let mut out = Vec::new();
    let mut level = 0u8;
    while level < 8 {
        let height = 8 * u32::from(level);
        let nodes = size >> height;
        if nodes == 0 {
            break;
        }
        let mut n = 0;
        while n * TILE_WIDTH < nodes {
            let width = (nodes - n * TILE_WIDTH).min(TILE_WIDTH);
            out.push((tile_path(level, n, width), level, n, width));
            n += 1;
        }
        level += 1;
    }
    out
}
