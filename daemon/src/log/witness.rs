//! This node as a witness of its peers' logs, beyond add-checkpoint (which the core decides,
//! `node_core::witness`): every other checkpoint of a witnessed log that reaches the node is
//! checked against the one it cosigned, and inconsistent checkpoints are kept as evidence.

use crate::clock::now;
use crate::node::Node;
use anyhow::bail;
use node_core::vkeys::log_vkey;
use node_core::witness::{cosigned, keep_evidence};
use protocol_spec::ids::InstitutionId;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::witness::{WitnessRefusal, WitnessState};
use protocol_spec::tlog::{self, Checkpoint, tile_proof};
use std::collections::HashMap;
use std::sync::Arc;

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
                keep_evidence(tx, now(), &o, &held_note, &offered_note, &p)?;
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
