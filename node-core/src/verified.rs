//! Signatures checked before a step, on the driver's threads: the store thread looks them up
//! instead of verifying them (see [`crate::precheck`]).

use protocol_spec::case::SignedCaseEvent;
use protocol_spec::keys::{PublicKey, Signature, SignatureCheck, sha256};
use protocol_spec::roster::Roster;
use protocol_spec::tlog::note::{self, Note, NoteVerifier, VerifierKey};
use std::collections::HashSet;

/// Signatures found valid before the step. The core looks a signature up here and verifies it
/// itself only when it is missing, so a stale or empty set costs time, never correctness.
#[derive(Debug, Default, Clone)]
pub struct Verified(HashSet<[u8; 32]>);

impl Verified {
    /// Binds the key, the signature and the exact signed bytes.
    fn mark(key: &PublicKey, message: &[u8], signature: &Signature) -> [u8; 32] {
        sha256(&[&key.0, &signature.0, message])
    }

    /// Verifies now and remembers a success.
    pub(crate) fn check(&mut self, key: &PublicKey, message: &[u8], signature: &Signature) {
        if key.verify(message, signature) {
            self.0.insert(Self::mark(key, message, signature));
        }
    }

    /// Strict Ed25519 verification (spec §4.2), answered from the set when checked before.
    pub(crate) fn verify(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        self.0.contains(&Self::mark(key, message, signature)) || key.verify(message, signature)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A signature by the member whose key the transport authenticated as `from`.
    pub(crate) fn check_sender(
        &mut self,
        roster: &Roster,
        from: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) {
        if let Some(m) = roster.member_by_key(from) {
            self.check(&m.signing_key, message, signature);
        }
    }

    /// A case event, under the first of its author's current and former keys it verifies with.
    pub(crate) fn check_event(&mut self, roster: &Roster, ev: &SignedCaseEvent) {
        let input = ev.event.signing_input();
        for key in roster.case_event_keys(&ev.event.author) {
            if self.0.contains(&Self::mark(&key, &input, &ev.signature)) {
                return;
            }
            if key.verify(&input, &ev.signature) {
                self.0.insert(Self::mark(&key, &input, &ev.signature));
                return;
            }
        }
    }

    /// A log key's Ed25519 signature lines of a checkpoint note.
    pub(crate) fn check_note(&mut self, key: &VerifierKey, note: &Note) {
        for s in &note.signatures {
            if key.sig_type == note::SIG_ED25519
                && s.name == key.name
                && s.key_id == key.key_id()
                && let Ok(sig) = <[u8; 64]>::try_from(s.signature.as_slice())
            {
                self.check(&key.key, note.text.as_bytes(), &Signature(sig));
            }
        }
    }
}

impl SignatureCheck for Verified {
    fn holds(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        self.verify(key, message, signature)
    }
}

/// A note verifier key whose Ed25519 signatures are judged by [`Verified`].
pub(crate) struct CheckedKey<'a> {
    pub(crate) key: &'a VerifierKey,
    pub(crate) verified: &'a Verified,
}

impl NoteVerifier for CheckedKey<'_> {
    fn name(&self) -> &str {
        &self.key.name
    }
    fn key_id(&self) -> [u8; 4] {
        self.key.key_id()
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        match <[u8; 64]>::try_from(signature) {
            Ok(sig) if self.key.sig_type == note::SIG_ED25519 => {
                self.verified.verify(&self.key.key, text, &Signature(sig))
            }
            _ => NoteVerifier::verify(self.key, text, signature),
        }
    }
}
