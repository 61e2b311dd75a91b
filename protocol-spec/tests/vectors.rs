//! Known-answer vectors (`vectors/core.json`).
//!
//! `spec/protocol.md` cites `core.json` by section and field name. The tests below rebuild every
//! message of the fixture federation with this crate and compare each value of the file byte for
//! byte; the file is the reference and these tests never rewrite it. Beyond equality they check
//! what an independent implementation would: signatures verify under the listed keys, the
//! sealed summary opens with the recipient's secret (and with nothing else), the HPKE ephemeral
//! key is `DeriveKeyPair` of the first 32 bytes of the test RNG, postcard bytes decode back to
//! the same message, and the rule gives the listed outcome for each listed request.
//!
//! Each JSON object is read through [`Section`], which fails the test if the object holds a
//! field that no assertion looked at, so the file cannot carry an unchecked value. Every vector
//! is self-contained: it gives its inputs (a frame its message, a log entry its request and
//! person, a decision the sections it reads roster and history from), and the tests derive the
//! expected values from those inputs, not only from the fixture below.
//!
//! Proptest round trips (postcard and framing) of every wire message are in `round_trips.rs`.

use protocol_spec::avs::Avs;
use protocol_spec::case::{
    CaseEvent, CaseEventKind, CaseStatus, Consent, CoordinatedCase, DeclineReason, Participation,
    Referral, SignedCaseEvent,
};
use protocol_spec::category::Category;
use protocol_spec::entry::{self, LogEntry, Value as _};
use protocol_spec::exchange::{
    Disclosure, DisclosureHeader, Refusal, RefusalCode, SignedSummaryRequest, Summary,
    SummaryField, SummaryRequest,
};
use protocol_spec::ids::{
    CaseId, ConsentId, EventId, InstitutionId, Purpose, RequestId, Role, StaffId, SummaryId,
};
use protocol_spec::keys::{self, EncryptionKey, PublicKey, Signature, SigningKey, sha256};
use protocol_spec::peer::{
    InclusionPath, InclusionProof, LeafProof, PeerMessage, PeerReply, ReceiptProofs,
};
use protocol_spec::records::RecordSet;
use protocol_spec::roster::{
    Authorities, Authority, Member, PolicyRule, Retention, Roster, SignedRoster,
};
use protocol_spec::rule;
use protocol_spec::seal::{self, Sealed, SeededRng};
use protocol_spec::staff::{
    CaseDetail, CaseInfo, ConsentDraft, NodeStatus, ReceivedSummary, StaffError, StaffErrorKind,
    StaffInfo, StaffReply, StaffRequest, SummaryOutcome,
};
use protocol_spec::wire::{WireError, decode_frame, encode_frame};
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;

// ------------------------------------------------------------------------------------------
// The fixture federation. A seed written `n` below is the 32 bytes `[n; 32]`.

/// 2026-11-22T00:00:00Z.
const T0: u64 = 1_795_305_600;
const DAY: u64 = 86_400;
const PERSON: &str = "7569217076985";
const RNG_SEED: [u8; 32] = [7; 32];
const SALT: [u8; 32] = [0x55; 32];
const REQUEST_ID: RequestId = RequestId([0x11; 16]);
const UNCONCERNED_REQUEST_ID: RequestId = RequestId([0x12; 16]);
const CASE_ID: CaseId = CaseId([0x22; 16]);
const CONSENT_ID: ConsentId = ConsentId([0x33; 16]);
const UNKNOWN_CASE: CaseId = CaseId([0x99; 16]);
const LIFECYCLE_CASE_ID: CaseId = CaseId([0x23; 16]);
const SUMMARY_ID: SummaryId = SummaryId([0x66; 16]);
const DISCLOSURE_LEAF_INDEX: u64 = 41;
const AUTHORITY_SEEDS: [u8; 3] = [1, 2, 3];
/// The authorities whose signatures the roster vector carries (threshold 2 of 3).
const ROSTER_SIGNERS: [u8; 2] = [1, 3];
const STAFF_SEED: u8 = 16;
const FORM: &[u8] = b"signed consent form, scanned";

/// One member of the fixture federation and the seeds of its four keys.
struct Inst {
    id: &'static str,
    name: &'static str,
    sector: &'static str,
    address: &'static str,
    signing: u8,
    encryption: u8,
    log: u8,
    witness: u8,
    witnesses: &'static [&'static str],
    quorum: u8,
}

const ORP: Inst = Inst {
    id: "ne.orp",
    name: "Office régional de placement",
    sector: "employment",
    address: "127.0.0.1:7101",
    signing: 4,
    encryption: 5,
    log: 6,
    witness: 7,
    witnesses: &["ne.oai"],
    quorum: 1,
};
const OAI: Inst = Inst {
    id: "ne.oai",
    name: "Office de l'assurance-invalidité",
    sector: "disability-insurance",
    address: "127.0.0.1:7102",
    signing: 8,
    encryption: 9,
    log: 10,
    witness: 11,
    witnesses: &["ne.orp"],
    quorum: 1,
};
const SAS: Inst = Inst {
    id: "ne.sas",
    name: "Service de l'action sociale",
    sector: "social-aid",
    address: "sas.ne.example:7103",
    signing: 12,
    encryption: 13,
    log: 14,
    witness: 15,
    witnesses: &[],
    quorum: 0,
};
const MEMBERS: [Inst; 3] = [ORP, OAI, SAS];

fn signing(n: u8) -> SigningKey {
    SigningKey::from_seed([n; 32])
}

fn encryption(n: u8) -> EncryptionKey {
    EncryptionKey::from_secret([n; 32])
}

fn inst(s: &str) -> InstitutionId {
    s.parse().expect("fixture institution id")
}

fn purpose(s: &str) -> Purpose {
    s.parse().expect("fixture purpose")
}

fn staff(s: &str) -> StaffId {
    s.parse().expect("fixture staff id")
}

fn person() -> Avs {
    PERSON.parse().expect("fixture social insurance number")
}

/// Ed25519 seeds of the fixture, with what each key is for, in the order of `keys.ed25519`.
fn ed25519_table() -> Vec<(String, u8)> {
    let mut out: Vec<(String, u8)> = AUTHORITY_SEEDS
        .iter()
        .map(|n| (format!("authority-{n}"), *n))
        .collect();
    for m in &MEMBERS {
        out.push((format!("{} signing", m.id), m.signing));
        out.push((format!("{} log", m.id), m.log));
        out.push((format!("{} witness", m.id), m.witness));
    }
    out.push(("staff carla".into(), STAFF_SEED));
    out
}

/// X25519 secrets of the fixture, in the order of `keys.x25519`.
fn x25519_table() -> Vec<(String, u8)> {
    MEMBERS
        .iter()
        .map(|m| (format!("{} encryption", m.id), m.encryption))
        .collect()
}

fn member(m: &Inst) -> Member {
    Member {
        id: inst(m.id),
        name: m.name.into(),
        sector: m.sector.parse().expect("fixture sector"),
        address: m.address.into(),
        signing_key: signing(m.signing).public(),
        encryption_key: encryption(m.encryption).public(),
        log_key: signing(m.log).public(),
        witness_key: signing(m.witness).public(),
        witnesses: m.witnesses.iter().map(|w| inst(w)).collect(),
        witness_quorum: m.quorum,
    }
}

fn policy(sector: &str, p: &str, categories: &[Category]) -> PolicyRule {
    PolicyRule {
        sector: sector.parse().expect("fixture sector"),
        purpose: purpose(p),
        categories: categories.to_vec(),
    }
}

fn roster() -> Roster {
    use Category::*;
    Roster {
        federation: "ne-cii".into(),
        version: 1,
        issued_at: T0,
        authorities: Authorities {
            threshold: 2,
            keys: AUTHORITY_SEEDS
                .iter()
                .map(|n| Authority {
                    name: format!("authority-{n}"),
                    key: signing(*n).public(),
                })
                .collect(),
        },
        members: MEMBERS.iter().map(member).collect(),
        policy: vec![
            policy(
                "disability-insurance",
                "coordinated-assessment",
                &[Employment, Measures],
            ),
            policy("employment", "action-plan", &[Measures, CaseManagement]),
            policy(
                "social-aid",
                "coordinated-assessment",
                &[Identity, Employment, Benefits],
            ),
        ],
        former_keys: vec![],
        former_log_keys: vec![],
        retention: vec![Retention {
            purpose: purpose("coordinated-assessment"),
            days: 180,
        }],
        statistics: None,
    }
}

fn signed_roster() -> SignedRoster {
    let keys: Vec<SigningKey> = ROSTER_SIGNERS.iter().map(|n| signing(*n)).collect();
    SignedRoster::sign(roster(), &keys.iter().collect::<Vec<_>>())
}

/// The summary request of the vectors: ne.oai asks ne.orp.
fn request() -> SummaryRequest {
    SummaryRequest {
        request_id: REQUEST_ID,
        requester: inst(OAI.id),
        responder: inst(ORP.id),
        case_id: CASE_ID,
        purpose: purpose("coordinated-assessment"),
        categories: vec![Category::Employment, Category::Measures],
        issued_at: T0 + 3600,
    }
}

fn signed_request() -> SignedSummaryRequest {
    request().sign(&signing(OAI.signing))
}

fn consent() -> Consent {
    Consent {
        consent_id: CONSENT_ID,
        case_id: CASE_ID,
        participants: vec![inst(OAI.id), inst(ORP.id)],
        purposes: vec![purpose("coordinated-assessment")],
        categories: vec![Category::Identity, Category::Employment, Category::Measures],
        valid_from: T0,
        valid_until: T0 + 365 * DAY - 1,
        form_digest: Some(sha256(&[FORM])),
        recorded_by: staff("alice"),
        recorded_at: T0 + 900,
    }
}

/// The case history of the vectors, in order, with each event's name and signer seed.
fn case_events() -> Vec<(&'static str, u8, CaseEvent)> {
    let ev = |n: u8, author: &Inst, who: &str, at: u64, kind: CaseEventKind| CaseEvent {
        event_id: EventId([n; 16]),
        case_id: CASE_ID,
        author: inst(author.id),
        staff: staff(who),
        at,
        kind,
    };
    vec![
        (
            "opened",
            ORP.signing,
            ev(
                0x41,
                &ORP,
                "alice",
                T0,
                CaseEventKind::Opened { person: person() },
            ),
        ),
        (
            "invited",
            ORP.signing,
            ev(
                0x42,
                &ORP,
                "alice",
                T0 + 60,
                CaseEventKind::Invited {
                    institution: inst(OAI.id),
                },
            ),
        ),
        (
            "accepted",
            OAI.signing,
            ev(0x43, &OAI, "bruno", T0 + 600, CaseEventKind::Accepted),
        ),
        (
            "consent-recorded",
            ORP.signing,
            ev(
                0x44,
                &ORP,
                "alice",
                T0 + 900,
                CaseEventKind::ConsentRecorded(consent()),
            ),
        ),
        (
            "consent-revoked",
            OAI.signing,
            ev(
                0x45,
                &OAI,
                "bruno",
                T0 + 30 * DAY,
                CaseEventKind::ConsentRevoked {
                    consent_id: CONSENT_ID,
                },
            ),
        ),
        (
            "closed",
            ORP.signing,
            ev(0x46, &ORP, "alice", T0 + 31 * DAY, CaseEventKind::Closed),
        ),
    ]
}

