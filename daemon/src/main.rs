//! `passerelled --config <file>`: runs one Passerelle node until interrupted.
#![forbid(unsafe_code)]

use clap::Parser;
use daemon::args::{Args, DEFAULT_LOG_FILTER};
use tokio_util::sync::CancellationToken;

/// jemalloc serves every allocation of the node, SQLite's included: at 32 exchanges in flight,
/// glibc's malloc and free took 7% of the nodes' CPU and jemalloc's take under 2% (giving memory
/// back: `daemon::memory`).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    if let Err(e) = daemon::logging::init(DEFAULT_LOG_FILTER) {
        eprintln!("passerelled: {e}");
        return std::process::ExitCode::from(2);
    }
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
    if args.exit_with_stdin {
        // A thread of its own: a read of standard input cannot be cancelled, and the runtime's
        // blocking pool would wait for it at shutdown.
        let s3 = shutdown.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Err(e) if e.kind() != std::io::ErrorKind::Interrupted => break,
                    _ => {}
                }
            }
            tracing::info!("standard input closed: stopping");
            s3.cancel();
        });
    }
    match rt.block_on(daemon::run(config, shutdown)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("passerelled: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
