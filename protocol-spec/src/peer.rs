//! Node-to-node messages (ALPN `passerelle/1`). Each request opens one bidirectional QUIC
//! stream, sends one frame, and reads exactly one reply frame.

use crate::case::SignedCaseEvent;
use crate::exchange::{Disclosure, Refusal, SignedSummaryRequest};
use crate::ids::CaseId;
use crate::roster::SignedRoster;
use serde::{Deserialize, Serialize};

pub const PEER_ALPN: &[u8] = b"passerelle/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    Summary(SignedSummaryRequest),
    /// The sender's complete signed history of a case the receiver is invited to or in.
    CaseHistory {
        case_id: CaseId,
        events: Vec<SignedCaseEvent>,
    },
    /// A roster the sender holds; the receiver adopts it only if newer and validly signed.
    Roster(SignedRoster),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerReply {
    Disclosure(Box<Disclosure>),
    Refusal(Refusal),
    /// The message was applied and is durable at the receiver.
    Accepted,
    /// The message was not applied; `reason` names why, with no personal data.
    Rejected {
        reason: String,
    },
}
