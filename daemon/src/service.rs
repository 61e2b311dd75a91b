//! The service manager's protocol (systemd `Type=notify`): the node says it is ready once it
//! listens, keeps the watchdog fed while it is live (`/livez`), and says it is stopping. Without
//! `NOTIFY_SOCKET` (run by hand, in tests) every call does nothing.

use crate::node::Node;
use sd_notify::NotifyState;
use std::sync::Arc;
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

/// Feeds the watchdog at half its period until `shutdown`, when the service manager asked for
/// one (`WatchdogSec=`), as long as the node is alive as `/livez` says: its run loop and its
/// store thread answer (within a quarter of the period). A node whose runtime stalls, or whose store
/// thread is wedged, is restarted.
pub(crate) fn watchdog(
    node: Arc<Node>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()? / 2;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    // Half the half period, so a fed watchdog is never fed late.
                    let live = crate::observability::live_within(&node, period / 2).await;
                    if shutdown.is_cancelled() {
                        break;
                    }
                    if live.ok {
                        let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                    } else {
                        for c in live.checks.iter().filter(|c| !c.ok) {
                            tracing::error!(check = %c.name, problem = %c.detail, "the node is not live; the watchdog is not fed");
                        }
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
    }))
}
