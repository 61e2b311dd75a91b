//! Input of the `audit_bundle` target: log entries and tamperings. The target builds the
//! honest bundle of those entries (every tile, a checkpoint signed by the vector log key and
//! cosigned by the vector witness), applies the tamperings, and runs the auditor's verifier,
//! so the fuzzer explores what lies behind the signature check rather than forging it.
//!
//! Layout: `flags (u8) || size delta (i8) || kept size (u8) || entries || edits`, where each
//! entry is a big-endian u16 length and its bytes, `0xffff` ends the entries, and each edit
//! is four bytes `selector || offset (u16 BE) || xor`.

use protocol_spec::tlog::cosignature::cosign;
use protocol_spec::tlog::merkle::{Tree, leaf_hash};
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::{Checkpoint, sign_checkpoint, tiles};
use std::collections::HashMap;

/// Cosign the checkpoint with the vector witness.
pub const COSIGN: u8 = 1;
/// Sign the checkpoint with a key other than the log's.
pub const WRONG_KEY: u8 = 2;
/// Give the verifier a checkpoint kept from an earlier visit.
pub const KEPT: u8 = 4;
/// Claim a size near 2^62 instead of the size plus the delta.
pub const HUGE: u8 = 8;

/// Edit selector: remove the file chosen by the offset.
pub const DROP: u8 = 0xff;
/// Edit selector: add an entry bundle beyond the checkpoint, `offset` bundles past the end.
pub const EXTRA: u8 = 0xfe;

/// Entries beyond this count are ignored, to keep one run short.
pub const MAX_ENTRIES: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleInput {
    pub flags: u8,
    pub size_delta: i8,
    pub kept_size: u8,
    pub entries: Vec<Vec<u8>>,
    pub edits: Vec<[u8; 4]>,
}

impl BundleInput {
    /// Reads the layout above; whatever is missing at the end is empty.
    pub fn parse(data: &[u8]) -> BundleInput {
        let (&flags, rest) = data.split_first().unwrap_or((&COSIGN, &[]));
        let (&delta, rest) = rest.split_first().unwrap_or((&0, &[]));
        let (&kept_size, mut rest) = rest.split_first().unwrap_or((&0, &[]));
        let mut entries = Vec::new();
        while let [a, b, tail @ ..] = rest {
            let len = u16::from_be_bytes([*a, *b]);
            if len == u16::MAX {
                rest = tail;
                break;
            }
            let len = usize::from(len).min(tail.len());
            let (entry, next) = tail.split_at(len);
            if entries.len() < MAX_ENTRIES {
                entries.push(entry.to_vec());
            }
            rest = next;
        }
        let edits = rest
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect();
        BundleInput {
            flags,
            size_delta: delta as i8,
            kept_size,
            entries,
            edits,
        }
    }

    /// The layout above; [`BundleInput::parse`] reads it back (entries of at most 65534 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.flags, self.size_delta as u8, self.kept_size];
        for e in &self.entries {
            out.extend_from_slice(&(e.len() as u16).to_be_bytes());
            out.extend_from_slice(e);
        }
        out.extend_from_slice(&u16::MAX.to_be_bytes());
        for e in &self.edits {
            out.extend_from_slice(e);
        }
        out
    }

    /// The size the checkpoint claims.
    pub fn claimed_size(&self) -> u64 {
        if self.flags & HUGE != 0 {
            return (1 << 62) + u64::from(self.kept_size);
        }
        (self.entries.len() as u64).saturating_add_signed(i64::from(self.size_delta))
    }

    /// Whether the bundle is the honest one: nothing altered, claimed or left out.
    pub fn is_honest(&self) -> bool {
        self.flags & (WRONG_KEY | HUGE) == 0 && self.flags & COSIGN != 0 && self.edits.is_empty()
    }
}

/// A bundle: path → bytes, the checkpoint included, and the kept checkpoint if asked for.
pub struct Bundle {
    pub files: HashMap<String, Vec<u8>>,
    pub kept: Option<String>,
    pub checkpoint: Checkpoint,
}

fn signed(cp: &Checkpoint, wrong_key: bool, cosigned: bool) -> String {
    let v = crate::vectors::vectors();
    let other = protocol_spec::keys::SigningKey::from_seed([0x5a; 32]);
    let key = if wrong_key { &other } else { &v.log_signer };
    let text = sign_checkpoint(cp, &v.log_key.name, key);
    if !cosigned {
        return text;
    }
    let mut note = Note::parse(&text).expect("a signed checkpoint parses");
    note.signatures.push(cosign(
        &note.text,
        &v.witness_key.name,
        &v.witness_signer,
        v.cosignature_time,
    ));
    note.to_text()
}

/// Builds the bundle the input describes.
pub fn build(input: &BundleInput) -> Bundle {
    let tree = Tree::from_leaves(input.entries.iter().map(|e| leaf_hash(e)));
    let size = input.claimed_size();
    // A claimed size beyond the entries signs the root of what exists: the verifier must
    // notice the missing entries, not a root it cannot compute.
    let root = tree
        .root_at(size.min(tree.size()))
        .expect("a size within the tree");
    let checkpoint = Checkpoint {
        origin: crate::vectors::vectors().log_key.name.clone(),
        size,
        root,
    };
    let mut files: HashMap<String, Vec<u8>> = tiles::tiles(&tree, &input.entries, tree.size())
        .expect("entries of at most 65535 bytes make tiles")
        .into_iter()
        .collect();
    let flags = input.flags;
    files.insert(
        "checkpoint".into(),
        signed(&checkpoint, flags & WRONG_KEY != 0, flags & COSIGN != 0).into_bytes(),
    );
    let kept = (flags & KEPT != 0).then(|| {
        let n = u64::from(input.kept_size) % (tree.size() + 1);
        let old = Checkpoint {
            origin: checkpoint.origin.clone(),
            size: n,
            root: tree.root_at(n).expect("a size within the tree"),
        };
        signed(&old, false, false)
    });
    for &[selector, hi, lo, xor] in &input.edits {
        let offset = usize::from(u16::from_be_bytes([hi, lo]));
        let mut paths: Vec<String> = files.keys().cloned().collect();
        paths.sort();
        match selector {
            DROP if paths.is_empty() => {}
            DROP => {
                files.remove(&paths[offset % paths.len()]);
            }
            EXTRA => {
                let first = tree.size().div_ceil(tiles::TILE_WIDTH);
                let path = tiles::entries_path(first + offset as u64, u64::from(xor).max(1));
                files.insert(path, vec![0, 0]);
            }
            _ if paths.is_empty() => {}
            _ => {
                let path = &paths[usize::from(selector) % paths.len()];
                let bytes = files.get_mut(path).expect("listed path");
                if bytes.is_empty() {
                    bytes.push(xor);
                } else {
                    let i = offset % bytes.len();
                    bytes[i] ^= xor.max(1);
                }
            }
        }
    }
    Bundle {
        files,
        kept,
        checkpoint,
    }
}
