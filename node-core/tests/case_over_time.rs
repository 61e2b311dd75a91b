//! What a member once named in a case can do with the histories it pushes, later: it cannot
//! hold the case's changes back with an event dated far ahead, and once out of the case it
//! learns nothing that happened after its exit, whatever its own events claim (spec §6.4). And
//! an accepted referral stands when the summary it brings is no longer allowed (spec §6.6).

mod common;

use common::*;
use node_core::{Fault, Input, Output, Verified};
use protocol_spec::case::{CaseEvent, CaseEventKind, Consent, MAX_EVENT_AHEAD_S, SignedCaseEvent};
use protocol_spec::category::Category;
use protocol_spec::ids::{ConsentId, EventId, InstitutionId, Purpose};
use protocol_spec::keys::{PublicKey, SigningKey};
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::StaffRequest;

/// After the vectors' consent (recorded at 1795306500).
const NOW: u64 = 1_797_000_000;

fn inst(s: &str) -> InstitutionId {
    s.parse().unwrap()
}

fn signing(who: &str) -> SigningKey {
    SigningKey::from_seed(seed(
        &core_json(),
        "ed25519",
        "seed",
        &format!("{who} signing"),
    ))
}

fn event(
    author: &str,
    opening: &SignedCaseEvent,
    id: u8,
    at: u64,
    kind: CaseEventKind,
) -> SignedCaseEvent {
    CaseEvent {
        event_id: EventId([id; 16]),
        case_id: opening.event.case_id,
        author: inst(author),
        staff: "mallory".parse().unwrap(),
        at,
        kind,
    }
    .sign(&signing(author))
}

/// Issues carla, a case worker, at `core`; her key.
fn case_worker(core: &mut node_core::Core, db: &mut rusqlite::Connection) -> PublicKey {
    let key = SigningKey::from_seed([0x31; 32]).public();
    one_step(
        core,
        db,
        NOW,
        Input::Staff {
            ticket: 1,
            key: PublicKey([9; 32]),
            request: StaffRequest::StaffIssue {
                staff: "carla".parse().unwrap(),
                role: protocol_spec::ids::Role::CaseWorker,
                key,
            },
        },
    );
    key
}

/// A staff request run to its end, its signing work done in between.
fn staff(
    core: &mut node_core::Core,
    db: &mut rusqlite::Connection,
    now: u64,
    key: PublicKey,
    request: StaffRequest,
) -> Result<Vec<Output>, Fault> {
    let mut outputs = try_step(
        core,
        db,
        now,
        Input::Staff {
            ticket: 7,
            key,
            request,
        },
        &Verified::default(),
    )?;
    while let Some(i) = outputs.iter().position(|o| matches!(o, Output::Work(_))) {
        let Output::Work(work) = outputs.remove(i) else {
            unreachable!("found above")
        };
        let done = core.crypto().run(work, &mut Counter(100));
        outputs.extend(try_step(core, db, now, done, &Verified::default())?);
    }
    Ok(outputs)
}

fn push(
    core: &mut node_core::Core,
    db: &mut rusqlite::Connection,
    now: u64,
    from: &str,
    events: Vec<SignedCaseEvent>,
) -> Vec<Output> {
    one_step(
        core,
        db,
        now,
        Input::Peer {
            from: signing(from).public(),
            message: PeerMessage::CaseHistory {
                case_id: events[0].event.case_id,
                events,
            },
        },
    )
}

