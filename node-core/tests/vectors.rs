//! The node core's responder against the decision vectors of `protocol-spec/vectors/core.json`:
//! each vector's case history is put in a fresh store of ne.orp, the vector's request arrives
//! as a peer message, and the core's answer and log entry must be the vector's outcome. Also the
//! signatures checked before a step, off the store thread.

mod common;

use common::*;
use node_core::{Fault, Input, Output, Work, precheck};
use protocol_spec::case::SignedCaseEvent;
use protocol_spec::entry::{LogEntry, Person};
use protocol_spec::exchange::{RefusalCode, SignedSummaryRequest, SummaryRequest};
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use serde_json::Value;

/// A decision vector's request, signed by its requester at `now`.
fn request(v: &Value, d: &Value, now: u64) -> (SigningKey, SignedSummaryRequest) {
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
            SigningKey::from_seed(seed(v, "ed25519", "seed", &format!("{requester} signing")))
        }
        _ => SigningKey::from_seed([0x63; 32]),
    };
    let signed = request.sign(&key);
    (key, signed)
}

#[test]
fn the_core_decides_every_decision_vector_as_the_spec_says() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let decisions = v["decisions"]["cases"].as_array().expect("decisions");
    assert_eq!(v["decisions"]["responder"], "ne.orp");
    for d in decisions {
        let name = d["name"].as_str().unwrap();
        let n = d["history_events"].as_u64().unwrap() as usize;
        let (mut core, mut db) = responder(&v, &roster, &history[..n]);
        let now = d["now"].as_u64().unwrap();
        let (key, request) = request(&v, d, now);
        let outputs = step(
            &mut core,
            &mut db,
            now,
            Input::Peer {
                from: key.public(),
                message: PeerMessage::Summary(request),
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

/// The responder seals a grant off the store thread, between two steps. A revocation committed
/// in between wins: the second step judges again and refuses; the sealed summary never leaves.
#[test]
fn a_revocation_committed_while_the_summary_is_sealed_wins() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let cases = v["decisions"]["cases"].as_array().expect("decisions");
    let grant = cases.iter().find(|d| d["name"] == "grant").unwrap();
    let revoked = cases.iter().find(|d| d["name"] == "revoked").unwrap();
    let n = grant["history_events"].as_u64().unwrap() as usize;
    let (mut core, mut db) = responder(&v, &roster, &history[..n]);
    let now = revoked["now"].as_u64().unwrap();
    let (key, request) = request(&v, grant, now);
    let input = Input::Peer {
        from: key.public(),
        message: PeerMessage::Summary(request),
    };
    // Before the revocation the rule grants at `now`: the first step hands the sealing out.
    let outputs = one_step(&mut core, &mut db, now, input);
    let [Output::Work(work @ Work::Seal(_))] = outputs.as_slice() else {
        panic!("sealing handed out expected, got {outputs:?}")
    };
    let done = core.crypto().run(work.clone(), &mut Counter(100));
    let m = revoked["history_events"].as_u64().unwrap() as usize;
    db.execute(
        "UPDATE cases SET history = ?1",
        [postcard::to_stdvec(&history[..m].to_vec()).unwrap()],
    )
    .unwrap();
    let outputs = one_step(&mut core, &mut db, now, done);
    let [Output::PeerReply(PeerReply::Refusal(r))] = outputs.as_slice() else {
        panic!("a refusal expected, got {outputs:?}")
    };
    assert_eq!(r.code, RefusalCode::ConsentRevoked);
    let kinds: Vec<String> = db
        .prepare("SELECT entry FROM log_entries ORDER BY idx")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|e| LogEntry::parse(&e.unwrap()).unwrap().kind().to_string())
        .collect();
    assert!(
        !kinds.iter().any(|k| k == "disclosure"),
        "nothing disclosed: {kinds:?}"
    );
}

/// A pushed case history is verified before its step, every event under its author's key, so
/// the store thread only looks the signatures up. An event whose signature was tampered with is
/// not vouched for: the core verifies it itself and refuses the push, keeping nothing.
#[test]
fn a_pushed_history_is_checked_before_its_step_and_a_tampered_event_is_still_refused() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let oai = SigningKey::from_seed(seed(&v, "ed25519", "seed", "ne.oai signing"));
    let push = |events: Vec<SignedCaseEvent>| Input::Peer {
        from: oai.public(),
        message: PeerMessage::CaseHistory {
            case_id: history[0].event.case_id,
            events,
        },
    };
    let now = history.iter().map(|e| e.event.at).max().unwrap() + 60;

    let verified = precheck(&roster.roster, &push(history.clone()));
    assert_eq!(verified.len(), history.len(), "every event checked before");
    let (mut core, mut db) = responder(&v, &roster, &history[..2]);
    let outputs = try_step(&mut core, &mut db, now, push(history.clone()), &verified).unwrap();
    assert!(
        matches!(
            outputs.first(),
            Some(Output::PeerReply(PeerReply::Accepted))
        ),
        "the history is taken: {outputs:?}"
    );

    let mut tampered = history.clone();
    tampered.last_mut().unwrap().signature.0[5] ^= 1;
    let verified = precheck(&roster.roster, &push(tampered.clone()));
    assert_eq!(
        verified.len(),
        history.len() - 1,
        "the tampered event is not vouched for"
    );
    let (mut core, mut db) = responder(&v, &roster, &history[..2]);
    let refused = try_step(&mut core, &mut db, now, push(tampered), &verified);
    let Err(Fault::Refused(_, reason)) = refused else {
        panic!("the push must be refused, got {refused:?}")
    };
    assert!(reason.contains("signature"), "{reason}");
    let stored: Vec<u8> = db
        .query_row("SELECT history FROM cases", [], |r| r.get(0))
        .unwrap();
    let stored: Vec<SignedCaseEvent> = postcard::from_bytes(&stored).unwrap();
    assert_eq!(stored.len(), 2, "nothing of the push kept");
}
