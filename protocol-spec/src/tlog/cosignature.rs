//! C2SP tlog-cosignature v1: timestamped Ed25519 cosignatures (signature type 0x04) over a
//! checkpoint body, and counting them toward a witness quorum.

use super::note::{
    MAX_SIGNATURES, Note, NoteError, NoteSignature, NoteSigner, SIG_COSIGNATURE, VerifierKey,
    key_id, valid_key_name,
};
pub use super::timestamped::{
    MAX_COSIGNATURE_TIME, TIMESTAMPED_SIGNATURE_LEN, TimestampedSignature, cosignature_message,
};
use crate::keys::SigningKey;

/// A v1 cosignature line by a witness over a checkpoint body: key id of type 0x04, then the
/// timestamped signature. Signs exactly the given time; one above 2^63 - 1 yields a line
/// every verifier refuses ([`CosignatureSigner::new`] checks it instead).
pub fn cosign(body: &str, name: &str, key: &SigningKey, time: u64) -> NoteSignature {
    let sig = key.sign(cosignature_message(body, time).as_bytes());
    NoteSignature {
        name: name.to_string(),
        key_id: key_id(name, SIG_COSIGNATURE, &key.public().0),
        signature: TimestampedSignature {
            timestamp: time,
            signature: sig.0,
        }
        .to_bytes()
        .to_vec(),
    }
}

/// A cosigner as a [`NoteSigner`], for one timestamp chosen by the caller (sans-IO: no clock).
pub struct CosignatureSigner<'k> {
    name: String,
    key_id: [u8; 4],
    key: &'k SigningKey,
    time: u64,
}

impl<'k> CosignatureSigner<'k> {
    pub fn new(
        name: &str,
        key: &'k SigningKey,
        time: u64,
    ) -> Result<CosignatureSigner<'k>, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_string()));
        }
        if time > MAX_COSIGNATURE_TIME {
            return Err(NoteError::CosignatureTime(time));
        }
        Ok(CosignatureSigner {
            name: name.to_string(),
            key_id: key_id(name, SIG_COSIGNATURE, &key.public().0),
            key,
            time,
        })
    }

    /// The matching verifier key (type 0x04).
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey::new(&self.name, SIG_COSIGNATURE, self.key.public())
    }
}

impl NoteSigner for CosignatureSigner<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> [u8; 4] {
        self.key_id
    }
    fn sign(&self, text: &[u8]) -> Vec<u8> {
        // Note text is UTF-8 by construction; lossy only guards the type conversion.
        let body = String::from_utf8_lossy(text);
        let sig = self
            .key
            .sign(cosignature_message(&body, self.time).as_bytes());
        TimestampedSignature {
            timestamp: self.time,
            signature: sig.0,
        }
        .to_bytes()
        .to_vec()
    }
}

/// Checks one cosignature line against a witness key; returns its timestamp.
pub fn verify_cosignature(
    body: &str,
    sig: &NoteSignature,
    witness: &VerifierKey,
) -> Result<u64, NoteError> {
    if sig.name != witness.name || sig.key_id != witness.key_id() {
        return Err(NoteError::Cosignature(sig.name.clone()));
    }
    if witness.sig_type != SIG_COSIGNATURE {
        return Err(NoteError::Cosignature(sig.name.clone()));
    }
    super::timestamped::verify(&witness.key, body.as_bytes(), &sig.signature)
        .ok_or_else(|| NoteError::Cosignature(sig.name.clone()))
}

/// A witness whose cosignature verified, with the time it states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigner {
    pub name: String,
    pub time: u64,
}

/// The witnesses among `witnesses` (type 0x04 keys) that cosigned `note`, each once. A
/// line from a known witness that fails is an error (signed-note: a known key's failing
/// signature rejects the note); with `not_after`, so is one dated later (the caller passes
/// its clock plus the skew it tolerates). Lines by other keys are ignored.
pub fn cosigners(
    note: &Note,
    witnesses: &[VerifierKey],
    not_after: Option<u64>,
) -> Result<Vec<Cosigner>, NoteError> {
    if note.signatures.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    let mut out: Vec<Cosigner> = Vec::new();
    for s in &note.signatures {
        let Some(w) = witnesses
            .iter()
            .find(|w| w.sig_type == SIG_COSIGNATURE && w.name == s.name && w.key_id() == s.key_id)
        else {
            continue;
        };
        let time = verify_cosignature(&note.text, s, w)?;
        if let Some(limit) = not_after
            && time > limit
        {
            return Err(NoteError::FutureCosignature {
                name: s.name.clone(),
                time,
                not_after: limit,
            });
        }
        // One witness counts once toward a quorum, however many lines it added.
        if !out.iter().any(|c| c.name == s.name) {
            out.push(Cosigner {
                name: s.name.clone(),
                time,
            });
        }
    }
    Ok(out)
}

