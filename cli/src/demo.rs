//! `passerelle demo` and the harness behind it: builds an example federation of real nodes on
//! loopback with the same steps an administrator follows, then walks through exchanges.

use crate::client::Client;
use crate::credential::Credential;
use crate::{federation, setup};
use anyhow::{Context, bail};
use daemon::RunningNode;
use protocol_spec::avs::Avs;
use protocol_spec::category::Category;
use protocol_spec::ids::{CaseId, InstitutionId, Purpose, Role, Sector};
use protocol_spec::keys::SigningKey;
use protocol_spec::staff::{ConsentDraft, StaffReply, StaffRequest, SummaryOutcome};
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
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionSpec {
    pub id: InstitutionId,
    pub name: String,
    pub sector: Sector,
    /// Record files, relative to the examples directory.
    pub records: Vec<PathBuf>,
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
}

pub struct NodeHandle {
    pub id: InstitutionId,
    pub dir: PathBuf,
    pub running: Option<RunningNode>,
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
    /// driver of the previous run a few milliseconds after `stop`: the bind is retried briefly.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let mut attempts = 0;
        loop {
            let cfg = daemon::config::NodeConfig::load(&self.config_path())?;
            match daemon::start(cfg, CancellationToken::new()).await {
                Ok(r) => {
                    self.running = Some(r);
                    return Ok(());
                }
                Err(e) if attempts < 40 && format!("{e:#}").contains("in use") => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    /// Stops the node without telling its peers, as a crash would.
    pub async fn crash(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop_silently().await;
        }
    }
}

pub struct ExampleFederation {
    pub dir: PathBuf,
    pub nodes: Vec<NodeHandle>,
    pub authority_keys: Vec<PathBuf>,
    pub roster: PathBuf,
}

/// Finds a free UDP port on loopback for a node to listen on.
pub fn free_port() -> anyhow::Result<std::net::SocketAddr> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
    Ok(s.local_addr()?)
}

pub fn now() -> u64 {
    daemon::clock::now()
}

