//! `passerelle bench`: what a node costs, each figure next to the floor it is compared with,
//! measured in the same run on the same machine: the cryptography of one exchange, durable
//! commits, bare quinn round trips and handshakes; then full exchanges between two real node
//! processes, the roster-size sweep, idle peer connections, and audit verification.

pub mod audit;
pub mod exchange;
pub mod floor;
pub mod peers;

use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub name: String,
    pub operations: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub per_second: f64,
}

impl Row {
    pub fn new(name: &str, operations: usize, concurrency: usize, took: Duration) -> Row {
        let seconds = took.as_secs_f64();
        Row {
            name: name.into(),
            operations,
            concurrency,
            seconds,
            per_second: operations as f64 / seconds,
        }
    }
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Latencies {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Latencies {
    pub fn of(mut samples: Vec<Duration>) -> Latencies {
        samples.sort_unstable();
        let at = |q: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i].as_secs_f64() * 1e3
        };
        Latencies {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
        }
    }
}

/// Runs `total` operations made by `make`, `concurrency` in flight; returns the wall time.
pub async fn run_load<F, Fut>(total: usize, concurrency: usize, make: F) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let mut issued = 0;
    while issued < total.min(concurrency) {
        set.spawn(make(issued));
        issued += 1;
    }
    while let Some(r) = set.join_next().await {
        r??;
        if issued < total {
            set.spawn(make(issued));
            issued += 1;
        }
    }
    Ok(start.elapsed())
}

pub fn print_rows(rows: &[Row]) -> anyhow::Result<()> {
    crate::output::text(&crate::table::table(
        ["measurement", "ops", "conc", "seconds", "ops/second"],
        rows.iter().map(|r| {
            [
                r.name.clone(),
                r.operations.to_string(),
                r.concurrency.to_string(),
                format!("{:.3}", r.seconds),
                format!("{:.1}", r.per_second),
            ]
        }),
    ))
}

/// How much the full benchmark does.
pub struct BenchOptions {
    /// Exchanges per concurrency level.
    pub requests: usize,
    pub concurrencies: Vec<usize>,
    pub roster_sizes: Vec<usize>,
    /// Idle peer connections held open at once, and reconnected after a restart.
    pub peers: usize,
    pub audit_entries: u64,
}

/// The machine the figures come from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub os: String,
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu,
        os: std::env::consts::OS.into(),
    }
}

/// Everything `passerelle bench` measured, as `--json` prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub machine: Machine,
    pub crypto_floor: floor::CryptoFloor,
    pub durable_commit: Latencies,
    pub grouped_commits: Row,
    pub quinn_round_trip: Latencies,
    pub quinn_handshakes: Row,
    pub exchanges: Vec<exchange::ExchangeRow>,
    /// Round trip p50/p99 bounds of the latency target: raw quinn plus two durable commits.
    pub latency_floor: Latencies,
    /// What one exchange at one in flight waits for whatever the nodes do: two round trips
    /// (the case worker's to its node, the node's to the responder), three durable commits
    /// (the request, the disclosure, the receipt) and the cryptography done in turn.
    pub path_floor: Latencies,
    pub roster_sweep: Vec<peers::RosterRow>,
    pub idle_peers: Option<peers::IdlePeers>,
    pub audit: audit::AuditFigures,
}

