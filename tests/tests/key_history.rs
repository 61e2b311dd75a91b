//! The roster's key history on real nodes: a member removed from the federation, or whose
//! signing key was replaced, leaves the cases it signed events in usable by everyone else,
//! including an institution invited after the change.

use protocol_spec::case::{CaseStatus, Participation};
use protocol_spec::category::Category::*;
use protocol_spec::ids::{CaseId, ConsentId};
use protocol_spec::keys::SigningKey;
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

/// What the steering group does to ne.sas in roster version 2.
#[derive(Clone, Copy, PartialEq)]
enum Change {
    Removed,
    /// Its node is down for the key change, so deliveries to it wait in the outbox.
    KeyReplaced,
}

/// Makes a change at `at` and requires it to have reached exactly `to` now; ne.sas, if still
/// a member, is the one other institution it is sent to.
async fn change_reaches(s: &Setup, at: &str, request: StaffRequest, to: &[&str], change: Change) {
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
    let sas = delivered.iter().any(|d| d.institution.as_str() == "ne.sas");
    assert_eq!(sas, change == Change::KeyReplaced, "{delivered:?}");
    assert_eq!(
        delivered.len(),
        to.len() + usize::from(sas),
        "{delivered:?}"
    );
}

async fn revoke_and_close(
    s: &Setup,
    case_id: CaseId,
    consent_id: ConsentId,
    to: &[&str],
    change: Change,
) {
    change_reaches(
        s,
        "ne.orp",
        StaffRequest::ConsentRevoke {
            case_id,
            consent_id,
        },
        to,
        change,
    )
    .await;
    change_reaches(s, "ne.orp", StaffRequest::CaseClose { case_id }, to, change).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_a_removed_member_signed_in_still_reach_every_participant() {
    scenario(Change::Removed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_signed_under_a_replaced_key_still_reach_every_participant() {
    scenario(Change::KeyReplaced).await;
}

async fn scenario(change: Change) {
    let mut s = Setup::new().await;
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

    // The steering group changes ne.sas in version 2; every other member installs it.
    let old_key = s.node("ne.sas").signing_key().unwrap().public();
    let new_key = SigningKey::from_seed([77; 32]).public();
    if change == Change::KeyReplaced {
        s.fed.node_mut("ne.sas").stop().await;
    }
    let roster = s.fed.roster.clone();
    cli::federation::edit(&roster, now(), |r| {
        r.version += 1;
        let mut entry = r.member(&s.id("ne.sas")).unwrap().clone();
        cli::federation::remove_member(r, &entry.id, &Default::default())?;
        if change == Change::KeyReplaced {
            entry.signing_key = new_key;
            cli::federation::add_member(r, entry)?;
        }
        Ok(())
    })
    .unwrap();
    for key in &s.fed.authority_keys[1..] {
        cli::federation::sign(&roster, key).unwrap();
    }
    let v2 = cli::federation::load_roster(&roster).unwrap();
    let kept = match change {
        Change::Removed => vec![old_key],
        Change::KeyReplaced => vec![new_key, old_key],
    };
    assert_eq!(
        v2.roster.case_event_keys(&s.id("ne.sas")),
        kept,
        "the old key is kept in the history"
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
        "the old key gains nothing from being kept"
    );

    // A revocation and a closing in a case ne.sas signed events in reach ne.oai.
    revoke_and_close(&s, shared, shared_consent, &["ne.oai"], change).await;
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
        change,
    )
    .await;
    change_reaches(
        &s,
        "ne.oai",
        StaffRequest::CaseAccept { case_id: later },
        &["ne.orp"],
        change,
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
    revoke_and_close(&s, later, later_consent, &["ne.oai"], change).await;
    for at in ["ne.orp", "ne.oai"] {
        let d = show(&s, at, later).await;
        assert_eq!(d.info.status, CaseStatus::Closed, "{at}");
        assert!(d.consents[0].revoked_at.is_some(), "{at}");
        // Nothing is left waiting for a removed member either.
        if change == Change::Removed {
            assert!(
                eventually(10, || async { outbox_len(s.node(at)).await == 0 }).await,
                "{at}"
            );
        }
    }
    s.stop().await;
}
