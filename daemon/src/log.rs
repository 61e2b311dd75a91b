//! The node's transparency log: entries live in the store, their leaf hashes in memory in an
//! RFC 6962 tree; checkpoints are C2SP signed notes, cosigned by the witnesses the roster names.

use crate::clock::now;
use crate::node::Node;
use anyhow::{Context, anyhow, bail};
use protocol_spec::entry::Entry;
use protocol_spec::ids::InstitutionId;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::Roster;
use protocol_spec::tlog::note::{self, Note, SIG_COSIGNATURE, SIG_ED25519, VerifierKey};
use protocol_spec::tlog::tiles::{self, TilePath};
use protocol_spec::tlog::witness::{self, AddCheckpoint, WitnessState};
use protocol_spec::tlog::{self, Checkpoint};
use rusqlite::{Connection, OptionalExtension};
use std::sync::Arc;

pub struct LogState {
    pub origin: String,
    tree: tlog::Tree,
}

/// The checkpoint origin (and log key name) of a member's log.
pub fn origin(federation: &str, institution: &InstitutionId) -> String {
    format!("{federation}.passerelle/{institution}")
}

/// The verifier key of a member's log.
pub fn log_vkey(roster: &Roster, id: &InstitutionId) -> Option<VerifierKey> {
    let m = roster.member(id)?;
    Some(VerifierKey::new(
        &origin(&roster.federation, id),
        SIG_ED25519,
        m.log_key,
    ))
}

/// The cosignature verifier key of a member acting as witness.
pub fn witness_vkey(roster: &Roster, id: &InstitutionId) -> Option<VerifierKey> {
    let m = roster.member(id)?;
    Some(VerifierKey::new(
        &format!("{}/witness", origin(&roster.federation, id)),
        SIG_COSIGNATURE,
        m.witness_key,
    ))
}

