//! Witness rounds: now and then each node, as its driver does, signs a checkpoint of its
//! committed log and offers it to the witnesses the roster names, with a consistency proof from
//! what it believes each witness last cosigned; the misbehaving member does the same with two
//! forked logs. Invariant 5 is checked on what was signed and cosigned: no node signs two
//! checkpoints its log cannot both match, and no witness cosigns two checkpoints of a log that
//! are not both on one history.

use crate::federation::Institution;
use crate::invariants::{Check, Invariant, fail};
use crate::network::Party;
use crate::world::{Event, Origin, World};
use node_core::vkeys::{origin, witness_vkey};
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::witness::AddCheckpoint;
use protocol_spec::tlog::{Checkpoint, Hash, Tree, cosignature, leaf_hash, sign_checkpoint};

/// Entries the misbehaving member's two logs share before they part.
const SHARED: usize = 4;

/// A checkpoint of `inst`'s log, signed with its log key as its driver signs one.
fn signed_checkpoint(federation: &str, inst: &Institution, size: u64, root: Hash) -> String {
    let o = origin(federation, &inst.id);
    let cp = Checkpoint {
        origin: o.clone(),
        size,
        root,
    };
    sign_checkpoint(&cp, &o, &SigningKey::from_seed(inst.seed("log")))
}

