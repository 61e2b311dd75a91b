//! Known-answer tests over `vectors/tlog.json`. Values from outside this crate (RFC 6962
//! vectors, Go's x/mod note example, published vkeys and a published cosigned checkpoint)
//! check the code; the fixtures this crate computed are re-derived and also checked with
//! hand-built hashes and messages that bypass the module.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Verifier;
use protocol_spec::audit::{BundleKeys, verify_bundle_with};
use protocol_spec::keys::SigningKey;
use protocol_spec::tlog::checkpoint::{Checkpoint, open_checkpoint};
use protocol_spec::tlog::cosignature::{CosignatureSigner, check_quorum, cosigners};
use protocol_spec::tlog::merkle::{
    EMPTY_ROOT, Hash, Tree, leaf_hash, root_from_leaves, verify_consistency, verify_inclusion,
};
use protocol_spec::tlog::note::{
    Ed25519Signer, Note, SIG_COSIGNATURE, SIG_ED25519, VerifierKey, verify_note,
};
use protocol_spec::tlog::tiles::{index_path, level_tile_paths, tiles_for_entries};
use protocol_spec::tlog::witness::{AddCheckpoint, WitnessState, decide};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../vectors/tlog.json")).expect("tlog.json is JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

fn n(v: &Value) -> u64 {
    v.as_u64().expect("integer")
}

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().expect("array")
}

fn hash_hex(v: &Value) -> Hash {
    hex::decode(s(v)).unwrap().try_into().unwrap()
}

fn hash_b64(v: &Value) -> Hash {
    B64.decode(s(v)).unwrap().try_into().unwrap()
}

fn seed(v: &Value) -> [u8; 32] {
    hex::decode(s(v)).unwrap().try_into().unwrap()
}

/// SHA-256(name || 0x0A || type || key)[..4], written out without the module's helper.
fn hand_key_id(name: &str, sig_type: u8, public: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, sig_type]);
    h.update(public);
    hex::encode(&h.finalize()[..4])
}

fn rfc6962_tree(v: &Value) -> (Vec<Hash>, Tree) {
    let leaves: Vec<Hash> = arr(&v["rfc6962"]["leaves"])
        .iter()
        .map(|l| leaf_hash(&hex::decode(s(l)).unwrap()))
        .collect();
    let t = Tree::from_leaves(leaves.iter().copied());
    (leaves, t)
}

#[test]
fn rfc6962_roots_and_proofs() {
    let v = vectors();
    let (leaves, t) = rfc6962_tree(&v);
    let roots: Vec<Hash> = arr(&v["rfc6962"]["roots"]).iter().map(hash_hex).collect();
    assert_eq!(roots.len(), 9);
    for (size, root) in roots.iter().enumerate() {
        assert_eq!(t.root_at(size as u64).as_ref(), Some(root), "size {size}");
        assert_eq!(&root_from_leaves(&leaves[..size]), root, "size {size}");
    }
    for p in arr(&v["rfc6962"]["inclusion"]) {
        let (index, size) = (n(&p["index"]), n(&p["size"]));
        let want: Vec<Hash> = arr(&p["proof"]).iter().map(hash_hex).collect();
        assert_eq!(t.inclusion_proof(index, size).unwrap(), want);
        let root = roots[size as usize];
        let leaf = leaves[index as usize];
        assert_eq!(verify_inclusion(&leaf, index, size, &want, &root), Ok(()));
        for i in 0..want.len() {
            let mut bad = want.clone();
            bad[i][31] ^= 0x80;
            assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }
        let other = (index + 1) % size;
        assert!(verify_inclusion(&leaf, other, size, &want, &root).is_err());
    }
    for p in arr(&v["rfc6962"]["consistency"]) {
        let (old, new) = (n(&p["old"]), n(&p["new"]));
        let want: Vec<Hash> = arr(&p["proof"]).iter().map(hash_hex).collect();
        assert_eq!(t.consistency_proof(old, new).unwrap(), want);
        let (r1, r2) = (roots[old as usize], roots[new as usize]);
        assert_eq!(verify_consistency(old, new, &r1, &r2, &want), Ok(()));
        for i in 0..want.len() {
            let mut bad = want.clone();
            bad[i][0] ^= 1;
            assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err());
        }
        assert!(verify_consistency(old, new, &r2, &r1, &want).is_err());
    }
    // The consistency proof 1 -> 8 is the inclusion proof of leaf 0 in 8.
    assert_eq!(t.consistency_proof(1, 8), t.inclusion_proof(0, 8));
}

