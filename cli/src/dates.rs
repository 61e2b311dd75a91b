//! Calendar dates for consent validity: `YYYY-MM-DD` in UTC to and from unix seconds.

use anyhow::bail;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Start of the given day (00:00:00 UTC), unix seconds.
pub fn parse_day(s: &str) -> anyhow::Result<u64> {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        bail!("invalid date `{s}`: expected YYYY-MM-DD");
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<i64>(), d.parse::<i64>()) else {
        bail!("invalid date `{s}`: expected YYYY-MM-DD");
    };
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || d < 1
        || civil_from_days(days_from_civil(y, m, d)) != (y, m, d)
    {
        bail!("invalid date `{s}`: no such calendar day");
    }
    Ok((days_from_civil(y, m, d) * 86400) as u64)
}

/// End of the given day (23:59:59 UTC): validity periods include their last day.
pub fn parse_day_end(s: &str) -> anyhow::Result<u64> {
    Ok(parse_day(s)? + 86399)
}

pub fn format_time(t: u64) -> String {
    let days = (t / 86400) as i64;
    let (y, m, d) = civil_from_days(days);
    let s = t % 86400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

pub fn format_day(t: u64) -> String {
    let (y, m, d) = civil_from_days((t / 86400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(parse_day("1970-01-01").unwrap(), 0);
        assert_eq!(parse_day("2026-11-22").unwrap(), 1_795_305_600);
        assert_eq!(format_day(parse_day("2024-02-29").unwrap()), "2024-02-29");
        assert!(parse_day("2025-02-29").is_err());
        assert!(parse_day("2025-13-01").is_err());
        assert!(parse_day("tomorrow").is_err());
        assert_eq!(parse_day_end("1970-01-01").unwrap(), 86399);
    }
}
