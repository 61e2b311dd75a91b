//! Where the node's and the CLI's diagnostics go, set the same way for both binaries:
//! `PASSERELLE_LOG` (a tracing filter) and `PASSERELLE_LOG_FORMAT` (`text` or `json`), one line
//! per event on stderr, which a service manager hands to the journal. `RUST_LOG` is read when
//! `PASSERELLE_LOG` is unset, for those used to it.
//!
//! What is logged never names a person, a record value or a staff member: events carry
//! institution ids, request kinds, roles, codes, sizes and durations (spec §14.7).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The filter variable, read first.
pub const LOG_VAR: &str = "PASSERELLE_LOG";
/// The format variable: `text` (the default) or `json`.
pub const FORMAT_VAR: &str = "PASSERELLE_LOG_FORMAT";

/// How each event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable, one line per event; coloured only when stderr is a terminal.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`).
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "{FORMAT_VAR}={other:?} is not a log format: use `text` or `json`"
            )),
        }
    }
}

/// The filter and format from the environment; `default_filter` when neither `PASSERELLE_LOG`
/// nor `RUST_LOG` is set. A value that cannot be used is an error naming the variable.
pub fn from_env(default_filter: &str) -> Result<(EnvFilter, Format), String> {
    let (var, filter) = match std::env::var(LOG_VAR) {
        Ok(f) => (LOG_VAR, f),
        Err(_) => match std::env::var("RUST_LOG") {
            Ok(f) => ("RUST_LOG", f),
            Err(_) => ("", default_filter.to_string()),
        },
    };
    let filter = EnvFilter::builder()
        .parse(&filter)
        .map_err(|e| format!("{var}={filter:?} is not a log filter: {e}"))?;
    let format = match std::env::var(FORMAT_VAR) {
        Ok(f) => f.parse()?,
        Err(_) => Format::Text,
    };
    Ok((filter, format))
}

/// Installs the process-wide subscriber writing to stderr, as the environment says.
pub fn init(default_filter: &str) -> Result<(), String> {
    let (filter, format) = from_env(default_filter)?;
    let ansi = std::io::stderr().is_terminal();
    install(filter, format, ansi, std::io::stderr)
}

/// Installs the process-wide subscriber writing events to `writer`; tests capture the JSON
/// lines in a buffer with it.
pub fn install<W>(filter: EnvFilter, format: Format, ansi: bool, writer: W) -> Result<(), String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = match format {
        Format::Text => builder.with_ansi(ansi).try_init(),
        Format::Json => builder
            .json()
            .with_ansi(false)
            // The event's own fields at the top of `fields`; no span list to repeat them.
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| format!("cannot install the log subscriber: {e}"))
}
