//! Where a run stands in its membership changes and witness rounds: state the world holds and
//! `membership.rs` and `witnessing.rs` advance.

use crate::network::Party;
use protocol_spec::roster::SignedRoster;
use protocol_spec::tlog::{Hash, Tree};
use std::collections::BTreeMap;

#[derive(Default)]
pub(crate) struct Membership {
    /// The newest roster the steering group issued.
    pub(crate) issued: Option<SignedRoster>,
    /// How many changes were made.
    pub(crate) made: usize,
    /// The roster of the change being installed, until a node accepts it.
    pub(crate) installing: Option<SignedRoster>,
}

#[derive(Default)]
pub(crate) struct Witnessing {
    /// Each honest node's log as committed, extended as it grows.
    pub(crate) trees: BTreeMap<usize, Tree>,
    /// The checkpoints each honest node signed: (size, root).
    pub(crate) signed: BTreeMap<usize, Vec<(u64, Hash)>>,
    /// What a log's owner believes a witness last cosigned: (owner, witness) -> size.
    pub(crate) known: BTreeMap<(Party, usize), u64>,
    /// The checkpoints each witness cosigned, per log owner.
    pub(crate) cosigned: BTreeMap<(usize, Party), Vec<(u64, Hash)>>,
    /// The misbehaving member's two logs, equal for `SHARED` entries, then apart.
    pub(crate) forks: Option<[Tree; 2]>,
    pub(crate) rounds: u64,
    pub(crate) cosignatures: u64,
    pub(crate) forks_offered: u64,
}
