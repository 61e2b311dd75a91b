//! The keys and roster of the JSON test vectors. Seeds taken from the vectors carry valid
//! signatures under these keys, so the fuzzer starts past the signature checks and reaches
//! what a verified input drives.

use protocol_spec::exchange::Disclosure;
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey};
use protocol_spec::roster::SignedRoster;
use protocol_spec::tlog::note::VerifierKey;
use serde_json::Value;
use std::sync::OnceLock;

pub const CORE: &str = include_str!("../../protocol-spec/vectors/core.json");
pub const TLOG: &str = include_str!("../../protocol-spec/vectors/tlog.json");
pub const RECORDS: &str = include_str!("../../protocol-spec/vectors/records.json");

pub struct Vectors {
    /// The signed roster of `core.json` (2 of 3 authorities).
    pub roster: SignedRoster,
    /// The log key of `tlog.json`'s checkpoint fixture, and its signer.
    pub log_key: VerifierKey,
    pub log_signer: SigningKey,
    /// The witness (cosignature) key of the checkpoint fixture, and its signer.
    pub witness_key: VerifierKey,
    pub witness_signer: SigningKey,
    pub cosignature_time: u64,
    /// Every verifier key the vectors name (fixture, interop checkpoint, Go note, list).
    pub note_keys: Vec<VerifierKey>,
    /// The disclosure of `core.json` and its recipient's key.
    pub disclosure: Disclosure,
    pub recipient_key: EncryptionKey,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_else(|| panic!("vectors: {} is not a string", path.join(".")))
}

fn seed(v: &Value, path: &[&str]) -> SigningKey {
    let bytes = hex::decode(text(v, path)).expect("vectors: seed is hex");
    SigningKey::from_seed(bytes.try_into().expect("vectors: seed is 32 bytes"))
}

fn vkey(s: &str) -> VerifierKey {
    VerifierKey::parse(s).expect("vectors: verifier key parses")
}

/// Parsed once per process.
pub fn vectors() -> &'static Vectors {
    static V: OnceLock<Vectors> = OnceLock::new();
    V.get_or_init(|| {
        let core: Value = serde_json::from_str(CORE).expect("core.json");
        let tlog: Value = serde_json::from_str(TLOG).expect("tlog.json");
        let roster_bytes =
            hex::decode(text(&core, &["roster", "signed_postcard"])).expect("roster hex");
        let fixture = &tlog["checkpoint_fixture"];
        let mut note_keys: Vec<VerifierKey> = [
            text(fixture, &["log_vkey"]),
            text(fixture, &["witness_vkey"]),
            text(&tlog, &["interop_checkpoint", "log_vkey"]),
            text(&tlog, &["signed_note_go", "vkey"]),
        ]
        .into_iter()
        .map(vkey)
        .collect();
        for k in tlog["interop_checkpoint"]["witness_vkeys"]
            .as_array()
            .into_iter()
            .chain(tlog["vkeys"].as_array())
            .flatten()
        {
            match k.as_str().or_else(|| k["vkey"].as_str()) {
                Some(s) => note_keys.push(vkey(s)),
                None => panic!("vectors: verifier key entry {k} has no text"),
            }
        }
        let disclosure = &core["disclosure"];
        let secret = hex::decode(text(disclosure, &["recipient_secret"])).expect("secret hex");
        Vectors {
            disclosure: postcard::from_bytes(
                &hex::decode(text(disclosure, &["postcard"])).expect("disclosure hex"),
            )
            .expect("vectors: disclosure decodes"),
            recipient_key: EncryptionKey::from_secret(
                secret.try_into().expect("vectors: secret is 32 bytes"),
            ),
            roster: postcard::from_bytes(&roster_bytes).expect("vectors: roster decodes"),
            log_key: vkey(text(fixture, &["log_vkey"])),
            log_signer: seed(fixture, &["log_seed"]),
            witness_key: vkey(text(fixture, &["witness_vkey"])),
            witness_signer: seed(fixture, &["witness_seed"]),
            cosignature_time: fixture["cosignature_time"]
                .as_u64()
                .expect("vectors: cosignature time"),
            note_keys,
        }
    })
}

/// A signing key per institution id, so a target can sign whatever events the fuzzer
/// invents and reach the checks behind the signature.
pub fn key_of(institution: &str) -> SigningKey {
    SigningKey::from_seed(protocol_spec::keys::sha256(&[
        b"fuzz institution key\n",
        institution.as_bytes(),
    ]))
}

/// The public half of [`key_of`].
pub fn public_of(institution: &str) -> PublicKey {
    key_of(institution).public()
}
