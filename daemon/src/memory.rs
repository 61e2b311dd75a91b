//! Giving memory back to the system once connections have closed.
//!
//! A QUIC connection holds about 45 KiB while it lives. When a burst of them closes, the node's
//! allocator (jemalloc, `passerelled`'s global allocator) keeps the pages they freed for its
//! decay time, and lets that time pass only while the node allocates: an idle node that once
//! served 1,000 peers would hold their memory. So the node watches how many connections its
//! endpoint holds, and once many have gone and none went during the last period, asks the
//! allocator to return every free page now (a purge of all arenas), on a blocking thread. The
//! endpoint's count, not the closing, is what matters: a closed connection is freed only when it
//! has drained, three probe timeouts later, which is seconds for one whose handshake waited on a
//! busy node.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the endpoint's connections are counted.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);
/// How many connections must have gone (about 1.4 MiB) before memory is given back: a few
/// short connections coming and going reuse what they free.
pub(crate) const FREED: usize = 32;

/// Gives memory back with `give_back` once `FREED` of the connections `open` counts have gone
/// and the count held still for a period, until `shutdown`.
pub(crate) async fn reclaim<O, F>(open: O, shutdown: CancellationToken, give_back: F)
where
    O: Fn() -> usize,
    F: Fn() + Clone + Send + 'static,
{
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The most connections held since memory was last given back, and the last count.
    let mut high = 0;
    let mut last = usize::MAX;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let now = open();
        let settled = now >= last;
        high = high.max(now);
        last = now;
        if settled && high - now >= FREED {
            let _ = tokio::task::spawn_blocking(give_back.clone()).await;
            high = now;
        }
    }
}

/// Returns the allocator's whole free pages to the system: jemalloc's arenas purged now, rather
/// than after their decay time, which passes only while the node keeps allocating.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn give_back() {
    let started = std::time::Instant::now();
    // `MALLCTL_ARENAS_ALL` (4096) names every arena.
    let purge = c"arena.4096.purge";
    // SAFETY: a purge reads and writes nothing through the null pointers; jemalloc takes its own
    // locks, and only releases pages no allocation uses.
    let status = unsafe {
        tikv_jemalloc_sys::mallctl(
            purge.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    tracing::debug!(
        status,
        took_us = started.elapsed().as_micros() as u64,
        "free memory given back to the system"
    );
}

/// Other platforms keep their system allocator, which returns memory itself.
#[cfg(not(target_os = "linux"))]
pub(crate) fn give_back() {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs `reclaim` over a count the test sets; returns the count, the give-backs and a stop.
    fn watched() -> (
        Arc<AtomicUsize>,
        Arc<AtomicUsize>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let open = Arc::new(AtomicUsize::new(0));
        let given = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (open, given, stop) = (open.clone(), given.clone(), stop.clone());
            async move {
                reclaim(
                    move || open.load(Ordering::SeqCst),
                    stop,
                    move || {
                        given.fetch_add(1, Ordering::SeqCst);
                    },
                )
                .await
            }
        });
        (open, given, stop, task)
    }

    async fn periods(n: u32) {
        for _ in 0..n {
            tokio::time::sleep(PERIOD).await;
            // Lets a blocking give-back finish.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn memory_goes_back_once_connections_have_drained() {
        let (open, given, stop, task) = watched();
        // Counts change half-way between two of its readings.
        tokio::time::sleep(PERIOD / 2).await;
        open.store(1000, Ordering::SeqCst);
        periods(30).await;
        assert_eq!(
            given.load(Ordering::SeqCst),
            0,
            "nothing gone, nothing to give back"
        );
        // They close, and drain over a few periods.
        for left in [700, 300, 10] {
            open.store(left, Ordering::SeqCst);
            periods(1).await;
            assert_eq!(
                given.load(Ordering::SeqCst),
                0,
                "not while connections still drain"
            );
        }
        periods(2).await;
        assert_eq!(given.load(Ordering::SeqCst), 1, "once they have drained");
        periods(30).await;
        assert_eq!(given.load(Ordering::SeqCst), 1, "once for them");
        // Again after more come and go.
        open.store(500, Ordering::SeqCst);
        periods(3).await;
        open.store(0, Ordering::SeqCst);
        periods(3).await;
        assert_eq!(given.load(Ordering::SeqCst), 2);
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_few_short_connections_coming_and_going_give_nothing_back() {
        let (open, given, stop, task) = watched();
        // Counts change half-way between two of its readings.
        tokio::time::sleep(PERIOD / 2).await;
        for i in 0..200 {
            open.store(100 + (i * 7) % FREED, Ordering::SeqCst);
            periods(1).await;
        }
        assert_eq!(given.load(Ordering::SeqCst), 0);
        stop.cancel();
        task.await.unwrap();
    }

    /// Pages freed among live blocks go back to the system at once.
    #[cfg(target_os = "linux")]
    #[test]
    fn freed_pages_among_live_blocks_go_back_to_the_system() {
        fn resident_kib() -> u64 {
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
            let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
            pages * 4
        }
        // As connections leave them: large blocks freed, small ones between them kept.
        let mut freed = Vec::new();
        let mut kept = Vec::new();
        for i in 0..4_000u32 {
            freed.push(vec![i as u8 | 1; 16 * 1024]);
            kept.push(vec![i as u8; 24]);
        }
        drop(freed);
        let before = resident_kib();
        give_back();
        let after = resident_kib();
        assert!(
            before >= after + 32 * 1024,
            "64 MiB freed among live blocks, resident {before} KiB → {after} KiB"
        );
        assert_eq!(kept.len(), 4_000);
    }
}