/// A second case (`case_events.lifecycle`): a referral, an invitation declined, the lead handed
/// over, a removal by the new lead, the former lead leaving, and a closing by an institution
/// that is no longer the lead, kept without effect.
fn lifecycle_events() -> Vec<(&'static str, u8, CaseEvent)> {
    let ev = |n: u8, author: &Inst, who: &str, at: u64, kind: CaseEventKind| CaseEvent {
        event_id: EventId([n; 16]),
        case_id: LIFECYCLE_CASE_ID,
        author: inst(author.id),
        staff: staff(who),
        at,
        kind,
    };
    let (orp, oai) = (ORP.signing, OAI.signing);
    vec![
        (
            "opened",
            orp,
            ev(
                0x51,
                &ORP,
                "alice",
                T0,
                CaseEventKind::Opened { person: person() },
            ),
        ),
        (
            "referred",
            orp,
            ev(
                0x52,
                &ORP,
                "alice",
                T0 + 60,
                CaseEventKind::Referred {
                    institution: inst(OAI.id),
                    purpose: purpose("coordinated-assessment"),
                    categories: vec![Category::Identity, Category::Employment],
                },
            ),
        ),
        (
            "invited",
            orp,
            ev(
                0x53,
                &ORP,
                "alice",
                T0 + 120,
                CaseEventKind::Invited {
                    institution: inst(SAS.id),
                },
            ),
        ),
        (
            "accepted",
            oai,
            ev(0x54, &OAI, "bruno", T0 + 600, CaseEventKind::Accepted),
        ),
        (
            "declined",
            SAS.signing,
            ev(
                0x55,
                &SAS,
                "carla",
                T0 + 700,
                CaseEventKind::Declined {
                    reason: DeclineReason::NoCapacity,
                },
            ),
        ),
        (
            "lead-handed-over",
            orp,
            ev(
                0x56,
                &ORP,
                "alice",
                T0 + DAY,
                CaseEventKind::LeadHandedOver { to: inst(OAI.id) },
            ),
        ),
        (
            "invited-again",
            orp,
            ev(
                0x57,
                &ORP,
                "alice",
                T0 + DAY + 60,
                CaseEventKind::Invited {
                    institution: inst(SAS.id),
                },
            ),
        ),
        (
            "removed",
            oai,
            ev(
                0x58,
                &OAI,
                "bruno",
                T0 + 2 * DAY,
                CaseEventKind::Removed {
                    institution: inst(SAS.id),
                },
            ),
        ),
        (
            "left",
            orp,
            ev(0x59, &ORP, "alice", T0 + 3 * DAY, CaseEventKind::Left),
        ),
        (
            "closed-without-effect",
            orp,
            ev(
                0x5a,
                &ORP,
                "alice",
                T0 + 3 * DAY + 60,
                CaseEventKind::Closed,
            ),
        ),
    ]
}

fn signed_events() -> Vec<SignedCaseEvent> {
    case_events()
        .into_iter()
        .map(|(_, seed, e)| e.sign(&signing(seed)))
        .collect()
}

/// The case as ne.orp holds it after the first `n` events of the history.
fn case_after(n: usize) -> CoordinatedCase {
    let r = roster();
    CoordinatedCase::replay(&signed_events()[..n], |id| r.case_event_keys(id))
        .expect("fixture history replays")
}

/// One decision of the rule at ne.orp: the request, how many history events the case has,
/// the time, and the outcome (`Ok` = granted under that consent).
struct Decision {
    name: &'static str,
    request: SummaryRequest,
    events: usize,
    now: u64,
    outcome: Result<ConsentId, RefusalCode>,
}

fn decisions() -> Vec<Decision> {
    use Category::*;
    let at = T0 + 3600;
    let with = |f: &dyn Fn(&mut SummaryRequest)| {
        let mut r = request();
        f(&mut r);
        r
    };
    let d = |name, request, events, now, outcome| Decision {
        name,
        request,
        events,
        now,
        outcome,
    };
    vec![
        d("grant", request(), 4, at, Ok(CONSENT_ID)),
        d(
            "requester-not-in-roster",
            with(&|r| r.requester = inst("ne.smig")),
            4,
            at,
            Err(RefusalCode::NotMember),
        ),
        d(
            "unknown-case",
            with(&|r| r.case_id = UNKNOWN_CASE),
            4,
            at,
            Err(RefusalCode::NotConcerned),
        ),
        d(
            "requester-not-in-case",
            with(&|r| r.requester = inst(SAS.id)),
            4,
            at,
            Err(RefusalCode::NotConcerned),
        ),
        d(
            "requester-invited-not-accepted",
            request(),
            2,
            at,
            Err(RefusalCode::NotConcerned),
        ),
        d(
            "no-consent-yet",
            request(),
            3,
            at,
            Err(RefusalCode::NoConsent),
        ),
        d(
            "before-validity",
            request(),
            4,
            T0 - 1,
            Err(RefusalCode::ConsentNotYetValid),
        ),
        d(
            "after-validity",
            request(),
            4,
            T0 + 365 * DAY,
            Err(RefusalCode::ConsentExpired),
        ),
        d(
            "purpose-outside-consent",
            with(&|r| {
                r.purpose = purpose("action-plan");
                r.categories = vec![Measures];
            }),
            4,
            at,
            Err(RefusalCode::PurposeNotConsented),
        ),
        d(
            "category-outside-consent",
            with(&|r| r.categories = vec![Employment, Health]),
            4,
            at,
            Err(RefusalCode::CategoryNotConsented),
        ),
        d(
            "category-outside-policy",
            with(&|r| r.categories = vec![Identity]),
            4,
            at,
            Err(RefusalCode::PolicyForbids),
        ),
        d(
            "revoked",
            request(),
            5,
            T0 + 30 * DAY + 1,
            Err(RefusalCode::ConsentRevoked),
        ),
        d(
            "closed",
            request(),
            6,
            T0 + 31 * DAY + 1,
            Err(RefusalCode::CaseClosed),
        ),
    ]
}

fn summary() -> Summary {
    let field = |f: &str, v: &str| SummaryField {
        field: f.into(),
        value: v.into(),
    };
    let mut s = Summary::default();
    s.categories.insert(
        Category::Employment,
        vec![
            field("since", "2025-03-01"),
            field("status", "registered job seeker"),
        ],
    );
    s.categories.insert(Category::Measures, vec![]);
    s
}

fn header() -> DisclosureHeader {
    let req = signed_request();
    DisclosureHeader {
        request_digest: req.digest(),
        request_id: req.request.request_id,
        case_id: req.request.case_id,
        source: inst(ORP.id),
        recipient: inst(OAI.id),
        purpose: req.request.purpose.clone(),
        categories: req.request.categories.clone(),
        consent_id: CONSENT_ID,
        disclosed_at: T0 + 3601,
        roster_version: 1,
    }
}

fn disclosure() -> Disclosure {
    Disclosure::build(
        header(),
        &summary(),
        &encryption(OAI.encryption).public(),
        &signing(ORP.signing),
        &mut SeededRng::new(RNG_SEED),
    )
    .expect("fixture disclosure seals")
}

/// ne.orp's log entry for the disclosure, with the fixed salt.
fn disclosure_entry() -> LogEntry {
    let d = disclosure();
    entry::Disclosure {
        time: T0 + 3601,
        case: CASE_ID,
        person: entry::Person::commit(Some(&person()), SALT),
        recipient: inst(OAI.id),
        purpose: "coordinated-assessment".parse().expect("purpose"),
        categories: d.header.categories.clone(),
        consent: CONSENT_ID,
        request: d.header.request_digest,
        summary: d.sealed.digest(),
    }
    .into()
}

/// ne.sas asks ne.orp for the same case, purpose and categories, with its own request id: ne.sas
/// does not participate in the case.
fn unconcerned_request() -> SignedSummaryRequest {
    let mut r = request();
    r.request_id = UNCONCERNED_REQUEST_ID;
    r.requester = inst(SAS.id);
    r.sign(&signing(SAS.signing))
}

/// ne.orp's log entry for refusing ne.sas: the person is not named, even by commitment.
fn refusal_entry() -> LogEntry {
    let r = unconcerned_request();
    entry::Refusal {
        time: T0 + 3600,
        case: CASE_ID,
        person: entry::Person::Unnamed,
        requester: inst(SAS.id),
        purpose: "coordinated-assessment".parse().expect("purpose"),
        categories: r.request.categories.clone(),
        code: RefusalCode::NotConcerned,
        request: r.digest(),
    }
    .into()
}

fn not_concerned() -> PeerReply {
    PeerReply::Refusal(Refusal {
        code: RefusalCode::NotConcerned,
    })
}

/// The complete frames of `frames`, by name.
fn frames() -> Vec<(&'static str, FrameMessage)> {
    vec![
        (
            "peer_message_summary",
            FrameMessage::Peer(PeerMessage::Summary(signed_request())),
        ),
        (
            "peer_reply_refusal_not_concerned",
            FrameMessage::Reply(not_concerned()),
        ),
        (
            "peer_reply_disclosure",
            FrameMessage::Reply(PeerReply::Disclosure {
                disclosure: Box::new(disclosure()),
                leaf_index: DISCLOSURE_LEAF_INDEX,
                leaf_hash: protocol_spec::tlog::leaf_hash(&disclosure_entry().to_bytes()),
            }),
        ),
        (
            "peer_message_case_history",
            FrameMessage::Peer(PeerMessage::CaseHistory {
                case_id: CASE_ID,
                events: signed_events()[..4].to_vec(),
            }),
        ),
        (
            "peer_reply_accepted",
            FrameMessage::Reply(PeerReply::Accepted),
        ),
        (
            "peer_message_roster_version",
            FrameMessage::Peer(PeerMessage::RosterVersion {
                version: signed_roster().roster.version,
                digest: signed_roster().digest(),
            }),
        ),
        (
            "peer_reply_roster_wanted",
            FrameMessage::Reply(PeerReply::RosterWanted),
        ),
        (
            "staff_request_summary_request",
            FrameMessage::Staff(StaffRequest::SummaryRequest {
                case_id: CASE_ID,
                from: inst(ORP.id),
                purpose: purpose("coordinated-assessment"),
                categories: vec![Category::Employment, Category::Measures],
            }),
        ),
        (
            "staff_reply_summary_refused",
            FrameMessage::StaffReply(StaffReply::Summary(SummaryOutcome::Refused {
                code: RefusalCode::NotConcerned,
            })),
        ),
        (
            "staff_reply_error_forbidden",
            FrameMessage::StaffReply(StaffReply::Error(StaffError {
                kind: StaffErrorKind::Forbidden,
                message: "this action needs the case-worker role; carla has the auditor role"
                    .into(),
            })),
        ),
    ]
}

/// A message of one of the four wire types.
enum FrameMessage {
    Peer(PeerMessage),
    Reply(PeerReply),
    Staff(StaffRequest),
    StaffReply(StaffReply),
}

impl FrameMessage {
    fn frame(&self) -> Vec<u8> {
        match self {
            FrameMessage::Peer(m) => encode_frame(m),
            FrameMessage::Reply(m) => encode_frame(m),
            FrameMessage::Staff(m) => encode_frame(m),
            FrameMessage::StaffReply(m) => encode_frame(m),
        }
        .expect("fixture frame encodes")
    }

