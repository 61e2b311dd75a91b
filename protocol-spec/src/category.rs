//! Data categories of the observation grid. A summary, a consent and the exchange policy all
//! speak in these categories; nothing is disclosed outside them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One group of observation-grid fields. The wire encoding is the variant index (postcard),
/// the text encoding is the kebab-case name; both are fixed by the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Identity,
    Household,
    Employment,
    Benefits,
    Health,
    Measures,
    Training,
    CaseManagement,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Identity,
        Category::Household,
        Category::Employment,
        Category::Benefits,
        Category::Health,
        Category::Measures,
        Category::Training,
        Category::CaseManagement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Identity => "identity",
            Category::Household => "household",
            Category::Employment => "employment",
            Category::Benefits => "benefits",
            Category::Health => "health",
            Category::Measures => "measures",
            Category::Training => "training",
            Category::CaseManagement => "case-management",
        }
    }

    /// Parses a comma-separated list such as `employment,measures`, sorted and deduplicated.
    pub fn parse_list(list: &str) -> Result<Vec<Category>, UnknownCategory> {
        let mut out: Vec<Category> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown data category `{0}` (expected one of identity, household, employment, benefits, health, measures, training, case-management)"
)]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
        }
    }

    #[test]
    fn list_is_sorted_and_deduplicated() {
        let l = Category::parse_list("measures, employment,measures").unwrap();
        assert_eq!(l, vec![Category::Employment, Category::Measures]);
        assert!(Category::parse_list("employment,salary").is_err());
    }
}
