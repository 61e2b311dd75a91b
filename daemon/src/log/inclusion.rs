//! Bilateral recording: inclusion proofs of disclosures and their receipts, exchanged between
//! the two logs once the receipts are durable, many exchanges at a time: one checkpoint
//! signature, one verification and one store write serve a whole batch (transparency-log.md §8).

use super::checkpoints::{sign_checkpoint, signed_covering};
use super::witness::check_against_cosigned;
use crate::log_state::db_int;
use crate::node::Node;
use anyhow::{Context, anyhow, bail};
use node_core::vkeys::log_vkey;
use protocol_spec::ids::InstitutionId;
use protocol_spec::peer::{
    InclusionPath, InclusionProof, LeafProof, MAX_PROOFS, PeerMessage, PeerReply, ReceiptProofs,
};
use protocol_spec::roster::Roster;
use protocol_spec::tlog::note::{self, Note};
use protocol_spec::tlog::{self, Checkpoint};
use std::sync::Arc;
use std::time::Duration;

/// How long the first receipt of a batch waits for others to the same responder.
const BATCH_WAIT: Duration = Duration::from_millis(50);

/// A receipt this node logged: the exchange's request digest, the responder's disclosure leaf
/// and this node's receipt leaf (index and RFC 6962 leaf hash).
pub(crate) struct Receipt {
    pub(crate) request_digest: [u8; 32],
    pub(crate) source_leaf: (u64, [u8; 32]),
    pub(crate) receipt_leaf: (u64, [u8; 32]),
}

/// The receipts waiting for one responder, and whether a task is exchanging them.
#[derive(Default)]
pub(crate) struct Waiting {
    receipts: Vec<Receipt>,
    flushing: bool,
}

/// A receipt is durable: its proofs go with the next batch to `source`. One task per responder
/// exchanges the batches, at most [`MAX_PROOFS`] receipts each, until none waits. Each batch
/// gathers for [`BATCH_WAIT`] unless it is full: sent as soon as the last one was answered, a
/// batch held only the few receipts logged during one round trip, and each paid a checkpoint
/// signature, a verification and two writes of its own.
pub(crate) fn receipt_logged(node: &Arc<Node>, source: InstitutionId, receipt: Receipt) {
    let start = {
        let mut waiting = node.receipts_to_prove.lock().unwrap();
        let w = waiting.entry(source.clone()).or_default();
        w.receipts.push(receipt);
        !std::mem::replace(&mut w.flushing, true)
    };
    if !start {
        return;
    }
    let node = node.clone();
    node.tasks.clone().spawn(async move {
        loop {
            let full = node
                .receipts_to_prove
                .lock()
                .unwrap()
                .get(&source)
                .is_some_and(|w| w.receipts.len() >= MAX_PROOFS);
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(BATCH_WAIT) => {}
                    // Best effort: a node that stops leaves them to the audit's reconciliation.
                    _ = node.shutdown.cancelled() => return,
                }
            }
            let batch: Vec<Receipt> = {
                let mut waiting = node.receipts_to_prove.lock().unwrap();
                let Some(w) = waiting.get_mut(&source) else {
                    break;
                };
                if w.receipts.is_empty() {
                    waiting.remove(&source);
                    break;
                }
                let n = w.receipts.len().min(MAX_PROOFS);
                w.receipts.drain(..n).collect()
            };
            exchange(&node, &source, &batch).await;
        }
    });
}

/// Obtains and keeps the responder's proofs for its disclosure entries, then gives it the
/// proofs for our receipt entries. Best effort: a failure is logged and the auditor's
/// reconciliation still finds every entry.
async fn exchange(node: &Arc<Node>, source: &InstitutionId, batch: &[Receipt]) {
    let result = async {
        let indices = batch.iter().map(|r| r.source_leaf.0).collect();
        match node
            .send_peer(source, &PeerMessage::ProveInclusions { indices })
            .await?
        {
            PeerReply::Inclusions { checkpoint, proofs } if proofs.len() == batch.len() => {
                let theirs = batch
                    .iter()
                    .zip(proofs)
                    .map(|(r, path)| InclusionProof {
                        request_digest: r.request_digest,
                        leaf_index: r.source_leaf.0,
                        leaf_hash: r.source_leaf.1,
                        checkpoint: checkpoint.clone(),
                        proof: path.0,
                    })
                    .collect();
                receive_inclusions(node, source, theirs)
                    .await
                    .context("the responder's inclusion proofs were refused")?;
            }
            other => bail!(
                "unexpected answer to an inclusion request: {}",
                node_core::reply_name(&other)
            ),
        }
        let ours: Vec<u64> = batch.iter().map(|r| r.receipt_leaf.0).collect();
        let (checkpoint, paths) = prove_inclusions(node, &ours).await?;
        let leaves = batch
            .iter()
            .zip(paths)
            .map(|(r, path)| LeafProof {
                request_digest: r.request_digest,
                leaf_index: r.receipt_leaf.0,
                leaf_hash: r.receipt_leaf.1,
                proof: path.0,
            })
            .collect();
        let proofs = ReceiptProofs { checkpoint, leaves };
        match node
            .send_peer(source, &PeerMessage::ReceiptProofs(Box::new(proofs)))
            .await?
        {
            PeerReply::Accepted => Ok(()),
            other => bail!(
                "the responder did not accept our receipt proofs: {}",
                node_core::reply_name(&other)
            ),
        }
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(peer = %source, receipts = batch.len(), error = %format_args!("{e:#}"), "inclusion proofs not exchanged");
    }
}

