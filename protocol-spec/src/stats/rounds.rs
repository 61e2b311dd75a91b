//! What the dashboard member tells a coordinator of the rounds that count the persons followed
//! by several sectors (spec/statistics.md §10): each attempt of a month, its state, and the
//! published figures once it completed. Exact counts never appear here.

use super::month::Month;
use super::psi::{Overlap, RoundId, SetSize};
use crate::ids::InstitutionId;
use serde::{Deserialize, Serialize};

/// Where an attempt stands at the dashboard member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoundState {
    /// Started; waiting for the participants' final sets.
    Running,
    /// Every final set arrived and the figures were published (or withheld, a size not
    /// matching its sector's report: then `overlap` is absent and `problem` says why).
    Complete,
    /// A participant refused the start; the attempt cannot complete.
    Refused,
    /// It expired before every final set arrived.
    Expired,
    /// A coordinator started the next attempt before this one completed.
    Abandoned,
}

impl RoundState {
    pub const ALL: &[RoundState] = &[
        RoundState::Running,
        RoundState::Complete,
        RoundState::Refused,
        RoundState::Expired,
        RoundState::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RoundState::Running => "running",
            RoundState::Complete => "complete",
            RoundState::Refused => "refused",
            RoundState::Expired => "expired",
            RoundState::Abandoned => "abandoned",
        }
    }
}

impl std::fmt::Display for RoundState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RoundState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RoundState::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown round state `{s}`"))
    }
}

/// One attempt of a month's round, as the dashboard member holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapRound {
    pub month: Month,
    /// 0, 1 or 2.
    pub attempt: u8,
    #[serde(with = "crate::ids::hex32")]
    pub round: RoundId,
    /// The ring, in roster order.
    pub participants: Vec<InstitutionId>,
    /// The suppression threshold `k` of the round: a suppressed figure shows as `<k`.
    pub threshold: u32,
    /// Unix seconds, the dashboard's clock.
    pub started_at: u64,
    pub expires_at: u64,
    pub state: RoundState,
    /// Final (hop-N) sets received so far.
    pub sets_received: u32,
    /// Why the attempt did not publish figures: a refusal, a size that differs from a report.
    pub problem: Option<String>,
    /// The sizes the outcome carried, once complete.
    pub sizes: Vec<SetSize>,
    /// The published figures, after suppression.
    pub overlap: Option<Overlap>,
}

/// The published overlap of a month, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedOverlap {
    pub attempt: u8,
    #[serde(with = "crate::ids::hex32")]
    pub round: RoundId,
    /// Unix seconds, when the outcome was signed.
    pub published_at: u64,
    pub overlap: Overlap,
}

/// The reply to `StatsOverlap`: whether the request started an attempt, and every attempt of
/// the month, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapRounds {
    pub month: Month,
    /// The attempt this request started, if it started one.
    pub started: Option<u8>,
    pub rounds: Vec<OverlapRound>,
}
