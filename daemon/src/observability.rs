//! The node's metrics and health endpoint (`[observability]` in `node.toml`): plain HTTP/1.1 on
//! a local TCP address, unauthenticated, serving
//! - `GET /metrics`: the Prometheus text exposition ([`crate::metrics`]);
//! - `GET /livez`: 200 when the run loop and the store thread both answer within
//!   [`LIVENESS_TIMEOUT`], so a wedged store thread shows; 503 naming the one that did not;
//! - `GET /readyz`: 200 when the store records, the roster in force lists this node, the QUIC
//!   endpoint is bound and the log is not halted; 503 naming what is not.
//!
//! Health bodies are a small JSON [`Health`] document. The server is a task of the node's
//! tracker, so it is joined at shutdown like the rest.

use crate::metrics::{Gauges, StoreGauges};
use crate::node::Node;
use crate::store::Store;
use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the run loop and the store thread have to answer `/livez`.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(2);

/// A client that does not send its request headers within this time is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A health answer: `ok` when every check passed; each check says what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `store`, `roster`, `transport`, `log` (readiness); `run-loop`, `store-thread` (liveness).
    pub name: String,
    pub ok: bool,
    /// What is fine, or what is wrong; never a person, a record value or a path.
    pub detail: String,
}

impl Check {
    fn new(name: &str, result: Result<String, String>) -> Check {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        Check {
            name: name.into(),
            ok,
            detail,
        }
    }
}

impl Health {
    fn of(checks: Vec<Check>) -> Health {
        Health {
            ok: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}

/// Binds the endpoint's socket. Called before the store is opened: a node that cannot serve
/// its endpoint creates nothing.
pub(crate) fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).with_context(|| {
        format!("cannot serve the observability endpoint ([observability] listen) on {addr}")
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves the endpoint until the node shuts down.
pub(crate) async fn serve(node: Arc<Node>, listener: std::net::TcpListener) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the observability endpoint cannot serve");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = node.shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "observability endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let n = node.clone();
        node.tasks.spawn(async move {
            let n2 = n.clone();
            let service = hyper::service::service_fn(move |req| answer(n2.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = n.shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                }
            }
        });
    }
}

fn response(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_str(content_type).expect("a valid content type"),
    );
    r
}

fn health_response(h: &Health) -> Response<Full<Bytes>> {
    let status = if h.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::to_string(h).expect("health encodes");
    body.push('\n');
    response(status, "application/json", body)
}

async fn answer(
    node: Arc<Node>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    if req.method() != Method::GET {
        let mut r = response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET is served\n".into(),
        );
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET"),
        );
        return Ok(r);
    }
    Ok(match req.uri().path() {
        "/metrics" => {
            let gauges = gauges(&node).await;
            response(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                node.watch.metrics.render(&gauges),
            )
        }
        "/livez" => health_response(&liveness(&node).await),
        "/readyz" => health_response(&readiness(&node)),
        _ => response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: this endpoint serves /metrics, /livez and /readyz\n".into(),
        ),
    })
}

/// The run loop and the store thread each answer within [`LIVENESS_TIMEOUT`].
async fn liveness(node: &Arc<Node>) -> Health {
    Health::of(vec![
        run_loop_answers(&node.watch.loop_ping, LIVENESS_TIMEOUT).await,
        store_thread_answers(&node.store, LIVENESS_TIMEOUT).await,
    ])
}

/// Whether the run loop answers a ping within `timeout`.
pub(crate) async fn run_loop_answers(
    loop_ping: &mpsc::Sender<oneshot::Sender<()>>,
    timeout: Duration,
) -> Check {
    let answered = async {
        let (tx, rx) = oneshot::channel();
        loop_ping
            .try_send(tx)
            .map_err(|_| "the run loop is not taking requests".to_string())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(())) => Ok("answers".to_string()),
            Ok(Err(_)) => Err("the run loop has stopped".to_string()),
            Err(_) => Err(format!(
                "the run loop did not answer within {} ms",
                timeout.as_millis()
            )),
        }
    };
    Check::new("run-loop", answered.await)
}

