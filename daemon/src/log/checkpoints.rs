//! The node's own checkpoints: signed over its one append-only tree and offered to the
//! witnesses its roster entry names, whose cosignatures are kept with the checkpoint. Before
//! it signs anything new after a start, the node asks its witnesses what they cosigned, so a
//! lost or rolled-back store halts the log instead of starting a new one (§7.4).

use crate::log_state::{HALTED_KEY, Standing, db_int, from_db};
use crate::node::Node;
use anyhow::{anyhow, bail};
use node_core::vkeys::witness_vkey;
use protocol_spec::ids::InstitutionId;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::tlog::cosignature;
use protocol_spec::tlog::note::{self, Note, NoteSignature, SIG_ED25519, VerifierKey};
use protocol_spec::tlog::witness::AddCheckpoint;
use protocol_spec::tlog::{self, Checkpoint, EMPTY_ROOT};
use rusqlite::OptionalExtension;
use std::sync::Arc;

/// The vkey of this node's own log key: checkpoints it signed with an earlier key (replaced
/// by the steering group, §7.5) do not count as its own.
fn own_vkey(node: &Node) -> VerifierKey {
    let origin = node.log.lock().unwrap().origin.clone();
    VerifierKey::new(&origin, SIG_ED25519, node.log_key.public())
}

/// The newest checkpoint note this node signed with its current log key (with the
/// cosignatures gathered so far), if any.
pub(crate) async fn latest_note(node: &Arc<Node>) -> anyhow::Result<Option<(u64, String)>> {
    if let Some(known) = node.log.lock().unwrap().signed.clone() {
        return Ok(Some(known));
    }
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
    let Some((size, text)) = newest else {
        return Ok(None);
    };
    let mine = Note::parse(&text)
        .is_ok_and(|n| note::verify_note(&n, std::slice::from_ref(&own_vkey(node))).is_ok());
    let newest = mine
        .then(|| from_db(size, "checkpoint size").map(|s| (s, text)))
        .transpose()?;
    if let Some(n) = &newest {
        remember_signed(node, n.0, &n.1);
    }
    Ok(newest)
}

/// Keeps `note` as the newest checkpoint signed, unless a newer one is known already.
fn remember_signed(node: &Arc<Node>, size: u64, note: &str) {
    let mut log = node.log.lock().unwrap();
    if log.signed.as_ref().is_none_or(|(s, _)| *s <= size) {
        log.signed = Some((size, note.to_string()));
    }
}

/// A checkpoint already signed that covers leaf `index`, while the log stands confirmed: an
/// inclusion proof needs no fresh signature when one exists (under load, one checkpoint then
/// serves the proofs of many exchanges).
pub(crate) fn signed_covering(node: &Arc<Node>, index: u64) -> Option<(u64, String)> {
    let log = node.log.lock().unwrap();
    if log.standing != Standing::Confirmed {
        return None;
    }
    log.signed.clone().filter(|(size, _)| *size > index)
}

/// Signs a checkpoint of the current tree, unless the newest one already covers it, and
/// records it before returning it. A node only ever signs the roots of its one append-only
/// tree, refuses to start if its store disagrees with what it signed, and signs nothing new
/// until its witnesses showed they hold nothing this tree cannot extend: it never signs two
/// inconsistent checkpoints.
pub(crate) async fn sign_checkpoint(node: &Arc<Node>) -> anyhow::Result<(u64, String)> {
    confirm_with_witnesses(node).await?;
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
            // A note of this size signed with a replaced key gives way to this one.
            tx.db
                .prepare_cached(
                    "INSERT INTO checkpoints (size, root, note) VALUES (?1, ?2, ?3)
                 ON CONFLICT(size) DO UPDATE SET note = excluded.note",
                )?
                .execute(rusqlite::params![row, root.to_vec(), n2])?;
            Ok(())
        })
        .await?;
    remember_signed(node, size, &note);
    tracing::info!(tree_size = size, "checkpoint signed");
    Ok((size, note))
}

/// What one witness answered to a checkpoint offered to it.
enum Offered {
    /// Its verified cosignature lines.
    Cosigned(Vec<NoteSignature>),
    /// It holds a cosigned checkpoint of this log that the offered one cannot extend; with
    /// the size it cosigned when that is larger than this store's log (the store is behind).
    Conflict(String, Option<u64>),
    /// No answer that says either: unreachable, or refused for another reason.
    Nothing(String),
}

