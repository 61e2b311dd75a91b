//! Wire round trips: postcard encode → decode and encode_frame → decode_frame give back the
//! value for every wire message, generated at random; one byte more or less in the payload is
//! refused.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use protocol_spec::avs::Avs;
use protocol_spec::case::{
    CaseEvent, CaseEventKind, CaseStatus, Consent, DeclineReason, Participation, Referral,
    SignedCaseEvent,
};
use protocol_spec::category::Category;
use protocol_spec::exchange::{
    Disclosure, DisclosureHeader, Refusal, RefusalCode, SignedSummaryRequest, Summary,
    SummaryField, SummaryRequest,
};
use protocol_spec::ids::{
    CaseId, ConsentId, EventId, InstitutionId, Purpose, RequestId, Role, StaffId, SummaryId,
};
use protocol_spec::keys::{PublicKey, Signature};
use protocol_spec::peer::{
    InclusionPath, InclusionProof, LeafProof, PeerMessage, PeerReply, ReceiptProofs,
};
use protocol_spec::records::{Person, RecordField, RecordSet};
use protocol_spec::roster::{
    Authorities, Authority, FormerKey, FormerLogKey, Member, PolicyRule, Retention, Roster,
    SignedRoster,
};
use protocol_spec::seal::Sealed;
use protocol_spec::staff::{
    CaseDetail, CaseInfo, ChangeNotice, ConsentDraft, ConsentInfo, Delivery, NodeStatus,
    ReceivedSummary, StaffError, StaffErrorKind, StaffInfo, StaffReply, StaffRequest,
    SummaryOutcome, WitnessEvidence,
};
use protocol_spec::stats::{
    ExitOutcome, GridField, Measure, MeasureId, Month, Placement, PlacementSet, PrivacyBudget,
    SectorPlaces, StatisticsConfig,
};
use protocol_spec::wire::{WireError, decode_frame, encode_frame};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

fn token() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,11}"
}

fn institution() -> impl Strategy<Value = InstitutionId> {
    vec(token(), 2..=4).prop_map(|labels| labels.join(".").parse().expect("valid id"))
}

fn institutions() -> impl Strategy<Value = Vec<InstitutionId>> {
    vec(institution(), 0..3)
}

fn sector() -> impl Strategy<Value = protocol_spec::ids::Sector> {
    token().prop_map(|t| t.parse().expect("token"))
}

fn purpose_() -> impl Strategy<Value = Purpose> {
    token().prop_map(|t| t.parse().expect("token"))
}

fn staff_id() -> impl Strategy<Value = StaffId> {
    token().prop_map(|t| t.parse().expect("token"))
}

fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

