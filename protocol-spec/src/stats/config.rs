//! What the steering group declares in the roster for the monthly statistics
//! (spec/statistics.md §2): the mixed insertion measures, the observation-grid fields the
//! profile figures use with their value lists, the suppression threshold and the privacy
//! budget. Every node reads the same declaration, so the indicators are the federation's.

use crate::category::Category;
use crate::ids::{IdError, InstitutionId, Sector};
use crate::records::valid_field_name;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Smallest and largest suppression threshold `k`.
pub const MIN_THRESHOLD: u32 = 2;
pub const MAX_THRESHOLD: u32 = 100;
/// At most this many measures, grid fields and values per field: a report stays small.
pub const MAX_MEASURES: usize = 200;
pub const MAX_GRID_FIELDS: usize = 50;
pub const MAX_GRID_VALUES: usize = 50;
/// Longest measure name, provider name or grid value, in UTF-8 bytes.
pub const MAX_LABEL_BYTES: usize = 200;
/// Largest epsilon, in thousandths, of a release or of a month's budget.
pub const MAX_EPSILON_MILLI: u32 = 100_000;

/// Identifier of a mixed insertion measure, e.g. `atelier-bois`: 1 to 64 characters from
/// `a-z`, `0-9` and `-`, not starting with `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MeasureId(String);

impl MeasureId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MeasureId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(MeasureId(s.to_string()))
        } else {
            Err(IdError::Token {
                kind: "measure id",
                value: s.to_string(),
            })
        }
    }
}

impl fmt::Display for MeasureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MeasureId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MeasureId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Places a sector budgeted in a measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectorPlaces {
    pub sector: Sector,
    pub places: u32,
}

/// A mixed insertion measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub id: MeasureId,
    pub name: String,
    /// Who runs it (an insertion workshop, a training centre): a name, not necessarily a member.
    pub provider: String,
    /// Places budgeted per sector; a sector not listed budgeted none.
    pub places: Vec<SectorPlaces>,
    /// Cost of one place for one month, in centimes (CHF 1 = 100).
    pub cost_per_place_month: u64,
}

/// An observation-grid field the profile figures count, with the values it may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridField {
    pub category: Category,
    pub field: String,
    pub values: Vec<String>,
}

/// The steering group's privacy budget: each release of a month's report spends
/// `epsilon_per_release`, and a month's releases may spend at most `epsilon_per_month`
/// (thousandths of epsilon, so the roster stays exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyBudget {
    pub epsilon_per_release_milli: u32,
    pub epsilon_per_month_milli: u32,
}

/// The roster's statistics declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsConfig {
    /// Counts `0 < n < threshold` are suppressed (shown `<k`).
    pub threshold: u32,
    pub measures: Vec<Measure>,
    pub grid_fields: Vec<GridField>,
    /// Noise and budget, if the steering group set one; none: exact figures, suppressed only.
    pub privacy: Option<PrivacyBudget>,
    /// The member that keeps the coordination dashboard: every other member sends it its
    /// signed monthly reports (spec/statistics.md §8). Must be a member of the roster.
    pub dashboard: Option<InstitutionId>,
}

impl Default for StatisticsConfig {
    fn default() -> Self {
        StatisticsConfig {
            threshold: 5,
            measures: vec![],
            grid_fields: vec![],
            privacy: None,
            dashboard: None,
        }
    }
}

fn label_problem(what: &str, s: &str) -> Option<String> {
    if s.trim().is_empty() || s.trim() != s {
        Some(format!("{what} is empty or has leading or trailing spaces"))
    } else if s.len() > MAX_LABEL_BYTES {
        Some(format!("{what} is longer than {MAX_LABEL_BYTES} bytes"))
    } else if s.chars().any(char::is_control) {
        Some(format!("{what} contains control characters"))
    } else {
        None
    }
}

impl Measure {
    /// Places `sector` budgeted in this measure.
    pub fn places_of(&self, sector: &Sector) -> u32 {
        self.places
            .iter()
            .find(|p| &p.sector == sector)
            .map_or(0, |p| p.places)
    }
}

impl StatisticsConfig {
    pub fn measure(&self, id: &MeasureId) -> Option<&Measure> {
        self.measures.iter().find(|m| &m.id == id)
    }

    pub fn grid_field(&self, category: Category, field: &str) -> Option<&GridField> {
        self.grid_fields
            .iter()
            .find(|g| g.category == category && g.field == field)
    }

    /// The structural rules of spec/statistics.md §2.
    pub fn check(&self) -> Result<(), String> {
        if !(MIN_THRESHOLD..=MAX_THRESHOLD).contains(&self.threshold) {
            return Err(format!(
                "the statistics threshold must be {MIN_THRESHOLD} to {MAX_THRESHOLD}"
            ));
        }
        if self.measures.len() > MAX_MEASURES || self.grid_fields.len() > MAX_GRID_FIELDS {
            return Err(format!(
                "at most {MAX_MEASURES} measures and {MAX_GRID_FIELDS} grid fields"
            ));
        }
        let mut ids = BTreeSet::new();
        for m in &self.measures {
            if !ids.insert(&m.id) {
                return Err(format!("measure {} is listed twice", m.id));
            }
            for (what, s) in [("name", &m.name), ("provider", &m.provider)] {
                if let Some(p) = label_problem(what, s) {
                    return Err(format!("measure {}: {p}", m.id));
                }
            }
            let sectors: BTreeSet<_> = m.places.iter().map(|p| &p.sector).collect();
            if sectors.len() != m.places.len() {
                return Err(format!("measure {} lists a sector's places twice", m.id));
            }
        }
        let mut fields = BTreeSet::new();
        for g in &self.grid_fields {
            if !valid_field_name(&g.field) {
                return Err(format!(
                    "grid field of {}: a field name is 1 to 64 characters from a-z, 0-9 and _",
                    g.category
                ));
            }
            if !fields.insert((g.category, &g.field)) {
                return Err(format!(
                    "grid field {}/{} is listed twice",
                    g.category, g.field
                ));
            }
            if g.values.is_empty() || g.values.len() > MAX_GRID_VALUES {
                return Err(format!(
                    "grid field {}/{} needs 1 to {MAX_GRID_VALUES} values",
                    g.category, g.field
                ));
            }
            let distinct: BTreeSet<_> = g.values.iter().collect();
            if distinct.len() != g.values.len() {
                return Err(format!(
                    "grid field {}/{} lists a value twice",
                    g.category, g.field
                ));
            }
            if let Some(p) = g.values.iter().find_map(|v| label_problem("a value", v)) {
                return Err(format!("grid field {}/{}: {p}", g.category, g.field));
            }
        }
        if let Some(p) = self.privacy {
            let ok = |e: u32| (1..=MAX_EPSILON_MILLI).contains(&e);
            if !ok(p.epsilon_per_release_milli)
                || !ok(p.epsilon_per_month_milli)
                || p.epsilon_per_release_milli > p.epsilon_per_month_milli
            {
                return Err(format!(
                    "the privacy budget needs 0 < epsilon per release <= epsilon per month <= {}",
                    MAX_EPSILON_MILLI / 1000
                ));
            }
        }
        Ok(())
    }
}
