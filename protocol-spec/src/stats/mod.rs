//! Monthly statistics (spec/statistics.md): the roster's declaration of measures and grid
//! fields, placements, and the sector report computed from exact counts with small-count
//! suppression and, where the steering group set a budget, calibrated noise; and the private
//! set intersection that counts persons followed by several sectors. Pure functions:
//! the node gathers the counts inside a store transaction and lends the random source.

pub mod config;
pub mod dashboard;
pub mod delivery;
pub mod month;
pub mod noise;
pub mod placements;
pub mod psi;
pub mod report;
pub mod rounds;
pub mod suppress;
#[cfg(test)]
mod tests;

pub use config::{GridField, Measure, MeasureId, PrivacyBudget, SectorPlaces, StatisticsConfig};
pub use dashboard::Dashboard;
pub use delivery::SignedStatsReport;
pub use month::Month;
pub use placements::{ExitOutcome, Placement, PlacementSet};
pub use report::{Cell, MonthCounts, StatsReport};
pub use rounds::{OverlapRound, OverlapRounds, PublishedOverlap, RoundState};
