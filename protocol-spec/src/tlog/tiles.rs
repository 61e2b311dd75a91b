//! C2SP tlog-tiles: paths, level tiles of 256 hashes, entry bundles, partial tiles; writing
//! every tile of a tree of a given size. A bundle's tiles are read back against its signed
//! checkpoint by the auditor's verifier, [`crate::audit::verify_bundle`].

use super::checkpoint::parse_decimal;
use super::merkle::{Hash, Tree, leaf_hash};

/// Hashes in a full tile (tiles have height 8).
pub const TILE_WIDTH: u64 = 256;
/// Tree levels spanned by one tile level.
pub const TILE_HEIGHT: u32 = 8;
/// Bytes in a full level tile.
pub const FULL_TILE_LEN: usize = 8192;
/// Entry bundles prefix each entry with a big-endian u16 length.
pub const MAX_ENTRY_LEN: usize = 65535;
/// Bytes in the largest entry bundle: 256 entries of the largest size with their lengths.
pub const MAX_BUNDLE_LEN: usize = 256 * (2 + MAX_ENTRY_LEN);
/// tlog-tiles spells levels from 0 to 63; with 8 tree levels per tile level, only levels 0
/// to 7 can hold a hash of a tree of at most 2^64 - 1 leaves.
pub const MAX_LEVEL: u8 = 63;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("entry {0} is longer than 65535 bytes")]
    EntryTooLong(u64),
    #[error("entry bundle {0} is truncated or malformed")]
    Bundle(String),
    #[error("tile {0} is missing")]
    Missing(String),
    #[error("tile {path} holds {got} bytes, expected {expected}")]
    TileLength {
        path: String,
        expected: usize,
        got: usize,
    },
    #[error("tiles for size {size} asked of a tree of {have} leaves and {entries} entries")]
    SizeBeyondTree { size: u64, have: u64, entries: u64 },
}

/// `x001/x234/067` for 1234067: 3-digit groups, `x` on all but the last.
pub fn index_path(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn width_suffix(width: u64) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

/// `tile/<L>/<N>[.p/<W>]`; a width of 256 is a full tile and has no suffix.
pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    format!("tile/{level}/{}{}", index_path(index), width_suffix(width))
}

/// `tile/entries/<N>[.p/<W>]`.
pub fn entries_path(index: u64, width: u64) -> String {
    format!("tile/entries/{}{}", index_path(index), width_suffix(width))
}

/// A parsed tlog-tiles path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    Checkpoint,
    Level { level: u8, index: u64, width: u64 },
    Entries { index: u64, width: u64 },
}

impl TilePath {
    /// The path text; [`parse_path`] reads it back.
    pub fn path(&self) -> String {
        match *self {
            TilePath::Checkpoint => "checkpoint".into(),
            TilePath::Level {
                level,
                index,
                width,
            } => tile_path(level, index, width),
            TilePath::Entries { index, width } => entries_path(index, width),
        }
    }
}

/// Whether tile `index` of `width` hashes at `level` fits in a tree of at most 2^64 - 1
/// leaves, that is `(index·256 + width)·256^level` fits in a u64. Indexes come from outside:
/// once this holds, no offset derived from them can wrap around to another tile.
fn within_largest_tree(level: u8, index: u64, width: u64) -> bool {
    let span = 1u64.checked_shl(TILE_HEIGHT * u32::from(level));
    index
        .checked_mul(TILE_WIDTH)
        .and_then(|n| n.checked_add(width))
        .zip(span)
        .and_then(|(end, span)| end.checked_mul(span))
        .is_some()
}

