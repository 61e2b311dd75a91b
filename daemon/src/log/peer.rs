//! Log messages from peers: tiles, inclusion proofs and receipt proofs (add-checkpoint to this
//! node as a witness is the core's). Every refusal is bounded (protocol.md §8), whatever it quotes.

use super::inclusion::{prove_inclusion, prove_inclusions, receive_inclusions};
use super::reasons::{MAX_REASON_LEN, bounded_reason};
use super::tiles::tile;
use crate::node::Node;
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{MAX_PROOFS, PeerMessage, PeerReply};
use protocol_spec::tlog::tiles::{self, TilePath};
use std::sync::Arc;

fn rejected(reason: String) -> PeerReply {
    PeerReply::Rejected {
        reason: bounded_reason(reason),
    }
}

/// Answers a log message from the peer whose key the transport authenticated.
pub(crate) async fn answer_peer(
    node: &Arc<Node>,
    from: PublicKey,
    message: PeerMessage,
) -> PeerReply {
    let reply = match message {
        // Entries carry salted person commitments; an AVS number has about 10^9 values, so
        // entries are for this node's own auditors only. Peers get checkpoints and hashes.
        PeerMessage::LogTile(path)
            if matches!(tiles::parse_path(&path), Some(TilePath::Entries { .. })) =>
        {
            rejected("entry bundles are served to this node's auditors only".into())
        }
        PeerMessage::LogTile(path) => match tile(node, &path).await {
            Ok(bytes) => PeerReply::LogData(bytes),
            Err(e) => rejected(format!("{e:#}")),
        },
        PeerMessage::ProveInclusion { index } => match prove_inclusion(node, index).await {
            Ok((checkpoint, proof)) => PeerReply::Inclusion { checkpoint, proof },
            Err(e) => rejected(format!("{e:#}")),
        },
        PeerMessage::ProveInclusions { indices }
            if indices.is_empty() || indices.len() > MAX_PROOFS =>
        {
            rejected(format!(
                "an inclusion request names 1 to {MAX_PROOFS} leaves, not {}",
                indices.len()
            ))
        }
        PeerMessage::ProveInclusions { indices } => match prove_inclusions(node, &indices).await {
            Ok((checkpoint, proofs)) => PeerReply::Inclusions { checkpoint, proofs },
            Err(e) => rejected(format!("{e:#}")),
        },
        PeerMessage::ReceiptProofs(p) if p.leaves.is_empty() || p.leaves.len() > MAX_PROOFS => {
            rejected(format!(
                "receipt proofs name 1 to {MAX_PROOFS} leaves, not {}",
                p.leaves.len()
            ))
        }
        PeerMessage::ReceiptProof(p) => receipts(node, &from, vec![p]).await,
        PeerMessage::ReceiptProofs(p) => receipts(node, &from, p.into_proofs()).await,
        other => rejected(format!(
            "{} is not a log message",
            node_core::peer_message_name(&other)
        )),
    };
    bounded(reply)
}

/// Keeps the sender's proofs that it logged receipts, all or none.
async fn receipts(
    node: &Arc<Node>,
    from: &PublicKey,
    proofs: Vec<protocol_spec::peer::InclusionProof>,
) -> PeerReply {
    let Some(peer) = node.member_id(from) else {
        return rejected("sender is not a member".into());
    };
    match receive_inclusions(node, &peer, proofs).await {
        Ok(()) => PeerReply::Accepted,
        Err(e) => rejected(format!("receipt proof refused: {e:#}")),
    }
}

/// A reply whose reason quotes outside input, cut to [`MAX_REASON_LEN`]: a witness refusal
/// quotes the checkpoint's parts.
pub(crate) fn bounded(reply: PeerReply) -> PeerReply {
    match reply {
        PeerReply::WitnessRefused {
            status,
            latest,
            reason,
        } if reason.len() > MAX_REASON_LEN => PeerReply::WitnessRefused {
            status,
            latest,
            reason: bounded_reason(reason),
        },
        r => r,
    }
}