/// The case events `out` sends to `to`.
fn sent_to(out: &[Output], to: &str) -> Vec<EventId> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                to: t,
                message: PeerMessage::CaseHistory { events, .. },
                ..
            } if t == &inst(to) => Some(events.iter().map(|e| e.event.event_id)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The first case history `out` sends to `to`.
fn history_sent_to(out: &[Output], to: &str) -> Option<Vec<SignedCaseEvent>> {
    out.iter().find_map(|o| match o {
        Output::Send {
            to: t,
            message: PeerMessage::CaseHistory { events, .. },
            ..
        } if t == &inst(to) => Some(events.clone()),
        _ => None,
    })
}

#[test]
fn an_event_dated_far_ahead_is_rejected_and_the_consent_can_still_be_revoked() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let (mut core, mut db) = node(&v, &roster, "ne.orp", &history[..4]);
    let carla = case_worker(&mut core, &mut db);
    let opening = &history[0];
    // ne.oai, a participant, pushes an event dated as late as can be: every later change
    // would have to come after it.
    let far = event(
        "ne.oai",
        opening,
        0xff,
        u64::MAX,
        CaseEventKind::ConsentRevoked {
            consent_id: ConsentId([0x77; 16]),
        },
    );
    // Rejected, not refused: the sender sends it again, and an honest author's event dated a
    // little ahead gets through once this node's clock is near.
    let pushed = try_step(
        &mut core,
        &mut db,
        NOW,
        Input::Peer {
            from: signing("ne.oai").public(),
            message: PeerMessage::CaseHistory {
                case_id: opening.event.case_id,
                events: [&history[..4], &[far]].concat(),
            },
        },
        &Verified::default(),
    );
    let Err(fault) = pushed else {
        panic!("a history with an event dated far ahead was taken: {pushed:?}")
    };
    let reply = core.failed(node_core::Origin::Peer, &fault);
    assert!(
        matches!(reply.as_slice(), [Output::PeerReply(PeerReply::Rejected { reason })] if reason.contains("dated more than 3600 s after")),
        "{reply:?}"
    );
    // Within the hour, it is taken (an author whose clock runs a little ahead).
    let near = event(
        "ne.oai",
        opening,
        0xfe,
        NOW + MAX_EVENT_AHEAD_S,
        CaseEventKind::ConsentRevoked {
            consent_id: ConsentId([0x77; 16]),
        },
    );
    let out = push(
        &mut core,
        &mut db,
        NOW,
        "ne.oai",
        [&history[..4], &[near]].concat(),
    );
    assert!(
        matches!(out.as_slice(), [Output::PeerReply(PeerReply::Accepted), ..]),
        "{out:?}"
    );
    let revoked = staff(
        &mut core,
        &mut db,
        NOW + 10,
        carla,
        StaffRequest::ConsentRevoke {
            case_id: opening.event.case_id,
            consent_id: ConsentId([0x33; 16]),
        },
    )
    .expect("the consent is revoked");
    // Recorded, and on its way to ne.oai.
    let revocation = revoked.iter().any(|o| match o {
        Output::Send {
            message: PeerMessage::CaseHistory { events, .. },
            ..
        } => events.iter().any(|e| {
            e.event.author == inst("ne.orp")
                && matches!(e.event.kind, CaseEventKind::ConsentRevoked { consent_id } if consent_id == ConsentId([0x33; 16]))
        }),
        _ => false,
    });
    assert!(revocation, "{revoked:?}");
}

#[test]
fn a_removed_member_pushing_an_event_dated_now_learns_its_removal_and_nothing_later() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let opening = &history[0];
    let removed_at = NOW;
    let removal = event(
        "ne.orp",
        opening,
        0x51,
        removed_at,
        CaseEventKind::Removed {
            institution: inst("ne.oai"),
        },
    );
    // After the removal ne.sas is invited: ne.oai must not learn it.
    let later = event(
        "ne.orp",
        opening,
        0x52,
        removed_at + 100,
        CaseEventKind::Invited {
            institution: inst("ne.sas"),
        },
    );
    let held = [&history[..4], &[removal.clone(), later.clone()]].concat();
    let (mut core, mut db) = node(&v, &roster, "ne.orp", &held);
    // ne.oai pushes the history it holds, without its removal, and an event of its own dated
    // well after everything ne.orp holds.
    let own = event(
        "ne.oai",
        opening,
        0x60,
        removed_at + 10_000,
        CaseEventKind::ConsentRevoked {
            consent_id: ConsentId([0x77; 16]),
        },
    );
    let out = push(
        &mut core,
        &mut db,
        removed_at + 10_000,
        "ne.oai",
        [&history[..4], &[own]].concat(),
    );
    let sent = sent_to(&out, "ne.oai");
    assert!(
        sent.contains(&removal.event.event_id),
        "ne.oai is sent its removal, so it converges: {out:?}"
    );
    assert!(
        !sent.contains(&later.event.event_id),
        "ne.oai was sent an event made after its removal"
    );
}

