//! Value parsers for the command line: closed protocol sets offered by their text names, so that
//! `--help` lists them, and personal data whose rejection never repeats the value.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use protocol_spec::avs::Avs;
use protocol_spec::ids::StaffId;
use std::ffi::OsStr;

/// One of `all`, written by its text name (`Category::as_str`, `Role::as_str`).
pub fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|v| name(*v))).map(move |s| {
        *all.iter()
            .find(|v| name(**v) == s)
            .expect("clap checked it is a possible value")
    })
}

/// A value that is personal data. clap's own errors quote the rejected input; this one names
/// the argument and the problem only (spec §14.7).
#[derive(Clone, Copy)]
pub struct Private<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Private<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let problem = match value.to_str() {
            Some(text) => match (self.0)(text) {
                Ok(v) => return Ok(v),
                Err(problem) => problem,
            },
            None => "not valid UTF-8".to_string(),
        };
        let arg = arg.map_or_else(|| "a value".to_string(), |a| format!("'{a}'"));
        Err(clap::Error::raw(
            clap::error::ErrorKind::ValueValidation,
            format!("invalid value for {arg}: {problem}\n"),
        )
        .with_cmd(cmd))
    }
}

/// A social insurance number; `AvsError` messages never contain the number.
pub fn avs() -> Private<Avs> {
    Private(|s| {
        s.parse()
            .map_err(|e: protocol_spec::avs::AvsError| e.to_string())
    })
}

/// A staff id, which is often a person's name.
pub fn staff_id() -> Private<StaffId> {
    Private(|s| {
        s.parse().map_err(|_| {
            "a staff id is 1 to 64 characters from a-z, 0-9 and `-`, not starting with `-`"
                .to_string()
        })
    })
}

/// `SECTOR=N`: the places a sector budgeted in a measure.
pub fn sector_places(s: &str) -> Result<protocol_spec::stats::SectorPlaces, String> {
    let (sector, n) = s
        .split_once('=')
        .ok_or("expected SECTOR=PLACES, e.g. employment=12")?;
    Ok(protocol_spec::stats::SectorPlaces {
        sector: sector.trim().parse().map_err(|e| format!("{e}"))?,
        places: n
            .trim()
            .parse()
            .map_err(|_| "the places are a whole number, e.g. employment=12")?,
    })
}

/// An amount in CHF with at most two decimals, as centimes.
pub fn francs(s: &str) -> Result<u64, String> {
    fixed_point(s, 2, 100).ok_or_else(|| "expected an amount in CHF such as 1850 or 1850.50".into())
}

/// An epsilon with at most three decimals, as thousandths.
pub fn epsilon(s: &str) -> Result<u32, String> {
    fixed_point(s, 3, 1000)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| "expected a positive epsilon with at most 3 decimals, e.g. 0.5".into())
}

fn fixed_point(s: &str, decimals: usize, scale: u64) -> Option<u64> {
    let (whole, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    if whole.is_empty()
        || frac.len() > decimals
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac_value: u64 = format!("{frac:0<decimals$}").parse().ok()?;
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(frac_value)
}

#[cfg(test)]
mod stats_tests {
    #[test]
    fn amounts_and_epsilons_are_exact() {
        assert_eq!(super::francs("1850"), Ok(185_000));
        assert_eq!(super::francs("1850.5"), Ok(185_050));
        assert!(super::francs("18.505").is_err());
        assert_eq!(super::epsilon("0.5"), Ok(500));
        assert_eq!(super::epsilon("2"), Ok(2000));
        assert!(super::epsilon("0").is_err());
        assert!(super::epsilon("-1").is_err());
        assert_eq!(super::sector_places("employment=12").unwrap().places, 12);
        assert!(super::sector_places("employment").is_err());
    }
}
