//! Placements in mixed insertion measures as the staff protocol carries them
//! (`ImportPlacements`), and the checks a node applies to a set it receives
//! (spec/statistics.md §3). Reasons never repeat a social insurance number or a date.

use super::config::MeasureId;
use crate::avs::Avs;
use crate::records::{ImportError, Problems, valid_date};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Why a placement ended. The wire encoding is the variant index, the text form the
/// kebab-case name; the report lists exits in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitOutcome {
    /// Left for a job.
    Employment,
    /// Left for a vocational training.
    Training,
    /// Moved on to another measure.
    OtherMeasure,
    /// Broke the measure off.
    Dropout,
    /// Any other end (health, moving away, end of rights).
    Other,
}

impl ExitOutcome {
    pub const ALL: [ExitOutcome; 5] = [
        ExitOutcome::Employment,
        ExitOutcome::Training,
        ExitOutcome::OtherMeasure,
        ExitOutcome::Dropout,
        ExitOutcome::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExitOutcome::Employment => "employment",
            ExitOutcome::Training => "training",
            ExitOutcome::OtherMeasure => "other-measure",
            ExitOutcome::Dropout => "dropout",
            ExitOutcome::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ExitOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text of an unknown outcome, quoted only when it looks like a schema word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown exit outcome (expected one of employment, training, other-measure, dropout, other)"
)]
pub struct UnknownOutcome;

impl FromStr for ExitOutcome {
    type Err = UnknownOutcome;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExitOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or(UnknownOutcome)
    }
}

/// One person's stay in one measure. `(avs, measure, start)` is its key: importing it again
/// replaces its end and outcome (a placement that ended since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub avs: Avs,
    pub measure: MeasureId,
    /// `YYYY-MM-DD`, the first day in the measure.
    pub start: String,
    /// `YYYY-MM-DD`, the last day in the measure; none while it runs.
    pub end: Option<String>,
    /// Why it ended: given exactly when `end` is.
    pub outcome: Option<ExitOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlacementSet {
    pub placements: Vec<Placement>,
}

/// The reasons shared by the CSV parser and [`PlacementSet::validate`].
pub const START_PROBLEM: &str = "start is not a real calendar date YYYY-MM-DD from 1900 on";
pub const END_PROBLEM: &str = "end is not a real calendar date YYYY-MM-DD from 1900 on";
pub const END_BEFORE_START: &str = "end is before start";
pub const OUTCOME_WITHOUT_END: &str = "an outcome is given without an end";
pub const END_WITHOUT_OUTCOME: &str =
    "an ended placement needs its outcome (employment, training, other-measure, dropout, other)";

/// Why a placement's dates and outcome are refused, in the order of spec/statistics.md §3.
pub fn placement_problems(
    start: &str,
    end: Option<&str>,
    outcome: Option<ExitOutcome>,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    let start_ok = valid_date(start);
    if !start_ok {
        out.push(START_PROBLEM);
    }
    if let Some(e) = end {
        if !valid_date(e) {
            out.push(END_PROBLEM);
        } else if start_ok && e < start {
            // Dates of this one form compare as text.
            out.push(END_BEFORE_START);
        }
    }
    match (end, outcome) {
        (None, Some(_)) => out.push(OUTCOME_WITHOUT_END),
        (Some(_), None) => out.push(END_WITHOUT_OUTCOME),
        _ => {}
    }
    out
}

impl PlacementSet {
    /// Re-checks a received set: dates, outcome, and each key at most once. `line` is the
    /// 1-based position in `placements`, and each reason starts with `placement N:`. Whether
    /// the measure is declared and the person known is the node's check.
    pub fn validate(&self) -> Result<(), ImportError> {
        let mut problems = Problems::default();
        let mut seen: BTreeMap<(&Avs, &MeasureId, &str), usize> = BTreeMap::new();
        for (i, p) in self.placements.iter().enumerate() {
            let n = i + 1;
            for r in placement_problems(&p.start, p.end.as_deref(), p.outcome) {
                problems.push(n, format!("placement {n}: {r}"));
            }
            if let Some(first) = seen.insert((&p.avs, &p.measure, &p.start), n) {
                seen.insert((&p.avs, &p.measure, &p.start), first);
                problems.push(
                    n,
                    format!("placement {n}: same person, measure and start as placement {first}"),
                );
            }
        }
        problems.finish((), false)
    }
}
