//! How the roster's log and witness keys are named: the checkpoint origin of a member's log
//! and the verifier keys of its log and witness signatures.

use protocol_spec::ids::InstitutionId;
use protocol_spec::roster::Roster;
use protocol_spec::tlog::note::{SIG_COSIGNATURE, SIG_ED25519, VerifierKey};

/// The checkpoint origin (and log key name) of a member's log.
pub fn origin(federation: &str, institution: &InstitutionId) -> String {
    format!("{federation}.passerelle/{institution}")
}

/// The verifier key of a member's log.
pub fn log_vkey(roster: &Roster, id: &InstitutionId) -> Option<VerifierKey> {
    let m = roster.member(id)?;
    Some(VerifierKey::new(
        &origin(&roster.federation, id),
        SIG_ED25519,
        m.log_key,
    ))
}

/// The cosignature verifier key of a member acting as witness.
pub fn witness_vkey(roster: &Roster, id: &InstitutionId) -> Option<VerifierKey> {
    let m = roster.member(id)?;
    Some(VerifierKey::new(
        &format!("{}/witness", origin(&roster.federation, id)),
        SIG_COSIGNATURE,
        m.witness_key,
    ))
}
