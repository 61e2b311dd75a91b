//! End-to-end: a peer that hangs or is killed. A summary request to it ends within the node's
//! bounded wait as "queued, responder unreachable", other peers are served meanwhile, and once
//! the peer is back the queued request is delivered, disclosed and received exactly once.

use protocol_spec::category::Category::Employment;
use protocol_spec::entry::LogEntry;
use protocol_spec::ids::CaseId;
use protocol_spec::keys::{PublicKey, SigningKey};
use protocol_spec::peer::PEER_ALPN;
use protocol_spec::staff::{QueueItem, StaffReply, StaffRequest, SummaryOutcome};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::*;

const ASSESS: &str = "coordinated-assessment";

/// A case opened by ne.oai with ne.orp and ne.sas, and a consent of all three covering
/// employment data: ne.oai may ask either for a summary.
async fn three_way_case(s: &Setup) -> CaseId {
    let case = s
        .case("ne.oai", shared_person(), &["ne.orp", "ne.sas"])
        .await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp", "ne.sas"],
        &[ASSESS],
        &[Employment],
        (now() - DAY, now() + 30 * DAY),
    )
    .await;
    case
}

fn address(s: &Setup, id: &str) -> SocketAddr {
    s.node(id)
        .admin
        .node_address
        .parse()
        .expect("loopback address")
}

/// Retries `bind` while the port is still held by the node that just stopped.
async fn bind_retrying<T>(mut bind: impl FnMut() -> std::io::Result<T>) -> T {
    for _ in 0..100 {
        match bind() {
            Ok(t) => return t,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("the stopped node's port stays in use")
}

struct AnyKey;

impl daemon::transport::Admission for AnyKey {
    fn admits(&self, _: &PublicKey) -> bool {
        true
    }
}

/// A QUIC endpoint at `addr` holding `key`, as the peer's node would: it completes every
/// handshake and accepts every stream, and never answers one. It runs on its own runtime,
/// which dropping it shuts down, freeing the port.
struct MuteNode {
    runtime: Option<tokio::runtime::Runtime>,
}

impl MuteNode {
    async fn start(key: &SigningKey, addr: SocketAddr) -> MuteNode {
        let cfg = daemon::transport::server_config(key, &[], Arc::new(AnyKey), &[PEER_ALPN])
            .expect("server config");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (bound, listening) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let endpoint = bind_retrying(|| quinn::Endpoint::server(cfg.clone(), addr)).await;
            let _ = bound.send(());
            while let Some(incoming) = endpoint.accept().await {
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    let mut held = Vec::new();
                    while let Ok(streams) = conn.accept_bi().await {
                        held.push(streams);
                    }
                });
            }
        });
        listening.await.expect("the mute node listens");
        MuteNode {
            runtime: Some(runtime),
        }
    }
}

