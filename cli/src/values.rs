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
