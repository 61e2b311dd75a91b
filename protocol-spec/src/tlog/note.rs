//! C2SP signed notes, verifier keys, tlog-checkpoint parsing and tlog-cosignature/v1.

use super::{Checkpoint, Hash, key_id};
use crate::keys::{PublicKey, Signature, SigningKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

pub const SIG_ED25519: u8 = 0x01;
pub const SIG_COSIGNATURE: u8 = 0x04;
/// Verifiers must accept at least 16 signatures; more is refused to bound the work.
pub const MAX_SIGNATURES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is not valid UTF-8 or contains control characters")]
    Text,
    #[error("note has no blank line before its signatures")]
    NoSeparator,
    #[error("malformed signature line {0}")]
    SignatureLine(usize),
    #[error("note carries more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("signature by known key `{0}` does not verify")]
    BadSignature(String),
    #[error("no signature by a known key")]
    NoKnownSignature,
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
    #[error("malformed verifier key: {0}")]
    VerifierKey(&'static str),
    #[error("malformed cosignature by `{0}`")]
    Cosignature(String),
}

/// A parsed signed note: its text (with final newline) and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    /// The bytes after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    pub fn line(&self) -> String {
        let mut blob = self.key_id.to_vec();
        blob.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

impl Note {
    pub fn parse(input: &str) -> Result<Note, NoteError> {
        if input.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Text);
        }
        // The text ends at the last blank line.
        let split = input.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
        let text = &input[..split + 1];
        let sigs = &input[split + 2..];
        if !sigs.ends_with('\n') {
            return Err(NoteError::SignatureLine(0));
        }
        let mut signatures = Vec::new();
        for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or(NoteError::SignatureLine(i + 1))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or(NoteError::SignatureLine(i + 1))?;
            let blob = B64
                .decode(b64)
                .map_err(|_| NoteError::SignatureLine(i + 1))?;
            if !valid_key_name(name) || blob.len() < 5 {
                return Err(NoteError::SignatureLine(i + 1));
            }
            signatures.push(NoteSignature {
                name: name.to_string(),
                key_id: [blob[0], blob[1], blob[2], blob[3]],
                signature: blob[4..].to_vec(),
            });
            if signatures.len() > MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
        }
        if signatures.is_empty() {
            return Err(NoteError::SignatureLine(1));
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    pub fn to_text(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.line());
        }
        s
    }
}

/// A verifier key `name+hex(key id)+base64(type || public key)`, for Ed25519 notes (0x01)
/// and Ed25519 cosignatures (0x04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub sig_type: u8,
    pub key: PublicKey,
}

impl VerifierKey {
    pub fn new(name: &str, sig_type: u8, key: PublicKey) -> VerifierKey {
        VerifierKey {
            name: name.to_string(),
            sig_type,
            key,
        }
    }

    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.sig_type, &self.key.0)
    }

    pub fn to_text(&self) -> String {
        let mut blob = vec![self.sig_type];
        blob.extend_from_slice(&self.key.0);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(blob)
        )
    }

    /// Splits on the first two `+` only: base64 may itself contain `+`.
    pub fn parse(s: &str) -> Result<VerifierKey, NoteError> {
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::VerifierKey("expected name+keyid+key"));
        };
        if !valid_key_name(name) {
            return Err(NoteError::VerifierKey("invalid key name"));
        }
        let id = hex::decode(id).map_err(|_| NoteError::VerifierKey("key id is not hex"))?;
        let blob = B64
            .decode(data)
            .map_err(|_| NoteError::VerifierKey("key is not base64"))?;
        if blob.len() != 33 || !matches!(blob[0], SIG_ED25519 | SIG_COSIGNATURE) {
            return Err(NoteError::VerifierKey(
                "not an Ed25519 (0x01) or cosignature (0x04) key",
            ));
        }
        let v = VerifierKey::new(
            name,
            blob[0],
            PublicKey(blob[1..].try_into().expect("32 bytes")),
        );
        if id != v.key_id() {
            return Err(NoteError::VerifierKey("key id does not match name and key"));
        }
        Ok(v)
    }
}

/// Signs `text` as a note signature line by an Ed25519 key (type 0x01).
pub fn sign_text(text: &str, name: &str, key: &SigningKey) -> NoteSignature {
    NoteSignature {
        name: name.to_string(),
        key_id: key_id(name, SIG_ED25519, &key.public().0),
        signature: key.sign(text.as_bytes()).0.to_vec(),
    }
}

/// Verifies a note's Ed25519 signatures against known keys: unknown keys are ignored, a known
/// key's failing signature rejects the note, and at least one known key must have signed.
/// Returns the names of the keys that verified.
pub fn verify_note(note: &Note, keys: &[VerifierKey]) -> Result<Vec<String>, NoteError> {
    let mut ok = Vec::new();
    for s in &note.signatures {
        let Some(k) = keys
            .iter()
            .find(|k| k.sig_type == SIG_ED25519 && k.name == s.name && k.key_id() == s.key_id)
        else {
            continue;
        };
        let sig: [u8; 64] = s
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| NoteError::BadSignature(s.name.clone()))?;
        if !k.key.verify(note.text.as_bytes(), &Signature(sig)) {
            return Err(NoteError::BadSignature(s.name.clone()));
        }
        ok.push(s.name.clone());
    }
    if ok.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(ok)
}