fn hash() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn avs() -> impl Strategy<Value = Avs> {
    proptest::array::uniform9(0u8..10).prop_map(|body| {
        let mut first12 = [7, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        first12[3..].copy_from_slice(&body);
        let check = protocol_spec::avs::check_digit(&first12);
        let digits: String = first12
            .iter()
            .chain([check].iter())
            .map(|d| char::from(b'0' + d))
            .collect();
        digits.parse().expect("valid number")
    })
}

fn category() -> impl Strategy<Value = Category> {
    select(Category::ALL.to_vec())
}

fn categories() -> impl Strategy<Value = Vec<Category>> {
    vec(category(), 0..4)
}

fn refusal_code() -> impl Strategy<Value = RefusalCode> {
    select(RefusalCode::ALL.to_vec())
}

fn role() -> impl Strategy<Value = Role> {
    select(Role::ALL.to_vec())
}

fn participation() -> impl Strategy<Value = Participation> {
    select(vec![
        Participation::Invited,
        Participation::Accepted,
        Participation::Left,
        Participation::Declined,
        Participation::Removed,
    ])
}

fn summary_request() -> impl Strategy<Value = SummaryRequest> {
    (
        any::<[u8; 16]>(),
        institution(),
        institution(),
        any::<[u8; 16]>(),
        purpose_(),
        categories(),
        any::<u64>(),
    )
        .prop_map(
            |(id, requester, responder, case, purpose, categories, issued_at)| SummaryRequest {
                request_id: RequestId(id),
                requester,
                responder,
                case_id: CaseId(case),
                purpose,
                categories,
                issued_at,
            },
        )
}

fn signed_summary_request() -> impl Strategy<Value = SignedSummaryRequest> {
    (summary_request(), signature())
        .prop_map(|(request, signature)| SignedSummaryRequest { request, signature })
}

fn summary_() -> impl Strategy<Value = Summary> {
    let field = (text(), text()).prop_map(|(field, value)| SummaryField { field, value });
    btree_map(category(), vec(field, 0..3), 0..3).prop_map(|categories| Summary { categories })
}

fn disclosure_header() -> impl Strategy<Value = DisclosureHeader> {
    (
        (hash(), any::<[u8; 16]>(), any::<[u8; 16]>()),
        (institution(), institution(), purpose_(), categories()),
        (any::<[u8; 16]>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(
                (request_digest, request_id, case_id),
                (source, recipient, purpose, categories),
                (consent_id, disclosed_at, roster_version),
            )| DisclosureHeader {
                request_digest,
                request_id: RequestId(request_id),
                case_id: CaseId(case_id),
                source,
                recipient,
                purpose,
                categories,
                consent_id: ConsentId(consent_id),
                disclosed_at,
                roster_version,
            },
        )
}

fn disclosure_() -> impl Strategy<Value = Disclosure> {
    (
        disclosure_header(),
        hash(),
        vec(any::<u8>(), 16..80),
        signature(),
    )
        .prop_map(|(header, enc, ciphertext, signature)| Disclosure {
            header,
            sealed: Sealed { enc, ciphertext },
            signature,
        })
}

fn refusal() -> impl Strategy<Value = Refusal> {
    refusal_code().prop_map(|code| Refusal { code })
}

fn consent_() -> impl Strategy<Value = Consent> {
    (
        (any::<[u8; 16]>(), any::<[u8; 16]>(), institutions()),
        (
            vec(purpose_(), 0..3),
            categories(),
            any::<u64>(),
            any::<u64>(),
        ),
        (proptest::option::of(hash()), staff_id(), any::<u64>()),
    )
        .prop_map(
            |(
                (consent_id, case_id, participants),
                (purposes, categories, valid_from, valid_until),
                (form_digest, recorded_by, recorded_at),
            )| Consent {
                consent_id: ConsentId(consent_id),
                case_id: CaseId(case_id),
                participants,
                purposes,
                categories,
                valid_from,
                valid_until,
                form_digest,
                recorded_by,
                recorded_at,
            },
        )
}

fn case_event_kind() -> impl Strategy<Value = CaseEventKind> {
    prop_oneof![
        avs().prop_map(|person| CaseEventKind::Opened { person }),
        institution().prop_map(|institution| CaseEventKind::Invited { institution }),
        Just(CaseEventKind::Accepted),
        Just(CaseEventKind::Left),
        Just(CaseEventKind::Closed),
        consent_().prop_map(CaseEventKind::ConsentRecorded),
        any::<[u8; 16]>().prop_map(|id| CaseEventKind::ConsentRevoked {
            consent_id: ConsentId(id)
        }),
        select(DeclineReason::ALL.to_vec()).prop_map(|reason| CaseEventKind::Declined { reason }),
        institution().prop_map(|institution| CaseEventKind::Removed { institution }),
        institution().prop_map(|to| CaseEventKind::LeadHandedOver { to }),
        (institution(), purpose_(), categories()).prop_map(|(institution, purpose, categories)| {
            CaseEventKind::Referred {
                institution,
                purpose,
                categories,
            }
        }),
    ]
}

fn referral() -> impl Strategy<Value = Referral> {
    (
        institution(),
        institution(),
        purpose_(),
        categories(),
        any::<[u8; 16]>(),
    )
        .prop_map(|(by, institution, purpose, categories, id)| Referral {
            by,
            institution,
            purpose,
            categories,
            event_id: EventId(id),
        })
}

fn signed_case_event() -> impl Strategy<Value = SignedCaseEvent> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        institution(),
        staff_id(),
        any::<u64>(),
        case_event_kind(),
        signature(),
    )
        .prop_map(
            |(event_id, case_id, author, staff, at, kind, signature)| SignedCaseEvent {
                event: CaseEvent {
                    event_id: EventId(event_id),
                    case_id: CaseId(case_id),
                    author,
                    staff,
                    at,
                    kind,
                },
                signature,
            },
        )
}

fn member_() -> impl Strategy<Value = Member> {
    (
        (institution(), text(), sector(), text()),
        (key(), key(), key(), key()),
        (institutions(), any::<u8>()),
    )
        .prop_map(
            |(
                (id, name, sector, address),
                (signing_key, encryption_key, log_key, witness_key),
                (witnesses, witness_quorum),
            )| Member {
                id,
                name,
                sector,
                address,
                signing_key,
                encryption_key,
                log_key,
                witness_key,
                witnesses,
                witness_quorum,
            },
        )
}

