//! C2SP signed-note: parsing and serialising notes, key ids, verifier keys (vkeys), and the
//! signer/verifier pair over Ed25519. Cosignatures (type 0x04) live in
//! [`super::cosignature`].

use crate::keys::{PublicKey, Signature, SigningKey, sha256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Signature type of Ed25519 note signatures.
pub const SIG_ED25519: u8 = 0x01;
/// Signature type of tlog-cosignature/v1 timestamped Ed25519 cosignatures.
pub const SIG_COSIGNATURE: u8 = 0x04;
/// signed-note: verifiers must accept at least 16 signatures; more is refused to bound the
/// work an unauthenticated note can cause.
pub const MAX_SIGNATURES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is not valid UTF-8 or contains a control character other than newline")]
    Text,
    #[error("note text must end with a newline")]
    NoFinalNewline,
    #[error("note has no blank line before its signatures")]
    NoSeparator,
    #[error("malformed signature line {0}")]
    SignatureLine(usize),
    #[error("note carries no signature")]
    NoSignatures,
    #[error("note carries more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("invalid key name `{0}`: it must be non-empty, without spaces, `+` or controls")]
    KeyName(String),
    #[error("signature by known key `{0}` does not verify")]
    BadSignature(String),
    #[error("no signature by a known key")]
    NoKnownSignature,
    #[error("malformed verifier key: {0}")]
    VerifierKey(&'static str),
    #[error("malformed or failing cosignature by `{0}`")]
    Cosignature(String),
    #[error("cosignature by `{name}` is dated {time}, after {not_after}")]
    FutureCosignature {
        name: String,
        time: u64,
        not_after: u64,
    },
    #[error("cosignature time {0} exceeds 2^63 - 1")]
    CosignatureTime(u64),
    #[error("{have} valid cosignature(s), below the quorum of {need}")]
    BelowQuorum { have: usize, need: usize },
}

/// Key names are non-empty and hold no Unicode space, no `+` (the vkey separator) and no
/// control character (notes may not carry them).
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// signed-note key id: SHA-256(name || 0x0A || type || public key)[..4].
pub fn key_id(name: &str, sig_type: u8, public: &[u8]) -> [u8; 4] {
    let h = sha256(&[name.as_bytes(), b"\n", &[sig_type], public]);
    [h[0], h[1], h[2], h[3]]
}

/// Checks the note text rules: ends in a newline, no control character but newline.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if text.chars().any(|c| c < '\u{20}' && c != '\n') {
        return Err(NoteError::Text);
    }
    if !text.ends_with('\n') {
        return Err(NoteError::NoFinalNewline);
    }
    Ok(())
}

/// One signature line: key name, key id, and the signature bytes after the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    /// The bytes after the key id (64 for Ed25519, 72 for a cosignature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// `— <name> base64(key id || signature)\n`.
    pub fn line(&self) -> String {
        let mut blob = self.key_id.to_vec();
        blob.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

/// A signed note: its text (with final newline, without the separating blank line) and its
/// signature lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a note from bytes: they must be UTF-8 before any other rule applies.
    pub fn parse_bytes(input: &[u8]) -> Result<Note, NoteError> {
        Note::parse(std::str::from_utf8(input).map_err(|_| NoteError::Text)?)
    }

    /// Parses a signed note without verifying it (see [`verify_note`]).
    pub fn parse(input: &str) -> Result<Note, NoteError> {
        if input.chars().any(|c| c < '\u{20}' && c != '\n') {
            return Err(NoteError::Text);
        }
        // The text ends at the last blank line: signature lines are never empty.
        let split = input.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
        let text = &input[..split + 1];
        let sigs = &input[split + 2..];
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(if sigs.is_empty() {
                NoteError::NoSignatures
            } else {
                NoteError::SignatureLine(sigs.split('\n').count())
            });
        };
        let mut signatures = Vec::new();
        for (i, line) in sigs.split('\n').enumerate() {
            // Counted before decoding so a huge note costs little.
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(line).ok_or(NoteError::SignatureLine(i + 1))?);
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// Signs `text` with each signer, in order.
    pub fn sign(text: &str, signers: &[&dyn NoteSigner]) -> Result<Note, NoteError> {
        check_text(text)?;
        let mut note = Note {
            text: text.to_string(),
            signatures: Vec::new(),
        };
        for s in signers {
            note.add_signature(*s)?;
        }
        Ok(note)
    }

    /// Appends one more signature over the text.
    pub fn add_signature(&mut self, signer: &dyn NoteSigner) -> Result<(), NoteError> {
        if !valid_key_name(signer.name()) {
            return Err(NoteError::KeyName(signer.name().to_string()));
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        check_text(&self.text)?;
        self.signatures.push(NoteSignature {
            name: signer.name().to_string(),
            key_id: signer.key_id(),
            signature: signer.sign(self.text.as_bytes()),
        });
        Ok(())
    }

    /// Text, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.line());
        }
        s
    }
}