#[test]
fn a_referral_is_accepted_when_the_consent_that_covered_its_summary_was_revoked() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let opening = history[0].clone();
    let t0 = opening.event.at;
    let purpose: Purpose = "coordinated-assessment".parse().unwrap();
    let consent = Consent {
        consent_id: ConsentId([0x66; 16]),
        case_id: opening.event.case_id,
        participants: vec![inst("ne.orp"), inst("ne.sas")],
        purposes: vec![purpose.clone()],
        categories: vec![Category::Employment],
        valid_from: t0,
        valid_until: t0 + 100_000_000,
        form_digest: None,
        recorded_by: "alice".parse().unwrap(),
        recorded_at: t0,
    };
    for revoked in [false, true] {
        let mut held = vec![
            opening.clone(),
            event(
                "ne.orp",
                &opening,
                0x51,
                t0 + 60,
                CaseEventKind::Referred {
                    institution: inst("ne.sas"),
                    purpose: purpose.clone(),
                    categories: vec![Category::Employment],
                },
            ),
            event(
                "ne.orp",
                &opening,
                0x52,
                t0 + 120,
                CaseEventKind::ConsentRecorded(consent.clone()),
            ),
        ];
        if revoked {
            held.push(event(
                "ne.orp",
                &opening,
                0x53,
                t0 + 180,
                CaseEventKind::ConsentRevoked {
                    consent_id: consent.consent_id,
                },
            ));
        }
        let (mut core, mut db) = node(&v, &roster, "ne.sas", &held);
        let carla = case_worker(&mut core, &mut db);
        let accepted = staff(
            &mut core,
            &mut db,
            NOW,
            carla,
            StaffRequest::CaseAccept {
                case_id: opening.event.case_id,
            },
        );
        assert!(
            accepted.is_ok(),
            "accepting the referral failed (consent revoked: {revoked}): {accepted:?}"
        );
        let (state, outcome): (String, Option<String>) = db
            .query_row("SELECT state, outcome FROM requests", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("the referral's summary request is recorded");
        if revoked {
            assert_eq!(
                (state.as_str(), outcome.as_deref()),
                ("failed", Some("consent-revoked"))
            );
        } else {
            assert_eq!(state, "pending");
        }
    }
}

#[test]
fn an_institution_out_of_the_case_is_told_so_not_to_accept_an_invitation() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let removal = event(
        "ne.orp",
        &history[0],
        0x51,
        NOW,
        CaseEventKind::Removed {
            institution: inst("ne.oai"),
        },
    );
    let (mut core, mut db) = node(&v, &roster, "ne.oai", &[&history[..4], &[removal]].concat());
    let carla = case_worker(&mut core, &mut db);
    let asked = staff(
        &mut core,
        &mut db,
        NOW + 10,
        carla,
        StaffRequest::SummaryRequest {
            case_id: history[0].event.case_id,
            from: inst("ne.orp"),
            purpose: "coordinated-assessment".parse().unwrap(),
            categories: vec![Category::Employment],
        },
    );
    let Err(Fault::Refused(_, message)) = asked else {
        panic!("a removed institution's request was taken: {asked:?}")
    };
    assert!(
        message.contains("no longer participates") && !message.contains("accept the invitation"),
        "{message}"
    );
}