    /// The message of the same type given by `value`, its JSON text form.
    fn same_type_from_json(&self, value: &Value) -> FrameMessage {
        let v = value.clone();
        match self {
            FrameMessage::Peer(_) => FrameMessage::Peer(serde_json::from_value(v).expect("JSON")),
            FrameMessage::Reply(_) => FrameMessage::Reply(serde_json::from_value(v).expect("JSON")),
            FrameMessage::Staff(_) => FrameMessage::Staff(serde_json::from_value(v).expect("JSON")),
            FrameMessage::StaffReply(_) => {
                FrameMessage::StaffReply(serde_json::from_value(v).expect("JSON"))
            }
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            FrameMessage::Peer(_) => "PeerMessage",
            FrameMessage::Reply(_) => "PeerReply",
            FrameMessage::Staff(_) => "StaffRequest",
            FrameMessage::StaffReply(_) => "StaffReply",
        }
    }

    /// Decodes `frame` as this message's type and checks it is this message.
    fn decodes_from(&self, frame: &[u8]) -> bool {
        match self {
            FrameMessage::Peer(m) => decode_frame::<PeerMessage>(frame).as_ref() == Ok(m),
            FrameMessage::Reply(m) => decode_frame::<PeerReply>(frame).as_ref() == Ok(m),
            FrameMessage::Staff(m) => decode_frame::<StaffRequest>(frame).as_ref() == Ok(m),
            FrameMessage::StaffReply(m) => decode_frame::<StaffReply>(frame).as_ref() == Ok(m),
        }
    }
}

/// The name `frame_errors[].error` gives a decoding error.
fn wire_error_name(e: &WireError) -> &'static str {
    match e {
        WireError::TooLarge { .. } | WireError::MessageTooLarge { .. } => "too-large",
        WireError::Truncated => "truncated",
        WireError::UnsupportedVersion(_) => "unsupported-version",
        WireError::Malformed(_) => "malformed",
        WireError::Trailing(_) => "trailing",
    }
}

// ------------------------------------------------------------------------------------------
// One sample per variant of every enum on the wire, in declaration order. The `match` in each
// function lists every variant, so adding one without a sample (and a line in
// `core.json` `enums`) does not compile.

fn staff_info() -> StaffInfo {
    StaffInfo {
        staff: staff("carla"),
        role: Role::Auditor,
        institution: inst(ORP.id),
        revoked: false,
    }
}

fn case_info() -> CaseInfo {
    CaseInfo {
        case_id: CASE_ID,
        person: person(),
        opened_by: inst(ORP.id),
        status: CaseStatus::Open,
        my_participation: Participation::Accepted,
        participants: vec![(inst(ORP.id), Participation::Accepted)],
    }
}

fn received_summary() -> ReceivedSummary {
    ReceivedSummary {
        summary_id: SUMMARY_ID,
        case_id: CASE_ID,
        source: inst(ORP.id),
        purpose: purpose("coordinated-assessment"),
        categories: vec![Category::Employment],
        received_at: T0,
        requested_by: staff("bruno"),
        sealed_digest: [0xab; 32],
        purged_at: None,
    }
}

fn inclusion_proof() -> InclusionProof {
    InclusionProof {
        request_digest: [1; 32],
        leaf_index: 3,
        leaf_hash: [2; 32],
        checkpoint: String::new(),
        proof: vec![],
    }
}

fn peer_message_samples() -> Vec<PeerMessage> {
    let all = vec![
        PeerMessage::Summary(signed_request()),
        PeerMessage::CaseHistory {
            case_id: CASE_ID,
            events: vec![],
        },
        PeerMessage::Roster(signed_roster().into()),
        PeerMessage::AddCheckpoint(String::new()),
        PeerMessage::LogTile("checkpoint".into()),
        PeerMessage::ProveInclusion { index: 0 },
        PeerMessage::ReceiptProof(inclusion_proof()),
        PeerMessage::ChangeNotice { case_id: CASE_ID },
        PeerMessage::StatsReport(Box::new(protocol_spec::stats::SignedStatsReport::sign(
            stats_report(),
            1,
            &signing(STAFF_SEED),
        ))),
        PeerMessage::ProveInclusions {
            indices: vec![3, 5],
        },
        PeerMessage::ReceiptProofs(Box::new(ReceiptProofs {
            checkpoint: String::new(),
            leaves: vec![],
        })),
        PeerMessage::PsiStart(Box::new(psi_round().sign(&signing(STAFF_SEED)))),
        PeerMessage::PsiSet(Box::new(
            protocol_spec::stats::psi::PsiSet {
                round: psi_round().id(),
                origin: inst(ORP.id),
                hop: 1,
                sender: inst(ORP.id),
                set: protocol_spec::stats::psi::BlindedSet { elements: vec![] },
            }
            .sign(&signing(STAFF_SEED)),
        )),
        PeerMessage::PsiOutcome(Box::new(
            protocol_spec::stats::psi::PsiOutcome {
                round: psi_round().id(),
                sizes: vec![],
                overlap: None,
            }
            .sign(&signing(STAFF_SEED)),
        )),
        PeerMessage::RosterVersion {
            version: 1,
            digest: signed_roster().digest(),
        },
    ];
    for m in &all {
        match m {
            PeerMessage::Summary(_)
            | PeerMessage::CaseHistory { .. }
            | PeerMessage::Roster(_)
            | PeerMessage::AddCheckpoint(_)
            | PeerMessage::LogTile(_)
            | PeerMessage::ProveInclusion { .. }
            | PeerMessage::ReceiptProof(_)
            | PeerMessage::ChangeNotice { .. }
            | PeerMessage::StatsReport(_)
            | PeerMessage::ProveInclusions { .. }
            | PeerMessage::ReceiptProofs(_) => {}
            PeerMessage::PsiStart(_) | PeerMessage::PsiSet(_) | PeerMessage::PsiOutcome(_) => {}
            PeerMessage::RosterVersion { .. } => {}
        }
    }
    all
}

/// A round of the example's three sectors, for samples.
fn psi_round() -> protocol_spec::stats::psi::PsiRound {
    protocol_spec::stats::psi::PsiRound {
        federation: "ne-cii".into(),
        month: "2026-11".parse().expect("month"),
        roster_version: 1,
        attempt: 0,
        dashboard: inst("ne.cii"),
        participants: vec![inst(ORP.id), inst(OAI.id)],
        threshold: 5,
        expires_at: T0,
    }
}

fn peer_reply_samples() -> Vec<PeerReply> {
    let all = vec![
        PeerReply::Disclosure {
            disclosure: Box::new(disclosure()),
            leaf_index: 0,
            leaf_hash: [0; 32],
        },
        not_concerned(),
        PeerReply::Accepted,
        PeerReply::Rejected {
            reason: String::new(),
        },
        PeerReply::Cosigned(String::new()),
        PeerReply::WitnessRefused {
            status: 409,
            latest: Some(3),
            reason: String::new(),
        },
        PeerReply::LogData(vec![]),
        PeerReply::Inclusion {
            checkpoint: String::new(),
            proof: vec![],
        },
        PeerReply::Inclusions {
            checkpoint: String::new(),
            proofs: vec![],
        },
        PeerReply::RosterWanted,
    ];
    for r in &all {
        match r {
            PeerReply::Disclosure { .. }
            | PeerReply::Refusal(_)
            | PeerReply::Accepted
            | PeerReply::Rejected { .. }
            | PeerReply::Cosigned(_)
            | PeerReply::WitnessRefused { .. }
            | PeerReply::LogData(_)
            | PeerReply::Inclusion { .. }
            | PeerReply::Inclusions { .. }
            | PeerReply::RosterWanted => {}
        }
    }
    all
}

fn staff_request_samples() -> Vec<StaffRequest> {
    use StaffRequest::*;
    let all = vec![
        WhoAmI,
        Status,
        StaffIssue {
            staff: staff("carla"),
            role: Role::Auditor,
            key: signing(STAFF_SEED).public(),
        },
        StaffRevoke {
            staff: staff("carla"),
        },
        StaffList,
        ImportRecords(RecordSet::default()),
        InstallRoster(signed_roster()),
        CaseOpen {
            person: person(),
            invite: vec![inst(OAI.id)],
        },
        CaseInvite {
            case_id: CASE_ID,
            institution: inst(OAI.id),
        },
        CaseAccept { case_id: CASE_ID },
        CaseClose { case_id: CASE_ID },
        CaseList,
        CaseShow { case_id: CASE_ID },
        ConsentRecord(ConsentDraft {
            case_id: CASE_ID,
            participants: vec![inst(OAI.id), inst(ORP.id)],
            purposes: vec![purpose("coordinated-assessment")],
            categories: vec![Category::Employment],
            valid_from: T0,
            valid_until: T0 + DAY - 1,
            form_digest: None,
        }),
        ConsentRevoke {
            case_id: CASE_ID,
            consent_id: CONSENT_ID,
        },
        SummaryRequest {
            case_id: CASE_ID,
            from: inst(ORP.id),
            purpose: purpose("coordinated-assessment"),
            categories: vec![Category::Employment],
        },
        SummaryList,
        SummaryOpen {
            summary_id: SUMMARY_ID,
        },
        LogCheckpoint,
        LogTile {
            path: "tile/0/000.p/1".into(),
        },
        Roster,
        WitnessEvidence,
        CaseLeave { case_id: CASE_ID },
        RequestList,
        Queue,
        CaseDecline {
            case_id: CASE_ID,
            reason: DeclineReason::NotCompetent,
        },
        CaseRemove {
            case_id: CASE_ID,
            institution: inst(SAS.id),
        },
        CaseHandOver {
            case_id: CASE_ID,
            to: inst(OAI.id),
        },
        CaseRefer {
            case_id: CASE_ID,
            institution: inst(OAI.id),
            purpose: purpose("coordinated-assessment"),
            categories: vec![Category::Identity],
        },
        SummaryPurge {
            summary_id: SUMMARY_ID,
        },
        CaseNotify { case_id: CASE_ID },
        ConsentReplace {
            replaces: CONSENT_ID,
            draft: ConsentDraft {
                case_id: CASE_ID,
                participants: vec![inst(OAI.id), inst(ORP.id)],
                purposes: vec![purpose("coordinated-assessment")],
                categories: vec![Category::Employment],
                valid_from: T0,
                valid_until: T0 + DAY,
                form_digest: None,
            },
        },
        ImportPlacements(protocol_spec::stats::PlacementSet::default()),
        StatsReport {
            month: "2026-11".parse().expect("month"),
        },
        StatsSend {
            month: "2026-11".parse().expect("month"),
            correction: false,
        },
        StatsDashboard {
            months: 12,
            until: None,
        },
        StatsOverlap {
            month: "2026-11".parse().expect("month"),
            again: false,
        },
    ];
    for r in &all {
        match r {
            WhoAmI
            | Status
            | StaffIssue { .. }
            | StaffRevoke { .. }
            | StaffList
            | ImportRecords(_)
            | InstallRoster(_)
            | CaseOpen { .. }
            | CaseInvite { .. }
            | CaseAccept { .. }
            | CaseClose { .. }
            | CaseLeave { .. }
            | RequestList
            | Queue
            | CaseDecline { .. }
            | CaseRemove { .. }
            | CaseHandOver { .. }
            | CaseRefer { .. }
            | SummaryPurge { .. }
            | CaseNotify { .. }
            | ConsentReplace { .. }
            | CaseList
            | CaseShow { .. }
            | ConsentRecord(_)
            | ConsentRevoke { .. }
            | SummaryRequest { .. }
            | SummaryList
            | SummaryOpen { .. }
            | StatsSend { .. }
            | StatsDashboard { .. }
            | StatsOverlap { .. }
            | LogCheckpoint
            | LogTile { .. }
            | Roster
            | WitnessEvidence
            | ImportPlacements(_)
            | StatsReport { .. } => {}
        }
    }
    all
}

