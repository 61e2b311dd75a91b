//! Known-answer vectors: `vectors/core.json` (protocol messages) and `vectors/tlog.json`
//! (RFC 6962 and C2SP formats). The spec cites them by field name; these tests recompute every
//! value and compare byte for byte. `PASSERELLE_WRITE_VECTORS=1 cargo test -p protocol-spec
//! vectors` rewrites the computed parts of the files after an intended format change.

use crate::avs::Avs;
use crate::case::{CaseEvent, CaseEventKind};
use crate::category::Category;
use crate::exchange::{
    Disclosure, DisclosureHeader, Refusal, RefusalCode, Summary, SummaryField, SummaryRequest,
};
use crate::ids::{CaseId, ConsentId, EventId, RequestId};
use crate::keys::{EncryptionKey, SigningKey, sha256};
use crate::peer::{PeerMessage, PeerReply};
use crate::roster::{Authorities, Authority, Member, PolicyRule, Roster, SignedRoster};
use crate::seal::SeededRng;
use crate::tlog::note::{Note, SIG_COSIGNATURE, SIG_ED25519, VerifierKey, cosign};
use crate::tlog::{Checkpoint, Tree, leaf_hash, sign_checkpoint};
use crate::wire::encode_frame;
use serde_json::{Value, json};

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed([n; 32])
}

fn request() -> SummaryRequest {
    SummaryRequest {
        request_id: RequestId([0x11; 16]),
        requester: "ne.oai".parse().unwrap(),
        responder: "ne.orp".parse().unwrap(),
        case_id: CaseId([0x22; 16]),
        purpose: "coordinated-assessment".parse().unwrap(),
        categories: vec![Category::Employment, Category::Measures],
        issued_at: 1_795_305_600,
    }
}

fn roster() -> Roster {
    Roster {
        federation: "ne-cii".into(),
        version: 1,
        issued_at: 1_795_305_600,
        authorities: Authorities {
            threshold: 2,
            keys: (1..=3)
                .map(|i| Authority {
                    name: format!("authority-{i}"),
                    key: key(i).public(),
                })
                .collect(),
        },
        members: vec![Member {
            id: "ne.orp".parse().unwrap(),
            name: "Office régional de placement".into(),
            sector: "employment".parse().unwrap(),
            address: "127.0.0.1:7101".into(),
            signing_key: key(4).public(),
            encryption_key: EncryptionKey::from_secret([5; 32]).public(),
            log_key: key(6).public(),
            witness_key: key(7).public(),
            witnesses: vec![],
            witness_quorum: 0,
        }],
        policy: vec![PolicyRule {
            sector: "disability-insurance".parse().unwrap(),
            purpose: "coordinated-assessment".parse().unwrap(),
            categories: vec![Category::Employment, Category::Measures],
        }],
    }
}

/// Everything in core.json that is computed by the crate.
fn core() -> Value {
    let requester = key(8);
    let responder = key(4);
    let recipient = EncryptionKey::from_secret([9; 32]);
    let req = request().sign(&requester);
    let mut summary = Summary::default();
    summary.categories.insert(
        Category::Employment,
        vec![SummaryField {
            field: "status".into(),
            value: "registered job seeker".into(),
        }],
    );
    summary.categories.insert(Category::Measures, vec![]);
    let header = DisclosureHeader {
        request_digest: req.digest(),
        request_id: req.request.request_id,
        case_id: req.request.case_id,
        source: req.request.responder.clone(),
        recipient: req.request.requester.clone(),
        purpose: req.request.purpose.clone(),
        categories: req.request.categories.clone(),
        consent_id: ConsentId([0x33; 16]),
        disclosed_at: 1_795_305_601,
        roster_version: 1,
    };
    let d = Disclosure::build(
        header.clone(),
        &summary,
        &recipient.public(),
        &responder,
        &mut SeededRng::new([7; 32]),
    )
    .unwrap();
    let signed = SignedRoster::sign(roster(), &[&key(1), &key(3)]);
    let event = CaseEvent {
        event_id: EventId([0x44; 16]),
        case_id: CaseId([0x22; 16]),
        author: "ne.oai".parse().unwrap(),
        staff: "case-worker-1".parse().unwrap(),
        at: 1_795_305_600,
        kind: CaseEventKind::Opened {
            person: "7569217076985".parse().unwrap(),
        },
    };
    let avs: Avs = "756.9217.0769.85".parse().unwrap();
    json!({
        "keys": {
            "ed25519_seed_01": hex::encode(key(1).public().0),
            "ed25519_seed_04": hex::encode(key(4).public().0),
            "ed25519_seed_08": hex::encode(requester.public().0),
            "x25519_secret_09": hex::encode(recipient.public().0),
        },
        "roster": {
            "signing_input": hex::encode(signed.roster.signing_input()),
            "signature_authority_1": hex::encode(signed.signatures[0].signature.0),
            "signature_authority_3": hex::encode(signed.signatures[1].signature.0),
        },
        "summary_request": {
            "signing_input": hex::encode(req.request.signing_input()),
            "signature": hex::encode(req.signature.0),
            "digest": hex::encode(req.digest()),
            "frame": hex::encode(encode_frame(&PeerMessage::Summary(req.clone())).unwrap()),
        },
        "disclosure": {
            "summary_plaintext": hex::encode(postcard::to_stdvec(&summary).unwrap()),
            "aad": hex::encode(header.aad()),
            "rng_seed": hex::encode([7u8; 32]),
            "enc": hex::encode(d.sealed.enc),
            "ciphertext": hex::encode(&d.sealed.ciphertext),
            "signing_input": hex::encode(Disclosure::signing_input(&d.header, &d.sealed)),
            "signature": hex::encode(d.signature.0),
        },
        "refusal_not_concerned_frame": hex::encode(encode_frame(&PeerReply::Refusal(Refusal { code: RefusalCode::NotConcerned })).unwrap()),
        "case_event": { "signing_input": hex::encode(event.signing_input()), "signature": hex::encode(event.sign(&key(2)).signature.0) },
        "person_commitment": { "avs": avs.digits(), "salt": hex::encode([0x55u8; 32]), "commitment": hex::encode(avs.commitment(&[0x55; 32])) },
    })
}

