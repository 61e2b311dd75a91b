//! The floors a node's exchange is compared with, measured in the same run: the cryptography
//! of one exchange at both ends, a durable SQLite commit, and bare quinn mutual-TLS round
//! trips and handshakes between two endpoints of this process.

use super::{Latencies, Row};
use anyhow::Context;
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey, sha256};
use protocol_spec::seal::{SeededRng, seal};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One exchange at both ends, as DESIGN and spec §7 count it: the staff connection's
/// handshake and the peer request each sign and verify twice (4 Ed25519 signatures, 4 strict
/// verifications), the responder seals one summary, and both ends hash what they log.
pub const SIGNATURES: u32 = 4;
pub const VERIFICATIONS: u32 = 4;
pub const SEALS: u32 = 1;
/// Digests per exchange: request and disclosure digests, the sealed summary's, the log leaves
/// at both ends and their tree nodes.
pub const HASHES: u32 = 12;
/// The cryptography one exchange waits for in turn, its connections already open: the request's
/// signature and its verification at the responder, the seal, and the disclosure's signature
/// and its verification at the requester.
pub const PATH_SIGNATURES: u32 = 2;
pub const PATH_VERIFICATIONS: u32 = 2;
/// The size of the example federation's granted summary, sealed in the floor.
const SUMMARY_BYTES: usize = 2048;

/// The cost of each primitive, in seconds per operation, and their sum for one exchange.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CryptoFloor {
    pub sign_s: f64,
    pub verify_s: f64,
    pub seal_s: f64,
    pub hash_s: f64,
    /// CPU seconds of one exchange's cryptography at both ends.
    pub exchange_s: f64,
    /// Exchanges per second this machine's cores could do if they did nothing else.
    pub ceiling_per_s: f64,
    /// Seconds of the cryptography one exchange waits for in turn (`PATH_SIGNATURES`, …).
    pub path_s: f64,
}

fn per_op(n: u32, mut f: impl FnMut(u32)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

/// Rounds each primitive is timed in per timing, interleaved. A primitive's cost is its median
/// round, which a pause of the machine during one round does not move.
const ROUNDS: usize = 5;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Every round timed so far, per primitive. A run times the floor before its exchanges and again
/// after them: timed once, the floor of one exchange ranged from 282 to 313 µs over runs a few
/// minutes apart on this machine, while the nodes' CPU per exchange moved by 3%.
#[derive(Default)]
pub struct Rounds {
    sign: Vec<f64>,
    verify: Vec<f64>,
    seal: Vec<f64>,
    hash: Vec<f64>,
}

impl Rounds {
    /// Times `ROUNDS` more rounds of each primitive.
    pub fn time(&mut self) -> anyhow::Result<()> {
        let key = SigningKey::from_seed([7; 32]);
        let public = key.public();
        let message = [42u8; 200];
        let signature = key.sign(&message);
        let recipient: PublicKey = EncryptionKey::from_secret([9; 32]).public();
        let summary = vec![1u8; SUMMARY_BYTES];
        let mut rng = SeededRng::new([3; 32]);
        let entry = [5u8; 300];
        let n = 800;
        let (mut ok, mut failed) = (true, false);
        for _ in 0..ROUNDS {
            self.sign.push(per_op(n, |i| {
                let mut m = message;
                m[0] = i as u8;
                std::hint::black_box(key.sign(&m));
            }));
            self.verify
                .push(per_op(n, |_| ok &= public.verify(&message, &signature)));
            self.seal.push(per_op(n / 2, |_| {
                failed |= seal(&recipient, b"header", &summary, &mut rng).is_err();
            }));
            self.hash.push(per_op(n * 4, |i| {
                std::hint::black_box(sha256(&[&entry, &i.to_be_bytes()]));
            }));
        }
        anyhow::ensure!(ok, "the floor's own signature does not verify");
        anyhow::ensure!(!failed, "the floor's sealing failed");
        Ok(())
    }

    /// The floor from every round timed so far, for a machine of `cores` cores.
    pub fn floor(&self, cores: usize) -> CryptoFloor {
        let (sign_s, verify_s, seal_s, hash_s) = (
            median(&self.sign),
            median(&self.verify),
            median(&self.seal),
            median(&self.hash),
        );
        let exchange_s = f64::from(SIGNATURES) * sign_s
            + f64::from(VERIFICATIONS) * verify_s
            + f64::from(SEALS) * seal_s
            + f64::from(HASHES) * hash_s;
        CryptoFloor {
            sign_s,
            verify_s,
            seal_s,
            hash_s,
            exchange_s,
            ceiling_per_s: cores as f64 / exchange_s,
            path_s: f64::from(PATH_SIGNATURES) * sign_s
                + f64::from(PATH_VERIFICATIONS) * verify_s
                + f64::from(SEALS) * seal_s,
        }
    }
}

/// Durable commits to a WAL store with `synchronous = FULL`, as the node's store is opened:
/// one row per commit (the latency floor), then 32 rows per commit (grouped throughput).
pub fn commits(dir: &std::path::Path, n: usize) -> anyhow::Result<(Latencies, Row)> {
    let conn = rusqlite::Connection::open(dir.join("floor.db")).context("opening bench store")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")?;
    let body = vec![0u8; 400];
    let mut single = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        conn.execute("INSERT INTO t (body) VALUES (?1)", [&body])?;
        single.push(start.elapsed());
    }
    let groups = n / 4;
    let start = Instant::now();
    for _ in 0..groups {
        let tx = conn.unchecked_transaction()?;
        for _ in 0..32 {
            tx.execute("INSERT INTO t (body) VALUES (?1)", [&body])?;
        }
        tx.commit()?;
    }
    let grouped = Row::new(
        "sqlite: durable commits of 32 rows",
        groups * 32,
        1,
        start.elapsed(),
    );
    Ok((Latencies::of(single), grouped))
}

