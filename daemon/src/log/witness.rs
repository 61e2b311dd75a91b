//! This node as a witness of its peers' logs: the tlog-witness add-checkpoint decision, made
//! atomically with the stored state, and inconsistent checkpoints kept as evidence.

use super::{db_int, from_db, log_vkey, origin, witness_vkey};
use crate::clock::now;
use crate::node::Node;
use anyhow::anyhow;
use protocol_spec::entry::Entry;
use protocol_spec::peer::PeerReply;
use protocol_spec::tlog::Checkpoint;
use protocol_spec::tlog::note::{self, Note};
use protocol_spec::tlog::witness::{self, AddCheckpoint, WitnessState};
use rusqlite::OptionalExtension;
use std::sync::Arc;

/// The witness side of add-checkpoint: decide, persist the new state atomically with the
/// check, cosign. An inconsistent checkpoint is kept with the one cosigned before as evidence,
/// logged, and reported to administrators through the node status.
pub async fn witness_add_checkpoint(node: &Arc<Node>, body: String) -> PeerReply {
    let refused = |e: &witness::WitnessRefusal| PeerReply::WitnessRefused {
        status: e.status(),
        latest: match e {
            witness::WitnessRefusal::Conflict { latest } => Some(*latest),
            _ => None,
        },
        reason: e.to_string(),
    };
    let req = match AddCheckpoint::parse(&body) {
        Ok(r) => r,
        Err(e) => return refused(&e),
    };
    let roster = node.roster().roster;
    // The origin names the log; only a member whose witness policy names us is served.
    let origin_of_request = Note::parse(&req.checkpoint)
        .ok()
        .and_then(|n| Checkpoint::parse(&n.text).ok())
        .map(|c| c.origin);
    let log_member = roster.members.iter().find(|m| {
        Some(origin(&roster.federation, &m.id)) == origin_of_request
            && m.witnesses.contains(&node.me)
    });
    let log_key = log_member.and_then(|m| log_vkey(&roster, &m.id));
    let my_wkey = witness_vkey(&roster, &node.me);
    let n = node.clone();
    let result = node
        .store
        .write(move |tx| {
            let o = origin_of_request.clone().unwrap_or_default();
            let prior: Option<(i64, Vec<u8>, String)> = tx
                .db
                .query_row("SELECT size, root, note FROM witness_state WHERE origin = ?1", [&o], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let state = match &prior {
                Some((size, root, _)) => WitnessState {
                    size: from_db(*size, "witness state size")?,
                    root: root.as_slice().try_into().map_err(|_| anyhow!("corrupt witness state"))?,
                },
                None => WitnessState::default(),
            };
            match witness::decide(state, log_key.as_ref(), &req) {
                // No log of a Passerelle member grows that far; the store could not keep it.
                Ok((cp, _)) if i64::try_from(cp.size).is_err() => {
                    Ok(refused(&witness::WitnessRefusal::Malformed("checkpoint size beyond 2^63 - 1")))
                }
                Ok((cp, _)) => {
                    tx.db.execute(
                        "INSERT INTO witness_state (origin, size, root, note) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note",
                        rusqlite::params![o, db_int(cp.size, "checkpoint size")?, cp.root.to_vec(), req.checkpoint],
                    )?;
                    let wkey = my_wkey.ok_or_else(|| anyhow!("this node has no witness key in the roster"))?;
                    let line = note::cosign(&Checkpoint::parse(&Note::parse(&req.checkpoint)?.text)?.body(), &wkey.name, &n.witness_key, now());
                    Ok(PeerReply::Cosigned(line.line()))
                }
                Err(e) => {
                    if e.is_evidence() {
                        let cosigned = prior.map(|p| p.2).unwrap_or_default();
                        tx.db.execute(
                            "INSERT INTO witness_evidence (origin, cosigned, offered, problem, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                            rusqlite::params![o, cosigned, req.checkpoint, e.to_string(), db_int(now(), "time")?],
                        )?;
                        let digest = |t: &str| hex::encode(protocol_spec::keys::sha256(&[t.as_bytes()]));
                        tx.log(Entry::new("witness-evidence", now(), vec![o.clone(), digest(&cosigned), digest(&req.checkpoint), e.to_string()])?.to_bytes())?;
                        tracing::error!(origin = %o, problem = %e, "a peer log presented a checkpoint inconsistent with one this node cosigned; evidence kept");
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
