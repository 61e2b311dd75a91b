//! Full exchanges as a case worker makes them: a summary request to the worker's own node
//! (the requester), which asks the responder's node, both durable, between two real
//! `passerelled` processes, so that each node's CPU is measured on its own.

use super::{Latencies, Row};
use crate::client::Client;
use crate::harness::{ExampleFederation, ExampleSpec, Launch, call};
use anyhow::{Context, bail};
use protocol_spec::category::Category;
use protocol_spec::ids::{CaseId, InstitutionId};
use protocol_spec::staff::{StaffReply, StaffRequest, SummaryOutcome};
use std::sync::Arc;
use std::time::Instant;

pub const PURPOSE: &str = "coordinated-assessment";
pub const CATEGORIES: [Category; 2] = [Category::Employment, Category::Measures];

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn process_cpu(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading a node's CPU time (Linux /proc)")?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').context("unreadable /proc stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("short /proc stat")?.parse()?)
    };
    // utime and stime, fields 14 and 15 of stat(5), in USER_HZ (100 on Linux).
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// The whole machine's CPU time so far, busy and in all, in USER_HZ ticks, from the `cpu` line
/// of `/proc/stat`. Idle and I/O wait count as not busy.
pub fn machine_cpu() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")
        .context("reading the machine's CPU time (Linux /proc)")?;
    cpu_ticks(&stat).context("unreadable /proc/stat")
}

/// Busy and total ticks of the `cpu` line of `/proc/stat` text (proc(5)).
fn cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal, then guest time, already counted in user.
    let all: u64 = ticks.iter().take(8).sum();
    let waiting = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some((all - waiting, all))
}

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
pub fn process_rss_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("unreadable VmRSS")?
        .parse()?)
}

/// The example federation with its nodes as separate processes, a coordinated case between
/// the requester (ne.oai) and the responder (ne.orp), and a consent covering the request.
pub struct Pair {
    pub fed: ExampleFederation,
    pub case_id: CaseId,
    pub requester: InstitutionId,
    pub responder: InstitutionId,
}

/// Where `passerelled` is: beside this binary, as `cargo build --release` and the package put
/// it.
pub fn daemon_binary() -> anyhow::Result<std::path::PathBuf> {
    let me = std::env::current_exe()?;
    let exe = me.with_file_name("passerelled");
    if !exe.is_file() {
        bail!(
            "the benchmark starts nodes as separate processes and needs {} (build it with `cargo build --release --bin passerelled`)",
            exe.display()
        );
    }
    Ok(exe)
}

impl Pair {
    pub async fn start(dir: &std::path::Path) -> anyhow::Result<Pair> {
        let spec = ExampleSpec::load()?;
        let fed = ExampleFederation::create_with(dir, &spec, &Launch::Processes(daemon_binary()?))
            .await?;
        let mut pair = Pair {
            fed,
            case_id: CaseId([0; 16]),
            requester: "ne.oai".parse()?,
            responder: "ne.orp".parse()?,
        };
        let setup = async {
            pair.fed.import_records(&spec).await?;
            let (req, resp) = (pair.fed.node("ne.oai"), pair.fed.node("ne.orp"));
            let records = crate::harness::examples_dir()?.join("records");
            let person = std::fs::read_to_string(records.join("demo-person.txt"))?
                .trim()
                .parse()?;
            let case_id =
                crate::harness::open_case(&req.worker, person, vec![resp.id.clone()]).await?;
            call(&resp.worker, StaffRequest::CaseAccept { case_id }).await?;
            let now = daemon::clock::now();
            crate::harness::record_consent(
                &req.worker,
                case_id,
                &[&req.id, &resp.id],
                PURPOSE,
                &CATEGORIES,
                (now - 86400, now + 30 * 86400),
            )
            .await?;
            anyhow::Ok(case_id)
        }
        .await;
        match setup {
            Ok(case_id) => {
                pair.case_id = case_id;
                Ok(pair)
            }
            Err(e) => {
                pair.fed.stop().await;
                Err(e)
            }
        }
    }

    /// The benchmark's summary request: the requester's case worker asks the responder.
    fn request(&self) -> anyhow::Result<StaffRequest> {
        Ok(StaffRequest::SummaryRequest {
            case_id: self.case_id,
            from: self.responder.clone(),
            purpose: PURPOSE.parse()?,
            categories: CATEGORIES.to_vec(),
        })
    }

    pub fn pid(&self, id: &InstitutionId) -> anyhow::Result<u32> {
        self.fed
            .node(id.as_str())
            .process
            .as_ref()
            .map(|p| p.id())
            .context("node not running as a process")
    }

