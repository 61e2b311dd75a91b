//! Participants over time, on real nodes (spec §6.6): a referral accepted brings the
//! referrer's summary, a referral declined with a reason, a removal by the lead that the
//! removed institution learns of and nothing after it, and a hand-over of the lead.

use protocol_spec::case::{DeclineReason, Participation};
use protocol_spec::category::Category::*;
use protocol_spec::entry::{CaseDetail as LoggedChange, LogEntry};
use protocol_spec::exchange::{Refusal, RefusalCode};
use protocol_spec::ids::CaseId;
use protocol_spec::peer::PeerReply;
use protocol_spec::staff::{CaseDetail, RequestState, StaffReply, StaffRequest};
use tests::*;

const ASSESS: &str = "coordinated-assessment";

fn valid_now() -> (u64, u64) {
    (now() - DAY, now() + 30 * DAY)
}

async fn show(s: &Setup, at: &str, case_id: CaseId) -> CaseDetail {
    match call(&s.node(at).worker, StaffRequest::CaseShow { case_id })
        .await
        .unwrap()
    {
        StaffReply::Case(d) => d,
        other => panic!("{other:?}"),
    }
}

fn participation(d: &CaseDetail, s: &Setup, who: &str) -> Option<Participation> {
    d.info
        .participants
        .iter()
        .find(|(i, _)| i == &s.id(who))
        .map(|(_, p)| *p)
}

/// The case changes a node logged, in log order.
fn logged_changes(node: &NodeHandle) -> Vec<LoggedChange> {
    log_entries(node)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::CaseEvent(c) => Some(c.detail),
            _ => None,
        })
        .collect()
}

/// `from`, asking `to` directly about the case, is answered as any outsider is.
async fn assert_not_concerned(s: &Setup, from: &str, to: &str, case: CaseId) {
    let r = s.request_raw_case(from, to, case).await;
    assert_eq!(
        r,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::NotConcerned
        }),
        "{from} asking {to}"
    );
}

