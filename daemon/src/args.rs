//! `passerelled`'s command line, here rather than in the binary so that `passerelle man` can
//! write the daemon's manual page from the same definition.

use clap::Parser;
use std::path::PathBuf;

/// The default log filter, when neither `PASSERELLE_LOG` nor `RUST_LOG` is set.
pub const DEFAULT_LOG_FILTER: &str = "info,quinn=warn,rustls=warn";

#[derive(Parser)]
#[command(
    name = "passerelled",
    version,
    about = "Passerelle node: federated, consented case-summary exchange",
    long_about = "Passerelle node: federated, consented case-summary exchange.\n\n\
        Runs one institution's node until it is stopped: it listens for peer nodes and staff \
        over QUIC on the configured UDP address, keeps its store and transparency log in the \
        configured data directory, and serves until SIGTERM or SIGINT. Before it binds a \
        socket it checks the whole configuration as `passerelle node check` does, and refuses \
        to start, naming the file and the problem, if anything is wrong.",
    after_long_help = "\
Signals:
  SIGTERM (systemctl stop) or SIGINT (Ctrl-C) stops the node gracefully: it says goodbye
  to its peers, finishes the transaction in progress and closes its store.

Environment:
  PASSERELLE_LOG         the log filter, `info,quinn=warn,rustls=warn` when unset; e.g.
                         `debug` or `info,daemon=debug`. RUST_LOG is read when it is unset.
  PASSERELLE_LOG_FORMAT  `text` (the default: one line per event, coloured only on a
                         terminal) or `json` (one JSON object per line). The log goes to
                         stderr: the journal under systemd. It names no person, record
                         value or staff member. Lines about single requests are at most
                         10 a second after a burst of 100, the rest counted in a
                         `request lines skipped` line; at `debug`, and for an
                         administrator's requests, all are written.

Observability:
  With an [observability] table in node.toml (listen = \"127.0.0.1:9464\"), the node serves
  GET /metrics (Prometheus), /livez and /readyz on that TCP address; `passerelle node
  health --config node.toml` asks /readyz.

Exit status:
  0  stopped by SIGTERM or SIGINT (or, with --exit-with-stdin, by the end of its input)
  1  the node failed: it could not listen, open its store, or go on serving
  2  the command line, the configuration or a PASSERELLE_LOG* variable cannot be used
     (the reason is printed)"
)]
pub struct Args {
    /// Node configuration file, as written by `passerelle node init`, e.g.
    /// /etc/passerelle/node.toml. Relative paths in it are resolved against its directory.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// Stop, as on SIGTERM, once standard input is closed: for a program that starts the node
    /// with a pipe as its input, so that the node stops when that program ends, even killed
    /// (`passerelle bench` starts its nodes so). Not for a service manager, which gives no
    /// input.
    #[arg(long)]
    pub exit_with_stdin: bool,
}