#[test]
fn empty_tree_root() {
    let v = vectors();
    assert_eq!(hash_hex(&v["empty_tree"]["root_hex"]), EMPTY_ROOT);
    assert_eq!(hash_b64(&v["empty_tree"]["root_base64"]), EMPTY_ROOT);
    assert_eq!(hash_hex(&v["rfc6962"]["roots"][0]), EMPTY_ROOT);
}

#[test]
fn checkpoint_fixture_is_reproduced_and_checks_by_hand() {
    let v = vectors();
    let f = &v["checkpoint_fixture"];
    let (lname, wname) = (
        "example.org/passerelle/log",
        "example.org/passerelle/witness",
    );
    let (log_seed, witness_seed) = (seed(&f["log_seed"]), seed(&f["witness_seed"]));
    assert_eq!((log_seed, witness_seed), ([1; 32], [2; 32]));
    let (log, witness) = (
        SigningKey::from_seed(log_seed),
        SigningKey::from_seed(witness_seed),
    );
    let time = n(&f["cosignature_time"]);

    // Key ids and vkeys, with the public keys derived by ed25519-dalek directly.
    let log_pub = ed25519_dalek::SigningKey::from_bytes(&log_seed)
        .verifying_key()
        .to_bytes();
    let w_pub = ed25519_dalek::SigningKey::from_bytes(&witness_seed)
        .verifying_key()
        .to_bytes();
    let mut blob = vec![0x01];
    blob.extend_from_slice(&log_pub);
    let want_log_vkey = format!(
        "{lname}+{}+{}",
        hand_key_id(lname, 0x01, &log_pub),
        B64.encode(&blob)
    );
    assert_eq!(s(&f["log_vkey"]), want_log_vkey);
    blob[0] = 0x04;
    blob[1..].copy_from_slice(&w_pub);
    let want_w_vkey = format!(
        "{wname}+{}+{}",
        hand_key_id(wname, 0x04, &w_pub),
        B64.encode(&blob)
    );
    assert_eq!(s(&f["witness_vkey"]), want_w_vkey);
    let log_vkey = VerifierKey::parse(s(&f["log_vkey"])).unwrap();
    let w_vkey = VerifierKey::parse(s(&f["witness_vkey"])).unwrap();
    assert_eq!(
        (log_vkey.sig_type, w_vkey.sig_type),
        (SIG_ED25519, SIG_COSIGNATURE)
    );

    // The note, rebuilt through the signer types, byte for byte.
    let entries: Vec<Vec<u8>> = arr(&f["leaves"])
        .iter()
        .map(|l| hex::decode(s(l)).unwrap())
        .collect();
    let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    let cp = Checkpoint {
        origin: lname.into(),
        size: entries.len() as u64,
        root: tree.root(),
    };
    let mut note = cp.sign(&Ed25519Signer::new(lname, &log).unwrap()).unwrap();
    note.add_signature(&CosignatureSigner::new(wname, &witness, time).unwrap())
        .unwrap();
    let text = s(&f["note"]);
    assert_eq!(note.to_text(), text);

    // Through the module: the log signature and the cosignature verify.
    let (opened, parsed) = open_checkpoint(text, &log_vkey).unwrap();
    assert_eq!(opened, cp);
    let found = check_quorum(&parsed, std::slice::from_ref(&w_vkey), 1, Some(time)).unwrap();
    assert_eq!((found[0].name.as_str(), found[0].time), (wname, time));

    // By hand: split the lines, check the key ids and verify with ed25519-dalek.
    let (body, sigs) = text.split_once("\n\n").unwrap();
    let body = format!("{body}\n");
    assert_eq!(body, cp.body());
    let lines: Vec<&str> = sigs.lines().collect();
    assert_eq!(lines.len(), 2);
    let raw = |line: &str, name: &str| {
        let b64 = line
            .strip_prefix(&format!("\u{2014} {name} "))
            .expect("signature line");
        B64.decode(b64).unwrap()
    };
    let l = raw(lines[0], lname);
    assert_eq!(hex::encode(&l[..4]), hand_key_id(lname, 0x01, &log_pub));
    let sig = ed25519_dalek::Signature::from_slice(&l[4..]).unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&log_pub)
        .unwrap()
        .verify(body.as_bytes(), &sig)
        .unwrap();
    let w = raw(lines[1], wname);
    assert_eq!(w.len(), 4 + 72);
    assert_eq!(hex::encode(&w[..4]), hand_key_id(wname, 0x04, &w_pub));
    assert_eq!(u64::from_be_bytes(w[4..12].try_into().unwrap()), time);
    let message = format!("cosignature/v1\ntime {time}\n{body}");
    let sig = ed25519_dalek::Signature::from_slice(&w[12..]).unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&w_pub)
        .unwrap()
        .verify(message.as_bytes(), &sig)
        .unwrap();
}