async fn change(s: &Setup, at: &str, request: StaffRequest) -> anyhow::Result<StaffReply> {
    call(&s.node(at).worker, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_referral_brings_the_referrers_summary_and_a_declined_one_is_logged() {
    let s = Setup::new().await;
    // ne.orp follows the person alone, then refers them to ne.oai and to ne.sas.
    let case = s.case("ne.orp", shared_person(), &[]).await;
    for to in ["ne.oai", "ne.sas"] {
        let r = change(
            &s,
            "ne.orp",
            StaffRequest::CaseRefer {
                case_id: case,
                institution: s.id(to),
                purpose: ASSESS.parse().unwrap(),
                categories: vec![Employment],
            },
        )
        .await
        .unwrap();
        assert!(matches!(r, StaffReply::CaseUpdated { .. }), "{r:?}");
    }
    // The person consents to the exchange between ne.orp and ne.oai only.
    s.consent(
        "ne.orp",
        case,
        &["ne.oai", "ne.orp"],
        &[ASSESS],
        &[Employment],
        valid_now(),
    )
    .await;
    let d = show(&s, "ne.oai", case).await;
    assert_eq!(
        participation(&d, &s, "ne.oai"),
        Some(Participation::Invited)
    );
    assert_eq!(d.referrals.len(), 2, "{:?}", d.referrals);

    // ne.sas declines: everyone in the case records it, with the reason.
    let r = change(
        &s,
        "ne.sas",
        StaffRequest::CaseDecline {
            case_id: case,
            reason: DeclineReason::NoCapacity,
        },
    )
    .await
    .unwrap();
    assert!(matches!(r, StaffReply::CaseUpdated { .. }), "{r:?}");
    for at in ["ne.orp", "ne.oai", "ne.sas"] {
        assert!(
            eventually(10, || async {
                participation(&show(&s, at, case).await, &s, "ne.sas")
                    == Some(Participation::Declined)
            })
            .await,
            "{at} records the decline"
        );
        assert!(
            logged_changes(s.node(at)).contains(&LoggedChange::Declined(DeclineReason::NoCapacity)),
            "{at} logs the decline with its reason"
        );
    }

    // ne.oai accepts: its node asks ne.orp for the referral's summary on its own, once
    // ne.orp holds the acceptance, and ne.orp's rule grants it.
    let r = change(&s, "ne.oai", StaffRequest::CaseAccept { case_id: case })
        .await
        .unwrap();
    assert!(matches!(r, StaffReply::CaseUpdated { .. }), "{r:?}");
    let received = || async {
        match call(&s.node("ne.oai").worker, StaffRequest::RequestList)
            .await
            .unwrap()
        {
            StaffReply::Requests(list) => list
                .iter()
                .any(|r| r.state == RequestState::Received && r.responder == s.id("ne.orp")),
            other => panic!("{other:?}"),
        }
    };
    assert!(
        eventually(30, received).await,
        "the referral's summary arrives"
    );
    let StaffReply::Summaries(list) = call(&s.node("ne.oai").worker, StaffRequest::SummaryList)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(list.len(), 1, "exactly one summary: {list:?}");
    assert_eq!(list[0].source, s.id("ne.orp"));
    assert_eq!(list[0].categories, vec![Employment]);
    assert!(log_kinds(s.node("ne.orp")).contains(&"disclosure".to_string()));
    // A declined institution is not concerned.
    assert_not_concerned(&s, "ne.sas", "ne.orp", case).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_removes_an_institution_which_learns_it_and_nothing_after_then_hands_over() {
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
    // Only the lead removes.
    let err = change(
        &s,
        "ne.orp",
        StaffRequest::CaseRemove {
            case_id: case,
            institution: s.id("ne.sas"),
        },
    )
    .await
    .expect_err("ne.orp is not the lead");
    assert!(format!("{err:#}").contains("only the lead"), "{err:#}");
    let r = change(
        &s,
        "ne.oai",
        StaffRequest::CaseRemove {
            case_id: case,
            institution: s.id("ne.sas"),
        },
    )
    .await
    .unwrap();
    let StaffReply::CaseUpdated { delivered } = r else {
        panic!("{r:?}")
    };
    assert!(
        delivered.iter().all(|d| d.delivered) && delivered.len() == 2,
        "ne.orp and the removed ne.sas are both told: {delivered:?}"
    );
    let at_sas = show(&s, "ne.sas", case).await;
    assert_eq!(
        participation(&at_sas, &s, "ne.sas"),
        Some(Participation::Removed),
        "the removed institution knows"
    );
    // Removed: its own node does not ask, and asked directly ne.orp treats it as an outsider.
    let err = s
        .try_request("ne.sas", "ne.orp", ASSESS, &[Employment], case)
        .await
        .expect_err("a removed institution does not ask");
    assert!(
        format!("{err:#}").contains("no longer participates"),
        "{err:#}"
    );
    assert_not_concerned(&s, "ne.sas", "ne.orp", case).await;
    // What happens after the removal does not reach ne.sas.
    let sas_events = logged_changes(s.node("ne.sas")).len();
    let r = change(
        &s,
        "ne.oai",
        StaffRequest::CaseHandOver {
            case_id: case,
            to: s.id("ne.orp"),
        },
    )
    .await
    .unwrap();
    let StaffReply::CaseUpdated { delivered } = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        delivered
            .iter()
            .map(|d| d.institution.as_str())
            .collect::<Vec<_>>(),
        vec!["ne.orp"]
    );
    assert_eq!(show(&s, "ne.orp", case).await.lead, s.id("ne.orp"));
    // The former lead may leave now; only the new lead closes.
    let err = change(&s, "ne.oai", StaffRequest::CaseClose { case_id: case })
        .await
        .expect_err("no longer the lead");
    assert!(format!("{err:#}").contains("only the lead"), "{err:#}");
    change(&s, "ne.oai", StaffRequest::CaseLeave { case_id: case })
        .await
        .unwrap();
    change(&s, "ne.orp", StaffRequest::CaseClose { case_id: case })
        .await
        .unwrap();
    let at_orp = show(&s, "ne.orp", case).await;
    assert_eq!(at_orp.info.status.as_str(), "closed");
    assert_eq!(logged_changes(s.node("ne.sas")).len(), sas_events);
    let at_sas = show(&s, "ne.sas", case).await;
    assert_eq!(
        at_sas.lead,
        s.id("ne.oai"),
        "ne.sas saw nothing after its removal"
    );
    assert_eq!(at_sas.info.status.as_str(), "open");
    // Every institution still in the case holds the same history.
    assert_eq!(
        at_orp.info.participants,
        show(&s, "ne.oai", case).await.info.participants
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_notice_says_a_newer_summary_is_available_until_it_is_fetched() {
    let s = Setup::new().await;
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
    assert!(
        matches!(o, protocol_spec::staff::SummaryOutcome::Received(_)),
        "{o:?}"
    );
    assert!(show(&s, "ne.oai", case).await.newer_summaries.is_empty());
    // ne.orp updated its records about the person and says so; no data travels.
    let r = change(&s, "ne.orp", StaffRequest::CaseNotify { case_id: case })
        .await
        .unwrap();
    let StaffReply::CaseUpdated { delivered } = r else {
        panic!("{r:?}")
    };
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].delivered && delivered[0].institution == s.id("ne.oai"));
    let notices = show(&s, "ne.oai", case).await.newer_summaries;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].source, s.id("ne.orp"));
    // The newer summary is fetched under the rule as any other; the notice is then answered.
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(
        matches!(o, protocol_spec::staff::SummaryOutcome::Received(_)),
        "{o:?}"
    );
    assert!(show(&s, "ne.oai", case).await.newer_summaries.is_empty());
    // An institution outside the case is told nothing and cannot notify.
    let err = change(&s, "ne.sas", StaffRequest::CaseNotify { case_id: case })
        .await
        .expect_err("ne.sas does not hold the case");
    assert!(
        format!("{err:#}").contains("no coordinated case"),
        "{err:#}"
    );
    s.stop().await;
}

