//! The monthly report of one sector's node (spec/statistics.md §5 to §7): the figures laid out
//! with the linear relations they publish, calibrated noise when the roster sets a privacy
//! budget, then small-count suppression; and the report's canonical encoding.

use super::config::{MeasureId, StatisticsConfig};
use super::month::Month;
use super::noise::discrete_laplace;
use super::placements::ExitOutcome;
use super::suppress::{Mark, Relation, suppress};
use crate::category::Category;
use crate::exchange::RefusalCode;
use crate::ids::{InstitutionId, Sector};
use crate::seal::CryptoRng;
use serde::{Deserialize, Serialize};

/// Domain separator of the report's signing input (spec/statistics.md §5).
pub const STATS_REPORT_CONTEXT: &[u8] = b"passerelle/v1 stats-report\n";

/// One published figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cell {
    Count(u64),
    /// Primary suppression: `0 < n < k` (shown `<k`), or tied to such a count.
    Small,
    /// Complementary suppression (shown `x`): hidden so that no small count can be recomputed.
    Withheld,
}

impl Cell {
    /// The text form: the count, `<k` or `x`.
    pub fn render(self, k: u32) -> String {
        match self {
            Cell::Count(n) => n.to_string(),
            Cell::Small => format!("<{k}"),
            Cell::Withheld => "x".into(),
        }
    }

    pub fn count(self) -> Option<u64> {
        match self {
            Cell::Count(n) => Some(n),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureFigures {
    pub measure: MeasureId,
    /// From the roster: this sector's places, place-days of the month, and their cost.
    pub places_budgeted: u32,
    pub place_days_budgeted: u64,
    pub cost_budgeted: u64,
    pub participants: Cell,
    pub entries: Cell,
    /// In `ExitOutcome::ALL` order.
    pub exits: Vec<(ExitOutcome, Cell)>,
    pub exits_total: Cell,
    pub place_days_used: Cell,
    /// Centimes: `place_days_used × cost_per_place_month / days`, rounded half up; hidden when
    /// `place_days_used` is.
    pub cost_used: Cell,
}

/// Column totals over all measures (sums of the per-measure figures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureTotals {
    pub places_budgeted: u64,
    pub place_days_budgeted: u64,
    pub cost_budgeted: u64,
    pub participants: Cell,
    pub entries: Cell,
    pub exits: Vec<(ExitOutcome, Cell)>,
    pub exits_total: Cell,
    pub place_days_used: Cell,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub persons_followed: Cell,
    pub persons_in_cases: Cell,
    /// Persons whose last summary decision of the month by this node granted it.
    pub granted: Cell,
    /// Persons whose last decision refused it, by code (`RefusalCode::ALL` order).
    pub refused: Vec<(RefusalCode, Cell)>,
    pub decisions_total: Cell,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub category: Category,
    pub field: String,
    /// Persons followed by declared value, in the roster's order.
    pub values: Vec<(String, Cell)>,
    /// Persons followed without a declared value for the field.
    pub not_recorded: Cell,
}

/// The privacy spent by this release (spec/statistics.md §7), thousandths of epsilon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyRelease {
    pub epsilon_milli: u32,
    /// Spent on this month's releases, this one included.
    pub spent_milli: u32,
    pub budget_milli: u32,
    /// How many figures one person's data can move (`G`); each got noise of scale
    /// `G × sensitivity / epsilon`.
    pub contributions: u32,
}

/// A sector's monthly report. Its postcard encoding, after [`STATS_REPORT_CONTEXT`], is what
/// the node signs when it sends the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    pub federation: String,
    pub institution: InstitutionId,
    pub sector: Sector,
    pub month: Month,
    pub roster_version: u64,
    /// Unix seconds of the computation.
    pub computed_at: u64,
    pub threshold: u32,
    pub measures: Vec<MeasureFigures>,
    pub all_measures: MeasureTotals,
    pub activity: Activity,
    pub profiles: Vec<Profile>,
    pub privacy: Option<PrivacyRelease>,
}

impl StatsReport {
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = STATS_REPORT_CONTEXT.to_vec();
        out.extend(postcard::to_stdvec(self).expect("report encodes"));
        out
    }
}

/// What the node counted for one measure (spec/statistics.md §4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureCounts {
    pub participants: u64,
    pub entries: u64,
    /// In `ExitOutcome::ALL` order.
    pub exits: [u64; 5],
    pub place_days: u64,
}

/// Per grid field: persons followed by declared value, and without one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileCounts {
    pub values: Vec<u64>,
    pub not_recorded: u64,
}

/// Everything the node counted for a month, exact, before noise and suppression. Measures and
/// profiles follow the roster's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCounts {
    pub measures: Vec<MeasureCounts>,
    pub persons_followed: u64,
    pub persons_in_cases: u64,
    pub granted: u64,
    /// In `RefusalCode::ALL` order.
    pub refused: Vec<u64>,
    pub profiles: Vec<ProfileCounts>,
}

/// Who and what a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportHeader {
    pub federation: String,
    pub institution: InstitutionId,
    pub sector: Sector,
    pub month: Month,
    pub roster_version: u64,
    pub computed_at: u64,
}

