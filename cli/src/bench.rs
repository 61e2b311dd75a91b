//! `passerelle bench`: throughput of the responder's full disclosure path (authenticate, check
//! freshness and replay, decide, build, seal, sign, log, commit) between real nodes on
//! loopback, next to a baseline of bare request/reply round trips measured in the same run.

use crate::demo::{ExampleFederation, ExampleSpec, call};
use anyhow::{Context, bail};
use protocol_spec::category::Category;
use protocol_spec::exchange::SummaryRequest;
use protocol_spec::ids::{CaseId, RequestId};
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{PEER_ALPN, PeerMessage, PeerReply};
use protocol_spec::staff::{ConsentDraft, StaffReply, StaffRequest};
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

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("operating system randomness");
    b
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
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<44} {:>8} {:>5} {:>10} {:>12}",
        "measurement", "ops", "conc", "seconds", "ops/second"
    );
    for r in &rows {
        println!(
            "{:<44} {:>8} {:>5} {:>10.3} {:>12.1}",
            r.name, r.operations, r.concurrency, r.seconds, r.per_second
        );
    }
    let base = rows
        .iter()
        .find(|r| r.name.starts_with("baseline") && r.concurrency == args.concurrency);
    let full = rows
        .iter()
        .find(|r| r.name.starts_with("disclosure") && r.concurrency == args.concurrency);
    if let (Some(b), Some(f)) = (base, full) {
        println!(
            "\ndisclosure path / bare round trip at concurrency {}: {:.2}",
            args.concurrency,
            f.per_second / b.per_second
        );
    }
    Ok(())
}

async fn measure(fed: &ExampleFederation, args: &BenchArgs) -> anyhow::Result<Vec<Row>> {
    let (orp, oai) = (fed.node("ne.orp"), fed.node("ne.oai"));
    let records = crate::demo::examples_dir()?.join("records");
    let person = std::fs::read_to_string(records.join("demo-person.txt"))?
        .trim()
        .parse()?;
    let case_id: CaseId = match call(
        &oai.worker,
        StaffRequest::CaseOpen {
            person,
            invite: vec![orp.id.clone()],
        },
    )
    .await?
    {
        StaffReply::CaseOpened { case_id, .. } => case_id,
        other => bail!("unexpected reply {other:?}"),
    };
    call(&orp.worker, StaffRequest::CaseAccept { case_id }).await?;
    let now = crate::demo::now();
    call(
        &oai.worker,
        StaffRequest::ConsentRecord(ConsentDraft {
            case_id,
            participants: vec![oai.id.clone(), orp.id.clone()],
            purposes: vec!["coordinated-assessment".parse()?],
            categories: vec![Category::Employment, Category::Measures],
            valid_from: now - 86400,
            valid_until: now + 86400,
            form_digest: None,
        }),
    )
    .await?;

    let key = oai.signing_key()?;
    let endpoint = daemon::transport::client_endpoint("127.0.0.1:0".parse()?)?;
    let cfg = daemon::transport::client_config(&key, orp.admin.node_key, PEER_ALPN)?;
    let conn = daemon::transport::connect(&endpoint, cfg, orp.admin.node_address.parse()?).await?;
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
                    request_id: RequestId(random16()),
                    requester: me,
                    responder: them,
                    case_id,
                    purpose: "coordinated-assessment".parse()?,
                    categories: vec![Category::Employment, Category::Measures],
                    issued_at: crate::demo::now(),
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