/// Names of the witnesses whose cosignatures on `note` verify (see [`cosigners`]).
pub fn count_cosignatures(
    note: &Note,
    witnesses: &[VerifierKey],
) -> Result<Vec<String>, NoteError> {
    Ok(cosigners(note, witnesses, None)?
        .into_iter()
        .map(|c| c.name)
        .collect())
}

/// [`cosigners`], then at least `quorum` distinct witnesses.
pub fn check_quorum(
    note: &Note,
    witnesses: &[VerifierKey],
    quorum: usize,
    not_after: Option<u64>,
) -> Result<Vec<Cosigner>, NoteError> {
    let found = cosigners(note, witnesses, not_after)?;
    if found.len() < quorum {
        return Err(NoteError::BelowQuorum {
            have: found.len(),
            need: quorum,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::note::{Ed25519Signer, verify_note};

    const BODY: &str = "example.org/log\n3\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n";

    #[test]
    fn message_and_encoding() {
        assert_eq!(
            cosignature_message(BODY, 1679315147),
            format!("cosignature/v1\ntime 1679315147\n{BODY}")
        );
        let ts = TimestampedSignature {
            timestamp: 0x0102030405060708,
            signature: [9; 64],
        };
        let b = ts.to_bytes();
        assert_eq!(b[..8], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(TimestampedSignature::from_bytes(&b), Some(ts));
        assert_eq!(TimestampedSignature::from_bytes(&b[..71]), None);
    }

    #[test]
    fn quorum_counts_distinct_valid_witnesses() {
        let log = SigningKey::from_seed([1; 32]);
        let ws: Vec<SigningKey> = (2..5).map(|i| SigningKey::from_seed([i; 32])).collect();
        let names = ["w/a", "w/b", "w/c"];
        let keys: Vec<VerifierKey> = names
            .iter()
            .zip(&ws)
            .map(|(n, k)| VerifierKey::new(n, SIG_COSIGNATURE, k.public()))
            .collect();
        let signer = Ed25519Signer::new("example.org/log", &log).unwrap();
        let mut note = Note::sign(BODY, &[&signer]).unwrap();
        note.signatures.push(cosign(BODY, names[0], &ws[0], 100));
        let c1 = CosignatureSigner::new(names[1], &ws[1], 200).unwrap();
        assert_eq!(c1.verifier(), keys[1]);
        note.add_signature(&c1).unwrap();
        // The same witness twice still counts once.
        note.signatures.push(cosign(BODY, names[0], &ws[0], 150));
        let note = Note::parse(&note.to_text()).unwrap();

        assert_eq!(
            cosigners(&note, &keys, None).unwrap(),
            [
                Cosigner {
                    name: "w/a".into(),
                    time: 100
                },
                Cosigner {
                    name: "w/b".into(),
                    time: 200
                }
            ]
        );
        assert_eq!(check_quorum(&note, &keys, 2, None).unwrap().len(), 2);
        assert_eq!(
            check_quorum(&note, &keys, 3, None),
            Err(NoteError::BelowQuorum { have: 2, need: 3 })
        );
        assert!(matches!(
            check_quorum(&note, &keys, 1, Some(199)),
            Err(NoteError::FutureCosignature { time: 200, .. })
        ));
        // Cosignature verifiers are note verifiers too.
        assert_eq!(
            verify_note(&note, &keys[..2]).unwrap(),
            ["w/a".to_string(), "w/b".to_string()]
        );
        // A known witness's failing line rejects; an unknown one is ignored.
        let mut bad = note.clone();
        bad.signatures[1].signature[20] ^= 1;
        assert_eq!(
            count_cosignatures(&bad, &keys),
            Err(NoteError::Cosignature("w/a".into()))
        );
        assert_eq!(count_cosignatures(&bad, &keys[1..]).unwrap(), ["w/b"]);
        // A type-0x01 key for the same witness never matches a 0x04 line.
        let plain = VerifierKey::new(names[0], 0x01, ws[0].public());
        assert!(count_cosignatures(&note, &[plain]).unwrap().is_empty());
    }

    #[test]
    fn out_of_range_times_are_refused() {
        let w = SigningKey::from_seed([2; 32]);
        let key = VerifierKey::new("w", SIG_COSIGNATURE, w.public());
        assert_eq!(
            CosignatureSigner::new("w", &w, MAX_COSIGNATURE_TIME + 1).err(),
            Some(NoteError::CosignatureTime(MAX_COSIGNATURE_TIME + 1))
        );
        let late = cosign(BODY, "w", &w, MAX_COSIGNATURE_TIME + 1);
        assert!(verify_cosignature(BODY, &late, &key).is_err());
        let max = cosign(BODY, "w", &w, MAX_COSIGNATURE_TIME);
        assert_eq!(
            verify_cosignature(BODY, &max, &key),
            Ok(MAX_COSIGNATURE_TIME)
        );
        // Truncated or padded signature bytes.
        let mut short = max.clone();
        short.signature.pop();
        assert!(verify_cosignature(BODY, &short, &key).is_err());
        let mut long = max;
        long.signature.push(0);
        assert!(verify_cosignature(BODY, &long, &key).is_err());
    }
}
