//! The node's transparency log: entries live in the store, their leaf hashes in memory in an
//! RFC 6962 tree; checkpoints are C2SP signed notes, cosigned by the witnesses the roster names.

mod checkpoints;
mod inclusion;
mod peer;
mod reasons;
mod tiles;
mod vkeys;
mod witness;

pub use checkpoints::{checkpoint_and_witness, latest_note, sign_checkpoint};
pub use inclusion::{check_inclusion, exchange_inclusion_proofs, keep_inclusion, prove_inclusion};
pub use peer::answer_peer;
pub use reasons::{MAX_REASON_LEN, bounded_reason};
pub use tiles::tile;
pub use vkeys::{log_vkey, origin, witness_vkey};
pub use witness::witness_add_checkpoint;