/// The person's new form: employment only, between ne.oai and ne.orp.
fn employment_only(s: &Setup, case: CaseId) -> protocol_spec::staff::ConsentDraft {
    protocol_spec::staff::ConsentDraft {
        case_id: case,
        participants: vec![s.id("ne.oai"), s.id("ne.orp")],
        purposes: vec![ASSESS.parse().unwrap()],
        categories: vec![Employment],
        valid_from: valid_now().0,
        valid_until: valid_now().1,
        form_digest: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_consent_replaces_the_old_one_in_one_step() {
    let s = Setup::new().await;
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    let old = s
        .consent(
            "ne.oai",
            case,
            &["ne.oai", "ne.orp"],
            &[ASSESS],
            &[Employment, Measures],
            valid_now(),
        )
        .await;
    // The person signs a new form: measures no longer.
    let r = change(
        &s,
        "ne.oai",
        StaffRequest::ConsentReplace {
            replaces: old,
            draft: employment_only(&s, case),
        },
    )
    .await
    .unwrap();
    let StaffReply::ConsentRecorded {
        consent_id: new,
        delivered,
    } = r
    else {
        panic!("{r:?}")
    };
    assert!(delivered.iter().all(|d| d.delivered), "{delivered:?}");
    // Both nodes hold the old consent revoked and the new one in force.
    for at in ["ne.oai", "ne.orp"] {
        let d = show(&s, at, case).await;
        let state = |id| {
            d.consents
                .iter()
                .find(|c| c.consent_id == id)
                .map(|c| c.revoked_at.is_some())
        };
        assert_eq!((state(old), state(new)), (Some(true), Some(false)), "{at}");
    }
    // Measures are covered only by the replaced consent: ne.oai's own node does not ask.
    let err = s
        .try_request("ne.oai", "ne.orp", ASSESS, &[Measures], case)
        .await
        .expect_err("only a revoked consent covers measures");
    assert!(format!("{err:#}").contains("consent-revoked"), "{err:#}");
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(
        matches!(o, protocol_spec::staff::SummaryOutcome::Received(_)),
        "{o:?}"
    );
    // Replacing a consent already revoked is refused, and nothing is recorded.
    let err = change(
        &s,
        "ne.oai",
        StaffRequest::ConsentReplace {
            replaces: old,
            draft: employment_only(&s, case),
        },
    )
    .await
    .expect_err("already revoked");
    assert!(format!("{err:#}").contains("already revoked"), "{err:#}");
    assert_eq!(show(&s, "ne.oai", case).await.consents.len(), 2);
    s.stop().await;
}

/// A removal that reached only the removed institution, the lead's node lost since with the
/// copy it queued for the others: they learn it from the removed institution itself, which
/// answers their next push with its history up to its removal (spec §6.4 step 3). Found by the
/// simulator, where the lead was a member that left the federation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_only_the_removed_institution_got_reaches_the_others_through_it() {
    let mut s = Setup::new().await;
    let case = s
        .case("ne.oai", shared_person(), &["ne.orp", "ne.sas"])
        .await;
    // Nothing of the case is still queued anywhere: a relay ne.sas queued for ne.orp would
    // carry the removal too, once sent.
    for n in ["ne.oai", "ne.orp", "ne.sas"] {
        assert!(
            eventually(20, || async { outbox_len(s.node(n)).await == 0 }).await,
            "{n}'s outbox drains"
        );
    }
    // ne.orp is down while the lead removes ne.sas; then the lead's node is lost.
    s.fed.node_mut("ne.orp").crash().await;
    change(
        &s,
        "ne.oai",
        StaffRequest::CaseRemove {
            case_id: case,
            institution: s.id("ne.sas"),
        },
    )
    .await
    .unwrap();
    let at_sas = show(&s, "ne.sas", case).await;
    assert_eq!(
        participation(&at_sas, &s, "ne.sas"),
        Some(Participation::Removed)
    );
    s.fed.node_mut("ne.oai").crash().await;
    s.fed.node_mut("ne.orp").start().await.unwrap();
    let at_orp = show(&s, "ne.orp", case).await;
    assert_eq!(
        participation(&at_orp, &s, "ne.sas"),
        Some(Participation::Accepted),
        "ne.orp never got the removal"
    );
    // ne.orp changes the case on its older view; its push reaches ne.sas, which answers
    // not-concerned and sends back what ne.orp lacks.
    let (from, until) = valid_now();
    call(
        &s.node("ne.orp").worker,
        StaffRequest::ConsentRecord(protocol_spec::staff::ConsentDraft {
            case_id: case,
            participants: vec![s.id("ne.orp"), s.id("ne.sas")],
            purposes: vec![ASSESS.parse().unwrap()],
            categories: vec![Employment],
            valid_from: from,
            valid_until: until,
            form_digest: None,
        }),
    )
    .await
    .expect("the consent is recorded at ne.orp");
    let learnt = eventually(20, || async {
        participation(&show(&s, "ne.orp", case).await, &s, "ne.sas") == Some(Participation::Removed)
    })
    .await;
    assert!(learnt, "ne.orp learns from ne.sas that ne.sas was removed");
    s.stop().await;
}
