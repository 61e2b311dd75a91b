//! Federation size: exchanges under rosters of thousands of members, the memory an idle peer
//! connection holds, and how fast peers reconnect after a node restarts.

use super::exchange::{Pair, process_cpu, process_rss_kib};
use super::{BenchOptions, Latencies};
use crate::harness::call;
use anyhow::{Context, bail};
use protocol_spec::ids::InstitutionId;
use protocol_spec::keys::{EncryptionKey, SigningKey, sha256};
use protocol_spec::peer::PEER_ALPN;
use protocol_spec::roster::{Member, SignedRoster};
use protocol_spec::staff::{StaffReply, StaffRequest};
use std::time::{Duration, Instant};

/// The signing keys of the synthetic members, the same in every run.
pub fn keys(n: usize) -> Vec<SigningKey> {
    (0..n as u64).map(key).collect()
}

fn key(i: u64) -> SigningKey {
    SigningKey::from_seed(sha256(&[b"bench member signing", &i.to_be_bytes()]))
}

/// Synthetic member `i`: its node is not running (its address answers nothing), as many
/// members of a large federation are unreachable at any moment.
fn member(i: u64, signing: &SigningKey) -> anyhow::Result<Member> {
    let derived = |what: &[u8]| SigningKey::from_seed(sha256(&[what, &i.to_be_bytes()])).public();
    Ok(Member {
        id: format!("bench.m{i}").parse()?,
        name: format!("Benchmark member {i}"),
        sector: "social-aid".parse()?,
        address: "127.0.0.1:9".into(),
        signing_key: signing.public(),
        encryption_key: EncryptionKey::from_secret(sha256(&[
            b"bench member encryption",
            &i.to_be_bytes(),
        ]))
        .public(),
        log_key: derived(b"bench member log"),
        witness_key: derived(b"bench member witness"),
        witnesses: vec![],
        witness_quorum: 0,
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RosterRow {
    pub members: usize,
    /// The signed roster's size in its wire form.
    pub roster_bytes: usize,
    /// From the administrator's install at the requester until the responder holds it.
    pub install_and_propagate_s: Option<f64>,
    /// Why the roster could not be installed, if it could not.
    pub error: Option<String>,
    pub exchanges_per_s: Option<f64>,
    pub latency: Option<Latencies>,
    /// Both nodes' CPU per exchange.
    pub cpu_ms_per_exchange: Option<f64>,
    /// Over the same figure with the smallest roster of the sweep.
    pub cpu_over_smallest: Option<f64>,
    /// Both nodes' CPU while idle just before the exchanges, in percent of one core: the
    /// roster's propagation to its members, which the sweep's synthetic members never answer.
    pub background_cpu_percent: Option<f64>,
    /// `cpu_ms_per_exchange` less that background over the exchanges' time.
    pub net_cpu_ms_per_exchange: Option<f64>,
    /// Over the same figure with the smallest roster of the sweep.
    pub net_over_smallest: Option<f64>,
    pub requester_rss_mib: f64,
}

/// How long the nodes' background CPU is read before the exchanges at each roster size.
const BACKGROUND_WINDOW: Duration = Duration::from_secs(2);

/// Both nodes' CPU over `BACKGROUND_WINDOW` while no exchange runs, in CPU seconds per second.
async fn background_cpu(pair: &Pair) -> anyhow::Result<f64> {
    let (rq, rs) = (pair.pid(&pair.requester)?, pair.pid(&pair.responder)?);
    let cpu = || anyhow::Ok(process_cpu(rq)? + process_cpu(rs)?);
    let (before, start) = (cpu()?, Instant::now());
    tokio::time::sleep(BACKGROUND_WINDOW).await;
    Ok((cpu()? - before) / start.elapsed().as_secs_f64())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IdlePeers {
    pub connections: usize,
    pub per_connection_kib: f64,
    /// Resident memory of the responder before, with every connection open, and after they
    /// closed.
    pub rss_before_mib: f64,
    pub rss_open_mib: f64,
    pub rss_closed_mib: f64,
    /// Every peer reconnecting to the restarted responder, 64 at a time.
    pub reconnect_s: f64,
    /// The same number of bare quinn handshakes, measured earlier in the run.
    pub raw_handshakes_s: f64,
    pub reconnect_over_raw: f64,
}

/// Exchanges made at each roster size, per `--requests`. The sweep compares CPU figures measured
/// one after the other: at 2,000 each (under a second here), three runs of one build put
/// 5,000 members at 1.00, 1.10 and 1.20 times 3 members.
const SWEEP_FACTOR: usize = 4;

/// Installs a roster of `size` members at the requester and waits until the responder holds
/// it.
async fn install(pair: &Pair, size: usize, keys: &[SigningKey]) -> anyhow::Result<(usize, f64)> {
    let fed = &pair.fed;
    let admin = &fed.node(pair.requester.as_str()).admin;
    let StaffReply::Roster(current) = call(
        &fed.node(pair.requester.as_str()).auditor,
        StaffRequest::Roster,
    )
    .await?
    else {
        bail!("the node did not return its roster");
    };
    let mut roster = current.roster.clone();
    roster.version += 1;
    roster.issued_at = daemon::clock::now();
    roster.members.retain(|m| !is_synthetic(&m.id));
    let extra = size.saturating_sub(roster.members.len());
    let mut synthetic = Vec::with_capacity(extra);
    for i in 0..extra {
        let signing = keys
            .get(i)
            .map_or_else(|| key(i as u64), |k| SigningKey::from_seed(*k.seed()));
        synthetic.push(member(i as u64, &signing)?);
    }
    // Listed before the two nodes measured: finding them in the roster is its worst case.
    roster.members.splice(0..0, synthetic);
    roster.check_well_formed()?;
    let authorities: Vec<SigningKey> = fed
        .authority_keys
        .iter()
        .map(|p| {
            let text = crate::files::read_private(p, "authority key")?;
            Ok(SigningKey::from_file(&text)?)
        })
        .collect::<anyhow::Result<_>>()?;
    let threshold = usize::from(current.roster.authorities.threshold);
    let signers: Vec<&SigningKey> = authorities.iter().take(threshold).collect();
    let signed = SignedRoster::sign(roster, &signers);
    let bytes = postcard::to_stdvec(&signed)?.len();
    let version = signed.roster.version;
    let start = Instant::now();
    call(admin, StaffRequest::InstallRoster(signed)).await?;
    let responder = &fed.node(pair.responder.as_str()).admin;
    loop {
        if let StaffReply::Status(s) = call(responder, StaffRequest::Status).await?
            && s.roster_version >= version
        {
            return Ok((bytes, start.elapsed().as_secs_f64()));
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("the responder did not receive roster version {version} within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn sweep(
    pair: &mut Pair,
    opts: &BenchOptions,
    raw_handshakes_s: f64,
) -> anyhow::Result<(Vec<RosterRow>, Option<IdlePeers>)> {
    let keys = keys(opts.peers);
    let mut rows: Vec<RosterRow> = Vec::new();
    let mut idle = None;
    for &size in &opts.roster_sizes {
        let mut row = RosterRow {
            members: size,
            roster_bytes: 0,
            install_and_propagate_s: None,
            error: None,
            exchanges_per_s: None,
            latency: None,
            cpu_ms_per_exchange: None,
            cpu_over_smallest: None,
            background_cpu_percent: None,
            net_cpu_ms_per_exchange: None,
            net_over_smallest: None,
            requester_rss_mib: 0.0,
        };
        match install(pair, size, &keys).await {
            Ok((bytes, took)) => {
                row.roster_bytes = bytes;
                row.install_and_propagate_s = Some(took);
                // The first attempts to reach the new (unreachable) members end first.
                tokio::time::sleep(Duration::from_secs(6)).await;
                // Idle connections are measured once, under the first roster listing their
                // keys, before exchanges grow the node's heap.
                if idle.is_none() && !keys.is_empty() && size >= keys.len() + 3 {
                    idle = Some(idle_peers(pair, &keys, raw_handshakes_s).await?);
                    super::exchange::warm_up(pair).await?;
                }
                let background = background_cpu(pair).await?;
                let n = SWEEP_FACTOR * opts.requests;
                let e = super::exchange::measure(pair, n, 32).await?;
                let cpu = e.requester_cpu_ms + e.responder_cpu_ms;
                let net = cpu - background * e.row.seconds * 1e3 / n as f64;
                row.exchanges_per_s = Some(e.row.per_second);
                row.latency = Some(e.latency);
                row.cpu_ms_per_exchange = Some(cpu);
                row.background_cpu_percent = Some(background * 100.0);
                row.net_cpu_ms_per_exchange = Some(net);
                let first = rows
                    .iter()
                    .find_map(|r| r.cpu_ms_per_exchange.zip(r.net_cpu_ms_per_exchange));
                row.cpu_over_smallest = Some(first.map_or(1.0, |(c, _)| cpu / c));
                row.net_over_smallest = Some(first.map_or(1.0, |(_, n)| net / n));
            }
            Err(e) => row.error = Some(format!("{e:#}")),
        }
        row.requester_rss_mib = process_rss_kib(pair.pid(&pair.requester)?)? / 1024.0;
        rows.push(row);
    }
    Ok((rows, idle))
}

/// Every synthetic member connects to the node, as a peer, 64 handshakes at a time.
async fn connect_all(
    addr: std::net::SocketAddr,
    node_key: protocol_spec::keys::PublicKey,
    keys: &[SigningKey],
) -> anyhow::Result<(quinn::Endpoint, Vec<quinn::Connection>)> {
    super::floor::connect_all(addr, node_key, PEER_ALPN, keys, 64)
        .await
        .context("a synthetic member could not connect")
}

async fn idle_peers(
    pair: &mut Pair,
    keys: &[SigningKey],
    raw_handshakes_s: f64,
) -> anyhow::Result<IdlePeers> {
    let node = pair.fed.node(pair.responder.as_str());
    let (node_key, address) = (node.admin.node_key, node.admin.node_address.clone());
    let addr = daemon::transport::resolve(&address).await?;
    let pid = pair.pid(&pair.responder)?;
    let before = process_rss_kib(pid)?;
    let (endpoint, conns) = connect_all(addr, node_key, keys).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = process_rss_kib(pid)?;
    for c in &conns {
        c.close(0u32.into(), b"bench");
    }
    endpoint.wait_idle().await;
    let closed = settled_rss_kib(pid).await?;

    // Restart the responder, then time every peer reconnecting.
    let exe = super::exchange::daemon_binary()?;
    let handle = pair.fed.node_mut(pair.responder.as_str());
    handle.stop().await;
    handle.spawn(&exe).await?;
    let start = Instant::now();
    let (endpoint, conns) = connect_all(addr, node_key, keys).await?;
    let reconnect_s = start.elapsed().as_secs_f64();
    for c in &conns {
        c.close(0u32.into(), b"bench");
    }
    endpoint.wait_idle().await;
    Ok(IdlePeers {
        connections: keys.len(),
        per_connection_kib: (open - before) / keys.len() as f64,
        rss_before_mib: before / 1024.0,
        rss_open_mib: open / 1024.0,
        rss_closed_mib: closed / 1024.0,
        reconnect_s,
        raw_handshakes_s,
        reconnect_over_raw: reconnect_s / raw_handshakes_s,
    })
}

/// The node's lowest resident memory from when connections closed until it has not fallen for
/// 3 s, at least 10 s and at most 30 s: a closed connection is freed once it has drained (three
/// probe timeouts, seconds after a handshake that waited on a busy node), and the node gives
/// the memory back within a second of that.
async fn settled_rss_kib(pid: u32) -> anyhow::Result<f64> {
    let mut lowest = process_rss_kib(pid)?;
    let mut since = Instant::now();
    let start = Instant::now();
    while (start.elapsed() < Duration::from_secs(10) || since.elapsed() < Duration::from_secs(3))
        && start.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = process_rss_kib(pid)?;
        if now < lowest {
            lowest = now;
            since = Instant::now();
        }
    }
    Ok(lowest)
}

pub fn print(rows: &[RosterRow], idle: Option<&IdlePeers>) -> anyhow::Result<()> {
    let opt = |v: Option<f64>, prec: usize| v.map_or("-".into(), |v| format!("{v:.prec$}"));
    crate::output::text(&crate::table::table(
        [
            "roster members",
            "roster KiB",
            "install s",
            "exchanges/s",
            "p99 ms",
            "CPU ms/exchange",
            "CPU / smallest",
            "background CPU %",
            "net / smallest",
            "requester RSS MiB",
            "problem",
        ],
        rows.iter().map(|r| {
            [
                r.members.to_string(),
                format!("{:.0}", r.roster_bytes as f64 / 1024.0),
                opt(r.install_and_propagate_s, 2),
                opt(r.exchanges_per_s, 0),
                opt(r.latency.map(|l| l.p99_ms), 2),
                opt(r.cpu_ms_per_exchange, 3),
                opt(r.cpu_over_smallest, 2),
                opt(r.background_cpu_percent, 1),
                opt(r.net_over_smallest, 2),
                format!("{:.0}", r.requester_rss_mib),
                r.error.clone().unwrap_or_default(),
            ]
        }),
    ))?;
    if let Some(p) = idle {
        crate::outln!(
            "\n{} idle peer connections: {:.1} KiB each (responder RSS {:.0} → {:.0} MiB, {:.0} MiB after they closed)",
            p.connections,
            p.per_connection_kib,
            p.rss_before_mib,
            p.rss_open_mib,
            p.rss_closed_mib
        )?;
        crate::outln!(
            "reconnecting them after a restart: {:.2} s, {:.2} × {:.2} s of bare quinn handshakes",
            p.reconnect_s,
            p.reconnect_over_raw,
            p.raw_handshakes_s
        )?;
    }
    Ok(())
}

/// The synthetic members of an earlier step of the sweep, replaced by the next step's.
fn is_synthetic(id: &InstitutionId) -> bool {
    id.as_str().starts_with("bench.")
}