/// Whether the store thread answers a no-op job within `timeout`: a thread stuck in a job (a
/// disk that hangs, a lock never released) shows here.
pub(crate) async fn store_thread_answers(store: &Store, timeout: Duration) -> Check {
    let answered = match tokio::time::timeout(timeout, store.read(|_| Ok(()))).await {
        Ok(Ok(())) => Ok("answers".to_string()),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!(
            "the store thread did not answer within {} ms",
            timeout.as_millis()
        )),
    };
    Check::new("store-thread", answered)
}

/// Whether the node can serve exchanges now.
pub(crate) fn readiness(node: &Node) -> Health {
    let store = match node.store.problem() {
        None => Ok("records".to_string()),
        Some(p) => Err(p.to_string()),
    };
    let roster = {
        let r = node.roster.read().unwrap();
        let version = r.roster.version;
        if r.roster.member(&node.me).is_some() {
            Ok(format!("version {version} in force, lists {}", node.me))
        } else {
            Err(format!(
                "the roster in force (version {version}) does not list {}",
                node.me
            ))
        }
    };
    let transport = if node.shutdown.is_cancelled() {
        Err("the node is stopping".to_string())
    } else {
        match node.endpoint.local_addr() {
            Ok(a) => Ok(format!("QUIC endpoint bound to {a}")),
            Err(e) => Err(format!("the QUIC endpoint is not bound: {e}")),
        }
    };
    let log = match node.log.lock().unwrap().halted() {
        None => Ok("not halted".to_string()),
        Some(p) => Err(format!("halted: {p}")),
    };
    Health::of(vec![
        Check::new("store", store),
        Check::new("roster", roster),
        Check::new("transport", transport),
        Check::new("log", log),
    ])
}

/// The gauges as the node stands. What needs the store is read through the store thread; if
/// it does not answer in time those gauges keep their last values, and `/livez` tells why.
async fn gauges(node: &Arc<Node>) -> Gauges {
    let now = crate::clock::now();
    let (witnesses, quorum) = {
        let r = node.roster.read().unwrap();
        match r.roster.member(&node.me) {
            Some(m) => (
                m.witnesses
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>(),
                usize::from(m.witness_quorum),
            ),
            None => (Vec::new(), 0),
        }
    };
    let stored = tokio::time::timeout(
        LIVENESS_TIMEOUT,
        node.store.read(move |db| {
            let (items, oldest): (i64, Option<i64>) =
                db.query_row("SELECT COUNT(*), MIN(created_at) FROM outbox", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let signed: Option<i64> =
                db.query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))?;
            let mut st = db.prepare("SELECT witness, size FROM witness_progress")?;
            let progress = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((items, oldest, signed, progress))
        }),
    )
    .await;
    let mut g = Gauges::default();
    if let Ok(Ok((items, oldest, signed, progress))) = stored {
        let outbox_items = u64::try_from(items).unwrap_or(0);
        let outbox_oldest_age = oldest
            .map(|t| now.saturating_sub(u64::try_from(t).unwrap_or(now)))
            .unwrap_or(0);
        let signed = u64::try_from(signed.unwrap_or(0)).unwrap_or(0);
        // The size the quorum cosigned: the quorum-th largest among this node's witnesses.
        let mut sizes: Vec<u64> = progress
            .into_iter()
            .filter(|(w, _)| witnesses.contains(w))
            .map(|(_, s)| u64::try_from(s).unwrap_or(0))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let quorum = quorum.clamp(1, witnesses.len().max(1));
        let cosigned = if witnesses.is_empty() {
            signed
        } else {
            sizes.get(quorum - 1).copied().unwrap_or(0)
        };
        g.from_store = Some(StoreGauges {
            outbox_items,
            outbox_oldest_age,
            cosignature_lag: signed.saturating_sub(cosigned),
        });
    }
    g.peers_connected = peers_connected(node).await;
    {
        let log = node.log.lock().unwrap();
        g.log_entries = log.size();
        g.log_halted = log.halted().is_some();
    }
    g.checkpoint_age = node.watch.checkpoint_age(now);
    g.cosignature_age = node.watch.cosignature_age(now);
    g.store_problem = node.store.problem().is_some();
    g
}

