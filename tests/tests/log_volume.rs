//! End-to-end: a node under a burst of requests logs a bounded number of lines about them, then
//! one line counting those it skipped (daemon::log_budget), so that its log stays readable and
//! under the journal's rate limit at any traffic, and as it stops; an administrator's requests
//! are all logged.

use daemon::log_budget::{BURST, LINES_PER_SECOND};
use protocol_spec::staff::StaffRequest;
use std::time::Instant;
use tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_is_logged_up_to_the_budget_and_the_rest_counted() {
    // What a node logs by default.
    let captured = tests::captured_log::CapturedLog::install("info,quinn=warn,rustls=warn");
    let s = Setup::new().await;
    let worker = &s.node("ne.oai").worker;
    let asked = 3 * BURST as usize;
    let began = Instant::now();
    for _ in 0..asked {
        call(worker, StaffRequest::WhoAmI).await.expect("who-am-i");
    }
    let took = began.elapsed().as_secs_f64();
    // An administrator's request is logged even with the budget spent.
    call(&s.node("ne.oai").admin, StaffRequest::WhoAmI)
        .await
        .expect("who-am-i");

    // Once no line was skipped for a second, the next outbox round reports the count.
    let reported = eventually(10, || async {
        captured
            .events()
            .iter()
            .any(|e| e["fields"]["message"] == "request lines skipped")
    })
    .await;
    let events = captured.events();
    assert!(reported, "the skipped lines are reported");

    let logged = served(&events, "case-worker");
    assert_eq!(
        served(&events, "admin"),
        1,
        "the administrator's request is logged"
    );
    // The setup's own requests took part of the burst before.
    let most = (BURST + LINES_PER_SECOND * took).ceil() as usize;
    assert!(
        logged <= most && logged < asked,
        "{logged} of {asked} requests logged in {took:.1} s, at most {most}"
    );
    assert_eq!(
        (logged + skipped(&events)) as u64,
        asked as u64,
        "every request is logged or counted"
    );

    // A node that stops reports what it skipped since, without waiting for the report's time.
    let more = 60;
    for _ in 0..more {
        call(worker, StaffRequest::WhoAmI).await.expect("who-am-i");
    }
    s.stop().await;
    let events = captured.events();
    let logged_since = served(&events, "case-worker") - logged;
    assert!(logged_since < more, "all {more} logged: none to report");
    assert_eq!(
        served(&events, "case-worker") + skipped(&events),
        asked + more,
        "every request is logged or counted, up to the node's stop"
    );
}

/// Lines for `who-am-i` requests by staff of `role`.
fn served(events: &[serde_json::Value], role: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            let f = &e["fields"];
            f["message"] == "staff request served"
                && f["request"] == "who-am-i"
                && f["role"] == role
        })
        .count()
}

/// The request lines the reports say were skipped.
fn skipped(events: &[serde_json::Value]) -> usize {
    events
        .iter()
        .filter(|e| e["fields"]["message"] == "request lines skipped")
        .map(|e| e["fields"]["skipped"].as_u64().expect("a count") as usize)
        .sum()
}
