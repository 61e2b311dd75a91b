//! Key material: Ed25519 signing keys (node identity, roster authorities, staff) and X25519
//! encryption keys (HPKE recipients), with their text encodings.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a base64-encoded 32-byte key")]
    Encoding,
    #[error("key file is not a Passerelle {expected} key file (first line must be `{header}`)")]
    Header {
        expected: &'static str,
        header: &'static str,
    },
    #[error("not a valid Ed25519 public key")]
    InvalidPoint,
}

/// A 32-byte public key (Ed25519 verifying key or X25519 public key). Text form: base64.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&B64.encode(self.0))
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode32(s.trim()).map(PublicKey)
    }
}

impl PublicKey {
    /// Checks an Ed25519 signature made over `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        match verifying_key(&self.0) {
            Some(vk) => vk
                .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
                .is_ok(),
            None => false,
        }
    }
}

/// How many decoded keys a thread keeps; past that, it starts again from none.
const DECODED_KEYS: usize = 1024;

thread_local! {
    /// Keys this thread decoded. Decoding a key (a point decompression) is about a tenth of a
    /// verification, and a node verifies the same few members' and staff keys over and over.
    static DECODED: std::cell::RefCell<std::collections::HashMap<[u8; 32], ed25519_dalek::VerifyingKey>> =
        std::cell::RefCell::default();
}

/// The key `bytes` decode to, if they are a valid Ed25519 point; only valid keys are kept.
fn verifying_key(bytes: &[u8; 32]) -> Option<ed25519_dalek::VerifyingKey> {
    DECODED.with_borrow_mut(|keys| {
        if let Some(k) = keys.get(bytes) {
            return Some(*k);
        }
        let k = ed25519_dalek::VerifyingKey::from_bytes(bytes).ok()?;
        if keys.len() >= DECODED_KEYS {
            keys.clear();
        }
        keys.insert(*bytes, k);
        Some(k)
    })
}

/// How a signature is judged. [`Strict`] verifies now (spec §1.2); a node may answer from the
/// signatures it already verified on another thread, and verify only what it has not seen.
pub trait SignatureCheck {
    fn holds(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool;
}

/// Strict Ed25519 verification, now.
pub struct Strict;

impl SignatureCheck for Strict {
    fn holds(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        key.verify(message, signature)
    }
}

// Human-readable formats (TOML, JSON) carry base64 text; postcard carries the raw 32 bytes.
impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(PublicKey)
        }
    }
}

/// An Ed25519 signature, 64 bytes. Text form: base64.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", B64.encode(self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&B64.encode(self.0))
        } else {
            // Fixed-size arrays above 32 have no serde impl; a tuple of two halves is the same
            // 64 bytes on the wire with postcard.
            let (a, b) = self.0.split_at(32);
            let a: [u8; 32] = a.try_into().expect("split at 32");
            let b: [u8; 32] = b.try_into().expect("split at 32");
            (a, b).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let v = B64
                .decode(s.trim())
                .map_err(|_| serde::de::Error::custom("signature is not base64"))?;
            let arr: [u8; 64] = v
                .try_into()
                .map_err(|_| serde::de::Error::custom("signature is not 64 bytes"))?;
            Ok(Signature(arr))
        } else {
            let (a, b) = <([u8; 32], [u8; 32])>::deserialize(d)?;
            let mut out = [0u8; 64];
            out[..32].copy_from_slice(&a);
            out[32..].copy_from_slice(&b);
            Ok(Signature(out))
        }
    }
}

fn decode32(s: &str) -> Result<[u8; 32], KeyError> {
    let v = Zeroizing::new(B64.decode(s).map_err(|_| KeyError::Encoding)?);
    v.as_slice().try_into().map_err(|_| KeyError::Encoding)
}

/// An Ed25519 signing key. The seed is wiped from memory on drop.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    pub const FILE_HEADER: &'static str = "passerelle ed25519 signing key v1";

    pub fn from_seed(seed: [u8; 32]) -> Self {
        let seed = Zeroizing::new(seed);
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }

    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The key file text: a header line then the base64 seed.
    pub fn to_file(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}\n{}\n",
            Self::FILE_HEADER,
            B64.encode(*self.seed())
        ))
    }

    pub fn from_file(text: &str) -> Result<Self, KeyError> {
        let seed = parse_key_file(text, "signing", Self::FILE_HEADER)?;
        Ok(Self::from_seed(seed))
    }
}

