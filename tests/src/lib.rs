//! The end-to-end suite's helpers, on the example federation harness (`cli::harness`: real
//! nodes on loopback, built with the same commands an administrator uses): a federation with
//! its records imported, cases, consents and requests in one call, and raw peer access for
//! adversarial tests.
#![forbid(unsafe_code)]

pub mod captured_log;
pub mod disk;

use anyhow::bail;
use cli::credential::Credential;
pub use cli::harness::{ExampleFederation, ExampleSpec, NodeHandle, call};
use protocol_spec::avs::Avs;
use protocol_spec::category::Category;
use protocol_spec::exchange::SummaryRequest;
use protocol_spec::ids::RequestId;
use protocol_spec::ids::{CaseId, ConsentId, InstitutionId, Role};
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{PEER_ALPN, PeerMessage, PeerReply};
use protocol_spec::staff::{ConsentDraft, StaffReply, StaffRequest, SummaryOutcome};
use std::path::PathBuf;

pub const DAY: u64 = 86400;

/// The wall clock, as the nodes read it.
pub use daemon::clock::now;

pub fn records_dir() -> PathBuf {
    cli::harness::examples_dir()
        .expect("examples dir")
        .join("records")
}

/// The person followed by all three institutions of the example.
pub fn shared_person() -> Avs {
    read_avs("demo-person.txt")
}

/// A person known only at ne.sas.
pub fn sas_only_person() -> Avs {
    read_avs("sas-only-person.txt")
}

fn read_avs(file: &str) -> Avs {
    std::fs::read_to_string(records_dir().join(file))
        .expect("example person file")
        .trim()
        .parse()
        .expect("valid AVS in example")
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub fed: ExampleFederation,
}

impl Setup {
    /// Three nodes with the example records imported.
    pub async fn new() -> Setup {
        Setup::of(ExampleSpec::load().expect("examples/federation.toml")).await
    }

    /// The three institutions and the dashboard member `ne.cii`, records imported.
    pub async fn with_dashboard() -> Setup {
        let spec = ExampleSpec::load()
            .and_then(ExampleSpec::with_dashboard)
            .expect("examples/federation.toml with its dashboard");
        Setup::of(spec).await
    }

