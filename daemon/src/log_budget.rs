//! How many lines about single requests the node logs: each one while traffic is light, at most
//! [`LINES_PER_SECOND`] on average (after a burst of [`BURST`]) under load, and from time to time
//! a count of those it skipped.
//!
//! Why: a node logs a line per staff request and per summary decision. At the thousands of
//! exchanges per second a node can carry, that is millions of lines an hour, and the journal's
//! default rate limit (10,000 lines per 30 s per service) would then drop lines without choosing,
//! errors and warnings among them. A member sending requests could flood the log the same way.
//! The figures of every request stay exact in `/metrics`; `PASSERELLE_LOG=debug` logs every line,
//! and an administrator's requests, few and each changing the node, are logged outside it.

use std::time::{Duration, Instant};

/// Request lines logged per second once a burst is spent.
pub const LINES_PER_SECOND: f64 = 10.0;

/// Request lines logged at once after a quiet while.
pub const BURST: f64 = 100.0;

/// Under lasting load, skipped lines are counted in a report at most this often.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// A burst is over when no line was skipped for this long; its count is then reported.
const QUIET: Duration = Duration::from_secs(1);

/// A token bucket of request lines, and the lines it skipped since its last report.
#[derive(Debug)]
pub(crate) struct LogBudget {
    tokens: f64,
    refilled: Instant,
    skipping: Option<Skipping>,
}

/// Lines skipped since the last report: how many, the first and the last.
#[derive(Debug)]
struct Skipping {
    lines: u64,
    first: Instant,
    last: Instant,
}

/// Lines skipped, and over how long, for one report line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub lines: u64,
    pub over: Duration,
}

impl LogBudget {
    pub(crate) fn new(now: Instant) -> LogBudget {
        LogBudget {
            tokens: BURST,
            refilled: now,
            skipping: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * LINES_PER_SECOND).min(BURST);
        self.refilled = now;
    }

    /// Whether one more request line may be logged at `now`; one that may not is counted.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        let skipping = self.skipping.get_or_insert(Skipping {
            lines: 0,
            first: now,
            last: now,
        });
        skipping.lines += 1;
        skipping.last = now;
        false
    }

    /// The lines skipped since the last report, once the burst that skipped them is over or
    /// [`REPORT_EVERY`] has passed since the first of them; the count starts again.
    pub(crate) fn report(&mut self, now: Instant) -> Option<Skipped> {
        let skipping = self.skipping.as_ref()?;
        let quiet = now.saturating_duration_since(skipping.last) >= QUIET;
        let due = now.saturating_duration_since(skipping.first) >= REPORT_EVERY;
        if !quiet && !due {
            return None;
        }
        self.take(now)
    }

    /// The lines skipped since the last report, whether or not it is due (the node stops).
    pub(crate) fn take(&mut self, now: Instant) -> Option<Skipped> {
        let skipping = self.skipping.take()?;
        Some(Skipped {
            lines: skipping.lines,
            over: now.saturating_duration_since(skipping.first),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn light_traffic_is_logged_whole() {
        let t0 = Instant::now();
        let mut b = LogBudget::new(t0);
        // Ten lines a second for a minute: the rate refills what each takes.
        for i in 0..600u32 {
            assert!(b.admit(t0 + 100 * MS * i), "line {i}");
        }
        assert_eq!(b.report(t0 + Duration::from_secs(70)), None);
    }

    #[test]
    fn a_burst_is_logged_up_to_its_size_then_counted() {
        let t0 = Instant::now();
        let mut b = LogBudget::new(t0);
        let logged = (0..1_000).filter(|_| b.admit(t0)).count();
        assert_eq!(logged, BURST as usize);
        // Not reported while the burst goes on.
        assert_eq!(b.report(t0 + 50 * MS), None);
        // A tenth of a second later, one more line fits.
        assert!(b.admit(t0 + 100 * MS));
        assert!(!b.admit(t0 + 100 * MS));
        assert_eq!(b.report(t0 + 600 * MS), None, "skipped 0.5 s ago");
        assert_eq!(
            b.report(t0 + 1_200 * MS),
            Some(Skipped {
                lines: 901,
                over: 1_200 * MS
            })
        );
        assert_eq!(b.report(t0 + 5_000 * MS), None, "the count starts again");
    }

    #[test]
    fn a_stopping_node_takes_the_count_at_once() {
        let t0 = Instant::now();
        let mut b = LogBudget::new(t0);
        assert_eq!(b.take(t0), None, "nothing skipped");
        let logged = (0..150).filter(|_| b.admit(t0)).count();
        assert_eq!(b.report(t0 + 10 * MS), None, "the burst goes on");
        assert_eq!(
            b.take(t0 + 10 * MS),
            Some(Skipped {
                lines: 150 - logged as u64,
                over: 10 * MS
            })
        );
        assert_eq!(b.take(t0 + 20 * MS), None);
    }

    #[test]
    fn lasting_load_is_reported_every_ten_seconds() {
        let t0 = Instant::now();
        let mut b = LogBudget::new(t0);
        let mut reports = Vec::new();
        let mut logged = 0;
        // 1,000 lines a second for 30 s, with a report asked for every 2 s.
        for ms in 0..30_000u32 {
            let now = t0 + MS * ms;
            if b.admit(now) {
                logged += 1;
            }
            if ms % 2_000 == 0 {
                reports.extend(b.report(now));
            }
        }
        // Asked every 2 s, a report comes once 10 s have passed since the first line it counts.
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(
            reports
                .iter()
                .all(|r| r.over >= REPORT_EVERY && r.over < REPORT_EVERY + Duration::from_secs(2)),
            "{reports:?}"
        );
        // The burst, then ten a second.
        assert!((399..=401).contains(&logged), "{logged} logged");
        let skipped: u64 = reports.iter().map(|r| r.lines).sum();
        assert!(skipped + logged as u64 <= 30_000);
    }
}