fn staff_reply_samples() -> Vec<StaffReply> {
    use StaffReply::*;
    let all = vec![
        Me(staff_info()),
        Status(NodeStatus {
            institution: inst(ORP.id),
            federation: "ne-cii".into(),
            roster_version: 1,
            members: vec![],
            log_size: 0,
            witness_evidence: 0,
            persons: 0,
            open_cases: 0,
            outbox: 0,
            log_halted: None,
            store_problem: None,
        }),
        Done,
        Staff(vec![]),
        Imported {
            persons: 0,
            fields: 0,
        },
        RosterInstalled { version: 2 },
        CaseOpened {
            case_id: CASE_ID,
            delivered: vec![],
        },
        CaseUpdated { delivered: vec![] },
        Cases(vec![]),
        Case(CaseDetail {
            info: case_info(),
            person_name: None,
            consents: vec![],
            lead: inst(ORP.id),
            referrals: vec![],
            newer_summaries: vec![],
        }),
        ConsentRecorded {
            consent_id: CONSENT_ID,
            delivered: vec![],
        },
        Summary(SummaryOutcome::Queued),
        Summaries(vec![]),
        Opened {
            info: received_summary(),
            summary: protocol_spec::exchange::Summary::default(),
        },
        Checkpoint {
            note: String::new(),
        },
        LogData(vec![]),
        Roster(signed_roster()),
        Evidence(vec![]),
        Error(StaffError {
            kind: StaffErrorKind::Internal,
            message: String::new(),
        }),
        Requests(vec![protocol_spec::staff::RequestInfo {
            request_id: REQUEST_ID,
            case_id: CASE_ID,
            responder: inst(ORP.id),
            purpose: purpose("coordinated-assessment"),
            categories: vec![Category::Employment],
            requested_by: staff("carla"),
            state: protocol_spec::staff::RequestState::Pending,
            outcome: None,
            summary_id: None,
            created_at: T0,
            updated_at: T0,
        }]),
        Queue(vec![protocol_spec::staff::QueueItem {
            recipient: inst(ORP.id),
            kind: "summary-request".into(),
            subject: Some(hex::encode(REQUEST_ID.0)),
            staff: Some(staff("carla")),
            since: T0,
            attempts: 1,
            next_attempt: T0 + 2,
            last_problem: Some("unreachable".into()),
        }]),
        PlacementsImported { placements: 3 },
        Report(Box::new(stats_report())),
        StatsSent(protocol_spec::staff::StatsSent {
            month: "2026-11".parse().expect("month"),
            sequence: 1,
            dashboard: inst(OAI.id),
            digest: [7; 32],
            delivered: true,
        }),
        Dashboard(Box::new(protocol_spec::stats::Dashboard {
            federation: "ne-cii".into(),
            dashboard: inst(OAI.id),
            threshold: 5,
            generated_at: T0,
            measures: vec![],
            months: vec![],
        })),
        Overlap(Box::new(protocol_spec::stats::OverlapRounds {
            month: "2026-11".parse().expect("month"),
            started: None,
            rounds: vec![],
        })),
    ];
    for r in &all {
        match r {
            Me(_)
            | Status(_)
            | Done
            | Staff(_)
            | Imported { .. }
            | RosterInstalled { .. }
            | CaseOpened { .. }
            | CaseUpdated { .. }
            | Cases(_)
            | Case(_)
            | ConsentRecorded { .. }
            | Summary(_)
            | Summaries(_)
            | Opened { .. }
            | Checkpoint { .. }
            | LogData(_)
            | Roster(_)
            | Evidence(_)
            | Error(_)
            | Requests(_)
            | Queue(_)
            | PlacementsImported { .. }
            | Report(_)
            | StatsSent(_)
            | Dashboard(_)
            | Overlap(_) => {}
        }
    }
    all
}

/// A small report: one measure, exact figures.
fn stats_report() -> protocol_spec::stats::StatsReport {
    use protocol_spec::stats::report::*;
    let config = protocol_spec::stats::StatisticsConfig {
        threshold: 5,
        measures: vec![protocol_spec::stats::Measure {
            id: "atelier-bois".parse().expect("measure id"),
            name: "Atelier bois".into(),
            provider: "Caritas".into(),
            places: vec![],
            cost_per_place_month: 0,
        }],
        grid_fields: vec![],
        privacy: None,
        dashboard: None,
    };
    let counts = MonthCounts {
        measures: vec![MeasureCounts {
            participants: 12,
            ..MeasureCounts::default()
        }],
        ..MonthCounts::default()
    };
    let header = ReportHeader {
        federation: "ne-cii".into(),
        institution: inst(ORP.id),
        sector: "employment".parse().expect("sector"),
        month: "2026-11".parse().expect("month"),
        roster_version: 1,
        computed_at: T0,
    };
    build_report(header, &config, &counts, None, &mut SeededRng::new([0; 32]))
}

fn lifecycle_kind(name: &str) -> CaseEventKind {
    lifecycle_events()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, e)| e.kind)
        .expect("lifecycle event")
}

fn decline_reason_samples() -> Vec<DeclineReason> {
    let all = DeclineReason::ALL.to_vec();
    for r in &all {
        match r {
            DeclineReason::NotCompetent
            | DeclineReason::NoCapacity
            | DeclineReason::PersonDeclined
            | DeclineReason::AlreadyFollowed
            | DeclineReason::Other => {}
        }
    }
    all
}

fn case_event_kind_samples() -> Vec<CaseEventKind> {
    // The fixture history in declaration order, with `Left`, which it lacks, in its place.
    let kind = |name: &str| {
        case_events()
            .into_iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, e)| e.kind)
            .expect("fixture event")
    };
    let all = vec![
        kind("opened"),
        kind("invited"),
        kind("accepted"),
        CaseEventKind::Left,
        kind("closed"),
        kind("consent-recorded"),
        kind("consent-revoked"),
        lifecycle_kind("declined"),
        lifecycle_kind("removed"),
        lifecycle_kind("lead-handed-over"),
        lifecycle_kind("referred"),
    ];
    for k in &all {
        match k {
            CaseEventKind::Opened { .. }
            | CaseEventKind::Invited { .. }
            | CaseEventKind::Accepted
            | CaseEventKind::Left
            | CaseEventKind::Closed
            | CaseEventKind::ConsentRecorded(_)
            | CaseEventKind::ConsentRevoked { .. }
            | CaseEventKind::Declined { .. }
            | CaseEventKind::Removed { .. }
            | CaseEventKind::LeadHandedOver { .. }
            | CaseEventKind::Referred { .. } => {}
        }
    }
    all
}

fn summary_outcome_samples() -> Vec<SummaryOutcome> {
    let all = vec![
        SummaryOutcome::Received(received_summary()),
        SummaryOutcome::Refused {
            code: RefusalCode::NotConcerned,
        },
        SummaryOutcome::Queued,
    ];
    for o in &all {
        match o {
            SummaryOutcome::Received(_)
            | SummaryOutcome::Refused { .. }
            | SummaryOutcome::Queued => {}
        }
    }
    all
}

fn role_samples() -> Vec<Role> {
    let all = vec![
        Role::CaseWorker,
        Role::Auditor,
        Role::Admin,
        Role::Coordinator,
    ];
    for r in &all {
        match r {
            Role::CaseWorker | Role::Auditor | Role::Admin | Role::Coordinator => {}
        }
    }
    all
}

fn error_kind_samples() -> Vec<StaffErrorKind> {
    let all = vec![
        StaffErrorKind::BadRequest,
        StaffErrorKind::Forbidden,
        StaffErrorKind::Peer,
        StaffErrorKind::Internal,
        StaffErrorKind::Pending,
    ];
    for k in &all {
        match k {
            StaffErrorKind::BadRequest
            | StaffErrorKind::Forbidden
            | StaffErrorKind::Peer
            | StaffErrorKind::Internal
            | StaffErrorKind::Pending => {}
        }
    }
    all
}

fn participation_samples() -> Vec<Participation> {
    let all = vec![
        Participation::Invited,
        Participation::Accepted,
        Participation::Left,
        Participation::Declined,
        Participation::Removed,
    ];
    for p in &all {
        match p {
            Participation::Invited
            | Participation::Accepted
            | Participation::Left
            | Participation::Declined
            | Participation::Removed => {}
        }
    }
    all
}

fn case_status_samples() -> Vec<CaseStatus> {
    let all = vec![CaseStatus::Open, CaseStatus::Closed];
    for s in &all {
        match s {
            CaseStatus::Open | CaseStatus::Closed => {}
        }
    }
    all
}

fn refusal_code_samples() -> Vec<RefusalCode> {
    for c in RefusalCode::ALL {
        match c {
            RefusalCode::NotConcerned
            | RefusalCode::CaseClosed
            | RefusalCode::NoConsent
            | RefusalCode::ConsentRevoked
            | RefusalCode::ConsentNotYetValid
            | RefusalCode::ConsentExpired
            | RefusalCode::PurposeNotConsented
            | RefusalCode::CategoryNotConsented
            | RefusalCode::PolicyForbids
            | RefusalCode::StaleRequest
            | RefusalCode::ReplayedRequest
            | RefusalCode::BadSignature
            | RefusalCode::NotMember
            | RefusalCode::WrongResponder
            | RefusalCode::Malformed
            | RefusalCode::Unavailable => {}
        }
    }
    RefusalCode::ALL.to_vec()
}

/// One sample per variant of an enum, in declaration order: its postcard bytes and serde name.
type Variants = Vec<(Vec<u8>, String)>;

/// Every wire enum, by its name in `core.json` `enums`.
fn enum_samples() -> Vec<(&'static str, Variants)> {
    fn each<T: Serialize>(samples: Vec<T>) -> Variants {
        samples
            .iter()
            .map(|s| {
                let bytes = postcard::to_stdvec(s).expect("sample encodes");
                let name = match serde_json::to_value(s).expect("sample has a JSON form") {
                    Value::String(n) => n,
                    Value::Object(m) => m.keys().next().expect("variant key").clone(),
                    other => panic!("not an enum: {other}"),
                };
                (bytes, name)
            })
            .collect()
    }
    vec![
        ("Category", each(Category::ALL.to_vec())),
        ("RefusalCode", each(refusal_code_samples())),
        ("Role", each(role_samples())),
        ("Participation", each(participation_samples())),
        ("DeclineReason", each(decline_reason_samples())),
        ("CaseStatus", each(case_status_samples())),
        ("CaseEventKind", each(case_event_kind_samples())),
        ("PeerMessage", each(peer_message_samples())),
        ("PeerReply", each(peer_reply_samples())),
        ("StaffRequest", each(staff_request_samples())),
        ("StaffReply", each(staff_reply_samples())),
        ("SummaryOutcome", each(summary_outcome_samples())),
        ("StaffErrorKind", each(error_kind_samples())),
    ]
}

// ------------------------------------------------------------------------------------------
// Reading core.json.

const CORE_JSON: &str = include_str!("../vectors/core.json");

fn core_file() -> Value {
    serde_json::from_str(CORE_JSON).expect("vectors/core.json is JSON")
}

