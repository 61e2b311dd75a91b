//! Transparency log, sans-IO: RFC 6962 / RFC 9162 Merkle trees and proofs, C2SP signed notes,
//! tlog-checkpoint, tlog-cosignature v1, the tlog-witness add-checkpoint decision,
//! tlog-tiles and consistency proofs built from tiles. Normative prose:
//! `spec/transparency-log.md`; known answers: `vectors/tlog.json`.

pub mod checkpoint;
pub mod cosignature;
pub mod merkle;
pub mod note;
pub mod tile_proof;
pub mod tile_stream;
pub mod tiles;
mod timestamped;
pub mod witness;

pub use checkpoint::{Checkpoint, CheckpointError, open_checkpoint, sign_checkpoint};
pub use merkle::{
    EMPTY_ROOT, Hash, ProofError, Tree, leaf_hash, node_hash, root_from_leaves, verify_consistency,
    verify_inclusion,
};
pub use note::key_id;
pub use tile_stream::TileStream;
