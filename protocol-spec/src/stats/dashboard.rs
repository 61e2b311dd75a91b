//! What the dashboard member shows a coordinator (spec/statistics.md §9): for each month of a
//! window, the latest report of every sector that sent one, and the members expected that did
//! not. Names come from the roster; figures only from signed reports.

use super::config::MeasureId;
use super::month::Month;
use super::report::StatsReport;
use crate::ids::{InstitutionId, Sector};
use serde::{Deserialize, Serialize};

/// Longest window a dashboard covers, in months.
pub const MAX_DASHBOARD_MONTHS: u8 = 36;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub federation: String,
    pub dashboard: InstitutionId,
    pub threshold: u32,
    /// Unix seconds.
    pub generated_at: u64,
    /// The roster's measures, in its order.
    pub measures: Vec<DashboardMeasure>,
    /// Oldest first.
    pub months: Vec<DashboardMonth>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardMeasure {
    pub id: MeasureId,
    pub name: String,
    pub provider: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardMonth {
    pub month: Month,
    /// The latest delivery of each member that sent this month, by institution id.
    pub reports: Vec<ReceivedReport>,
    /// Members expected (§9) that sent nothing for this month yet.
    pub missing: Vec<ExpectedMember>,
    /// The persons followed by several sectors, once a round of the month published them
    /// (§10).
    pub overlap: Option<super::rounds::PublishedOverlap>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedMember {
    pub institution: InstitutionId,
    pub name: String,
    pub sector: Sector,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedReport {
    pub institution: InstitutionId,
    /// The member's name in the roster.
    pub name: String,
    /// 1 for the first delivery, more for a correction.
    pub sequence: u32,
    /// Unix seconds, the dashboard's clock.
    pub received_at: u64,
    #[serde(with = "crate::ids::hex32")]
    pub digest: [u8; 32],
    pub report: StatsReport,
}
