//! RFC 6962 / RFC 9162 Merkle tree hashing, an append-only tree that answers for every past
//! size, and proof verification exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 write it.

use crate::keys::sha256;

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// MTH({}) = SHA-256 of the empty string (RFC 6962 §2.1). Not the all-zero hash that Go's
/// `tlog.TreeHash(0)` returns: a size-0 checkpoint carries this value.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// SHA-256(0x00 || entry): the 0x00 prefix keeps a leaf from passing for an inner node.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[0x00], entry])
}

/// SHA-256(0x01 || left || right). The 65 bytes and their padding always fill two blocks,
/// laid out here and compressed at once: a tree has as many inner nodes as leaves, and this
/// skips the streaming hasher's buffering for each.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    use sha2::digest::consts::U64;
    use sha2::digest::generic_array::GenericArray;
    // FIPS 180-4 §5.3.3 initial hash value.
    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut blocks = [GenericArray::<u8, U64>::default(); 2];
    blocks[0][0] = 0x01;
    blocks[0][1..33].copy_from_slice(left);
    blocks[0][33..].copy_from_slice(&right[..31]);
    blocks[1][0] = right[31];
    // Padding (FIPS 180-4 §5.1.1): a 1 bit, zeros, the message length in bits.
    blocks[1][1] = 0x80;
    blocks[1][56..].copy_from_slice(&(65u64 * 8).to_be_bytes());
    let mut state = H0;
    sha2::compress256(&mut state, &blocks);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// RFC 6962's split point: the largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of a list of leaf hashes, in O(n) with O(log n) memory.
pub fn root_from_leaves(leaves: &[Hash]) -> Hash {
    root_of_subtrees(leaves.iter().map(|leaf| (*leaf, 1)))
}

/// The root over complete subtrees given left to right as `(hash, leaf count)`, each no larger
/// than the one before (single leaves, or the tiles of a log).
pub fn root_of_subtrees(subtrees: impl IntoIterator<Item = (Hash, u64)>) -> Hash {
    // A stack of complete subtrees of strictly decreasing size; folding it right to left
    // gives the left-leaning, unpadded RFC 6962 shape.
    let mut stack: Vec<(Hash, u64)> = Vec::new();
    for (mut h, mut len) in subtrees {
        while let Some(&(left, left_len)) = stack.last() {
            if left_len != len {
                break;
            }
            stack.pop();
            h = node_hash(&left, &h);
            len *= 2;
        }
        stack.push((h, len));
    }
    let Some((mut root, _)) = stack.pop() else {
        return EMPTY_ROOT;
    };
    while let Some((left, _)) = stack.pop() {
        root = node_hash(&left, &root);
    }
    root
}