    pub async fn stop(&mut self) {
        self.fed.stop().await;
    }
}

/// Waits until an exchange is granted again, after the responder restarted: the requester
/// learns of the restart from a first failed attempt, and its outbox sends again.
pub async fn warm_up(pair: &Pair) -> anyhow::Result<()> {
    let worker = &pair.fed.node(pair.requester.as_str()).worker;
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let reply = call(worker, pair.request()?).await?;
        match reply {
            StaffReply::Summary(SummaryOutcome::Received(_)) => return Ok(()),
            other if Instant::now() > deadline => {
                bail!("exchanges were not granted again within 60 s: {other:?}")
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
}

/// Throughput, latency and each node's CPU per exchange at one concurrency.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExchangeRow {
    #[serde(flatten)]
    pub row: Row,
    #[serde(flatten)]
    pub latency: Latencies,
    pub requester_cpu_ms: f64,
    pub responder_cpu_ms: f64,
    /// Both nodes' CPU per exchange over the crypto floor of one exchange.
    pub cpu_over_crypto_floor: f64,
    /// Throughput over the crypto-only ceiling of this machine.
    pub ratio_to_crypto_ceiling: f64,
    /// Share of the machine's CPU time busy while the exchanges ran (every process, the
    /// benchmark's client included): below 1, exchanges waited on something other than the
    /// CPU, such as the disk.
    pub machine_busy: f64,
}

impl ExchangeRow {
    /// Sets the ratios to `floor`, the floor of the whole run, known once it is over.
    pub fn rate(&mut self, floor: &super::floor::CryptoFloor) {
        let cpu_s = (self.requester_cpu_ms + self.responder_cpu_ms) / 1e3;
        self.cpu_over_crypto_floor = cpu_s / floor.exchange_s;
        self.ratio_to_crypto_ceiling = self.row.per_second / floor.ceiling_per_s;
    }
}

/// `total` granted exchanges through the requester's node, `concurrency` in flight, on one
/// staff connection (a case worker's session).
/// Its ratios are set by [`ExchangeRow::rate`].
pub async fn measure(pair: &Pair, total: usize, concurrency: usize) -> anyhow::Result<ExchangeRow> {
    let worker = &pair.fed.node(pair.requester.as_str()).worker;
    let client = Arc::new(Client::connect(worker).await?);
    let (rq, rs) = (pair.pid(&pair.requester)?, pair.pid(&pair.responder)?);
    let (cpu_rq, cpu_rs) = (process_cpu(rq)?, process_cpu(rs)?);
    let machine_before = machine_cpu()?;
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total)));
    let request = pair.request()?;
    let lat = latencies.clone();
    let c = client.clone();
    let took = super::run_load(total, concurrency, move |_| {
        let (c, request, lat) = (c.clone(), request.clone(), lat.clone());
        async move {
            let start = Instant::now();
            let reply = c.call(request).await?;
            lat.lock().unwrap().push(start.elapsed());
            match reply {
                StaffReply::Summary(SummaryOutcome::Received(_)) => Ok(()),
                other => bail!("benchmark exchange was not granted: {other:?}"),
            }
        }
    })
    .await?;
    let requester_cpu = process_cpu(rq)? - cpu_rq;
    let responder_cpu = process_cpu(rs)? - cpu_rs;
    let machine_after = machine_cpu()?;
    let machine_busy = (machine_after.0 - machine_before.0) as f64
        / (machine_after.1 - machine_before.1).max(1) as f64;
    client.close();
    let row = Row::new("full exchange", total, concurrency, took);
    let samples = std::mem::take(&mut *latencies.lock().unwrap());
    Ok(ExchangeRow {
        row,
        latency: Latencies::of(samples),
        requester_cpu_ms: requester_cpu * 1e3 / total as f64,
        responder_cpu_ms: responder_cpu * 1e3 / total as f64,
        cpu_over_crypto_floor: 0.0,
        ratio_to_crypto_ceiling: 0.0,
        machine_busy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_out_idle_and_io_wait_and_counts_guests_once() {
        let stat = "cpu  100 5 20 300 40 3 2 10 7 0\ncpu0 50 2 10 150 20 1 1 5 3 0\nintr 12\n";
        // All: 100+5+20+300+40+3+2+10 = 480; waiting: 300+40.
        assert_eq!(cpu_ticks(stat), Some((140, 480)));
        assert_eq!(cpu_ticks("cpu0 1 2 3 4\n"), None, "no machine line");
        assert_eq!(
            cpu_ticks("cpu  1 x 3 4\n"),
            None,
            "a field that is not a number"
        );
    }
}
