//! A sector's monthly report on its way to the dashboard member (spec/statistics.md §8): signed
//! by the sector's node with a sequence number (1, then one more per correction), and what the
//! dashboard member checks before it keeps one.

use super::report::StatsReport;
use crate::ids::InstitutionId;
use crate::keys::{Signature, SignatureCheck, SigningKey, Strict, sha256};
use crate::roster::Roster;
use serde::{Deserialize, Serialize};

/// Domain separator of a delivered report's signing input.
pub const STATS_DELIVERY_CONTEXT: &[u8] = b"passerelle/v1 stats-delivery\n";

/// A report as its sector's node sent it: the report, which release of the month it is, and
/// the node's Ed25519 signature over both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedStatsReport {
    pub report: StatsReport,
    /// 1 for the month's first delivery, one more for each correction.
    pub sequence: u32,
    pub signature: Signature,
}

/// `STATS_DELIVERY_CONTEXT || postcard(sequence) || postcard(report)`: the sequence is signed,
/// so a correction cannot be passed off as the original or the reverse.
pub fn delivery_signing_input(report: &StatsReport, sequence: u32) -> Vec<u8> {
    let mut out = STATS_DELIVERY_CONTEXT.to_vec();
    out.extend(postcard::to_stdvec(&sequence).expect("u32 encodes"));
    out.extend(postcard::to_stdvec(report).expect("report encodes"));
    out
}

impl SignedStatsReport {
    pub fn sign(report: StatsReport, sequence: u32, key: &SigningKey) -> SignedStatsReport {
        let signature = key.sign(&delivery_signing_input(&report, sequence));
        SignedStatsReport {
            report,
            sequence,
            signature,
        }
    }

    pub fn signing_input(&self) -> Vec<u8> {
        delivery_signing_input(&self.report, self.sequence)
    }

    /// SHA-256 of the signing input: how both nodes' logs name this delivery.
    pub fn digest(&self) -> [u8; 32] {
        sha256(&[&self.signing_input()])
    }

    pub fn is_correction(&self) -> bool {
        self.sequence > 1
    }
}

/// Whether the dashboard member `me` may keep `signed`, received from `sender` (the member
/// the transport authenticated by its key), under `roster`: the reason it may not, naming no
/// figure.
pub fn verify_delivery(
    roster: &Roster,
    me: &InstitutionId,
    sender: &InstitutionId,
    signed: &SignedStatsReport,
) -> Result<(), String> {
    verify_delivery_checked(roster, me, sender, signed, &Strict)
}

/// [`verify_delivery`], the report's signature judged by `check`.
pub fn verify_delivery_checked(
    roster: &Roster,
    me: &InstitutionId,
    sender: &InstitutionId,
    signed: &SignedStatsReport,
    check: &dyn SignatureCheck,
) -> Result<(), String> {
    let stats = roster
        .statistics
        .as_deref()
        .ok_or("the roster in force declares no statistics")?;
    if stats.dashboard.as_ref() != Some(me) {
        return Err(format!(
            "{me} is not the federation's statistics dashboard in the roster in force"
        ));
    }
    let r = &signed.report;
    if r.federation != roster.federation {
        return Err(format!(
            "the report is for federation `{}`, not `{}`",
            r.federation, roster.federation
        ));
    }
    if &r.institution != sender {
        return Err(format!(
            "the report names {} but was sent by {sender}",
            r.institution
        ));
    }
    let member = roster
        .member(sender)
        .ok_or_else(|| format!("{sender} is not a member"))?;
    if member.sector != r.sector {
        return Err(format!(
            "the report's sector {} is not {sender}'s sector {} in the roster",
            r.sector, member.sector
        ));
    }
    if r.threshold != stats.threshold {
        return Err(format!(
            "the report was suppressed under threshold {}, the roster says {}",
            r.threshold, stats.threshold
        ));
    }
    if signed.sequence == 0 {
        return Err("a delivery's sequence starts at 1".into());
    }
    if !check.holds(
        &member.signing_key,
        &signed.signing_input(),
        &signed.signature,
    ) {
        return Err(format!(
            "the report's signature does not verify under {sender}'s signing key"
        ));
    }
    Ok(())
}
