//! The process's log as JSON lines in memory, for tests that check what a node logs. One
//! subscriber per process: each such test is in a test file of its own.

use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> CapturedLog {
        self.clone()
    }
}

impl CapturedLog {
    /// Installs the node's JSON log, with `filter`, as this process's only subscriber.
    pub fn install(filter: &str) -> CapturedLog {
        let captured = CapturedLog::default();
        daemon::logging::install(
            tracing_subscriber::EnvFilter::new(filter),
            daemon::logging::Format::Json,
            false,
            captured.clone(),
        )
        .expect("the only subscriber of this process");
        captured
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("UTF-8")
    }

    /// Every event so far; a line that is not one JSON object fails the test.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not one JSON event per line ({e}): {l}"))
            })
            .collect()
    }
}