/// Offers the checkpoint `note` of `size` to witness `w`, proving consistency from the size it
/// last cosigned, and once more from the size it says it holds (409) when that is not larger.
async fn offer(node: &Arc<Node>, w: &InstitutionId, size: u64, note: &Note) -> Offered {
    let in_force = node.roster();
    let roster = &in_force.roster;
    let Some(wkey) = witness_vkey(roster, w) else {
        return Offered::Nothing(format!("{w} is not a member"));
    };
    let wname = w.to_string();
    let progress = node
        .store
        .read(move |db| {
            let p: Option<i64> = db
                .query_row(
                    "SELECT size FROM witness_progress WHERE witness = ?1",
                    [wname],
                    |r| r.get(0),
                )
                .optional()?;
            from_db(p.unwrap_or(0), "witness progress")
        })
        .await;
    let mut old = match progress {
        Ok(p) => p.min(size),
        Err(e) => return Offered::Nothing(format!("{e:#}")),
    };
    let text = note.to_text();
    for _attempt in 0..2 {
        let proof = node.log.lock().unwrap().tree_consistency(old, size);
        let req = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: text.clone(),
        };
        match node
            .send_peer(w, &PeerMessage::AddCheckpoint(req.to_text()))
            .await
        {
            Ok(PeerReply::Cosigned(lines)) => {
                let cosigned: Vec<NoteSignature> = Note::parse(&format!("{}\n{lines}", note.text))
                    .map(|n| n.signatures)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|s| {
                        s.name == wkey.name
                            && cosignature::verify_cosignature(&note.text, s, &wkey).is_ok()
                    })
                    .collect();
                if cosigned.is_empty() {
                    return Offered::Nothing("its cosignature does not verify".into());
                }
                let (wname, row) = (w.to_string(), size);
                let recorded = node
                    .store
                    .write(move |tx| {
                        tx.db
                            .prepare_cached(
                                "INSERT INTO witness_progress (witness, size) VALUES (?1, ?2)
                             ON CONFLICT(witness) DO UPDATE SET size = excluded.size",
                            )?
                            .execute(rusqlite::params![wname, db_int(row, "log size")?])?;
                        Ok(())
                    })
                    .await;
                return match recorded {
                    Ok(()) => {
                        tracing::info!(witness = %w, tree_size = size, "checkpoint cosigned");
                        node.watch.cosigned(crate::clock::now());
                        Offered::Cosigned(cosigned)
                    }
                    Err(e) => Offered::Nothing(format!("{e:#}")),
                };
            }
            Ok(PeerReply::WitnessRefused {
                status: 409,
                latest: Some(latest),
                ..
            }) if latest <= size && latest != old => old = latest,
            // Only this node signs this log, and it signed nothing its store does not hold:
            // a witness holding more has seen entries this store lost.
            Ok(PeerReply::WitnessRefused {
                status: 409,
                latest: Some(latest),
                ..
            }) if latest > size => {
                return Offered::Conflict(
                    format!(
                        "witness {w} holds a checkpoint of this log cosigned at {latest} entries, \
                     more than the {size} of this store's newest signed checkpoint (its log \
                     holds {} entries): this store lost entries it had signed (lost, or \
                     restored from an older copy)",
                        node.log.lock().unwrap().size()
                    ),
                    Some(latest),
                );
            }
            // 422 to an honest log's own proof: the witness cosigned another history.
            Ok(PeerReply::WitnessRefused {
                status: 422,
                reason,
                ..
            }) => {
                return Offered::Conflict(
                    format!(
                        "witness {w} refused this log's checkpoint of {size} entries as \
                     inconsistent with the checkpoint of this log it cosigned ({reason}): \
                     this store's entries differ from those it signed before (replaced or \
                     restored from another copy)"
                    ),
                    None,
                );
            }
            Ok(PeerReply::WitnessRefused { status, reason, .. }) => {
                return Offered::Nothing(format!("refused ({status}): {reason}"));
            }
            Ok(other) => {
                return Offered::Nothing(format!(
                    "answered with a {}",
                    node_core::reply_name(&other)
                ));
            }
            Err(e) => return Offered::Nothing(format!("unreachable: {e:#}")),
        }
    }
    Offered::Nothing("the size it holds kept changing".into())
}

/// Records that the log is halted, says so where an administrator looks (the error log and
/// the node status), and refuses from then on to sign or serve anything of it.
async fn halt(node: &Arc<Node>, problem: String) -> anyhow::Error {
    tracing::error!(
        institution = %node.me,
        problem = %problem,
        "this node's transparency log is halted: it signs and serves nothing more of it. \
         Restore the newest copy of the store, or see the README, \"A halted log\""
    );
    node.log.lock().unwrap().standing = Standing::Halted(problem.clone());
    let p = problem.clone();
    let recorded = node
        .store
        .write(move |tx| {
            tx.db.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                rusqlite::params![HALTED_KEY, p.into_bytes()],
            )?;
            Ok(())
        })
        .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, "the halt of the log could not be recorded in the store");
    }
    anyhow!("this node's log is halted: {problem}")
}