/// A JSON object of `core.json` under test. Every key must have been read when it is dropped.
struct Section<'a> {
    path: String,
    value: &'a Value,
    read: RefCell<BTreeSet<String>>,
}

impl<'a> Section<'a> {
    fn new(path: impl Into<String>, value: &'a Value) -> Self {
        let path = path.into();
        assert!(value.is_object(), "core.json {path} is not an object");
        Section {
            path,
            value,
            read: RefCell::new(BTreeSet::new()),
        }
    }

    fn get(&self, key: &str) -> &'a Value {
        self.read.borrow_mut().insert(key.to_string());
        self.value
            .get(key)
            .unwrap_or_else(|| panic!("core.json {}.{key} is missing", self.path))
    }

    fn str(&self, key: &str) -> &'a str {
        self.get(key)
            .as_str()
            .unwrap_or_else(|| panic!("core.json {}.{key} is not a string", self.path))
    }

    fn u64(&self, key: &str) -> u64 {
        self.get(key)
            .as_u64()
            .unwrap_or_else(|| panic!("core.json {}.{key} is not an integer", self.path))
    }

    fn bytes(&self, key: &str) -> Vec<u8> {
        hex::decode(self.str(key))
            .unwrap_or_else(|_| panic!("core.json {}.{key} is not hex", self.path))
    }

    fn array<const N: usize>(&self, key: &str) -> [u8; N] {
        self.bytes(key)
            .try_into()
            .unwrap_or_else(|_| panic!("core.json {}.{key} is not {N} bytes", self.path))
    }

    fn sub(&self, key: &str) -> Section<'a> {
        Section::new(format!("{}.{key}", self.path), self.get(key))
    }

    fn items(&self, key: &str) -> Vec<Section<'a>> {
        self.get(key)
            .as_array()
            .unwrap_or_else(|| panic!("core.json {}.{key} is not an array", self.path))
            .iter()
            .enumerate()
            .map(|(i, v)| Section::new(format!("{}.{key}[{i}]", self.path), v))
            .collect()
    }

    /// Asserts that `key` holds exactly `expected`, as lowercase hex.
    fn hex_eq(&self, key: &str, expected: &[u8]) {
        assert_eq!(
            self.str(key),
            hex::encode(expected),
            "core.json {}.{key} differs from what the crate computes",
            self.path
        );
    }

    /// Asserts that `key` holds the crate's JSON text form of `expected`.
    fn json_eq<T: Serialize>(&self, key: &str, expected: &T) {
        assert_eq!(
            self.get(key),
            &serde_json::to_value(expected).expect("JSON form"),
            "core.json {}.{key} is not the JSON form of the fixture",
            self.path
        );
    }

    /// Marks an explanatory string as read.
    fn note(&self, key: &str) {
        assert!(!self.str(key).is_empty());
    }
}

impl Drop for Section<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let read = self.read.borrow();
        let unread: Vec<&String> = self
            .value
            .as_object()
            .expect("object")
            .keys()
            .filter(|k| !read.contains(*k))
            .collect();
        assert!(
            unread.is_empty(),
            "core.json {}: no assertion covers {unread:?}",
            self.path
        );
    }
}

fn top<'a>(file: &'a Value, key: &str) -> Section<'a> {
    Section::new(
        key,
        file.get(key)
            .unwrap_or_else(|| panic!("core.json has no `{key}` section")),
    )
}

fn seed_of(section: &Section<'_>, key: &str) -> SigningKey {
    SigningKey::from_seed(section.array(key))
}

// ------------------------------------------------------------------------------------------
// Known-answer tests.

const SECTIONS: &[&str] = &[
    "description",
    "conventions",
    "keys",
    "key_files",
    "ed25519_strict",
    "varints",
    "decoding",
    "enums",
    "refusal_codes",
    "roster",
    "endorsement",
    "summary_request",
    "case_events",
    "case_lifecycle",
    "decisions",
    "disclosure",
    "log_entries",
    "person_commitment",
    "frames",
    "frame_errors",
    "frame_sequences",
];

#[test]
fn every_section_is_tested() {
    let file = core_file();
    let keys: Vec<&str> = file
        .as_object()
        .expect("core.json is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = SECTIONS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "core.json sections");
    let description = file["description"].as_str().expect("description");
    assert!(description.contains("spec/protocol.md"));
    let conventions = Section::new("conventions", &file["conventions"]);
    for key in ["bytes", "seeds", "json", "times"] {
        conventions.note(key);
    }
}

#[test]
fn keys_derive_from_their_seeds() {
    let file = core_file();
    let keys = top(&file, "keys");
    let ed = keys.items("ed25519");
    assert_eq!(ed.len(), ed25519_table().len());
    for (item, (use_, n)) in ed.iter().zip(ed25519_table()) {
        assert_eq!(item.str("use"), use_);
        item.hex_eq("seed", &[n; 32]);
        item.hex_eq("public", &signing(n).public().0);
        // A key file holds the header line and the base64 seed.
        let file_text = seed_of(item, "seed").to_file();
        assert!(file_text.starts_with(SigningKey::FILE_HEADER));
    }
    let x = keys.items("x25519");
    assert_eq!(x.len(), x25519_table().len());
    for (item, (use_, n)) in x.iter().zip(x25519_table()) {
        assert_eq!(item.str("use"), use_);
        item.hex_eq("secret", &[n; 32]);
        let public = EncryptionKey::from_secret(item.array("secret")).public();
        item.hex_eq("public", &public.0);
        assert_eq!(public, keys::x25519_public(&[n; 32]));
    }
}

#[test]
fn key_file_vectors() {
    let file = core_file();
    let s = top(&file, "key_files");
    s.note("note");
    let mut refused = 0;
    for item in s.items("cases") {
        item.note("name");
        item.note("why");
        let text = item.str("text");
        let read: Option<[u8; 32]> = match item.str("kind") {
            "signing" => SigningKey::from_file(text).ok().map(|k| *k.seed()),
            "encryption" => EncryptionKey::from_file(text).ok().map(|k| *k.secret()),
            other => panic!("{}: unknown kind {other}", item.path),
        };
        match item.str("outcome") {
            "refused" => {
                refused += 1;
                assert_eq!(read, None, "{} must be refused", item.path);
            }
            _ => {
                let bytes: [u8; 32] = item.array("outcome");
                assert_eq!(read, Some(bytes), "{}", item.path);
            }
        }
    }
    assert!(refused > 0);
    // Writers write the first form exactly.
    let written = SigningKey::from_seed([4; 32]).to_file();
    assert_eq!(
        written.as_str(),
        file["key_files"]["cases"][0]["text"].as_str().unwrap()
    );
    let written = EncryptionKey::from_secret([5; 32]).to_file();
    assert_eq!(
        written.as_str(),
        file["key_files"]["cases"][1]["text"].as_str().unwrap()
    );
}

#[test]
fn strict_ed25519_vectors() {
    use ed25519_dalek::Verifier;
    let file = core_file();
    let s = top(&file, "ed25519_strict");
    s.note("note");
    let mut outcomes = BTreeSet::new();
    for item in s.items("cases") {
        item.note("name");
        item.note("why");
        let public = PublicKey(item.array("public"));
        let message = item.bytes("message");
        let signature = Signature(item.array("signature"));
        let accept = |key: &str| match item.str(key) {
            "accept" => true,
            "reject" => false,
            other => panic!("{}.{key}: {other}", item.path),
        };
        let expected = accept("expected");
        assert_eq!(
            public.verify(&message, &signature),
            expected,
            "{}: the node's verification",
            item.path
        );
        // The same answer from the library the reference builds on, and the answer without
        // the small-order checks, which the vector states too.
        let dalek_sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public.0);
        let strict = key
            .as_ref()
            .is_ok_and(|k| k.verify_strict(&message, &dalek_sig).is_ok());
        assert_eq!(strict, expected, "{}: verify_strict", item.path);
        let lax = key.is_ok_and(|k| k.verify(&message, &dalek_sig).is_ok());
        assert_eq!(
            lax,
            accept("without_small_order_checks"),
            "{}: verify without the small-order checks",
            item.path
        );
        outcomes.insert((expected, lax));
    }
    // Some cases are rejected only by the small-order checks, and a mixed-order key can sign.
    assert!(outcomes.contains(&(false, true)) && outcomes.contains(&(true, true)));
    let small: Vec<String> = s
        .get("small_order_points")
        .as_array()
        .expect("small_order_points is a list")
        .iter()
        .map(|v| v.as_str().expect("hex").to_string())
        .collect();
    assert_eq!(small.len(), 8);
    for point in &small {
        let bytes: [u8; 32] = hex::decode(point)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).expect("decodes");
        assert!(key.is_weak(), "{point} has small order");
        assert_eq!(
            key.to_edwards().compress().to_bytes(),
            bytes,
            "{point} is canonical"
        );
    }
}

#[test]
fn varints_are_leb128() {
    let file = core_file();
    let v = top(&file, "varints");
    v.note("note");
    for item in v.items("u64") {
        let n = item.u64("value");
        let bytes = postcard::to_stdvec(&n).expect("u64 encodes");
        item.hex_eq("postcard", &bytes);
        assert_eq!(postcard::from_bytes::<u64>(&bytes), Ok(n));
    }
    for item in v.items("u16") {
        let n = u16::try_from(item.u64("value")).expect("u16 value");
        item.hex_eq("postcard", &postcard::to_stdvec(&n).expect("u16 encodes"));
    }
    for item in v.items("u8") {
        let n = u8::try_from(item.u64("value")).expect("u8 value");
        item.hex_eq("postcard", &postcard::to_stdvec(&n).expect("u8 encodes"));
    }
}

/// Decodes `payload` as `T` (all of it), checks the value against its JSON text form and that
/// re-encoding gives `canonical`; or checks that decoding fails.
fn decoding_case<T>(item: &Section<'_>)
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let payload = item.bytes("payload");
    let decoded = postcard::take_from_bytes::<T>(&payload)
        .ok()
        .filter(|(_, rest)| rest.is_empty())
        .map(|(v, _)| v);
    match item.str("outcome") {
        "ok" => {
            let value: T = serde_json::from_value(item.get("value").clone())
                .unwrap_or_else(|e| panic!("{}.value: {e}", item.path));
            assert_eq!(decoded.as_ref(), Some(&value), "{} decodes", item.path);
            let canonical = if item.value.get("canonical").is_some() {
                item.bytes("canonical")
            } else {
                payload.clone()
            };
            assert_eq!(
                postcard::to_stdvec(&value).expect("encodes"),
                canonical,
                "{} re-encodes to its canonical form",
                item.path
            );
        }
        "malformed" => assert!(decoded.is_none(), "{} must be refused", item.path),
        other => panic!("{}: unknown outcome {other}", item.path),
    }
}

#[test]
fn decoding_vectors() {
    let file = core_file();
    let d = top(&file, "decoding");
    d.note("note");
    let mut types = BTreeSet::new();
    for item in d.items("cases") {
        item.note("why");
        let ty = item.str("type");
        types.insert(ty.to_string());
        match ty {
            "u16" => decoding_case::<u16>(&item),
            "u32" => decoding_case::<u32>(&item),
            "u64" => decoding_case::<u64>(&item),
            "bool" => decoding_case::<bool>(&item),
            "String" => decoding_case::<String>(&item),
            "PeerReply" => decoding_case::<PeerReply>(&item),
            "StaffRequest" => decoding_case::<StaffRequest>(&item),
            "Summary" => decoding_case::<Summary>(&item),
            other => panic!("{}: unknown type {other}", item.path),
        }
    }
    assert_eq!(types.len(), 8, "every listed type has cases");
    // A frame carries the same payloads: a refused one is `malformed` there too.
    let frame = [0, 0, 0, 8, 0, 1, 0x82, 0x80, 0x80, 0x80, 0x80, 0];
    assert!(matches!(
        decode_frame::<PeerReply>(&frame),
        Err(WireError::Malformed(_))
    ));
}