pub async fn run(opts: BenchOptions, json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let m = machine();
    let progress = |what: &str| {
        if !json {
            eprintln!("bench: {what}");
        }
    };
    progress("crypto floor");
    let mut rounds = floor::Rounds::default();
    rounds.time()?;
    progress("durable commits");
    let (durable_commit, grouped_commits) = floor::commits(dir.path(), 400)?;
    progress("bare quinn round trips and handshakes");
    let echo = floor::EchoServer::start()?;
    let client_key = protocol_spec::keys::SigningKey::from_seed([12; 32]);
    let conn = echo.connect(&client_key).await?;
    let quinn_round_trip = floor::round_trips(&conn, 2000, 600).await?;
    conn.close(0u32.into(), b"");
    let keys = peers::keys(opts.peers);
    let took = floor::handshakes(&echo, &keys, 64).await?;
    let quinn_handshakes = Row::new("quinn: mutual-TLS handshakes", keys.len(), 64, took);
    echo.stop();
    let latency_floor = Latencies {
        p50_ms: quinn_round_trip.p50_ms + 2.0 * durable_commit.p50_ms,
        p99_ms: quinn_round_trip.p99_ms + 2.0 * durable_commit.p99_ms,
    };
    let path_floor = |crypto_ms: f64| Latencies {
        p50_ms: 2.0 * quinn_round_trip.p50_ms + 3.0 * durable_commit.p50_ms + crypto_ms,
        p99_ms: 2.0 * quinn_round_trip.p99_ms + 3.0 * durable_commit.p99_ms + crypto_ms,
    };

    progress("full exchanges between two node processes");
    let mut pair = exchange::Pair::start(&dir.path().join("federation")).await?;
    let measured = async {
        let mut exchanges = Vec::new();
        for &c in &opts.concurrencies {
            let n = requests_at(opts.requests, c);
            exchanges.push(exchange::measure(&pair, n, c).await?);
        }
        progress("roster sweep, idle peer connections, reconnection");
        let (sweep, idle) = peers::sweep(&mut pair, &opts, quinn_handshakes.seconds).await?;
        anyhow::Ok((exchanges, sweep, idle))
    }
    .await;
    pair.stop().await;
    let (mut exchanges, roster_sweep, idle_peers) = measured?;
    progress("crypto floor again");
    rounds.time()?;
    let crypto = rounds.floor(m.cores);
    exchanges.iter_mut().for_each(|e| e.rate(&crypto));
    let path_floor = path_floor(crypto.path_s * 1e3);
    progress("audit verify");
    let audit = audit::measure(opts.audit_entries)?;
    let report = Report {
        machine: m,
        crypto_floor: crypto,
        durable_commit,
        grouped_commits,
        quinn_round_trip,
        quinn_handshakes,
        exchanges,
        latency_floor,
        path_floor,
        roster_sweep,
        idle_peers,
        audit,
    };
    if json {
        return crate::output::document("bench", serde_json::to_value(&report)?);
    }
    print_report(&report)
}

fn print_report(r: &Report) -> anyhow::Result<()> {
    let us = |s: f64| format!("{:.1} µs", s * 1e6);
    crate::outln!(
        "machine: {} cores, {} ({})\n",
        r.machine.cores,
        r.machine.cpu,
        r.machine.os
    )?;
    let f = &r.crypto_floor;
    let mut t: Vec<[String; 3]> = Vec::new();
    t.push([
        "Ed25519 signature".into(),
        us(f.sign_s),
        format!("× {}", floor::SIGNATURES),
    ]);
    t.push([
        "Ed25519 strict verification".into(),
        us(f.verify_s),
        format!("× {}", floor::VERIFICATIONS),
    ]);
    t.push([
        "HPKE seal (2 KiB)".into(),
        us(f.seal_s),
        format!("× {}", floor::SEALS),
    ]);
    t.push([
        "SHA-256 (300 B)".into(),
        us(f.hash_s),
        format!("× {}", floor::HASHES),
    ]);
    t.push([
        "crypto of one exchange, both ends".into(),
        us(f.exchange_s),
        format!(
            "ceiling {:.0}/s on {} cores",
            f.ceiling_per_s, r.machine.cores
        ),
    ]);
    let ms = |l: &Latencies| format!("p50 {:.3} ms, p99 {:.3} ms", l.p50_ms, l.p99_ms);
    t.push([
        "durable commit (WAL, synchronous=FULL)".into(),
        ms(&r.durable_commit),
        format!("{:.0} rows/s grouped by 32", r.grouped_commits.per_second),
    ]);
    t.push([
        "quinn mutual-TLS round trip".into(),
        ms(&r.quinn_round_trip),
        String::new(),
    ]);
    t.push([
        "quinn mutual-TLS handshakes".into(),
        format!("{:.0}/s", r.quinn_handshakes.per_second),
        format!(
            "{} in {:.2} s",
            r.quinn_handshakes.operations, r.quinn_handshakes.seconds
        ),
    ]);
    crate::output::text(&crate::table::table(["floor", "cost", "per exchange"], t))?;
    crate::outln!()?;

    print_exchanges(&r.exchanges)?;
    crate::outln!(
        "latency floor (quinn round trip + two durable commits): p50 {:.3} ms, p99 {:.3} ms\n",
        r.latency_floor.p50_ms,
        r.latency_floor.p99_ms
    )?;
    let alone = r.exchanges.iter().find(|e| e.row.concurrency == 1);
    crate::outln!(
        "path floor (two round trips + three durable commits + {:.3} ms of crypto in turn): p50 {:.3} ms, p99 {:.3} ms{}\n",
        r.crypto_floor.path_s * 1e3,
        r.path_floor.p50_ms,
        r.path_floor.p99_ms,
        alone.map_or(String::new(), |e| format!(
            "; 1 in flight: p50 {:.2} ×, p99 {:.2} × this",
            e.latency.p50_ms / r.path_floor.p50_ms,
            e.latency.p99_ms / r.path_floor.p99_ms
        ))
    )?;
    peers::print(&r.roster_sweep, r.idle_peers.as_ref())?;
    let a = &r.audit;
    crate::outln!(
        "\naudit verify of {} entries: {:.3} × raw SHA-256; reconcile {:.3} ×; person report {:.3} ×",
        a.entries,
        a.verify_over_sha256,
        a.reconcile_over_sha256,
        a.person_over_sha256
    )
}

