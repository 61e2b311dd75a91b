//! `passerelle bench`: throughput of the responder's full disclosure path (authenticate, check
//! freshness and replay, decide, build, seal, sign, log, commit) between real nodes on
//! loopback, next to a baseline of bare request/reply round trips measured in the same run.

use crate::harness::{ExampleFederation, ExampleSpec, call};
use anyhow::{Context, bail};
use protocol_spec::category::Category;
use protocol_spec::exchange::SummaryRequest;
use protocol_spec::ids::RequestId;
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{PEER_ALPN, PeerMessage, PeerReply};
use protocol_spec::staff::StaffRequest;
use std::time::{Duration, Instant};

pub struct BenchArgs {
    pub requests: usize,
    pub concurrency: usize,
}

#[derive(serde::Serialize)]
pub struct Row {
    pub name: String,
    pub operations: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub per_second: f64,
}

fn row(name: &str, operations: usize, concurrency: usize, took: Duration) -> Row {
    let seconds = took.as_secs_f64();
    Row {
        name: name.into(),
        operations,
        concurrency,
        seconds,
        per_second: operations as f64 / seconds,
    }
}

async fn run_load<F, Fut>(total: usize, concurrency: usize, make: F) -> anyhow::Result<Duration>
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

pub async fn run(args: BenchArgs, json: bool) -> anyhow::Result<()> {
    if args.requests == 0 || args.concurrency == 0 {
        bail!("--requests and --concurrency must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let spec = ExampleSpec::load()?;
    let mut fed = ExampleFederation::create(dir.path(), &spec).await?;
    let result = async {
        fed.import_records(&spec).await?;
        measure(&fed, &args).await
    }
    .await;
    fed.stop().await;
    let rows = result?;
    if json {
        return crate::output::document("bench-exchange", serde_json::json!({ "rows": rows }));
    }
    crate::outln!(
        "{:<44} {:>8} {:>5} {:>10} {:>12}",
        "measurement",
        "ops",
        "conc",
        "seconds",
        "ops/second"
    )?;
    for r in &rows {
        crate::outln!(
            "{:<44} {:>8} {:>5} {:>10.3} {:>12.1}",
            r.name,
            r.operations,
            r.concurrency,
            r.seconds,
            r.per_second
        )?;
    }
    let base = rows
        .iter()
        .find(|r| r.name.starts_with("baseline") && r.concurrency == args.concurrency);
    let full = rows
        .iter()
        .find(|r| r.name.starts_with("disclosure") && r.concurrency == args.concurrency);
    if let (Some(b), Some(f)) = (base, full) {
        crate::outln!(
            "\ndisclosure path / bare round trip at concurrency {}: {:.2}",
            args.concurrency,
            f.per_second / b.per_second
        )?;
    }
    Ok(())
}

async fn measure(fed: &ExampleFederation, args: &BenchArgs) -> anyhow::Result<Vec<Row>> {
    let (orp, oai) = (fed.node("ne.orp"), fed.node("ne.oai"));
    let records = crate::harness::examples_dir()?.join("records");
    let person = std::fs::read_to_string(records.join("demo-person.txt"))?
        .trim()
        .parse()?;
    let case_id = crate::harness::open_case(&oai.worker, person, vec![orp.id.clone()]).await?;
    call(&orp.worker, StaffRequest::CaseAccept { case_id }).await?;
    let now = daemon::clock::now();
    let categories = [Category::Employment, Category::Measures];
    crate::harness::record_consent(
        &oai.worker,
        case_id,
        &[&oai.id, &orp.id],
        "coordinated-assessment",
        &categories,
        (now - 86400, now + 86400),
    )
    .await?;

    let key = oai.signing_key()?;
    let endpoint = daemon::transport::client_endpoint("127.0.0.1:0".parse()?)?;
    let cfg = daemon::transport::client_config(&key, orp.admin.node_key, PEER_ALPN)?;
    let addr = daemon::transport::resolve(&orp.admin.node_address).await?;
    let conn = daemon::transport::connect(&endpoint, cfg, addr).await?;
    let key = std::sync::Arc::new(SigningKey::from_seed(*key.seed()));
    let (me, them) = (oai.id.clone(), orp.id.clone());

    let mut rows = Vec::new();
    for conc in [1, args.concurrency] {
        // Baseline: the same transport, framing and stream per request, with a reply the node
        // produces without touching the store (an empty frame is rejected at once).
        let c = conn.clone();
        let took = run_load(args.requests, conc, move |_| {
            let c = c.clone();
            async move {
                daemon::transport::request_raw(&c, &[0, 0, 0, 0])
                    .await
                    .context("baseline round trip")?;
                Ok(())
            }
        })
        .await?;
        rows.push(row(
            "baseline: bare request/reply round trip",
            args.requests,
            conc,
            took,
        ));

        let (c, k, me, them) = (conn.clone(), key.clone(), me.clone(), them.clone());
        let took = run_load(args.requests, conc, move |_| {
            let (c, k, me, them) = (c.clone(), k.clone(), me.clone(), them.clone());
            async move {
                let req = SummaryRequest {
                    request_id: RequestId(daemon::clock::random()),
                    requester: me,
                    responder: them,
                    case_id,
                    purpose: "coordinated-assessment".parse()?,
                    categories: vec![Category::Employment, Category::Measures],
                    issued_at: daemon::clock::now(),
                }
                .sign(&k);
                match daemon::transport::request(&c, &PeerMessage::Summary(req)).await? {
                    PeerReply::Disclosure { .. } => Ok(()),
                    other => bail!("benchmark request was not granted: {other:?}"),
                }
            }
        })
        .await?;
        rows.push(row(
            "disclosure: full responder path, durable",
            args.requests,
            conc,
            took,
        ));
    }
    conn.close(0u32.into(), b"bench done");
    Ok(rows)
}

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `passerelle bench audit`: builds a synthetic log of `n` realistic entries as an in-memory
/// tiles bundle with a signed, cosigned checkpoint, then times `audit verify`'s core over it
/// next to plain SHA-256 of the same entries (one hash each), measured in the same run; then
/// `audit reconcile` and `audit person` over that log and the recipient's `n` receipts, next
/// to SHA-256 of both logs. Quadratic matching would show as a ratio falling with `n`.
pub fn audit(n: u64, json: bool) -> anyhow::Result<()> {
    use protocol_spec::audit::{BundleKeys, LogView, person_report, reconcile, verify_bundle};
    use protocol_spec::category::Category;
    use protocol_spec::entry::{Disclosure, LogEntry, Person, Receipt, SourceLeaf};
    use protocol_spec::ids::{CaseId, ConsentId};
    use protocol_spec::tlog::cosignature::cosign;
    use protocol_spec::tlog::note::{Note, SIG_COSIGNATURE, SIG_ED25519, VerifierKey};
    use protocol_spec::tlog::{Checkpoint, Tree, leaf_hash, sign_checkpoint, tiles};
    use std::collections::HashMap;

    if n == 0 {
        bail!("--entries must be at least 1");
    }
    let person = "756.9217.0769.85".parse()?;
    let entries: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut salt = [0u8; 32];
            salt[..8].copy_from_slice(&i.to_be_bytes());
            let e = Disclosure {
                time: 1_790_000_000 + i,
                case: CaseId([i as u8; 16]),
                person: Person::commit(Some(&person), salt),
                recipient: "ne.oai".parse()?,
                purpose: "coordinated-assessment".parse()?,
                categories: vec![Category::Employment, Category::Measures],
                consent: ConsentId([7; 16]),
                request: protocol_spec::keys::sha256(&[&i.to_be_bytes()]),
                summary: protocol_spec::keys::sha256(&[b"sealed", &i.to_be_bytes()]),
            };
            Ok(LogEntry::from(e).to_bytes())
        })
        .collect::<anyhow::Result<_>>()?;
    let mut tree = Tree::new();
    for e in &entries {
        tree.append(leaf_hash(e));
    }
    let origin = "bench.passerelle/ne.orp";
    let log = SigningKey::from_seed([1; 32]);
    let witness = SigningKey::from_seed([2; 32]);
    let wname = format!("{origin}/witness");
    let cp = Checkpoint {
        origin: origin.into(),
        size: n,
        root: tree.root(),
    };
    let mut note = Note::parse(&sign_checkpoint(&cp, origin, &log))?;
    note.signatures
        .push(cosign(&note.text, &wname, &witness, 1_790_000_000));
    let mut files: HashMap<String, Vec<u8>> =
        tiles::tiles(&tree, &entries, n)?.into_iter().collect();
    files.insert("checkpoint".into(), note.to_text().into_bytes());
    let keys = BundleKeys {
        former_logs: vec![],
        log: VerifierKey::new(origin, SIG_ED25519, log.public()),
        witnesses: vec![VerifierKey::new(&wname, SIG_COSIGNATURE, witness.public())],
        quorum: 1,
    };
    let bytes: usize = entries.iter().map(Vec::len).sum();

    // Baseline: raw SHA-256 over the same entries, one digest per entry.
    let start = Instant::now();
    let mut acc = 0u8;
    for e in &entries {
        acc ^= protocol_spec::keys::sha256(&[e])[0];
    }
    let sha = start.elapsed();
    std::hint::black_box(acc);

    let start = Instant::now();
    let report = verify_bundle(&mut files, &keys, None, &mut |_| {});
    let verify = start.elapsed();
    if !report.ok() {
        bail!("benchmark bundle did not verify: {:?}", report.findings);
    }

    // Reconcile and the person report over this log and the recipient's, which holds the
    // receipt of every disclosure: 2n entries, parsed as `audit reconcile` does.
    let receipts: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| {
            let LogEntry::Disclosure(d) = LogEntry::parse(e)? else {
                bail!("benchmark log holds an entry other than a disclosure");
            };
            let r = Receipt {
                time: d.time + 1,
                case: d.case,
                person: d.person,
                source: "ne.orp".parse()?,
                purpose: d.purpose,
                categories: d.categories,
                consent: d.consent,
                request: d.request,
                summary: d.summary,
                source_leaf: SourceLeaf {
                    index: 0,
                    hash: [0; 32],
                },
                staff: "worker-1".parse()?,
            };
            Ok(LogEntry::from(r).to_bytes())
        })
        .collect::<anyhow::Result<_>>()?;
    let start = Instant::now();
    let mut acc = 0u8;
    for e in entries.iter().chain(&receipts) {
        acc ^= protocol_spec::keys::sha256(&[e])[0];
    }
    let sha_both = start.elapsed();
    std::hint::black_box(acc);
    let view = |institution: &str, log: &[Vec<u8>]| -> anyhow::Result<LogView> {
        Ok(LogView {
            institution: institution.into(),
            entries: log
                .iter()
                .map(|e| LogEntry::parse(e))
                .collect::<Result<_, _>>()?,
        })
    };
    let start = Instant::now();
    let (orp, oai) = (view("ne.orp", &entries)?, view("ne.oai", &receipts)?);
    let differences = reconcile(&orp, &oai).len();
    let reconciled = start.elapsed();
    if differences != 0 {
        bail!("benchmark logs did not reconcile: {differences} difference(s)");
    }
    let start = Instant::now();
    let accesses = person_report(&person, &[orp, oai]).len();
    let reported = start.elapsed();
    if accesses as u64 != 2 * n {
        bail!("person report found {accesses} of {} entries", 2 * n);
    }

    let both = 2 * n as usize;
    let rows = vec![
        row(
            "baseline: raw SHA-256, one digest per entry",
            n as usize,
            1,
            sha,
        ),
        row(
            "audit verify: signatures, tiles, root, entries",
            n as usize,
            1,
            verify,
        ),
        row("baseline: raw SHA-256 over both logs", both, 1, sha_both),
        row(
            "audit reconcile: parse both logs, match all",
            both,
            1,
            reconciled,
        ),
        row("audit person: one commitment per entry", both, 1, reported),
    ];
    let ratio = rows[1].per_second / rows[0].per_second;
    let reconcile_ratio = rows[3].per_second / rows[2].per_second;
    let person_ratio = rows[4].per_second / rows[2].per_second;
    if json {
        return crate::output::document(
            "bench-audit",
            serde_json::json!({
                "entries": n, "entry_bytes": bytes, "rows": rows, "verify_over_sha256": ratio,
                "reconcile_over_sha256": reconcile_ratio, "person_over_sha256": person_ratio,
                "peak_rss_mib": peak_rss_mib(),
            }),
        );
    }
    crate::outln!(
        "{n} entries, {:.1} MiB of entry text",
        bytes as f64 / (1 << 20) as f64
    )?;
    crate::outln!(
        "{:<48} {:>10} {:>14}",
        "measurement",
        "seconds",
        "entries/second"
    )?;
    for r in &rows {
        crate::outln!("{:<48} {:>10.3} {:>14.0}", r.name, r.seconds, r.per_second)?;
    }
    crate::outln!("\naudit verify / raw SHA-256: {ratio:.3}")?;
    crate::outln!(
        "audit reconcile / raw SHA-256 (both logs, {n} entries each): {reconcile_ratio:.3}"
    )?;
    crate::outln!("audit person / raw SHA-256 (both logs): {person_ratio:.3}")?;
    if let Some(m) = peak_rss_mib() {
        crate::outln!("peak resident memory: {m:.0} MiB")?;
    }
    Ok(())
}
