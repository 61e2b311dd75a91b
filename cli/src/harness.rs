//! The example federation harness: a federation of real nodes on loopback, built with the
//! same steps an administrator follows (`federation init`, `node init`, the roster edited and
//! signed by the authorities, staff credentials issued), started, stopped and crashed, with the
//! sample records imported. `passerelle demo`, `passerelle bench` and the end-to-end tests run
//! on it.

use crate::client::Client;
use crate::credential::Credential;
use crate::{federation, setup};
use anyhow::{Context, bail};
use daemon::RunningNode;
use daemon::clock::now;
use protocol_spec::avs::Avs;
use protocol_spec::category::Category;
use protocol_spec::ids::{CaseId, InstitutionId, Purpose, Role, Sector};
use protocol_spec::keys::SigningKey;
use protocol_spec::staff::{ConsentDraft, StaffReply, StaffRequest};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// `examples/federation.toml`: the example federation's institutions, records and policy.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleSpec {
    pub name: String,
    pub authorities: u8,
    pub threshold: u8,
    /// Every member's log is witnessed by all the others; this many cosignatures make a quorum.
    pub witness_quorum: u8,
    pub institution: Vec<InstitutionSpec>,
    pub policy: Vec<PolicySpec>,
    /// Measures, grid fields and threshold of the monthly statistics, signed into the roster.
    #[serde(default)]
    pub statistics: Option<protocol_spec::stats::StatisticsConfig>,
    /// The coordination group's dashboard member, which the other members send their signed
    /// monthly reports to; a member only in [`ExampleSpec::with_dashboard`]'s federation.
    #[serde(default)]
    pub dashboard: Option<InstitutionSpec>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionSpec {
    pub id: InstitutionId,
    pub name: String,
    pub sector: Sector,
    /// Record files, relative to the examples directory.
    #[serde(default)]
    pub records: Vec<PathBuf>,
    /// Placements file, relative to the examples directory.
    #[serde(default)]
    pub placements: Option<PathBuf>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub sector: Sector,
    pub purpose: Purpose,
    pub categories: Vec<Category>,
}

impl ExampleSpec {
    pub fn load() -> anyhow::Result<ExampleSpec> {
        let path = examples_dir()?.join("federation.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is invalid", path.display()))
    }

    /// The example with its dashboard member added to the federation and named in the
    /// roster's statistics declaration (`passerelle demo`, the dashboard tests).
    pub fn with_dashboard(mut self) -> anyhow::Result<ExampleSpec> {
        let d = self
            .dashboard
            .take()
            .context("examples/federation.toml has no [dashboard] member")?;
        let stats = self
            .statistics
            .as_mut()
            .context("examples/federation.toml declares no statistics")?;
        stats.dashboard = Some(d.id.clone());
        self.institution.push(d);
        Ok(self)
    }
}

pub struct NodeHandle {
    pub id: InstitutionId,
    pub dir: PathBuf,
    pub running: Option<RunningNode>,
    /// The node's own `passerelled` process, when the federation was created with
    /// [`Launch::Processes`] (the benchmark measures each node's CPU separately).
    pub process: Option<std::process::Child>,
    pub admin: Credential,
    pub worker: Credential,
    pub auditor: Credential,
}

impl NodeHandle {
    pub fn signing_key(&self) -> anyhow::Result<SigningKey> {
        let text = std::fs::read_to_string(self.dir.join("keys/signing.key"))?;
        Ok(SigningKey::from_file(&text)?)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("node.toml")
    }