#[test]
fn a_removed_member_that_declines_a_referral_voided_by_the_closing_learns_it_is_still_removed() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let opening = &history[0];
    let sas_invited = event(
        "ne.orp",
        opening,
        0x50,
        NOW - 100,
        CaseEventKind::Invited {
            institution: inst("ne.sas"),
        },
    );
    let sas_accepted = event("ne.sas", opening, 0x51, NOW - 50, CaseEventKind::Accepted);
    let removal = event(
        "ne.orp",
        opening,
        0x52,
        NOW,
        CaseEventKind::Removed {
            institution: inst("ne.oai"),
        },
    );
    let closing = event("ne.orp", opening, 0x53, NOW + 10, CaseEventKind::Closed);
    // ne.sas, which has not seen the closing, refers ne.oai again: void wherever the closing
    // is known. ne.oai, which got the referral from ne.sas alone, declines it.
    let referral = event(
        "ne.sas",
        opening,
        0x54,
        NOW + 20,
        CaseEventKind::Referred {
            institution: inst("ne.oai"),
            purpose: "coordinated-assessment".parse().unwrap(),
            categories: vec![Category::Employment],
        },
    );
    let declined = event(
        "ne.oai",
        opening,
        0x55,
        NOW + 30,
        CaseEventKind::Declined {
            reason: protocol_spec::case::DeclineReason::NotCompetent,
        },
    );
    let shared = [&history[..4], &[sas_invited, sas_accepted, removal]].concat();
    // After the closing the person revokes a consent: ne.oai must not learn it.
    let revoked_later = event(
        "ne.orp",
        opening,
        0x56,
        NOW + 50,
        CaseEventKind::ConsentRevoked {
            consent_id: ConsentId([0x33; 16]),
        },
    );
    let at_lead = [&shared[..], &[closing.clone(), revoked_later.clone()]].concat();
    let (mut core, mut db) = node(&v, &roster, "ne.orp", &at_lead);
    let at_oai = [&shared[..], &[referral, declined]].concat();
    let own_view = protocol_spec::case::CoordinatedCase::restore(at_oai.clone()).unwrap();
    assert_eq!(
        own_view.participants.get(&inst("ne.oai")),
        Some(&protocol_spec::case::Participation::Declined)
    );
    let out = push(&mut core, &mut db, NOW + 60, "ne.oai", at_oai.clone());
    assert!(
        matches!(out.first(), Some(Output::PeerReply(PeerReply::Accepted))),
        "{out:?}"
    );
    let sent = history_sent_to(&out, "ne.oai")
        .expect("ne.oai, out of the case in another way than here, is sent what it lacks");
    assert!(
        sent.iter()
            .any(|e| e.event.event_id == closing.event.event_id),
        "ne.oai is sent the closing that voided the referral"
    );
    assert!(
        !sent
            .iter()
            .any(|e| e.event.event_id == revoked_later.event.event_id),
        "ne.oai was sent an event made after what settles how it is out"
    );
    // ne.oai's view once it merges what it was sent: the union of both, by event id.
    let mut union = at_oai.clone();
    union.extend(
        sent.into_iter()
            .filter(|e| !at_oai.iter().any(|a| a.event.event_id == e.event.event_id)),
    );
    let merged = protocol_spec::case::CoordinatedCase::restore(union).unwrap();
    assert_eq!(
        merged.participants.get(&inst("ne.oai")),
        Some(&protocol_spec::case::Participation::Removed),
        "with what it was sent, ne.oai knows it was removed"
    );
}

#[test]
fn a_history_sent_back_by_an_institution_whose_invitation_it_voids_still_reaches_its_addressee() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let opening = &history[0];
    let removal = event(
        "ne.orp",
        opening,
        0x50,
        NOW,
        CaseEventKind::Removed {
            institution: inst("ne.oai"),
        },
    );
    // ne.oai, not knowing it was removed, invites ne.sas, which accepts; then ne.oai leaves.
    let invited = event(
        "ne.oai",
        opening,
        0x51,
        NOW + 20,
        CaseEventKind::Invited {
            institution: inst("ne.sas"),
        },
    );
    let accepted = event("ne.sas", opening, 0x52, NOW + 21, CaseEventKind::Accepted);
    let left = event("ne.oai", opening, 0x53, NOW + 25, CaseEventKind::Left);
    // ne.orp, the lead, invites ne.sas again; it accepts.
    let invited_again = event(
        "ne.orp",
        opening,
        0x54,
        NOW + 30,
        CaseEventKind::Invited {
            institution: inst("ne.sas"),
        },
    );
    let accepted_again = event("ne.sas", opening, 0x55, NOW + 31, CaseEventKind::Accepted);
    let at_oai = [&history[..4], &[invited, accepted, left]].concat();
    let at_sas = [
        &at_oai[..],
        &[removal.clone(), invited_again, accepted_again],
    ]
    .concat();
    let sas_view = protocol_spec::case::CoordinatedCase::restore(at_sas).unwrap();
    // What ne.sas sends back to ne.oai, which counts itself left where it is removed: up to
    // the removal, and ne.oai's own later events. There, ne.oai's invitation of ne.sas is
    // without effect: ne.sas is absent from the participation map, named by that invitation.
    let sent = sas_view
        .sent_back_to_settle(&at_oai, &inst("ne.oai"))
        .expect("a cut");
    assert!(
        sent.iter()
            .any(|e| e.event.event_id == removal.event.event_id)
    );
    let told = protocol_spec::case::CoordinatedCase::restore(sent.clone()).unwrap();
    assert_eq!(told.participants.get(&inst("ne.sas")), None);
    let (mut core, mut db) = node(&v, &roster, "ne.oai", &at_oai);
    let out = push(&mut core, &mut db, NOW + 40, "ne.sas", sent);
    assert!(
        matches!(out.first(), Some(Output::PeerReply(PeerReply::Accepted))),
        "ne.oai refused the history that tells it it was removed: {out:?}"
    );
    let held = node_core::case_store::load_case(&db, &opening.event.case_id)
        .unwrap()
        .expect("held");
    assert_eq!(
        held.participants.get(&inst("ne.oai")),
        Some(&protocol_spec::case::Participation::Removed)
    );
}

