//! The node core's responder against the decision vectors of `protocol-spec/vectors/core.json`:
//! each vector's case history is put in a fresh store of ne.orp, the vector's request arrives
//! as a peer message, and the core's answer and log entry must be the vector's outcome.

use node_core::{BootstrapAdmin, Core, Env, Input, Output, Random, Secrets, Tx};
use protocol_spec::case::SignedCaseEvent;
use protocol_spec::entry::{LogEntry, Person};
use protocol_spec::exchange::{RefusalCode, SummaryRequest};
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::SignedRoster;
use serde_json::Value;

fn core_json() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../protocol-spec/vectors/core.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("core.json")).expect("JSON")
}

fn hex_bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn seed(v: &Value, table: &str, key: &str, use_: &str) -> [u8; 32] {
    let item = v["keys"][table]
        .as_array()
        .expect("key table")
        .iter()
        .find(|k| k["use"] == use_)
        .unwrap_or_else(|| panic!("no key {use_}"));
    hex_bytes(&item[key]).try_into().expect("32 bytes")
}

/// Deterministic randomness: the vectors fix everything the decisions depend on.
struct Counter(u8);
impl Random for Counter {
    fn fill(&mut self, dst: &mut [u8]) {
        for b in dst {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

/// One committed step of the core.
fn step(core: &mut Core, db: &mut rusqlite::Connection, now: u64, input: Input) -> Vec<Output> {
    let size = node_core::store::log_size(db).unwrap();
    let mut txn = db.transaction().unwrap();
    let sp = txn.savepoint().unwrap();
    let mut pending = Vec::new();
    let mut random = Counter(0);
    let mut env = Env {
        now,
        random: &mut random,
    };
    let outputs = {
        let mut tx = Tx::new(&sp, &mut pending, size);
        core.handle(&mut tx, &mut env, input)
            .unwrap_or_else(|f| panic!("step failed: {f:?}"))
    };
    sp.commit().unwrap();
    txn.commit().unwrap();
    outputs
}

#[test]
fn the_core_decides_every_decision_vector_as_the_spec_says() {
    let v = core_json();
    let roster: SignedRoster =
        postcard::from_bytes(&hex_bytes(&v["roster"]["signed_postcard"])).expect("roster");
    let history: Vec<SignedCaseEvent> = v["case_events"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| postcard::from_bytes(&hex_bytes(&e["signed_postcard"])).expect("event"))
        .collect();
    let decisions = v["decisions"]["cases"].as_array().expect("decisions");
    assert_eq!(v["decisions"]["responder"], "ne.orp");
    let orp = roster
        .roster
        .member(&"ne.orp".parse().unwrap())
        .unwrap()
        .clone();
    for d in decisions {
        let name = d["name"].as_str().unwrap();
        let mut db = node_core::store::open_in_memory().unwrap();
        let mut core = Core::load(
            &db,
            "ne.orp".parse().unwrap(),
            Secrets {
                signing: SigningKey::from_seed(seed(&v, "ed25519", "seed", "ne.orp signing")),
                encryption: EncryptionKey::from_secret(seed(
                    &v,
                    "x25519",
                    "secret",
                    "ne.orp encryption",
                )),
                log: orp.log_key,
                witness: orp.witness_key,
                former_encryption: vec![],
            },
            roster.clone(),
            BootstrapAdmin {
                staff: "admin".parse().unwrap(),
                key: PublicKey([9; 32]),
            },
            0,
        )
        .unwrap();
        let n = d["history_events"].as_u64().unwrap() as usize;
        db.execute(
            "INSERT INTO cases (case_id, person, history) VALUES (?1, '7569217076985', ?2)",
            rusqlite::params![
                history[0].event.case_id.0.to_vec(),
                postcard::to_stdvec(&history[..n].to_vec()).unwrap()
            ],
        )
        .unwrap();
        let now = d["now"].as_u64().unwrap();
        // The vectors are the rule's inputs (spec §7.4); the request is signed at the decision's
        // time so the responder's freshness check (§7.3) lets it reach the rule.
        let request = SummaryRequest {
            issued_at: now,
            ..serde_json::from_value(d["request"].clone()).expect("request")
        };
        let requester = request.requester.to_string();
        // A requester outside the roster signs with a key the roster does not hold.
        let key = match requester.as_str() {
            "ne.oai" | "ne.sas" => {
                SigningKey::from_seed(seed(&v, "ed25519", "seed", &format!("{requester} signing")))
            }
            _ => SigningKey::from_seed([0x63; 32]),
        };
        let outputs = step(
            &mut core,
            &mut db,
            now,
            Input::Peer {
                from: key.public(),
                message: PeerMessage::Summary(request.sign(&key)),
            },
        );
        let [Output::PeerReply(reply)] = outputs.as_slice() else {
            panic!("{name}: one reply expected, got {outputs:?}")
        };
        let last: Vec<u8> = db
            .query_row(
                "SELECT entry FROM log_entries ORDER BY idx DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let entry = LogEntry::parse(&last).unwrap();
        match (d["outcome"].as_str().unwrap(), reply) {
            ("grant", PeerReply::Disclosure { disclosure, .. }) => {
                assert_eq!(
                    hex::encode(disclosure.header.consent_id.0),
                    d["consent_id"].as_str().unwrap(),
                    "{name}"
                );
                assert!(matches!(entry, LogEntry::Disclosure(_)), "{name}");
            }
            (code, PeerReply::Refusal(r)) => {
                assert_eq!(r.code.as_str(), code, "{name}");
                let LogEntry::Refusal(entry) = entry else {
                    panic!("{name}: a refusal entry, got {}", entry.kind());
                };
                assert_eq!(entry.code, r.code, "{name}");
                // The person is named only to a concerned requester about a case held here.
                let named = entry.person != Person::Unnamed;
                let concerned =
                    !matches!(r.code, RefusalCode::NotConcerned | RefusalCode::NotMember);
                assert_eq!(named, concerned, "{name}: person field");
            }
            (outcome, other) => panic!("{name}: expected {outcome}, got {other:?}"),
        }
    }
}