fn parse_signature_line(line: &str) -> Option<NoteSignature> {
    let rest = line.strip_prefix("\u{2014} ")?;
    let (name, b64) = rest.split_once(' ')?;
    if !valid_key_name(name) {
        return None;
    }
    // The STANDARD engine refuses missing padding and stray bits: one encoding per value.
    let blob = B64.decode(b64).ok()?;
    if blob.len() < 5 {
        return None;
    }
    Some(NoteSignature {
        name: name.to_string(),
        key_id: [blob[0], blob[1], blob[2], blob[3]],
        signature: blob[4..].to_vec(),
    })
}

/// Produces note signatures for one key.
pub trait NoteSigner {
    fn name(&self) -> &str;
    fn key_id(&self) -> [u8; 4];
    /// The signature bytes over the note text, without the key id.
    fn sign(&self, text: &[u8]) -> Vec<u8>;
}

/// Checks note signatures for one key.
pub trait NoteVerifier {
    fn name(&self) -> &str;
    fn key_id(&self) -> [u8; 4];
    /// Whether `signature` (the bytes after the key id) is valid over the note text.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

impl<T: NoteVerifier + ?Sized> NoteVerifier for &T {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn key_id(&self) -> [u8; 4] {
        (**self).key_id()
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        (**self).verify(text, signature)
    }
}

/// An Ed25519 note signer (type 0x01), borrowing the caller's key.
pub struct Ed25519Signer<'k> {
    name: String,
    key_id: [u8; 4],
    key: &'k SigningKey,
}

impl<'k> Ed25519Signer<'k> {
    pub fn new(name: &str, key: &'k SigningKey) -> Result<Ed25519Signer<'k>, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_string()));
        }
        Ok(Ed25519Signer {
            name: name.to_string(),
            key_id: key_id(name, SIG_ED25519, &key.public().0),
            key,
        })
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey::new(&self.name, SIG_ED25519, self.key.public())
    }
}

impl NoteSigner for Ed25519Signer<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> [u8; 4] {
        self.key_id
    }
    fn sign(&self, text: &[u8]) -> Vec<u8> {
        self.key.sign(text).0.to_vec()
    }
}

/// A verifier key `name+hex(key id)+base64(type || public key)` for Ed25519 note signatures
/// (0x01) or Ed25519 cosignatures (0x04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub sig_type: u8,
    pub key: PublicKey,
}

impl VerifierKey {
    /// Builds a key without checking the name; [`VerifierKey::parse`] and the signers check.
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

    /// Splits on the first two `+` only: the base64 key material may itself contain `+`.
    pub fn parse(s: &str) -> Result<VerifierKey, NoteError> {
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::VerifierKey("expected name+keyid+key"));
        };
        if !valid_key_name(name) {
            return Err(NoteError::VerifierKey("invalid key name"));
        }
        // Exactly 8 lowercase hex digits, as written by every implementation.
        if id.len() != 8 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(NoteError::VerifierKey(
                "key id is not 8 lowercase hex digits",
            ));
        }
        let id = hex::decode(id).map_err(|_| NoteError::VerifierKey("key id is not hex"))?;
        let blob = B64
            .decode(data)
            .map_err(|_| NoteError::VerifierKey("key is not canonical base64"))?;
        let (&sig_type, key) = blob
            .split_first()
            .ok_or(NoteError::VerifierKey("key has no type byte"))?;
        if !matches!(sig_type, SIG_ED25519 | SIG_COSIGNATURE) {
            return Err(NoteError::VerifierKey(
                "not an Ed25519 (0x01) or cosignature (0x04) key",
            ));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::VerifierKey("Ed25519 key is not 32 bytes"))?;
        let v = VerifierKey::new(name, sig_type, PublicKey(key));
        if id != v.key_id() {
            return Err(NoteError::VerifierKey("key id does not match name and key"));
        }
        Ok(v)
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifierKey::parse(s)
    }
}

