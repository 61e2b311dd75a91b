//! The node's transparency log: entries live in the store, their leaf hashes in memory in an
//! RFC 6962 tree; checkpoints are C2SP signed notes, cosigned by the witnesses the roster names.

mod checkpoints;
mod inclusion;
pub mod loss;
mod peer;
mod reasons;
mod tiles;
mod vkeys;
mod witness;

pub(crate) use checkpoints::{checkpoint_and_witness, sign_checkpoint};
pub(crate) use inclusion::exchange_inclusion_proofs;
pub(crate) use peer::answer_peer;
pub(crate) use tiles::tile;
pub(crate) use vkeys::origin;
pub use vkeys::{log_vkey, witness_vkey};
