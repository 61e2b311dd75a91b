//! The misbehaving member's own state: who it is (listed in the roster, authenticated by its
//! own key, but in no case), the requests it sent and overheard, what it answers honest nodes
//! and how much it sent. What it does each turn is in [`crate::attacks`].

use crate::federation::Institution;
use protocol_spec::exchange::SignedSummaryRequest;
use protocol_spec::keys::{PublicKey, SigningKey};
use protocol_spec::peer::{PeerMessage, PeerReply};

/// How many overheard requests it keeps for replay.
const OVERHEARD: usize = 32;

pub(crate) struct Rogue {
    pub inst: Institution,
    pub key: SigningKey,
    /// Its own requests: the responder's index and the request.
    pub own: Vec<(usize, SignedSummaryRequest)>,
    pub overheard: Vec<SignedSummaryRequest>,
    pub messages: u64,
    pub malformed: u64,
}

impl Rogue {
    pub fn new(inst: Institution) -> Self {
        Rogue {
            key: inst.signing(),
            inst,
            own: Vec::new(),
            overheard: Vec::new(),
            messages: 0,
            malformed: 0,
        }
    }

    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    pub fn overheard(&mut self, s: &SignedSummaryRequest) {
        if self.overheard.len() == OVERHEARD {
            self.overheard.remove(0);
        }
        self.overheard.push(s.clone());
    }

    /// What it answers to the messages honest nodes send it (roster pushes).
    pub fn answer(&self, m: &PeerMessage) -> PeerReply {
        match m {
            PeerMessage::Roster(_) => PeerReply::Accepted,
            _ => PeerReply::Rejected {
                reason: "not handled".into(),
            },
        }
    }
}