fn signed_roster_() -> impl Strategy<Value = SignedRoster> {
    let authority = (text(), key()).prop_map(|(name, key)| Authority { name, key });
    let rule =
        (sector(), purpose_(), categories()).prop_map(|(sector, purpose, categories)| PolicyRule {
            sector,
            purpose,
            categories,
        });
    let signature_ = (key(), signature()).prop_map(|(authority, signature)| {
        protocol_spec::roster::RosterSignature {
            authority,
            signature,
        }
    });
    let former =
        (institution(), key(), any::<u64>()).prop_map(|(institution, signing_key, retired_in)| {
            FormerKey {
                institution,
                signing_key,
                retired_in,
            }
        });
    let former_log =
        (institution(), key(), any::<u64>()).prop_map(|(institution, log_key, retired_in)| {
            FormerLogKey {
                institution,
                log_key,
                retired_in,
            }
        });
    let retention =
        (purpose_(), any::<u32>()).prop_map(|(purpose, days)| Retention { purpose, days });
    (
        (text(), any::<u64>(), any::<u64>()),
        (any::<u8>(), vec(authority, 0..3)),
        (
            vec(member_(), 0..3),
            vec(rule, 0..3),
            vec(former, 0..3),
            vec(retention, 0..3),
            vec(former_log, 0..3),
            proptest::option::of(stats_config().prop_map(Box::new)),
        ),
        vec(signature_, 0..3),
    )
        .prop_map(
            |(
                (federation, version, issued_at),
                (threshold, keys),
                (members, policy, former_keys, retention, former_log_keys, statistics),
                sigs,
            )| {
                SignedRoster {
                    roster: Roster {
                        federation,
                        version,
                        issued_at,
                        authorities: Authorities { threshold, keys },
                        members,
                        policy,
                        former_keys,
                        retention,
                        former_log_keys,
                        statistics,
                    },
                    signatures: sigs,
                }
            },
        )
}

fn inclusion_proof_() -> impl Strategy<Value = InclusionProof> {
    (hash(), any::<u64>(), hash(), text(), vec(hash(), 0..4)).prop_map(
        |(request_digest, leaf_index, leaf_hash, checkpoint, proof)| InclusionProof {
            request_digest,
            leaf_index,
            leaf_hash,
            checkpoint,
            proof,
        },
    )
}

fn month() -> impl Strategy<Value = Month> {
    (1900u16..=9999, 1u8..=12).prop_map(|(y, m)| Month::new(y, m).unwrap())
}