impl NoteVerifier for VerifierKey {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> [u8; 4] {
        VerifierKey::key_id(self)
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        match self.sig_type {
            SIG_ED25519 => {
                <[u8; 64]>::try_from(signature).is_ok_and(|s| self.key.verify(text, &Signature(s)))
            }
            SIG_COSIGNATURE => super::timestamped::verify(&self.key, text, signature).is_some(),
            _ => false,
        }
    }
}

/// Signs `text` as a note signature line by an Ed25519 key (type 0x01). The name is not
/// checked; [`Ed25519Signer::new`] does.
pub fn sign_text(text: &str, name: &str, key: &SigningKey) -> NoteSignature {
    NoteSignature {
        name: name.to_string(),
        key_id: key_id(name, SIG_ED25519, &key.public().0),
        signature: key.sign(text.as_bytes()).0.to_vec(),
    }
}

/// Verifies a note against known keys, as signed-note requires: signatures from unknown keys
/// (name and id not both matching) are ignored, a known key's failing signature rejects the
/// whole note, and at least one known key must have signed. Returns the names of the keys
/// that verified, each once.
pub fn verify_note<V: NoteVerifier>(note: &Note, keys: &[V]) -> Result<Vec<String>, NoteError> {
    let mut ok: Vec<String> = Vec::new();
    for s in &note.signatures {
        let Some(k) = keys
            .iter()
            .find(|k| k.name() == s.name && k.key_id() == s.key_id)
        else {
            continue;
        };
        if !k.verify(note.text.as_bytes(), &s.signature) {
            return Err(NoteError::BadSignature(s.name.clone()));
        }
        if !ok.contains(&s.name) {
            ok.push(s.name.clone());
        }
    }
    if ok.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(ok)
}

