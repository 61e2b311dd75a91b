//! The service manager's protocol (systemd `Type=notify`): the node says it is ready once it
//! listens, keeps the watchdog fed while its runtime runs, and says it is stopping. Without
//! `NOTIFY_SOCKET` (run by hand, in tests) every call does nothing.

use sd_notify::NotifyState;
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
/// one (`WatchdogSec=`): a node whose runtime stalls is restarted.
pub(crate) fn watchdog(shutdown: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()? / 2;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                }
                _ = shutdown.cancelled() => break,
            }
        }
    }))
}