/// A report as a node builds it from counts, over a small declaration with a privacy budget
/// or without.
fn stats_report_() -> impl Strategy<Value = protocol_spec::stats::StatsReport> {
    use protocol_spec::stats::report::{
        MeasureCounts, MonthCounts, ProfileCounts, ReportHeader, build_report, next_release,
    };
    (
        (institution(), month(), any::<u64>(), any::<u64>()),
        (0u64..200, 0u64..50, any::<[u64; 5]>(), 0u64..9000),
        (0u64..500, vec(0u64..30, 16), vec(0u64..40, 3)),
        any::<bool>(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(
                (institution, month, roster_version, computed_at),
                m,
                (followed, refused, values),
                noisy,
                seed,
            )| {
                let config = StatisticsConfig {
                    threshold: 5,
                    measures: vec![Measure {
                        id: "atelier-bois".parse().unwrap(),
                        name: "Atelier bois".into(),
                        provider: "Caritas".into(),
                        places: vec![],
                        cost_per_place_month: 185_000,
                    }],
                    grid_fields: vec![GridField {
                        category: Category::Employment,
                        field: "mobility".into(),
                        values: vec!["none".into(), "car".into(), "bus".into()],
                    }],
                    privacy: noisy.then_some(PrivacyBudget {
                        epsilon_per_release_milli: 500,
                        epsilon_per_month_milli: 1000,
                    }),
                    dashboard: None,
                };
                let counts = MonthCounts {
                    measures: vec![MeasureCounts {
                        participants: m.0,
                        entries: m.1,
                        exits: m.2.map(|e| e % 20),
                        place_days: m.3,
                    }],
                    persons_followed: followed,
                    persons_in_cases: followed / 2,
                    granted: followed / 3,
                    refused,
                    profiles: vec![ProfileCounts {
                        values,
                        not_recorded: 4,
                    }],
                };
                let header = ReportHeader {
                    federation: "ne-cii".into(),
                    institution,
                    sector: "employment".parse().unwrap(),
                    month,
                    roster_version,
                    computed_at,
                };
                let privacy = next_release(&config, month, 0).unwrap();
                build_report(
                    header,
                    &config,
                    &counts,
                    privacy,
                    &mut protocol_spec::seal::SeededRng::new(seed),
                )
            },
        )
}

fn signed_stats_report() -> impl Strategy<Value = protocol_spec::stats::SignedStatsReport> {
    (stats_report_(), 1u32..100, any::<[u8; 32]>()).prop_map(|(report, sequence, seed)| {
        protocol_spec::stats::SignedStatsReport::sign(
            report,
            sequence,
            &protocol_spec::keys::SigningKey::from_seed(seed),
        )
    })
}

fn peer_message() -> impl Strategy<Value = PeerMessage> {
    prop_oneof![
        signed_summary_request().prop_map(PeerMessage::Summary),
        (any::<[u8; 16]>(), vec(signed_case_event(), 0..3)).prop_map(|(id, events)| {
            PeerMessage::CaseHistory {
                case_id: CaseId(id),
                events,
            }
        }),
        signed_roster_().prop_map(|r| PeerMessage::Roster(r.into())),
        text().prop_map(PeerMessage::AddCheckpoint),
        text().prop_map(PeerMessage::LogTile),
        any::<u64>().prop_map(|index| PeerMessage::ProveInclusion { index }),
        inclusion_proof_().prop_map(PeerMessage::ReceiptProof),
        any::<[u8; 16]>().prop_map(|id| PeerMessage::ChangeNotice {
            case_id: CaseId(id)
        }),
        signed_stats_report().prop_map(|s| PeerMessage::StatsReport(Box::new(s))),
        vec(any::<u64>(), 0..4).prop_map(|indices| PeerMessage::ProveInclusions { indices }),
        (text(), vec(inclusion_proof_(), 0..3)).prop_map(|(checkpoint, proofs)| {
            PeerMessage::ReceiptProofs(Box::new(ReceiptProofs {
                checkpoint,
                leaves: proofs
                    .into_iter()
                    .map(|p| LeafProof {
                        request_digest: p.request_digest,
                        leaf_index: p.leaf_index,
                        leaf_hash: p.leaf_hash,
                        proof: p.proof,
                    })
                    .collect(),
            }))
        }),
        (psi_round(), signature()).prop_map(|(round, signature)| PeerMessage::PsiStart(Box::new(
            protocol_spec::stats::psi::SignedPsiStart { round, signature }
        ))),
        (
            hash(),
            institution(),
            any::<u8>(),
            institution(),
            vec(hash(), 0..4),
            signature()
        )
            .prop_map(|(round, origin, hop, sender, elements, signature)| {
                use protocol_spec::stats::psi::*;
                PeerMessage::PsiSet(Box::new(SignedPsiSet {
                    set: PsiSet {
                        round,
                        origin,
                        hop,
                        sender,
                        set: BlindedSet { elements },
                    },
                    signature,
                }))
            }),
        (
            hash(),
            vec((institution(), any::<u64>()), 0..3),
            proptest::option::of(overlap()),
            signature()
        )
            .prop_map(|(round, sizes, overlap, signature)| {
                use protocol_spec::stats::psi::{PsiOutcome, SetSize, SignedPsiOutcome};
                PeerMessage::PsiOutcome(Box::new(SignedPsiOutcome {
                    outcome: PsiOutcome {
                        round,
                        sizes: sizes
                            .into_iter()
                            .map(|(origin, size)| SetSize { origin, size })
                            .collect(),
                        overlap,
                    },
                    signature,
                }))
            }),
    ]
}

fn psi_round() -> impl Strategy<Value = protocol_spec::stats::psi::PsiRound> {
    (
        text(),
        month(),
        any::<u64>(),
        any::<u8>(),
        institution(),
        institutions(),
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(
            |(
                federation,
                month,
                roster_version,
                attempt,
                dashboard,
                participants,
                threshold,
                expires_at,
            )| {
                protocol_spec::stats::psi::PsiRound {
                    federation,
                    month,
                    roster_version,
                    attempt,
                    dashboard,
                    participants,
                    threshold,
                    expires_at,
                }
            },
        )
}

fn psi_cell() -> impl Strategy<Value = protocol_spec::stats::Cell> {
    use protocol_spec::stats::Cell;
    prop_oneof![
        any::<u64>().prop_map(Cell::Count),
        Just(Cell::Small),
        Just(Cell::Withheld)
    ]
}

fn overlap() -> impl Strategy<Value = protocol_spec::stats::psi::Overlap> {
    (
        psi_cell(),
        vec((any::<u8>(), psi_cell()), 0..3),
        vec((institution(), institution(), psi_cell()), 0..3),
    )
        .prop_map(
            |(several, by_count, pairs)| protocol_spec::stats::psi::Overlap {
                several,
                by_count,
                pairs: pairs
                    .into_iter()
                    .map(
                        |(first, second, persons)| protocol_spec::stats::psi::PairOverlap {
                            first,
                            second,
                            persons,
                        },
                    )
                    .collect(),
            },
        )
}

fn peer_reply() -> impl Strategy<Value = PeerReply> {
    prop_oneof![
        (disclosure_(), any::<u64>(), hash()).prop_map(|(d, leaf_index, leaf_hash)| {
            PeerReply::Disclosure {
                disclosure: Box::new(d),
                leaf_index,
                leaf_hash,
            }
        }),
        refusal().prop_map(PeerReply::Refusal),
        Just(PeerReply::Accepted),
        text().prop_map(|reason| PeerReply::Rejected { reason }),
        text().prop_map(PeerReply::Cosigned),
        (any::<u16>(), proptest::option::of(any::<u64>()), text()).prop_map(
            |(status, latest, reason)| PeerReply::WitnessRefused {
                status,
                latest,
                reason,
            }
        ),
        vec(any::<u8>(), 0..64).prop_map(PeerReply::LogData),
        (text(), vec(hash(), 0..4))
            .prop_map(|(checkpoint, proof)| PeerReply::Inclusion { checkpoint, proof }),
        (text(), vec(vec(hash(), 0..4), 0..3)).prop_map(|(checkpoint, proofs)| {
            PeerReply::Inclusions {
                checkpoint,
                proofs: proofs.into_iter().map(InclusionPath).collect(),
            }
        }),
    ]
}

fn record_set() -> impl Strategy<Value = RecordSet> {
    let person = (avs(), text(), text()).prop_map(|(avs, name, birth_date)| Person {
        avs,
        name,
        birth_date,
    });
    let field =
        (avs(), category(), text(), text()).prop_map(|(avs, category, field, value)| RecordField {
            avs,
            category,
            field,
            value,
        });
    (vec(person, 0..3), vec(field, 0..3))
        .prop_map(|(persons, fields)| RecordSet { persons, fields })
}

fn consent_draft() -> impl Strategy<Value = ConsentDraft> {
    (
        any::<[u8; 16]>(),
        institutions(),
        vec(purpose_(), 0..3),
        categories(),
        any::<u64>(),
        any::<u64>(),
        proptest::option::of(hash()),
    )
        .prop_map(
            |(case_id, participants, purposes, categories, valid_from, valid_until, form)| {
                ConsentDraft {
                    case_id: CaseId(case_id),
                    participants,
                    purposes,
                    categories,
                    valid_from,
                    valid_until,
                    form_digest: form,
                }
            },
        )
}

fn case_id() -> impl Strategy<Value = CaseId> {
    any::<[u8; 16]>().prop_map(CaseId)
}

fn staff_request() -> impl Strategy<Value = StaffRequest> {
    use StaffRequest as R;
    prop_oneof![
        Just(R::WhoAmI),
        Just(R::Status),
        (staff_id(), role(), key()).prop_map(|(staff, role, key)| R::StaffIssue {
            staff,
            role,
            key
        }),
        staff_id().prop_map(|staff| R::StaffRevoke { staff }),
        Just(R::StaffList),
        record_set().prop_map(R::ImportRecords),
        signed_roster_().prop_map(R::InstallRoster),
        (avs(), institutions()).prop_map(|(person, invite)| R::CaseOpen { person, invite }),
        (case_id(), institution()).prop_map(|(case_id, institution)| R::CaseInvite {
            case_id,
            institution
        }),
        case_id().prop_map(|case_id| R::CaseAccept { case_id }),
        case_id().prop_map(|case_id| R::CaseClose { case_id }),
        Just(R::CaseList),
        case_id().prop_map(|case_id| R::CaseShow { case_id }),
        consent_draft().prop_map(R::ConsentRecord),
        (case_id(), any::<[u8; 16]>()).prop_map(|(case_id, c)| R::ConsentRevoke {
            case_id,
            consent_id: ConsentId(c)
        }),
        (case_id(), institution(), purpose_(), categories()).prop_map(
            |(case_id, from, purpose, categories)| R::SummaryRequest {
                case_id,
                from,
                purpose,
                categories
            }
        ),
        Just(R::SummaryList),
        any::<[u8; 16]>().prop_map(|s| R::SummaryOpen {
            summary_id: SummaryId(s)
        }),
        Just(R::LogCheckpoint),
        text().prop_map(|path| R::LogTile { path }),
        Just(R::Roster),
        Just(R::WitnessEvidence),
        vec(placement(), 0..3)
            .prop_map(|placements| R::ImportPlacements(PlacementSet { placements })),
        (1900u16..=9999, 1u8..=12).prop_map(|(y, m)| R::StatsReport {
            month: Month::new(y, m).unwrap()
        }),
        (month(), any::<bool>()).prop_map(|(month, correction)| R::StatsSend { month, correction }),
        (any::<u8>(), proptest::option::of(month()))
            .prop_map(|(months, until)| R::StatsDashboard { months, until }),
        (month(), any::<bool>()).prop_map(|(month, again)| R::StatsOverlap { month, again }),
    ]
}

fn measure_id() -> impl Strategy<Value = MeasureId> {
    "[a-z0-9][a-z0-9-]{0,20}".prop_map(|s| s.parse().unwrap())
}

fn placement() -> impl Strategy<Value = Placement> {
    (
        avs(),
        measure_id(),
        text(),
        proptest::option::of(text()),
        proptest::option::of(select(ExitOutcome::ALL.to_vec())),
    )
        .prop_map(|(avs, measure, start, end, outcome)| Placement {
            avs,
            measure,
            start,
            end,
            outcome,
        })
}

fn stats_config() -> impl Strategy<Value = StatisticsConfig> {
    let measure = (
        measure_id(),
        text(),
        text(),
        vec((sector(), any::<u32>()), 0..3),
        any::<u64>(),
    )
        .prop_map(
            |(id, name, provider, places, cost_per_place_month)| Measure {
                id,
                name,
                provider,
                places: places
                    .into_iter()
                    .map(|(sector, places)| SectorPlaces { sector, places })
                    .collect(),
                cost_per_place_month,
            },
        );
    let grid = (select(Category::ALL.to_vec()), text(), vec(text(), 0..3)).prop_map(
        |(category, field, values)| GridField {
            category,
            field,
            values,
        },
    );
    let privacy = (any::<u32>(), any::<u32>()).prop_map(|(r, m)| PrivacyBudget {
        epsilon_per_release_milli: r,
        epsilon_per_month_milli: m,
    });
    (
        any::<u32>(),
        vec(measure, 0..3),
        vec(grid, 0..3),
        proptest::option::of(privacy),
        proptest::option::of(institution()),
    )
        .prop_map(
            |(threshold, measures, grid_fields, privacy, dashboard)| StatisticsConfig {
                threshold,
                measures,
                grid_fields,
                privacy,
                dashboard,
            },
        )
}

fn staff_info_() -> impl Strategy<Value = StaffInfo> {
    (staff_id(), role(), institution(), any::<bool>()).prop_map(
        |(staff, role, institution, revoked)| StaffInfo {
            staff,
            role,
            institution,
            revoked,
        },
    )
}

fn delivery() -> impl Strategy<Value = Vec<Delivery>> {
    vec(
        (institution(), any::<bool>()).prop_map(|(institution, delivered)| Delivery {
            institution,
            delivered,
        }),
        0..3,
    )
}

fn node_status() -> impl Strategy<Value = NodeStatus> {
    (
        (institution(), text(), any::<u64>(), institutions()),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(
                (institution, federation, roster_version, members),
                (log_size, witness_evidence, persons, open_cases, outbox),
                log_halted,
                store_problem,
            )| NodeStatus {
                institution,
                federation,
                roster_version,
                members,
                log_size,
                witness_evidence,
                persons,
                open_cases,
                outbox,
                log_halted,
                store_problem,
            },
        )
}

fn case_info_() -> impl Strategy<Value = CaseInfo> {
    (
        case_id(),
        avs(),
        institution(),
        select(vec![CaseStatus::Open, CaseStatus::Closed]),
        participation(),
        vec((institution(), participation()), 0..3),
    )
        .prop_map(
            |(case_id, person, opened_by, status, my_participation, participants)| CaseInfo {
                case_id,
                person,
                opened_by,
                status,
                my_participation,
                participants,
            },
        )
}

fn consent_info() -> impl Strategy<Value = ConsentInfo> {
    (
        (any::<[u8; 16]>(), institutions(), vec(purpose_(), 0..3)),
        (categories(), any::<u64>(), any::<u64>()),
        (
            proptest::option::of(hash()),
            staff_id(),
            proptest::option::of(any::<u64>()),
        ),
    )
        .prop_map(
            |(
                (consent_id, participants, purposes),
                (categories, valid_from, valid_until),
                (form_digest, recorded_by, revoked_at),
            )| ConsentInfo {
                consent_id: ConsentId(consent_id),
                participants,
                purposes,
                categories,
                valid_from,
                valid_until,
                form_digest,
                recorded_by,
                revoked_at,
            },
        )
}

fn received() -> impl Strategy<Value = ReceivedSummary> {
    (
        (any::<[u8; 16]>(), case_id(), institution(), purpose_()),
        (
            categories(),
            any::<u64>(),
            staff_id(),
            hash(),
            proptest::option::of(any::<u64>()),
        ),
    )
        .prop_map(
            |(
                (summary_id, case_id, source, purpose),
                (categories, received_at, requested_by, sealed_digest, purged_at),
            )| ReceivedSummary {
                summary_id: SummaryId(summary_id),
                case_id,
                source,
                purpose,
                categories,
                received_at,
                requested_by,
                sealed_digest,
                purged_at,
            },
        )
}

fn summary_outcome() -> impl Strategy<Value = SummaryOutcome> {
    prop_oneof![
        received().prop_map(SummaryOutcome::Received),
        refusal_code().prop_map(|code| SummaryOutcome::Refused { code }),
        Just(SummaryOutcome::Queued),
    ]
}

fn staff_reply() -> impl Strategy<Value = StaffReply> {
    use StaffReply as R;
    let evidence = (text(), text(), text(), text(), any::<u64>()).prop_map(
        |(origin, cosigned, offered, problem, seen_at)| WitnessEvidence {
            origin,
            cosigned,
            offered,
            problem,
            seen_at,
        },
    );
    let error_kind = select(vec![
        StaffErrorKind::BadRequest,
        StaffErrorKind::Forbidden,
        StaffErrorKind::Peer,
        StaffErrorKind::Internal,
    ]);
    prop_oneof![
        staff_info_().prop_map(R::Me),
        node_status().prop_map(R::Status),
        Just(R::Done),
        vec(staff_info_(), 0..3).prop_map(R::Staff),
        (any::<u64>(), any::<u64>()).prop_map(|(persons, fields)| R::Imported { persons, fields }),
        any::<u64>().prop_map(|version| R::RosterInstalled { version }),
        (case_id(), delivery())
            .prop_map(|(case_id, delivered)| R::CaseOpened { case_id, delivered }),
        delivery().prop_map(|delivered| R::CaseUpdated { delivered }),
        vec(case_info_(), 0..3).prop_map(R::Cases),
        (
            case_info_(),
            proptest::option::of(text()),
            vec(consent_info(), 0..3),
            institution(),
            vec(referral(), 0..2),
            vec(
                (institution(), any::<u64>())
                    .prop_map(|(source, since)| ChangeNotice { source, since }),
                0..2
            )
        )
            .prop_map(
                |(info, person_name, consents, lead, referrals, newer_summaries)| R::Case(
                    CaseDetail {
                        info,
                        person_name,
                        consents,
                        lead,
                        referrals,
                        newer_summaries
                    }
                )
            ),
        (any::<[u8; 16]>(), delivery()).prop_map(|(c, delivered)| R::ConsentRecorded {
            consent_id: ConsentId(c),
            delivered
        }),
        summary_outcome().prop_map(R::Summary),
        vec(received(), 0..3).prop_map(R::Summaries),
        (received(), summary_()).prop_map(|(info, summary)| R::Opened { info, summary }),
        text().prop_map(|note| R::Checkpoint { note }),
        vec(any::<u8>(), 0..64).prop_map(R::LogData),
        signed_roster_().prop_map(R::Roster),
        vec(evidence, 0..3).prop_map(R::Evidence),
        (error_kind, text()).prop_map(|(kind, message)| R::Error(StaffError { kind, message })),
        stats_report_().prop_map(|r| R::Report(Box::new(r))),
        (month(), any::<u32>(), institution(), hash(), any::<bool>()).prop_map(
            |(month, sequence, dashboard, digest, delivered)| R::StatsSent(
                protocol_spec::staff::StatsSent {
                    month,
                    sequence,
                    dashboard,
                    digest,
                    delivered,
                }
            )
        ),
        (
            text(),
            institution(),
            any::<u64>(),
            vec(
                (month(), vec(signed_stats_report(), 0..2), institutions()),
                0..3
            )
        )
            .prop_map(|(federation, dashboard, generated_at, months)| {
                use protocol_spec::stats::dashboard::*;
                R::Dashboard(Box::new(Dashboard {
                    federation,
                    dashboard,
                    threshold: 5,
                    generated_at,
                    measures: vec![DashboardMeasure {
                        id: "atelier-bois".parse().unwrap(),
                        name: "Atelier bois".into(),
                        provider: "Caritas".into(),
                    }],
                    months: months
                        .into_iter()
                        .map(|(month, signed, missing)| DashboardMonth {
                            month,
                            reports: signed
                                .into_iter()
                                .map(|s| ReceivedReport {
                                    institution: s.report.institution.clone(),
                                    name: "Office".into(),
                                    sequence: s.sequence,
                                    received_at: generated_at,
                                    digest: s.digest(),
                                    report: s.report,
                                })
                                .collect(),
                            missing: missing
                                .into_iter()
                                .map(|institution| ExpectedMember {
                                    institution,
                                    name: "Service".into(),
                                    sector: "social-aid".parse().unwrap(),
                                })
                                .collect(),
                            overlap: None,
                        })
                        .collect(),
                }))
            }),
        (
            month(),
            proptest::option::of(0u8..3),
            vec(
                (
                    hash(),
                    institutions(),
                    any::<u64>(),
                    proptest::sample::select(protocol_spec::stats::RoundState::ALL.to_vec()),
                    proptest::option::of(text()),
                    proptest::option::of(overlap())
                ),
                0..3
            )
        )
            .prop_map(|(month, started, rounds)| {
                use protocol_spec::stats::{OverlapRound, OverlapRounds};
                R::Overlap(Box::new(OverlapRounds {
                    month,
                    started,
                    rounds: rounds
                        .into_iter()
                        .enumerate()
                        .map(|(i, (round, participants, at, state, problem, overlap))| {
                            OverlapRound {
                                month,
                                attempt: i as u8,
                                round,
                                participants: participants.clone(),
                                threshold: 5,
                                started_at: at,
                                expires_at: at / 2,
                                state,
                                sets_received: participants.len() as u32,
                                problem,
                                sizes: vec![],
                                overlap,
                            }
                        })
                        .collect(),
                }))
            }),
    ]
}

/// Postcard and framing round trips, and refusal of a payload one byte longer or shorter.
fn round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let payload = postcard::to_stdvec(value).expect("encodes");
    let back: T = postcard::from_bytes(&payload)
        .map_err(|e| TestCaseError::fail(format!("postcard decode: {e}")))?;
    prop_assert_eq!(&back, value);

    let frame = encode_frame(value).expect("fits in a frame");
    prop_assert_eq!(frame.len(), 6 + payload.len());
    prop_assert_eq!(&frame[..4], &((2 + payload.len()) as u32).to_be_bytes()[..]);
    prop_assert_eq!(&frame[4..6], &[0u8, 1][..]);
    prop_assert_eq!(&frame[6..], &payload[..]);
    let decoded = decode_frame::<T>(&frame);
    prop_assert_eq!(decoded.as_ref(), Ok(value));

    let reframe = |payload: &[u8]| {
        let mut f = ((2 + payload.len()) as u32).to_be_bytes().to_vec();
        f.extend([0, 1]);
        f.extend(payload);
        f
    };
    let mut longer = payload.clone();
    longer.push(0);
    prop_assert_eq!(
        decode_frame::<T>(&reframe(&longer)),
        Err(WireError::Trailing(1))
    );
    let shorter = &payload[..payload.len() - 1];
    prop_assert!(matches!(
        decode_frame::<T>(&reframe(shorter)),
        Err(WireError::Malformed(_))
    ));
    Ok(())
}

proptest! {
    #[test]
    fn signed_summary_request_round_trips(v in signed_summary_request()) {
        round_trip(&v)?;
    }

    #[test]
    fn disclosure_round_trips(v in disclosure_()) {
        round_trip(&v)?;
    }

    #[test]
    fn refusal_round_trips(v in refusal()) {
        round_trip(&v)?;
    }

    #[test]
    fn peer_message_round_trips(v in peer_message()) {
        round_trip(&v)?;
    }

    #[test]
    fn peer_reply_round_trips(v in peer_reply()) {
        round_trip(&v)?;
    }

    #[test]
    fn signed_case_event_round_trips(v in signed_case_event()) {
        round_trip(&v)?;
    }

    #[test]
    fn signed_roster_round_trips(v in signed_roster_()) {
        round_trip(&v)?;
    }

    #[test]
    fn staff_request_round_trips(v in staff_request()) {
        round_trip(&v)?;
    }

    #[test]
    fn staff_reply_round_trips(v in staff_reply()) {
        round_trip(&v)?;
    }

    #[test]
    fn summary_plaintext_round_trips(v in summary_()) {
        round_trip(&v)?;
    }
}
