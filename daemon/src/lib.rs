//! Passerelle node daemon: the drivers around the node core (`node_core`): QUIC transport,
//! the SQLite store thread, the clock, and the run loop.
// One call into the C allocator, in `memory`, is the only unsafe code.
#![deny(unsafe_code)]

pub mod args;
pub mod backup;
pub mod clock;
pub mod config;
mod driver;
mod durable;
pub mod lock;
pub mod log;
pub mod log_budget;
mod log_state;
pub mod logging;
mod memory;
pub mod metrics;
mod node;
pub mod observability;
mod service;
mod store;
pub mod transport;
mod wal;
mod watch;

use anyhow::Context;
use config::NodeConfig;
use driver::NodeAdmission;
use node::{DriverKeys, Node};
use node_core::{BootstrapAdmin, Core, Secrets};
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::PEER_ALPN;
use protocol_spec::staff::STAFF_ALPN;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often due outbox items are sent.
pub(crate) const OUTBOX_PERIOD: Duration = Duration::from_secs(2);
/// How often a checkpoint is signed and offered to the witnesses.
pub(crate) const WITNESS_PERIOD: Duration = Duration::from_secs(5);

/// A node started in this process.
pub struct RunningNode {
    pub(crate) node: Arc<Node>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl RunningNode {
    /// Stops the node as a crash or power loss would, seen from its peers: its goodbye to
    /// them leaves from another socket, which they ignore, so they learn of the stop only when
    /// they next reach the node (tests of recovery use it).
    pub async fn stop_silently(self) {
        if let Ok(elsewhere) = std::net::UdpSocket::bind("127.0.0.1:0") {
            let _ = self.node.endpoint.rebind(elsewhere);
        }
        self.stop().await;
    }

    /// Stops the node and waits until its tasks are done and its store is closed.
    pub async fn stop(self) {
        self.node.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Runs a node until `shutdown` is cancelled.
pub async fn run(config: NodeConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let institution = config.institution.clone();
    let running = start(config, shutdown.clone()).await?;
    service::ready(&format!("{institution} serving"));
    let watchdog = service::watchdog(running.node.clone(), shutdown.clone());
    shutdown.cancelled().await;
    service::stopping();
    let _ = running.task.await;
    if let Some(w) = watchdog {
        let _ = w.await;
    }
    Ok(())
}

/// The store holds persons' names, numbers and case data: its directory is 0700 and its files
/// 0600, whatever the umask. The data directory's lock is taken first and held while the node
/// runs, so that no other node, and no restore, works on the same store.
fn open_private_store(
    dir: &std::path::Path,
) -> anyhow::Result<(rusqlite::Connection, lock::DataDirLock)> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make data directory {} private", dir.display()))?;
    }
    let held = lock::try_acquire(dir)?.with_context(|| {
        format!(
            "the data directory {} is locked by another process: a node already runs on it, \
             or a `passerelle node restore` or `node declare-loss` works on it (it holds {})",
            dir.display(),
            lock::path(dir).display()
        )
    })?;
    let conn = wal::open_laid_out(&dir.join("node.db"), node_core::store::open)?;
    #[cfg(unix)]
    for name in ["node.db", "node.db-wal", "node.db-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private", path.display()))?;
        }
    }
    Ok((conn, held))
}

/// A start that failed on the store says what is wrong with its disk, if that is the cause: the
/// node cannot run without recording.
fn store_error(dir: &std::path::Path, e: anyhow::Error) -> anyhow::Error {
    let problem = match node_core::StoreProblem::of(&e) {
        Some(node_core::StoreProblem::Failed) => Some(store::probe_disk(dir)),
        p => p,
    };
    match problem {
        Some(p) => e.context(format!(
            "cannot start on the store in {}: {p}",
            dir.display()
        )),
        None => e,
    }
}

fn copy_key(k: &SigningKey) -> SigningKey {
    SigningKey::from_seed(*k.seed())
}