impl Drop for MuteNode {
    fn drop(&mut self) {
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

async fn queue(s: &Setup, id: &str) -> Vec<QueueItem> {
    match call(&s.node(id).worker, StaffRequest::Queue)
        .await
        .expect("queue")
    {
        StaffReply::Queue(q) => q,
        other => panic!("{other:?}"),
    }
}

async fn summaries(s: &Setup, id: &str) -> usize {
    match call(&s.node(id).worker, StaffRequest::SummaryList)
        .await
        .expect("summary list")
    {
        StaffReply::Summaries(l) => l.len(),
        other => panic!("{other:?}"),
    }
}

/// Disclosures ne.orp logged to ne.oai, receipts ne.oai logged from ne.orp.
fn exchanges(s: &Setup) -> (usize, usize) {
    let disclosures = log_kinds(s.node("ne.orp"))
        .iter()
        .filter(|k| *k == "disclosure")
        .count();
    let receipts = log_entries(s.node("ne.oai"))
        .iter()
        .filter(|e| matches!(e, LogEntry::Receipt(r) if r.source.as_str() == "ne.orp"))
        .count();
    (disclosures, receipts)
}

/// How long a request to a peer that never answers may take to come back as queued: the
/// node's wait for a peer's answer, and some slack for a loaded machine.
fn bounded() -> Duration {
    daemon::transport::PEER_TIMEOUT + Duration::from_secs(5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_peer_is_given_up_in_bounded_time_while_other_peers_are_served() {
    let mut s = Setup::new().await;
    let case = three_way_case(&s).await;
    let orp = address(&s, "ne.orp");
    let orp_key = s.node("ne.orp").signing_key().expect("ne.orp's key");
    s.fed.node_mut("ne.orp").stop().await;

    for hang in [
        "a UDP socket that never answers",
        "a mute node with ne.orp's key",
    ] {
        // Each held until the end of the round.
        let (socket, mute) = if hang.starts_with("a UDP") {
            let socket = bind_retrying(|| std::net::UdpSocket::bind(orp)).await;
            (Some(socket), None)
        } else {
            (None, Some(MuteNode::start(&orp_key, orp).await))
        };
        let started = Instant::now();
        let hung = async {
            let r = s
                .try_request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
                .await;
            (r, started.elapsed())
        };
        // Issued while the request to ne.orp waits for an answer.
        let healthy = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let asked = Instant::now();
            let o = s
                .request("ne.oai", "ne.sas", ASSESS, &[Employment], case)
                .await;
            (o, asked.elapsed(), started.elapsed())
        };
        let ((r, took), (o, healthy_took, healthy_done)) = tokio::join!(hung, healthy);
        let r = r.expect("the requester answers");
        eprintln!(
            "{hang}: queued after {took:?}; a request to ne.sas meanwhile took {healthy_took:?}"
        );
        assert_eq!(r, StaffReply::Summary(SummaryOutcome::Queued), "{hang}");
        assert_eq!(cli::output::Status::of(&r).code(), 4);
        assert!(
            cli::render::human(&r).contains("the responder is unreachable; the request is queued"),
            "{}",
            cli::render::human(&r)
        );
        assert!(took < bounded(), "{hang}: queued only after {took:?}");
        assert!(
            matches!(o, SummaryOutcome::Received(_)),
            "{hang}: the healthy peer answers: {o:?}"
        );
        assert!(
            healthy_took < Duration::from_secs(5) && healthy_done < took,
            "{hang}: the healthy peer is served while the hung one is pending ({healthy_took:?})"
        );
        let q = queue(&s, "ne.oai").await;
        assert!(
            q.iter().all(|i| i.recipient.as_str() == "ne.orp"
                && i.kind == "summary-request"
                && i.last_problem.as_deref() == Some("unreachable")),
            "{q:?}"
        );
        drop((socket, mute));
    }
    assert_eq!(queue(&s, "ne.oai").await.len(), 2);
    assert_eq!(summaries(&s, "ne.oai").await, 2, "the two from ne.sas");

    // ne.orp comes back: both queued requests are delivered, each disclosed and received once.
    s.fed
        .node_mut("ne.orp")
        .start()
        .await
        .expect("ne.orp restarts");
    let drained = eventually(45, || async { outbox_len(s.node("ne.oai")).await == 0 }).await;
    assert!(
        drained,
        "the queued requests are delivered: {:?}",
        queue(&s, "ne.oai").await
    );
    assert_eq!(exchanges(&s), (2, 2));
    assert_eq!(summaries(&s, "ne.oai").await, 4);
    assert!(reconcile(s.node("ne.orp"), s.node("ne.oai")).is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_peer_gets_its_queued_request_once_and_answers_promptly_after_restart() {
    let mut s = Setup::new().await;
    let case = three_way_case(&s).await;
    // A first exchange, so ne.oai holds a live connection to ne.orp when it dies.
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");

    s.fed.node_mut("ne.orp").crash().await;
    let asked = Instant::now();
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    let took = asked.elapsed();
    eprintln!("ne.orp killed: the request was queued after {took:?}");
    assert_eq!(o, SummaryOutcome::Queued);
    assert!(took < bounded(), "queued only after {took:?}");
    let q = queue(&s, "ne.oai").await;
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].last_problem.as_deref(), Some("unreachable"));
    assert_eq!(exchanges(&s), (1, 1), "nothing more disclosed");

    // ne.orp restarts from its store. A new request is granted at once; the queued one is
    // delivered from the outbox.
    s.fed
        .node_mut("ne.orp")
        .start()
        .await
        .expect("ne.orp restarts");
    let restarted = Instant::now();
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    let first = restarted.elapsed();
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    let drained = eventually(20, || async { outbox_len(s.node("ne.oai")).await == 0 }).await;
    let queued_delivered = restarted.elapsed();
    assert!(drained, "{:?}", queue(&s, "ne.oai").await);
    assert_eq!(
        exchanges(&s),
        (3, 3),
        "each request disclosed and received once"
    );
    assert_eq!(summaries(&s, "ne.oai").await, 3);
    assert!(reconcile(s.node("ne.orp"), s.node("ne.oai")).is_empty());

    // Killed and restarted at once, while ne.oai still holds its connection: the restarted
    // node resets it (stateless reset), so the next request does not wait for a timeout.
    s.fed.node_mut("ne.orp").crash().await;
    s.fed
        .node_mut("ne.orp")
        .start()
        .await
        .expect("ne.orp restarts");
    let restarted_again = Instant::now();
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    let over_old_connection = restarted_again.elapsed();
    assert!(matches!(o, SummaryOutcome::Received(_)), "{o:?}");
    assert_eq!(exchanges(&s), (4, 4));
    eprintln!(
        "restart to first granted exchange: {first:?}; queued request delivered {queued_delivered:?} after restart; \
         over the connection held across a kill and restart: {over_old_connection:?}"
    );
    assert!(first < Duration::from_secs(1), "{first:?}");
    assert!(
        over_old_connection < Duration::from_secs(1),
        "{over_old_connection:?}"
    );
    s.stop().await;
}