fn tlog_fixture() -> Value {
    let log = key(1);
    let witness = key(2);
    let (lname, wname) = (
        "example.org/passerelle/log",
        "example.org/passerelle/witness",
    );
    let mut t = Tree::new();
    for i in 0..5u8 {
        t.append(leaf_hash(&[i]));
    }
    let cp = Checkpoint {
        origin: lname.into(),
        size: 5,
        root: t.root(),
    };
    let mut note = Note::parse(&sign_checkpoint(&cp, lname, &log)).unwrap();
    note.signatures
        .push(cosign(&note.text, wname, &witness, 1_795_305_600));
    json!({
        "log_seed": hex::encode([1u8; 32]),
        "witness_seed": hex::encode([2u8; 32]),
        "log_vkey": VerifierKey::new(lname, SIG_ED25519, log.public()).to_text(),
        "witness_vkey": VerifierKey::new(wname, SIG_COSIGNATURE, witness.public()).to_text(),
        "leaves": ["00", "01", "02", "03", "04"],
        "cosignature_time": 1_795_305_600u64,
        "note": note.to_text(),
    })
}

fn load(name: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("vectors/{name} is not JSON: {e}"))
}

fn write_back(name: &str, mut file: Value, section: &str, computed: Value) {
    if std::env::var_os("PASSERELLE_WRITE_VECTORS").is_some() {
        file[section] = computed;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/").to_string() + name;
        std::fs::write(path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    }
}

#[test]
fn core_vectors() {
    let file = load("core.json", include_str!("../vectors/core.json"));
    let computed = core();
    write_back("core.json", file.clone(), "computed", computed.clone());
    assert_eq!(
        file["computed"], computed,
        "vectors/core.json differs from what the crate computes"
    );
    // The sealed vector opens with the recipient's secret and names nothing else.
    let d = &file["computed"]["disclosure"];
    let sealed = crate::seal::Sealed {
        enc: hex::decode(d["enc"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
        ciphertext: hex::decode(d["ciphertext"].as_str().unwrap()).unwrap(),
    };
    let aad = hex::decode(d["aad"].as_str().unwrap()).unwrap();
    let plain = crate::seal::open(&EncryptionKey::from_secret([9; 32]), &sealed, &aad).unwrap();
    assert_eq!(hex::encode(plain), d["summary_plaintext"].as_str().unwrap());
}

#[test]
fn tlog_vectors() {
    let file = load("tlog.json", include_str!("../vectors/tlog.json"));
    // RFC 6962 roots and proofs: independent values, never rewritten.
    let leaves: Vec<Vec<u8>> = file["rfc6962"]["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| hex::decode(l.as_str().unwrap()).unwrap())
        .collect();
    let mut t = Tree::new();
    for l in &leaves {
        t.append(leaf_hash(l));
    }
    for (n, root) in file["rfc6962"]["roots"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(
            hex::encode(t.root_at(n as u64).unwrap()),
            root.as_str().unwrap(),
            "root of size {n}"
        );
    }
    let h = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    for p in file["rfc6962"]["inclusion"].as_array().unwrap() {
        let proof = t
            .inclusion_proof(p["index"].as_u64().unwrap(), p["size"].as_u64().unwrap())
            .unwrap();
        assert_eq!(
            proof.iter().map(hex::encode).collect::<Vec<_>>(),
            h(&p["proof"])
        );
    }
    for p in file["rfc6962"]["consistency"].as_array().unwrap() {
        let proof = t
            .consistency_proof(p["old"].as_u64().unwrap(), p["new"].as_u64().unwrap())
            .unwrap();
        assert_eq!(
            proof.iter().map(hex::encode).collect::<Vec<_>>(),
            h(&p["proof"])
        );
    }
    // Checkpoint with cosignature, and an independent key id check: SHA-256(name || 0x0A || 0x01 || key)[..4].
    let computed = tlog_fixture();
    write_back(
        "tlog.json",
        file.clone(),
        "checkpoint_fixture",
        computed.clone(),
    );
    assert_eq!(file["checkpoint_fixture"], computed);
    let mut id_input = b"example.org/passerelle/log\n\x01".to_vec();
    id_input.extend_from_slice(&key(1).public().0);
    let id = hex::encode(&sha256(&[&id_input])[..4]);
    assert!(
        computed["log_vkey"]
            .as_str()
            .unwrap()
            .contains(&format!("+{id}+"))
    );
}
