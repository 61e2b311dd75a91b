//! Node key endorsements (spec/protocol.md §4.4): when a node's signing key is replaced, the
//! outgoing key signs the incoming one, and the node's TLS certificate carries the chain of
//! such endorsements. A staff client pins the node key its credential was issued with; it
//! accepts a newer key only at the end of a chain that starts at that pinned key, so a
//! credential survives its node's key rotations without trusting anything new.

use crate::keys::{PublicKey, Signature, SigningKey};
use serde::{Deserialize, Serialize};

/// Domain separator of the endorsement signing input.
pub const ENDORSEMENT_CONTEXT: &[u8] = b"passerelle/v1 node-key endorsement\n";
/// A certificate carries at most this many endorsements (the most recent rotations); a
/// credential older than that many rotations must be issued again.
pub const MAX_ENDORSEMENTS: usize = 16;
/// The certificate extension that carries the chain: OID 2.25.<n> (ITU-T X.667 arc), not
/// critical, its value an OCTET STRING holding `postcard(Vec<KeyEndorsement>)`.
pub const ENDORSEMENT_OID: [u64; 3] = [2, 25, 12_020_546_385_915_409_681];

/// `old` vouches that `new` replaced it as the node's signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEndorsement {
    pub old: PublicKey,
    pub new: PublicKey,
    pub signature: Signature,
}

impl KeyEndorsement {
    /// The exact bytes the old key signs: context, old key, new key.
    pub fn signing_input(old: &PublicKey, new: &PublicKey) -> Vec<u8> {
        let mut out = ENDORSEMENT_CONTEXT.to_vec();
        out.extend_from_slice(&old.0);
        out.extend_from_slice(&new.0);
        out
    }

    pub fn sign(old: &SigningKey, new: PublicKey) -> KeyEndorsement {
        let public = old.public();
        KeyEndorsement {
            old: public,
            new,
            signature: old.sign(&Self::signing_input(&public, &new)),
        }
    }

    pub fn verifies(&self) -> bool {
        self.old != self.new
            && self
                .old
                .verify(&Self::signing_input(&self.old, &self.new), &self.signature)
    }
}

/// Whether `presented` is `pinned`, or is reached from it by verified endorsements of `chain`,
/// each link starting where the previous one ended. Links before the pinned key are skipped;
/// a link that does not verify ends the walk.
pub fn follows(chain: &[KeyEndorsement], pinned: &PublicKey, presented: &PublicKey) -> bool {
    if pinned == presented {
        return true;
    }
    if chain.len() > MAX_ENDORSEMENTS {
        return false;
    }
    let Some(start) = chain.iter().position(|e| &e.old == pinned) else {
        return false;
    };
    let mut at = *pinned;
    for e in &chain[start..] {
        if e.old != at || !e.verifies() {
            return false;
        }
        at = e.new;
        if &at == presented {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed([n; 32])
    }

    fn chain(n: u8) -> Vec<KeyEndorsement> {
        (1..n)
            .map(|i| KeyEndorsement::sign(&key(i), key(i + 1).public()))
            .collect()
    }

    #[test]
    fn a_chain_leads_from_any_pinned_key_to_the_newest() {
        let c = chain(4); // 1 -> 2 -> 3 -> 4
        for pinned in 1..=4 {
            assert!(follows(&c, &key(pinned).public(), &key(4).public()));
        }
        // Not backwards, not to an outsider, not from an outsider.
        assert!(!follows(&c, &key(4).public(), &key(1).public()));
        assert!(!follows(&c, &key(1).public(), &key(9).public()));
        assert!(!follows(&c, &key(9).public(), &key(4).public()));
        // Without a chain only the pinned key itself.
        assert!(follows(&[], &key(1).public(), &key(1).public()));
        assert!(!follows(&[], &key(1).public(), &key(2).public()));
    }

    #[test]
    fn a_forged_link_is_refused() {
        // An endorsement of an attacker's key, signed by the attacker instead of the pinned key.
        let mut forged = KeyEndorsement::sign(&key(66), key(66).public());
        forged.old = key(1).public();
        assert!(!forged.verifies());
        assert!(!follows(
            &[forged.clone()],
            &key(1).public(),
            &key(66).public()
        ));
        // A genuine link followed by a forged one: the walk stops at the forged link.
        let mut c = chain(2);
        let mut next = KeyEndorsement::sign(&key(66), key(67).public());
        next.old = key(2).public();
        c.push(next);
        assert!(follows(&c, &key(1).public(), &key(2).public()));
        assert!(!follows(&c, &key(1).public(), &key(67).public()));
        // A signature over another new key does not carry over.
        let mut swapped = KeyEndorsement::sign(&key(1), key(2).public());
        swapped.new = key(66).public();
        assert!(!follows(&[swapped], &key(1).public(), &key(66).public()));
        // A key endorsing itself proves nothing.
        assert!(!KeyEndorsement::sign(&key(1), key(1).public()).verifies());
    }

    #[test]
    fn an_overlong_chain_is_refused() {
        let c = chain(MAX_ENDORSEMENTS as u8 + 2);
        assert!(!follows(
            &c,
            &key(1).public(),
            &key(MAX_ENDORSEMENTS as u8 + 2).public()
        ));
        assert!(follows(
            &c[1..],
            &key(2).public(),
            &key(MAX_ENDORSEMENTS as u8 + 2).public()
        ));
    }
}