impl Checkpoint {
    /// Parses a checkpoint body: exactly origin, size (no leading zeros), base64 root.
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::Checkpoint("missing final newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err(NoteError::Checkpoint("expected exactly three lines"));
        };
        if origin.is_empty() {
            return Err(NoteError::Checkpoint("empty origin"));
        }
        if size.is_empty()
            || (size.len() > 1 && size.starts_with('0'))
            || !size.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(NoteError::Checkpoint(
                "tree size is not a decimal without leading zeros",
            ));
        }
        let size = size
            .parse()
            .map_err(|_| NoteError::Checkpoint("tree size out of range"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::Checkpoint("root is not a base64 32-byte hash"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// The message a v1 cosignature signs.
pub fn cosignature_message(body: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// A tlog-cosignature/v1 line by a witness: key id with type 0x04, then u64 BE time and the
/// Ed25519 signature.
pub fn cosign(body: &str, name: &str, key: &SigningKey, time: u64) -> NoteSignature {
    let sig = key.sign(cosignature_message(body, time).as_bytes());
    let mut bytes = time.to_be_bytes().to_vec();
    bytes.extend_from_slice(&sig.0);
    NoteSignature {
        name: name.to_string(),
        key_id: key_id(name, SIG_COSIGNATURE, &key.public().0),
        signature: bytes,
    }
}

/// Checks one cosignature line against a witness key; returns its timestamp.
pub fn verify_cosignature(
    body: &str,
    sig: &NoteSignature,
    witness: &VerifierKey,
) -> Result<u64, NoteError> {
    if witness.sig_type != SIG_COSIGNATURE
        || sig.name != witness.name
        || sig.key_id != witness.key_id()
        || sig.signature.len() != 72
    {
        return Err(NoteError::Cosignature(sig.name.clone()));
    }
    let time = u64::from_be_bytes(sig.signature[..8].try_into().expect("8 bytes"));
    if time > i64::MAX as u64 {
        return Err(NoteError::Cosignature(sig.name.clone()));
    }
    let s: [u8; 64] = sig.signature[8..].try_into().expect("64 bytes");
    if witness
        .key
        .verify(cosignature_message(body, time).as_bytes(), &Signature(s))
    {
        Ok(time)
    } else {
        Err(NoteError::Cosignature(sig.name.clone()))
    }
}

/// Names of the witnesses whose cosignatures on `note` verify (failing known ones are errors).
pub fn count_cosignatures(
    note: &Note,
    witnesses: &[VerifierKey],
) -> Result<Vec<String>, NoteError> {
    let mut ok = Vec::new();
    for s in &note.signatures {
        let Some(w) = witnesses
            .iter()
            .find(|w| w.name == s.name && w.key_id() == s.key_id)
        else {
            continue;
        };
        verify_cosignature(&note.text, s, w)?;
        if !ok.contains(&s.name) {
            ok.push(s.name.clone());
        }
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_vkey_parses() {
        let v = VerifierKey::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .unwrap();
        assert_eq!(v.name, "example.com/foo");
        assert_eq!(v.sig_type, SIG_ED25519);
        assert!(
            VerifierKey::parse(
                "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
            )
            .is_err()
        );
    }

    #[test]
    fn checkpoint_note_and_cosignature_round_trip() {
        let log = SigningKey::from_seed([1; 32]);
        let w = SigningKey::from_seed([2; 32]);
        let cp = Checkpoint {
            origin: "example.org/log".into(),
            size: 3,
            root: [7; 32],
        };
        let text = super::super::sign_checkpoint(&cp, "example.org/log", &log);
        let mut note = Note::parse(&text).unwrap();
        assert_eq!(note.to_text(), text);
        let lk = VerifierKey::new("example.org/log", SIG_ED25519, log.public());
        assert_eq!(
            verify_note(&note, std::slice::from_ref(&lk)).unwrap(),
            vec!["example.org/log".to_string()]
        );
        assert_eq!(Checkpoint::parse(&note.text).unwrap(), cp);
        note.signatures
            .push(cosign(&note.text, "example.org/w", &w, 1_700_000_000));
        let wk = VerifierKey::new("example.org/w", SIG_COSIGNATURE, w.public());
        let reparsed = Note::parse(&note.to_text()).unwrap();
        assert_eq!(
            count_cosignatures(&reparsed, std::slice::from_ref(&wk))
                .unwrap()
                .len(),
            1
        );
        // Tampering with the body breaks both.
        let mut bad = reparsed.clone();
        bad.text = bad.text.replace("\n3\n", "\n4\n");
        assert!(verify_note(&bad, &[lk]).is_err());
        assert!(count_cosignatures(&bad, &[wk]).is_err());
        assert!(Checkpoint::parse("o\n03\nAAAA\n").is_err());
    }
}