impl LogState {
    /// Loads every leaf hash and checks the newest signed checkpoint against them, so a store
    /// whose log was altered or truncated is noticed before the node serves or signs anything.
    pub fn load(
        conn: &Connection,
        institution: &InstitutionId,
        federation: &str,
    ) -> anyhow::Result<LogState> {
        let mut tree = tlog::Tree::new();
        let mut st = conn.prepare("SELECT idx, leaf_hash FROM log_entries ORDER BY idx")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        for (expected, row) in rows.enumerate() {
            let (idx, leaf) = row?;
            if idx as usize != expected {
                bail!("log store is corrupt: entry {expected} is missing");
            }
            let leaf: [u8; 32] = leaf
                .try_into()
                .map_err(|_| anyhow!("log store is corrupt: bad leaf hash at {idx}"))?;
            tree.append(leaf);
        }
        let last: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((size, root)) = last {
            let size = size as u64;
            let ours = tree.root_at(size).ok_or_else(|| {
                anyhow!(
                    "log store is truncated: it holds {} entries but checkpoint {size} was signed",
                    tree.size()
                )
            })?;
            if ours.as_slice() != root.as_slice() {
                bail!("log store does not match signed checkpoint {size}: entries were altered");
            }
        }
        Ok(LogState {
            origin: origin(federation, institution),
            tree,
        })
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    pub fn append(&mut self, entries: &[Vec<u8>]) {
        for e in entries {
            self.tree.append(tlog::leaf_hash(e));
        }
    }

    pub fn root(&self) -> [u8; 32] {
        self.tree.root()
    }
}

/// The newest signed checkpoint note (with the cosignatures gathered so far), if any.
pub async fn latest_note(node: &Arc<Node>) -> anyhow::Result<Option<(u64, String)>> {
    node.store
        .read(|db| {
            Ok(db
                .query_row(
                    "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                    [],
                    |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
                )
                .optional()?)
        })
        .await
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
    node.store
        .write(move |tx| {
            tx.db.execute(
                "INSERT OR IGNORE INTO checkpoints (size, root, note) VALUES (?1, ?2, ?3)",
                rusqlite::params![size as i64, root.to_vec(), n2],
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
        let mut old: u64 = node
            .store
            .read(move |db| {
                Ok(db
                    .query_row(
                        "SELECT size FROM witness_progress WHERE witness = ?1",
                        [wname],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?
                    .unwrap_or(0) as u64)
            })
            .await?;
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
                                rusqlite::params![wname, size as i64],
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
                    rusqlite::params![text, size as i64],
                )?;
                Ok(())
            })
            .await?;
    }
    Ok(())
}

impl LogState {
    fn tree_consistency(&self, old: u64, new: u64) -> Vec<[u8; 32]> {
        self.tree.consistency_proof(old, new).unwrap_or_default()
    }
}

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
                    size: *size as u64,
                    root: root.as_slice().try_into().map_err(|_| anyhow!("corrupt witness state"))?,
                },
                None => WitnessState::default(),
            };
            match witness::decide(state, log_key.as_ref(), &req) {
                Ok((cp, _)) => {
                    tx.db.execute(
                        "INSERT INTO witness_state (origin, size, root, note) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note",
                        rusqlite::params![o, cp.size as i64, cp.root.to_vec(), req.checkpoint],
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
                            rusqlite::params![o, cosigned, req.checkpoint, e.to_string(), now() as i64],
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

/// Serves `checkpoint`, a level tile or an entry bundle.
pub async fn tile(node: &Arc<Node>, path: &str) -> anyhow::Result<Vec<u8>> {
    match tiles::parse_path(path).ok_or_else(|| anyhow!("not a tlog-tiles path: {path}"))? {
        TilePath::Checkpoint => {
            let (_, note) = sign_checkpoint(node).await?;
            Ok(note.into_bytes())
        }
        TilePath::Level {
            level,
            index,
            width,
        } => {
            let log = node.log.lock().unwrap();
            tiles::level_tile(&log.tree, level, index, width).context("no such tile in this log")
        }
        TilePath::Entries { index, width } => {
            let size = node.log.lock().unwrap().size();
            let first = index * tiles::TILE_WIDTH;
            if first + width > size {
                bail!("no such entry bundle in this log");
            }
            node.store
                .read(move |db| {
                    let mut st = db.prepare(
                        "SELECT entry FROM log_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                    )?;
                    let rows = st.query_map([first as i64, (first + width) as i64], |r| {
                        r.get::<_, Vec<u8>>(0)
                    })?;
                    let mut out = Vec::new();
                    for e in rows {
                        let e = e?;
                        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
                        out.extend_from_slice(&e);
                    }
                    Ok(out)
                })
                .await
        }
    }
}

/// An inclusion proof of leaf `index` under a checkpoint this node signs now.
pub async fn prove_inclusion(
    node: &Arc<Node>,
    index: u64,
) -> anyhow::Result<(String, Vec<[u8; 32]>)> {
    let (size, note) = sign_checkpoint(node).await?;
    let proof = node
        .log
        .lock()
        .unwrap()
        .tree
        .inclusion_proof(index, size)
        .ok_or_else(|| anyhow!("leaf {index} is not in this log"))?;
    Ok((note, proof))
}

/// Checks a peer's inclusion proof against its log key in the roster.
pub fn check_inclusion(
    roster: &Roster,
    peer: &InstitutionId,
    p: &protocol_spec::peer::InclusionProof,
) -> anyhow::Result<()> {
    let key = log_vkey(roster, peer).ok_or_else(|| anyhow!("{peer} is not a member"))?;
    let note = Note::parse(&p.checkpoint)?;
    note::verify_note(&note, std::slice::from_ref(&key))?;
    let cp = Checkpoint::parse(&note.text)?;
    tlog::verify_inclusion(&p.leaf_hash, p.leaf_index, cp.size, &p.proof, &cp.root)?;
    Ok(())
}

/// Stores a verified inclusion proof from `peer`.
pub async fn keep_inclusion(
    node: &Arc<Node>,
    peer: &InstitutionId,
    p: protocol_spec::peer::InclusionProof,
) -> anyhow::Result<()> {
    let peer = peer.to_string();
    node.store
        .write(move |tx| {
            let proof: Vec<u8> = p.proof.concat();
            tx.db.execute(
                "INSERT OR REPLACE INTO peer_inclusion (peer, request_digest, leaf_index, leaf_hash, checkpoint, proof) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![peer, p.request_digest.to_vec(), p.leaf_index as i64, p.leaf_hash.to_vec(), p.checkpoint, proof],
            )?;
            Ok(())
        })
        .await
}

/// After a receipt is durable: obtain and keep the responder's proof for its disclosure entry,
/// then give the responder the proof for our receipt entry. Best effort: a failure is logged and
/// the auditor's reconciliation still finds both entries.
pub async fn exchange_inclusion_proofs(
    node: Arc<Node>,
    source: InstitutionId,
    request_digest: [u8; 32],
    source_leaf: (u64, [u8; 32]),
    receipt_leaf: (u64, [u8; 32]),
) {
    let result = async {
        let roster = node.roster().roster;
        match node
            .send_peer(
                &source,
                &PeerMessage::ProveInclusion {
                    index: source_leaf.0,
                },
            )
            .await?
        {
            PeerReply::Inclusion { checkpoint, proof } => {
                let p = protocol_spec::peer::InclusionProof {
                    request_digest,
                    leaf_index: source_leaf.0,
                    leaf_hash: source_leaf.1,
                    checkpoint,
                    proof,
                };
                check_inclusion(&roster, &source, &p)
                    .context("the responder's inclusion proof does not verify")?;
                keep_inclusion(&node, &source, p).await?;
            }
            other => bail!("unexpected answer to an inclusion request: {other:?}"),
        }
        let (checkpoint, proof) = prove_inclusion(&node, receipt_leaf.0).await?;
        let ours = protocol_spec::peer::InclusionProof {
            request_digest,
            leaf_index: receipt_leaf.0,
            leaf_hash: receipt_leaf.1,
            checkpoint,
            proof,
        };
        match node
            .send_peer(&source, &PeerMessage::ReceiptProof(ours))
            .await?
        {
            PeerReply::Accepted => Ok(()),
            other => bail!("the responder did not accept our receipt proof: {other:?}"),
        }
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(peer = %source, error = %e, "inclusion proofs not exchanged");
    }
}
