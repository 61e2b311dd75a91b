//! C2SP tlog-cosignature v1 signatures: a big-endian timestamp and an Ed25519 signature over
//! `cosignature/v1\ntime <t>\n` and the checkpoint body. The signature type 0x04 of
//! [`super::note`] verifier keys; cosigning notes and quorums are in [`super::cosignature`].

use crate::keys::{PublicKey, Signature};

/// Length of a `timestamped_signature`: u64 time and a 64-byte Ed25519 signature.
pub const TIMESTAMPED_SIGNATURE_LEN: usize = 72;
/// The spec bounds timestamps to 2^63 - 1.
pub const MAX_COSIGNATURE_TIME: u64 = i64::MAX as u64;

/// `struct timestamped_signature { u64 timestamp; u8 signature[64]; }`, big-endian time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampedSignature {
    pub timestamp: u64,
    pub signature: [u8; 64],
}

impl TimestampedSignature {
    pub fn to_bytes(&self) -> [u8; TIMESTAMPED_SIGNATURE_LEN] {
        let mut out = [0u8; TIMESTAMPED_SIGNATURE_LEN];
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..].copy_from_slice(&self.signature);
        out
    }

    /// Exactly 72 bytes; `None` otherwise (the caller knows whose line it was).
    pub fn from_bytes(bytes: &[u8]) -> Option<TimestampedSignature> {
        let bytes: &[u8; TIMESTAMPED_SIGNATURE_LEN] = bytes.try_into().ok()?;
        let (time, sig) = bytes.split_at(8);
        Some(TimestampedSignature {
            timestamp: u64::from_be_bytes(time.try_into().ok()?),
            signature: sig.try_into().ok()?,
        })
    }
}

/// The signed message: `cosignature/v1\ntime <t>\n` then the whole checkpoint body.
pub fn cosignature_message(body: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// Checks a timestamped signature over `body` with a witness's public key; its time if valid.
pub(super) fn verify(key: &PublicKey, body: &[u8], sig: &[u8]) -> Option<u64> {
    let ts = TimestampedSignature::from_bytes(sig)?;
    if ts.timestamp > MAX_COSIGNATURE_TIME {
        return None;
    }
    let body = std::str::from_utf8(body).ok()?;
    key.verify(
        cosignature_message(body, ts.timestamp).as_bytes(),
        &Signature(ts.signature),
    )
    .then_some(ts.timestamp)
}
