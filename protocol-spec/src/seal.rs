//! Sealing summaries to their recipient with HPKE (RFC 9180), base mode, suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, through the `hpke` crate.
//! The disclosure header is the associated data, so a sealed summary cannot be re-labelled
//! for another request, recipient or set of categories.

use crate::keys::{EncryptionKey, PublicKey};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

pub use hpke::rand_core as hpke_rng;
pub use hpke::rand_core::CryptoRng;

/// HPKE `info` for summaries.
pub const HPKE_INFO: &[u8] = b"passerelle/v1 summary";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// HPKE encapsulated key (X25519 ephemeral public key), 32 bytes.
    #[serde(with = "crate::ids::hex32")]
    pub enc: [u8; 32],
    /// ChaCha20-Poly1305 ciphertext with its 16-byte tag.
    #[serde(with = "crate::ids::hex_bytes")]
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// SHA-256(enc || ciphertext): how logs and receipts name a sealed summary.
    pub fn digest(&self) -> [u8; 32] {
        crate::keys::sha256(&[&self.enc, &self.ciphertext])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("recipient encryption key is not a valid X25519 public key")]
    BadRecipientKey,
    #[error("sealing failed")]
    Seal,
    #[error("sealed summary does not open with this node's key and header (tampered or not ours)")]
    Open,
}

pub fn seal<R: CryptoRng>(
    recipient: &PublicKey,
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Sealed, SealError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&recipient.0)
        .map_err(|_| SealError::BadRecipientKey)?;
    let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &pk,
        HPKE_INFO,
        plaintext,
        aad,
        rng,
    )
    .map_err(|_| SealError::Seal)?;
    let mut enc_bytes = [0u8; 32];
    enc_bytes.copy_from_slice(&enc.to_bytes());
    Ok(Sealed {
        enc: enc_bytes,
        ciphertext,
    })
}

pub fn open(key: &EncryptionKey, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let sk =
        <Kem as hpke::Kem>::PrivateKey::from_bytes(key.secret()).map_err(|_| SealError::Open)?;
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.enc).map_err(|_| SealError::Open)?;
    hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        HPKE_INFO,
        &sealed.ciphertext,
        aad,
    )
    .map_err(|_| SealError::Open)
}

/// Deterministic random source for tests and vectors only: SHA-256 in counter mode over a
/// seed. Never used by a running node, which draws from the operating system.
pub struct SeededRng {
    seed: [u8; 32],
    counter: u64,
    buf: [u8; 32],
    pos: usize,
}

impl SeededRng {
    pub fn new(seed: [u8; 32]) -> Self {
        SeededRng {
            seed,
            counter: 0,
            buf: [0; 32],
            pos: 32,
        }
    }
}

impl hpke::rand_core::TryRng for SeededRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            if self.pos == 32 {
                self.buf = crate::keys::sha256(&[&self.seed, &self.counter.to_be_bytes()]);
                self.counter += 1;
                self.pos = 0;
            }
            *byte = self.buf[self.pos];
            self.pos += 1;
        }
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for SeededRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_binding() {
        let key = EncryptionKey::from_secret([5; 32]);
        let mut rng = SeededRng::new([1; 32]);
        let s = seal(&key.public(), b"header", b"summary", &mut rng).unwrap();
        assert_eq!(open(&key, &s, b"header").unwrap(), b"summary");
        assert_eq!(open(&key, &s, b"other header"), Err(SealError::Open));
        let other = EncryptionKey::from_secret([6; 32]);
        assert_eq!(open(&other, &s, b"header"), Err(SealError::Open));
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert_eq!(open(&key, &t, b"header"), Err(SealError::Open));
    }
}
