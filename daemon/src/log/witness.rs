//! This node as a witness of its peers' logs: the tlog-witness add-checkpoint decision, made
//! atomically with the stored state; every other checkpoint of a witnessed log that reaches the
//! node checked against the one it cosigned; inconsistent checkpoints kept as evidence.

use super::vkeys::{log_vkey, origin, witness_vkey};
use crate::clock::now;
use crate::log_state::{db_int, from_db};
use crate::node::Node;
use anyhow::{anyhow, bail};
use protocol_spec::entry::{LogEntry, Text, WitnessEvidence};
use protocol_spec::ids::InstitutionId;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::tlog::cosignature;
use protocol_spec::tlog::note::{self, Note, VerifierKey};
use protocol_spec::tlog::witness::{self, AddCheckpoint, WitnessRefusal, WitnessState};
use protocol_spec::tlog::{self, Checkpoint, tile_proof};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::sync::Arc;

/// The checkpoint this node last cosigned for `origin` (its witness state) and that note, if
/// the log's key in the roster in force, `log_key`, signed it. A note that key does not verify
/// was signed with a key the steering group has since replaced: the log restarted under its new
/// key and is followed from the empty tree (§7.5).
fn cosigned(
    db: &Connection,
    origin: &str,
    log_key: Option<&VerifierKey>,
) -> anyhow::Result<Option<(WitnessState, String)>> {
    let row: Option<(i64, Vec<u8>, String)> = db
        .query_row(
            "SELECT size, root, note FROM witness_state WHERE origin = ?1",
            [origin],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((size, root, note)) = row else {
        return Ok(None);
    };
    let Some(key) = log_key else {
        return Ok(None);
    };
    let signed =
        Note::parse(&note).is_ok_and(|n| note::verify_note(&n, std::slice::from_ref(key)).is_ok());
    if !signed {
        return Ok(None);
    }
    let state = WitnessState {
        size: from_db(size, "witness state size")?,
        root: root
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("the store is corrupt: witness state root of {origin}"))?,
    };
    Ok(Some((state, note)))
}

/// Keeps two signed checkpoints of a log that cannot both be honest: the one this node
/// cosigned and the one it was offered, with a `witness-evidence` entry in its own log.
fn keep_evidence(
    tx: &mut node_core::Tx<'_>,
    origin: &str,
    cosigned: &str,
    offered: &str,
    problem: &str,
) -> anyhow::Result<()> {
    tx.db.execute(
        "INSERT INTO witness_evidence (origin, cosigned, offered, problem, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![origin, cosigned, offered, problem, db_int(now(), "time")?],
    )?;
    let digest = |t: &str| protocol_spec::keys::sha256(&[t.as_bytes()]);
    let text = |t: &str| Text::new(t).map_err(|e| anyhow::anyhow!("witness evidence {e}"));
    let entry = WitnessEvidence {
        time: now(),
        origin: text(origin)?,
        cosigned: digest(cosigned),
        offered: digest(offered),
        problem: text(problem)?,
    };
    tx.log(LogEntry::from(entry).to_bytes())?;
    tracing::error!(
        origin,
        problem,
        "a peer log presented a checkpoint inconsistent with one this node cosigned; evidence kept"
    );
    Ok(())
}

/// The witness side of add-checkpoint: decide, persist the new state atomically with the
/// check, cosign. An inconsistent checkpoint is kept with the one cosigned before as evidence,
/// logged, and reported to administrators through the node status.
pub(crate) async fn witness_add_checkpoint(node: &Arc<Node>, body: String) -> PeerReply {
    let refused = |e: &WitnessRefusal| PeerReply::WitnessRefused {
        status: e.status(),
        latest: match e {
            WitnessRefusal::Conflict { latest } => Some(*latest),
            _ => None,
        },
        reason: e.to_string(),
    };
    let req = match AddCheckpoint::parse(&body) {
        Ok(r) => r,
        Err(e) => return refused(&e),
    };
    let in_force = node.roster();
    let roster = &in_force.roster;
    // The origin names the log; only a member whose witness policy names us is served.
    let origin_of_request = Note::parse(&req.checkpoint)
        .ok()
        .and_then(|n| Checkpoint::parse(&n.text).ok())
        .map(|c| c.origin);
    let log_member = roster.members.iter().find(|m| {
        Some(origin(&roster.federation, &m.id)) == origin_of_request
            && m.witnesses.contains(&node.me)
    });
    let log_key = log_member.and_then(|m| log_vkey(roster, &m.id));
    let my_wkey = witness_vkey(roster, &node.me);
    let n = node.clone();
    let result = node
        .store
        .write(move |tx| {
            let o = origin_of_request.clone().unwrap_or_default();
            let prior = cosigned(tx.db, &o, log_key.as_ref())?;
            let state = prior.as_ref().map(|p| p.0).unwrap_or_default();
            match witness::decide(state, log_key.as_ref(), &req) {
                // No log of a Passerelle member grows that far; the store could not keep it.
                Ok((cp, _)) if i64::try_from(cp.size).is_err() => {
                    Ok(refused(&WitnessRefusal::Malformed("checkpoint size beyond 2^63 - 1")))
                }
                Ok((cp, _)) => {
                    tx.db.execute(
                        "INSERT INTO witness_state (origin, size, root, note) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note",
                        rusqlite::params![o, db_int(cp.size, "checkpoint size")?, cp.root.to_vec(), req.checkpoint],
                    )?;
                    let wkey = my_wkey.ok_or_else(|| anyhow!("this node has no witness key in the roster"))?;
                    let line = cosignature::cosign(&Checkpoint::parse(&Note::parse(&req.checkpoint)?.text)?.body(), &wkey.name, &n.witness_key, now());
                    Ok(PeerReply::Cosigned(line.line()))
                }
                Err(e) => {
                    if e.is_evidence() {
                        let held = prior.map(|p| p.1).unwrap_or_default();
                        keep_evidence(tx, &o, &held, &req.checkpoint, &e.to_string())?;
                    }
                    Ok(refused(&e))
                }
            }
        })
        .await;
    result.unwrap_or_else(|e| PeerReply::WitnessRefused {
        status: 500,
        latest: None,
        reason: format!("{e:#}"),
    })
}

