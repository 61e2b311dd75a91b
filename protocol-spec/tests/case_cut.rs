//! The history sent back to an institution a node counts out of a case (spec §6.4, the cut),
//! on histories generated at random: the cut is the first event, in canonical order, that the
//! offered history lacks and after which the two merged put the institution out, as folding
//! them again from the start finds it; what is sent puts it out in its own view too, and holds
//! nothing after the cut that it did not hold already.

use proptest::prelude::*;
use proptest::sample::select;
use protocol_spec::case::{
    CaseEvent, CaseEventKind, CoordinatedCase, DeclineReason, SignedCaseEvent, order_key,
};
use protocol_spec::ids::{CaseId, ConsentId, EventId, InstitutionId};
use protocol_spec::keys::Signature;

const NAMES: [&str; 4] = ["ne.orp", "ne.oai", "ne.sas", "ne.smig"];

fn inst(i: usize) -> InstitutionId {
    NAMES[i].parse().unwrap()
}

/// An event, unsigned: the fold of a history already verified reads no signature.
fn event(n: u16, author: usize, at: u64, kind: CaseEventKind) -> SignedCaseEvent {
    let mut id = [0u8; 16];
    id[..2].copy_from_slice(&n.to_be_bytes());
    SignedCaseEvent {
        event: CaseEvent {
            event_id: EventId(id),
            case_id: CaseId([1; 16]),
            author: inst(author),
            staff: "alice".parse().unwrap(),
            at,
            kind,
        },
        signature: Signature([0; 64]),
    }
}

fn kind() -> impl Strategy<Value = CaseEventKind> {
    let who = || (0..NAMES.len()).prop_map(inst);
    prop_oneof![
        who().prop_map(|institution| CaseEventKind::Invited { institution }),
        Just(CaseEventKind::Accepted),
        Just(CaseEventKind::Declined {
            reason: DeclineReason::NoCapacity
        }),
        Just(CaseEventKind::Left),
        Just(CaseEventKind::Closed),
        who().prop_map(|institution| CaseEventKind::Removed { institution }),
        who().prop_map(|to| CaseEventKind::LeadHandedOver { to }),
        Just(CaseEventKind::ConsentRevoked {
            consent_id: ConsentId([7; 16])
        }),
    ]
}

/// A case's whole history, and which of its events an institution offers: ne.orp opens it and
/// invites `sender`, which accepts; then events by anyone, among them `sender`'s removal.
/// `sender` always offers the events that made it a participant, so it counts itself in
/// unless what it offers says otherwise.
fn case() -> impl Strategy<Value = (Vec<SignedCaseEvent>, Vec<bool>, usize)> {
    (
        proptest::collection::vec((0..NAMES.len(), 0u64..40, kind()), 0..30),
        0u64..45,
        proptest::collection::vec(any::<bool>(), 32),
        select(vec![1usize, 2, 3]),
    )
        .prop_map(|(rest, removed_at, offered, sender)| {
            let person = "7569217076985".parse().unwrap();
            let mut history = vec![
                event(0, 0, 0, CaseEventKind::Opened { person }),
                event(
                    1,
                    0,
                    1,
                    CaseEventKind::Invited {
                        institution: inst(sender),
                    },
                ),
                event(2, sender, 2, CaseEventKind::Accepted),
                event(
                    3,
                    0,
                    3 + removed_at,
                    CaseEventKind::Removed {
                        institution: inst(sender),
                    },
                ),
            ];
            for (n, (author, at, kind)) in rest.into_iter().enumerate() {
                history.push(event(n as u16 + 4, author, 3 + at, kind));
            }
            let mut offered = offered;
            offered[..2].fill(true);
            (history, offered, sender)
        })
}

/// The cut as spec §6.4 defines it: the fold of the offered history with this history up to
/// each event it lacks, from the start each time.
fn cut_by_definition(
    held: &CoordinatedCase,
    offered: &[SignedCaseEvent],
    who: &InstitutionId,
) -> Option<(u64, [u8; 16])> {
    let ids: Vec<EventId> = offered.iter().map(|e| e.event.event_id).collect();
    let mut merged = offered.to_vec();
    for ev in &held.history[1..] {
        if ids.contains(&ev.event.event_id) {
            continue;
        }
        merged.push(ev.clone());
        let view = CoordinatedCase::restore(merged.clone()).unwrap();
        if !view.audience().any(|i| i == who) {
            return Some(order_key(ev));
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_cut_is_the_one_the_spec_defines_and_tells_nothing_later(
        (history, picked, sender) in case()
    ) {
        let held = CoordinatedCase::restore(history.clone()).unwrap();
        let who = inst(sender);
        let mut offered = vec![history[0].clone()];
        offered.extend(
            history[1..]
                .iter()
                .zip(&picked)
                .filter(|(_, p)| **p)
                .map(|(e, _)| e.clone()),
        );
        let counts_itself_in = CoordinatedCase::restore(offered.clone())
            .unwrap()
            .audience()
            .any(|i| i == &who);
        prop_assume!(counts_itself_in && !held.audience().any(|i| i == &who));

        let cut = held.cut_to_put_out(&offered, &who);
        prop_assert_eq!(cut, cut_by_definition(&held, &offered, &who));
        let Some(cut) = cut else { return Ok(()) };
        let sent = held.sent_back(&offered, &who).unwrap();
        for e in &sent {
            prop_assert!(
                order_key(e) <= cut || offered.contains(e),
                "an event after the cut that the sender did not hold"
            );
        }
        let mut view = CoordinatedCase::restore(offered.clone()).unwrap();
        view = CoordinatedCase::restore(
            view.history.iter().chain(&sent).cloned().collect(),
        )
        .unwrap();
        prop_assert!(!view.audience().any(|i| i == &who), "its view puts it out too");
    }
}
