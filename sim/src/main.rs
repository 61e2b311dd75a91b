//! `sim`: runs simulated federations over a range of seeds, or replays one seed with its full
//! trace. Exits non-zero at the first seed whose run violates an invariant.

use clap::Parser;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    version,
    about = "Runs Passerelle federations under faults, reproducibly from a seed"
)]
struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 20, conflicts_with = "seed")]
    seeds: u64,
    /// The first seed of the range.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Replay this one seed, printing every event as it happens.
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated length of each run's active phase, in days.
    #[arg(long, default_value_t = 0.01)]
    days: f64,
    /// End each run's active phase after this many events, if it is not over yet.
    #[arg(long)]
    steps: Option<u64>,
    /// No network faults, crashes, store faults or misbehaving member: the happy path.
    #[arg(long)]
    calm: bool,
    /// Run a deliberately broken core, to see the invariants catch it.
    #[arg(long, value_enum)]
    mutant: Vec<Mutant>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Mutant {
    ResponderIgnoresRevocation,
    RequesterSkipsRecheck,
    ResponderForgetsReplies,
    ResponderReleasesStaleSeal,
    WitnessForgetsItsState,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seeds = match args.seed {
        Some(s) => s..s + 1,
        None => args.first..args.first + args.seeds,
    };
    let mut total = sim::Stats::default();
    let started = Instant::now();
    let mut runs = 0;
    for seed in seeds {
        let mut cfg = sim::Config::new(seed);
        cfg.duration_ms = (args.days * 86_400_000.0) as u64;
        cfg.max_events = args.steps.unwrap_or(u64::MAX);
        cfg.verbose = args.seed.is_some();
        for m in &args.mutant {
            match m {
                Mutant::ResponderIgnoresRevocation => {
                    cfg.mutants.responder_ignores_revocation = true
                }
                Mutant::RequesterSkipsRecheck => cfg.mutants.requester_skips_recheck = true,
                Mutant::ResponderForgetsReplies => cfg.mutants.responder_forgets_replies = true,
                Mutant::ResponderReleasesStaleSeal => {
                    cfg.mutants.responder_releases_stale_seal = true
                }
                Mutant::WitnessForgetsItsState => cfg.mutants.witness_forgets_its_state = true,
            }
        }
        if args.calm {
            cfg.net.drop = 0.0;
            cfg.net.duplicate = 0.0;
            cfg.crashes = false;
            cfg.partitions = false;
            cfg.store_faults = 0.0;
            cfg.rogue = false;
        }
        match sim::run(&cfg) {
            Ok(report) => {
                println!("seed {}: {}", report.seed, report.stats);
                total.add(&report.stats);
                runs += 1;
            }
            Err(v) => {
                eprintln!("{v}");
                eprintln!("(with the same length and restriction options as this run)");
                return ExitCode::FAILURE;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("---");
    println!("{runs} seeds, all invariants held");
    println!("total: {total}");
    println!(
        "{:.0} events/s, {:.0} core steps/s, {:.1} s wall clock",
        total.events as f64 / secs,
        total.steps as f64 / secs,
        secs
    );
    if runs > 0 {
        let n = runs as f64;
        println!(
            "per run: {:.0} events, {:.1} drops, {:.1} dups, {:.1} partitions, {:.1} crashes, {:.1} store faults, {:.1} granted, {:.1} refused, {:.1} withdrawn",
            total.events as f64 / n,
            total.net.dropped as f64 / n,
            total.net.duplicated as f64 / n,
            total.partitions as f64 / n,
            total.crashes as f64 / n,
            total.store_faults as f64 / n,
            total.granted as f64 / n,
            total.refused as f64 / n,
            total.withdrawn as f64 / n,
        );
    }
    ExitCode::SUCCESS
}
