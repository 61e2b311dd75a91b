//! C2SP tlog-checkpoint: the three-line body (origin, size, root) and its signing as a note by
//! the log's Ed25519 key, whose key name is the origin.

use super::merkle::Hash;
use super::note::{
    Note, NoteError, NoteSigner, VerifierKey, sign_text, valid_key_name, verify_note,
};
use crate::keys::SigningKey;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error("checkpoint origin `{0}` is not a valid key name")]
    Origin(String),
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    #[error("checkpoint origin `{origin}` is not the log key name `{key}`")]
    OriginMismatch { origin: String, key: String },
}

/// A tree head: the log's origin, its size and its RFC 6962 root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// ASCII decimal with no leading zero (but `0` itself): one text per number.
pub(super) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// A strict base64 SHA-256 hash (padding required, no stray bits).
pub(super) fn parse_hash(s: &str) -> Option<Hash> {
    B64.decode(s).ok()?.try_into().ok()
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body. Passerelle accepts exactly three lines: extension lines are
    /// not auditable by monitors, and no Passerelle log writes them.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("missing final newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err(CheckpointError::Malformed(
                "expected exactly three lines: origin, size, root",
            ));
        };
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("empty origin"));
        }
        // The origin doubles as the log's key name.
        if !valid_key_name(origin) {
            return Err(CheckpointError::Origin(origin.to_string()));
        }
        let size = parse_decimal(size).ok_or(CheckpointError::Malformed(
            "tree size is not a decimal without leading zeros",
        ))?;
        let root = parse_hash(root).ok_or(CheckpointError::Malformed(
            "root is not a base64 32-byte hash",
        ))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Signs the body as a note; the signer's key name must be the origin.
    pub fn sign(&self, signer: &dyn NoteSigner) -> Result<Note, CheckpointError> {
        if !valid_key_name(&self.origin) {
            return Err(CheckpointError::Origin(self.origin.clone()));
        }
        if signer.name() != self.origin {
            return Err(CheckpointError::OriginMismatch {
                origin: self.origin.clone(),
                key: signer.name().to_string(),
            });
        }
        Ok(Note::sign(&self.body(), &[signer])?)
    }
}

/// Signs the checkpoint as a C2SP signed note with an Ed25519 key named `name` (the origin,
/// for Passerelle logs), returning the note's text. The origin and name are not checked:
/// [`Checkpoint::sign`] does.
pub fn sign_checkpoint(cp: &Checkpoint, name: &str, key: &SigningKey) -> String {
    let body = cp.body();
    let sig = sign_text(&body, name, key);
    format!("{body}\n{}", sig.line())
}

/// Parses a signed checkpoint, verifies the log's signature and that the origin is the log
/// key's name. Other signatures (cosignatures) are left for [`super::cosignature`].
pub fn open_checkpoint(
    text: &str,
    log_key: &VerifierKey,
) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = Note::parse(text)?;
    let cp = Checkpoint::parse(&note.text)?;
    if cp.origin != log_key.name {
        return Err(CheckpointError::OriginMismatch {
            origin: cp.origin,
            key: log_key.name.clone(),
        });
    }
    verify_note(&note, std::slice::from_ref(log_key))?;
    Ok((cp, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::EMPTY_ROOT;
    use crate::tlog::note::Ed25519Signer;

    #[test]
    fn body_round_trips_and_rejects_variants() {
        let cp = Checkpoint {
            origin: "example.org/log".into(),
            size: 20852163,
            root: [7; 32],
        };
        let body = cp.body();
        assert_eq!(
            body,
            "example.org/log\n20852163\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"
        );
        assert_eq!(Checkpoint::parse(&body).unwrap(), cp);
        let empty = Checkpoint {
            origin: "o".into(),
            size: 0,
            root: EMPTY_ROOT,
        };
        assert_eq!(
            empty.body(),
            "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
        assert_eq!(Checkpoint::parse(&empty.body()).unwrap(), empty);
        let root = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        for bad in [
            format!("o\n03\n{root}\n"),
            format!("o\n-3\n{root}\n"),
            format!("o\n+3\n{root}\n"),
            format!("o\n 3\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n3\n{root}"),
            format!("o\n3\n{root}\nextension\n"),
            format!("o\n3\n{root}\n\n"),
            format!("\n3\n{root}\n"),
            format!("o o\n3\n{root}\n"),
            format!("o+o\n3\n{root}\n"),
            "o\n3\n".to_string(),
            "o\n3\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw==\n".to_string(),
            "o\n3\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc\n".to_string(),
            "o\n3\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwd=\n".to_string(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
    }

    #[test]
    fn signing_and_opening() {
        let key = SigningKey::from_seed([1; 32]);
        let cp = Checkpoint {
            origin: "example.org/log".into(),
            size: 3,
            root: [7; 32],
        };
        let signer = Ed25519Signer::new("example.org/log", &key).unwrap();
        let note = cp.sign(&signer).unwrap();
        // The two signing paths write the same bytes (Ed25519 is deterministic).
        assert_eq!(
            note.to_text(),
            sign_checkpoint(&cp, "example.org/log", &key)
        );
        let vkey = signer.verifier();
        let (back, _) = open_checkpoint(&note.to_text(), &vkey).unwrap();
        assert_eq!(back, cp);

        let other = Ed25519Signer::new("example.org/other", &key).unwrap();
        assert!(matches!(
            cp.sign(&other),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        assert!(matches!(
            open_checkpoint(&note.to_text(), &other.verifier()),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        let wrong_key = SigningKey::from_seed([9; 32]);
        let forged = sign_checkpoint(&cp, "example.org/log", &wrong_key);
        assert_eq!(
            open_checkpoint(&forged, &vkey),
            Err(CheckpointError::Note(NoteError::NoKnownSignature))
        );
        let tampered = note.to_text().replace("\n3\n", "\n4\n");
        assert_eq!(
            open_checkpoint(&tampered, &vkey),
            Err(CheckpointError::Note(NoteError::BadSignature(
                "example.org/log".into()
            )))
        );
    }
}