/// Once per start, before anything new is signed: offers the newest checkpoint this node
/// signed (or the empty tree's, which every log extends, when its store holds none) to every
/// witness. Confirmed when at least the quorum cosign it and none holds a checkpoint this log
/// cannot extend; halted as soon as one does. Witnesses that were not reached are checked
/// again by every later round.
pub(crate) async fn confirm_with_witnesses(node: &Arc<Node>) -> anyhow::Result<()> {
    let lock = node.log.lock().unwrap().confirming.clone();
    let _confirming = lock.lock().await;
    match node.log.lock().unwrap().standing.clone() {
        Standing::Confirmed => return Ok(()),
        Standing::Halted(problem) => bail!("this node's log is halted: {problem}"),
        Standing::Unconfirmed { .. } => {}
    }
    let in_force = node.roster();
    let roster = &in_force.roster;
    let me = roster
        .member(&node.me)
        .ok_or_else(|| anyhow!("the roster in force does not list this node"))?;
    let quorum = usize::from(me.witness_quorum).min(me.witnesses.len());
    let (size, text) = match latest_note(node).await? {
        Some(newest) => newest,
        None => {
            let origin = node.log.lock().unwrap().origin.clone();
            let empty = Checkpoint {
                origin: origin.clone(),
                size: 0,
                root: EMPTY_ROOT,
            };
            (0, tlog::sign_checkpoint(&empty, &origin, &node.log_key))
        }
    };
    let note = Note::parse(&text)?;
    let mut asked = tokio::task::JoinSet::new();
    for w in me.witnesses.clone() {
        let (node, note) = (node.clone(), note.clone());
        asked.spawn(async move {
            let answer = offer(&node, &w, size, &note).await;
            (w, answer)
        });
    }
    let (mut cosigned, mut silent) = (0, Vec::new());
    while let Some(done) = asked.join_next().await {
        let (w, answer) = done.map_err(|e| anyhow!("asking a witness failed: {e}"))?;
        match answer {
            Offered::Cosigned(_) => cosigned += 1,
            Offered::Conflict(problem, behind) => {
                asked.abort_all();
                node.log.lock().unwrap().behind = behind.map(|cosigned| (w.clone(), cosigned));
                return Err(halt(node, problem).await);
            }
            Offered::Nothing(why) => silent.push(format!("{w}: {why}")),
        }
    }
    if cosigned < quorum {
        bail!(
            "this node signs nothing new until its witnesses confirm they hold nothing newer \
             than its log: {cosigned} of the {quorum} needed answered ({})",
            silent.join("; ")
        );
    }
    let cleared = node
        .store
        .write(|tx| {
            tx.db
                .execute("DELETE FROM meta WHERE key = ?1", [HALTED_KEY])?;
            // A restored store the witnesses confirmed needs no check at the next start.
            tx.db.execute(
                "DELETE FROM meta WHERE key = ?1",
                [super::loss::RESTORED_KEY],
            )?;
            Ok(())
        })
        .await;
    cleared?;
    node.log.lock().unwrap().standing = Standing::Confirmed;
    Ok(())
}

/// Signs a new checkpoint if the log grew and asks each witness of the roster's policy to
/// cosign it, proving consistency from the size that witness last cosigned. A witness that
/// holds a checkpoint this log cannot extend halts the log.
pub(crate) async fn checkpoint_and_witness(node: &Arc<Node>) -> anyhow::Result<()> {
    let (size, note_text) = sign_checkpoint(node).await?;
    let row = db_int(size, "log size")?;
    let in_force = node.roster();
    let roster = &in_force.roster;
    let Some(me) = roster.member(&node.me).cloned() else {
        return Ok(());
    };
    let mut note = Note::parse(&note_text)?;
    let mut changed = false;
    for w in &me.witnesses {
        let Some(wkey) = witness_vkey(roster, w) else {
            continue;
        };
        if note.signatures.iter().any(|s| s.name == wkey.name) {
            continue; // already cosigned by this witness
        }
        match offer(node, w, size, &note).await {
            Offered::Cosigned(lines) => {
                note.signatures.extend(lines);
                changed = true;
            }
            Offered::Conflict(problem, _) => return Err(halt(node, problem).await),
            // Unreachable or refused: asked again next round.
            Offered::Nothing(why) => {
                tracing::warn!(witness = %w, why, "witness did not cosign our checkpoint");
            }
        }
    }
    if changed {
        let text = note.to_text();
        let kept = text.clone();
        node.store
            .write(move |tx| {
                tx.db.execute(
                    "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
                    rusqlite::params![kept, row],
                )?;
                Ok(())
            })
            .await?;
        // The note served from now on carries the cosignatures.
        remember_signed(node, size, &text);
    }
    // A checkpoint covers the log as it stood when the round began.
    node.watch.checkpointed(crate::clock::now());
    Ok(())
}