/// Append-only tree keeping the hash of every complete subtree (Go's tlog "stored hashes",
/// held per level), so roots and proofs for any past size cost O(log² n) hashes at most.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[k][i]` is the hash of leaves `[i·2^k, (i+1)·2^k)`; `levels[0]` are the leaves.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Tree {
        let mut t = Tree::new();
        for l in leaves {
            t.append(l);
        }
        t
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash and returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let index = self.levels[0].len() as u64 - 1;
        // Each level whose length became even completed one subtree a level up.
        let mut k = 0;
        while self.levels[k].len().is_multiple_of(2) {
            let n = self.levels[k].len();
            let h = node_hash(&self.levels[k][n - 2], &self.levels[k][n - 1]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(h);
            k += 1;
        }
        index
    }

    /// All leaf hashes, in order.
    pub fn leaves(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    pub fn leaf(&self, index: u64) -> Option<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.leaves().get(i).copied())
    }

    /// MTH(D[start : start + len]); the caller keeps the range inside the tree.
    fn range(&self, start: u64, len: u64) -> Hash {
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let k = len.trailing_zeros() as usize;
            return self.levels[k][(start / len) as usize];
        }
        let k = split(len);
        node_hash(&self.range(start, k), &self.range(start + k, len - k))
    }

    /// Hash of the complete subtree of `len` leaves (a power of two) starting at `start`, a
    /// multiple of `len`; `None` if that subtree is not complete in this tree.
    pub fn subtree(&self, start: u64, len: u64) -> Option<Hash> {
        let end = start.checked_add(len)?;
        if !len.is_power_of_two() || !start.is_multiple_of(len) || end > self.size() {
            return None;
        }
        Some(self.range(start, len))
    }

    /// Root of the current tree.
    pub fn root(&self) -> Hash {
        match self.size() {
            0 => EMPTY_ROOT,
            n => self.range(0, n),
        }
    }

    /// Root of the tree as it was at `size`, or `None` beyond the current size.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        match size {
            0 => Some(EMPTY_ROOT),
            n if n <= self.size() => Some(self.range(0, n)),
            _ => None,
        }
    }

    /// RFC 6962 §2.1.1 PATH(index, D[0:size]), bottom-up; `None` unless index < size ≤ current
    /// size.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Some(out)
    }

    // PATH(m, D[start:start+n]): recurse first so the deepest sibling comes first.
    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.range(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.range(start, k));
        }
    }

    /// RFC 6962 §2.1.2 PROOF(old, D[0:new]); empty when `old` is 0 or equals `new`. `None`
    /// unless old ≤ new ≤ current size.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        if old > new || new > self.size() {
            return None;
        }
        let mut out = Vec::new();
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut out);
        }
        Some(out)
    }

    // SUBPROOF(m, D[start:start+n], b).
    fn subproof(&self, m: u64, start: u64, n: u64, complete: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !complete {
                out.push(self.range(start, n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, k, complete, out);
            out.push(self.range(start + k, n - k));
        } else {
            self.subproof(m - k, start + k, n - k, false, out);
            out.push(self.range(start, k));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    #[error("old tree size {old} exceeds new size {new}")]
    OldBeyondNew { old: u64, new: u64 },
    #[error("proof has the wrong number of hashes")]
    Length,
    #[error("proof does not lead to the expected root")]
    Mismatch,
}

/// Right-shifts `fn_` and `sn` together until LSB(fn_) is set or fn_ is 0 (RFC 9162 step
/// ii). The condition is `&&`: one public port wrote `||`, which never ends when fn_ is 0.
fn shift_to_set_bit(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// RFC 9162 §2.1.3.2: checks that `leaf` sits at `index` in the tree of `size` with `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::Length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            shift_to_set_bit(&mut fn_, &mut sn);
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::Length);
    }
    if &r != root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: checks that the tree of `old` leaves with `old_root` is a prefix of the
/// tree of `new` leaves with `new_root`. The cases the RFC algorithm leaves to callers are
/// decided here: from size 0 the proof must be empty (the empty tree is a prefix of every
/// tree), and between equal sizes the proof must be empty and the roots equal.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::OldBeyondNew { old, new });
    }
    if old == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::Length)
        };
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::Length);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    // Step 1.
    if proof.is_empty() {
        return Err(ProofError::Length);
    }
    // Step 2: a power-of-two old tree is a complete subtree the proof leaves out.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    // Steps 3 and 4.
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (path[0], path[0]);
    // Step 6.
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::Length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            shift_to_set_bit(&mut fn_, &mut sn);
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 7.
    if sn != 0 {
        return Err(ProofError::Length);
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// MTH straight from the RFC 6962 definition, independent of `Tree` and the stack fold.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn node_hash_is_sha256_of_the_prefixed_pair() {
        let mut l = [0u8; 32];
        for i in 0..200u8 {
            let r = sha256(&[&[i]]);
            assert_eq!(node_hash(&l, &r), sha256(&[&[0x01], &l, &r]));
            l = r;
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, sha256(&[]));
        assert_eq!(Tree::new().root(), EMPTY_ROOT);
        assert_eq!(root_from_leaves(&[]), EMPTY_ROOT);
    }

    #[test]
    fn subtree_is_only_for_complete_aligned_ranges() {
        let t = Tree::from_leaves(leaves(6));
        assert_eq!(
            t.subtree(4, 2),
            Some(node_hash(&t.leaves()[4], &t.leaves()[5]))
        );
        assert_eq!(t.subtree(0, 4), Some(mth(&t.leaves()[..4])));
        assert_eq!(t.subtree(2, 4), None);
        assert_eq!(t.subtree(4, 4), None);
        assert_eq!(t.subtree(0, 3), None);
        assert_eq!(t.subtree(0, 0), None);
        assert_eq!(t.subtree(u64::MAX, 1), None);
        assert_eq!(t.leaf(5), Some(t.leaves()[5]));
        assert_eq!(t.leaf(6), None);
    }

    #[test]
    fn out_of_range_requests_are_refused() {
        let t = Tree::from_leaves(leaves(5));
        assert_eq!(t.root_at(6), None);
        assert_eq!(t.inclusion_proof(5, 5), None);
        assert_eq!(t.inclusion_proof(0, 6), None);
        assert_eq!(t.consistency_proof(3, 6), None);
        assert_eq!(t.consistency_proof(4, 3), None);
        assert_eq!(t.consistency_proof(0, 5), Some(vec![]));
        assert_eq!(t.consistency_proof(5, 5), Some(vec![]));
    }

    #[test]
    fn verification_edge_cases() {
        let t = Tree::from_leaves(leaves(8));
        let (r4, r8) = (t.root_at(4).unwrap(), t.root_at(8).unwrap());
        let l0 = t.leaves()[0];
        // Size 0: nothing is included; the empty tree is consistent with every tree.
        assert_eq!(
            verify_inclusion(&l0, 0, 0, &[], &EMPTY_ROOT),
            Err(ProofError::IndexBeyondSize { index: 0, size: 0 })
        );
        assert_eq!(verify_consistency(0, 8, &[9; 32], &r8, &[]), Ok(()));
        assert_eq!(
            verify_consistency(0, 8, &EMPTY_ROOT, &r8, &[r4]),
            Err(ProofError::Length)
        );
        assert_eq!(
            verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
            Ok(())
        );
        // Equal sizes: empty proof, equal roots.
        assert_eq!(verify_consistency(8, 8, &r8, &r8, &[]), Ok(()));
        assert_eq!(
            verify_consistency(8, 8, &r8, &r4, &[]),
            Err(ProofError::Mismatch)
        );
        assert_eq!(
            verify_consistency(8, 8, &r8, &r8, &[r4]),
            Err(ProofError::Length)
        );
        assert_eq!(
            verify_consistency(8, 4, &r8, &r4, &[]),
            Err(ProofError::OldBeyondNew { old: 8, new: 4 })
        );
        // A growing tree needs a proof, and one of the right length.
        assert_eq!(
            verify_consistency(4, 8, &r4, &r8, &[]),
            Err(ProofError::Length)
        );
        let mut long = t.consistency_proof(4, 8).unwrap();
        assert_eq!(verify_consistency(4, 8, &r4, &r8, &long), Ok(()));
        long.push(r4);
        assert_eq!(
            verify_consistency(4, 8, &r4, &r8, &long),
            Err(ProofError::Length)
        );
        // Size 1: the leaf is the root and the proof is empty.
        assert_eq!(verify_inclusion(&l0, 0, 1, &[], &l0), Ok(()));
        assert_eq!(
            verify_inclusion(&l0, 0, 1, &[l0], &l0),
            Err(ProofError::Length)
        );
        // Too short a proof leaves sn above zero.
        let p = t.inclusion_proof(0, 8).unwrap();
        assert_eq!(
            verify_inclusion(&l0, 0, 8, &p[..2], &r8),
            Err(ProofError::Length)
        );
    }

    #[test]
    fn leaf_zero_terminates_at_every_size() {
        // The pitfall loop (`!lsb(fn) || fn == 0`) spins forever on fn = 0; this would hang.
        for n in 1..=300u64 {
            let t = Tree::from_leaves(leaves(n));
            let p = t.inclusion_proof(0, n).unwrap();
            let last = n - 1;
            let q = t.inclusion_proof(last, n).unwrap();
            let root = t.root();
            assert_eq!(verify_inclusion(&t.leaves()[0], 0, n, &p, &root), Ok(()));
            assert_eq!(
                verify_inclusion(&t.leaves()[last as usize], last, n, &q, &root),
                Ok(())
            );
        }
    }

    /// A million entries: every past root and proof comes from the stored levels, without
    /// rehashing the log (a recomputation would take seconds per query in a debug build).
    #[test]
    fn a_million_entries_answer_for_any_past_size() {
        let n = 1_000_000u64;
        let mut t = Tree::new();
        for i in 0..n {
            t.append(leaf_hash(&i.to_be_bytes()));
        }
        assert_eq!(t.size(), n);
        assert_eq!(t.root(), root_from_leaves(t.leaves()));
        let start = std::time::Instant::now();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            // xorshift: deterministic spread of sizes and indices.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let size = 1 + x % n;
            let old = (x >> 20) % (size + 1);
            let index = (x >> 40) % size;
            let root = t.root_at(size).unwrap();
            let p = t.inclusion_proof(index, size).unwrap();
            let leaf = t.leaf(index).unwrap();
            assert_eq!(verify_inclusion(&leaf, index, size, &p, &root), Ok(()));
            let c = t.consistency_proof(old, size).unwrap();
            let old_root = t.root_at(old).unwrap();
            assert_eq!(verify_consistency(old, size, &old_root, &root, &c), Ok(()));
        }
        // 600 queries touch about 600 · log²(n) stored hashes: well under a second even
        // unoptimised; a recomputing implementation would take minutes.
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
    }

    proptest! {
        #[test]
        fn roots_match_the_definition(n in 0u64..300) {
            let l = leaves(n);
            let t = Tree::from_leaves(l.iter().copied());
            prop_assert_eq!(t.root(), mth(&l));
            prop_assert_eq!(root_from_leaves(&l), mth(&l));
            for m in [0, n / 3, n / 2, n.saturating_sub(1)] {
                prop_assert_eq!(t.root_at(m).unwrap(), mth(&l[..m as usize]));
            }
        }

        #[test]
        fn every_proof_verifies_and_a_flipped_byte_fails(
            n in 1u64..300,
            a in any::<u64>(),
            b in any::<u64>(),
            which in any::<usize>(),
            byte in 0usize..32,
            bit in 0u8..8,
        ) {
            let t = Tree::from_leaves(leaves(n));
            let (old, idx) = (a % (n + 1), b % n);
            let root = t.root_at(n).unwrap();
            let leaf = t.leaves()[idx as usize];
            let p = t.inclusion_proof(idx, n).unwrap();
            prop_assert_eq!(verify_inclusion(&leaf, idx, n, &p, &root), Ok(()));
            if !p.is_empty() {
                let mut bad = p.clone();
                bad[which % p.len()][byte] ^= 1 << bit;
                prop_assert!(verify_inclusion(&leaf, idx, n, &bad, &root).is_err());
            }
            let mut bad_leaf = leaf;
            bad_leaf[byte] ^= 1 << bit;
            prop_assert!(verify_inclusion(&bad_leaf, idx, n, &p, &root).is_err());
            let mut bad_root = root;
            bad_root[byte] ^= 1 << bit;
            prop_assert!(verify_inclusion(&leaf, idx, n, &p, &bad_root).is_err());

            let c = t.consistency_proof(old, n).unwrap();
            let old_root = t.root_at(old).unwrap();
            prop_assert_eq!(verify_consistency(old, n, &old_root, &root, &c), Ok(()));
            if !c.is_empty() {
                let mut bad = c.clone();
                bad[which % c.len()][byte] ^= 1 << bit;
                prop_assert!(verify_consistency(old, n, &old_root, &root, &bad).is_err());
            }
            if old > 0 {
                let mut bad_old = old_root;
                bad_old[byte] ^= 1 << bit;
                prop_assert!(verify_consistency(old, n, &bad_old, &root, &c).is_err());
                prop_assert!(verify_consistency(old, n, &old_root, &bad_root, &c).is_err());
            }
        }
    }
}
