//! Node-to-node messages (ALPN `passerelle/1`). Each request opens one bidirectional QUIC
//! stream, sends one frame, and reads exactly one reply frame.

use crate::case::SignedCaseEvent;
use crate::exchange::{Disclosure, Refusal, SignedSummaryRequest};
use crate::ids::CaseId;
use crate::roster::SignedRoster;
use serde::{Deserialize, Serialize};

pub const PEER_ALPN: &[u8] = b"passerelle/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerMessage {
    Summary(SignedSummaryRequest),
    /// The sender's complete signed history of a case the receiver is invited to or in.
    CaseHistory {
        case_id: CaseId,
        events: Vec<SignedCaseEvent>,
    },
    /// A roster the sender holds; the receiver adopts it only if newer and validly signed.
    /// Shared, not copied, when a node offers it to every member at once.
    Roster(std::sync::Arc<SignedRoster>),
    /// C2SP tlog-witness add-checkpoint request body, sent to a witness named in the roster.
    AddCheckpoint(String),
    /// A C2SP tlog-tiles path (`checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/...`).
    LogTile(String),
    /// Asks for an inclusion proof of leaf `index` under a checkpoint of the receiver's log.
    ProveInclusion {
        index: u64,
    },
    /// The requester's proof that it logged the receipt of a disclosure: its leaf, a signed
    /// checkpoint of its log, and the inclusion proof under it.
    ReceiptProof(InclusionProof),
    /// The sender updated its records about the case's person: a newer summary is available
    /// from it. No data travels with the notice (spec §6.7).
    ChangeNotice {
        case_id: CaseId,
    },
    /// A sector's signed monthly report, to the roster's statistics dashboard member
    /// (spec/statistics.md §8).
    StatsReport(Box<crate::stats::SignedStatsReport>),
    /// Asks for inclusion proofs of leaves `indices` of the receiver's log, all under one
    /// checkpoint it signs: the bilateral recording of many exchanges at once (at most
    /// [`MAX_PROOFS`] leaves; transparency-log.md §8).
    ProveInclusions {
        indices: Vec<u64>,
    },
    /// The sender's proofs that it logged receipts, all under one checkpoint of its log.
    ReceiptProofs(Box<ReceiptProofs>),
    /// The dashboard member's signed call to a round counting the persons followed by several
    /// sectors, to every participant (spec/statistics.md §10.3).
    PsiStart(Box<crate::stats::psi::SignedPsiStart>),
    /// One set of a round at one hop, to the next participant of the ring or, after the last
    /// hop, to the dashboard member (spec/statistics.md §10.4). It may span frames.
    PsiSet(Box<crate::stats::psi::SignedPsiSet>),
    /// The dashboard member's signed outcome of a round, to every participant.
    PsiOutcome(Box<crate::stats::psi::SignedPsiOutcome>),
    /// Which roster the sender holds, offered before the roster itself: a receiver that holds
    /// it already (or a newer one) does not take 1.8 MiB for nothing (spec §5.4).
    RosterVersion {
        version: u64,
        #[serde(with = "crate::ids::hex32")]
        digest: [u8; 32],
    },
}

/// The most leaves one `ProveInclusions` or `ReceiptProofs` names.
pub const MAX_PROOFS: usize = 256;

impl PeerMessage {
    /// Whether the message may travel as a sequence of frames (spec §3.1): a roster, which
    /// outgrows one frame at a few thousand members, and a set of an overlap round (up to a
    /// million elements of 32 bytes).
    pub fn may_span_frames(&self) -> bool {
        matches!(self, PeerMessage::Roster(_) | PeerMessage::PsiSet(_))
    }
}

/// A leaf of the sender's log, a signed checkpoint note covering it, and the RFC 6962
/// inclusion proof of the leaf under that checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Request digest of the exchange the leaf records.
    #[serde(with = "crate::ids::hex32")]
    pub request_digest: [u8; 32],
    pub leaf_index: u64,
    #[serde(with = "crate::ids::hex32")]
    pub leaf_hash: [u8; 32],
    pub checkpoint: String,
    #[serde(with = "crate::ids::hex32::list")]
    pub proof: Vec<[u8; 32]>,
}

/// Proofs of several receipt leaves of the sender's log under one signed checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptProofs {
    pub checkpoint: String,
    pub leaves: Vec<LeafProof>,
}

/// One leaf of a [`ReceiptProofs`]: what an [`InclusionProof`] holds but the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafProof {
    #[serde(with = "crate::ids::hex32")]
    pub request_digest: [u8; 32],
    pub leaf_index: u64,
    #[serde(with = "crate::ids::hex32")]
    pub leaf_hash: [u8; 32],
    #[serde(with = "crate::ids::hex32::list")]
    pub proof: Vec<[u8; 32]>,
}

impl ReceiptProofs {
    /// Each leaf as an [`InclusionProof`] under the shared checkpoint.
    pub fn into_proofs(self) -> Vec<InclusionProof> {
        let checkpoint = self.checkpoint;
        self.leaves
            .into_iter()
            .map(|l| InclusionProof {
                request_digest: l.request_digest,
                leaf_index: l.leaf_index,
                leaf_hash: l.leaf_hash,
                checkpoint: checkpoint.clone(),
                proof: l.proof,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerReply {
    /// The sealed summary, and where the responder logged the disclosure (leaf index and
    /// RFC 6962 leaf hash), which the requester records in its receipt.
    Disclosure {
        disclosure: Box<Disclosure>,
        leaf_index: u64,
        #[serde(with = "crate::ids::hex32")]
        leaf_hash: [u8; 32],
    },
    Refusal(Refusal),
    /// The message was applied and is durable at the receiver.
    Accepted,
    /// The message was not applied; `reason` names why, with no personal data.
    Rejected {
        reason: String,
    },
    /// The witness's cosignature line(s) on the submitted checkpoint.
    Cosigned(String),
    /// The witness refused; `status` is the tlog-witness HTTP status, `latest` the size it last
    /// cosigned when the old size did not match (409).
    WitnessRefused {
        status: u16,
        latest: Option<u64>,
        reason: String,
    },
    /// Bytes of the requested tile or checkpoint.
    LogData(#[serde(with = "crate::ids::hex_bytes")] Vec<u8>),
    /// A signed checkpoint note and the inclusion proof of the asked leaf under it.
    Inclusion {
        checkpoint: String,
        #[serde(with = "crate::ids::hex32::list")]
        proof: Vec<[u8; 32]>,
    },
    /// A signed checkpoint note and the inclusion proof of each asked leaf under it, in the
    /// order asked.
    Inclusions {
        checkpoint: String,
        proofs: Vec<InclusionPath>,
    },
    /// The receiver holds an older roster than the one offered by version: send it.
    RosterWanted,
}

/// An RFC 6962 inclusion proof: the hashes from a leaf up to the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InclusionPath(#[serde(with = "crate::ids::hex32::list")] pub Vec<[u8; 32]>);