/// Parses and verifies a note in one step.
pub fn open<V: NoteVerifier>(input: &str, keys: &[V]) -> Result<(Note, Vec<String>), NoteError> {
    let note = Note::parse(input)?;
    let names = verify_note(&note, keys)?;
    Ok((note, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer_key(n: u8) -> SigningKey {
        SigningKey::from_seed([n; 32])
    }

    #[test]
    fn key_id_is_the_hash_prefix() {
        let k = signer_key(1).public();
        let mut input = b"a/b\n".to_vec();
        input.push(0x01);
        input.extend_from_slice(&k.0);
        let h = sha256(&[&input]);
        assert_eq!(key_id("a/b", SIG_ED25519, &k.0), h[..4]);
        assert_ne!(
            key_id("a/b", SIG_ED25519, &k.0),
            key_id("a/b", SIG_COSIGNATURE, &k.0)
        );
    }

    #[test]
    fn round_trip_and_verification_rules() {
        let (a, b, c) = (signer_key(1), signer_key(2), signer_key(3));
        let sa = Ed25519Signer::new("a.example/log", &a).unwrap();
        let sb = Ed25519Signer::new("b.example", &b).unwrap();
        let text = "line one\n\nline three after an empty line\n";
        let note = Note::sign(text, &[&sa, &sb]).unwrap();
        let wire = note.to_text();
        let back = Note::parse(&wire).unwrap();
        assert_eq!(back, note);
        assert_eq!(back.text, text);
        assert_eq!(back.to_text(), wire);

        // Unknown keys are ignored, even sharing a name or an id (but not both).
        let ka = sa.verifier();
        let kc_same_name = VerifierKey::new("a.example/log", SIG_ED25519, c.public());
        assert_eq!(
            verify_note(&back, std::slice::from_ref(&ka)).unwrap(),
            ["a.example/log"]
        );
        assert_eq!(
            verify_note(&back, &[&kc_same_name as &dyn NoteVerifier, &ka]).unwrap(),
            ["a.example/log"]
        );
        assert_eq!(
            verify_note(&back, &[kc_same_name]),
            Err(NoteError::NoKnownSignature)
        );
        assert_eq!(
            verify_note(&back, &[ka.clone(), sb.verifier()]).unwrap(),
            ["a.example/log", "b.example"]
        );
        // A known key whose signature fails rejects the whole note.
        let mut forged = back.clone();
        forged.signatures[1].signature[0] ^= 1;
        assert_eq!(
            verify_note(&forged, &[ka.clone(), sb.verifier()]),
            Err(NoteError::BadSignature("b.example".into()))
        );
        assert!(verify_note(&forged, std::slice::from_ref(&ka)).is_ok());
        let mut altered = back.clone();
        altered.text = "line one\n".into();
        assert!(verify_note(&altered, &[ka]).is_err());
        // Zero keys, zero signatures verified.
        assert_eq!(
            verify_note::<VerifierKey>(&back, &[]),
            Err(NoteError::NoKnownSignature)
        );
    }

    #[test]
    fn malformed_notes_are_refused() {
        let k = signer_key(1);
        let s = Ed25519Signer::new("n", &k).unwrap();
        let good = Note::sign("t\n", &[&s]).unwrap().to_text();
        assert!(Note::parse(&good).is_ok());
        let line = good.strip_prefix("t\n\n").unwrap().to_string();
        for (bad, why) in [
            (good.replace("t\n", "t\r\n"), "carriage return"),
            (good.replace("t\n", "t\t\n"), "tab"),
            (good.replace('\u{2014}', "-"), "hyphen instead of em dash"),
            (good.replace("\u{2014} ", "\u{2014}"), "no space after dash"),
            (good.trim_end().to_string(), "no final newline"),
            ("t\n\n".to_string(), "no signatures"),
            ("t\n".to_string() + &line, "no blank line"),
            (format!("t\n\n{line}\n"), "blank line after signatures"),
            (good.replace(" n ", " n+x "), "plus in key name"),
            (
                good.replace(" n ", " n\u{a0}x "),
                "no-break space in key name",
            ),
            (good.replace(" n ", "  "), "empty key name"),
            (good.replace("=\n", "\n"), "missing base64 padding"),
            (
                "t\n\n\u{2014} n AAAAAA==\n".to_string(),
                "signature of 4 bytes",
            ),
        ] {
            assert!(Note::parse(&bad).is_err(), "{why}: {bad:?}");
        }
        assert_eq!(Note::parse_bytes(b"t\xff\n\n"), Err(NoteError::Text));
        // A note may carry 16 signatures, not 17.
        let sixteen = format!("t\n\n{}", line.repeat(16));
        assert_eq!(Note::parse(&sixteen).unwrap().signatures.len(), 16);
        assert_eq!(
            Note::parse(&format!("t\n\n{}", line.repeat(17))),
            Err(NoteError::TooManySignatures)
        );
        // Signing refuses what parsing would refuse.
        assert!(Note::sign("no newline", &[&s]).is_err());
        assert!(Note::sign("a\u{7}\n", &[&s]).is_err());
        assert!(Ed25519Signer::new("a b", &k).is_err());
        assert!(Ed25519Signer::new("a+b", &k).is_err());
        assert!(Ed25519Signer::new("", &k).is_err());
    }

    #[test]
    fn vkeys_round_trip_and_reject_manglings() {
        let k = signer_key(7);
        let v = VerifierKey::new("example.org/x", SIG_ED25519, k.public());
        let text = v.to_text();
        assert_eq!(VerifierKey::parse(&text).unwrap(), v);
        assert_eq!(text.parse::<VerifierKey>().unwrap().to_string(), text);
        let id = hex::encode(v.key_id());
        for bad in [
            "example.org/x".to_string(),
            format!("example.org/x+{id}"),
            text.replace(&id, &id.to_uppercase()),
            text.replace(&id, &id[..7]),
            text.replacen('+', " +", 1),
            format!("{text}\n"),
            format!("{text}AA"),
            text.replace("example.org/x", "example.org/y"),
        ] {
            if bad != text {
                assert!(VerifierKey::parse(&bad).is_err(), "{bad:?}");
            }
        }
    }
}