impl World {
    /// One round: every node up offers its newest checkpoint to its witnesses, and the
    /// misbehaving member offers one of its two logs.
    pub(crate) fn witness_round(&mut self) -> Check {
        self.witnessing.rounds += 1;
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_up() {
                self.offer_own_checkpoint(i)?;
            }
        }
        if self.cfg.rogue {
            self.offer_forked_checkpoint()?;
        }
        Ok(())
    }

    fn offer_own_checkpoint(&mut self, i: usize) -> Check {
        let entries = self.nodes[i]
            .log_entries_from(self.witnessing.trees.get(&i).map_or(0, |t: &Tree| t.size()))?;
        let tree = self.witnessing.trees.entry(i).or_default();
        for e in &entries {
            tree.append(leaf_hash(e));
        }
        let (size, root) = (tree.size(), tree.root());
        // 5a: a log only grows, so every checkpoint signed before is a prefix of it.
        for (s, r) in self.witnessing.signed.get(&i).into_iter().flatten() {
            if tree.root_at(*s) != Some(*r) {
                return fail(
                    Invariant::Witnessed,
                    format!(
                        "{} signed a checkpoint of {s} entries its committed log no longer matches",
                        self.nodes[i].inst.id
                    ),
                );
            }
        }
        self.witnessing
            .signed
            .entry(i)
            .or_default()
            .push((size, root));
        let inst = &self.nodes[i].inst;
        let from = inst.signing().public();
        let roster = self.nodes[i].core().roster().roster.clone();
        let Some(me) = roster.member(&inst.id) else {
            return Ok(());
        };
        let note = signed_checkpoint(&roster.federation, inst, size, root);
        let tree = self.witnessing.trees[&i].clone();
        for w in me.witnesses.clone() {
            if let Some(Party::Node(j)) = self.party_of(&w) {
                self.offer(Party::Node(i), from, j, &tree, &note, (size, root));
            }
        }
        Ok(())
    }

    /// The misbehaving member grows one of its two logs and offers it to one of its witnesses,
    /// with a proof from what that witness cosigned (of either log).
    fn offer_forked_checkpoint(&mut self) -> Check {
        let forks = self.witnessing.forks.get_or_insert_with(|| {
            let mut t = Tree::new();
            for k in 0..SHARED {
                t.append(leaf_hash(&[k as u8]));
            }
            [t.clone(), t]
        });
        let b = self.rng.index(2);
        let leaf: [u8; 32] = self.rng.bytes();
        forks[b].append(leaf_hash(&leaf));
        let tree = forks[b].clone();
        let (size, root) = (tree.size(), tree.root());
        let inst = &self.rogue.inst;
        let roster = self.fed.first.roster.clone();
        let Some(me) = roster.member(&inst.id) else {
            return Ok(());
        };
        let note = signed_checkpoint(&roster.federation, inst, size, root);
        let Some(w) = self.rng.pick(&me.witnesses).cloned() else {
            return Ok(());
        };
        if let Some(Party::Node(j)) = self.party_of(&w) {
            self.witnessing.forks_offered += 1;
            let from = self.rogue.public();
            self.offer(Party::Rogue, from, j, &tree, &note, (size, root));
        }
        Ok(())
    }

    fn offer(
        &mut self,
        owner: Party,
        from: protocol_spec::keys::PublicKey,
        witness: usize,
        tree: &Tree,
        note: &str,
        (size, root): (u64, Hash),
    ) {
        let old = self
            .witnessing
            .known
            .get(&(owner, witness))
            .copied()
            .unwrap_or(0)
            .min(size);
        let req = AddCheckpoint {
            old_size: old,
            proof: tree.consistency_proof(old, size).unwrap_or_default(),
            checkpoint: note.to_string(),
        };
        let origin = Origin::Witnessing {
            owner,
            witness,
            size,
            root,
        };
        for delay in self.net.fate(&mut self.rng, owner, Party::Node(witness)) {
            self.schedule(
                delay,
                Event::Arrive {
                    to: Party::Node(witness),
                    from,
                    origin,
                    message: Box::new(PeerMessage::AddCheckpoint(req.to_text())),
                },
            );
        }
    }

    /// A witness's answer reaches the log's owner: a cosignature is checked and recorded
    /// (5b), a conflict tells the owner what the witness holds.
    pub(crate) fn witness_answered(
        &mut self,
        owner: Party,
        witness: usize,
        (size, root): (u64, Hash),
        reply: &PeerReply,
    ) -> Check {
        match reply {
            PeerReply::Cosigned(line) => {
                let roster = self.fed.first.roster.clone();
                let wid = self.nodes[witness].inst.id.clone();
                let owner_id = match owner {
                    Party::Node(i) => self.nodes[i].inst.id.clone(),
                    Party::Rogue => self.rogue.inst.id.clone(),
                };
                let body = Checkpoint {
                    origin: origin(&roster.federation, &owner_id),
                    size,
                    root,
                }
                .body();
                let wkey = witness_vkey(&roster, &wid).expect("witnesses are founders");
                let cosigned = Note::parse(&format!("{body}\n{line}"))
                    .ok()
                    .and_then(|n| cosignature::cosigners(&n, &[wkey], None).ok())
                    .is_some_and(|c| c.len() == 1);
                if !cosigned {
                    return fail(
                        Invariant::Witnessed,
                        format!("{wid} answered with a cosignature that does not verify"),
                    );
                }
                self.witnessing.cosignatures += 1;
                self.witnessing.known.insert((owner, witness), size);
                let all = self
                    .witnessing
                    .cosigned
                    .entry((witness, owner))
                    .or_default();
                all.push((size, root));
                if let (Party::Rogue, Some([a, b])) = (owner, &self.witnessing.forks) {
                    // 5b: a checkpoint on one log only and another on the other only.
                    let on = |t: &Tree, (s, r): &(u64, Hash)| t.root_at(*s) == Some(*r);
                    let only_a = all.iter().find(|c| on(a, c) && !on(b, c));
                    let only_b = all.iter().find(|c| on(b, c) && !on(a, c));
                    if let (Some(x), Some(y)) = (only_a, only_b) {
                        return fail(
                            Invariant::Witnessed,
                            format!(
                                "{wid} cosigned a fork of {owner_id}'s log: checkpoints of {} and {} entries on two histories",
                                x.0, y.0
                            ),
                        );
                    }
                }
            }
            PeerReply::WitnessRefused {
                latest: Some(latest),
                ..
            } => {
                self.witnessing.known.insert((owner, witness), *latest);
            }
            _ => {}
        }
        Ok(())
    }
}
