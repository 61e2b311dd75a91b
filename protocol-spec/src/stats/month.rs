//! Calendar months and days for the monthly statistics (spec/statistics.md §4). Placement
//! dates are calendar dates and belong to the month they name; instants (Unix seconds of case
//! events and decisions) belong to the month of their UTC date.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A calendar month, written `YYYY-MM` in every form (text and postcard alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid month: expected YYYY-MM from 1900-01 to 9999-12, such as 2026-11")]
pub struct BadMonth;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day number (days since 1970-01-01) of a `YYYY-MM-DD` date already checked by
/// [`crate::records::valid_date`].
pub fn day_number(date: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| date[r].parse::<u32>().unwrap_or(1);
    days_from_civil(i64::from(n(0..4)), n(5..7), n(8..10))
}

impl Month {
    pub fn new(year: u16, month: u8) -> Result<Month, BadMonth> {
        if (1900..=9999).contains(&year) && (1..=12).contains(&month) {
            Ok(Month { year, month })
        } else {
            Err(BadMonth)
        }
    }

    /// Day number of the first day.
    pub fn first_day(self) -> i64 {
        days_from_civil(i64::from(self.year), u32::from(self.month), 1)
    }

    /// Day number of the last day.
    pub fn last_day(self) -> i64 {
        self.next().first_day() - 1
    }

    pub fn days(self) -> u32 {
        (self.last_day() - self.first_day() + 1) as u32
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The instants of the month, Unix seconds `[start, end)`, by UTC date.
    pub fn instants(self) -> (u64, u64) {
        let s = |d: i64| (d.max(0) * 86_400) as u64;
        (s(self.first_day()), s(self.next().first_day()))
    }

    /// The month of a Unix instant, by its UTC date.
    pub fn of_instant(secs: u64) -> Month {
        let days = (secs / 86_400) as i64;
        // Inverse of days_from_civil (civil_from_days).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        Month {
            year: y.clamp(1900, 9999) as u16,
            month: m as u8,
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = BadMonth;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 7
            || b[4] != b'-'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 4 || c.is_ascii_digit())
        {
            return Err(BadMonth);
        }
        Month::new(
            s[0..4].parse().map_err(|_| BadMonth)?,
            s[5..7].parse().map_err(|_| BadMonth)?,
        )
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_have_their_days_and_instants() {
        let feb: Month = "2028-02".parse().unwrap();
        assert_eq!(feb.days(), 29);
        assert_eq!("2026-02".parse::<Month>().unwrap().days(), 28);
        let nov: Month = "2026-11".parse().unwrap();
        assert_eq!(nov.days(), 30);
        assert_eq!(nov.first_day(), day_number("2026-11-01"));
        assert_eq!(nov.last_day(), day_number("2026-11-30"));
        let (start, end) = nov.instants();
        assert_eq!(start, 1_793_491_200); // 2026-11-01T00:00:00Z
        assert_eq!(Month::of_instant(start), nov);
        assert_eq!(Month::of_instant(end - 1), nov);
        assert_eq!(Month::of_instant(end), "2026-12".parse().unwrap());
        assert_eq!(
            "2026-12".parse::<Month>().unwrap().next().to_string(),
            "2027-01"
        );
        for bad in [
            "2026-13", "2026-00", "2026-1", "26-11", "2026/11", "1899-12",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}
