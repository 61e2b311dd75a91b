//! Writes the seed corpus of every fuzz target, from the JSON test vectors and the example
//! records: `cargo run --example seed -- <corpus dir>`. Seeds are valid inputs (plus the
//! vectors' refused frames), so the fuzzer starts from inputs that reach deep into each decoder
//! and mutates from there.

use cli::records::parse_file;
use fuzz::bundle::{BundleInput, COSIGN, DROP, EXTRA, HUGE, KEPT, WRONG_KEY};
use fuzz::vectors::{CORE, RECORDS, TLOG, vectors};
use protocol_spec::case::SignedCaseEvent;
use protocol_spec::keys::EncryptionKey;
use protocol_spec::peer::{InclusionProof, PeerMessage, PeerReply};
use protocol_spec::records::RecordSet;
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::tlog::merkle::{Tree, leaf_hash};
use protocol_spec::tlog::tiles::{encode_bundle, entries_path, tile_path};
use protocol_spec::wire::{HEADER_LEN, encode_frame};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Seeds by target name.
#[derive(Default)]
struct Corpus(BTreeMap<&'static str, Vec<Vec<u8>>>);

impl Corpus {
    fn add(&mut self, target: &'static str, seed: impl Into<Vec<u8>>) {
        self.0.entry(target).or_default().push(seed.into());
    }

    /// A message as a whole frame (`frame`) and as a body (`target`).
    fn message<T: serde::Serialize>(&mut self, target: &'static str, message: &T) {
        let frame = encode_frame(message).expect("seed messages encode");
        self.add(target, &frame[HEADER_LEN..]);
        self.add("frame", frame);
    }

    fn write(&self, dir: &Path) -> std::io::Result<usize> {
        let mut n = 0;
        for (target, seeds) in &self.0 {
            let d = dir.join(target);
            std::fs::create_dir_all(&d)?;
            for (i, s) in seeds.iter().enumerate() {
                std::fs::write(d.join(format!("seed-{i:03}")), s)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex text")).expect("hex")
}

fn text(v: &Value) -> &str {
    v.as_str().expect("text")
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/records");
    let core: Value = serde_json::from_str(CORE).expect("core.json");
    let tlog: Value = serde_json::from_str(TLOG).expect("tlog.json");
    let records: Value = serde_json::from_str(RECORDS).expect("records.json");
    let v = vectors();
    let mut c = Corpus::default();

    // Frames and bodies, by the message type the vectors name.
    for f in core["frames"].as_object().expect("frames").values() {
        let frame = hex(&f["frame"]);
        let target = match text(&f["type"]) {
            "PeerMessage" => "peer_message",
            "PeerReply" => "peer_reply",
            "StaffRequest" => "staff_request",
            "StaffReply" => "staff_reply",
            other => panic!("frame of unknown type {other}"),
        };
        c.add(target, &frame[HEADER_LEN..]);
        c.add("frame", frame);
    }
    for f in items(&core["frame_errors"]["cases"]) {
        c.add("frame", hex(&f["frame"]));
    }
    // Sequences of frames, and every single frame as a sequence of one.
    for f in items(&core["frame_sequences"]["cases"]) {
        c.add("frame_sequence", hex(&f["bytes"]));
    }
    for f in core["frames"].as_object().expect("frames").values() {
        c.add("frame_sequence", hex(&f["frame"]));
    }

    // The vector disclosure's summary plaintext.
    c.add(
        "sealed_summary",
        hex(&core["disclosure"]["summary_plaintext"]),
    );

    // Rosters.
    c.add("roster_bytes", hex(&core["roster"]["signed_postcard"]));
    c.add(
        "roster_toml",
        toml::to_string(&v.roster).expect("roster TOML"),
    );
    c.add(
        "roster_toml",
        toml::to_string(&v.roster.roster).expect("roster TOML"),
    );
    c.message(
        "peer_message",
        &PeerMessage::Roster(v.roster.clone().into()),
    );
    c.message(
        "staff_request",
        &StaffRequest::InstallRoster(v.roster.clone()),
    );
    c.message("staff_reply", &StaffReply::Roster(v.roster.clone()));

    // Case histories: the vectors' signed events, in order.
    let events: Vec<SignedCaseEvent> = items(&core["case_events"]["events"])
        .iter()
        .map(|e| postcard::from_bytes(&hex(&e["signed_postcard"])).expect("event decodes"))
        .collect();
    for n in 1..=events.len() {
        c.message(
            "peer_message",
            &PeerMessage::CaseHistory {
                case_id: events[0].event.case_id,
                events: events[..n].to_vec(),
            },
        );
    }

    // Notes, checkpoints, cosignatures, verifier keys, witness requests.
    let fixture = &tlog["checkpoint_fixture"];
    let notes = [
        text(&fixture["note"]),
        text(&tlog["interop_checkpoint"]["note"]),
        text(&tlog["signed_note_go"]["note"]),
    ];
    for note in notes {
        c.add("note", note);
        c.add("checkpoint", note);
        let (body, lines) = note.rsplit_once("\n\n").expect("a note has signatures");
        c.add("checkpoint", format!("{body}\n"));
        c.add("cosignature", lines);
        c.message("peer_reply", &PeerReply::Cosigned(lines.into()));
        c.message(
            "staff_reply",
            &StaffReply::Checkpoint {
                note: note.to_string(),
            },
        );
    }
    for k in &v.note_keys {
        c.add("note", k.to_text());
    }
    let fixture_note = protocol_spec::tlog::note::Note::parse(text(&fixture["note"]))
        .expect("fixture note parses");
    for s in &fixture_note.signatures {
        c.add("cosignature", s.signature.clone());
    }
    let body = text(&tlog["witness_request"]["body"]);
    c.add("witness_request", body);
    c.message("peer_message", &PeerMessage::AddCheckpoint(body.into()));
    let tree = Tree::from_leaves(items(&fixture["leaves"]).iter().map(|l| leaf_hash(&hex(l))));
    let proof = tree.inclusion_proof(2, 5).expect("leaf 2 of 5");
    c.message(
        "peer_message",
        &PeerMessage::ReceiptProof(InclusionProof {
            request_digest: [0x5b; 32],
            leaf_index: 2,
            leaf_hash: tree.leaf(2).expect("leaf 2"),
            checkpoint: text(&fixture["note"]).into(),
            proof: proof.clone(),
        }),
    );
    c.message(
        "peer_reply",
        &PeerReply::Inclusion {
            checkpoint: text(&fixture["note"]).into(),
            proof,
        },
    );
    c.message("peer_message", &PeerMessage::ProveInclusion { index: 2 });
    // Honest proofs of trees of 5, 8 and 100 leaves (see the merkle_proof target's layout).
    for (n, index, size, old) in [(5u64, 2u64, 5u64, 3u64), (8, 7, 8, 4), (100, 37, 99, 64)] {
        let t = Tree::from_leaves((0..n).map(|i| leaf_hash(&i.to_be_bytes())));
        for proof in [
            t.inclusion_proof(index, size).expect("index within size"),
            t.consistency_proof(old, size).expect("old within size"),
        ] {
            let mut seed = vec![n as u8];
            for x in [index, size, old] {
                seed.extend_from_slice(&x.to_be_bytes());
            }
            seed.extend(proof.concat());
            c.add("merkle_proof", seed);
        }
    }

    // Tiles: paths and bytes.
    c.add("tile_path", "checkpoint");
    for p in items(&tlog["tiles"]["index_paths"]) {
        let index = p["index"].as_u64().expect("index");
        c.add("tile_path", entries_path(index, 256));
        c.add("tile_path", tile_path(1, index, 7));
    }
    for p in items(&tlog["tiles"]["level_tile_paths"]) {
        for path in items(&p["paths"]).iter().chain(items(&p["last"])) {
            c.add("tile_path", text(path));
        }
    }
    for t in items(&tlog["tiles"]["fixture"]["tiles"]) {
        c.add("tile_path", text(&t["path"]));
        c.add("entry_bundle", hex(&t["hex"]));
        c.message(
            "peer_message",
            &PeerMessage::LogTile(text(&t["path"]).into()),
        );
        c.message(
            "staff_request",
            &StaffRequest::LogTile {
                path: text(&t["path"]).into(),
            },
        );
        c.message("peer_reply", &PeerReply::LogData(hex(&t["hex"])));
    }

    // Log entries, alone, in bundles, and as the logs of audit bundles.
    let entries: Vec<Vec<u8>> = items(&core["log_entries"]["entries"])
        .iter()
        .map(|e| text(&e["text"]).as_bytes().to_vec())
        .collect();
    for e in &entries {
        c.add("log_entry", e.clone());
    }
    c.add(
        "entry_bundle",
        encode_bundle(&entries).expect("small entries"),
    );
    let many: Vec<Vec<u8>> = entries.iter().cycle().take(300).cloned().collect();
    let audits = [
        BundleInput {
            flags: COSIGN,
            entries: entries.clone(),
            ..BundleInput::default()
        },
        BundleInput {
            flags: COSIGN | KEPT,
            kept_size: 1,
            entries: many.clone(),
            ..BundleInput::default()
        },
        BundleInput {
            flags: COSIGN,
            entries: many,
            edits: vec![[0, 0, 9, 1], [DROP, 0, 2, 0], [EXTRA, 0, 0, 3]],
            ..BundleInput::default()
        },
        BundleInput {
            flags: COSIGN | HUGE,
            entries: entries.clone(),
            ..BundleInput::default()
        },
        BundleInput {
            flags: WRONG_KEY,
            size_delta: 3,
            entries: entries.clone(),
            ..BundleInput::default()
        },
        BundleInput {
            flags: 0,
            size_delta: -1,
            ..BundleInput::default()
        },
    ];
    for a in &audits {
        c.add("audit_bundle", a.to_bytes());
    }

    // Record imports: the vectors' cases and the example files.
    let mut sets: Vec<RecordSet> = Vec::new();
    for case in items(&records["imports"]) {
        let target = match text(&case["format"]) {
            "json" => "records_json",
            _ => "records_csv",
        };
        c.add(target, text(&case["input"]));
    }
    let mut names: Vec<_> = std::fs::read_dir(&examples)
        .expect("examples/records")
        .map(|e| e.expect("directory entry").path())
        .collect();
    names.sort();
    for path in names {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let bytes = std::fs::read(&path).expect("example record file");
        if name.ends_with(".json") {
            c.add("records_json", bytes.clone());
        } else if name.ends_with(".csv") {
            c.add("records_csv", bytes.clone());
        } else {
            continue;
        }
        if let Ok(set) = parse_file(name, &bytes) {
            sets.push(set);
        }
    }
    for set in sets {
        c.message("staff_request", &StaffRequest::ImportRecords(set));
    }

    // Node config and staff credential, with the vector roster's keys.
    let member = &v.roster.roster.members[0];
    let mut federation = toml::Table::new();
    federation.insert("name".into(), v.roster.roster.federation.clone().into());
    federation.insert(
        "authorities".into(),
        toml::Value::try_from(&v.roster.roster.authorities).expect("authorities"),
    );
    let mut admin = toml::Table::new();
    admin.insert("staff".into(), "admin".into());
    admin.insert("key".into(), member.signing_key.to_string().into());
    let mut config = toml::Table::new();
    config.insert("institution".into(), member.id.to_string().into());
    config.insert("listen".into(), member.address.clone().into());
    for (key, value) in [
        ("data_dir", "data"),
        ("signing_key", "keys/signing.key"),
        ("encryption_key", "keys/encryption.key"),
        ("log_key", "keys/log.key"),
        ("witness_key", "keys/witness.key"),
        ("roster", "roster.toml"),
    ] {
        config.insert(key.into(), value.into());
    }
    config.insert("federation".into(), federation.into());
    config.insert("bootstrap_admin".into(), admin.into());
    c.add("node_config", toml::to_string(&config).expect("config"));
    c.add("key_file", v.log_signer.to_file().as_bytes());
    c.add(
        "key_file",
        EncryptionKey::from_secret([9; 32]).to_file().as_bytes(),
    );
    let mut credential = toml::Table::new();
    for (key, value) in [
        ("staff", "marie".to_string()),
        ("institution", member.id.to_string()),
        ("role", "case-worker".into()),
        ("node_address", member.address.clone()),
        ("node_key", member.signing_key.to_string()),
        (
            "secret_key",
            "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=".into(),
        ),
    ] {
        credential.insert(key.into(), value.into());
    }
    c.add(
        "credential",
        toml::to_string(&credential).expect("credential"),
    );

    let n = c.write(&dir).expect("corpus written");
    println!("{n} seeds in {}", dir.display());
}