    /// The federation `spec` describes, started, with its records imported.
    async fn of(spec: ExampleSpec) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let fed = ExampleFederation::create(dir.path(), &spec)
            .await
            .expect("federation starts");
        fed.import_records(&spec)
            .await
            .expect("example records import");
        Setup { dir, fed }
    }

    /// A coordinator credential at `node` (key from `seed`), registered by its administrator.
    pub async fn coordinator(&self, node: &str, seed: u8) -> Credential {
        let admin = &self.node(node).admin;
        let cred = Credential::new(
            "coordinator-1".parse().expect("staff id"),
            admin.institution.clone(),
            Role::Coordinator,
            admin.node_address.clone(),
            admin.node_key,
            SigningKey::from_seed([seed; 32]),
        );
        call(
            admin,
            StaffRequest::StaffIssue {
                staff: cred.staff.clone(),
                role: Role::Coordinator,
                key: cred.key.public(),
            },
        )
        .await
        .expect("coordinator issued");
        cred
    }

    pub fn node(&self, id: &str) -> &NodeHandle {
        self.fed.node(id)
    }

    pub fn id(&self, id: &str) -> InstitutionId {
        id.parse().expect("institution id")
    }

    /// Opens a case at `opener` for `person`, invites the others, and has them accept.
    pub async fn case(&self, opener: &str, person: Avs, participants: &[&str]) -> CaseId {
        let invite: Vec<InstitutionId> = participants.iter().map(|p| self.id(p)).collect();
        let case_id = match call(
            &self.node(opener).worker,
            StaffRequest::CaseOpen { person, invite },
        )
        .await
        .expect("open case")
        {
            StaffReply::CaseOpened { case_id, delivered } => {
                assert!(
                    delivered.iter().all(|d| d.delivered),
                    "invitations delivered: {delivered:?}"
                );
                case_id
            }
            other => panic!("unexpected {other:?}"),
        };
        for p in participants {
            call(&self.node(p).worker, StaffRequest::CaseAccept { case_id })
                .await
                .expect("accept");
        }
        case_id
    }

    pub async fn consent(
        &self,
        at: &str,
        case_id: CaseId,
        between: &[&str],
        purposes: &[&str],
        categories: &[Category],
        valid: (u64, u64),
    ) -> ConsentId {
        let reply = call(
            &self.node(at).worker,
            StaffRequest::ConsentRecord(ConsentDraft {
                case_id,
                participants: between.iter().map(|p| self.id(p)).collect(),
                purposes: purposes
                    .iter()
                    .map(|p| p.parse().expect("purpose"))
                    .collect(),
                categories: categories.to_vec(),
                valid_from: valid.0,
                valid_until: valid.1,
                form_digest: None,
            }),
        )
        .await
        .expect("record consent");
        match reply {
            StaffReply::ConsentRecorded {
                consent_id,
                delivered,
            } => {
                assert!(
                    delivered.iter().all(|d| d.delivered),
                    "consent delivered: {delivered:?}"
                );
                consent_id
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A case worker's summary request, as the CLI sends it; the node's answer or error.
    pub async fn try_request(
        &self,
        requester: &str,
        from: &str,
        purpose: &str,
        categories: &[Category],
        case_id: CaseId,
    ) -> anyhow::Result<StaffReply> {
        call(
            &self.node(requester).worker,
            StaffRequest::SummaryRequest {
                case_id,
                from: self.id(from),
                purpose: purpose.parse().expect("purpose"),
                categories: categories.to_vec(),
            },
        )
        .await
    }

    pub async fn request(
        &self,
        requester: &str,
        from: &str,
        purpose: &str,
        categories: &[Category],
        case_id: CaseId,
    ) -> SummaryOutcome {
        match self
            .try_request(requester, from, purpose, categories, case_id)
            .await
            .expect("summary request")
        {
            StaffReply::Summary(o) => o,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A raw QUIC connection to `to`, authenticated with `key` as a peer node would be.
    pub async fn raw_peer(&self, key: &SigningKey, to: &str) -> anyhow::Result<quinn::Connection> {
        let target = self.node(to);
        let endpoint = daemon::transport::client_endpoint("127.0.0.1:0".parse()?)?;
        let cfg = daemon::transport::client_config(key, target.admin.node_key, PEER_ALPN)?;
        let addr = daemon::transport::resolve(&target.admin.node_address).await?;
        let conn = daemon::transport::connect(&endpoint, cfg, addr).await?;
        // In TLS 1.3 the server judges the client certificate after the client considers the
        // handshake done, so only a round trip tells whether the key was admitted. An empty
        // frame is answered with a rejection by a node that admitted us.
        match daemon::transport::request_raw(&conn, &[0, 0, 0, 0]).await {
            Ok(_) => Ok(conn),
            Err(e) => bail!("connection refused: {e}"),
        }
    }

    pub async fn stop(mut self) {
        self.fed.stop().await;
    }

    /// A summary request for employment data, signed by `as_node`'s own key, sent straight to
    /// `to` as a peer would, bypassing the requester's node.
    pub fn signed_request(
        &self,
        key: &SigningKey,
        as_node: &str,
        to: &str,
        case: CaseId,
    ) -> PeerMessage {
        PeerMessage::Summary(
            SummaryRequest {
                request_id: RequestId(daemon::clock::random()),
                requester: self.id(as_node),
                responder: self.id(to),
                case_id: case,
                purpose: "coordinated-assessment".parse().expect("purpose"),
                categories: vec![Category::Employment],
                issued_at: now(),
            }
            .sign(key),
        )
    }

    /// [`Setup::signed_request`] sent on a fresh connection; the decoded reply.
    pub async fn request_raw_case(&self, as_node: &str, to: &str, case: CaseId) -> PeerReply {
        let key = self.node(as_node).signing_key().expect("node key");
        let conn = self.raw_peer(&key, to).await.expect("peer connection");
        daemon::transport::request(&conn, &self.signed_request(&key, as_node, to, case))
            .await
            .expect("reply")
    }

    /// [`Setup::signed_request`] sent on a fresh connection; the reply's raw bytes.
    pub async fn raw_bytes(&self, as_node: &str, to: &str, case: CaseId) -> Vec<u8> {
        let key = self.node(as_node).signing_key().expect("node key");
        let conn = self.raw_peer(&key, to).await.expect("peer connection");
        let frame =
            protocol_spec::wire::encode_frame(&self.signed_request(&key, as_node, to, case))
                .expect("frame");
        daemon::transport::request_raw(&conn, &frame)
            .await
            .expect("reply")
    }
}

/// Copies a directory tree (a node's directory, an audit bundle), skipping `skip` names.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path, skip: &[&str]) {
    std::fs::create_dir_all(to).expect("create copy");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("dir entry");
        if skip.iter().any(|s| e.file_name() == *s) {
            continue;
        }
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target, skip);
        } else {
            std::fs::copy(e.path(), &target).expect("copy file");
        }
    }
}