/// Parses `checkpoint`, `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`, accepting only
/// the one canonical spelling of each (no leading zeros, no empty `x000` groups) and only
/// tiles that a tree of at most 2^64 - 1 leaves can have, so the first leaf and the end of
/// any returned tile, `index·256·256^L` and `(index·256 + width)·256^L`, fit in a u64.
pub fn parse_path(path: &str) -> Option<TilePath> {
    if path == "checkpoint" {
        return Some(TilePath::Checkpoint);
    }
    let rest = path.strip_prefix("tile/")?;
    let (kind, rest) = rest.split_once('/')?;
    let (n, width) = match rest.split_once(".p/") {
        Some((n, w)) => (n, parse_decimal(w).filter(|w| (1..TILE_WIDTH).contains(w))?),
        None => (rest, TILE_WIDTH),
    };
    let mut index: u64 = 0;
    let groups: Vec<&str> = n.split('/').collect();
    let (last, init) = groups.split_last()?;
    let digits = |g: &str| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit());
    for g in init {
        let g = g.strip_prefix('x').filter(|g| digits(g))?;
        index = index.checked_mul(1000)?.checked_add(g.parse().ok()?)?;
    }
    if !digits(last) {
        return None;
    }
    index = index.checked_mul(1000)?.checked_add(last.parse().ok()?)?;
    if index_path(index) != n {
        return None;
    }
    if kind == "entries" {
        return within_largest_tree(0, index, width).then_some(TilePath::Entries { index, width });
    }
    let level = parse_decimal(kind)
        .filter(|l| *l <= u64::from(MAX_LEVEL))
        .and_then(|l| u8::try_from(l).ok())
        .filter(|l| within_largest_tree(*l, index, width))?;
    Some(TilePath::Level {
        level,
        index,
        width,
    })
}

/// (index, width) of the tiles at one level for a tree of `size`: every full tile, then
/// the partial one of `floor(size / 256^level) mod 256` hashes if that is not zero.
fn tiles_at_level(size: u64, level: u8) -> impl Iterator<Item = (u64, u64)> {
    let nodes = size
        .checked_shr(TILE_HEIGHT * u32::from(level))
        .unwrap_or(0);
    let count = nodes.div_ceil(TILE_WIDTH);
    (0..count).map(move |n| (n, (nodes - n * TILE_WIDTH).min(TILE_WIDTH)))
}

/// The levels that hold tiles for a tree of `size`: those with at least one node.
fn levels_of(size: u64) -> impl Iterator<Item = u8> {
    (0..=MAX_LEVEL)
        .take_while(move |l| size.checked_shr(TILE_HEIGHT * u32::from(*l)).unwrap_or(0) > 0)
}

/// (level, index, width) of every level tile of a tree of `size`, level by level, lazily.
fn level_tiles_of(size: u64) -> impl Iterator<Item = (u8, u64, u64)> {
    levels_of(size).flat_map(move |l| tiles_at_level(size, l).map(move |(n, w)| (l, n, w)))
}

/// Paths of every level tile of a tree of `size` leaves: (path, level, index, width), lazily,
/// so a huge claimed size costs nothing until its tiles are read.
pub fn level_tile_paths(size: u64) -> impl Iterator<Item = (String, u8, u64, u64)> {
    level_tiles_of(size).map(|(l, n, w)| (tile_path(l, n, w), l, n, w))
}

/// Paths of the entry bundles of a tree of `size` leaves, in order, with their widths, lazily.
pub fn entry_bundle_paths(size: u64) -> impl Iterator<Item = (String, u64)> {
    tiles_at_level(size, 0).map(|(n, w)| (entries_path(n, w), w))
}

/// How many level tiles and entry bundles a tree of `size` leaves has, without listing them.
pub fn tile_count(size: u64) -> u64 {
    let entries = size.div_ceil(TILE_WIDTH);
    levels_of(size).fold(entries, |count, l| {
        count + (size >> (TILE_HEIGHT * u32::from(l))).div_ceil(TILE_WIDTH)
    })
}