/// Checks a checkpoint of `peer`'s log that reached this node outside add-checkpoint (an
/// `Inclusion` reply or a `ReceiptProof`, transparency-log.md §7.3), its signature already
/// verified, against the checkpoint this node cosigned for that log. Those messages carry no
/// consistency proof, so one is built from the log's own level tiles. `Err` means refused;
/// when the two checkpoints cannot both be honest, they are kept as evidence first.
pub(crate) async fn check_against_cosigned(
    node: &Arc<Node>,
    peer: &InstitutionId,
    offered: &str,
) -> anyhow::Result<()> {
    let cp = Checkpoint::parse(&Note::parse(offered)?.text)?;
    let log_key = log_vkey(&node.roster().roster, peer);
    // The cosigned checkpoint may move while tiles are fetched: evidence is kept only against
    // the one actually compared with.
    for _ in 0..3 {
        let o = cp.origin.clone();
        let key = log_key.clone();
        let Some((held, held_note)) = node
            .store
            .read(move |db| cosigned(db, &o, key.as_ref()))
            .await?
        else {
            return Ok(()); // not a log this node witnesses, or nothing cosigned yet
        };
        let problem = if cp.size == held.size {
            if cp.root == held.root {
                return Ok(());
            }
            WitnessRefusal::Fork.to_string()
        } else {
            match consistent_by_tiles(node, peer, held, &cp).await {
                Ok(true) => return Ok(()),
                Ok(false) => "no consistency proof from the cosigned checkpoint: the log's own \
                              tiles do not lead from one to the other"
                    .to_string(),
                Err(e) => bail!(
                    "this checkpoint of {} cannot be checked against the one this node \
                     cosigned ({} entries) yet: {e:#}",
                    cp.origin,
                    held.size
                ),
            }
        };
        let (o, offered_note, p) = (cp.origin.clone(), offered.to_string(), problem.clone());
        let key = log_key.clone();
        let kept = node
            .store
            .write(move |tx| {
                if cosigned(tx.db, &o, key.as_ref())?.map(|c| c.0) != Some(held) {
                    return Ok(false);
                }
                keep_evidence(tx, &o, &held_note, &offered_note, &p)?;
                Ok(true)
            })
            .await?;
        if kept {
            bail!(
                "this checkpoint of {} is inconsistent with the one this node cosigned ({} \
                 entries): {problem}; both are kept as evidence",
                cp.origin,
                held.size
            );
        }
    }
    bail!("the checkpoint this node cosigned for this log kept changing; try again")
}

/// Whether `peer`'s level tiles give a consistency proof between its checkpoint `cp` and
/// `held`, the one this node cosigned. `Err` when the tiles cannot be had.
async fn consistent_by_tiles(
    node: &Arc<Node>,
    peer: &InstitutionId,
    held: WitnessState,
    cp: &Checkpoint,
) -> anyhow::Result<bool> {
    let ((old, old_root), (new, new_root)) = if held.size < cp.size {
        ((held.size, held.root), (cp.size, cp.root))
    } else {
        ((cp.size, cp.root), (held.size, held.root))
    };
    let mut tiles = HashMap::new();
    for path in tile_proof::consistency_tiles(old, new) {
        match node
            .send_peer(peer, &PeerMessage::LogTile(path.clone()))
            .await?
        {
            PeerReply::LogData(bytes) => tiles.insert(path, bytes),
            PeerReply::Rejected { reason } => bail!("the log refused tile {path}: {reason}"),
            other => bail!(
                "the log answered tile {path} with a {}",
                node_core::reply_name(&other)
            ),
        };
    }
    let proof = tile_proof::consistency_proof_from_tiles(old, new, &mut |p| tiles.get(p).cloned())?;
    Ok(tlog::verify_consistency(old, new, &old_root, &new_root, &proof).is_ok())
}
