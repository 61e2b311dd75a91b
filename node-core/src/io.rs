//! What a step of the core takes and gives: its [`Input`], the [`Env`] the world lends it (the
//! time and a random source), its [`Output`]s, and the [`Fault`] that rolls it back.

use crate::jobs::{Done, Then, Work};
pub use crate::jobs::{Ticket, Token};
pub(crate) use crate::random::HpkeRng;
pub use crate::random::Random;
use crate::verified::Verified;
use protocol_spec::exchange::SignedSummaryRequest;
use protocol_spec::ids::{InstitutionId, Role};
use protocol_spec::keys::PublicKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::{StaffErrorKind, StaffReply, StaffRequest};

/// What the world gives a step besides its input: the time, randomness, and what the driver
/// did before the step on its own threads: the signatures it checked, and a case worker's
/// summary request it composed and signed ([`crate::Crypto::presign`]).
pub struct Env<'a> {
    /// Unix seconds.
    pub now: u64,
    pub random: &'a mut dyn Random,
    pub verified: &'a Verified,
    /// Used by the step only when it is the request the staff input asks for, signed lately;
    /// otherwise the step hands the signing out as [`Work::Sign`].
    pub presigned: Option<&'a SignedSummaryRequest>,
}

impl Env<'_> {
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.random.fill(&mut b);
        b
    }
}

#[derive(Debug)]
pub enum Input {
    /// A message from a peer whose key the transport authenticated.
    Peer {
        from: PublicKey,
        message: PeerMessage,
    },
    /// A request from a staff member whose key the transport authenticated.
    Staff {
        ticket: Ticket,
        key: PublicKey,
        request: StaffRequest,
    },
    /// The peer's answer to a message sent for `token`.
    Delivered { token: Token, reply: PeerReply },
    /// The message sent for `token` did not reach the peer, or its answer did not come back.
    Unreachable { token: Token },
    /// Time passes: due outbox items are sent again.
    Tick,
    /// The result of a [`Work`] this core handed out.
    Done(Done),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The answer to the `Peer` input of this step.
    PeerReply(PeerReply),
    StaffReply {
        ticket: Ticket,
        reply: StaffReply,
    },
    /// Send `message` to `to`; answer with `Delivered` or `Unreachable` for `token`.
    Send {
        token: Token,
        to: InstitutionId,
        message: PeerMessage,
        /// Which attempt this is, 1 for the first: for the operator's log and metrics.
        attempt: u32,
        /// When the item was queued (Unix seconds): its age when it leaves.
        queued_at: u64,
    },
    /// A receipt is durable: the two nodes may now exchange inclusion proofs.
    ReceiptLogged {
        peer: InstitutionId,
        request_digest: [u8; 32],
        disclosure_leaf: (u64, [u8; 32]),
        receipt_leaf: (u64, [u8; 32]),
    },
    /// A newer roster is in force: connections of keys it no longer lists must close.
    RosterAdopted(std::sync::Arc<SignedRoster>),
    /// The set of active staff keys changed (admission to the staff protocol), with roles.
    StaffChanged(Vec<(PublicKey, Role)>),
    /// An authorised log request (checkpoint, tile, witness evidence): the driver serves it
    /// from the log and answers `ticket`.
    ServeLog {
        ticket: Ticket,
        request: StaffRequest,
    },
    /// Cryptography to do off the store thread; its result comes back as [`Input::Done`]. For
    /// a peer message it stands for the reply, which the `Done` step gives.
    Work(Work),
}

/// Where an input came from: enough to answer it when its step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Peer,
    Staff(Ticket),
    Answer(Token),
    Tick,
}

impl Input {
    pub fn origin(&self) -> Origin {
        match self {
            Input::Peer { .. } => Origin::Peer,
            Input::Staff { ticket, .. } => Origin::Staff(*ticket),
            Input::Delivered { token, .. } | Input::Unreachable { token } => Origin::Answer(*token),
            Input::Tick => Origin::Tick,
            Input::Done(Done::Sealed { .. } | Done::Cosigned { .. }) => Origin::Peer,
            Input::Done(
                Done::Opened { ticket, .. }
                | Done::Signed {
                    then: Then::Staff { ticket, .. },
                    ..
                },
            ) => Origin::Staff(*ticket),
            Input::Done(Done::Signed {
                then: Then::Queued { token },
                ..
            }) => Origin::Answer(*token),
            Input::Done(Done::Psi(d)) => match **d {
                crate::stats::psi::jobs::PsiDone::Reblinded(_) => Origin::Peer,
                _ => Origin::Tick,
            },
        }
    }
}

/// Why a step did nothing. Every `Err` rolls the step's transaction back.
#[derive(Debug)]
pub enum Fault {
    /// The asker (staff member or peer) asked for something this node will not do.
    Refused(StaffErrorKind, String),
    /// This node failed (storage, a corrupt row): not the asker's fault.
    Local(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Fault {
    fn from(e: E) -> Self {
        Fault::Local(e.into())
    }
}

pub(crate) fn bad(msg: impl Into<String>) -> Fault {
    Fault::Refused(StaffErrorKind::BadRequest, msg.into())
}

pub fn peer_message_name(m: &PeerMessage) -> &'static str {
    match m {
        PeerMessage::Summary(_) => "summary request",
        PeerMessage::CaseHistory { .. } => "case history",
        PeerMessage::Roster(_) => "roster",
        PeerMessage::AddCheckpoint(_) => "add-checkpoint",
        PeerMessage::LogTile(_) => "log tile",
        PeerMessage::ProveInclusion { .. } => "inclusion proof request",
        PeerMessage::ReceiptProof(_) => "receipt proof",
        PeerMessage::ChangeNotice { .. } => "change notice",
        PeerMessage::StatsReport(_) => "statistics report",
        PeerMessage::ProveInclusions { .. } => "inclusion proofs request",
        PeerMessage::ReceiptProofs(_) => "receipt proofs",
        PeerMessage::PsiStart(_) => "overlap round start",
        PeerMessage::PsiSet(_) => "overlap set",
        PeerMessage::PsiOutcome(_) => "overlap outcome",
        PeerMessage::RosterVersion { .. } => "roster version",
    }
}

pub fn reply_name(r: &PeerReply) -> &'static str {
    match r {
        PeerReply::Disclosure { .. } => "disclosure",
        PeerReply::Cosigned(_) => "cosignature",
        PeerReply::WitnessRefused { .. } => "witness refusal",
        PeerReply::LogData(_) => "log data",
        PeerReply::Inclusion { .. } => "inclusion proof",
        PeerReply::Inclusions { .. } => "inclusion proofs",
        PeerReply::Refusal(_) => "refusal",
        PeerReply::Accepted => "accepted",
        PeerReply::Rejected { .. } => "rejected",
        PeerReply::RosterWanted => "roster wanted",
    }
}
