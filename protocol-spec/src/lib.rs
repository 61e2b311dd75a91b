//! Passerelle protocol core: wire types, signing, sealing and the disclosure rule.
//!
//! Sans-IO: nothing here opens a socket, reads a clock, draws OS randomness or touches a
//! database. Callers pass `now` and a random source in; the normative prose lives beside this
//! crate in `spec/` and the JSON test vectors in `vectors/`.
#![forbid(unsafe_code)]

pub mod audit;
pub mod avs;
pub mod case;
pub mod category;
pub mod endorsement;
pub mod entry;
pub mod exchange;
pub mod ids;
pub mod keys;
mod member_index;
pub mod peer;
pub mod records;
pub mod roster;
#[cfg(test)]
mod roundtrip;
pub mod rule;
pub mod seal;
pub mod staff;
pub mod stats;
pub mod tlog;
pub mod wire;