/// Binds the listening socket, opens the store, checks the log and starts serving. Returns
/// once the node accepts connections.
pub async fn start(config: NodeConfig, shutdown: CancellationToken) -> anyhow::Result<RunningNode> {
    // The port first: a node that cannot listen must not create or migrate a store.
    let socket = std::net::UdpSocket::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let observing = config
        .observability
        .map(|o| observability::bind(o.listen))
        .transpose()?;
    // Off the runtime: a first start lays out the write-ahead log (87 MB written and synced).
    let data_dir = config.data_dir.clone();
    let (conn, held) = tokio::task::spawn_blocking(move || {
        open_private_store(&data_dir).map_err(|e| store_error(&data_dir, e))
    })
    .await
    .context("the store could not be opened")??;
    // A restored store found behind its witnesses does not start until a newer copy is back
    // or the loss is declared (transparency-log.md §7.6).
    let marks = log::loss::Marks::read(&conn)?;
    if let Some(refusal) = marks.refusal() {
        return Err(refusal);
    }
    let core = Core::load(
        &conn,
        config.institution.clone(),
        Secrets {
            signing: copy_key(&config.signing_key),
            encryption: config.encryption_key,
            log: config.log_key.public(),
            witness: config.witness_key.public(),
            former_encryption: config.former_encryption,
        },
        config.roster,
        BootstrapAdmin {
            staff: config.bootstrap_admin.staff,
            key: config.bootstrap_admin.key,
        },
        clock::now(),
    )
    .map_err(|e| store_error(&config.data_dir, e))?;
    let roster = core.roster().clone();
    let staff_keys = core.staff_keys();
    let crypto = core.crypto().with_witness(&config.witness_key);
    let origin = log::origin(&roster.roster.federation, &config.institution);
    let log_state = log_state::LogState::load(&conn, origin)?;
    let log_size = log_state.size();
    let log = Arc::new(Mutex::new(log_state));
    let log_for_store = log.clone();
    let metrics = Arc::new(metrics::Metrics::new());
    let store = store::Store::start(
        conn,
        core,
        log_size,
        Box::new(move |entries| log_for_store.lock().unwrap().append(entries)),
        metrics.clone(),
    );
    let (loop_ping, mut pings) = tokio::sync::mpsc::channel(16);

    // The endpoint starts without a server config: admission needs the node, which needs
    // the endpoint.
    let endpoint = transport::node_endpoint(socket, &config.signing_key)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let node = Arc::new(Node::new(
        config.institution.clone(),
        config.limits,
        DriverKeys {
            crypto,
            signing: config.signing_key,
            log: config.log_key,
        },
        roster,
        staff_keys,
        store,
        log,
        endpoint,
        shutdown.clone(),
        watch::Watch::new(metrics, loop_ping, clock::now()),
    ));
    if let Err(e) = log::loss::before_serving(&node, &marks).await {
        node.endpoint.close(0u32.into(), b"node not started");
        let n = node.clone();
        let _ = tokio::task::spawn_blocking(move || n.store.stop()).await;
        return Err(e);
    }
    let admission = Arc::new(NodeAdmission(Arc::downgrade(&node)));
    let server = transport::server_config(
        &node.signing,
        &config.endorsements,
        admission,
        &[PEER_ALPN, STAFF_ALPN],
    )?;
    node.endpoint.set_server_config(Some(server));
    let addr = node.endpoint.local_addr()?;
    tracing::info!(institution = %node.me, %addr, "node listening");
    if let Some(listener) = observing {
        let at = listener.local_addr()?;
        tracing::info!(institution = %node.me, addr = %at, "observability endpoint serving /metrics, /livez, /readyz");
        node.tasks
            .spawn(observability::serve(node.clone(), listener));
    }

    let n = node.clone();
    node.tasks.spawn(async move {
        let open = || n.endpoint.open_connections();
        memory::reclaim(open, n.shutdown.clone(), memory::give_back).await
    });

    let n = node.clone();
    let task = tokio::spawn(async move {
        let mut outbox = tokio::time::interval(OUTBOX_PERIOD);
        // The first round waits a period, so peers starting alongside are up.
        let mut witnessing =
            tokio::time::interval_at(tokio::time::Instant::now() + WITNESS_PERIOD, WITNESS_PERIOD);
        loop {
            tokio::select! {
                incoming = n.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    n.tasks.spawn(n.clone().serve_connection(incoming));
                }
                _ = outbox.tick() => {
                    let n2 = n.clone();
                    n.tasks.spawn(async move { n2.tick().await });
                }
                _ = witnessing.tick() => {
                    let n2 = n.clone();
                    n.tasks.spawn(async move {
                        let Ok(_round) = n2.witnessing.try_lock() else { return };
                        if let Err(e) = log::checkpoint_and_witness(&n2).await {
                            tracing::warn!(error = %e, "checkpoint round failed");
                        }
                    });
                }
                Some(ping) = pings.recv() => {
                    let _ = ping.send(());
                }
                _ = n.shutdown.cancelled() => break,
            }
        }
        n.endpoint.close(0u32.into(), b"node shutting down");
        // Peers are told at once; tasks get a moment to finish, then the store is closed.
        let _ = tokio::time::timeout(Duration::from_secs(1), n.endpoint.wait_idle()).await;
        n.tasks.close();
        if tokio::time::timeout(Duration::from_secs(5), n.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not finish within 5 s of shutdown");
        }
        let n2 = n.clone();
        let _ = tokio::task::spawn_blocking(move || n2.store.stop()).await;
        n.report_skipped_lines(true);
        // Released only once the store is closed.
        drop(held);
        tracing::info!(institution = %n.me, "node stopped");
    });
    Ok(RunningNode { node, task })
}