/// Whether `tile` is one of the tiles of a tree of exactly `size` leaves: a full tile below
/// the level's end, or the one partial tile of the level's remaining width.
pub fn is_tile_of(size: u64, tile: &TilePath) -> bool {
    let (level, index, width) = match *tile {
        TilePath::Checkpoint => return false,
        TilePath::Level {
            level,
            index,
            width,
        } => (level, index, width),
        TilePath::Entries { index, width } => (0, index, width),
    };
    let nodes = size
        .checked_shr(TILE_HEIGHT * u32::from(level))
        .unwrap_or(0);
    let (full, rest) = (nodes / TILE_WIDTH, nodes % TILE_WIDTH);
    (width == TILE_WIDTH && index < full) || (width == rest && index == full)
}

/// A level tile's bytes: the hashes concatenated.
pub fn encode_level_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// Splits a level tile of `width` hashes; `path` names it in errors.
pub fn decode_level_tile(path: &str, bytes: &[u8], width: u64) -> Result<Vec<Hash>, TileError> {
    let expected = usize::try_from(width)
        .unwrap_or(usize::MAX)
        .saturating_mul(32);
    if width == 0 || width > TILE_WIDTH || bytes.len() != expected {
        return Err(TileError::TileLength {
            path: path.into(),
            expected,
            got: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// An entry bundle's bytes: each entry as a big-endian u16 length and its bytes.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    bundle_from(0, entries)
}

fn bundle_from<E: AsRef<[u8]>>(first: u64, entries: &[E]) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for (i, e) in (first..).zip(entries) {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLong(i))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries; `path` names it in errors.
pub fn parse_bundle(path: &str, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    Ok(split_bundle(path, bytes)?
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect())
}

/// Splits an entry bundle into its entries without copying them; `path` names it in errors.
pub fn split_bundle<'a>(path: &str, bytes: &'a [u8]) -> Result<Vec<&'a [u8]>, TileError> {
    BundleEntries::new(bytes)
        .map(|e| e.ok_or_else(|| TileError::Bundle(path.into())))
        .collect()
}

/// The entries of an entry bundle, lazily, in order, so that each is read right after the
/// one before it; `None` where the bundle is truncated or malformed, and nothing after.
pub struct BundleEntries<'a> {
    rest: &'a [u8],
}

impl<'a> BundleEntries<'a> {
    pub fn new(bytes: &'a [u8]) -> BundleEntries<'a> {
        BundleEntries { rest: bytes }
    }
}

impl<'a> Iterator for BundleEntries<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Option<&'a [u8]>> {
        if self.rest.is_empty() {
            return None;
        }
        let entry = match self.rest {
            [a, b, tail @ ..] if tail.len() >= usize::from(u16::from_be_bytes([*a, *b])) => {
                let (entry, next) = tail.split_at(usize::from(u16::from_be_bytes([*a, *b])));
                self.rest = next;
                Some(entry)
            }
            _ => {
                self.rest = &[];
                None
            }
        };
        Some(entry)
    }
}

/// Bytes of one level tile of `tree`, if the tree holds every hash in it.
pub fn level_tile(tree: &Tree, level: u8, index: u64, width: u64) -> Option<Vec<u8>> {
    if width == 0 || width > TILE_WIDTH {
        return None;
    }
    let span = 1u64.checked_shl(TILE_HEIGHT * u32::from(level))?;
    let first = index.checked_mul(TILE_WIDTH)?;
    let end = first.checked_add(width)?;
    if end.checked_mul(span)? > tree.size() {
        return None;
    }
    let mut out = Vec::with_capacity(width as usize * 32);
    for i in first..end {
        out.extend_from_slice(&tree.subtree(i * span, span)?);
    }
    Some(out)
}

/// Every level tile of the tree as it was at `size`: (path, bytes), level by level.
pub fn level_tiles(tree: &Tree, size: u64) -> Result<Vec<(String, Vec<u8>)>, TileError> {
    if size > tree.size() {
        return Err(TileError::SizeBeyondTree {
            size,
            have: tree.size(),
            entries: tree.size(),
        });
    }
    level_tiles_of(size)
        .map(|(l, n, w)| {
            let path = tile_path(l, n, w);
            let bytes =
                level_tile(tree, l, n, w).ok_or_else(|| TileError::Missing(path.clone()))?;
            Ok((path, bytes))
        })
        .collect()
}

