//! `passerelle`: the Passerelle command-line interface.
#![forbid(unsafe_code)]

use clap::Parser;
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
    match rt.block_on(cli::commands::run(cli)) {
        Ok(status) => std::process::ExitCode::from(status.code()),
        Err(e) => output::error(&e, json),
    }
}
