//! Passerelle node core: what a node does, as a deterministic state machine over its store.
//!
//! The core is sans-IO, as quinn-proto is beneath quinn. A driver feeds it [`Input`]s (a peer
//! message from an authenticated key, a staff request from an authenticated staff key, the
//! answer to a message it asked to send, a peer found unreachable, a timer tick) together with
//! an [`Env`] holding the time and a random source, inside one store transaction ([`Tx`]). The
//! core answers with [`Output`]s: a reply, a staff reply, a message to send. Outputs may be
//! released only once the transaction is committed: nothing is acknowledged or sent before it
//! is durable. No sockets, clocks, OS randomness or threads live here, so the simulator drives
//! exactly the code the daemon runs.
//!
//! The flow of one summary request (spec §7):
//! 1. `Staff(SummaryRequest)` at the requester: the rule is checked on the requester's own
//!    state and the request composed; output `Work(Sign)`, which the driver signs off the
//!    store thread. `Done(Signed)`: the checks again, the signed request and its outbox item
//!    are written; output `Send`. A staff member's case action and monthly report take the
//!    same two steps; a queued request re-signed as it leaves takes them from the outbox.
//! 2. `Peer(Summary)` at the responder, its signature checked before the step ([`precheck`]):
//!    authentication, idempotent retry, freshness, the rule; output `Work(Seal)`, which the
//!    driver does off the store thread. `Done(Sealed)`: the same checks and the rule again on
//!    the state committed by then, the disclosure's log entry, the reply kept for retries;
//!    output `PeerReply`.
//! 3. `Delivered` at the requester: the disclosure is verified, checked against revocations
//!    the requester knows, stored sealed with its receipt entry; output `StaffReply` and
//!    `ReceiptLogged`. `Unreachable` instead leaves the item queued for `Tick` to retry.
#![forbid(unsafe_code)]

pub mod case_store;
mod cases;
mod delivery;
mod entries;
mod io;
mod jobs;
mod notices;
mod outbox;
mod queries;
mod random;
mod requester;
mod responder;
mod retention;
mod roster;
mod staff;
mod state;
mod stats;
mod step;
pub mod store;
mod verified;
pub mod vkeys;
pub mod witness;
mod work;

pub use delivery::ROSTERS_IN_FLIGHT;
pub use io::{
    Env, Fault, Input, Origin, Output, Random, Ticket, Token, peer_message_name, reply_name,
};
pub use jobs::{Done, OpenJob, SealJob, SignJob, Signed, Then, Unsigned, Work};
#[cfg(feature = "mutants")]
pub use state::Mutants;
pub use state::{BootstrapAdmin, Core, IN_FLIGHT_TIMEOUT, Secrets};
pub use stats::psi::{BlindJob, Checked, CountJob, Hop, PsiDone, ReblindJob, Secret};
pub use store::{StoreProblem, Tx};
pub use verified::Verified;
pub use work::{Crypto, precheck};
