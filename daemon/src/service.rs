//! The service manager's protocol (systemd `Type=notify`): the node says it is ready once it
//! listens, keeps the watchdog fed while it is live (`/livez`), and says it is stopping. Without
//! `NOTIFY_SOCKET` (run by hand, in tests) every call does nothing.

use crate::node::Node;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Tells the service manager the node is up. A failure to tell is logged, not fatal: the node
/// serves either way.
pub(crate) fn ready(status: &str) {
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]) {
        tracing::warn!(error = %e, "cannot tell the service manager the node is ready");
    }
}

pub(crate) fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// A store thread that has not answered a no-op job for this long is taken as wedged. Longer
/// than any honest batch (a large records import holds the thread for seconds), so a busy node
/// is not restarted in the middle of its work.
pub(crate) const STORE_WEDGED_AFTER: Duration = Duration::from_secs(120);

/// Feeds the watchdog at half its period until `shutdown`, when the service manager asked for
/// one (`WatchdogSec=`), while the node is alive: its run loop answers within a quarter of the
/// period, and its store thread answered within [`STORE_WEDGED_AFTER`]. A node whose runtime
/// stalls, or whose store thread is wedged, is restarted.
pub(crate) fn watchdog(
    node: Arc<Node>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()? / 2;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        let mut store_answered = Instant::now();
        let mut probe: Option<tokio::task::JoinHandle<bool>> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    // One probe of the store thread at a time; a slow one is waited for across
                    // ticks rather than piled up behind it.
                    if let Some(done) = probe.take_if(|p| p.is_finished())
                        && let Ok(true) = done.await
                    {
                        store_answered = Instant::now();
                    }
                    if probe.is_none() {
                        let n = node.clone();
                        probe = Some(tokio::spawn(async move { n.store.read(|_| Ok(())).await.is_ok() }));
                    }
                    let run_loop = crate::observability::run_loop_answers(&node.watch.loop_ping, period / 2).await;
                    if shutdown.is_cancelled() {
                        break;
                    }
                    let wedged = store_answered.elapsed() > STORE_WEDGED_AFTER;
                    if run_loop.ok && !wedged {
                        let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                    } else if wedged {
                        tracing::error!(
                            seconds = store_answered.elapsed().as_secs(),
                            "the store thread has not answered; the watchdog is no longer fed"
                        );
                    } else {
                        tracing::error!(problem = %run_loop.detail, "the run loop did not answer; the watchdog is not fed");
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
        if let Some(p) = probe {
            p.abort();
        }
    }))
}
