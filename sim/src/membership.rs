//! The federation's membership over a run, as the steering group changes it: the joiner is
//! added, then a founder's signing and encryption keys are rotated (its node restarts on the new
//! keys, as `node rotate-keys --activate` does), then the joiner leaves: it stops taking new
//! work, waits until its outbox is empty (what it changed in its cases reached the others, as
//! README "Operations" asks of a member that leaves), then the roster removes it and its node
//! stops. Each change is a new roster version installed at one node, which propagates it.

use crate::invariants::{Check, Failure};
use crate::world::{Event, StaffKind, World};
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::StaffRequest;

/// The changes, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    AddJoiner,
    RotateKeys,
    RemoveJoiner,
}

const CHANGES: [Change; 3] = [Change::AddJoiner, Change::RotateKeys, Change::RemoveJoiner];

impl World {
    /// Makes the next change (or installs the one in progress again) at an up founder.
    pub(crate) fn roster_change(&mut self) -> Check {
        // A roster installed again goes to a founder that does not start on it. The founder
        // whose keys it rotates does, and cannot pass it on: no peer admits its new key before
        // the roster reaches them from another member.
        let again = self
            .membership
            .installing
            .as_ref()
            .map(|r| r.roster.version);
        let founders: Vec<usize> = (0..self.fed.founders.len())
            .filter(|i| self.nodes[*i].is_up())
            .filter(|i| again.is_none_or(|v| self.nodes[*i].configured.roster.version < v))
            .collect();
        let Some(&i) = self.rng.pick(&founders) else {
            self.schedule(5_000, Event::RosterChange);
            return Ok(());
        };
        let next = match self.membership.installing.clone() {
            Some(r) => r,
            None => {
                let Some(&change) = CHANGES.get(self.membership.made) else {
                    return Ok(());
                };
                let Some(next) = self.make(change, i)? else {
                    // Not ready yet: asked again a moment later.
                    self.schedule(5_000, Event::RosterChange);
                    return Ok(());
                };
                self.membership.made += 1;
                self.membership.issued = Some(next.clone());
                self.membership.installing = Some(next.clone());
                next
            }
        };
        let admin = self.nodes[i].admin;
        self.staff(
            i,
            admin,
            StaffRequest::InstallRoster(next),
            StaffKind::Install,
        )
    }

    /// A node accepted the roster being installed: the next change comes a while later.
    pub(crate) fn roster_installed(&mut self) {
        if self.membership.installing.take().is_some() && self.membership.made < CHANGES.len() {
            let after = self.cfg.duration_ms / 10;
            self.schedule(after, Event::RosterChange);
        }
    }

    /// The roster of `change`, signed, with what the change does to the nodes concerned; `None`
    /// while the change must wait.
    fn make(&mut self, change: Change, installer: usize) -> Result<Option<SignedRoster>, Failure> {
        let base = self
            .membership
            .issued
            .clone()
            .unwrap_or_else(|| self.fed.first.clone())
            .roster;
        let joiner = self.nodes.len() - 1;
        match change {
            Change::AddJoiner => {
                let next = self
                    .fed
                    .next(base, |r| r.members.push(self.fed.joiner.member()));
                self.nodes[joiner].configured = next.clone();
                self.note("steering group: the joiner is added".into());
                self.set_up(joiner)?;
                Ok(Some(next))
            }
            Change::RotateKeys => {
                // Any founder but the one installing, so the new roster reaches it by propagation.
                let others: Vec<usize> = (0..self.fed.founders.len())
                    .filter(|k| *k != installer)
                    .collect();
                let k = others[self.rng.index(others.len())];
                self.nodes[k].inst.generation += 1;
                let member = self.nodes[k].inst.member();
                let next = self.fed.next(base, |r| {
                    r.retire_signing_key(&member.id);
                    let m = r
                        .members
                        .iter_mut()
                        .find(|m| m.id == member.id)
                        .expect("a founder");
                    m.signing_key = member.signing_key;
                    m.encryption_key = member.encryption_key;
                });
                let id = member.id.clone();
                self.note(format!(
                    "steering group: {id} rotates its signing and encryption keys"
                ));
                self.nodes[k].configured = next.clone();
                if self.nodes[k].is_up() {
                    self.crash(k);
                    self.restart(k)?;
                }
                Ok(Some(next))
            }
            Change::RemoveJoiner => {
                let id = self.nodes[joiner].inst.id.clone();
                if !self.nodes[joiner].departing {
                    self.nodes[joiner].departing = true;
                    self.note(format!(
                        "{id} is leaving: no new work; its outbox drains first"
                    ));
                    return Ok(None);
                }
                if !self.nodes[joiner].is_up() || self.nodes[joiner].outbox_len()? > 0 {
                    return Ok(None);
                }
                let next = self.fed.next(base, |r| {
                    r.retire_signing_key(&id);
                    r.retire_log_key(&id);
                    r.members.retain(|m| m.id != id);
                });
                self.note(format!("steering group: {id} leaves the federation"));
                if self.nodes[joiner].is_up() {
                    self.crash(joiner);
                }
                self.nodes[joiner].removed = true;
                self.nodes[joiner].joined = false;
                Ok(Some(next))
            }
        }
    }
}
