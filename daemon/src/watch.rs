//! What the node keeps for its observability endpoint ([`crate::observability`]): its metrics,
//! a line to the run loop, and when its log was last checkpointed and cosigned.

use crate::metrics::Metrics;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// What the driver keeps for the endpoint: the node's metrics, a line to the run loop, and
/// when the log was last checkpointed and cosigned.
pub(crate) struct Watch {
    pub(crate) metrics: Arc<Metrics>,
    /// The run loop answers each sender it receives: `/livez`'s proof that it turns.
    pub(crate) loop_ping: mpsc::Sender<oneshot::Sender<()>>,
    started_at: u64,
    /// Unix seconds of the last witnessing round that left a checkpoint covering the whole
    /// log, 0 before the first.
    checkpointed_at: AtomicU64,
    /// Unix seconds of the last cosignature received, 0 before the first.
    cosigned_at: AtomicU64,
}

impl Watch {
    pub(crate) fn new(
        metrics: Arc<Metrics>,
        loop_ping: mpsc::Sender<oneshot::Sender<()>>,
        now: u64,
    ) -> Watch {
        Watch {
            metrics,
            loop_ping,
            started_at: now,
            checkpointed_at: AtomicU64::new(0),
            cosigned_at: AtomicU64::new(0),
        }
    }

    pub(crate) fn checkpointed(&self, now: u64) {
        self.checkpointed_at.store(now, Ordering::Relaxed);
    }

    pub(crate) fn cosigned(&self, now: u64) {
        self.cosigned_at.store(now, Ordering::Relaxed);
    }

    /// Seconds since the last witnessing round that left a checkpoint covering the whole log.
    pub(crate) fn checkpoint_age(&self, now: u64) -> u64 {
        self.age(&self.checkpointed_at, now)
    }

    /// Seconds since the last cosignature received.
    pub(crate) fn cosignature_age(&self, now: u64) -> u64 {
        self.age(&self.cosigned_at, now)
    }

    /// Seconds since `at`, or since the node started when it never happened.
    fn age(&self, at: &AtomicU64, now: u64) -> u64 {
        let at = at.load(Ordering::Relaxed).max(self.started_at);
        now.saturating_sub(at)
    }
}
