//! Concurrent requests on one connection: 64 on a new connection, twice as many each time its
//! client has three quarters of them open, up to 256 (spec §4.1).

use daemon::transport::{INITIAL_STREAMS, MAX_STREAMS};
use std::time::Duration;
use tests::Setup;

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_connection_is_allowed_up_to_256_requests_at_once() {
    let s = Setup::new().await;
    let key = s.node("ne.oai").signing_key().unwrap();
    let conn = s.raw_peer(&key, "ne.orp").await.unwrap();
    let open = || tokio::time::timeout(Duration::from_secs(5), conn.open_bi());
    // Past the first allowance only if the node raised it.
    const { assert!(INITIAL_STREAMS < MAX_STREAMS) };
    let mut held = Vec::new();
    for i in 1..=MAX_STREAMS {
        let (mut send, recv) = open()
            .await
            .unwrap_or_else(|_| panic!("request {i} was not allowed"))
            .unwrap();
        // The first byte of a frame: the node takes the request up and waits for the rest.
        send.write_all(&[0]).await.unwrap();
        held.push((send, recv));
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), conn.open_bi())
            .await
            .is_err(),
        "request {} waits for one to end",
        MAX_STREAMS + 1
    );
    drop(held);
    conn.close(0u32.into(), b"done");
    s.stop().await;
}