/// Peer institutions with a live connection, inbound or outbound.
async fn peers_connected(node: &Arc<Node>) -> u64 {
    let mut peers = std::collections::HashSet::new();
    {
        let roster = node.roster.read().unwrap();
        let inbound = node.inbound.lock().unwrap();
        for (key, conns) in inbound.iter() {
            if conns.iter().any(|c| c.close_reason().is_none())
                && let Some(m) = roster.roster.member_by_key(key)
            {
                peers.insert(m.id.clone());
            }
        }
    }
    for (id, conn) in node.outbound.lock().await.iter() {
        if conn.close_reason().is_none() {
            peers.insert(id.clone());
        }
    }
    peers.len() as u64
}

/// One `GET` of `path` at a node's endpoint: the status code and the body. For `passerelle
/// node health` and the tests.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot reach the observability endpoint at {addr}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("the endpoint at {addr} does not speak HTTP/1.1"))?;
        let driver = tokio::spawn(conn);
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(hyper::header::HOST, addr.to_string())
            .body(Empty::<Bytes>::new())?;
        let resp = sender
            .send_request(req)
            .await
            .with_context(|| format!("the endpoint at {addr} did not answer {path}"))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        driver.abort();
        let body = String::from_utf8(body.to_vec()).map_err(|_| {
            anyhow!("the endpoint at {addr} answered {path} with a body that is not UTF-8")
        })?;
        anyhow::Ok((status, body))
    };
    match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(r) => r,
        Err(_) => bail!("the endpoint at {addr} did not answer {path} within 10 s"),
    }
}

/// `GET /readyz` (or `/livez`), decoded.
pub async fn health(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, Health)> {
    let (status, body) = get(addr, path).await?;
    let h: Health = serde_json::from_str(&body).with_context(|| {
        format!("the endpoint at {addr} answered {path} with {status} and a body that is not a health document")
    })?;
    Ok((status, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    /// A store thread held in a job is reported by name, and answers again once released; a run
    /// loop that does not take its pings is reported too.
    #[tokio::test]
    async fn a_stuck_store_thread_or_run_loop_is_named() {
        let conn = node_core::store::open_in_memory().unwrap();
        let core = crate::store::tests::core(&conn);
        let store = Arc::new(Store::start(
            conn,
            core,
            0,
            Box::new(|_| {}),
            Arc::new(Metrics::new()),
        ));
        let short = Duration::from_millis(200);
        assert!(store_thread_answers(&store, short).await.ok);

        let (gate, wait) = std::sync::mpsc::channel::<()>();
        let s = store.clone();
        let held = tokio::spawn(async move {
            s.write(move |_| {
                let _ = wait.recv();
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let c = store_thread_answers(&store, short).await;
        assert_eq!(
            (c.name.as_str(), c.ok, c.detail.as_str()),
            (
                "store-thread",
                false,
                "the store thread did not answer within 200 ms"
            )
        );
        gate.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert!(store_thread_answers(&store, short).await.ok);

        // A loop that never reads its pings.
        let (ping, mut pings) = mpsc::channel(1);
        let c = run_loop_answers(&ping, short).await;
        assert!(
            !c.ok && c.detail.contains("did not answer within 200 ms"),
            "{c:?}"
        );
        // One that does.
        let looping = tokio::spawn(async move {
            while let Some(p) = pings.recv().await {
                let _ = p.send(());
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await; // it drains the stale ping
        assert!(run_loop_answers(&ping, short).await.ok);
        drop(ping);
        looping.await.unwrap();
        store.stop();
    }
}
