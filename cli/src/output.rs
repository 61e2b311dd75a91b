//! What the CLI prints on stdout and how it exits.
//!
//! With `--json` every command prints exactly one JSON document, errors included: an object
//! whose single key names what it holds (`{"case-opened": {…}}`, `{"error": {…}}`), the
//! externally tagged kebab-case form of the protocol's text forms (spec §2). Scripts tell the
//! outcome from the exit status alone, one distinct code per kind of outcome (`EXIT_STATUS`).
//! A reader that stops early (`| head`) ends the output quietly, not the program with a panic.

use protocol_spec::staff::{StaffErrorKind, StaffReply, SummaryOutcome};
use serde::Serialize;
use serde_json::{Map, Value};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status table, as `passerelle --help` prints it; the README repeats it.
pub const EXIT_STATUS: &str = "\
Exit status:
  0  done; for `summary request`, the summary was received
  1  failed: the node or this program rejected the request or its input (invalid file,
     unknown case, role not allowed), or `audit verify`/`audit reconcile` found a problem
  2  usage: the command line is invalid
  3  refused: the responder refused the summary request under the rule (code printed)
  4  queued: the responder is unreachable; the request waits in the outbox
  5  unreachable: the credential's node, or a peer node it needed, could not be reached
  6  internal: the node failed locally
  7  pending: the outcome is not known yet; the node keeps working on it (check
     `passerelle summary requests` before asking again)
  130  interrupted: `demo` or `bench` stopped on SIGINT or SIGTERM; the nodes it started
     are stopped and its temporary files removed
With --json, stdout holds one JSON document whatever the outcome; an error is
{\"error\": {\"kind\": KIND, \"message\": TEXT}} with KIND one of failed, usage, bad-request,
forbidden, unreachable, peer, internal, pending, interrupted.";

/// How a command that ran to its end turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Done,
    /// The responder refused the summary request under the rule.
    Refused,
    /// The responder was unreachable; the request waits in the outbox.
    Queued,
    /// A check ran and found problems, which its report already names.
    Findings,
}

impl Status {
    pub fn code(self) -> u8 {
        match self {
            Status::Done => 0,
            Status::Findings => 1,
            Status::Refused => 3,
            Status::Queued => 4,
        }
    }

    /// The outcome a node reply stands for.
    pub fn of(reply: &StaffReply) -> Status {
        match reply {
            StaffReply::Summary(SummaryOutcome::Refused { .. }) => Status::Refused,
            StaffReply::Summary(SummaryOutcome::Queued) => Status::Queued,
            StaffReply::StatsSent(s) if !s.delivered => Status::Queued,
            _ => Status::Done,
        }
    }
}

/// Who or what an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// This program could not do it: a file missing, invalid or not private, and the like.
    Failed,
    Usage,
    /// The node rejected the request as invalid.
    BadRequest,
    /// The credential's role does not allow the request.
    Forbidden,
    Unreachable,
    /// A peer node misbehaved or could not be reached.
    Peer,
    Internal,
    /// The outcome is not known yet; the node keeps working on it.
    Pending,
    /// A command that starts nodes of its own was stopped by a signal, and cleaned up.
    Interrupted,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Failed => "failed",
            ErrorKind::Usage => "usage",
            ErrorKind::BadRequest => "bad-request",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Peer => "peer",
            ErrorKind::Internal => "internal",
            ErrorKind::Pending => "pending",
            ErrorKind::Interrupted => "interrupted",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ErrorKind::Failed | ErrorKind::BadRequest | ErrorKind::Forbidden => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Unreachable | ErrorKind::Peer => 5,
            ErrorKind::Internal => 6,
            ErrorKind::Pending => 7,
            // As a shell reports a command ended by SIGINT.
            ErrorKind::Interrupted => 130,
        }
    }
}

impl From<StaffErrorKind> for ErrorKind {
    fn from(k: StaffErrorKind) -> Self {
        match k {
            StaffErrorKind::BadRequest => ErrorKind::BadRequest,
            StaffErrorKind::Forbidden => ErrorKind::Forbidden,
            StaffErrorKind::Peer => ErrorKind::Peer,
            StaffErrorKind::Internal => ErrorKind::Internal,
            StaffErrorKind::Pending => ErrorKind::Pending,
        }
    }
}

/// Context that classifies an error; any error without it is `failed`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Classified {
    pub kind: ErrorKind,
    pub message: String,
}

impl Classified {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Classified {
            kind,
            message: message.into(),
        }
    }
}

