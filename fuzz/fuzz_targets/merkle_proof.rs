#![no_main]
//! RFC 6962 inclusion and consistency proofs with sizes and indexes from outside (a peer's
//! `ProveInclusion`, a receipt proof, a witness request): no size wraps or panics, honest
//! proofs verify, and a proof the verifier accepts for a tree is that tree's proof.
//!
//! Input: `leaves (u8) || index (u64 BE) || size (u64 BE) || old size (u64 BE) || hashes`.
//! Below 128 leaves the three numbers are taken modulo the tree size plus one; with the top
//! bit of the first byte set they are used as given, against a tree of the low 7 bits.

use libfuzzer_sys::fuzz_target;
use protocol_spec::tlog::merkle::{Hash, Tree, leaf_hash, verify_consistency, verify_inclusion};

fn number(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = bytes.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_be_bytes(b)
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&head, rest)) = bytes.split_first() else {
        return;
    };
    let n = u64::from(head & 0x7f);
    let tree = Tree::from_leaves((0..n).map(|i| leaf_hash(&i.to_be_bytes())));
    let raw = [number(rest, 0), number(rest, 8), number(rest, 16)];
    let [index, size, old] = if head & 0x80 == 0 {
        raw.map(|x| x % (n + 1))
    } else {
        raw
    };
    let proof: Vec<Hash> = rest
        .get(24..)
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunks"))
        .collect();

    let leaf = tree.leaf(index).unwrap_or([0; 32]);
    let root = tree.root_at(size).unwrap_or([0; 32]);
    let offered = verify_inclusion(&leaf, index, size, &proof, &root);
    match tree.inclusion_proof(index, size) {
        Some(honest) => {
            assert_eq!(verify_inclusion(&leaf, index, size, &honest, &root), Ok(()));
            if offered.is_ok() {
                assert_eq!(proof, honest, "another proof of leaf {index} in {size}");
            }
        }
        None => assert!(index >= size || size > tree.size()),
    }

    let old_root = tree.root_at(old).unwrap_or([0; 32]);
    let offered = verify_consistency(old, size, &old_root, &root, &proof);
    match tree.consistency_proof(old, size) {
        Some(honest) => {
            assert_eq!(
                verify_consistency(old, size, &old_root, &root, &honest),
                Ok(())
            );
            if offered.is_ok() {
                assert_eq!(proof, honest, "another proof from {old} to {size}");
            }
        }
        None => assert!(old > size || size > tree.size()),
    }
    let _ = tree.subtree(index, size);
});
