//! A case worker's summary request is composed and signed by the driver ahead of its step, off
//! the store thread, so the step checks it and records it at once: the request leaves after
//! one durable step instead of two. The step takes only the request the staff request asks
//! for, signed lately by this node; anything else is signed again between two steps, and a
//! request this node's state does not allow is refused whoever signed it.

mod common;

use common::*;
use node_core::{Fault, Input, Output, Verified, Work};
use protocol_spec::category::Category;
use protocol_spec::exchange::SignedSummaryRequest;
use protocol_spec::ids::CaseId;
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::PeerMessage;
use protocol_spec::staff::StaffRequest;

/// Between the vectors' consent (recorded at 1795306500) and its revocation by ne.oai.
const NOW: u64 = 1_797_000_000;

struct Setup {
    core: node_core::Core,
    db: rusqlite::Connection,
    worker: PublicKey,
    case_id: CaseId,
    ask: StaffRequest,
}

/// The case worker's request to `from` for `categories`, for the vectors' consented purpose.
fn summary_request(case_id: CaseId, from: &str, categories: Vec<Category>) -> StaffRequest {
    StaffRequest::SummaryRequest {
        case_id,
        from: from.parse().unwrap(),
        purpose: "coordinated-assessment".parse().unwrap(),
        categories,
    }
}

/// ne.orp holding the case up to the consent, with a case worker who asks ne.oai for what the
/// consent covers.
fn setup() -> Setup {
    let v = core_json();
    let (core, db, history, worker) = responder_with_worker(&v, NOW);
    let case_id = history[0].event.case_id;
    // Unsorted, with a duplicate: the step sorts them, and so does the signing ahead.
    let categories = vec![Category::Measures, Category::Employment, Category::Measures];
    Setup {
        core,
        db,
        worker,
        case_id,
        ask: summary_request(case_id, "ne.oai", categories),
    }
}

impl Setup {
    fn input(&self, request: StaffRequest) -> Input {
        Input::Staff {
            ticket: 2,
            key: self.worker,
            request,
        }
    }

    /// The request signed ahead for `request` at `at` (Unix seconds), as the driver signs it.
    fn presign(&self, request: StaffRequest, at: u64) -> SignedSummaryRequest {
        self.core
            .crypto()
            .presign(&self.input(request), at * 1000 + 250, &mut Counter(50))
            .expect("a summary request is signed ahead")
    }

    fn step(&mut self, signed: &SignedSummaryRequest) -> Vec<Output> {
        let input = self.input(self.ask.clone());
        try_step_presigned(
            &mut self.core,
            &mut self.db,
            NOW,
            input,
            &Verified::default(),
            Some(signed),
        )
        .unwrap_or_else(|f| panic!("step failed: {f:?}"))
    }

    fn requests(&self) -> i64 {
        self.db
            .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
            .unwrap()
    }
}

#[test]
fn a_request_signed_ahead_is_recorded_and_sent_in_one_step() {
    let mut s = setup();
    let signed = s.presign(s.ask.clone(), NOW - 1);
    let out = s.step(&signed);
    let [
        Output::Send {
            message: PeerMessage::Summary(sent),
            to,
            ..
        },
    ] = out.as_slice()
    else {
        panic!("the request sent at once, got {out:?}")
    };
    assert_eq!(sent, &signed, "the very request signed ahead leaves");
    assert_eq!(
        sent.request.request_id.0[..6],
        ((NOW - 1) * 1000 + 250).to_be_bytes()[2..],
        "its id begins with the time it was signed, in milliseconds"
    );
    assert_eq!(sent.request.issued_at, NOW - 1);
    assert_eq!(to.as_str(), "ne.oai");
    assert_eq!(s.requests(), 1, "its identity is durable before it leaves");
    assert!(
        s.core
            .crypto()
            .presign(&Input::Tick, NOW, &mut Counter(0))
            .is_none(),
        "only a case worker's summary request is signed ahead"
    );
}

#[test]
fn a_request_signed_ahead_that_is_not_the_one_asked_is_signed_again() {
    let mut s = setup();
    let other = summary_request(s.case_id, "ne.oai", vec![Category::Employment]);
    for (signed, why) in [
        (s.presign(other, NOW), "other categories"),
        (s.presign(s.ask.clone(), NOW - 6), "signed too long ago"),
        (
            s.presign(s.ask.clone(), NOW + 1),
            "signed after the step's time",
        ),
    ] {
        let out = s.step(&signed);
        let [Output::Work(Work::Sign(_))] = out.as_slice() else {
            panic!("{why}: the request is handed out to be signed, got {out:?}")
        };
    }
    assert_eq!(s.requests(), 0, "nothing recorded before it is signed");
}

#[test]
fn a_request_signed_ahead_that_this_node_does_not_allow_is_refused() {
    let mut s = setup();
    // A summary is asked of another institution, not of this one.
    s.ask = summary_request(s.case_id, "ne.orp", vec![Category::Employment]);
    let signed = s.presign(s.ask.clone(), NOW);
    let input = s.input(s.ask.clone());
    let refused = try_step_presigned(
        &mut s.core,
        &mut s.db,
        NOW,
        input,
        &Verified::default(),
        Some(&signed),
    );
    let Err(Fault::Refused(_, why)) = refused else {
        panic!("refused, got {refused:?}")
    };
    assert!(why.contains("another institution"), "{why}");
    assert_eq!(s.requests(), 0, "nothing recorded, nothing sent");
}