#[test]
fn enum_variant_indices() {
    let file = core_file();
    let enums = top(&file, "enums");
    let all = enum_samples();
    for (name, samples) in &all {
        let listed: Vec<String> = enums
            .get(name)
            .as_array()
            .unwrap_or_else(|| panic!("core.json enums.{name} is not an array"))
            .iter()
            .map(|v| v.as_str().expect("variant name").to_string())
            .collect();
        let names: Vec<String> = samples.iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(listed, names, "enums.{name}: variant names in wire order");
        for n in &names {
            // Spec §2, text forms: every variant name is kebab-case, in JSON as in tool output.
            assert!(
                !n.is_empty()
                    && !n.starts_with('-')
                    && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "enums.{name}: `{n}` is not kebab-case"
            );
        }
        for (index, (bytes, variant)) in samples.iter().enumerate() {
            // Every index is below 128, so its varint is the one byte.
            assert_eq!(
                bytes[0] as usize, index,
                "{name}::{variant} is not variant {index} on the wire"
            );
        }
    }
    let object = enums.value.as_object().expect("object");
    assert_eq!(
        object.len(),
        all.len(),
        "enums lists exactly the wire enums"
    );
}

/// The names tools print (`as_str`) are the JSON names: one text form per value.
#[test]
fn printed_names_are_the_json_names() {
    fn same<T: Serialize>(values: Vec<T>, printed: impl Fn(&T) -> &'static str) {
        for v in &values {
            assert_eq!(
                serde_json::to_value(v).expect("JSON form"),
                Value::String(printed(v).to_string())
            );
        }
    }
    same(Category::ALL.to_vec(), |c| c.as_str());
    same(refusal_code_samples(), |c| c.as_str());
    same(role_samples(), |r| r.as_str());
    same(participation_samples(), |p| p.as_str());
    same(decline_reason_samples(), |r| r.as_str());
    same(case_status_samples(), |s| s.as_str());
    same(error_kind_samples(), |k| k.as_str());
}

/// Spec §2, text forms: keys and signatures are base64 strings and every other byte string is
/// a hex string, never a list of numbers, in every message (here: one of each variant, with
/// the fixture's disclosure, proofs and tile data filled in).
#[test]
fn text_forms_write_bytes_as_strings() {
    fn no_number_lists(path: &str, v: &Value) {
        match v {
            // Leaf indices are numbers, not bytes.
            Value::Array(_) if path.ends_with(".indices") => {}
            Value::Array(items) => {
                assert!(
                    !items.iter().any(Value::is_number),
                    "{path} is a list of numbers"
                );
                for (i, item) in items.iter().enumerate() {
                    no_number_lists(&format!("{path}[{i}]"), item);
                }
            }
            Value::Object(m) => m
                .iter()
                .for_each(|(k, item)| no_number_lists(&format!("{path}.{k}"), item)),
            _ => {}
        }
    }
    fn check<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        samples: Vec<T>,
    ) {
        for sample in samples {
            let v = serde_json::to_value(&sample).expect("JSON form");
            no_number_lists("", &v);
            let back: T = serde_json::from_value(v).expect("JSON form reads back");
            assert_eq!(back, sample);
        }
    }
    let proof = InclusionProof {
        checkpoint: "checkpoint".into(),
        proof: vec![[3; 32], [4; 32]],
        ..inclusion_proof()
    };
    let mut peer = peer_message_samples();
    peer.push(PeerMessage::ReceiptProof(proof.clone()));
    peer.push(PeerMessage::ReceiptProofs(Box::new(ReceiptProofs {
        checkpoint: proof.checkpoint,
        leaves: vec![LeafProof {
            request_digest: proof.request_digest,
            leaf_index: proof.leaf_index,
            leaf_hash: proof.leaf_hash,
            proof: proof.proof,
        }],
    })));
    check(peer);
    let mut replies = peer_reply_samples();
    replies.push(PeerReply::LogData(vec![1, 2, 3]));
    replies.push(PeerReply::Inclusion {
        checkpoint: String::new(),
        proof: vec![[5; 32]],
    });
    replies.push(PeerReply::Inclusions {
        checkpoint: String::new(),
        proofs: vec![InclusionPath(vec![[5; 32]]), InclusionPath(vec![])],
    });
    check(replies);
    check(staff_request_samples());
    let mut staff = staff_reply_samples();
    staff.push(StaffReply::LogData(vec![1, 2, 3]));
    check(staff);
    let d = serde_json::to_value(disclosure()).expect("JSON form");
    assert_eq!(d["sealed"]["enc"], hex::encode(disclosure().sealed.enc));
    assert_eq!(
        d["header"]["request_digest"],
        hex::encode(signed_request().digest())
    );
}

const SPEC: &str = include_str!("../spec/protocol.md");

/// Spec §2: the text name of a variant is its definition name in kebab-case.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The variants of `enum_name` as protocol.md defines them (`Name = A … 0 | B … 1`, over one
/// or several lines), with their indices.
fn spec_enum(enum_name: &str) -> Vec<(usize, String)> {
    let mut lines = SPEC.lines().skip_while(|l| {
        !(l.starts_with(enum_name) && l[enum_name.len()..].trim_start().starts_with('='))
    });
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("spec defines {enum_name}"));
    let mut text = first.split_once('=').expect("=").1.to_string();
    for l in lines.take_while(|l| l.trim_start().starts_with('|')) {
        text.push_str(l);
    }
    text.split('|')
        .map(|part| {
            let part = part.trim();
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            let index = part
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{enum_name}: no index in `{part}`"));
            (index, name)
        })
        .collect()
}

/// Rows `| index | `name` | …` of the table that follows `heading` in protocol.md.
fn spec_table(heading: &str) -> Vec<(usize, String)> {
    SPEC.lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let index = cells.next()?.parse().ok()?;
            let name = cells.next()?.trim_matches('`');
            let name = name.split([' ', '(']).next()?.to_string();
            Some((index, name))
        })
        .collect()
}