#[test]
fn go_signed_note_example_is_reproduced() {
    let v = vectors();
    let g = &v["signed_note_go"];
    // PRIVATE+KEY+<name>+<id>+base64(0x01 || seed): Go's signer key format.
    let parts: Vec<&str> = s(&g["signer_key"]).splitn(5, '+').collect();
    assert_eq!(parts[..3], ["PRIVATE", "KEY", "PeterNeumann"]);
    let blob = B64.decode(parts[4]).unwrap();
    assert_eq!(blob[0], 0x01);
    assert_eq!(hex::encode(&blob[1..]), s(&g["seed"]));
    let key = SigningKey::from_seed(seed(&g["seed"]));
    let signer = Ed25519Signer::new(parts[2], &key).unwrap();
    assert_eq!(
        hex::encode(protocol_spec::tlog::note::NoteSigner::key_id(&signer)),
        parts[3]
    );
    assert_eq!(signer.verifier().to_text(), s(&g["vkey"]));
    let note = Note::sign(s(&g["text"]), &[&signer]).unwrap();
    assert_eq!(note.to_text(), s(&g["note"]));
    let vkey = VerifierKey::parse(s(&g["vkey"])).unwrap();
    let parsed = Note::parse(s(&g["note"])).unwrap();
    assert_eq!(parsed.text, s(&g["text"]));
    assert_eq!(verify_note(&parsed, &[vkey]).unwrap(), ["PeterNeumann"]);
}

#[test]
fn published_vkeys_parse_and_round_trip() {
    let v = vectors();
    for k in arr(&v["vkeys"]) {
        let text = s(&k["vkey"]);
        let parsed = VerifierKey::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed.to_text(), text);
        assert_eq!(parsed.name, s(&k["name"]));
        assert_eq!(u64::from(parsed.sig_type), n(&k["type"]));
        assert_eq!(hex::encode(parsed.key.0), s(&k["public_key_hex"]));
        assert_eq!(hex::encode(parsed.key_id()), s(&k["key_id"]));
        assert_eq!(
            hand_key_id(&parsed.name, parsed.sig_type, &parsed.key.0),
            s(&k["key_id"])
        );
    }
}

#[test]
fn published_cosigned_checkpoint_verifies() {
    let v = vectors();
    let c = &v["interop_checkpoint"];
    let text = s(&c["note"]);
    let log = VerifierKey::parse(s(&c["log_vkey"])).unwrap();
    let (cp, note) = open_checkpoint(text, &log).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size, cp.root),
        (s(&c["origin"]), n(&c["size"]), hash_b64(&c["root_base64"]))
    );
    // The log's other line (another signature type, same name) is an unknown key: ignored.
    assert_eq!(
        hex::encode(note.signatures[0].key_id),
        s(&c["ignored_key_id"])
    );
    assert_eq!(note.signatures[0].name, log.name);
    let witnesses: Vec<VerifierKey> = arr(&c["witness_vkeys"])
        .iter()
        .map(|w| VerifierKey::parse(s(w)).unwrap())
        .collect();
    let time = n(&c["cosignature_time"]);
    let found = check_quorum(&note, &witnesses, witnesses.len(), None).unwrap();
    assert_eq!(found.len(), 4);
    assert!(found.iter().all(|f| f.time == time));
    assert!(cosigners(&note, &witnesses, Some(time - 1)).is_err());
    // Any change to the body breaks the log signature and every cosignature.
    let altered = text.replacen("1432088532", "1432088533", 1);
    assert!(open_checkpoint(&altered, &log).is_err());
    let altered = Note::parse(&altered).unwrap();
    for w in &witnesses {
        assert!(cosigners(&altered, std::slice::from_ref(w), None).is_err());
    }
}