/// Exchanges made at `concurrency`: at one request at a time, at most 500 (a second or so here);
/// the run would take long, and fewer samples suffice.
fn requests_at(requests: usize, concurrency: usize) -> usize {
    if concurrency == 1 {
        requests.min(500)
    } else {
        requests
    }
}

/// `passerelle bench exchange`: full exchanges only, at one concurrency and at 1.
pub async fn exchanges(requests: usize, concurrency: usize, json: bool) -> anyhow::Result<()> {
    if requests == 0 || concurrency == 0 {
        anyhow::bail!("--requests and --concurrency must be at least 1");
    }
    let m = machine();
    let mut rounds = floor::Rounds::default();
    rounds.time()?;
    let dir = tempfile::tempdir()?;
    let mut pair = exchange::Pair::start(dir.path()).await?;
    let mut rows = Vec::new();
    let mut result = Ok(());
    for c in [1, concurrency] {
        match exchange::measure(&pair, requests_at(requests, c), c).await {
            Ok(r) => rows.push(r),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    pair.stop().await;
    result?;
    rounds.time()?;
    let crypto = rounds.floor(m.cores);
    rows.iter_mut().for_each(|e| e.rate(&crypto));
    if json {
        return crate::output::document(
            "bench-exchange",
            serde_json::json!({ "machine": m, "crypto_floor": crypto, "exchanges": rows }),
        );
    }
    print_exchanges(&rows)
}

fn print_exchanges(rows: &[exchange::ExchangeRow]) -> anyhow::Result<()> {
    let header = [
        "full exchanges",
        "exchanges/s",
        "p50 ms",
        "p99 ms",
        "requester CPU ms",
        "responder CPU ms",
        "CPU / floor",
        "/ ceiling",
        "machine busy",
    ];
    crate::output::text(&crate::table::table(
        header,
        rows.iter().map(|e| {
            [
                format!("concurrency {}", e.row.concurrency),
                format!("{:.0}", e.row.per_second),
                format!("{:.2}", e.latency.p50_ms),
                format!("{:.2}", e.latency.p99_ms),
                format!("{:.3}", e.requester_cpu_ms),
                format!("{:.3}", e.responder_cpu_ms),
                format!("{:.2}", e.cpu_over_crypto_floor),
                format!("{:.2}", e.ratio_to_crypto_ceiling),
                format!("{:.0}%", e.machine_busy * 100.0),
            ]
        }),
    ))
}