pub fn kind_of(e: &anyhow::Error) -> ErrorKind {
    e.downcast_ref::<Classified>()
        .map_or(ErrorKind::Failed, |c| c.kind)
}

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes text to stdout. Once the reader has closed the pipe, output is dropped silently.
pub fn text(s: &str) -> anyhow::Result<()> {
    if CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        r => Ok(r.map_err(|e| anyhow::anyhow!("cannot write to standard output: {e}"))?),
    }
}

/// `println!` that ends quietly on a closed pipe and returns write errors instead of panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::text("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::text(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// The one-key object form of a serialised enum: a unit variant `"done"` becomes
/// `{"done": {}}`, so every document is an object keyed by what it holds.
fn tagged(v: Value) -> Value {
    match v {
        Value::String(name) => Value::Object(Map::from_iter([(name, Value::Object(Map::new()))])),
        other => other,
    }
}

fn print_value(v: &Value) -> anyhow::Result<()> {
    text(&format!("{}\n", serde_json::to_string_pretty(v)?))
}

/// Prints `{"<kind>": body}`.
pub fn document(kind: &str, body: impl Serialize) -> anyhow::Result<()> {
    let body = serde_json::to_value(body)?;
    print_value(&Value::Object(Map::from_iter([(kind.to_string(), body)])))
}

/// Prints a node reply, already keyed by its variant name.
pub fn reply(r: &StaffReply) -> anyhow::Result<()> {
    print_value(&tagged(serde_json::to_value(r)?))
}

/// Reports a failed command on stderr, or as the JSON document on stdout; returns its exit status.
pub fn error(e: &anyhow::Error, json: bool) -> ExitCode {
    let kind = kind_of(e);
    report(kind, &format!("{e:#}"), json);
    ExitCode::from(kind.code())
}

fn report(kind: ErrorKind, message: &str, json: bool) {
    if json {
        let doc = serde_json::json!({ "error": { "kind": kind.as_str(), "message": message } });
        // Nothing is left to report to if stdout itself fails.
        let _ = print_value(&doc);
    } else {
        let _ = writeln!(std::io::stderr(), "passerelle: {message}");
    }
}

/// Reports a command line that does not parse. Help and version requests are not errors and
/// stay text, `--json` or not.
pub fn usage(e: clap::Error, json: bool) -> ExitCode {
    if !json || !e.use_stderr() {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() {
            ErrorKind::Usage.code()
        } else {
            0
        });
    }
    let rendered = e.render().to_string();
    let rendered = rendered.trim();
    report(
        ErrorKind::Usage,
        rendered.strip_prefix("error: ").unwrap_or(rendered),
        true,
    );
    ExitCode::from(ErrorKind::Usage.code())
}

/// Whether the raw command line asks for JSON, for errors met before it is parsed.
pub fn wants_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn classification_survives_added_context() {
        let e = Err::<(), _>(anyhow::anyhow!("no route"))
            .context(Classified::new(
                ErrorKind::Unreachable,
                "cannot reach the node",
            ))
            .context("staff list")
            .unwrap_err();
        assert_eq!(kind_of(&e), ErrorKind::Unreachable);
        assert_eq!(
            format!("{e:#}"),
            "staff list: cannot reach the node: no route"
        );
        assert_eq!(kind_of(&anyhow::anyhow!("bad file")), ErrorKind::Failed);
    }

    #[test]
    fn unit_variants_become_objects() {
        assert_eq!(
            tagged(serde_json::to_value(StaffReply::Done).unwrap()),
            serde_json::json!({ "done": {} })
        );
        assert_eq!(
            tagged(serde_json::to_value(StaffReply::RosterInstalled { version: 2 }).unwrap()),
            serde_json::json!({ "roster-installed": { "version": 2 } })
        );
    }

    /// The help text names every exit status and error kind the program can produce.
    #[test]
    fn exit_status_table_is_complete() {
        let kinds = [
            ErrorKind::Failed,
            ErrorKind::Usage,
            ErrorKind::BadRequest,
            ErrorKind::Forbidden,
            ErrorKind::Unreachable,
            ErrorKind::Peer,
            ErrorKind::Internal,
            ErrorKind::Pending,
            ErrorKind::Interrupted,
        ];
        let statuses = [
            Status::Done,
            Status::Refused,
            Status::Queued,
            Status::Findings,
        ];
        let codes = kinds
            .iter()
            .map(|k| k.code())
            .chain(statuses.iter().map(|s| s.code()));
        for code in codes {
            assert!(
                EXIT_STATUS.contains(&format!("\n  {code}  ")),
                "exit status {code} is not documented"
            );
        }
        for k in kinds {
            assert!(EXIT_STATUS.contains(k.as_str()), "{}", k.as_str());
        }
    }
}
