//! The history sent back to an institution a node counts out of a case (spec §6.4, the cut),
//! on histories generated at random: the cut is the first event, in canonical order, that the
//! offered history lacks and after which the two merged put the institution out, as folding
//! them again from the start finds it; what is sent puts it out in its own view too, and holds
//! nothing after the cut that it did not hold already. The same for an institution that counts
//! itself out in another way than the node (the cut that settles how it is out).

use proptest::prelude::*;
use proptest::sample::select;
use protocol_spec::case::{
    CaseEvent, CaseEventKind, CoordinatedCase, DeclineReason, SignedCaseEvent, order_key,
};
use protocol_spec::category::Category;
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

/// As [`case`], with two events more right after the removal in the list (not in time): an
/// invitation or a referral of `sender` again, by anyone, which it may or may not offer, and
/// `sender`'s own leaving or declining, which it always offers. Sometimes `sender` has no other
/// way in: it was never invited at the start, and that invitation, voided by a closing or its
/// author's removal, leaves it absent from the participation map. So `sender` often counts
/// itself out in another way than the whole history.
fn case_with_own_exit() -> impl Strategy<Value = (Vec<SignedCaseEvent>, Vec<bool>, usize)> {
    (
        case(),
        (0..NAMES.len(), 0u64..45, 0u64..45),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (mut history, mut picked, sender),
                (inviter, invited_at, exit_at),
                (declines, referred, offers_invitation, joined_at_start),
            )| {
                let exit = if declines {
                    CaseEventKind::Declined {
                        reason: DeclineReason::NoCapacity,
                    }
                } else {
                    CaseEventKind::Left
                };
                let again = if referred {
                    CaseEventKind::Referred {
                        institution: inst(sender),
                        purpose: "coordinated-assessment".parse().unwrap(),
                        categories: vec![Category::Employment],
                    }
                } else {
                    CaseEventKind::Invited {
                        institution: inst(sender),
                    }
                };
                history.insert(4, event(100, inviter, 3 + invited_at, again));
                history.insert(5, event(101, sender, 3 + invited_at.max(exit_at), exit));
                picked.insert(3, offers_invitation);
                picked.insert(4, true);
                if !joined_at_start {
                    // Without its first invitation, acceptance and removal.
                    history.drain(1..4);
                    picked.drain(0..3);
                }
                (history, picked, sender)
            },
        )
}

/// The cut as spec §6.4 defines it: the fold of the offered history with this history up to
/// each event it lacks, from the start each time, until `holds`.
fn cut_by_definition(
    held: &CoordinatedCase,
    offered: &[SignedCaseEvent],
    holds: impl Fn(&CoordinatedCase) -> bool,
) -> Option<(u64, [u8; 16])> {
    let ids: Vec<EventId> = offered.iter().map(|e| e.event.event_id).collect();
    let mut merged = offered.to_vec();
    for ev in &held.history[1..] {
        if ids.contains(&ev.event.event_id) {
            continue;
        }
        merged.push(ev.clone());
        let view = CoordinatedCase::restore(merged.clone()).unwrap();
        if holds(&view) {
            return Some(order_key(ev));
        }
    }
    None
}

/// The events of `history` that `picked` marks, the opening always.
fn offered_of(history: &[SignedCaseEvent], picked: &[bool]) -> Vec<SignedCaseEvent> {
    let mut offered = vec![history[0].clone()];
    offered.extend(
        history[1..]
            .iter()
            .zip(picked)
            .filter(|(_, p)| **p)
            .map(|(e, _)| e.clone()),
    );
    offered
}

/// The sender's view once it merges what it was sent.
fn view_after(offered: &[SignedCaseEvent], sent: &[SignedCaseEvent]) -> CoordinatedCase {
    let view = CoordinatedCase::restore(offered.to_vec()).unwrap();
    CoordinatedCase::restore(view.history.iter().chain(sent).cloned().collect()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_cut_is_the_one_the_spec_defines_and_tells_nothing_later(
        (history, picked, sender) in case()
    ) {
        let held = CoordinatedCase::restore(history.clone()).unwrap();
        let who = inst(sender);
        let offered = offered_of(&history, &picked);
        let counts_itself_in = CoordinatedCase::restore(offered.clone())
            .unwrap()
            .audience()
            .any(|i| i == &who);
        prop_assume!(counts_itself_in && !held.audience().any(|i| i == &who));

        let cut = held.cut_to_put_out(&offered, &who);
        prop_assert_eq!(
            cut,
            cut_by_definition(&held, &offered, |v| !v.audience().any(|i| i == &who))
        );
        let Some(cut) = cut else { return Ok(()) };
        let sent = held.sent_back(&offered, &who).unwrap();
        for e in &sent {
            prop_assert!(
                order_key(e) <= cut || offered.contains(e),
                "an event after the cut that the sender did not hold"
            );
        }
        let view = view_after(&offered, &sent);
        prop_assert!(!view.audience().any(|i| i == &who), "its view puts it out too");
    }
}

proptest! {
    // Most random histories leave the sender out the same way as the node; the others are
    // what this property is about.
    #![proptest_config(ProptestConfig { cases: 400, max_global_rejects: 200_000, ..ProptestConfig::default() })]

    #[test]
    fn the_cut_that_settles_how_it_is_out_is_the_one_the_spec_defines(
        (history, picked, sender) in case_with_own_exit()
    ) {
        let held = CoordinatedCase::restore(history.clone()).unwrap();
        let who = inst(sender);
        let offered = offered_of(&history, &picked);
        let own = CoordinatedCase::restore(offered.clone()).unwrap();
        let here = held.participants.get(&who).copied();
        prop_assume!(
            !own.audience().any(|i| i == &who)
                && !held.audience().any(|i| i == &who)
                && own.participants.get(&who).copied() != here
        );

        let cut = held.cut_to_settle(&offered, &who);
        prop_assert_eq!(
            cut,
            cut_by_definition(&held, &offered, |v| v.participants.get(&who).copied() == here)
        );
        let cut = cut.expect("the whole history settles it");
        let sent = held.sent_back_to_settle(&offered, &who).unwrap();
        for e in &sent {
            prop_assert!(
                order_key(e) <= cut || offered.contains(e),
                "an event after the cut that the sender did not hold"
            );
        }
        let view = view_after(&offered, &sent);
        prop_assert_eq!(view.participants.get(&who).copied(), here, "it is out as it is here");
    }
}
