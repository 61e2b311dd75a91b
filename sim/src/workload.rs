//! Staff activity at the honest nodes: case workers open cases and invite, refer, accept,
//! decline, record, replace and revoke consents, leave, remove, hand over, notify and close
//! cases, request summaries and purge received ones; administrators now and then
//! revoke a case worker and issue a new one. Each action is chosen from what the node's own
//! committed state makes possible, as a case worker reading `case list` would.

use crate::federation::Federation;
use crate::invariants::Check;
use crate::node::Credential;
use crate::world::{StaffKind, World};
use protocol_spec::case::{CaseStatus, Consent, CoordinatedCase, DeclineReason, Participation};
use protocol_spec::category::Category;
use protocol_spec::ids::InstitutionId;
use protocol_spec::staff::{ConsentDraft, StaffRequest};
use std::rc::Rc;

enum Action {
    Open,
    Accept,
    Invite,
    Consent,
    Revoke,
    Leave,
    Close,
    Request,
    Staff,
    Decline,
    Remove,
    HandOver,
    Refer,
    Replace,
    Purge,
    Notify,
}

impl World {
    pub(crate) fn staff_action(&mut self) -> Check {
        let ready: Vec<usize> = (0..self.nodes.len())
            .filter(|i| {
                let n = &self.nodes[*i];
                n.is_up() && !n.departing && !n.active_workers().is_empty()
            })
            .collect();
        let Some(&i) = self.rng.pick(&ready) else {
            return Ok(());
        };
        let me = self.nodes[i].inst.id.clone();
        let rogue = self.rogue.inst.id.clone();
        // Cases the misbehaving member opened are left alone: staff do not act on them.
        let cases: Vec<Rc<CoordinatedCase>> = self.nodes[i]
            .cases()?
            .into_iter()
            .filter(|c| c.opened_by != rogue && c.status == CaseStatus::Open)
            .collect();
        let cases: Vec<&CoordinatedCase> = cases.iter().map(|c| &**c).collect();
        let mine = |c: &&CoordinatedCase| c.is_participant(&me);
        let invited: Vec<&CoordinatedCase> = cases
            .iter()
            .copied()
            .filter(|c| c.participants.get(&me) == Some(&Participation::Invited))
            .collect();
        let active: Vec<&CoordinatedCase> = cases.iter().copied().filter(mine).collect();
        let with_consent: Vec<&CoordinatedCase> = active
            .iter()
            .copied()
            .filter(|c| c.consents.iter().any(|(_, r)| r.is_none()))
            .collect();
        let shared: Vec<&CoordinatedCase> = active
            .iter()
            .copied()
            .filter(|c| {
                c.participants
                    .iter()
                    .any(|(p, s)| *p != me && *s == Participation::Accepted)
            })
            .collect();
        let joined: Vec<&CoordinatedCase> =
            active.iter().copied().filter(|c| c.lead != me).collect();
        let led: Vec<&CoordinatedCase> = active.iter().copied().filter(|c| c.lead == me).collect();
        let led_shared: Vec<&CoordinatedCase> =
            shared.iter().copied().filter(|c| c.lead == me).collect();
        let mut options: Vec<(u64, Action)> = vec![(3, Action::Open), (1, Action::Staff)];
        if !invited.is_empty() {
            options.push((8, Action::Accept));
        }
        if !active.is_empty() {
            options.push((1, Action::Invite));
            options.push((5, Action::Consent));
            options.push((1, Action::Refer));
        }
        if !with_consent.is_empty() {
            options.push((2, Action::Revoke));
            options.push((1, Action::Replace));
        }
        let received = self.nodes[i].unpurged_summaries()?;
        if !received.is_empty() {
            options.push((1, Action::Purge));
        }
        if !joined.is_empty() {
            options.push((1, Action::Leave));
        }
        if !led.is_empty() {
            options.push((1, Action::Close));
        }
        if !invited.is_empty() {
            options.push((2, Action::Decline));
        }
        if !led_shared.is_empty() {
            options.push((1, Action::Remove));
            options.push((1, Action::HandOver));
        }
        if !shared.is_empty() {
            options.push((1, Action::Notify));
            options.push((14, Action::Request));
        }
        let total: u64 = options.iter().map(|(w, _)| w).sum();
        let mut roll = self.rng.between(0, total - 1);
        let action = options
            .into_iter()
            .find(|(w, _)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map(|(_, a)| a)
            .expect("weights add up");
        let others = self.invitable(i);
        let now = self.now();
        let request = match action {
            Action::Staff => return self.staff_turnover(i),
            Action::Open => {
                let Some(person) = self.rng.pick(&self.nodes[i].persons).cloned() else {
                    return Ok(());
                };
                let invite = if others.is_empty() {
                    Vec::new()
                } else {
                    self.rng.subset(&others, 3)
                };
                StaffRequest::CaseOpen { person, invite }
            }
            Action::Accept => {
                let c = self.pick_case(&invited);
                StaffRequest::CaseAccept { case_id: c.case_id }
            }
            Action::Invite => {
                let c = self.pick_case(&active);
                let fresh: Vec<InstitutionId> = others
                    .iter()
                    .filter(|o| c.participants.get(*o) != Some(&Participation::Accepted))
                    .cloned()
                    .collect();
                let Some(institution) = self.rng.pick(&fresh).cloned() else {
                    return Ok(());
                };
                StaffRequest::CaseInvite {
                    case_id: c.case_id,
                    institution,
                }
            }
            Action::Consent => {
                let c = self.pick_case(&active);
                let in_case: Vec<InstitutionId> = c
                    .participants
                    .keys()
                    .filter(|p| **p != me)
                    .cloned()
                    .collect();
                if in_case.is_empty() {
                    return Ok(());
                }
                let mut participants = if self.rng.chance(0.3) {
                    in_case.clone()
                } else {
                    self.rng.subset(&in_case, in_case.len())
                };
                participants.push(me.clone());
                let purposes = Federation::purposes();
                let purposes = self.rng.subset(&purposes, 2);
                let categories = self.rng.subset(&Category::ALL, 5);
                let valid_from = if self.rng.chance(0.85) {
                    now - self.rng.between(0, 3_600)
                } else {
                    now + self.rng.between(60, 1_800)
                };
                let valid_until = valid_from + self.rng.between(600, 6 * 3_600);
                let form_digest = self.rng.chance(0.5).then(|| self.rng.bytes());
                StaffRequest::ConsentRecord(ConsentDraft {
                    case_id: c.case_id,
                    participants,
                    purposes,
                    categories,
                    valid_from,
                    valid_until,
                    form_digest,
                })
            }
            Action::Revoke => {
                let c = self.pick_case(&with_consent);
                StaffRequest::ConsentRevoke {
                    case_id: c.case_id,
                    consent_id: self.pick_unrevoked(c).consent_id,
                }
            }
            Action::Replace => {
                // The person signs a narrower form: some of the categories, the same parties.
                let c = self.pick_case(&with_consent);
                let old = self.pick_unrevoked(c);
                let categories = self.rng.subset(&old.categories, old.categories.len());
                StaffRequest::ConsentReplace {
                    replaces: old.consent_id,
                    draft: ConsentDraft {
                        case_id: c.case_id,
                        participants: old.participants.clone(),
                        purposes: old.purposes.clone(),
                        categories,
                        valid_from: old.valid_from,
                        valid_until: old.valid_until,
                        form_digest: self.rng.chance(0.5).then(|| self.rng.bytes()),
                    },
                }
            }
            Action::Notify => {
                let c = self.pick_case(&shared);
                StaffRequest::CaseNotify { case_id: c.case_id }
            }
            Action::Purge => {
                let summary_id = *self.rng.pick(&received).expect("a received summary");
                StaffRequest::SummaryPurge { summary_id }
            }
            Action::Leave => {
                let c = self.pick_case(&joined);
                StaffRequest::CaseLeave { case_id: c.case_id }
            }
            Action::Close => {
                let c = self.pick_case(&led);
                StaffRequest::CaseClose { case_id: c.case_id }
            }
            Action::Decline => {
                let c = self.pick_case(&invited);
                let reason = *self
                    .rng
                    .pick(&DeclineReason::ALL)
                    .expect("a decline reason");
                StaffRequest::CaseDecline {
                    case_id: c.case_id,
                    reason,
                }
            }
            Action::Remove | Action::HandOver => {
                let c = self.pick_case(&led_shared);
                let others: Vec<InstitutionId> = c
                    .participants
                    .iter()
                    .filter(|(p, s)| **p != me && **s == Participation::Accepted)
                    .map(|(p, _)| p.clone())
                    .collect();
                let other = self.rng.pick(&others).expect("a shared case").clone();
                if matches!(action, Action::Remove) {
                    StaffRequest::CaseRemove {
                        case_id: c.case_id,
                        institution: other,
                    }
                } else {
                    StaffRequest::CaseHandOver {
                        case_id: c.case_id,
                        to: other,
                    }
                }
            }
            Action::Refer => {
                let c = self.pick_case(&active);
                let fresh: Vec<InstitutionId> = others
                    .iter()
                    .filter(|o| c.participants.get(*o) != Some(&Participation::Accepted))
                    .cloned()
                    .collect();
                let Some(institution) = self.rng.pick(&fresh).cloned() else {
                    return Ok(());
                };
                let purpose = self
                    .rng
                    .pick(&Federation::purposes())
                    .expect("a purpose")
                    .clone();
                StaffRequest::CaseRefer {
                    case_id: c.case_id,
                    institution,
                    purpose,
                    categories: self.rng.subset(&Category::ALL, 3),
                }
            }
            Action::Request => {
                let c = self.pick_case(&shared).clone();
                self.summary_request(i, &c)
            }
        };
        let workers = self.nodes[i].active_workers();
        let mut key = self.rng.pick(&workers).expect("an active worker").1;
        // Now and then a revoked credential is tried: it must be turned away.
        if self.rng.chance(0.01)
            && let Some(w) = self.nodes[i]
                .workers
                .iter()
                .find(|w| w.state == Credential::Revoked)
        {
            key = w.key;
        }
        self.staff(i, key, request, StaffKind::CaseWork)
    }

    fn pick_case<'a>(&mut self, from: &[&'a CoordinatedCase]) -> &'a CoordinatedCase {
        from[self.rng.index(from.len())]
    }

    /// One of the case's consents not revoked; the case has one.
    fn pick_unrevoked<'a>(&mut self, c: &'a CoordinatedCase) -> &'a Consent {
        let open: Vec<&Consent> = c
            .consents
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(k, _)| k)
            .collect();
        self.rng.pick(&open).expect("an unrevoked consent")
    }

    /// Honest members node `i`'s roster lists, other than itself.
    fn invitable(&self, i: usize) -> Vec<InstitutionId> {
        let me = &self.nodes[i].inst.id;
        self.nodes[i]
            .core()
            .roster()
            .roster
            .members
            .iter()
            .map(|m| m.id.clone())
            .filter(|id| id != me && *id != self.rogue.inst.id)
            .collect()
    }

    /// Mostly what a consent on record covers and the policy allows, sometimes anything.
    fn summary_request(&mut self, i: usize, c: &CoordinatedCase) -> StaffRequest {
        let me = self.nodes[i].inst.id.clone();
        let peers: Vec<InstitutionId> = c
            .participants
            .iter()
            .filter(|(p, s)| **p != me && **s == Participation::Accepted)
            .map(|(p, _)| p.clone())
            .collect();
        let from = self.rng.pick(&peers).expect("a shared case").clone();
        let covering: Vec<_> = c
            .consents
            .iter()
            .filter(|(k, r)| {
                r.is_none() && k.participants.contains(&me) && k.participants.contains(&from)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let (purpose, categories) = match self.rng.pick(&covering) {
            Some(k) if self.rng.chance(0.8) => {
                let purpose = self.rng.pick(&k.purposes).expect("a purpose").clone();
                let roster = &self.nodes[i].core().roster().roster;
                let sector = &self.nodes[i].inst.sector;
                let allowed: Vec<Category> = k
                    .categories
                    .iter()
                    .copied()
                    .filter(|cat| roster.policy_allows(sector, &purpose, &[*cat]))
                    .collect();
                let pool = if allowed.is_empty() {
                    k.categories.clone()
                } else {
                    allowed
                };
                (purpose, self.rng.subset(&pool, 3))
            }
            _ => (
                self.rng
                    .pick(&Federation::purposes())
                    .expect("a purpose")
                    .clone(),
                self.rng.subset(&Category::ALL, 3),
            ),
        };
        StaffRequest::SummaryRequest {
            case_id: c.case_id,
            from,
            purpose,
            categories,
        }
    }

    /// An administrator revokes a case worker (keeping at least one) or issues a new one.
    fn staff_turnover(&mut self, i: usize) -> Check {
        let active: Vec<usize> = (0..self.nodes[i].workers.len())
            .filter(|w| self.nodes[i].workers[*w].state == Credential::Active)
            .collect();
        if active.len() >= 2 && self.rng.chance(0.5) {
            let w = active[self.rng.index(active.len())];
            let staff = self.nodes[i].workers[w].staff.clone();
            let admin = self.nodes[i].admin;
            return self.staff(
                i,
                admin,
                StaffRequest::StaffRevoke { staff },
                StaffKind::Revoke(w),
            );
        }
        if active.len() < 3 {
            return self.issue_worker(i, StaffKind::CaseWork);
        }
        Ok(())
    }
}
