//! The disclosure rule (spec/protocol.md §7.4), as one pure function evaluated at the moment
//! of disclosure.

use crate::case::{CaseStatus, ConsentGap, CoordinatedCase};
use crate::category::Category;
use crate::exchange::{RefusalCode, SummaryRequest};
use crate::ids::{ConsentId, InstitutionId};
use crate::roster::Roster;

/// What the responder may disclose: exactly the requested categories, under this consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub consent_id: ConsentId,
    pub categories: Vec<Category>,
}

/// Decides a request that has already passed the transport checks (authenticated member,
/// valid signature, fresh, not replayed, addressed to `responder`).
///
/// Unconcerned requesters all get [`RefusalCode::NotConcerned`]: an unknown case, a case the
/// requester or the responder does not participate in, and a case about a person the
/// responder does not know are indistinguishable to them.
pub fn decide(
    roster: &Roster,
    responder: &InstitutionId,
    request: &SummaryRequest,
    case: Option<&CoordinatedCase>,
    now: u64,
) -> Result<Grant, RefusalCode> {
    let Some(requester) = roster.member(&request.requester) else {
        return Err(RefusalCode::NotMember);
    };
    let Some(case) = case else {
        return Err(RefusalCode::NotConcerned);
    };
    if case.case_id != request.case_id
        || !case.is_participant(&request.requester)
        || !case.is_participant(responder)
    {
        return Err(RefusalCode::NotConcerned);
    }
    if case.status == CaseStatus::Closed {
        return Err(RefusalCode::CaseClosed);
    }
    // The consent that comes closest to covering the request names the reason if none does.
    let mut best: Option<ConsentGap> = None;
    let mut granted = None;
    for (consent, revoked_at) in &case.consents {
        match consent.check(
            responder,
            &request.requester,
            &request.purpose,
            &request.categories,
            now,
            revoked_at.is_some(),
        ) {
            Ok(()) => {
                granted = Some(consent.consent_id);
                break;
            }
            Err(gap) => best = best.max(Some(gap)),
        }
    }
    let Some(consent_id) = granted else {
        return Err(match best {
            None | Some(ConsentGap::Parties) => RefusalCode::NoConsent,
            Some(ConsentGap::Revoked) => RefusalCode::ConsentRevoked,
            Some(ConsentGap::NotYetValid) => RefusalCode::ConsentNotYetValid,
            Some(ConsentGap::Expired) => RefusalCode::ConsentExpired,
            Some(ConsentGap::Purpose) => RefusalCode::PurposeNotConsented,
            Some(ConsentGap::Categories) => RefusalCode::CategoryNotConsented,
        });
    };
    if !roster.policy_allows(&requester.sector, &request.purpose, &request.categories) {
        return Err(RefusalCode::PolicyForbids);
    }
    Ok(Grant {
        consent_id,
        categories: request.categories.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{CaseEvent, CaseEventKind, Consent};
    use crate::ids::{CaseId, EventId, RequestId};
    use crate::keys::{PublicKey, SigningKey};
    use crate::roster::{Authorities, Member, PolicyRule};

    const NOW: u64 = 1_800_000_000;

    fn id(s: &str) -> InstitutionId {
        s.parse().unwrap()
    }

    fn member(i: &str, sector: &str, n: u8) -> Member {
        Member {
            id: id(i),
            name: i.into(),
            sector: sector.parse().unwrap(),
            address: "127.0.0.1:1".into(),
            signing_key: SigningKey::from_seed([n; 32]).public(),
            encryption_key: PublicKey([n + 100; 32]),
            log_key: PublicKey([n + 50; 32]),
            witness_key: PublicKey([n + 150; 32]),
            witnesses: vec![],
            witness_quorum: 0,
        }
    }

    fn roster() -> Roster {
        Roster {
            federation: "f".into(),
            version: 1,
            issued_at: 0,
            authorities: Authorities {
                threshold: 1,
                keys: vec![],
            },
            members: vec![
                member("ne.orp", "employment", 1),
                member("ne.oai", "disability-insurance", 2),
                member("ne.sas", "social-aid", 3),
            ],
            policy: vec![PolicyRule {
                sector: "disability-insurance".parse().unwrap(),
                purpose: "assess".parse().unwrap(),
                categories: vec![Category::Employment, Category::Measures],
            }],
            former_keys: vec![],
            former_log_keys: vec![],
            retention: vec![],
            statistics: None,
        }
    }

    fn case(participants: &[&str], consents: Vec<(Consent, Option<u64>)>) -> CoordinatedCase {
        let key = SigningKey::from_seed([1; 32]);
        let mut history = vec![
            CaseEvent {
                event_id: EventId([0; 16]),
                case_id: CaseId([1; 16]),
                author: id("ne.orp"),
                staff: "w".parse().unwrap(),
                at: 0,
                kind: CaseEventKind::Opened {
                    person: "7569217076985".parse().unwrap(),
                },
            }
            .sign(&key),
        ];
        let mut c = CoordinatedCase::restore(std::mem::take(&mut history)).unwrap();
        for p in participants {
            c.participants
                .insert(id(p), crate::case::Participation::Accepted);
        }
        c.consents = consents;
        c
    }

    fn consent(purpose: &str, cats: &[Category], from: u64, until: u64) -> Consent {
        Consent {
            consent_id: crate::ids::ConsentId([9; 16]),
            case_id: CaseId([1; 16]),
            participants: vec![id("ne.oai"), id("ne.orp")],
            purposes: vec![purpose.parse().unwrap()],
            categories: cats.to_vec(),
            valid_from: from,
            valid_until: until,
            form_digest: None,
            recorded_by: "w".parse().unwrap(),
            recorded_at: 0,
        }
    }

    fn request(requester: &str, purpose: &str, cats: &[Category]) -> SummaryRequest {
        SummaryRequest {
            request_id: RequestId([3; 16]),
            requester: id(requester),
            responder: id("ne.orp"),
            case_id: CaseId([1; 16]),
            purpose: purpose.parse().unwrap(),
            categories: cats.to_vec(),
            issued_at: NOW,
        }
    }

    #[test]
    fn each_condition_of_the_rule_is_necessary() {
        use Category::*;
        let r = roster();
        let me = id("ne.orp");
        let good = consent("assess", &[Employment, Measures], NOW - 10, NOW + 10);
        let ok_case = case(&["ne.oai"], vec![(good.clone(), None)]);
        let decide_with =
            |c: Option<&CoordinatedCase>, req: &SummaryRequest| decide(&r, &me, req, c, NOW);

        let g = decide_with(Some(&ok_case), &request("ne.oai", "assess", &[Employment])).unwrap();
        assert_eq!(g.categories, vec![Employment]);

        let cases: Vec<(Option<CoordinatedCase>, SummaryRequest, RefusalCode)> = vec![
            (
                None,
                request("ne.oai", "assess", &[Employment]),
                RefusalCode::NotConcerned,
            ),
            (
                Some(case(&[], vec![(good.clone(), None)])),
                request("ne.oai", "assess", &[Employment]),
                RefusalCode::NotConcerned,
            ),
            (
                Some(ok_case.clone()),
                request("ne.smig", "assess", &[Employment]),
                RefusalCode::NotMember,
            ),
            (
                Some(case(&["ne.oai"], vec![])),
                request("ne.oai", "assess", &[Employment]),
                RefusalCode::NoConsent,
            ),
            (
                Some(case(&["ne.oai"], vec![(good.clone(), Some(NOW))])),
                request("ne.oai", "assess", &[Employment]),
                RefusalCode::ConsentRevoked,
            ),
            (
                Some(case(
                    &["ne.oai"],
                    vec![(consent("assess", &[Employment], NOW - 20, NOW - 1), None)],
                )),
                request("ne.oai", "assess", &[Employment]),
                RefusalCode::ConsentExpired,
            ),
            (
                Some(case(
                    &["ne.oai"],
                    vec![(consent("assess", &[Employment], NOW + 1, NOW + 20), None)],
                )),
                request("ne.oai", "assess", &[Employment]),
                RefusalCode::ConsentNotYetValid,
            ),
            (
                Some(ok_case.clone()),
                request("ne.oai", "plan", &[Employment]),
                RefusalCode::PurposeNotConsented,
            ),
            (
                Some(ok_case.clone()),
                request("ne.oai", "assess", &[Employment, Health]),
                RefusalCode::CategoryNotConsented,
            ),
            (
                Some(case(
                    &["ne.oai"],
                    vec![(consent("assess", &[Health], NOW - 1, NOW + 1), None)],
                )),
                request("ne.oai", "assess", &[Health]),
                RefusalCode::PolicyForbids,
            ),
        ];
        for (c, req, want) in cases {
            assert_eq!(decide_with(c.as_ref(), &req), Err(want), "{want:?}");
        }

        let mut closed = ok_case.clone();
        closed.status = CaseStatus::Closed;
        assert_eq!(
            decide_with(Some(&closed), &request("ne.oai", "assess", &[Employment])),
            Err(RefusalCode::CaseClosed)
        );
        // A participant of the case that the consent does not name is refused for lack of consent.
        let with_sas = case(&["ne.oai", "ne.sas"], vec![(good, None)]);
        assert_eq!(
            decide_with(Some(&with_sas), &request("ne.sas", "assess", &[Employment])),
            Err(RefusalCode::NoConsent)
        );
    }
}