/// The entries of a node's log, read from its store (WAL allows reading while the node runs).
pub fn log_entries(node: &NodeHandle) -> Vec<protocol_spec::entry::LogEntry> {
    let db = node_core::store::open(&node.dir.join("data/node.db")).expect("node store");
    let mut st = db
        .prepare("SELECT entry FROM log_entries ORDER BY idx")
        .expect("query");
    st.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .expect("entries")
        .map(|e| protocol_spec::entry::LogEntry::parse(&e.expect("entry")).expect("entry parses"))
        .collect()
}

/// The kinds of the entries in a node's log.
pub fn log_kinds(node: &NodeHandle) -> Vec<String> {
    log_entries(node)
        .iter()
        .map(|e| e.kind().to_string())
        .collect()
}

/// What `passerelle audit reconcile` finds between two nodes' logs, read from their stores:
/// every disclosure without its receipt and every receipt without its disclosure.
pub fn reconcile(a: &NodeHandle, b: &NodeHandle) -> Vec<protocol_spec::audit::Difference> {
    let view = |n: &NodeHandle| protocol_spec::audit::LogView {
        institution: n.id.to_string(),
        entries: log_entries(n),
    };
    protocol_spec::audit::reconcile(&view(a), &view(b))
}

/// Polls `check` every 200 ms for up to `seconds`; true once it held.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..seconds * 5 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

/// Debian's chromium, to test the dashboard in a real browser. Without it the test fails,
/// saying how to install it, so that CI never skips it silently.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "chromium is needed to test the dashboard in a real browser: \
             `sudo apt-get install -y --no-install-recommends chromium` (`.ci/run` installs it)",
        )
}

/// Runs Debian's chromium headless on an HTML file with `extra` arguments (`--dump-dom`,
/// `--screenshot=…`), in a profile of its own; fails the test if chromium does.
pub fn chromium_on(html: &std::path::Path, extra: &[String]) -> std::process::Output {
    let profile = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The DOM of an HTML file as Debian's chromium renders it, headless.
pub fn chromium_dom(html: &std::path::Path) -> String {
    let out = chromium_on(html, &["--dump-dom".to_string()]);
    String::from_utf8(out.stdout).expect("UTF-8 DOM")
}

/// The node's outbox length, as its status reports it.
pub async fn outbox_len(node: &NodeHandle) -> u64 {
    match call(&node.admin, StaffRequest::Status)
        .await
        .expect("status")
    {
        StaffReply::Status(s) => s.outbox,
        other => panic!("unexpected {other:?}"),
    }
}

/// Whether this process may mount a tmpfs, and why not if it may not.
pub fn can_mount() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let probe = dir.path().join("probe");
    disk::Disk::tmpfs(&probe, 1 << 20).map(drop)
}

/// Whether this process may mount an ext4 image on a loop device and have the kernel fail it
/// ([`disk::Disk::fail`]), and why not if it may not.
pub fn can_fail_ext4() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let probe = dir.path().join("probe");
    disk::Disk::ext4(&probe, 16 << 20)?
        .error_trigger()
        .map(drop)
}