/// One text form everywhere: the names protocol.md gives every wire enum's variants, turned
/// into kebab-case where the spec writes definition names, are the JSON names the code
/// writes, at the same indices.
#[test]
fn the_spec_names_every_variant_as_the_code_does() {
    let code: std::collections::BTreeMap<&str, Vec<String>> = enum_samples()
        .into_iter()
        .map(|(name, samples)| (name, samples.into_iter().map(|(_, n)| n).collect()))
        .collect();
    let check = |what: &str, spec: Vec<(usize, String)>, kebab_case: bool| {
        let names: Vec<String> = spec
            .iter()
            .enumerate()
            .map(|(i, (index, name))| {
                assert_eq!(*index, i, "{what}: `{name}` has index {index} in the spec");
                if kebab_case {
                    kebab(name)
                } else {
                    name.clone()
                }
            })
            .collect();
        assert_eq!(&names, &code[what], "{what} in protocol.md");
    };
    for e in [
        "CaseEventKind",
        "PeerMessage",
        "PeerReply",
        "StaffReply",
        "CaseStatus",
        "Participation",
        "DeclineReason",
        "SummaryOutcome",
        "StaffErrorKind",
    ] {
        check(e, spec_enum(e), true);
    }
    check("StaffRequest", spec_table("### 10.1 Requests"), true);
    check("RefusalCode", spec_table("## 12. Refusal codes"), false);
    let categories: Vec<(usize, String)> = {
        let mut rows: Vec<(usize, String)> = SPEC
            .lines()
            .skip_while(|l| !l.starts_with("  | index | name |"))
            .take_while(|l| l.starts_with("  |"))
            .flat_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                [(1, 2), (4, 5)]
                    .into_iter()
                    .filter_map(|(i, n)| {
                        Some((
                            cells.get(i)?.parse().ok()?,
                            cells.get(n)?.trim_matches('`').into(),
                        ))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        rows.sort();
        rows
    };
    check("Category", categories, false);
    assert!(
        SPEC.contains(
            "| `Role` | enum | `case-worker` 0, `auditor` 1, `admin` 2, `coordinator` 3 |"
        )
    );
    assert_eq!(
        code["Role"],
        ["case-worker", "auditor", "admin", "coordinator"]
    );
}

#[test]
fn refusal_codes_table() {
    let file = core_file();
    let table = top(&file, "refusal_codes");
    let codes = table.items("codes");
    assert_eq!(codes.len(), RefusalCode::ALL.len());
    for (item, code) in codes.iter().zip(RefusalCode::ALL) {
        let index = item.u64("index");
        assert_eq!(
            postcard::to_stdvec(&Refusal { code }).expect("refusal encodes"),
            vec![index as u8]
        );
        assert_eq!(item.str("name"), code.as_str());
        assert_eq!(item.str("meaning"), code.explain());
    }
}

#[test]
fn roster_vector() {
    let file = core_file();
    let r = top(&file, "roster");
    let signed = signed_roster();
    r.json_eq("roster", &signed.roster);
    let from_json: Roster =
        serde_json::from_value(r.get("roster").clone()).expect("roster JSON decodes");
    assert_eq!(from_json, signed.roster);
    let input = signed.roster.signing_input();
    assert!(input.starts_with(b"passerelle/v1 roster\n"));
    r.hex_eq("signing_input", &input);
    r.hex_eq("digest", &sha256(&[&input]));
    assert_eq!(signed.digest(), sha256(&[&input]));
    let sigs = r.items("signatures");
    assert_eq!(sigs.len(), ROSTER_SIGNERS.len());
    for ((item, n), s) in sigs.iter().zip(ROSTER_SIGNERS).zip(&signed.signatures) {
        let key = seed_of(item, "authority_seed");
        assert_eq!(key.public(), signing(n).public());
        assert_eq!(s.authority, key.public());
        item.hex_eq("signature", &s.signature.0);
        assert!(
            key.public()
                .verify(&input, &Signature(item.array("signature")))
        );
    }
    let bytes = postcard::to_stdvec(&signed).expect("signed roster encodes");
    r.hex_eq("signed_postcard", &bytes);
    assert_eq!(
        postcard::from_bytes::<SignedRoster>(&bytes),
        Ok(signed.clone())
    );
    // Valid under its own authorities with 2 of 3 signatures, not with one.
    signed
        .verify(&signed.roster.authorities)
        .expect("2 of 3 verify");
    let one = SignedRoster::sign(roster(), &[&signing(1)]);
    assert!(one.verify(&signed.roster.authorities).is_err());
}

#[test]
fn endorsement_vector() {
    use protocol_spec::endorsement::{self, KeyEndorsement};
    let file = core_file();
    let e = top(&file, "endorsement");
    assert!(e.str("note").contains("§4.4"));
    let (old, new) = (seed_of(&e, "old_seed"), seed_of(&e, "new_seed"));
    let link = KeyEndorsement::sign(&old, new.public());
    let input = KeyEndorsement::signing_input(&old.public(), &new.public());
    assert!(input.starts_with(b"passerelle/v1 node-key endorsement\n"));
    e.hex_eq("signing_input", &input);
    e.hex_eq("signature", &link.signature.0);
    assert!(old.public().verify(&input, &link.signature));
    let chain = vec![link];
    let bytes = postcard::to_stdvec(&chain).expect("chain encodes");
    e.hex_eq("postcard", &bytes);
    assert_eq!(
        postcard::from_bytes::<Vec<KeyEndorsement>>(&bytes).expect("chain decodes"),
        chain
    );
    assert!(endorsement::follows(&chain, &old.public(), &new.public()));
    assert!(!endorsement::follows(&chain, &new.public(), &old.public()));
}

#[test]
fn summary_request_vector() {
    let file = core_file();
    let s = top(&file, "summary_request");
    let req = signed_request();
    s.json_eq("request", &req.request);
    let signer = seed_of(&s, "signer_seed");
    assert_eq!(signer.public(), signing(OAI.signing).public());
    let input = req.request.signing_input();
    assert!(input.starts_with(b"passerelle/v1 summary-request\n"));
    s.hex_eq("signing_input", &input);
    s.hex_eq("signature", &req.signature.0);
    assert!(
        signer
            .public()
            .verify(&s.bytes("signing_input"), &Signature(s.array("signature")))
    );
    s.hex_eq("digest", &req.digest());
    assert_eq!(s.array::<32>("digest"), sha256(&[&input]));
    let bytes = postcard::to_stdvec(&req).expect("request encodes");
    s.hex_eq("signed_postcard", &bytes);
    assert_eq!(
        postcard::from_bytes::<SignedSummaryRequest>(&bytes),
        Ok(req.clone())
    );
    assert!(req.request.is_well_formed());
}

#[test]
fn case_event_vectors() {
    let file = core_file();
    let c = top(&file, "case_events");
    let items = c.items("events");
    let fixture = case_events();
    assert_eq!(items.len(), fixture.len());
    for (item, (name, seed, event)) in items.iter().zip(fixture) {
        assert_eq!(item.str("name"), name);
        item.json_eq("event", &event);
        let signer = seed_of(item, "signer_seed");
        assert_eq!(signer.public(), signing(seed).public());
        let input = event.signing_input();
        assert!(input.starts_with(b"passerelle/v1 case-event\n"));
        item.hex_eq("signing_input", &input);
        let signed = event.sign(&signer);
        item.hex_eq("signature", &signed.signature.0);
        assert!(signed.verify(&signer.public()));
        let bytes = postcard::to_stdvec(&signed).expect("event encodes");
        item.hex_eq("signed_postcard", &bytes);
        assert_eq!(postcard::from_bytes::<SignedCaseEvent>(&bytes), Ok(signed));
    }
    // The whole history replays; each prefix is the state the decisions use.
    let case = case_after(6);
    assert_eq!(case.status, CaseStatus::Closed);
    assert!(case.is_participant(&inst(OAI.id)));
    assert_eq!(case.consents[0].1, Some(T0 + 30 * DAY));
}

#[test]
fn case_lifecycle_vectors() {
    let file = core_file();
    let c = top(&file, "case_lifecycle");
    c.note("note");
    let items = c.items("events");
    let fixture = lifecycle_events();
    assert_eq!(items.len(), fixture.len());
    let mut history = Vec::new();
    let mut names = Vec::new();
    for (item, (name, seed, event)) in items.iter().zip(fixture) {
        assert_eq!(item.str("name"), name);
        names.push(name);
        item.json_eq("event", &event);
        let signer = seed_of(item, "signer_seed");
        assert_eq!(signer.public(), signing(seed).public());
        item.hex_eq("signing_input", &event.signing_input());
        let signed = event.sign(&signer);
        item.hex_eq("signature", &signed.signature.0);
        let bytes = postcard::to_stdvec(&signed).expect("event encodes");
        item.hex_eq("signed_postcard", &bytes);
        assert_eq!(postcard::from_bytes::<SignedCaseEvent>(&bytes), Ok(signed));
        history.push(
            postcard::from_bytes::<SignedCaseEvent>(&item.bytes("signed_postcard"))
                .expect("decodes"),
        );
    }
    // The state every node computes from these events, in any order of arrival.
    let r = roster();
    let case = CoordinatedCase::replay(&history, |id| r.case_event_keys(id)).expect("replays");
    let mut reversed = history[1..].to_vec();
    reversed.reverse();
    reversed.insert(0, history[0].clone());
    let again = CoordinatedCase::replay(&reversed, |id| r.case_event_keys(id)).expect("replays");
    assert_eq!(case, again);
    let state = c.sub("state");
    assert_eq!(state.str("status"), case.status.as_str());
    assert_eq!(
        case.status,
        CaseStatus::Open,
        "the closing by a former lead has no effect"
    );
    assert_eq!(state.str("lead"), case.lead.as_str());
    assert_eq!(case.lead, inst(OAI.id));
    let participants: Vec<(InstitutionId, Participation)> =
        case.participants.clone().into_iter().collect();
    state.json_eq("participants", &participants);
    assert_eq!(
        participants,
        vec![
            (inst(OAI.id), Participation::Accepted),
            (inst(ORP.id), Participation::Left),
            (inst(SAS.id), Participation::Removed),
        ]
    );
    state.json_eq("referrals", &case.referrals);
    assert_eq!(
        case.referrals,
        vec![Referral {
            by: inst(ORP.id),
            institution: inst(OAI.id),
            purpose: purpose("coordinated-assessment"),
            categories: vec![Category::Identity, Category::Employment],
            event_id: EventId([0x52; 16]),
        }]
    );
    // What the removed institution is sent: the history up to its removal.
    let told = case.history_until_removal(&inst(SAS.id)).expect("removed");
    assert_eq!(
        state.u64("removed_institution_is_sent_events") as usize,
        told.len()
    );
    assert_eq!(
        told.last().map(|e| e.event.event_id),
        Some(EventId([0x58; 16]))
    );
    // ne.sas, removed, offers what it held before its removal and its acceptance of the second
    // invitation, dated a day after the last event: the history sent back to it ends at its
    // removal, whatever time it gave its own event (§6.4, the cut).
    let back = state.sub("sent_back");
    back.note("note");
    // An event of ne.sas's own, dated a day after the last event, as the vector gives it.
    let own_event = |section: &Section, id: u8, kind: CaseEventKind| {
        let event = CaseEvent {
            event_id: EventId([id; 16]),
            case_id: LIFECYCLE_CASE_ID,
            author: inst(SAS.id),
            staff: staff("carla"),
            at: T0 + 4 * DAY + 60,
            kind,
        };
        section.json_eq("event", &event);
        assert_eq!(
            seed_of(section, "signer_seed").public(),
            signing(SAS.signing).public()
        );
        section.hex_eq("signing_input", &event.signing_input());
        let signed = event.sign(&signing(SAS.signing));
        section.hex_eq("signature", &signed.signature.0);
        section.hex_eq(
            "signed_postcard",
            &postcard::to_stdvec(&signed).expect("encodes"),
        );
        signed
    };
    let signed = own_event(&back.sub("offered_event"), 0x5b, CaseEventKind::Accepted);
    let held = back.u64("offered_events_of_the_history") as usize;
    let offered = [&history[..held], &[signed]].concat();
    assert!(
        CoordinatedCase::replay(&offered, |id| r.case_event_keys(id))
            .expect("replays")
            .is_participant(&inst(SAS.id)),
        "ne.sas counts itself in"
    );
    let mut merged = case.clone();
    merged
        .merge(&offered, |id| r.case_event_keys(id))
        .expect("merges");
    let cut = merged
        .cut_to_put_out(&offered, &inst(SAS.id))
        .expect("a cut");
    back.hex_eq("cut_event_id", &cut.1);
    assert_eq!(cut.1, [0x58; 16], "the removal");
    let sent = merged.sent_back(&offered, &inst(SAS.id)).expect("sent");
    assert_eq!(back.u64("sent_events") as usize, sent.len());
    assert!(
        CoordinatedCase::replay(&sent, |id| r.case_event_keys(id))
            .expect("replays")
            .is_out(&inst(SAS.id)),
        "addressed to ne.sas alone, and telling it that it is out"
    );
    // ne.sas, removed, offers the same events but ne.oai's acceptance, and its decline of the
    // second invitation: it counts itself out, declined, where it is removed here. What is
    // sent back ends at the removal, after which its decline is without effect: it learns
    // that it is removed. The first event it lacks, the acceptance, settles nothing.
    let settle = state.sub("sent_back_to_settle");
    settle.note("note");
    let decline = own_event(
        &settle.sub("offered_event"),
        0x5c,
        CaseEventKind::Declined {
            reason: DeclineReason::NoCapacity,
        },
    );
    let listed: Vec<String> = settle
        .get("offered_history_events")
        .as_array()
        .expect("names")
        .iter()
        .map(|n| n.as_str().expect("a name").to_string())
        .collect();
    let mut offered: Vec<SignedCaseEvent> = names
        .iter()
        .zip(&history)
        .filter(|(n, _)| listed.iter().any(|l| l == *n))
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(offered.len(), listed.len(), "every name is an event's");
    let first_lacked = history
        .iter()
        .find(|e| !offered.contains(e))
        .expect("it lacks events");
    settle.hex_eq("first_lacked_event_id", &first_lacked.event.event_id.0);
    offered.push(decline);
    assert_eq!(
        CoordinatedCase::replay(&offered, |id| r.case_event_keys(id))
            .expect("replays")
            .participants
            .get(&inst(SAS.id)),
        Some(&Participation::Declined),
        "ne.sas counts itself out, declined"
    );
    let mut merged = case.clone();
    merged
        .merge(&offered, |id| r.case_event_keys(id))
        .expect("merges");
    let cut = merged
        .cut_to_settle(&offered, &inst(SAS.id))
        .expect("a cut");
    settle.hex_eq("cut_event_id", &cut.1);
    assert_eq!(cut.1, [0x58; 16], "the removal");
    let sent = merged
        .sent_back_to_settle(&offered, &inst(SAS.id))
        .expect("sent");
    assert_eq!(settle.u64("sent_events") as usize, sent.len());
    assert_eq!(
        CoordinatedCase::replay(&sent, |id| r.case_event_keys(id))
            .expect("replays")
            .participants
            .get(&inst(SAS.id)),
        Some(&Participation::Removed),
        "telling ne.sas that it is removed"
    );
}

#[test]
fn decision_vectors() {
    let file = core_file();
    let d = top(&file, "decisions");
    d.note("note");
    assert_eq!(d.str("responder"), ORP.id);
    let responder = inst(d.str("responder"));
    // The inputs, taken from the sections the vector names, not from the fixture.
    assert_eq!(d.str("roster"), "roster.signed_postcard");
    // Other sections are read here as plain JSON: their own tests check every field.
    let hex_at = |v: &Value| hex::decode(v.as_str().expect("hex string")).expect("hex");
    let signed: SignedRoster =
        postcard::from_bytes(&hex_at(&file["roster"]["signed_postcard"])).expect("roster");
    assert_eq!(d.str("history"), "case_events.events[*].signed_postcard");
    let history: Vec<SignedCaseEvent> = file["case_events"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| postcard::from_bytes(&hex_at(&e["signed_postcard"])).expect("event"))
        .collect();
    assert_eq!(history, signed_events());
    let r = &signed.roster;
    let items = d.items("cases");
    let fixture = decisions();
    assert_eq!(items.len(), fixture.len());
    for (item, dec) in items.iter().zip(fixture) {
        assert_eq!(item.str("name"), dec.name);
        item.json_eq("request", &dec.request);
        let request: SummaryRequest =
            serde_json::from_value(item.get("request").clone()).expect("request JSON");
        let events = item.u64("history_events") as usize;
        assert_eq!(events, dec.events);
        let now = item.u64("now");
        assert_eq!(now, dec.now);
        let case = CoordinatedCase::replay(&history[..events], |id| r.case_event_keys(id))
            .expect("the history replays");
        let found = (case.case_id == request.case_id).then_some(&case);
        let outcome = rule::decide(r, &responder, &request, found, now);
        match (&outcome, dec.outcome) {
            (Ok(grant), Ok(consent)) => {
                assert_eq!(item.str("outcome"), "grant");
                assert_eq!(grant.consent_id, consent);
                assert_eq!(item.str("consent_id"), consent.to_string());
                assert_eq!(grant.categories, request.categories);
            }
            (Err(code), Err(expected)) => {
                assert_eq!(*code, expected, "{}", dec.name);
                assert_eq!(item.str("outcome"), code.as_str(), "{}", dec.name);
            }
            _ => panic!("{}: rule gave {outcome:?}", dec.name),
        }
    }
}

#[test]
fn disclosure_vector() {
    let file = core_file();
    let s = top(&file, "disclosure");
    let d = disclosure();
    let req = signed_request();

    s.json_eq("summary", &summary());
    let plaintext = postcard::to_stdvec(&summary()).expect("summary encodes");
    s.hex_eq("summary_plaintext", &plaintext);
    s.json_eq("header", &d.header);
    let aad = d.header.aad();
    s.hex_eq("aad", &aad);
    assert_eq!(
        s.bytes("aad")[..32],
        req.digest(),
        "aad starts with the request digest"
    );

    // HPKE: recipient key, ephemeral key from the seeded RNG, sealed bytes.
    let secret: [u8; 32] = s.array("recipient_secret");
    assert_eq!(secret, [OAI.encryption; 32]);
    let recipient = EncryptionKey::from_secret(secret);
    s.hex_eq("recipient_public", &recipient.public().0);
    assert_eq!(
        recipient.public(),
        roster().member(&inst(OAI.id)).unwrap().encryption_key
    );
    s.hex_eq("info", seal::HPKE_INFO);
    let rng_seed: [u8; 32] = s.array("rng_seed");
    assert_eq!(rng_seed, RNG_SEED);
    let mut rng = SeededRng::new(rng_seed);
    let mut ikm = [0u8; 32];
    protocol_spec::seal::hpke_rng::TryRng::try_fill_bytes(&mut rng, &mut ikm).expect("infallible");
    assert_eq!(ikm, sha256(&[&rng_seed, &0u64.to_be_bytes()]));
    s.hex_eq("ephemeral_ikm", &ikm);
    let (_, ephemeral) = <hpke::kem::X25519HkdfSha256 as hpke::Kem>::derive_keypair(&ikm);
    let enc: [u8; 32] = s.array("enc");
    assert_eq!(hpke::Serializable::to_bytes(&ephemeral).as_slice(), enc);
    s.hex_eq("enc", &d.sealed.enc);
    s.hex_eq("ciphertext", &d.sealed.ciphertext);
    let sealed = Sealed {
        enc,
        ciphertext: s.bytes("ciphertext"),
    };
    assert_eq!(sealed.ciphertext.len(), plaintext.len() + 16);
    // Reproduce the seal with the seeded RNG, and open it with the recipient's secret only.
    let again = seal::seal(
        &recipient.public(),
        &aad,
        &plaintext,
        &mut SeededRng::new(rng_seed),
    )
    .expect("seals");
    assert_eq!(again, sealed);
    assert_eq!(seal::open(&recipient, &sealed, &aad), Ok(plaintext.clone()));
    assert!(seal::open(&encryption(SAS.encryption), &sealed, &aad).is_err());
    let mut other_aad = aad.clone();
    *other_aad.last_mut().unwrap() ^= 1;
    assert!(seal::open(&recipient, &sealed, &other_aad).is_err());
    s.hex_eq("sealed_digest", &sealed.digest());
    assert_eq!(sealed.digest(), sha256(&[&sealed.enc, &sealed.ciphertext]));

    // Signature over context || header || sealed digest, by ne.orp.
    let signer = seed_of(&s, "signer_seed");
    assert_eq!(signer.public(), signing(ORP.signing).public());
    let input = Disclosure::signing_input(&d.header, &sealed);
    let mut by_hand = b"passerelle/v1 disclosure\n".to_vec();
    by_hand.extend(&aad);
    by_hand.extend(sealed.digest());
    assert_eq!(input, by_hand);
    s.hex_eq("signing_input", &input);
    s.hex_eq("signature", &d.signature.0);
    assert!(
        signer
            .public()
            .verify(&input, &Signature(s.array("signature")))
    );

    // The complete message decodes, verifies against the request, and opens.
    let bytes = postcard::to_stdvec(&d).expect("disclosure encodes");
    s.hex_eq("postcard", &bytes);
    let back: Disclosure = postcard::from_bytes(&s.bytes("postcard")).expect("decodes");
    back.verify(&req, &signer.public()).expect("verifies");
    assert_eq!(back.open(&recipient), Ok(summary()));
    assert!(back.open(&encryption(SAS.encryption)).is_err());
}

#[test]
fn log_entry_vectors() {
    let file = core_file();
    let s = top(&file, "log_entries");
    s.note("note");
    let fixtures = [
        ("disclosure", request(), disclosure_entry()),
        (
            "refusal-not-concerned",
            unconcerned_request().request,
            refusal_entry(),
        ),
    ];
    let items = s.items("entries");
    assert_eq!(items.len(), fixtures.len());
    for (item, (name, fixture_request, e)) in items.iter().zip(fixtures) {
        assert_eq!(item.str("name"), name);
        assert_eq!(item.str("written_by"), ORP.id);
        let bytes = e.to_bytes();
        assert_eq!(
            item.str("text"),
            std::str::from_utf8(&bytes).expect("UTF-8")
        );
        item.hex_eq("leaf_hash", &protocol_spec::tlog::leaf_hash(&bytes));
        let parsed = LogEntry::parse(item.str("text").as_bytes()).expect("entry parses");
        assert_eq!(parsed, e);

        // The entry's values come from the inputs the vector gives, and from nothing else.
        let request: SummaryRequest =
            serde_json::from_value(item.get("request").clone()).expect("request JSON");
        assert_eq!(request, fixture_request);
        let text = item.str("text");
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key} ")))
                .unwrap_or_else(|| panic!("{}: no `{key}` line", item.path))
                .to_string()
        };
        assert_eq!(
            value("request"),
            hex::encode(sha256(&[&request.signing_input()]))
        );
        assert_eq!(value("case"), request.case_id.to_string());
        assert_eq!(value("purpose"), request.purpose.to_string());
        assert_eq!(
            value("categories"),
            entry::categories_text(&request.categories)
        );
        match item.get("person") {
            Value::Null => assert_eq!(value("person"), "-"),
            _ => {
                let p = item.sub("person");
                let avs: Avs = p.str("avs").parse().expect("number");
                assert_eq!(
                    value("person"),
                    entry::Person::commit(Some(&avs), p.array("salt")).encode()
                );
            }
        }
        match name {
            "disclosure" => {
                assert_eq!(value("recipient"), request.requester.to_string());
                item.hex_eq("sealed_digest", &disclosure().sealed.digest());
                assert_eq!(value("summary"), item.str("sealed_digest"));
            }
            _ => {
                assert_eq!(value("requester"), request.requester.to_string());
                assert_eq!(value("code"), RefusalCode::NotConcerned.as_str());
            }
        }
    }
}