impl ExampleFederation {
    /// Creates the federation, its nodes and credentials under `dir`, signs the roster with the
    /// threshold of authorities, and starts every node. Records are not imported.
    pub async fn create(dir: &Path, spec: &ExampleSpec) -> anyhow::Result<ExampleFederation> {
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
                worker: issue_local(&admin, "case-worker-1", Role::CaseWorker),
                auditor: issue_local(&admin, "auditor-1", Role::Auditor),
                admin,
            };
            h.start()
                .await
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
        for s in &spec.institution {
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
    candidates
        .into_iter()
        .find(|p| p.join("records").is_dir())
        .context("cannot find the examples/ directory (run from the repository root)")
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

struct Narrator {
    json: bool,
    steps: Vec<serde_json::Value>,
}

impl Narrator {
    fn say(&mut self, text: &str) {
        if !self.json {
            // Narration only: a closed pipe is handled inside, and the closing line reports
            // any other write failure.
            let _ = crate::outln!("{text}");
        }
    }

    fn outcome(
        &mut self,
        what: &str,
        expect_granted: bool,
        o: &SummaryOutcome,
    ) -> anyhow::Result<()> {
        let (granted, detail) = match o {
            SummaryOutcome::Received(s) => (
                true,
                format!("GRANTED: sealed summary {} received", s.summary_id),
            ),
            SummaryOutcome::Refused { code } => (
                false,
                format!("REFUSED: {} ({})", code.as_str(), code.explain()),
            ),
            SummaryOutcome::Queued => (false, "QUEUED: responder unreachable".into()),
        };
        self.say(&format!("    -> {detail}"));
        self.steps
            .push(serde_json::json!({ "step": what, "outcome": o }));
        if granted != expect_granted {
            bail!("demo step `{what}` did not turn out as the rule says it must");
        }
        Ok(())
    }
}

pub async fn run(keep: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = match &keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let examples = examples_dir()?;
    let mut n = Narrator {
        json,
        steps: vec![],
    };
    n.say("Passerelle demo: an example federation of three institutions on loopback\n");
    n.say("1. Steering group creates federation `ne-cii` (3 authority keys, 2 must sign),");
    n.say("   adds the three institutions and the exchange policy, and signs the roster (2 of 3).");
    let spec = ExampleSpec::load()?;
    let mut fed = ExampleFederation::create(&dir, &spec).await?;
    for node in &fed.nodes {
        n.say(&format!(
            "   node {} listening on {}",
            node.id, node.admin.node_address
        ));
    }
    let result = walkthrough(&mut n, &fed, &spec, &examples).await;
    fed.stop().await;
    result?;
    if json {
        crate::output::document("demo", serde_json::json!({ "steps": n.steps }))?;
    } else {
        crate::outln!(
            "\nDemo complete: one exchange granted, every other refused as the rule requires."
        )?;
        if let Some(d) = keep {
            crate::outln!(
                "Files kept in {} (configs, keys, stores and logs).",
                d.display()
            )?;
        }
    }
    Ok(())
}

async fn walkthrough(
    n: &mut Narrator,
    fed: &ExampleFederation,
    spec: &ExampleSpec,
    examples: &Path,
) -> anyhow::Result<()> {
    let (orp, oai, sas) = (fed.node("ne.orp"), fed.node("ne.oai"), fed.node("ne.sas"));
    n.say("\n2. Administrators import their institution's own records from examples/records.");
    let records = examples.join("records");
    for (id, persons, fields) in fed.import_records(spec).await? {
        n.say(&format!("   {id}: {persons} persons, {fields} fields"));
    }
    match crate::records::read_records(&[records.join("bad-persons.csv")]) {
        Err(e) => n.say(&format!(
            "   a faulty file is rejected whole, with each bad row named:\n   {}",
            format!("{e:#}").replace('\n', "\n   ")
        )),
        Ok(_) => bail!("the faulty example file was accepted"),
    }

    let person: Avs = std::fs::read_to_string(records.join("demo-person.txt"))
        .context("examples/records/demo-person.txt")?
        .trim()
        .parse()?;
    n.say(
        "\n3. A case worker at ne.oai opens a coordinated case for a person followed by all three,",
    );
    n.say("   inviting ne.orp and ne.sas; ne.orp accepts from its own node (ne.sas has not yet).");
    let case_id = open_case(
        &oai.worker,
        person.clone(),
        vec![orp.id.clone(), sas.id.clone()],
    )
    .await?;
    n.say(&format!("   case {case_id}"));
    call(&orp.worker, StaffRequest::CaseAccept { case_id }).await?;

    n.say("\n4. The person signs a consent form: ne.oai and ne.orp may exchange employment and measures");
    n.say("   for a coordinated assessment, valid for one year. It is recorded at ne.oai and propagated.");
    let today = now() / 86400 * 86400;
    call(
        &oai.worker,
        StaffRequest::ConsentRecord(ConsentDraft {
            case_id,
            participants: vec![oai.id.clone(), orp.id.clone()],
            purposes: vec!["coordinated-assessment".parse()?],
            categories: vec![Category::Employment, Category::Measures],
            valid_from: today,
            valid_until: today + 365 * 86400,
            form_digest: Some(protocol_spec::keys::sha256(&[b"scanned consent form"])),
        }),
    )
    .await?;

    let request =
        |worker: &Credential, from: &NodeHandle, purpose: &str, cats: &[Category], case: CaseId| {
            let req = StaffRequest::SummaryRequest {
                case_id: case,
                from: from.id.clone(),
                purpose: purpose.parse().expect("purpose"),
                categories: cats.to_vec(),
            };
            let worker = Credential::new(
                worker.staff.clone(),
                worker.institution.clone(),
                worker.role,
                worker.node_address.clone(),
                worker.node_key,
                SigningKey::from_seed(*worker.key.seed()),
            );
            async move {
                match call(&worker, req).await? {
                    StaffReply::Summary(o) => Ok(o),
                    other => bail!("unexpected reply {other:?}"),
                }
            }
        };

    n.say("\n5. ne.oai requests ne.orp's summary: employment,measures for coordinated-assessment.");
    let o = request(
        &oai.worker,
        orp,
        "coordinated-assessment",
        &[Category::Employment, Category::Measures],
        case_id,
    )
    .await?;
    n.outcome("granted exchange", true, &o)?;
    if let SummaryOutcome::Received(s) = &o
        && let StaffReply::Opened { summary, .. } = call(
            &oai.worker,
            StaffRequest::SummaryOpen {
                summary_id: s.summary_id,
            },
        )
        .await?
    {
        n.say("    opened by case-worker-1 at ne.oai (the opening is logged):");
        for (cat, fields) in &summary.categories {
            for f in fields {
                n.say(&format!("      [{cat}] {} = {}", f.field, f.value));
            }
        }
    }

    n.say("\n6. Requests the rule refuses:");
    n.say("  a) ne.oai asks for health data, which the consent does not cover:");
    let o = request(
        &oai.worker,
        orp,
        "coordinated-assessment",
        &[Category::Employment, Category::Health],
        case_id,
    )
    .await?;
    n.outcome("category outside consent", false, &o)?;
    n.say("  b) ne.oai asks for an action plan, a purpose the consent does not cover:");
    let o = request(
        &oai.worker,
        orp,
        "action-plan",
        &[Category::Measures],
        case_id,
    )
    .await?;
    n.outcome("purpose outside consent", false, &o)?;
    n.say("  c) ne.sas accepts the case, then asks ne.orp: the consent does not name ne.sas:");
    call(&sas.worker, StaffRequest::CaseAccept { case_id }).await?;
    let o = request(
        &sas.worker,
        orp,
        "coordinated-assessment",
        &[Category::Employment],
        case_id,
    )
    .await?;
    n.outcome("no consent", false, &o)?;
    n.say(
        "  d) a second consent covers ne.orp and ne.oai for health too, but the federation policy",
    );
    n.say("     does not let the employment sector receive health data:");
    record_consent(
        &oai.worker,
        case_id,
        &[&oai.id, &orp.id],
        "coordinated-assessment",
        &[Category::Health],
        (today, today + 30 * 86400),
    )
    .await?;
    let o = request(
        &orp.worker,
        oai,
        "coordinated-assessment",
        &[Category::Health],
        case_id,
    )
    .await?;
    n.outcome("outside policy", false, &o)?;
    n.say(
        "  e) ne.sas is in no case with ne.orp about another person it asks about: the refusal is",
    );
    n.say(
        "     the same whether the case exists or not, so nothing leaks about who ne.orp follows:",
    );
    let sas_only = std::fs::read_to_string(records.join("sas-only-person.txt"))?
        .trim()
        .parse()?;
    let sas_case = open_case(&sas.worker, sas_only, vec![]).await?;
    let o = request(
        &sas.worker,
        orp,
        "coordinated-assessment",
        &[Category::Employment],
        sas_case,
    )
    .await?;
    n.outcome("not concerned", false, &o)?;

    n.say("\n7. Every decision is in each node's signed transparency log:");
    for node in &fed.nodes {
        if let StaffReply::Checkpoint { note } =
            call(&node.auditor, StaffRequest::LogCheckpoint).await?
        {
            let size = note.lines().nth(1).unwrap_or("?");
            let cosignatures = note
                .lines()
                .filter(|l| l.starts_with('\u{2014}'))
                .count()
                .saturating_sub(1);
            n.say(&format!("   {}: {size} entries, checkpoint signed and cosigned by {cosignatures} peer witness(es)", node.id));
        }
    }
    Ok(())
}