/// How many figures one person's data can move in a report under `config`: per measure its
/// participants, entries, one exit cell and its place-days; persons followed, persons in
/// cases, one decision cell; one cell per profile field (spec/statistics.md §7).
pub fn contributions(config: &StatisticsConfig) -> u32 {
    (4 * config.measures.len() + 3 + config.grid_fields.len()) as u32
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the privacy budget of {month} is spent: {spent} of {budget} thousandths of epsilon used, a release needs {needed}; the report is refused until next month's budget"
)]
pub struct BudgetExhausted {
    pub month: Month,
    pub spent: u32,
    pub budget: u32,
    pub needed: u32,
}

/// The privacy a new release of `month` may spend, given what earlier releases spent.
pub fn next_release(
    config: &StatisticsConfig,
    month: Month,
    spent_milli: u32,
) -> Result<Option<PrivacyRelease>, BudgetExhausted> {
    let Some(p) = config.privacy else {
        return Ok(None);
    };
    let after = spent_milli.saturating_add(p.epsilon_per_release_milli);
    if after > p.epsilon_per_month_milli {
        return Err(BudgetExhausted {
            month,
            spent: spent_milli,
            budget: p.epsilon_per_month_milli,
            needed: p.epsilon_per_release_milli,
        });
    }
    Ok(Some(PrivacyRelease {
        epsilon_milli: p.epsilon_per_release_milli,
        spent_milli: after,
        budget_milli: p.epsilon_per_month_milli,
        contributions: contributions(config),
    }))
}

/// The figures as one vector, with the relations among them and which are base figures (the
/// others are sums of base figures).
struct Layout {
    values: Vec<u64>,
    /// Noise sensitivity of a base figure (1 for a person count, the month's days for
    /// place-days); none for a derived sum.
    sensitivity: Vec<Option<u64>>,
    /// For a derived figure, the base figures it sums.
    sums: Vec<Vec<usize>>,
    forced_by: Vec<Option<usize>>,
    relations: Vec<Relation>,
}

impl Layout {
    fn push(&mut self, value: u64, sensitivity: Option<u64>) -> usize {
        self.values.push(value);
        self.sensitivity.push(sensitivity);
        self.sums.push(vec![]);
        self.forced_by.push(None);
        self.values.len() - 1
    }

    /// A derived figure: the sum of `parts`, published with the relation it makes.
    fn total(&mut self, parts: &[usize]) -> usize {
        let value = parts.iter().map(|&p| self.values[p]).sum();
        let i = self.push(value, None);
        let mut bases = Vec::new();
        for &p in parts {
            if self.sensitivity[p].is_some() {
                bases.push(p);
            } else {
                bases.extend(self.sums[p].clone());
            }
        }
        self.sums[i] = bases;
        let mut rel: Relation = parts.iter().map(|&p| (p, 1)).collect();
        rel.push((i, -1));
        self.relations.push(rel);
        i
    }
}

struct MeasureIdx {
    participants: usize,
    entries: usize,
    exits: Vec<usize>,
    exits_total: usize,
    place_days: usize,
}