#[test]
fn witness_request_vector() {
    let v = vectors();
    let w = &v["witness_request"];
    let body = s(&w["body"]);
    let req = AddCheckpoint::parse(body).unwrap();
    assert_eq!(req.to_text(), body);
    // The proof is the fixture tree's, and the checkpoint is the fixture's log line alone.
    let entries: Vec<Vec<u8>> = arr(&v["checkpoint_fixture"]["leaves"])
        .iter()
        .map(|l| hex::decode(s(l)).unwrap())
        .collect();
    let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    assert_eq!(req.old_size, 3);
    assert_eq!(req.proof, tree.consistency_proof(3, 5).unwrap());
    let fixture = Note::parse(s(&v["checkpoint_fixture"]["note"])).unwrap();
    let log_only = Note {
        signatures: fixture.signatures[..1].to_vec(),
        ..fixture
    };
    assert_eq!(req.checkpoint, log_only.to_text());

    let key = VerifierKey::parse(s(&w["log_vkey"])).unwrap();
    for case in arr(&w["cases"]) {
        let state = WitnessState {
            size: n(&case["state_size"]),
            root: hash_b64(&case["state_root_base64"]),
        };
        match decide(state, Some(&key), &req) {
            Ok((cp, _)) => {
                assert_eq!(n(&case["status"]), 200);
                let next = WitnessState::from(&cp);
                assert_eq!(next.size, n(&case["new_size"]));
                assert_eq!(next.root, hash_b64(&case["new_root_base64"]));
                assert_eq!(Some(next.root), tree.root_at(next.size));
            }
            Err(e) => {
                assert_eq!(u64::from(e.status()), n(&case["status"]), "{e}");
                if let Some(latest) = case.get("latest") {
                    assert_eq!(e.conflict_body(), Some(format!("{}\n", n(latest))));
                }
            }
        }
    }
}

#[test]
fn tile_vectors() {
    let v = vectors();
    let t = &v["tiles"];
    for p in arr(&t["index_paths"]) {
        assert_eq!(index_path(n(&p["index"])), s(&p["path"]));
    }
    for c in arr(&t["level_tile_paths"]) {
        let paths: Vec<String> = level_tile_paths(n(&c["size"])).map(|p| p.0).collect();
        if let Some(want) = c.get("paths") {
            let want: Vec<&str> = arr(want).iter().map(s).collect();
            assert_eq!(paths, want);
        } else {
            assert_eq!(paths.len() as u64, n(&c["count"]));
            let last: Vec<&str> = arr(&c["last"]).iter().map(s).collect();
            assert_eq!(paths[paths.len() - last.len()..], last);
        }
    }

    // The fixture tree's tiles, and by hand: leaf hashes, then u16-prefixed entries.
    let entries: Vec<Vec<u8>> = arr(&v["checkpoint_fixture"]["leaves"])
        .iter()
        .map(|l| hex::decode(s(l)).unwrap())
        .collect();
    let want: Vec<(String, Vec<u8>)> = arr(&t["fixture"]["tiles"])
        .iter()
        .map(|x| {
            (
                s(&x["path"]).to_string(),
                hex::decode(s(&x["hex"])).unwrap(),
            )
        })
        .collect();
    assert_eq!(tiles_for_entries(&entries).unwrap(), want);
    let mut level0 = Vec::new();
    let mut bundle = Vec::new();
    for e in &entries {
        level0.extend_from_slice(&Sha256::digest([&[0u8][..], e].concat()));
        bundle.extend_from_slice(&(e.len() as u16).to_be_bytes());
        bundle.extend_from_slice(e);
    }
    assert_eq!(want[0].1, level0);
    assert_eq!(want[1].1, bundle);

    // Read back through the auditor's verifier against the fixture's signed and cosigned
    // checkpoint: signature, quorum, tiles and root all check; the fixture's leaves are not
    // log entries, which is all it finds.
    let f = &v["checkpoint_fixture"];
    let note = Note::parse(s(&f["note"])).unwrap();
    let cp = Checkpoint::parse(&note.text).unwrap();
    let mut files: HashMap<String, Vec<u8>> = want.into_iter().collect();
    files.insert("checkpoint".into(), s(&f["note"]).as_bytes().to_vec());
    let keys = BundleKeys {
        former_logs: vec![],
        log: VerifierKey::parse(s(&f["log_vkey"])).unwrap(),
        witnesses: vec![VerifierKey::parse(s(&f["witness_vkey"])).unwrap()],
        quorum: 1,
    };
    let mut read = Vec::new();
    let r = verify_bundle_with(&mut files, &keys, None, &mut |_| {}, &mut |i, e| {
        read.push((i, e.to_vec()))
    });
    assert_eq!(r.checkpoint, Some(cp));
    assert_eq!(r.entries, entries.len() as u64);
    assert_eq!(
        read,
        entries
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, e)| (i as u64, e))
            .collect::<Vec<_>>()
    );
    let problems: Vec<&str> = r.findings.iter().map(|f| f.location.as_str()).collect();
    let malformed: Vec<String> = (0..entries.len()).map(|i| format!("entry {i}")).collect();
    assert_eq!(problems, malformed, "{:?}", r.findings);
}
