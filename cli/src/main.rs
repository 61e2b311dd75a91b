//! `passerelle`: the Passerelle command-line interface.
#![forbid(unsafe_code)]

use clap::Parser;
use cli::commands::Command;
use cli::output;

fn main() -> std::process::ExitCode {
    if let Err(e) = daemon::logging::init("warn,quinn=error,rustls=error") {
        eprintln!("passerelle: {e}");
        return std::process::ExitCode::from(2);
    }
    // Known before parsing, so that a command line that does not parse is reported as JSON too.
    let json = output::wants_json(std::env::args_os());
    let cli = match cli::commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::usage(e, json),
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let starts_nodes = matches!(cli.command, Command::Demo(_) | Command::Bench(_));
    let outcome = rt.block_on(async {
        if !starts_nodes {
            return cli::commands::run(cli).await;
        }
        // A command that starts nodes of its own stops them and removes its files when
        // interrupted: it is dropped, and so are the nodes and temporary directories it holds.
        tokio::select! {
            outcome = cli::commands::run(cli) => outcome,
            signal = interrupted() => Err(anyhow::Error::new(output::Classified::new(
                output::ErrorKind::Interrupted,
                format!("interrupted by {signal}; the nodes this command started are stopped and its temporary files removed"),
            ))),
        }
    });
    match outcome {
        Ok(status) => std::process::ExitCode::from(status.code()),
        Err(e) => output::error(&e, json),
    }
}

/// The first SIGINT or SIGTERM this process receives, by name.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            // Without handlers the signals keep their default action.
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
