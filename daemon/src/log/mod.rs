//! The node's transparency log: entries live in the store, their leaf hashes in memory in an
//! RFC 6962 tree; checkpoints are C2SP signed notes, cosigned by the witnesses the roster names.

mod checkpoints;
mod inclusion;
pub mod loss;
mod peer;
mod reasons;
mod tiles;
mod witness;

pub(crate) use checkpoints::{checkpoint_and_witness, sign_checkpoint};
pub(crate) use inclusion::{Receipt, Waiting, receipt_logged};
pub(crate) use node_core::vkeys::origin;
pub use node_core::vkeys::{log_vkey, witness_vkey};
pub(crate) use peer::answer_peer;
pub(crate) use peer::bounded;
pub(crate) use tiles::tile;