/// An X25519 secret key used as an HPKE recipient key. Wiped from memory on drop.
pub struct EncryptionKey(Zeroizing<[u8; 32]>);

impl EncryptionKey {
    pub const FILE_HEADER: &'static str = "passerelle x25519 encryption key v1";

    pub fn from_secret(secret: [u8; 32]) -> Self {
        EncryptionKey(Zeroizing::new(secret))
    }

    pub fn secret(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn public(&self) -> PublicKey {
        x25519_public(&self.0)
    }

    pub fn to_file(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n{}\n", Self::FILE_HEADER, B64.encode(*self.0)))
    }

    pub fn from_file(text: &str) -> Result<Self, KeyError> {
        parse_key_file(text, "encryption", Self::FILE_HEADER).map(Self::from_secret)
    }
}

/// X25519 public key of a secret, as HPKE (DHKEM(X25519, HKDF-SHA256)) derives it.
pub fn x25519_public(secret: &[u8; 32]) -> PublicKey {
    use hpke::{Deserializable, Serializable};
    type Kem = hpke::kem::X25519HkdfSha256;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret)
        .expect("every 32-byte string is an X25519 secret");
    let pk = <Kem as hpke::Kem>::sk_to_pk(&sk);
    let mut out = [0u8; 32];
    out.copy_from_slice(&pk.to_bytes());
    PublicKey(out)
}

fn parse_key_file(
    text: &str,
    expected: &'static str,
    header: &'static str,
) -> Result<[u8; 32], KeyError> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(header) {
        return Err(KeyError::Header { expected, header });
    }
    let body = lines.next().ok_or(KeyError::Encoding)?;
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(KeyError::Encoding);
    }
    decode32(body.trim())
}

/// SHA-256 helper used for digests throughout the protocol.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys kept decoded judge as keys decoded afresh: past the bound, after a wrong
    /// signature, and for bytes that are no point at all, which are never kept.
    #[test]
    fn decoded_keys_verify_as_fresh_ones() {
        let keys: Vec<SigningKey> = (0..DECODED_KEYS + 3)
            .map(|i| SigningKey::from_seed(sha256(&[&i.to_be_bytes()])))
            .collect();
        for round in 0..2 {
            for (i, k) in keys.iter().enumerate() {
                let m = [round as u8, i as u8];
                let sig = k.sign(&m);
                assert!(k.public().verify(&m, &sig), "key {i}, round {round}");
                assert!(!k.public().verify(&[9], &sig), "key {i}, round {round}");
            }
        }
        // y = 2 is not on the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        let sig = keys[0].sign(b"m");
        for _ in 0..2 {
            assert!(!PublicKey(not_a_point).verify(b"m", &sig));
        }
        assert!(DECODED.with_borrow(|k| !k.contains_key(&not_a_point)));
    }

    #[test]
    fn key_files_round_trip_and_reject_garbage() {
        let k = SigningKey::from_seed([9; 32]);
        let back = SigningKey::from_file(&k.to_file()).unwrap();
        assert_eq!(back.public(), k.public());
        assert!(matches!(
            SigningKey::from_file("hello\nAAAA\n"),
            Err(KeyError::Header { .. })
        ));
        assert!(SigningKey::from_file(&format!("{}\nAAAA\n", SigningKey::FILE_HEADER)).is_err());
        let e = EncryptionKey::from_secret([3; 32]);
        assert!(SigningKey::from_file(&e.to_file()).is_err());
        assert_eq!(
            EncryptionKey::from_file(&e.to_file()).unwrap().public(),
            e.public()
        );
    }

    #[test]
    fn signatures_verify_only_for_their_message() {
        let k = SigningKey::from_seed([1; 32]);
        let sig = k.sign(b"abc");
        assert!(k.public().verify(b"abc", &sig));
        assert!(!k.public().verify(b"abd", &sig));
    }
}
