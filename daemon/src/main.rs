//! `passerelled --config <file>`: runs one Passerelle node until interrupted.
#![forbid(unsafe_code)]

use clap::Parser;
use daemon::args::{Args, DEFAULT_LOG_FILTER};
use tokio_util::sync::CancellationToken;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .with_writer(std::io::stderr)
        // Plain text when stderr goes to a file or a journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let config = match daemon::config::NodeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("passerelled: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let shutdown = CancellationToken::new();
    let s2 = shutdown.clone();
    rt.spawn(async move {
        // Ctrl-C from a terminal, SIGTERM from a service manager: both stop the node gracefully.
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        s2.cancel();
    });
    match rt.block_on(daemon::run(config, shutdown)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("passerelled: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