    /// Starts the node. Restarted in the same process, its UDP port is released by the QUIC
    /// driver of the previous run once that run's connections have drained after `stop`: a few
    /// milliseconds, or seconds for a connection caught in its handshake (its probe timeout
    /// has not come down from the initial estimate yet). The bind is retried meanwhile.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let mut attempts = 0;
        loop {
            let cfg = daemon::config::NodeConfig::load(&self.config_path())?;
            match daemon::start(cfg, CancellationToken::new()).await {
                Ok(r) => {
                    self.running = Some(r);
                    return Ok(());
                }
                Err(e) if attempts < 200 && format!("{e:#}").contains("in use") => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts the node as its own `passerelled` process, logging to `passerelled.log` in its
    /// directory, and waits until it answers its administrator. Its input is a pipe this
    /// process holds: when this process ends, even killed, the pipe closes and the node stops.
    pub async fn spawn(&mut self, exe: &Path) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.join("passerelled.log"))?;
        let child = std::process::Command::new(exe)
            .arg("--config")
            .arg(self.config_path())
            .arg("--exit-with-stdin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        self.process = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match call(&self.admin, StaffRequest::WhoAmI).await {
                Ok(_) => return Ok(()),
                Err(e) if std::time::Instant::now() > deadline => {
                    return Err(e.context(format!("{} did not start", self.id)));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        // A separate process is killed: its store is as consistent as after a power loss.
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Stops the node without telling its peers, as a crash would.
    pub async fn crash(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop_silently().await;
        }
    }
}

/// A node process still running when its handle goes (an error, a panic, an interrupted
/// command) is killed, so that no node outlives the federation whose directory is removed.
impl Drop for NodeHandle {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// Where the example federation's nodes run.
pub enum Launch {
    /// In this process, through `daemon::start` (tests, demo).
    InProcess,
    /// Each as its own process of the given `passerelled` binary.
    Processes(PathBuf),
}

pub struct ExampleFederation {
    pub dir: PathBuf,
    pub nodes: Vec<NodeHandle>,
    pub authority_keys: Vec<PathBuf>,
    pub roster: PathBuf,
}

/// The ports nodes of an example federation listen on: below Linux's ephemeral range (32768
/// and up). A port taken from that range is free only until a socket bound to port 0 (a
/// client's, in this process or another) is given it, which happened between a node's
/// configuration and its start, or while it restarted.
const NODE_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// Finds a free UDP port on loopback for a node to listen on, from a random place in
/// [`NODE_PORTS`], never one this process handed out before.
pub fn free_port() -> anyhow::Result<std::net::SocketAddr> {
    free_from(|port| std::net::UdpSocket::bind(("127.0.0.1", port))?.local_addr())
}

/// A free TCP port on loopback, as [`free_port`]: for a node's observability endpoint.
pub fn free_tcp_port() -> anyhow::Result<std::net::SocketAddr> {
    free_from(|port| std::net::TcpListener::bind(("127.0.0.1", port))?.local_addr())
}

fn free_from(
    bind: impl Fn(u16) -> std::io::Result<std::net::SocketAddr>,
) -> anyhow::Result<std::net::SocketAddr> {
    use std::hash::{BuildHasher, Hasher};
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let span = u64::from(NODE_PORTS.end - NODE_PORTS.start);
    // Randomly seeded for each process: processes running side by side start apart.
    let start = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let mut given = GIVEN.lock().unwrap();
    for i in 0..span {
        let port = NODE_PORTS.start + ((start.wrapping_add(i)) % span) as u16;
        if given.contains(&port) {
            continue;
        }
        if let Ok(addr) = bind(port) {
            given.insert(port);
            return Ok(addr);
        }
    }
    anyhow::bail!("no free port on loopback from {NODE_PORTS:?}")
}

impl ExampleFederation {
    /// Creates the federation, its nodes and credentials under `dir`, signs the roster with the
    /// threshold of authorities, and starts every node in this process. Records are not
    /// imported.
    pub async fn create(dir: &Path, spec: &ExampleSpec) -> anyhow::Result<ExampleFederation> {
        Self::create_with(dir, spec, &Launch::InProcess).await
    }

    /// Like [`ExampleFederation::create`], starting the nodes as `launch` says.
    pub async fn create_with(
        dir: &Path,
        spec: &ExampleSpec,
        launch: &Launch,
    ) -> anyhow::Result<ExampleFederation> {
        let specs = &spec.institution;
        let fed_dir = dir.join("steering");
        let init = federation::init(
            &fed_dir,
            &spec.name,
            spec.authorities,
            spec.threshold,
            now(),
        )?;
        let anchor = federation::load_federation(&init.federation)?;
        let mut nodes = Vec::new();
        for s in specs {
            let node_dir = dir.join(s.id.as_str());
            let out = setup::node_init(&setup::NodeInit {
                institution: s.id.clone(),
                name: s.name.clone(),
                sector: s.sector.clone(),
                listen: free_port()?,
                address: None,
                federation: anchor.clone(),
                dir: node_dir.clone(),
            })?;
            federation::edit(&init.roster, now(), |r| {
                federation::add_member(r, out.member_entry.clone())
            })?;
            nodes.push(node_dir);
        }
        federation::edit(&init.roster, now(), |r| {
            r.statistics = spec.statistics.clone().map(Box::new);
            for p in &spec.policy {
                federation::allow(r, p.sector.clone(), p.purpose.clone(), p.categories.clone());
            }
            let ids: Vec<InstitutionId> = r.members.iter().map(|m| m.id.clone()).collect();
            for id in &ids {
                let others = ids.iter().filter(|o| *o != id).cloned().collect();
                federation::set_witnesses(r, id, others, spec.witness_quorum)?;
            }
            Ok(())
        })?;
        // The first and last authorities sign: any threshold-sized subset would do.
        for key in init.keys.iter().rev().take(usize::from(spec.threshold)) {
            federation::sign(&init.roster, key)?;
        }
        let mut handles = Vec::new();
        for (s, node_dir) in specs.iter().zip(nodes) {
            std::fs::copy(&init.roster, node_dir.join("roster.toml"))?;
            let admin = Credential::load(&node_dir.join("admin.cred"))?;
            let mut h = NodeHandle {
                id: s.id.clone(),
                dir: node_dir.clone(),
                running: None,
                process: None,
                worker: issue_local(&admin, "case-worker-1", Role::CaseWorker),
                auditor: issue_local(&admin, "auditor-1", Role::Auditor),
                admin,
            };
            match launch {
                Launch::InProcess => h.start().await,
                Launch::Processes(exe) => h.spawn(exe).await,
            }
            .with_context(|| format!("starting {}", s.id))?;
            for cred in [&h.worker, &h.auditor] {
                call(
                    &h.admin,
                    StaffRequest::StaffIssue {
                        staff: cred.staff.clone(),
                        role: cred.role,
                        key: cred.key.public(),
                    },
                )
                .await?;
            }
            handles.push(h);
        }
        Ok(ExampleFederation {
            dir: dir.to_path_buf(),
            nodes: handles,
            authority_keys: init.keys,
            roster: init.roster,
        })
    }

    pub fn node(&self, id: &str) -> &NodeHandle {
        self.nodes
            .iter()
            .find(|n| n.id.as_str() == id)
            .expect("node of the example federation")
    }

    pub fn node_mut(&mut self, id: &str) -> &mut NodeHandle {
        self.nodes
            .iter_mut()
            .find(|n| n.id.as_str() == id)
            .expect("node of the example federation")
    }

    pub async fn stop(&mut self) {
        for n in &mut self.nodes {
            n.stop().await;
        }
    }

    /// Imports each institution's sample records through its administrator, as
    /// `passerelle records import` does.
    pub async fn import_records(
        &self,
        spec: &ExampleSpec,
    ) -> anyhow::Result<Vec<(InstitutionId, u64, u64)>> {
        let examples = examples_dir()?;
        let mut out = Vec::new();
        for s in spec.institution.iter().filter(|s| !s.records.is_empty()) {
            let paths: Vec<PathBuf> = s.records.iter().map(|f| examples.join(f)).collect();
            let set = crate::records::read_records(&paths)?;
            match call(
                &self.node(s.id.as_str()).admin,
                StaffRequest::ImportRecords(set),
            )
            .await?
            {
                StaffReply::Imported { persons, fields } => {
                    out.push((s.id.clone(), persons, fields))
                }
                other => bail!("unexpected reply {other:?}"),
            }
        }
        Ok(out)
    }
}

impl ExampleFederation {
    /// Imports each institution's sample placements through its administrator, as
    /// `passerelle records import-placements` does; after the records.
    pub async fn import_placements(
        &self,
        spec: &ExampleSpec,
    ) -> anyhow::Result<Vec<(InstitutionId, u64)>> {
        let examples = examples_dir()?;
        let mut out = Vec::new();
        for s in &spec.institution {
            let Some(file) = &s.placements else { continue };
            let set = crate::records::read_placements(&examples.join(file))?;
            match call(
                &self.node(s.id.as_str()).admin,
                StaffRequest::ImportPlacements(set),
            )
            .await?
            {
                StaffReply::PlacementsImported { placements } => {
                    out.push((s.id.clone(), placements))
                }
                other => bail!("unexpected reply {other:?}"),
            }
        }
        Ok(out)
    }
}

fn issue_local(admin: &Credential, staff: &str, role: Role) -> Credential {
    Credential::new(
        staff.parse().expect("staff id"),
        admin.institution.clone(),
        role,
        admin.node_address.clone(),
        admin.node_key,
        SigningKey::from_seed(daemon::clock::random()),
    )
}

/// One staff request on a fresh connection, as the CLI makes it.
pub async fn call(cred: &Credential, req: StaffRequest) -> anyhow::Result<StaffReply> {
    let c = Client::connect(cred).await?;
    let r = c.call(req).await;
    c.close();
    r
}

/// The examples/ directory, found from the working directory or the crate's location.
pub fn examples_dir() -> anyhow::Result<PathBuf> {
    let candidates = [
        PathBuf::from("examples"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
    ];
    let found = candidates
        .into_iter()
        .find(|p| p.join("records").is_dir())
        .context("cannot find the examples/ directory (run from the repository root)")?;
    // Paths shown to the user read `/…/examples/…`, not `…/cli/../examples/…`.
    Ok(found.canonicalize().unwrap_or(found))
}

/// Opens a coordinated case at the credential's node, inviting `invite`.
pub async fn open_case(
    worker: &Credential,
    person: Avs,
    invite: Vec<InstitutionId>,
) -> anyhow::Result<CaseId> {
    match call(worker, StaffRequest::CaseOpen { person, invite }).await? {
        StaffReply::CaseOpened { case_id, .. } => Ok(case_id),
        other => bail!("unexpected reply {other:?}"),
    }
}

/// Records a consent between `between` for one purpose and `categories`, valid `valid`.
pub async fn record_consent(
    worker: &Credential,
    case_id: CaseId,
    between: &[&InstitutionId],
    purpose: &str,
    categories: &[Category],
    valid: (u64, u64),
) -> anyhow::Result<()> {
    call(
        worker,
        StaffRequest::ConsentRecord(ConsentDraft {
            case_id,
            participants: between.iter().map(|i| (*i).clone()).collect(),
            purposes: vec![purpose.parse()?],
            categories: categories.to_vec(),
            valid_from: valid.0,
            valid_until: valid.1,
            form_digest: None,
        }),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo prints paths under the examples directory: no `cli/../` in them.
    #[test]
    fn the_examples_directory_is_a_plain_path() {
        let dir = examples_dir().unwrap();
        assert!(
            dir.is_absolute()
                && !dir
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir)),
            "{}",
            dir.display()
        );
        assert!(dir.join("records").is_dir());
    }

    #[test]
    fn node_ports_are_distinct_and_outside_the_ephemeral_range() {
        let ports: std::collections::BTreeSet<u16> = (0..300)
            .map(|i| {
                let addr = if i % 2 == 0 {
                    free_port()
                } else {
                    free_tcp_port()
                };
                addr.expect("a free port").port()
            })
            .collect();
        assert_eq!(ports.len(), 300, "a port handed out twice");
        assert!(ports.iter().all(|p| NODE_PORTS.contains(p)), "{ports:?}");
    }
}