/// Inclusion proofs of leaves `indices` under one checkpoint this node signed: the newest one
/// if it covers them all, else one it signs now.
pub(crate) async fn prove_inclusions(
    node: &Arc<Node>,
    indices: &[u64],
) -> anyhow::Result<(String, Vec<InclusionPath>)> {
    let last = *indices
        .iter()
        .max()
        .ok_or_else(|| anyhow!("no leaf is named"))?;
    let (size, note) = match signed_covering(node, last) {
        Some(known) => known,
        None => sign_checkpoint(node).await?,
    };
    let log = node.log.lock().unwrap();
    let proofs = indices
        .iter()
        .map(|&i| {
            log.tree
                .inclusion_proof(i, size)
                .map(InclusionPath)
                .ok_or_else(|| anyhow!("leaf {i} is not in this log"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((note, proofs))
}

/// An inclusion proof of leaf `index` under a checkpoint this node signed.
pub(crate) async fn prove_inclusion(
    node: &Arc<Node>,
    index: u64,
) -> anyhow::Result<(String, Vec<[u8; 32]>)> {
    let (note, mut proofs) = prove_inclusions(node, &[index]).await?;
    let proof = proofs.pop().ok_or_else(|| anyhow!("no proof"))?;
    Ok((note, proof.0))
}

/// Checks a peer's inclusion proof against its log key in the roster.
pub(crate) fn check_inclusion(
    roster: &Roster,
    peer: &InstitutionId,
    p: &InclusionProof,
) -> anyhow::Result<()> {
    let key = log_vkey(roster, peer).ok_or_else(|| anyhow!("{peer} is not a member"))?;
    let note = Note::parse(&p.checkpoint)?;
    note::verify_note(&note, std::slice::from_ref(&key))?;
    let cp = Checkpoint::parse(&note.text)?;
    tlog::verify_inclusion(&p.leaf_hash, p.leaf_index, cp.size, &p.proof, &cp.root)?;
    Ok(())
}

/// Receives `peer`'s inclusion proofs (an `Inclusion` or `Inclusions` reply, a `ReceiptProof`
/// or `ReceiptProofs`): each verified, its index within what the store records, its checkpoint
/// consistent with the one this node cosigned for that log (§7.3); then all kept, or none.
pub(crate) async fn receive_inclusions(
    node: &Arc<Node>,
    peer: &InstitutionId,
    proofs: Vec<InclusionProof>,
) -> anyhow::Result<()> {
    for (i, p) in proofs.iter().enumerate() {
        let which = || format!("proof {i} (leaf {})", p.leaf_index);
        db_int(p.leaf_index, "leaf index")?;
        let checked = node.checked_checkpoints.lock().unwrap().get(peer) == Some(&p.checkpoint);
        if checked {
            // The note's signature and consistency were checked already; the proof itself is not.
            let cp = Checkpoint::parse(&Note::parse(&p.checkpoint)?.text)?;
            tlog::verify_inclusion(&p.leaf_hash, p.leaf_index, cp.size, &p.proof, &cp.root)
                .with_context(|| format!("{} does not verify", which()))?;
        } else {
            check_inclusion(&node.roster().roster, peer, p)
                .with_context(|| format!("{} does not verify", which()))?;
            check_against_cosigned(node, peer, &p.checkpoint).await?;
            node.checked_checkpoints
                .lock()
                .unwrap()
                .insert(peer.clone(), p.checkpoint.clone());
        }
    }
    keep_inclusions(node, peer, proofs).await
}

/// Stores verified inclusion proofs from `peer`, in one write.
pub(crate) async fn keep_inclusions(
    node: &Arc<Node>,
    peer: &InstitutionId,
    proofs: Vec<InclusionProof>,
) -> anyhow::Result<()> {
    let peer = peer.to_string();
    let rows = proofs
        .into_iter()
        .map(|p| Ok((db_int(p.leaf_index, "leaf index")?, p)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    node.store
        .write(move |tx| {
            let mut insert = tx.db.prepare_cached(
                "INSERT OR REPLACE INTO peer_inclusion (peer, request_digest, leaf_index, leaf_hash, checkpoint, proof) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (leaf_index, p) in rows {
                insert.execute(rusqlite::params![
                    peer,
                    p.request_digest.to_vec(),
                    leaf_index,
                    p.leaf_hash.to_vec(),
                    p.checkpoint,
                    p.proof.concat()
                ])?;
            }
            Ok(())
        })
        .await
}
