//! Coordinated cases over time, on real nodes: revocation that wins over a queued request,
//! a participant leaving, a responder restarting.

use protocol_spec::case::Participation;
use protocol_spec::category::Category::*;
use protocol_spec::exchange::{Refusal, RefusalCode};
use protocol_spec::peer::PeerReply;
use protocol_spec::staff::{RequestState, StaffReply, StaffRequest, SummaryOutcome};
use tests::*;

const ASSESS: &str = "coordinated-assessment";

async fn requests(s: &Setup) -> Vec<protocol_spec::staff::RequestInfo> {
    match call(&s.node("ne.oai").worker, StaffRequest::RequestList)
        .await
        .unwrap()
    {
        StaffReply::Requests(r) => r,
        other => panic!("{other:?}"),
    }
}

fn valid_now() -> (u64, u64) {
    (now() - DAY, now() + 30 * DAY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_for_an_offline_peer_is_withdrawn_when_the_requester_revokes() {
    let mut s = Setup::new().await;
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    let consent = s
        .consent(
            "ne.oai",
            case,
            &["ne.oai", "ne.orp"],
            &[ASSESS],
            &[Employment],
            valid_now(),
        )
        .await;
    s.fed.node_mut("ne.orp").stop().await;
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert_eq!(o, SummaryOutcome::Queued);
    // The case worker sees what waits and why, and the request's state.
    let StaffReply::Queue(q) = call(&s.node("ne.oai").worker, StaffRequest::Queue)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(
        q.iter().any(|i| i.kind == "summary-request"
            && i.recipient.as_str() == "ne.orp"
            && i.last_problem.as_deref() == Some("unreachable")),
        "{q:?}"
    );
    assert_eq!(requests(&s).await[0].state, RequestState::Pending);
    // The person withdraws consent while ne.orp is away; ne.oai records it.
    let r = call(
        &s.node("ne.oai").worker,
        StaffRequest::ConsentRevoke {
            case_id: case,
            consent_id: consent,
        },
    )
    .await
    .unwrap();
    assert!(matches!(r, StaffReply::CaseUpdated { .. }), "{r:?}");
    s.fed.node_mut("ne.orp").start().await.unwrap();
    assert!(
        eventually(30, || async { outbox_len(s.node("ne.oai")).await == 0 }).await,
        "the revocation is delivered and the request settled"
    );
    // Nothing was disclosed, nothing received; the withdrawal is on record.
    assert!(!log_kinds(s.node("ne.orp")).contains(&"disclosure".to_string()));
    assert!(log_kinds(s.node("ne.oai")).contains(&"request-withdrawn".to_string()));
    let StaffReply::Summaries(list) = call(&s.node("ne.oai").worker, StaffRequest::SummaryList)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(list.is_empty(), "{list:?}");
    let r = &requests(&s).await[0];
    assert_eq!(
        (r.state, r.outcome.as_deref()),
        (RequestState::Failed, Some("consent-revoked"))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_that_leaves_receives_nothing_more_and_is_not_concerned() {
    let s = Setup::new().await;
    let case = s
        .case("ne.oai", shared_person(), &["ne.orp", "ne.sas"])
        .await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp", "ne.sas"],
        &[ASSESS],
        &[Employment],
        valid_now(),
    )
    .await;
    let r = call(
        &s.node("ne.sas").worker,
        StaffRequest::CaseLeave { case_id: case },
    )
    .await
    .unwrap();
    let StaffReply::CaseUpdated { delivered } = r else {
        panic!("{r:?}")
    };
    assert!(
        delivered.iter().all(|d| d.delivered) && delivered.len() == 2,
        "the others accept a history ending in the leaver's own Left: {delivered:?}"
    );
    for at in ["ne.oai", "ne.orp"] {
        let StaffReply::Case(d) =
            call(&s.node(at).worker, StaffRequest::CaseShow { case_id: case })
                .await
                .unwrap()
        else {
            panic!()
        };
        assert!(
            d.info
                .participants
                .contains(&(s.id("ne.sas"), Participation::Left)),
            "{at}: {:?}",
            d.info.participants
        );
    }
    // Its own node no longer lets it ask; asked directly, ne.orp answers as to any outsider.
    let err = s
        .try_request("ne.sas", "ne.orp", ASSESS, &[Employment], case)
        .await
        .expect_err("a node that left does not ask");
    assert!(
        format!("{err:#}").contains("no longer participates"),
        "{err:#}"
    );
    let r = s.request_raw_case("ne.sas", "ne.orp", case).await;
    assert_eq!(
        r,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::NotConcerned
        })
    );
    // Later changes go to those still in the case only.
    let r = call(
        &s.node("ne.oai").worker,
        StaffRequest::CaseInvite {
            case_id: case,
            institution: s.id("ne.orp"),
        },
    )
    .await;
    assert!(r.is_err(), "ne.orp already participates");
    let r = call(
        &s.node("ne.oai").worker,
        StaffRequest::ConsentRecord(protocol_spec::staff::ConsentDraft {
            case_id: case,
            participants: vec![s.id("ne.oai"), s.id("ne.orp")],
            purposes: vec![ASSESS.parse().unwrap()],
            categories: vec![Measures],
            valid_from: now() - DAY,
            valid_until: now() + DAY,
            form_digest: None,
        }),
    )
    .await
    .unwrap();
    let StaffReply::ConsentRecorded { delivered, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        delivered
            .iter()
            .map(|d| d.institution.as_str())
            .collect::<Vec<_>>(),
        vec!["ne.orp"]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_responder_is_reached_without_waiting_for_the_old_connection() {
    let mut s = Setup::new().await;
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &[ASSESS],
        &[Employment],
        valid_now(),
    )
    .await;
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    // ne.oai holds a connection to ne.orp; ne.orp crashes and restarts on the same port and
    // keys. Its stateless reset tells ne.oai at once that the old connection is gone.
    s.fed.node_mut("ne.orp").crash().await;
    s.fed.node_mut("ne.orp").start().await.unwrap();
    let started = std::time::Instant::now();
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    assert!(
        started.elapsed() < daemon::transport::PEER_TIMEOUT / 2,
        "the requester waited out its read timeout on the dead connection ({:?})",
        started.elapsed()
    );
    s.stop().await;
}
