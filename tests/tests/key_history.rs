//! The roster's key history on real nodes: a member removed from the federation leaves the
//! cases it signed events in usable by everyone else, including an institution invited after
//! the removal.

use protocol_spec::case::{CaseStatus, Participation};
use protocol_spec::category::Category::*;
use protocol_spec::ids::{CaseId, ConsentId};
use protocol_spec::staff::{CaseDetail, StaffReply, StaffRequest};
use tests::*;

const ASSESS: &str = "coordinated-assessment";

async fn show(s: &Setup, at: &str, case_id: CaseId) -> CaseDetail {
    match call(&s.node(at).worker, StaffRequest::CaseShow { case_id })
        .await
        .unwrap()
    {
        StaffReply::Case(d) => d,
        other => panic!("{other:?}"),
    }
}

/// Makes a change at `at` and requires it to have reached exactly `to`.
async fn change_reaches(s: &Setup, at: &str, request: StaffRequest, to: &[&str]) {
    let r = call(&s.node(at).worker, request).await.unwrap();
    let StaffReply::CaseUpdated { delivered } = r else {
        panic!("{r:?}")
    };
    let mut reached: Vec<&str> = delivered
        .iter()
        .filter(|d| d.delivered)
        .map(|d| d.institution.as_str())
        .collect();
    reached.sort();
    assert_eq!(reached, to, "{delivered:?}");
    assert_eq!(
        delivered.len(),
        to.len(),
        "nothing is sent to the removed member"
    );
}

async fn revoke_and_close(s: &Setup, case_id: CaseId, consent_id: ConsentId, to: &[&str]) {
    change_reaches(
        s,
        "ne.orp",
        StaffRequest::ConsentRevoke {
            case_id,
            consent_id,
        },
        to,
    )
    .await;
    change_reaches(s, "ne.orp", StaffRequest::CaseClose { case_id }, to).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_a_removed_member_signed_in_still_reach_every_participant() {
    let s = Setup::new().await;
    let valid = (now() - DAY, now() + 30 * DAY);
    // ne.sas takes part in two cases and records the person's consent in both.
    let shared = s
        .case("ne.orp", shared_person(), &["ne.oai", "ne.sas"])
        .await;
    let shared_consent = s
        .consent(
            "ne.sas",
            shared,
            &["ne.oai", "ne.orp", "ne.sas"],
            &[ASSESS],
            &[Employment],
            valid,
        )
        .await;
    let later = s.case("ne.orp", shared_person(), &["ne.sas"]).await;
    let later_consent = s
        .consent(
            "ne.sas",
            later,
            &["ne.orp", "ne.sas"],
            &[ASSESS],
            &[Employment],
            valid,
        )
        .await;

    // The steering group removes ne.sas in version 2; every remaining member installs it.
    let roster = &s.fed.roster;
    cli::federation::edit(roster, now(), |r| {
        r.version += 1;
        cli::federation::remove_member(r, &s.id("ne.sas"))
    })
    .unwrap();
    for key in &s.fed.authority_keys[1..] {
        cli::federation::sign(roster, key).unwrap();
    }
    let v2 = cli::federation::load_roster(roster).unwrap();
    assert_eq!(
        v2.roster.case_event_keys(&s.id("ne.sas")),
        vec![s.node("ne.sas").signing_key().unwrap().public()],
        "the removed member's key is kept in the history"
    );
    for at in ["ne.orp", "ne.oai"] {
        let r = call(&s.node(at).admin, StaffRequest::InstallRoster(v2.clone())).await;
        // The first install is passed on, so the second node may already hold it.
        if let Err(e) = r {
            assert!(format!("{e:#}").contains("not newer"), "{at}: {e:#}");
        }
    }
    assert!(
        s.raw_peer(&s.node("ne.sas").signing_key().unwrap(), "ne.orp")
            .await
            .is_err(),
        "the removed member gains nothing from its kept key"
    );

    // A revocation and a closing in a case ne.sas signed events in reach ne.oai.
    revoke_and_close(&s, shared, shared_consent, &["ne.oai"]).await;
    let d = show(&s, "ne.oai", shared).await;
    assert_eq!(d.info.status, CaseStatus::Closed);
    assert!(d.consents[0].revoked_at.is_some(), "{:?}", d.consents);

    // ne.oai, invited after the removal, accepts a history holding ne.sas's events.
    change_reaches(
        &s,
        "ne.orp",
        StaffRequest::CaseInvite {
            case_id: later,
            institution: s.id("ne.oai"),
        },
        &["ne.oai"],
    )
    .await;
    change_reaches(
        &s,
        "ne.oai",
        StaffRequest::CaseAccept { case_id: later },
        &["ne.orp"],
    )
    .await;
    let d = show(&s, "ne.oai", later).await;
    assert!(
        d.info
            .participants
            .contains(&(s.id("ne.sas"), Participation::Accepted)),
        "{:?}",
        d.info.participants
    );
    assert_eq!(d.consents[0].consent_id, later_consent);
    revoke_and_close(&s, later, later_consent, &["ne.oai"]).await;
    for at in ["ne.orp", "ne.oai"] {
        let d = show(&s, at, later).await;
        assert_eq!(d.info.status, CaseStatus::Closed, "{at}");
        assert!(d.consents[0].revoked_at.is_some(), "{at}");
        // Nothing is left waiting for the removed member either.
        assert!(
            eventually(10, || async { outbox_len(s.node(at)).await == 0 }).await,
            "{at}"
        );
    }
    s.stop().await;
}
