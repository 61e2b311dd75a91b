//! The node's figures in the Prometheus text format, served on `GET /metrics`
//! ([`crate::observability`]). Names start with `passerelle_`; labels are codes, kinds, sides
//! and roles, never a person, a record value or a staff id.
//!
//! Each node owns its recorder. Several nodes run in one process (the end-to-end tests,
//! `passerelle demo`), and the `metrics` crate's global recorder is one per process: installed
//! globally, every node's endpoint would show the sum of all of them. So no recorder is
//! installed: each node builds its own (`PrometheusBuilder::build_recorder`) and records
//! through it with `::metrics::with_local_recorder`, which sets it for the duration of one call
//! on the calling thread only (so a call never crosses an `.await`).

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

/// Histogram buckets in seconds, from a fast local commit to a slow peer.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric the node exports, with its help text (README, "Observability").
pub const METRICS: &[(&str, &str)] = &[
    (
        "passerelle_decisions_total",
        "summary request decisions, by side (responder, requester) and code (granted or a refusal code, spec section 12)",
    ),
    (
        "passerelle_exchange_seconds",
        "summary exchange latency by side: responder judge and commit; requester send to committed answer",
    ),
    (
        "passerelle_staff_requests_total",
        "staff requests served, by kind and outcome (ok, received, refused, queued or the error kind)",
    ),
    (
        "passerelle_outbox_deliveries_total",
        "outbox items sent to peers, by message kind and result (answered, unreachable)",
    ),
    ("passerelle_outbox_items", "items waiting in the outbox"),
    (
        "passerelle_outbox_oldest_age_seconds",
        "age of the oldest item waiting in the outbox (0 when it is empty)",
    ),
    (
        "passerelle_peers_connected",
        "peer institutions with an open connection, either direction",
    ),
    (
        "passerelle_log_entries",
        "entries in this node's transparency log",
    ),
    (
        "passerelle_log_halted",
        "1 when this node's log is halted (a witness holds a checkpoint it cannot extend)",
    ),
    (
        "passerelle_checkpoint_age_seconds",
        "seconds since a checkpoint covering the whole log was last signed or confirmed",
    ),
    (
        "passerelle_cosignature_lag_entries",
        "newest signed checkpoint size minus the size the witness quorum cosigned",
    ),
    (
        "passerelle_cosignature_age_seconds",
        "seconds since a witness last cosigned one of this node's checkpoints",
    ),
    (
        "passerelle_store_commit_seconds",
        "store transaction latency, from the first job of a batch to its durable commit",
    ),
    (
        "passerelle_store_problem",
        "1 when the store cannot record (disk full, read-only or failing)",
    ),
];

/// The gauges, read from the node's state when `/metrics` is asked for.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Gauges {
    /// Read from the store: `None` when the store thread did not answer in time, and then the
    /// gauges keep the values last read.
    pub(crate) from_store: Option<StoreGauges>,
    pub(crate) peers_connected: u64,
    pub(crate) log_entries: u64,
    pub(crate) log_halted: bool,
    pub(crate) checkpoint_age: u64,
    pub(crate) cosignature_age: u64,
    pub(crate) store_problem: bool,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoreGauges {
    pub(crate) outbox_items: u64,
    pub(crate) outbox_oldest_age: u64,
    pub(crate) cosignature_lag: u64,
}

pub(crate) struct Metrics {
    recorder: PrometheusRecorder,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let m = Metrics { recorder };
        m.with(|| {
            for (name, help) in METRICS {
                // One describe call covers whichever kind the name is.
                ::metrics::describe_counter!(*name, *help);
            }
        });
        m
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        ::metrics::with_local_recorder(&self.recorder, f)
    }

    /// A summary request decided: `granted` or a refusal code.
    pub(crate) fn decision(&self, side: &'static str, code: &'static str, seconds: f64) {
        self.with(|| {
            ::metrics::counter!("passerelle_decisions_total", "side" => side, "code" => code)
                .increment(1);
            ::metrics::histogram!("passerelle_exchange_seconds", "side" => side).record(seconds);
        });
    }

    pub(crate) fn staff_request(&self, kind: &'static str, outcome: &'static str) {
        self.with(|| {
            ::metrics::counter!("passerelle_staff_requests_total", "kind" => kind, "outcome" => outcome)
                .increment(1);
        });
    }

    pub(crate) fn delivery(&self, kind: &'static str, result: &'static str) {
        self.with(|| {
            ::metrics::counter!("passerelle_outbox_deliveries_total", "kind" => kind, "result" => result)
                .increment(1);
        });
    }

    pub(crate) fn store_commit(&self, seconds: f64) {
        self.with(|| ::metrics::histogram!("passerelle_store_commit_seconds").record(seconds));
    }

    fn set_gauges(&self, g: &Gauges) {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        self.with(|| {
            if let Some(s) = &g.from_store {
                ::metrics::gauge!("passerelle_outbox_items").set(s.outbox_items as f64);
                ::metrics::gauge!("passerelle_outbox_oldest_age_seconds")
                    .set(s.outbox_oldest_age as f64);
                ::metrics::gauge!("passerelle_cosignature_lag_entries")
                    .set(s.cosignature_lag as f64);
            }
            ::metrics::gauge!("passerelle_peers_connected").set(g.peers_connected as f64);
            ::metrics::gauge!("passerelle_log_entries").set(g.log_entries as f64);
            ::metrics::gauge!("passerelle_log_halted").set(flag(g.log_halted));
            ::metrics::gauge!("passerelle_checkpoint_age_seconds").set(g.checkpoint_age as f64);
            ::metrics::gauge!("passerelle_cosignature_age_seconds").set(g.cosignature_age as f64);
            ::metrics::gauge!("passerelle_store_problem").set(flag(g.store_problem));
        });
    }

    /// The text exposition, gauges set to `gauges` first.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        self.set_gauges(gauges);
        let handle = self.recorder.handle();
        handle.run_upkeep();
        handle.render()
    }

    /// Drains the histograms' recent samples into their buckets, so memory stays bounded when
    /// nobody scrapes; run on the outbox timer.
    pub(crate) fn upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }
}
