//! Property tests: every wire message survives encode → frame → decode unchanged, and no
//! truncation of a valid frame decodes.

use crate::case::{CaseEvent, CaseEventKind, Consent, SignedCaseEvent};
use crate::category::Category;
use crate::exchange::{
    Disclosure, DisclosureHeader, Refusal, RefusalCode, SignedSummaryRequest, SummaryRequest,
};
use crate::ids::{CaseId, ConsentId, EventId, InstitutionId, Purpose, RequestId, StaffId};
use crate::keys::Signature;
use crate::peer::{InclusionProof, PeerMessage, PeerReply};
use crate::seal::Sealed;
use crate::staff::{StaffRequest, SummaryOutcome};
use crate::wire::{decode_frame, encode_frame};
use proptest::prelude::*;

fn inst() -> impl Strategy<Value = InstitutionId> {
    "[a-z]{2,4}\\.[a-z0-9]{1,8}".prop_map(|s| s.parse().unwrap())
}
fn purpose() -> impl Strategy<Value = Purpose> {
    "[a-z][a-z0-9-]{0,20}".prop_map(|s| s.parse().unwrap())
}
fn staff() -> impl Strategy<Value = StaffId> {
    "[a-z][a-z0-9-]{0,20}".prop_map(|s| s.parse().unwrap())
}
fn categories() -> impl Strategy<Value = Vec<Category>> {
    proptest::sample::subsequence(Category::ALL.to_vec(), 1..=8)
}
fn sig() -> impl Strategy<Value = Signature> {
    proptest::array::uniform32(any::<u8>()).prop_flat_map(|a| {
        proptest::array::uniform32(any::<u8>()).prop_map(move |b| {
            let mut s = [0u8; 64];
            s[..32].copy_from_slice(&a);
            s[32..].copy_from_slice(&b);
            Signature(s)
        })
    })
}
fn id16() -> impl Strategy<Value = [u8; 16]> {
    proptest::array::uniform16(any::<u8>())
}

fn request() -> impl Strategy<Value = SignedSummaryRequest> {
    (
        id16(),
        inst(),
        inst(),
        id16(),
        purpose(),
        categories(),
        any::<u64>(),
        sig(),
    )
        .prop_map(|(r, a, b, c, p, cats, t, s)| SignedSummaryRequest {
            request: SummaryRequest {
                request_id: RequestId(r),
                requester: a,
                responder: b,
                case_id: CaseId(c),
                purpose: p,
                categories: cats,
                issued_at: t,
            },
            signature: s,
        })
}

fn disclosure() -> impl Strategy<Value = Disclosure> {
    (
        request(),
        id16(),
        any::<u64>(),
        proptest::array::uniform32(any::<u8>()),
        proptest::collection::vec(any::<u8>(), 16..200),
        sig(),
    )
        .prop_map(|(r, consent, t, enc, ct, s)| Disclosure {
            header: DisclosureHeader {
                request_digest: r.digest(),
                request_id: r.request.request_id,
                case_id: r.request.case_id,
                source: r.request.responder.clone(),
                recipient: r.request.requester.clone(),
                purpose: r.request.purpose.clone(),
                categories: r.request.categories.clone(),
                consent_id: ConsentId(consent),
                disclosed_at: t,
                roster_version: t / 7,
            },
            sealed: Sealed {
                enc,
                ciphertext: ct,
            },
            signature: s,
        })
}

fn case_event() -> impl Strategy<Value = SignedCaseEvent> {
    let kind = prop_oneof![
        Just(CaseEventKind::Opened {
            person: "7569217076985".parse().unwrap()
        }),
        inst().prop_map(|i| CaseEventKind::Invited { institution: i }),
        Just(CaseEventKind::Accepted),
        Just(CaseEventKind::Left),
        Just(CaseEventKind::Closed),
        (
            id16(),
            id16(),
            proptest::collection::vec(inst(), 2..4),
            proptest::collection::vec(purpose(), 1..3),
            categories(),
            any::<u64>(),
            any::<u64>(),
            proptest::option::of(proptest::array::uniform32(any::<u8>())),
            staff()
        )
            .prop_map(|(c, k, parts, purposes, cats, a, b, form, by)| {
                CaseEventKind::ConsentRecorded(Consent {
                    consent_id: ConsentId(k),
                    case_id: CaseId(c),
                    participants: parts,
                    purposes,
                    categories: cats,
                    valid_from: a.min(b),
                    valid_until: a.max(b),
                    form_digest: form,
                    recorded_by: by,
                    recorded_at: a,
                })
            }),
        id16().prop_map(|k| CaseEventKind::ConsentRevoked {
            consent_id: ConsentId(k)
        }),
    ];
    (id16(), id16(), inst(), staff(), any::<u64>(), kind, sig()).prop_map(
        |(e, c, a, st, t, kind, s)| SignedCaseEvent {
            event: CaseEvent {
                event_id: EventId(e),
                case_id: CaseId(c),
                author: a,
                staff: st,
                at: t,
                kind,
            },
            signature: s,
        },
    )
}