/// The sends to `to` among `out`: their tokens and the events they carry.
fn sends_to(out: &[Output], to: &str) -> Vec<(node_core::Token, Vec<EventId>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                token,
                to: t,
                message: PeerMessage::CaseHistory { events, .. },
                ..
            } if t == &inst(to) => {
                Some((*token, events.iter().map(|e| e.event.event_id).collect()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn an_answer_to_a_send_made_before_a_failed_step_does_not_settle_a_later_change() {
    let v = core_json();
    let (roster, history) = federation(&v);
    let (mut core, mut db) = node(&v, &roster, "ne.orp", &history[..4]);
    let carla = case_worker(&mut core, &mut db);
    let case_id = history[0].event.case_id;
    // A change goes to ne.oai; the send is in flight.
    let invited = staff(
        &mut core,
        &mut db,
        NOW,
        carla,
        StaffRequest::CaseInvite {
            case_id,
            institution: inst("ne.sas"),
        },
    )
    .expect("invited");
    let [(first, _)] = sends_to(&invited, "ne.oai")[..] else {
        panic!("one send to ne.oai: {invited:?}")
    };
    // A step fails to commit: the node reads its state again, as its drivers do.
    core.reload(&db).unwrap();
    // A later change rides on the same item (ne.sas accepts, and ne.orp passes it on to
    // ne.oai); whatever leaves now may be lost.
    let held_by_sas = history_sent_to(&invited, "ne.sas").expect("the invitation goes to ne.sas");
    let acceptance = event(
        "ne.sas",
        &history[0],
        0x61,
        NOW + 1,
        CaseEventKind::Accepted,
    );
    let pushed = push(
        &mut core,
        &mut db,
        NOW + 1,
        "ne.sas",
        [&held_by_sas[..], std::slice::from_ref(&acceptance)].concat(),
    );
    assert!(
        matches!(pushed.first(), Some(Output::PeerReply(PeerReply::Accepted))),
        "{pushed:?}"
    );
    let items = db
        .query_row(
            "SELECT count(*) FROM outbox WHERE recipient = 'ne.oai'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap();
    assert_eq!(items, 1, "one item per recipient and case");
    // ne.oai's answer to the first send comes: it holds the invitation, not the acceptance.
    let mut after = one_step(
        &mut core,
        &mut db,
        NOW + 2,
        Input::Delivered {
            token: first,
            reply: PeerReply::Accepted,
        },
    );
    after.extend(one_step(&mut core, &mut db, NOW + 3, Input::Tick));
    let carries_acceptance = |events: &Vec<EventId>| events.contains(&acceptance.event.event_id);
    assert!(
        sends_to(&after, "ne.oai")
            .iter()
            .any(|(_, events)| carries_acceptance(events)),
        "ne.sas's acceptance is sent to ne.oai again, not settled by the answer to the send before it: {:?}",
        sends_to(&after, "ne.oai")
    );
}
