//! `audit verify` holds the same memory for a log of any size: the heap it uses at its peak
//! is measured while it verifies a log of 1,000 entries and one of 100,000, served by a
//! bundle that makes each file when it is read, so that the bundle itself holds nothing.
//!
//! The heap is measured by a counting allocator around the system one; this test binary has
//! only this test, so nothing else allocates while it measures.

use protocol_spec::audit::{BundleFiles, BundleKeys, ReadError, verify_bundle};
use protocol_spec::entry::{LogEntry, Roster};
use protocol_spec::keys::SigningKey;
use protocol_spec::tlog::cosignature::cosign;
use protocol_spec::tlog::note::{Note, SIG_COSIGNATURE, SIG_ED25519, VerifierKey};
use protocol_spec::tlog::tiles::{self, TilePath};
use protocol_spec::tlog::{Checkpoint, Hash, leaf_hash, node_hash, sign_checkpoint};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes allocated now, and the most since the last reset.
struct Counting {
    now: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: every call is passed to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = self.now.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            self.peak.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        self.now.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static HEAP: Counting = Counting {
    now: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
};

const ORIGIN: &str = "t.passerelle/ne.orp";

fn entry(i: u64) -> Vec<u8> {
    LogEntry::from(Roster {
        time: 1_790_000_000 + i,
        version: i,
        digest: [i as u8; 32],
    })
    .to_bytes()
}

/// MTH of entries `[start, start + len)`, recomputed from the entries, holding nothing.
fn root(start: u64, len: u64) -> Hash {
    if len == 1 {
        return leaf_hash(&entry(start));
    }
    let k = 1 << (63 - (len - 1).leading_zeros());
    node_hash(&root(start, k), &root(start + k, len - k))
}

/// A bundle of `size` entries whose files are made when read.
struct Synthetic {
    size: u64,
    checkpoint: Vec<u8>,
}

impl Synthetic {
    fn new(size: u64) -> Synthetic {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: root(0, size),
        };
        let log = SigningKey::from_seed([1; 32]);
        let mut note = Note::parse(&sign_checkpoint(&cp, ORIGIN, &log)).unwrap();
        let w = SigningKey::from_seed([2; 32]);
        let witness = format!("{ORIGIN}/witness");
        note.signatures
            .push(cosign(&note.text, &witness, &w, 1_790_000_000));
        Synthetic {
            size,
            checkpoint: note.to_text().into_bytes(),
        }
    }
}

impl BundleFiles for Synthetic {
    fn read(&mut self, path: &str, limit: usize) -> Result<Vec<u8>, ReadError> {
        let bytes = match tiles::parse_path(path).ok_or(ReadError::Missing)? {
            TilePath::Checkpoint => self.checkpoint.clone(),
            TilePath::Entries { index, width } => {
                let entries: Vec<Vec<u8>> = (0..width).map(|i| entry(index * 256 + i)).collect();
                tiles::encode_bundle(&entries).unwrap()
            }
            TilePath::Level {
                level,
                index,
                width,
            } => {
                let span = 1u64 << (8 * u32::from(level));
                let first = index * 256;
                (first..first + width)
                    .flat_map(|i| root(i * span, span))
                    .collect()
            }
        };
        if bytes.len() > limit {
            return Err(ReadError::TooLarge);
        }
        Ok(bytes)
    }

    fn tile_files(&mut self, each: &mut dyn FnMut(&str)) {
        for (path, ..) in tiles::level_tile_paths(self.size) {
            each(&path);
        }
        for (path, _) in tiles::entry_bundle_paths(self.size) {
            each(&path);
        }
    }
}

/// Peak heap above what was allocated before, while verifying a log of `size` entries.
fn verifier_peak(size: u64) -> usize {
    let mut bundle = Synthetic::new(size);
    let keys = BundleKeys {
        former_logs: vec![],
        log: VerifierKey::new(ORIGIN, SIG_ED25519, SigningKey::from_seed([1; 32]).public()),
        witnesses: vec![VerifierKey::new(
            &format!("{ORIGIN}/witness"),
            SIG_COSIGNATURE,
            SigningKey::from_seed([2; 32]).public(),
        )],
        quorum: 1,
    };
    let before = HEAP.now.load(Ordering::SeqCst);
    HEAP.peak.store(before, Ordering::SeqCst);
    let report = verify_bundle(&mut bundle, &keys, None, &mut |_| {});
    let peak = HEAP.peak.load(Ordering::SeqCst) - before;
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!(report.entries, size);
    peak
}

#[test]
fn verifying_a_hundred_times_more_entries_takes_no_more_memory() {
    let small = verifier_peak(1_000);
    let large = verifier_peak(100_000);
    // The large log has one more tile level, which costs the verifier one more tile being
    // filled (8 KiB) and a full level-1 tile read (8 KiB), and nothing per entry: keeping
    // its entries (about 150 bytes each) or every leaf hash would add megabytes. Most of the
    // rest is the bundle making one entry bundle at a time.
    assert!(
        large <= small + 32 * 1024,
        "peak heap {small} bytes for 1,000 entries, {large} bytes for 100,000"
    );
    assert!(large < 512 * 1024, "peak heap {large} bytes");
}
