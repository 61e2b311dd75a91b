//! The node's own checkpoints: signed over its one append-only tree and offered to the
//! witnesses its roster entry names, whose cosignatures are kept with the checkpoint.

use super::{db_int, from_db, witness_vkey};
use crate::node::Node;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::tlog::note::{self, Note};
use protocol_spec::tlog::witness::AddCheckpoint;
use protocol_spec::tlog::{self, Checkpoint};
use rusqlite::OptionalExtension;
use std::sync::Arc;

/// The newest signed checkpoint note (with the cosignatures gathered so far), if any.
pub async fn latest_note(node: &Arc<Node>) -> anyhow::Result<Option<(u64, String)>> {
    let newest = node
        .store
        .read(|db| {
            Ok(db
                .query_row(
                    "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                    [],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?)
        })
        .await?;
    newest
        .map(|(size, note)| Ok((from_db(size, "checkpoint size")?, note)))
        .transpose()
}

/// Signs a checkpoint of the current tree, unless the newest one already covers it, and
/// records it before returning it. A node only ever signs the roots of its one append-only
/// tree, and refuses to start if its store disagrees with what it signed: it never signs two
/// inconsistent checkpoints.
pub async fn sign_checkpoint(node: &Arc<Node>) -> anyhow::Result<(u64, String)> {
    if let Some((size, note)) = latest_note(node).await?
        && size == node.log.lock().unwrap().size()
    {
        return Ok((size, note));
    }
    let (origin, size, root) = {
        let log = node.log.lock().unwrap();
        (log.origin.clone(), log.size(), log.root())
    };
    let cp = Checkpoint {
        origin: origin.clone(),
        size,
        root,
    };
    let note = tlog::sign_checkpoint(&cp, &origin, &node.log_key);
    let n2 = note.clone();
    let row = db_int(size, "log size")?;
    node.store
        .write(move |tx| {
            tx.db.execute(
                "INSERT OR IGNORE INTO checkpoints (size, root, note) VALUES (?1, ?2, ?3)",
                rusqlite::params![row, root.to_vec(), n2],
            )?;
            Ok(())
        })
        .await?;
    Ok((size, note))
}

/// Signs a new checkpoint if the log grew and asks each witness of the roster's policy to
/// cosign it, proving consistency from the size that witness last cosigned.
pub async fn checkpoint_and_witness(node: &Arc<Node>) -> anyhow::Result<()> {
    let (size, note_text) = sign_checkpoint(node).await?;
    let row = db_int(size, "log size")?;
    let roster = node.roster().roster;
    let Some(me) = roster.member(&node.me).cloned() else {
        return Ok(());
    };
    let mut note = Note::parse(&note_text)?;
    let mut changed = false;
    for w in &me.witnesses {
        let Some(wkey) = witness_vkey(&roster, w) else {
            continue;
        };
        if note.signatures.iter().any(|s| s.name == wkey.name) {
            continue; // already cosigned by this witness
        }
        let wname = w.to_string();
        let old: i64 = node
            .store
            .read(move |db| {
                Ok(db
                    .query_row(
                        "SELECT size FROM witness_progress WHERE witness = ?1",
                        [wname],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?
                    .unwrap_or(0))
            })
            .await?;
        let mut old = from_db(old, "witness progress")?;
        for _attempt in 0..2 {
            let proof = node
                .log
                .lock()
                .unwrap()
                .tree_consistency(old.min(size), size);
            let req = AddCheckpoint {
                old_size: old,
                proof,
                checkpoint: note_text.clone(),
            };
            match node
                .send_peer(w, &PeerMessage::AddCheckpoint(req.to_text()))
                .await
            {
                Ok(PeerReply::Cosigned(lines)) => {
                    let cos = Note::parse(&format!("{}\n{lines}", note.text))?;
                    for s in cos.signatures {
                        if s.name == wkey.name
                            && note::verify_cosignature(&note.text, &s, &wkey).is_ok()
                        {
                            note.signatures.push(s);
                            changed = true;
                        }
                    }
                    let wname = w.to_string();
                    node.store
                        .write(move |tx| {
                            tx.db.execute(
                                "INSERT INTO witness_progress (witness, size) VALUES (?1, ?2) ON CONFLICT(witness) DO UPDATE SET size = excluded.size",
                                rusqlite::params![wname, row],
                            )?;
                            Ok(())
                        })
                        .await?;
                    break;
                }
                Ok(PeerReply::WitnessRefused {
                    status: 409,
                    latest: Some(latest),
                    ..
                }) if latest <= size => old = latest,
                Ok(PeerReply::WitnessRefused { status, reason, .. }) => {
                    tracing::warn!(witness = %w, status, reason, "witness refused our checkpoint");
                    break;
                }
                Ok(_) | Err(_) => break, // unreachable witness: try again next round
            }
        }
    }
    if changed {
        let text = note.to_text();
        node.store
            .write(move |tx| {
                tx.db.execute(
                    "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
                    rusqlite::params![text, row],
                )?;
                Ok(())
            })
            .await?;
    }
    Ok(())
}
