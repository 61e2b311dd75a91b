//! Passerelle node daemon: QUIC transport, SQLite store and the drivers that feed the
//! sans-IO protocol core in `protocol_spec`.
#![forbid(unsafe_code)]

pub mod config;
pub mod log;
pub mod node;
pub mod store;
pub mod transport;

use anyhow::{Context, bail};
use config::NodeConfig;
use node::{Node, NodeAdmission};
use protocol_spec::peer::PEER_ALPN;
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::STAFF_ALPN;
use rusqlite::OptionalExtension;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A node started in this process.
pub struct RunningNode {
    pub node: Arc<Node>,
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

impl RunningNode {
    /// Stops the node and waits until its endpoint is closed.
    pub async fn stop(self) {
        self.node.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Runs a node until `shutdown` is cancelled.
pub async fn run(config: NodeConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let running = start(config, shutdown.clone()).await?;
    shutdown.cancelled().await;
    let _ = running.task.await;
    Ok(())
}

/// Opens the store, checks the log, binds the endpoint and starts serving. Returns once the
/// node accepts connections.
pub async fn start(config: NodeConfig, shutdown: CancellationToken) -> anyhow::Result<RunningNode> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let db_path = config.data_dir.join("node.db");
    let conn = store::open_connection(&db_path)?;

    // The stored roster may be newer than the configured one: it was accepted as a successor.
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = 'roster'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let mut roster = config.roster.clone();
    if let Some(bytes) = stored {
        let s: SignedRoster = postcard::from_bytes(&bytes).context("stored roster is corrupt")?;
        if s.roster.version > roster.roster.version {
            roster = s;
        }
    }
    if roster.roster.member(&config.institution).is_none() {
        bail!(
            "the current roster does not list this institution `{}`",
            config.institution
        );
    }
    let roster_bytes = postcard::to_stdvec(&roster)?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('roster', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [roster_bytes],
    )?;
    let staff_count: i64 = conn.query_row("SELECT COUNT(*) FROM staff", [], |r| r.get(0))?;
    if staff_count == 0 {
        let a = &config.bootstrap_admin;
        conn.execute(
            "INSERT INTO staff (staff_id, role, key, issued_by, issued_at) VALUES (?1, 'admin', ?2, 'node-init', ?3)",
            rusqlite::params![a.staff.as_str(), a.key.0.to_vec(), node::now() as i64],
        )?;
    }
    let staff = node::active_staff(&conn)?;
    let log_state = log::LogState::load(&conn, &config.institution, &roster.roster.federation)?;
    let log_size = log_state.size();
    let log = Arc::new(Mutex::new(log_state));
    let log_for_store = log.clone();
    let store = store::Store::start(
        conn,
        log_size,
        Box::new(move |entries| log_for_store.lock().unwrap().append(entries)),
    );

    // The endpoint starts without a server config: admission needs the node, which needs
    // the endpoint. The listening socket is bound right after.
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("loopback"))?;
    let node = Arc::new(Node::new(
        config.institution.clone(),
        node::Secrets {
            signing: config.signing_key,
            encryption: config.encryption_key,
            log: config.log_key,
            witness: config.witness_key,
        },
        roster,
        staff,
        store,
        log,
        endpoint,
        shutdown.clone(),
    ));
    let admission = Arc::new(NodeAdmission(Arc::downgrade(&node)));
    let server = transport::server_config(&node.signing, admission, &[PEER_ALPN, STAFF_ALPN])?;
    node.endpoint.set_server_config(Some(server));
    node.endpoint
        .rebind(
            std::net::UdpSocket::bind(config.listen)
                .with_context(|| format!("cannot listen on {}", config.listen))?,
        )
        .context("binding QUIC endpoint")?;
    let addr = node.endpoint.local_addr()?;
    tracing::info!(institution = %node.me, %addr, "node listening");

    let n = node.clone();
    let task = tokio::spawn(async move {
        let mut outbox = tokio::time::interval(Duration::from_secs(2));
        // The first round waits a period, so peers starting alongside are up.
        let period = Duration::from_secs(5);
        let mut witnessing = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                incoming = n.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    tokio::spawn(n.clone().serve_connection(incoming));
                }
                                _ = outbox.tick() => {
                    let n2 = n.clone();
                    tokio::spawn(async move { n2.flush_outbox().await });
                }
                _ = witnessing.tick() => {
                    let n2 = n.clone();
                    tokio::spawn(async move {
                        let Ok(_round) = n2.witnessing.try_lock() else { return };
                        if let Err(e) = log::checkpoint_and_witness(&n2).await {
                            tracing::warn!(error = %e, "checkpoint round failed");
                        }
                    });
                }
                _ = n.shutdown.cancelled() => break,
            }
        }
        n.endpoint.close(0u32.into(), b"node shutting down");
        // Peers are told at once; a peer that does not acknowledge is not waited for long.
        let _ = tokio::time::timeout(Duration::from_secs(1), n.endpoint.wait_idle()).await;
    });
    Ok(RunningNode { node, addr, task })
}
