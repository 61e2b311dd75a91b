//! Transparency log: RFC 6962 Merkle tree hashing and C2SP tlog-checkpoint signed notes.

pub mod note;
pub mod tiles;
pub mod witness;

use crate::keys::{SigningKey, sha256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

pub type Hash = [u8; 32];

/// MTH({}) = SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[0x00], entry])
}

/// SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// Append-only tree keeping every complete subtree's hash, so the root of any past size is
/// computed in O(log n) hashes.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// levels[k][i] is the hash of leaves [i·2^k, (i+1)·2^k).
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn append(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
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
    }

    /// Hash of leaves [start, start + len).
    fn range(&self, start: u64, len: u64) -> Hash {
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let k = len.trailing_zeros() as usize;
            return self.levels[k][(start / len) as usize];
        }
        let split = 1u64 << (63 - (len - 1).leading_zeros());
        node_hash(
            &self.range(start, split),
            &self.range(start + split, len - split),
        )
    }

    /// Hash of the complete subtree of `len` (a power of two) leaves starting at `start`,
    /// which must be a multiple of `len` and within the tree.
    pub fn subtree(&self, start: u64, len: u64) -> Hash {
        self.range(start, len)
    }

    pub fn root(&self) -> Hash {
        self.root_at(self.size()).expect("current size")
    }

    /// Root of the tree as it was at `size`, or `None` beyond the current size.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        match size {
            0 => Some(EMPTY_ROOT),
            n if n <= self.size() => Some(self.range(0, n)),
            _ => None,
        }
    }
}

impl Tree {
    /// RFC 6962 §2.1.1 inclusion path of leaf `index` in the tree of size `size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Some(out)
    }

    // PATH(m, D[start:start+n]), appended bottom-up.
    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        if m < k {
            self.path(m, start, k, out);
            out.push(self.range(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.range(start, k));
        }
    }

    /// RFC 6962 §2.1.2 consistency proof from `old` to `new` (empty when old is 0 or equal).
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
        let k = 1u64 << (63 - (n - 1).leading_zeros());
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

/// RFC 9162 §2.1.3.2 inclusion proof verification.
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
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
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

/// RFC 9162 §2.1.4.2 consistency proof verification, with the size-0 and equal-size cases.
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
    if proof.is_empty() {
        return Err(ProofError::Length);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::Length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::Length);
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// C2SP tlog-checkpoint body: origin, size, base64 root, each on its own line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }
}

/// Signed-note key id: SHA-256(name || 0x0A || type || public key)[..4].
pub fn key_id(name: &str, sig_type: u8, public: &[u8; 32]) -> [u8; 4] {
    let h = sha256(&[name.as_bytes(), b"\n", &[sig_type], public]);
    [h[0], h[1], h[2], h[3]]
}

/// Signs the checkpoint as a C2SP signed note with an Ed25519 key named `name`.
pub fn sign_checkpoint(cp: &Checkpoint, name: &str, key: &SigningKey) -> String {
    let body = cp.body();
    let sig = note::sign_text(&body, name, key);
    format!("{body}\n{}", sig.line())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6962_roots() {
        let leaves: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut t = Tree::new();
        assert_eq!(hex::encode(t.root()), roots[0]);
        for (i, l) in leaves.iter().enumerate() {
            t.append(leaf_hash(l));
            assert_eq!(hex::encode(t.root()), roots[i + 1], "size {}", i + 1);
        }
        for (n, r) in roots.iter().enumerate() {
            assert_eq!(hex::encode(t.root_at(n as u64).unwrap()), *r);
        }
        assert!(t.root_at(9).is_none());

        let h = |s: &str| -> Hash { hex::decode(s).unwrap().try_into().unwrap() };
        let p = t.inclusion_proof(5, 8).unwrap();
        let want = [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ];
        assert_eq!(p, want.map(h).to_vec());
        let c = t.consistency_proof(6, 8).unwrap();
        let want = [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ];
        assert_eq!(c, want.map(h).to_vec());
        let c = t.consistency_proof(2, 5).unwrap();
        assert_eq!(
            c,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
            ]
            .map(h)
            .to_vec()
        );
    }

    proptest::proptest! {
        #[test]
        fn every_proof_verifies_and_a_flipped_byte_fails(n in 1u64..70, a in 0u64..70, b in 0u64..70, flip in 0usize..32) {
            let mut t = Tree::new();
            for i in 0..n {
                t.append(leaf_hash(&i.to_be_bytes()));
            }
            let (old, idx) = (a % (n + 1), b % n);
            let root = t.root_at(n).unwrap();
            let leaf = leaf_hash(&idx.to_be_bytes());
            let p = t.inclusion_proof(idx, n).unwrap();
            proptest::prop_assert!(verify_inclusion(&leaf, idx, n, &p, &root).is_ok());
            let c = t.consistency_proof(old, n).unwrap();
            let old_root = t.root_at(old).unwrap();
            proptest::prop_assert!(verify_consistency(old, n, &old_root, &root, &c).is_ok());
            if !p.is_empty() {
                let mut bad = p.clone();
                bad[0][flip] ^= 1;
                proptest::prop_assert!(verify_inclusion(&leaf, idx, n, &bad, &root).is_err());
            }
            if !c.is_empty() {
                let mut bad = c.clone();
                let last = bad.len() - 1;
                bad[last][flip] ^= 1;
                proptest::prop_assert!(verify_consistency(old, n, &old_root, &root, &bad).is_err());
            }
        }
    }
}