/// Admits every key: the floor's server is a bare echo, with no roster.
struct Anyone;
impl daemon::transport::Admission for Anyone {
    fn admits(&self, _: &PublicKey) -> bool {
        true
    }
}

const ALPN: &[u8] = b"passerelle-bench";

/// A quinn endpoint with the node's TLS configuration that echoes each stream's bytes back
/// as one frame, as a node's cheapest reply would travel.
pub struct EchoServer {
    pub endpoint: quinn::Endpoint,
    pub key: SigningKey,
    task: tokio::task::JoinHandle<()>,
}

impl EchoServer {
    pub fn start() -> anyhow::Result<EchoServer> {
        let key = SigningKey::from_seed([11; 32]);
        let cfg = daemon::transport::server_config(&key, &[], Arc::new(Anyone), &[ALPN])?;
        let endpoint = quinn::Endpoint::server(cfg, "127.0.0.1:0".parse()?)?;
        let ep = endpoint.clone();
        let task = tokio::spawn(async move {
            while let Some(incoming) = ep.accept().await {
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                        tokio::spawn(async move {
                            if let Ok(body) = recv.read_to_end(1 << 20).await {
                                let mut frame = (body.len() as u32).to_be_bytes().to_vec();
                                frame.extend_from_slice(&body);
                                let _ = send.write_all(&frame).await;
                                let _ = send.finish();
                            }
                        });
                    }
                });
            }
        });
        Ok(EchoServer {
            endpoint,
            key,
            task,
        })
    }

    pub async fn connect(&self, client: &SigningKey) -> anyhow::Result<quinn::Connection> {
        let endpoint = daemon::transport::client_endpoint("127.0.0.1:0".parse()?)?;
        self.connect_from(&endpoint, client).await
    }

    pub async fn connect_from(
        &self,
        endpoint: &quinn::Endpoint,
        client: &SigningKey,
    ) -> anyhow::Result<quinn::Connection> {
        let cfg = daemon::transport::client_config(client, self.key.public(), ALPN)?;
        daemon::transport::connect(endpoint, cfg, self.endpoint.local_addr()?).await
    }

    pub fn stop(self) {
        self.endpoint.close(0u32.into(), b"bench done");
        self.task.abort();
    }
}

/// Sequential round trips of a `size`-byte request on fresh streams of one connection.
pub async fn round_trips(
    conn: &quinn::Connection,
    n: usize,
    size: usize,
) -> anyhow::Result<Latencies> {
    let body = vec![0u8; size];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        daemon::transport::request_raw(conn, &body)
            .await
            .context("bare round trip")?;
        out.push(start.elapsed());
    }
    Ok(Latencies::of(out))
}

/// Full mutual-TLS handshakes of `n` distinct client keys, `concurrency` at a time, from one
/// client endpoint; returns the wall time.
pub async fn handshakes(
    server: &EchoServer,
    keys: &[SigningKey],
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let addr = server.endpoint.local_addr()?;
    let start = Instant::now();
    let (_endpoint, conns) =
        connect_all(addr, server.key.public(), ALPN, keys, concurrency).await?;
    let took = start.elapsed();
    for c in conns {
        c.close(0u32.into(), b"");
    }
    Ok(took)
}

/// Connects each of `keys` to the server at `addr` holding `server_key`, `concurrency`
/// handshakes at a time, from one client endpoint (returned, as the connections live on it).
pub async fn connect_all(
    addr: std::net::SocketAddr,
    server_key: PublicKey,
    alpn: &[u8],
    keys: &[SigningKey],
    concurrency: usize,
) -> anyhow::Result<(quinn::Endpoint, Vec<quinn::Connection>)> {
    let endpoint = daemon::transport::client_endpoint("127.0.0.1:0".parse()?)?;
    let mut conns = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(concurrency) {
        let mut set = tokio::task::JoinSet::new();
        for k in chunk {
            let cfg = daemon::transport::client_config(k, server_key, alpn)?;
            let endpoint = endpoint.clone();
            set.spawn(async move { daemon::transport::connect(&endpoint, cfg, addr).await });
        }
        while let Some(c) = set.join_next().await {
            conns.push(c??);
        }
    }
    Ok((endpoint, conns))
}