/// Builds the report from exact counts: noise (when `privacy` is given) on every base figure,
/// negative results raised to 0, sums recomputed from the noisy figures, then suppression.
pub fn build_report<R: CryptoRng + ?Sized>(
    header: ReportHeader,
    config: &StatisticsConfig,
    counts: &MonthCounts,
    privacy: Option<PrivacyRelease>,
    rng: &mut R,
) -> StatsReport {
    let days = u64::from(header.month.days());
    let mut l = Layout {
        values: vec![],
        sensitivity: vec![],
        sums: vec![],
        forced_by: vec![],
        relations: vec![],
    };
    let empty = MeasureCounts::default();
    let mut ms = Vec::new();
    for i in 0..config.measures.len() {
        let c = counts.measures.get(i).unwrap_or(&empty);
        let participants = l.push(c.participants, Some(1));
        let entries = l.push(c.entries, Some(1));
        let exits: Vec<usize> = c.exits.iter().map(|&e| l.push(e, Some(1))).collect();
        let exits_total = l.total(&exits);
        let place_days = l.push(c.place_days, Some(days));
        l.forced_by[place_days] = Some(participants);
        ms.push(MeasureIdx {
            participants,
            entries,
            exits,
            exits_total,
            place_days,
        });
    }
    let column = |l: &mut Layout, f: &dyn Fn(&MeasureIdx) -> usize| {
        let parts: Vec<usize> = ms.iter().map(f).collect();
        l.total(&parts)
    };
    let t_participants = column(&mut l, &|m| m.participants);
    let t_entries = column(&mut l, &|m| m.entries);
    let t_exits: Vec<usize> = (0..ExitOutcome::ALL.len())
        .map(|o| column(&mut l, &|m| m.exits[o]))
        .collect();
    let t_exits_total = column(&mut l, &|m| m.exits_total);
    // The grand total of exits is also the sum of the outcome totals.
    let mut rel: Relation = t_exits.iter().map(|&i| (i, 1)).collect();
    rel.push((t_exits_total, -1));
    l.relations.push(rel);
    let t_place_days = column(&mut l, &|m| m.place_days);

    let followed = l.push(counts.persons_followed, Some(1));
    let in_cases = l.push(counts.persons_in_cases, Some(1));
    let granted = l.push(counts.granted, Some(1));
    let refused: Vec<usize> = (0..RefusalCode::ALL.len())
        .map(|i| l.push(counts.refused.get(i).copied().unwrap_or(0), Some(1)))
        .collect();
    let mut decision_parts = vec![granted];
    decision_parts.extend(&refused);
    let decisions_total = l.total(&decision_parts);
    let mut profiles = Vec::new();
    for (g, c) in config.grid_fields.iter().enumerate() {
        let pc = counts.profiles.get(g);
        let values: Vec<usize> = (0..c.values.len())
            .map(|v| {
                l.push(
                    pc.and_then(|p| p.values.get(v)).copied().unwrap_or(0),
                    Some(1),
                )
            })
            .collect();
        let not_recorded = l.push(pc.map_or(0, |p| p.not_recorded), Some(1));
        // Every person followed has one value or none: the row sums to persons followed.
        let mut rel: Relation = values.iter().map(|&i| (i, 1)).collect();
        rel.push((not_recorded, 1));
        rel.push((followed, -1));
        l.relations.push(rel);
        profiles.push((values, not_recorded));
    }

    if let Some(p) = privacy {
        let g = u64::from(p.contributions.max(1));
        for i in 0..l.values.len() {
            if let Some(sens) = l.sensitivity[i] {
                let noise = discrete_laplace(rng, u64::from(p.epsilon_milli), 1000 * g * sens);
                l.values[i] = (l.values[i] as i64).saturating_add(noise).max(0) as u64;
            }
        }
        for i in 0..l.values.len() {
            if l.sensitivity[i].is_none() {
                l.values[i] = l.sums[i].iter().map(|&b| l.values[b]).sum();
            }
        }
    }

    let k = config.threshold;
    let forced: Vec<bool> = l
        .forced_by
        .iter()
        .map(|f| f.is_some_and(|p| l.values[p] > 0 && l.values[p] < u64::from(k)))
        .collect();
    let marks = suppress(&l.values, &forced, &l.relations, k);
    let cell = |i: usize| match marks[i] {
        Mark::Shown => Cell::Count(l.values[i]),
        Mark::Small => Cell::Small,
        Mark::Withheld => Cell::Withheld,
    };
    let exit_cells = |idx: &[usize]| -> Vec<(ExitOutcome, Cell)> {
        ExitOutcome::ALL
            .iter()
            .zip(idx)
            .map(|(o, &i)| (*o, cell(i)))
            .collect()
    };
    let measures: Vec<MeasureFigures> = config
        .measures
        .iter()
        .zip(&ms)
        .map(|(m, x)| {
            let places = m.places_of(&header.sector);
            let place_days = cell(x.place_days);
            MeasureFigures {
                measure: m.id.clone(),
                places_budgeted: places,
                place_days_budgeted: u64::from(places) * days,
                cost_budgeted: u64::from(places) * m.cost_per_place_month,
                participants: cell(x.participants),
                entries: cell(x.entries),
                exits: exit_cells(&x.exits),
                exits_total: cell(x.exits_total),
                place_days_used: place_days,
                cost_used: match place_days {
                    Cell::Count(pd) => Cell::Count((pd * m.cost_per_place_month + days / 2) / days),
                    other => other,
                },
            }
        })
        .collect();
    let all_measures = MeasureTotals {
        places_budgeted: measures.iter().map(|m| u64::from(m.places_budgeted)).sum(),
        place_days_budgeted: measures.iter().map(|m| m.place_days_budgeted).sum(),
        cost_budgeted: measures.iter().map(|m| m.cost_budgeted).sum(),
        participants: cell(t_participants),
        entries: cell(t_entries),
        exits: exit_cells(&t_exits),
        exits_total: cell(t_exits_total),
        place_days_used: cell(t_place_days),
    };
    let activity = Activity {
        persons_followed: cell(followed),
        persons_in_cases: cell(in_cases),
        granted: cell(granted),
        refused: RefusalCode::ALL
            .iter()
            .zip(&refused)
            .map(|(c, &i)| (*c, cell(i)))
            .collect(),
        decisions_total: cell(decisions_total),
    };
    let profiles = config
        .grid_fields
        .iter()
        .zip(profiles)
        .map(|(g, (values, not_recorded))| Profile {
            category: g.category,
            field: g.field.clone(),
            values: g
                .values
                .iter()
                .cloned()
                .zip(values.iter().map(|&i| cell(i)))
                .collect(),
            not_recorded: cell(not_recorded),
        })
        .collect();
    StatsReport {
        federation: header.federation,
        institution: header.institution,
        sector: header.sector,
        month: header.month,
        roster_version: header.roster_version,
        computed_at: header.computed_at,
        threshold: k,
        measures,
        all_measures,
        activity,
        profiles,
        privacy,
    }
}
