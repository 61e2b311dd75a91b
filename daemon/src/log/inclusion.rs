//! Bilateral recording: inclusion proofs of a disclosure and its receipt, exchanged between
//! the two logs once the receipt is durable.

use super::checkpoints::{sign_checkpoint, signed_covering};
use super::witness::check_against_cosigned;
use crate::log_state::db_int;
use crate::node::Node;
use anyhow::{Context, anyhow, bail};
use node_core::vkeys::log_vkey;
use protocol_spec::ids::InstitutionId;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::Roster;
use protocol_spec::tlog::note::{self, Note};
use protocol_spec::tlog::{self, Checkpoint};
use std::sync::Arc;

/// An inclusion proof of leaf `index` under a checkpoint this node signs now.
pub(crate) async fn prove_inclusion(
    node: &Arc<Node>,
    index: u64,
) -> anyhow::Result<(String, Vec<[u8; 32]>)> {
    let (size, note) = match signed_covering(node, index) {
        Some(known) => known,
        None => sign_checkpoint(node).await?,
    };
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
pub(crate) fn check_inclusion(
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

/// Receives `peer`'s inclusion proof (an `Inclusion` reply or a `ReceiptProof`): verified,
/// its index within what the store records, its checkpoint consistent with the one this node
/// cosigned for that log (§7.3), then kept.
pub(crate) async fn receive_inclusion(
    node: &Arc<Node>,
    peer: &InstitutionId,
    p: protocol_spec::peer::InclusionProof,
) -> anyhow::Result<()> {
    db_int(p.leaf_index, "leaf index")?;
    let checked = node.checked_checkpoints.lock().unwrap().get(peer) == Some(&p.checkpoint);
    if checked {
        // The note's signature and consistency were checked already; the proof itself is not.
        let cp = Checkpoint::parse(&Note::parse(&p.checkpoint)?.text)?;
        tlog::verify_inclusion(&p.leaf_hash, p.leaf_index, cp.size, &p.proof, &cp.root)
            .context("the proof does not verify")?;
    } else {
        check_inclusion(&node.roster().roster, peer, &p).context("the proof does not verify")?;
        check_against_cosigned(node, peer, &p.checkpoint).await?;
        node.checked_checkpoints
            .lock()
            .unwrap()
            .insert(peer.clone(), p.checkpoint.clone());
    }
    keep_inclusion(node, peer, p).await
}

/// Stores a verified inclusion proof from `peer`.
pub(crate) async fn keep_inclusion(
    node: &Arc<Node>,
    peer: &InstitutionId,
    p: protocol_spec::peer::InclusionProof,
) -> anyhow::Result<()> {
    let peer = peer.to_string();
    let leaf_index = db_int(p.leaf_index, "leaf index")?;
    node.store
        .write(move |tx| {
            let proof: Vec<u8> = p.proof.concat();
            tx.db.execute(
                "INSERT OR REPLACE INTO peer_inclusion (peer, request_digest, leaf_index, leaf_hash, checkpoint, proof) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![peer, p.request_digest.to_vec(), leaf_index, p.leaf_hash.to_vec(), p.checkpoint, proof],
            )?;
            Ok(())
        })
        .await
}

/// After a receipt is durable: obtain and keep the responder's proof for its disclosure entry,
/// then give the responder the proof for our receipt entry. Best effort: a failure is logged and
/// the auditor's reconciliation still finds both entries.
pub(crate) async fn exchange_inclusion_proofs(
    node: Arc<Node>,
    source: InstitutionId,
    request_digest: [u8; 32],
    source_leaf: (u64, [u8; 32]),
    receipt_leaf: (u64, [u8; 32]),
) {
    let result = async {
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
                receive_inclusion(&node, &source, p)
                    .await
                    .context("the responder's inclusion proof was refused")?;
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
