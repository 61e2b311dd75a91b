//! Transparency log: RFC 6962 Merkle tree hashing and C2SP tlog-checkpoint signed notes.

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
    let sig = key.sign(body.as_bytes());
    let mut blob = key_id(name, 0x01, &key.public().0).to_vec();
    blob.extend_from_slice(&sig.0);
    format!("{body}\n\u{2014} {name} {}\n", B64.encode(blob))
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
    }
}
