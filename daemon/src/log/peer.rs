//! Log messages from peers: tiles, inclusion proofs and receipt proofs (add-checkpoint to this
//! node as a witness is the core's). Every refusal is bounded (protocol.md §8), whatever it quotes.

use super::inclusion::prove_inclusion;
use super::inclusion::receive_inclusion;
use super::reasons::{MAX_REASON_LEN, bounded_reason};
use super::tiles::tile;
use crate::node::Node;
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
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
        PeerMessage::ReceiptProof(p) => {
            let in_force = node.roster();
            let roster = &in_force.roster;
            let Some(peer) = roster.member_by_key(&from).map(|m| m.id.clone()) else {
                return rejected("sender is not a member".into());
            };
            match receive_inclusion(node, &peer, p).await {
                Ok(()) => PeerReply::Accepted,
                Err(e) => rejected(format!("receipt proof refused: {e:#}")),
            }
        }
        other => rejected(format!(
            "{} is not a log message",
            node_core::peer_message_name(&other)
        )),
    };
    bounded(reply)
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