fn refusal() -> impl Strategy<Value = Refusal> {
    (0usize..16).prop_map(|i| {
        let codes = [
            RefusalCode::NotConcerned,
            RefusalCode::CaseClosed,
            RefusalCode::NoConsent,
            RefusalCode::ConsentRevoked,
            RefusalCode::ConsentNotYetValid,
            RefusalCode::ConsentExpired,
            RefusalCode::PurposeNotConsented,
            RefusalCode::CategoryNotConsented,
            RefusalCode::PolicyForbids,
            RefusalCode::StaleRequest,
            RefusalCode::ReplayedRequest,
            RefusalCode::BadSignature,
            RefusalCode::NotMember,
            RefusalCode::WrongResponder,
            RefusalCode::Malformed,
            RefusalCode::Unavailable,
        ];
        Refusal { code: codes[i] }
    })
}

fn peer_message() -> impl Strategy<Value = PeerMessage> {
    prop_oneof![
        request().prop_map(PeerMessage::Summary),
        (id16(), proptest::collection::vec(case_event(), 1..4)).prop_map(|(c, events)| {
            PeerMessage::CaseHistory {
                case_id: CaseId(c),
                events,
            }
        }),
        ".{0,200}".prop_map(PeerMessage::AddCheckpoint),
        "tile/[0-9]/[0-9]{3}".prop_map(PeerMessage::LogTile),
        any::<u64>().prop_map(|index| PeerMessage::ProveInclusion { index }),
        (
            proptest::array::uniform32(any::<u8>()),
            any::<u64>(),
            ".{0,100}",
            proptest::collection::vec(proptest::array::uniform32(any::<u8>()), 0..5)
        )
            .prop_map(
                |(h, i, c, proof)| PeerMessage::ReceiptProof(InclusionProof {
                    request_digest: h,
                    leaf_index: i,
                    leaf_hash: h,
                    checkpoint: c,
                    proof,
                })
            ),
    ]
}

fn peer_reply() -> impl Strategy<Value = PeerReply> {
    prop_oneof![
        (
            disclosure(),
            any::<u64>(),
            proptest::array::uniform32(any::<u8>())
        )
            .prop_map(|(d, i, h)| PeerReply::Disclosure {
                disclosure: Box::new(d),
                leaf_index: i,
                leaf_hash: h
            }),
        refusal().prop_map(PeerReply::Refusal),
        Just(PeerReply::Accepted),
        ".{0,80}".prop_map(|reason| PeerReply::Rejected { reason }),
        ".{0,80}".prop_map(PeerReply::Cosigned),
        (any::<u16>(), proptest::option::of(any::<u64>()), ".{0,40}").prop_map(
            |(status, latest, reason)| PeerReply::WitnessRefused {
                status,
                latest,
                reason
            }
        ),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(PeerReply::LogData),
    ]
}

fn staff_request() -> impl Strategy<Value = StaffRequest> {
    prop_oneof![
        Just(StaffRequest::WhoAmI),
        (id16(), inst(), purpose(), categories()).prop_map(|(c, from, purpose, categories)| {
            StaffRequest::SummaryRequest {
                case_id: CaseId(c),
                from,
                purpose,
                categories,
            }
        }),
        (id16(), inst()).prop_map(|(c, i)| StaffRequest::CaseInvite {
            case_id: CaseId(c),
            institution: i
        }),
        ".{0,40}".prop_map(|path| StaffRequest::LogTile { path }),
    ]
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    v: &T,
) -> Result<(), TestCaseError> {
    let frame = encode_frame(v).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(
        &decode_frame::<T>(&frame).map_err(|e| TestCaseError::fail(e.to_string()))?,
        v
    );
    // No strict prefix of a frame decodes as a frame.
    for cut in [frame.len() - 1, frame.len() / 2, 5] {
        if cut < frame.len() {
            prop_assert!(decode_frame::<T>(&frame[..cut]).is_err());
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn peer_messages_round_trip(m in peer_message()) { round_trip(&m)?; }

    #[test]
    fn peer_replies_round_trip(r in peer_reply()) { round_trip(&r)?; }

    #[test]
    fn staff_requests_round_trip(r in staff_request()) { round_trip(&r)?; }

    #[test]
    fn staff_outcomes_round_trip(r in refusal()) { round_trip(&SummaryOutcome::Refused { code: r.code })?; }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame::<PeerMessage>(&bytes);
        let _ = crate::wire::decode_body::<StaffRequest>(&bytes);
    }
}