#[test]
fn person_commitment_vector() {
    let file = core_file();
    let s = top(&file, "person_commitment");
    let avs: Avs = s.str("avs").parse().expect("valid number");
    assert_eq!(avs, person());
    let salt: [u8; 32] = s.array("salt");
    assert_eq!(salt, SALT);
    let commitment = avs.commitment(&salt);
    s.hex_eq("commitment", &commitment);
    let mut by_hand = b"passerelle/v1 person-commitment\n".to_vec();
    by_hand.extend(salt);
    by_hand.extend(PERSON.as_bytes());
    assert_eq!(commitment, sha256(&[&by_hand]));
    assert_eq!(
        s.str("entry_field"),
        entry::Person::commit(Some(&avs), salt).encode()
    );
}

#[test]
fn frame_vectors() {
    let file = core_file();
    let s = top(&file, "frames");
    for (name, message) in frames() {
        let f = s.sub(name);
        assert_eq!(f.str("type"), message.type_name(), "frames.{name}.type");
        // The message is given in its JSON text form: it alone makes the frame.
        let from_json = message.same_type_from_json(f.get("message"));
        assert_eq!(
            from_json.frame(),
            message.frame(),
            "frames.{name}.message is the framed message"
        );
        let frame = message.frame();
        f.hex_eq("frame", &frame);
        let bytes = f.bytes("frame");
        assert_eq!(
            u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len() - 4
        );
        assert_eq!(bytes[4..6], [0, 1]);
        assert!(message.decodes_from(&bytes), "frames.{name} decodes");
    }
    assert_eq!(
        s.value.as_object().unwrap().len(),
        frames().len(),
        "frames lists exactly the fixture frames"
    );
    // The uniform refusal is eight fixed bytes whatever the request was.
    assert_eq!(
        encode_frame(&not_concerned()).unwrap(),
        [0, 0, 0, 4, 0, 1, 1, 0]
    );
}

#[test]
fn frame_sequence_vectors() {
    let file = core_file();
    let s = top(&file, "frame_sequences");
    s.note("note");
    for item in s.items("cases") {
        item.note("why");
        let bytes = item.bytes("bytes");
        let decoded = protocol_spec::wire::decode_message::<PeerReply>(&bytes);
        if item.value.get("error").is_some() {
            let err = decoded.expect_err("sequence must be refused");
            assert_eq!(item.str("error"), wire_error_name(&err), "{}", item.path);
        } else {
            let expected: PeerReply =
                serde_json::from_value(item.get("message").clone()).expect("message JSON");
            assert_eq!(
                decoded.expect("sequence decodes"),
                expected,
                "{}",
                item.path
            );
            // Frames counted as a receiver reads them.
            let mut r = protocol_spec::wire::Reassembly::new(protocol_spec::wire::MAX_MESSAGE_LEN);
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                r.push(&rest[4..4 + len]).expect("part");
                rest = &rest[4 + len..];
            }
            assert_eq!(r.frames() as u64, item.u64("frames"), "{}", item.path);
        }
    }
}

#[test]
fn frame_error_vectors() {
    let file = core_file();
    let s = top(&file, "frame_errors");
    s.note("note");
    for item in s.items("cases") {
        item.note("why");
        let frame = item.bytes("frame");
        let err = decode_frame::<PeerReply>(&frame).expect_err("frame must be refused");
        assert_eq!(item.str("error"), wire_error_name(&err), "{}", item.path);
    }
}

/// The kind the node's log and metrics name a staff request by is its JSON name, for every
/// request.
#[test]
fn staff_request_kinds_are_their_json_names() {
    for r in staff_request_samples() {
        let name = match serde_json::to_value(&r).expect("JSON form") {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(o) => o.keys().next().expect("the variant").clone(),
            other => panic!("{other}"),
        };
        assert_eq!(r.kind(), name);
    }
}
