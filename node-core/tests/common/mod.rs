//! What the node core's tests share: ne.orp's core over a fresh store holding the vectors' case,
//! and steps run the way a driver runs them, with deterministic randomness.
#![allow(dead_code)] // each test file uses part of it

use node_core::{BootstrapAdmin, Core, Env, Fault, Input, Output, Random, Secrets, Tx, Verified};
use protocol_spec::case::SignedCaseEvent;
use protocol_spec::exchange::SignedSummaryRequest;
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey};
use protocol_spec::roster::SignedRoster;
use serde_json::Value;

pub fn core_json() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../protocol-spec/vectors/core.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("core.json")).expect("JSON")
}

pub fn hex_bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

pub fn seed(v: &Value, table: &str, key: &str, use_: &str) -> [u8; 32] {
    let item = v["keys"][table]
        .as_array()
        .expect("key table")
        .iter()
        .find(|k| k["use"] == use_)
        .unwrap_or_else(|| panic!("no key {use_}"));
    hex_bytes(&item[key]).try_into().expect("32 bytes")
}

/// Deterministic randomness: the vectors fix everything the decisions depend on.
pub struct Counter(pub u8);
impl Random for Counter {
    fn fill(&mut self, dst: &mut [u8]) {
        for b in dst {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

/// One committed step of the core, then the step of each piece of work it handed out.
pub fn step(core: &mut Core, db: &mut rusqlite::Connection, now: u64, input: Input) -> Vec<Output> {
    let mut outputs = one_step(core, db, now, input);
    while let Some(i) = outputs.iter().position(|o| matches!(o, Output::Work(_))) {
        let Output::Work(work) = outputs.remove(i) else {
            unreachable!()
        };
        let done = core.crypto().run(work, &mut Counter(100));
        outputs.extend(one_step(core, db, now, done));
    }
    outputs
}

pub fn one_step(
    core: &mut Core,
    db: &mut rusqlite::Connection,
    now: u64,
    input: Input,
) -> Vec<Output> {
    try_step(core, db, now, input, &Verified::default())
        .unwrap_or_else(|f| panic!("step failed: {f:?}"))
}

/// One step with the signatures `verified` vouches for; committed only if it succeeds.
pub fn try_step(
    core: &mut Core,
    db: &mut rusqlite::Connection,
    now: u64,
    input: Input,
    verified: &Verified,
) -> Result<Vec<Output>, Fault> {
    try_step_presigned(core, db, now, input, verified, None)
}

/// One step given a summary request the driver signed ahead; committed only if it succeeds.
pub fn try_step_presigned(
    core: &mut Core,
    db: &mut rusqlite::Connection,
    now: u64,
    input: Input,
    verified: &Verified,
    presigned: Option<&SignedSummaryRequest>,
) -> Result<Vec<Output>, Fault> {
    let size = node_core::store::log_size(db).unwrap();
    let mut txn = db.transaction().unwrap();
    let sp = txn.savepoint().unwrap();
    let mut pending = Vec::new();
    let mut random = Counter(0);
    let mut env = Env {
        now,
        random: &mut random,
        verified,
        presigned,
    };
    let outputs = {
        let mut tx = Tx::new(&sp, &mut pending, size);
        core.handle(&mut tx, &mut env, input)?
    };
    sp.commit().unwrap();
    txn.commit().unwrap();
    Ok(outputs)
}

/// ne.orp's core on a fresh store holding the vectors' case with `history`.
pub fn responder(
    v: &Value,
    roster: &SignedRoster,
    history: &[SignedCaseEvent],
) -> (Core, rusqlite::Connection) {
    node(v, roster, "ne.orp", history)
}

/// The core of the vectors' member `who` on a fresh store holding the vectors' case with
/// `history` (none if empty).
pub fn node(
    v: &Value,
    roster: &SignedRoster,
    who: &str,
    history: &[SignedCaseEvent],
) -> (Core, rusqlite::Connection) {
    let me = roster.roster.member(&who.parse().unwrap()).unwrap().clone();
    let db = node_core::store::open_in_memory().unwrap();
    let core = Core::load(
        &db,
        who.parse().unwrap(),
        Secrets {
            signing: SigningKey::from_seed(seed(v, "ed25519", "seed", &format!("{who} signing"))),
            encryption: EncryptionKey::from_secret(seed(
                v,
                "x25519",
                "secret",
                &format!("{who} encryption"),
            )),
            log: me.log_key,
            witness: me.witness_key,
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
    if let Some(first) = history.first() {
        db.execute(
            "INSERT INTO cases (case_id, person, history) VALUES (?1, '7569217076985', ?2)",
            rusqlite::params![
                first.event.case_id.0.to_vec(),
                postcard::to_stdvec(&history.to_vec()).unwrap()
            ],
        )
        .unwrap();
    }
    (core, db)
}

/// ne.orp holding the vectors' case up to the consent, with carla, a case worker issued at
/// `now`: its core, its store, the case's whole history and carla's key.
pub fn responder_with_worker(
    v: &Value,
    now: u64,
) -> (Core, rusqlite::Connection, Vec<SignedCaseEvent>, PublicKey) {
    let (roster, history) = federation(v);
    let (mut core, mut db) = responder(v, &roster, &history[..4]);
    let worker = SigningKey::from_seed([0x31; 32]).public();
    let out = one_step(
        &mut core,
        &mut db,
        now,
        Input::Staff {
            ticket: 1,
            key: PublicKey([9; 32]),
            request: protocol_spec::staff::StaffRequest::StaffIssue {
                staff: "carla".parse().unwrap(),
                role: protocol_spec::ids::Role::CaseWorker,
                key: worker,
            },
        },
    );
    assert!(
        matches!(out.as_slice(), [.., Output::StaffReply { .. }]),
        "{out:?}"
    );
    (core, db, history, worker)
}

/// The vectors' roster and case history.
pub fn federation(v: &Value) -> (SignedRoster, Vec<SignedCaseEvent>) {
    let roster = postcard::from_bytes(&hex_bytes(&v["roster"]["signed_postcard"])).expect("roster");
    let history = v["case_events"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| postcard::from_bytes(&hex_bytes(&e["signed_postcard"])).expect("event"))
        .collect();
    (roster, history)
}
