//! End-to-end: three real nodes on loopback; the rule of DESIGN §2 enforced at the source.

use protocol_spec::category::Category::{self, *};
use protocol_spec::exchange::{Refusal, RefusalCode, SummaryRequest};
use protocol_spec::ids::CaseId;
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::{StaffReply, StaffRequest, SummaryOutcome};
use tests::*;

const ASSESS: &str = "coordinated-assessment";

fn refused(o: &SummaryOutcome) -> RefusalCode {
    match o {
        SummaryOutcome::Refused { code } => *code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn oai_orp_case(s: &Setup, categories: &[Category], valid: (u64, u64)) -> CaseId {
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &[ASSESS],
        categories,
        valid,
    )
    .await;
    case
}

fn valid_now() -> (u64, u64) {
    (now() - DAY, now() + 30 * DAY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_exchange_opens_to_exactly_the_consented_categories() {
    let s = Setup::new().await;
    let case = oai_orp_case(&s, &[Employment, Measures], valid_now()).await;
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment, Measures], case)
        .await;
    let SummaryOutcome::Received(info) = o else {
        panic!("expected a summary, got {o:?}")
    };
    assert_eq!(info.categories, vec![Employment, Measures]);

    let opened = call(
        &s.node("ne.oai").worker,
        StaffRequest::SummaryOpen {
            summary_id: info.summary_id,
        },
    )
    .await
    .unwrap();
    let StaffReply::Opened { summary, .. } = opened else {
        panic!("{opened:?}")
    };
    let cats: Vec<Category> = summary.categories.keys().copied().collect();
    assert_eq!(
        cats,
        vec![Employment, Measures],
        "exactly the consented categories"
    );
    assert!(
        summary.categories.values().all(|f| !f.is_empty()),
        "the example records have fields in both"
    );
    // ne.orp also holds identity and benefits data about this person; none of it travelled.
    let all_values: Vec<&str> = summary
        .categories
        .values()
        .flatten()
        .map(|f| f.field.as_str())
        .collect();
    assert!(
        !all_values.iter().any(|f| f.contains("name")),
        "no identity fields: {all_values:?}"
    );

    // The listing shows the summary, still sealed.
    let list = call(&s.node("ne.oai").worker, StaffRequest::SummaryList)
        .await
        .unwrap();
    let StaffReply::Summaries(list) = list else {
        panic!()
    };
    assert_eq!(list.len(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_their_reason() {
    let s = Setup::new().await;
    let case = oai_orp_case(&s, &[Employment, Measures], valid_now()).await;

    // Category outside the consent.
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment, Health], case)
        .await;
    assert_eq!(refused(&o), RefusalCode::CategoryNotConsented);
    // Purpose outside the consent.
    let o = s
        .request("ne.oai", "ne.orp", "action-plan", &[Measures], case)
        .await;
    assert_eq!(refused(&o), RefusalCode::PurposeNotConsented);

    // A participant not covered by any consent.
    call(
        &s.node("ne.oai").worker,
        StaffRequest::CaseInvite {
            case_id: case,
            institution: s.id("ne.sas"),
        },
    )
    .await
    .unwrap();
    call(
        &s.node("ne.sas").worker,
        StaffRequest::CaseAccept { case_id: case },
    )
    .await
    .unwrap();
    let o = s
        .request("ne.sas", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert_eq!(refused(&o), RefusalCode::NoConsent);

    // Consent covers health, but the policy does not let the employment sector receive it.
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &[ASSESS],
        &[Health],
        valid_now(),
    )
    .await;
    let o = s.request("ne.orp", "ne.oai", ASSESS, &[Health], case).await;
    assert_eq!(refused(&o), RefusalCode::PolicyForbids);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_consents_are_refused() {
    let s = Setup::new().await;
    let case = oai_orp_case(&s, &[Employment], (now() - 60 * DAY, now() - 2 * DAY)).await;
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert_eq!(refused(&o), RefusalCode::ConsentExpired);

    let consent = s
        .consent(
            "ne.orp",
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
    // Revocation recorded at the requester's side reaches the responder and wins.
    call(
        &s.node("ne.oai").worker,
        StaffRequest::ConsentRevoke {
            case_id: case,
            consent_id: consent,
        },
    )
    .await
    .unwrap();
    // The requester knows of the revocation: it sends nothing, and says why.
    let err = s
        .try_request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await
        .expect_err("a request under a revoked consent is not sent");
    assert!(format!("{err:#}").contains("consent-revoked"), "{err:#}");
    // The revocation reached the responder too, which refuses on its own state.
    assert_eq!(
        s.request_raw_case("ne.oai", "ne.orp", case).await,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::ConsentRevoked
        })
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_participant_gets_the_uniform_refusal() {
    let s = Setup::new().await;
    let case = oai_orp_case(&s, &[Employment], valid_now()).await;
    // ne.sas is a member but not in the case (not even invited).
    let o = s.request_raw_case("ne.sas", "ne.orp", case).await;
    assert_eq!(
        o,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::NotConcerned
        })
    );
    // Invited but not yet accepted is not a participant either: its own node says so, and
    // the responder refuses it uniformly.
    call(
        &s.node("ne.oai").worker,
        StaffRequest::CaseInvite {
            case_id: case,
            institution: s.id("ne.sas"),
        },
    )
    .await
    .unwrap();
    let err = call(
        &s.node("ne.sas").worker,
        StaffRequest::SummaryRequest {
            case_id: case,
            from: s.id("ne.orp"),
            purpose: ASSESS.parse().unwrap(),
            categories: vec![Employment],
        },
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("accept the invitation"),
        "{err:#}"
    );
    let o = s.request_raw_case("ne.sas", "ne.orp", case).await;
    assert_eq!(
        o,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::NotConcerned
        })
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_to_the_unconcerned_are_byte_identical_whether_or_not_the_person_exists() {
    let s = Setup::new().await;
    // A real case at ne.orp about a person ne.orp follows, that ne.sas is not part of.
    let existing = oai_orp_case(&s, &[Employment], valid_now()).await;
    let missing = CaseId([0x5a; 16]);
    let a = s.raw_bytes("ne.sas", "ne.orp", existing).await;
    let b = s.raw_bytes("ne.sas", "ne.orp", missing).await;
    assert_eq!(
        a, b,
        "refusal bytes must not reveal whether the case or person exists"
    );
    let reply: PeerReply = protocol_spec::wire::decode_body(&a).unwrap();
    assert_eq!(
        reply,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::NotConcerned
        })
    );

    // A case ne.sas opened about a person only it knows: ne.orp answers the same bytes.
    let sas_case = s.case("ne.sas", sas_only_person(), &[]).await;
    let c = s.raw_bytes("ne.sas", "ne.orp", sas_case).await;
    assert_eq!(a, c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_gets_the_same_answer_and_one_disclosure() {
    let s = Setup::new().await;
    let case = oai_orp_case(&s, &[Employment], valid_now()).await;
    let key = s.node("ne.oai").signing_key().unwrap();
    let conn = s.raw_peer(&key, "ne.orp").await.unwrap();
    let msg = s.signed_request(&key, "ne.oai", "ne.orp", case);
    let before = orp_log_size(&s).await;
    let first: PeerReply = daemon::transport::request(&conn, &msg).await.unwrap();
    assert!(matches!(first, PeerReply::Disclosure { .. }), "{first:?}");
    // A requester whose reply was lost sends the same request again: it gets the same
    // disclosure back, byte for byte, and the responder logged one disclosure, not two.
    let second: PeerReply = daemon::transport::request(&conn, &msg).await.unwrap();
    assert_eq!(second, first);
    assert_eq!(orp_log_size(&s).await, before + 1);
    // Another requester reusing the id gets no copy of it.
    let sas = s.node("ne.sas").signing_key().unwrap();
    let PeerMessage::Summary(original) = &msg else {
        unreachable!()
    };
    let stolen = SummaryRequest {
        requester: s.id("ne.sas"),
        ..original.request.clone()
    }
    .sign(&sas);
    let sas_conn = s.raw_peer(&sas, "ne.orp").await.unwrap();
    let r: PeerReply = daemon::transport::request(&sas_conn, &PeerMessage::Summary(stolen))
        .await
        .unwrap();
    assert_eq!(
        r,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::ReplayedRequest
        })
    );
    assert_eq!(
        orp_log_size(&s).await,
        before + 2,
        "the replay's refusal is logged"
    );

    // A stale request (issued an hour ago) is refused too, and the refusal is logged.
    let before = orp_log_size(&s).await;
    let PeerMessage::Summary(mut old) = s.signed_request(&key, "ne.oai", "ne.orp", case) else {
        unreachable!()
    };
    old.request.issued_at -= 3600;
    let old = old.request.sign(&key);
    let r: PeerReply = daemon::transport::request(&conn, &PeerMessage::Summary(old))
        .await
        .unwrap();
    assert_eq!(
        r,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::StaleRequest
        })
    );
    assert_eq!(
        orp_log_size(&s).await,
        before + 1,
        "every decision is logged, early refusals too"
    );

    // A request signed by another member's key than the connection's is refused.
    let other = s.node("ne.sas").signing_key().unwrap();
    let forged = s.signed_request(&other, "ne.oai", "ne.orp", case);
    let r: PeerReply = daemon::transport::request(&conn, &forged).await.unwrap();
    assert_eq!(
        r,
        PeerReply::Refusal(Refusal {
            code: RefusalCode::BadSignature
        })
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_summary_is_rejected() {
    let s = Setup::new().await;
    let case = oai_orp_case(&s, &[Employment, Measures], valid_now()).await;
    let key = s.node("ne.oai").signing_key().unwrap();
    let conn = s.raw_peer(&key, "ne.orp").await.unwrap();
    let PeerMessage::Summary(req) = s.signed_request(&key, "ne.oai", "ne.orp", case) else {
        unreachable!()
    };
    let reply: PeerReply = daemon::transport::request(&conn, &PeerMessage::Summary(req.clone()))
        .await
        .unwrap();
    let PeerReply::Disclosure { disclosure: d, .. } = reply else {
        panic!("{reply:?}")
    };
    let orp_key = s.node("ne.orp").signing_key().unwrap().public();
    let enc_text =
        std::fs::read_to_string(s.node("ne.oai").dir.join("keys/encryption.key")).unwrap();
    let enc = protocol_spec::keys::EncryptionKey::from_file(&enc_text).unwrap();
    d.verify(&req, &orp_key).unwrap();
    assert!(d.open(&enc).is_ok());

    let mut flipped = d.clone();
    let last = flipped.sealed.ciphertext.len() - 1;
    flipped.sealed.ciphertext[last] ^= 1;
    assert!(
        flipped.verify(&req, &orp_key).is_err(),
        "a flipped ciphertext bit breaks the signature"
    );
    assert!(flipped.open(&enc).is_err(), "and the AEAD tag");

    let mut widened = d.clone();
    widened.header.categories.push(Health);
    assert!(widened.verify(&req, &orp_key).is_err());

    // Sealed to ne.oai: ne.sas cannot open it, and would not accept it as addressed to itself.
    let sas_enc = protocol_spec::keys::EncryptionKey::from_file(
        &std::fs::read_to_string(s.node("ne.sas").dir.join("keys/encryption.key")).unwrap(),
    )
    .unwrap();
    assert!(d.open(&sas_enc).is_err());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_member_key_is_refused_at_the_handshake() {
    let s = Setup::new().await;
    let stranger = SigningKey::from_seed(daemon::clock::random());
    let r = s.raw_peer(&stranger, "ne.orp").await;
    assert!(
        r.is_err(),
        "a key outside the roster must not complete a handshake"
    );
    // A staff key is admitted only for the staff protocol, never as a peer.
    let staff_key = SigningKey::from_seed(*s.node("ne.orp").worker.key.seed());
    let conn = s.raw_peer(&staff_key, "ne.orp").await;
    if let Ok(conn) = conn {
        let r = daemon::transport::request::<_, PeerReply>(
            &conn,
            &PeerMessage::Roster(cli::federation::load_roster(&s.fed.roster).unwrap().into()),
        )
        .await;
        assert!(r.is_err(), "staff keys cannot speak the peer protocol");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_an_offline_peer_are_queued_and_checked_again_at_delivery() {
    let mut s = Setup::new().await;
    let case = oai_orp_case(&s, &[Employment], valid_now()).await;
    s.fed.node_mut("ne.orp").stop().await;
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert_eq!(o, SummaryOutcome::Queued);
    // A case change made while ne.orp is away waits in the outbox too.
    let consent = s.consent_allowing_undelivered("ne.oai", case).await;
    s.fed.node_mut("ne.orp").start().await.unwrap();
    // The outbox delivers the consent and the request; the summary arrives.
    let mut got = None;
    for _ in 0..100 {
        if let StaffReply::Summaries(list) =
            call(&s.node("ne.oai").worker, StaffRequest::SummaryList)
                .await
                .unwrap()
            && let Some(x) = list.into_iter().next()
        {
            got = Some(x);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let got = got.expect("queued request delivered once the peer is back");
    assert_eq!(got.source.as_str(), "ne.orp");
    let mut arrived = false;
    for _ in 0..100 {
        let StaffReply::Case(detail) = call(
            &s.node("ne.orp").worker,
            StaffRequest::CaseShow { case_id: case },
        )
        .await
        .unwrap() else {
            panic!()
        };
        if detail.consents.iter().any(|c| c.consent_id == consent) {
            arrived = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        arrived,
        "consent recorded while ne.orp was offline reaches it from the outbox"
    );
    s.stop().await;
}

trait Offline {
    async fn consent_allowing_undelivered(
        &self,
        at: &str,
        case: CaseId,
    ) -> protocol_spec::ids::ConsentId;
}

impl Offline for Setup {
    async fn consent_allowing_undelivered(
        &self,
        at: &str,
        case: CaseId,
    ) -> protocol_spec::ids::ConsentId {
        let r = call(
            &self.node(at).worker,
            StaffRequest::ConsentRecord(protocol_spec::staff::ConsentDraft {
                case_id: case,
                participants: vec![self.id("ne.oai"), self.id("ne.orp")],
                purposes: vec!["action-plan".parse().unwrap()],
                categories: vec![Measures],
                valid_from: now() - DAY,
                valid_until: now() + DAY,
                form_digest: None,
            }),
        )
        .await
        .unwrap();
        let StaffReply::ConsentRecorded {
            consent_id,
            delivered,
        } = r
        else {
            panic!("{r:?}")
        };
        assert!(
            delivered
                .iter()
                .any(|d| d.institution.as_str() == "ne.orp" && !d.delivered)
        );
        consent_id
    }
}

async fn orp_log_size(s: &Setup) -> u64 {
    match call(&s.node("ne.orp").admin, StaffRequest::Status)
        .await
        .unwrap()
    {
        StaffReply::Status(st) => st.log_size,
        other => panic!("{other:?}"),
    }
}