/// Every tile of a tree of `size` leaves: (path, bytes), level tiles then entry bundles.
/// `tree` holds the leaf hashes of `entries` (at least `size` of each).
pub fn tiles(
    tree: &Tree,
    entries: &[Vec<u8>],
    size: u64,
) -> Result<Vec<(String, Vec<u8>)>, TileError> {
    if size > entries.len() as u64 {
        return Err(TileError::SizeBeyondTree {
            size,
            have: tree.size(),
            entries: entries.len() as u64,
        });
    }
    let mut out = level_tiles(tree, size)?;
    for (n, w) in tiles_at_level(size, 0) {
        let first = n * TILE_WIDTH;
        // Both bounds are at most `size`, which fits in `entries`.
        let slice = &entries[first as usize..(first + w) as usize];
        out.push((entries_path(n, w), bundle_from(first, slice)?));
    }
    Ok(out)
}

/// Every tile of the tree of all `entries`.
pub fn tiles_for_entries(entries: &[Vec<u8>]) -> Result<Vec<(String, Vec<u8>)>, TileError> {
    let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    tiles(&tree, entries, tree.size())
}

/// Leaf hashes of a sequence of entries.
pub fn leaf_hashes(entries: &[Vec<u8>]) -> Vec<Hash> {
    entries.iter().map(|e| leaf_hash(e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u32) -> Vec<Vec<u8>> {
        (0..n).map(|i| i.to_be_bytes().to_vec()).collect()
    }

    #[test]
    fn paths_follow_c2sp() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(999), "999");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(index_path(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        assert_eq!(tile_path(0, 1234067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 0, 17), "tile/1/000.p/17");
        assert_eq!(entries_path(2, 5), "tile/entries/002.p/5");
    }

    #[test]
    fn paths_parse_back_canonically() {
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
                "tile/7/000.p/255",
                Some(TilePath::Level {
                    level: 7,
                    index: 0,
                    width: 255,
                }),
            ),
            (
                "tile/entries/002.p/5",
                Some(TilePath::Entries { index: 2, width: 5 }),
            ),
            (
                "tile/0/x072/x057/x594/x037/x927/934",
                Some(TilePath::Level {
                    level: 0,
                    index: (1 << 56) - 2,
                    width: 256,
                }),
            ),
            // Spelled right but beyond any tree, and beyond u64.
            ("tile/0/x018/x446/x744/x073/x709/x551/615", None),
            ("tile/0/x018/x446/x744/x073/x709/x551/616", None),
            ("tile/0/1", None),
            ("tile/0/0000", None),
            ("tile/64/000", None),
            ("tile/00/000", None),
            ("tile/+0/000", None),
            ("tile/0/000.p/256", None),
            ("tile/0/000.p/0", None),
            ("tile/0/000.p/05", None),
            ("tile/0/000.p/+5", None),
            ("tile/0/000.p/", None),
            ("tile/0/x000/001", None),
            ("tile/0/001/002", None),
            ("tile/0/x01/002", None),
            ("tile/0/", None),
            ("tile/entries/x001", None),
            ("tile/../etc", None),
            ("tile/0/+01", None),
            ("/checkpoint", None),
        ] {
            assert_eq!(parse_path(p), want, "{p}");
            if let Some(t) = want {
                assert_eq!(t.path(), p);
            }
        }
    }

    #[test]
    fn paths_beyond_the_largest_tree_are_refused() {
        // A tree holds at most 2^64 - 1 leaves: its last entry bundle is 2^56 - 1, partial.
        let last = (1u64 << 56) - 1;
        let entries = |index, width| Some(TilePath::Entries { index, width });
        let level = |level, index, width| {
            Some(TilePath::Level {
                level,
                index,
                width,
            })
        };
        assert_eq!(parse_path(&entries_path(last, 255)), entries(last, 255));
        assert_eq!(
            parse_path(&entries_path(last - 1, 256)),
            entries(last - 1, 256)
        );
        assert_eq!(parse_path(&tile_path(0, last, 255)), level(0, last, 255));
        // Each level has at most floor((2^64 - 1) / 256^L) hashes.
        assert_eq!(
            parse_path(&tile_path(1, (1 << 48) - 1, 255)),
            level(1, (1 << 48) - 1, 255)
        );
        assert_eq!(
            parse_path(&tile_path(1, (1 << 48) - 2, 256)),
            level(1, (1 << 48) - 2, 256)
        );
        assert_eq!(parse_path("tile/7/000.p/255"), level(7, 0, 255));
        for (l, n, w) in [
            (0, last, 256),
            (0, 1 << 56, 1),
            (0, 1 << 56, 256),
            (0, u64::MAX, 1),
            (0, u64::MAX, 256),
            (1, (1 << 48) - 1, 256),
            (1, 1 << 48, 1),
            (1, u64::MAX, 256),
            (7, 0, 256),
            (7, 1, 1),
            (8, 0, 1),
            (63, 0, 255),
        ] {
            assert_eq!(parse_path(&tile_path(l, n, w)), None, "{l} {n} {w}");
            if l == 0 {
                assert_eq!(parse_path(&entries_path(n, w)), None, "entries {n} {w}");
            }
        }
    }

    #[test]
    fn tile_sets_match_the_spec_examples() {
        // tlog-tiles: size 70,000 is 273 full level-0 tiles and one of width 112, one full
        // level-1 tile and one of width 17, and a level-2 tile of width 1.
        let p: Vec<_> = level_tile_paths(70_000).collect();
        assert_eq!(p.len(), 273 + 1 + 1 + 1 + 1);
        assert_eq!(tile_count(70_000), 277 + 274);
        assert_eq!(p[272].0, "tile/0/272");
        assert_eq!(p[273].0, "tile/0/273.p/112");
        assert_eq!(p[274].0, "tile/1/000");
        assert_eq!(p[275].0, "tile/1/001.p/17");
        assert_eq!(p[276].0, "tile/2/000.p/1");
        // Size 256: a full level-0 tile and a level-1 tile of width 1.
        let p: Vec<String> = level_tile_paths(256).map(|t| t.0).collect();
        assert_eq!(p, ["tile/0/000", "tile/1/000.p/1"]);
        assert_eq!(level_tile_paths(0).count(), 0);
        assert_eq!(entry_bundle_paths(0).count(), 0);
        assert_eq!(tile_count(0), 0);
        // Listing is lazy: the first tiles of the largest tree come at once.
        assert_eq!(
            entry_bundle_paths(u64::MAX).next(),
            Some(("tile/entries/000".into(), 256))
        );
        assert_eq!(
            tile_count(u64::MAX),
            (1 << 56)
                + (1 << 56)
                + (1 << 48)
                + (1 << 40)
                + (1 << 32)
                + (1 << 24)
                + (1 << 16)
                + (1 << 8)
                + 1
        );
        // The largest tree ends at level 7.
        assert_eq!(levels_of(u64::MAX).last(), Some(7));
        assert_eq!(levels_of(255).last(), Some(0));
    }

    #[test]
    fn tiles_of_a_size_are_exactly_those_listed() {
        for size in [0u64, 1, 255, 256, 600, 70_000] {
            let listed: Vec<String> = level_tile_paths(size)
                .map(|t| t.0)
                .chain(entry_bundle_paths(size).map(|t| t.0))
                .collect();
            assert_eq!(listed.len() as u64, tile_count(size), "size {size}");
            for p in &listed {
                assert!(is_tile_of(size, &parse_path(p).unwrap()), "{p} of {size}");
            }
            // The neighbours of each listed tile (next index, other widths) are not.
            for p in &listed {
                let t = parse_path(p).unwrap();
                let (index, width) = match t {
                    TilePath::Level { index, width, .. } | TilePath::Entries { index, width } => {
                        (index, width)
                    }
                    TilePath::Checkpoint => unreachable!(),
                };
                let moved = |index, width| match t {
                    TilePath::Level { level, .. } => TilePath::Level {
                        level,
                        index,
                        width,
                    },
                    _ => TilePath::Entries { index, width },
                };
                for other in [
                    moved(index + 1, width),
                    moved(index, width - 1),
                    moved(index, (width % 256) + 1),
                ] {
                    if !listed.contains(&other.path()) {
                        assert!(!is_tile_of(size, &other), "{} of {size}", other.path());
                    }
                }
            }
        }
        assert!(!is_tile_of(600, &TilePath::Checkpoint));
        assert!(is_tile_of(
            u64::MAX,
            &parse_path("tile/7/000.p/255").unwrap()
        ));
    }

    #[test]
    fn tiles_hold_the_right_hashes_and_entries() {
        let entries = entries(600);
        let t = Tree::from_leaves(leaf_hashes(&entries));
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
        assert_eq!(tiles[0].1.len(), FULL_TILE_LEN);
        assert_eq!(&tiles[1].1[..32], &leaf_hash(&entries[256]));
        assert_eq!(&tiles[3].1[32..], &t.subtree(256, 256).unwrap());
        assert_eq!(parse_bundle("x", &tiles[6].1).unwrap(), entries[512..]);
        // A past size of the same tree.
        let past = super::tiles(&t, &entries, 300).unwrap();
        assert_eq!(past[1].0, "tile/0/001.p/44");
        assert_eq!(past[1].1, tiles[1].1[..44 * 32]);
        assert!(super::tiles(&t, &entries, 601).is_err());
        assert!(level_tiles(&t, 601).is_err());
        assert_eq!(level_tile(&t, 1, 0, 3), None);
        assert_eq!(level_tile(&t, 0, 2, 89), None);
        assert_eq!(level_tile(&t, 9, 0, 1), None);
        assert_eq!(level_tile(&t, 0, u64::MAX, 1), None);
    }

    #[test]
    fn bundles_encode_and_refuse_bad_input() {
        let e = [vec![], vec![1u8], vec![2u8; 300]];
        let b = encode_bundle(&e).unwrap();
        assert_eq!(&b[..5], &[0, 0, 0, 1, 1]);
        assert_eq!(&b[5..7], &[1, 44]);
        assert_eq!(parse_bundle("p", &b).unwrap(), e);
        assert_eq!(
            parse_bundle("p", &b[..b.len() - 1]),
            Err(TileError::Bundle("p".into()))
        );
        assert_eq!(parse_bundle("p", &[0]), Err(TileError::Bundle("p".into())));
        assert_eq!(
            encode_bundle(&[vec![0u8; MAX_ENTRY_LEN]]).unwrap().len(),
            MAX_ENTRY_LEN + 2
        );
        assert_eq!(
            encode_bundle(&[vec![], vec![0u8; MAX_ENTRY_LEN + 1]]),
            Err(TileError::EntryTooLong(1))
        );
        let big: Vec<Vec<u8>> = (0..300)
            .map(|i| vec![0u8; if i == 290 { 70_000 } else { 1 }])
            .collect();
        assert_eq!(tiles_for_entries(&big), Err(TileError::EntryTooLong(290)));
        assert!(decode_level_tile("p", &[0; 33], 1).is_err());
        assert!(decode_level_tile("p", &[], 0).is_err());
        assert_eq!(decode_level_tile("p", &[5; 64], 2).unwrap(), [[5; 32]; 2]);
    }
}
