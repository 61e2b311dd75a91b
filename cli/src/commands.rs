//! Command-line definitions and their execution.

use crate::client::Client;
use crate::credential::Credential;
use crate::{dates, federation, render, setup};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use protocol_spec::avs::Avs;
use protocol_spec::category::Category;
use protocol_spec::ids::{
    CaseId, ConsentId, InstitutionId, Purpose, Role, Sector, StaffId, SummaryId,
};
use protocol_spec::keys::SigningKey;
use protocol_spec::records::RecordSet;
use protocol_spec::staff::{ConsentDraft, StaffReply, StaffRequest};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "passerelle",
    version,
    about = "Passerelle: consented, end-to-end encrypted case-summary exchange between social services"
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Staff credential file (issued by the institution's administrator).
    #[arg(long, global = true, env = "PASSERELLE_CREDENTIAL")]
    pub credential: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Steering group: authority keys, roster and exchange policy.
    #[command(subcommand)]
    Federation(FederationCmd),
    /// Institution administrator: create and inspect a node.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Institution administrator: issue and revoke staff credentials.
    #[command(subcommand)]
    Staff(StaffCmd),
    /// Institution administrator: install a newer signed roster at this node.
    #[command(subcommand)]
    Roster(RosterCmd),
    /// Institution administrator: import the institution's own records (CSV or JSON).
    #[command(subcommand)]
    Records(RecordsCmd),
    /// Case worker: coordinated cases.
    #[command(subcommand)]
    Case(CaseCmd),
    /// Case worker: the person's consent.
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Case worker: request, list and open summaries.
    #[command(subcommand)]
    Summary(SummaryCmd),
    /// Auditor: the node's transparency log.
    #[command(subcommand)]
    Log(LogCmd),
    /// Auditor: export, verify and reconcile logs; a person's access report.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Show who this credential belongs to.
    Whoami,
    /// Start an example federation of three nodes on loopback and walk through exchanges.
    Demo(DemoArgs),
    /// Benchmarks, each reported next to a baseline measured in the same run.
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Subcommand)]
pub enum FederationCmd {
    /// Create authority keys, federation.toml and an empty roster draft.
    Init {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 3)]
        authorities: u8,
        #[arg(long, default_value_t = 2)]
        threshold: u8,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Add a member from the member.toml its administrator produced.
    AddMember {
        #[arg(long)]
        roster: PathBuf,
        member: PathBuf,
    },
    /// Remove a member.
    RemoveMember {
        #[arg(long)]
        roster: PathBuf,
        institution: InstitutionId,
    },
    /// Let a sector receive categories for a purpose.
    Allow {
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        sector: Sector,
        #[arg(long)]
        purpose: Purpose,
        #[arg(long, value_delimiter = ',', required = true)]
        categories: Vec<Category>,
    },
    /// Set which members cosign a member's log checkpoints, and how many make a quorum.
    Witnesses {
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        institution: InstitutionId,
        #[arg(long, value_delimiter = ',', required = true)]
        witnesses: Vec<InstitutionId>,
        #[arg(long)]
        quorum: u8,
    },
    /// Start the next roster version from the current one (signatures are cleared).
    NewVersion {
        #[arg(long)]
        roster: PathBuf,
    },
    /// Add one authority's signature.
    Sign {
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
    /// Check a roster's signatures against the federation's authorities.
    Verify {
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        federation: PathBuf,
    },
    /// Print a roster.
    Show {
        #[arg(long)]
        roster: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum NodeCmd {
    /// Create keys (0600), a commented config, the member entry and the admin credential.
    Init {
        #[arg(long)]
        institution: InstitutionId,
        #[arg(long)]
        name: String,
        #[arg(long)]
        sector: Sector,
        #[arg(long)]
        listen: SocketAddr,
        /// Address peers use to reach the node, when it differs from --listen.
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        federation: PathBuf,
        #[arg(long)]
        dir: PathBuf,
    },
    /// Check a node config as the node would at start-up.
    Check { config: PathBuf },
    /// The node's state (any role).
    Status,
}

#[derive(Subcommand)]
pub enum StaffCmd {
    /// Issue a credential: a new key pair is made here, its public half registered at the node.
    Issue {
        staff: StaffId,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a credential; the node refuses it from then on.
    Revoke {
        staff: StaffId,
    },
    List,
}

#[derive(Subcommand)]
pub enum RosterCmd {
    Install { roster: PathBuf },
}

#[derive(Subcommand)]
pub enum RecordsCmd {
    /// Import CSV (persons: avs,name,birth_date; fields: avs,category,field,value) or JSON files.
    /// All files are checked first; if any row is rejected, nothing is imported.
    Import { files: Vec<PathBuf> },
}

#[derive(Subcommand)]
pub enum CaseCmd {
    Open {
        /// The person's social insurance number (756.XXXX.XXXX.XX).
        #[arg(long)]
        person: Avs,
        /// Institutions to invite, comma-separated.
        #[arg(long, value_delimiter = ',')]
        invite: Vec<InstitutionId>,
    },
    Invite {
        #[arg(long = "case")]
        case_id: CaseId,
        #[arg(long)]
        institution: InstitutionId,
    },
    Accept {
        #[arg(long = "case")]
        case_id: CaseId,
    },
    Close {
        #[arg(long = "case")]
        case_id: CaseId,
    },
    List,
    Show {
        #[arg(long = "case")]
        case_id: CaseId,
    },
}

#[derive(Subcommand)]
pub enum ConsentCmd {
    /// Record the person's consent from the signed form.
    Record {
        #[arg(long = "case")]
        case_id: CaseId,
        #[arg(long, value_delimiter = ',', required = true)]
        participants: Vec<InstitutionId>,
        #[arg(long, value_delimiter = ',', required = true)]
        purposes: Vec<Purpose>,
        #[arg(long, value_delimiter = ',', required = true)]
        categories: Vec<Category>,
        /// First valid day, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        /// Last valid day, YYYY-MM-DD (UTC), inclusive.
        #[arg(long)]
        until: String,
        /// The scanned signed form; only its SHA-256 is recorded.
        #[arg(long)]
        form: Option<PathBuf>,
    },
    Revoke {
        #[arg(long = "case")]
        case_id: CaseId,
        #[arg(long)]
        consent: ConsentId,
    },
}

#[derive(Subcommand)]
pub enum SummaryCmd {
    /// Ask a peer institution for its summary about the case's person.
    Request {
        #[arg(long = "case")]
        case_id: CaseId,
        #[arg(long)]
        from: InstitutionId,
        #[arg(long)]
        purpose: Purpose,
        #[arg(long, value_delimiter = ',', required = true)]
        categories: Vec<Category>,
    },
    List,
    /// Open a received summary; the opening is recorded in the log under your staff id.
    Open {
        summary: SummaryId,
    },
}

#[derive(Subcommand)]
pub enum LogCmd {
    /// Sign and print a checkpoint of the node's log.
    Checkpoint,
    /// Inconsistent checkpoints of peer logs this node caught as a witness.
    Evidence,
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Disclosure throughput between real nodes on loopback, against bare round trips.
    Exchange {
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Offline audit verification of a synthetic log, against raw SHA-256 of its entries.
    Audit {
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Write this node's log as an offline bundle (C2SP tlog-tiles, roster, verifier keys).
    Export {
        #[arg(long)]
        out: PathBuf,
        /// Seconds to wait for a checkpoint carrying the witness quorum before giving up.
        #[arg(long, default_value_t = crate::audit::DEFAULT_EXPORT_WAIT.as_secs())]
        wait: u64,
        /// Write the bundle even without the witness quorum (its verify then reports it).
        #[arg(long)]
        allow_uncosigned: bool,
    },
    /// Check a bundle offline: signatures, witness quorum, root, every entry; exit 0 only if all hold.
    Verify {
        bundle: PathBuf,
        /// A checkpoint kept from an earlier audit: the log must be consistent with it.
        #[arg(long)]
        kept: Option<PathBuf>,
        /// The federation anchor, to check the bundle's roster signatures too.
        #[arg(long)]
        federation: Option<PathBuf>,
    },
    /// Check that every disclosure in one log has its receipt in the other, and back.
    Reconcile { a: PathBuf, b: PathBuf },
    /// A person's access report from one or more bundles.
    Person {
        avs: Avs,
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
    },
}

#[derive(Args)]
pub struct DemoArgs {
    /// Keep the demo's files (keys, configs, stores) in this directory instead of a temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// Sorted and deduplicated, as the protocol expects category lists.
fn flat(v: Vec<Category>) -> Vec<Category> {
    let mut out = v;
    out.sort();
    out.dedup();
    out
}

fn now() -> u64 {
    daemon::node::now()
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Reads and parses record files, reporting every rejected row with file and line.
pub fn read_records(files: &[PathBuf]) -> anyhow::Result<RecordSet> {
    if files.is_empty() {
        bail!("name at least one file to import");
    }
    let mut all = RecordSet::default();
    let mut problems = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        match protocol_spec::records::parse_file(&f.to_string_lossy(), &bytes) {
            Ok(set) => all.merge(set),
            Err(e) => {
                for p in e.problems {
                    problems.push(format!("{}:{}: {}", f.display(), p.line, p.reason));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} row(s) rejected; nothing was imported:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    all.validate()
        .map_err(|e| anyhow::anyhow!("records rejected; nothing was imported: {e}"))?;
    Ok(all)
}

async fn staff_call(cli: &Cli, req: StaffRequest) -> anyhow::Result<StaffReply> {
    let path = cli
        .credential
        .as_ref()
        .context("this command needs a staff credential: pass --credential FILE or set PASSERELLE_CREDENTIAL")?;
    let cred = Credential::load(path)?;
    let client = Client::connect(&cred).await?;
    let reply = client.call(req).await;
    client.close();
    reply
}

fn show(cli: &Cli, reply: &StaffReply) -> anyhow::Result<()> {
    if cli.json {
        print_json(reply)
    } else {
        print!("{}", render::human(reply));
        Ok(())
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let req = match &cli.command {
        Command::Federation(f) => return run_federation(&cli, f),
        Command::Node(NodeCmd::Init {
            institution,
            name,
            sector,
            listen,
            address,
            federation,
            dir,
        }) => {
            let fed = federation::load_federation(federation)?;
            let out = setup::node_init(&setup::NodeInit {
                institution: institution.clone(),
                name: name.clone(),
                sector: sector.clone(),
                listen: *listen,
                address: address.clone(),
                federation: fed,
                dir: dir.clone(),
            })?;
            if cli.json {
                return print_json(&serde_json::json!({
                    "config": out.config, "member": out.member, "admin_credential": out.admin_credential,
                }));
            }
            println!("created node {institution} in {}", dir.display());
            println!("  config            {}", out.config.display());
            println!(
                "  member entry      {}  (send to the steering group)",
                out.member.display()
            );
            println!(
                "  admin credential  {}  (keep private)",
                out.admin_credential.display()
            );
            println!(
                "next: place the signed roster at {}, then run: passerelled --config {}",
                dir.join("roster.toml").display(),
                out.config.display()
            );
            return Ok(());
        }
        Command::Node(NodeCmd::Check { config }) => {
            setup::check_config(config)?;
            if cli.json {
                return print_json(&serde_json::json!({ "config": config, "ok": true }));
            }
            println!("{}: ok", config.display());
            return Ok(());
        }
        Command::Demo(args) => return crate::demo::run(args.keep.clone(), cli.json).await,
        Command::Audit(a) => return run_audit(&cli, a).await,
        Command::Bench(BenchCmd::Exchange {
            requests,
            concurrency,
        }) => {
            return crate::bench::run(
                crate::bench::BenchArgs {
                    requests: *requests,
                    concurrency: *concurrency,
                },
                cli.json,
            )
            .await;
        }
        Command::Bench(BenchCmd::Audit { entries }) => {
            return crate::bench::audit(*entries, cli.json);
        }
        Command::Node(NodeCmd::Status) => StaffRequest::Status,
        Command::Whoami => StaffRequest::WhoAmI,
        Command::Staff(StaffCmd::Issue { staff, role, out }) => {
            let path = cli
                .credential
                .as_ref()
                .context("issuing needs the administrator's credential (--credential)")?;
            let admin = Credential::load(path)?;
            if out.exists() {
                bail!(
                    "{} already exists; not overwriting a credential",
                    out.display()
                );
            }
            let key = SigningKey::from_seed(crate::files::random_seed());
            let public = key.public();
            let cred = Credential::new(
                staff.clone(),
                admin.institution.clone(),
                *role,
                admin.node_address.clone(),
                admin.node_key,
                key,
            );
            let client = Client::connect(&admin).await?;
            let reply = client
                .call(StaffRequest::StaffIssue {
                    staff: staff.clone(),
                    role: *role,
                    key: public,
                })
                .await;
            client.close();
            reply?;
            cred.save(out)?;
            if cli.json {
                return print_json(
                    &serde_json::json!({ "staff": staff, "role": role, "credential": out }),
                );
            }
            println!(
                "issued {role} credential for {staff}: {} (hand it over privately)",
                out.display()
            );
            return Ok(());
        }
        Command::Staff(StaffCmd::Revoke { staff }) => StaffRequest::StaffRevoke {
            staff: staff.clone(),
        },
        Command::Staff(StaffCmd::List) => StaffRequest::StaffList,
        Command::Roster(RosterCmd::Install { roster }) => {
            StaffRequest::InstallRoster(federation::load_roster(roster)?)
        }
        Command::Records(RecordsCmd::Import { files }) => {
            StaffRequest::ImportRecords(read_records(files)?)
        }
        Command::Case(c) => match c {
            CaseCmd::Open { person, invite } => StaffRequest::CaseOpen {
                person: person.clone(),
                invite: invite.clone(),
            },
            CaseCmd::Invite {
                case_id,
                institution,
            } => StaffRequest::CaseInvite {
                case_id: *case_id,
                institution: institution.clone(),
            },
            CaseCmd::Accept { case_id } => StaffRequest::CaseAccept { case_id: *case_id },
            CaseCmd::Close { case_id } => StaffRequest::CaseClose { case_id: *case_id },
            CaseCmd::List => StaffRequest::CaseList,
            CaseCmd::Show { case_id } => StaffRequest::CaseShow { case_id: *case_id },
        },
        Command::Consent(ConsentCmd::Record {
            case_id,
            participants,
            purposes,
            categories,
            from,
            until,
            form,
        }) => {
            let form_digest = match form {
                Some(p) => Some(protocol_spec::keys::sha256(&[&std::fs::read(p)
                    .with_context(|| {
                        format!("cannot read consent form {}", p.display())
                    })?])),
                None => None,
            };
            StaffRequest::ConsentRecord(ConsentDraft {
                case_id: *case_id,
                participants: participants.clone(),
                purposes: purposes.clone(),
                categories: flat(categories.clone()),
                valid_from: dates::parse_day(from)?,
                valid_until: dates::parse_day_end(until)?,
                form_digest,
            })
        }
        Command::Consent(ConsentCmd::Revoke { case_id, consent }) => StaffRequest::ConsentRevoke {
            case_id: *case_id,
            consent_id: *consent,
        },
        Command::Summary(SummaryCmd::Request {
            case_id,
            from,
            purpose,
            categories,
        }) => StaffRequest::SummaryRequest {
            case_id: *case_id,
            from: from.clone(),
            purpose: purpose.clone(),
            categories: flat(categories.clone()),
        },
        Command::Summary(SummaryCmd::List) => StaffRequest::SummaryList,
        Command::Summary(SummaryCmd::Open { summary }) => StaffRequest::SummaryOpen {
            summary_id: *summary,
        },
        Command::Log(LogCmd::Checkpoint) => StaffRequest::LogCheckpoint,
        Command::Log(LogCmd::Evidence) => StaffRequest::WitnessEvidence,
    };
    let reply = staff_call(&cli, req).await?;
    show(&cli, &reply)
}

async fn run_audit(cli: &Cli, a: &AuditCmd) -> anyhow::Result<()> {
    match a {
        AuditCmd::Export {
            out,
            wait,
            allow_uncosigned,
        } => {
            let path = cli
                .credential
                .as_ref()
                .context("export needs an auditor credential (--credential)")?;
            let cred = Credential::load(path)?;
            let opts = crate::audit::ExportOptions {
                wait: std::time::Duration::from_secs(*wait),
                allow_uncosigned: *allow_uncosigned,
            };
            let e = crate::audit::export(&cred, out, &opts).await?;
            let report = &e.verified.report;
            if cli.json {
                print_json(&serde_json::json!({
                    "bundle": out,
                    "entries": e.size,
                    "cosigned_by": report.cosigned_by,
                    "quorum": e.quorum,
                    "ok": report.ok(),
                    "findings": report.findings,
                }))?;
            } else {
                println!(
                    "exported {} log entries of {} to {}, cosigned by {} of {} required witness(es)",
                    e.size,
                    cred.institution,
                    out.display(),
                    report.cosigned_by.len(),
                    e.quorum
                );
                if !report.ok() {
                    crate::audit::print_report(&e.verified, out);
                }
            }
            if !report.ok() {
                bail!(
                    "the exported bundle does not verify ({} finding(s)); it is kept in {}",
                    report.findings.len(),
                    out.display()
                );
            }
            Ok(())
        }
        AuditCmd::Verify {
            bundle,
            kept,
            federation,
        } => {
            let v =
                crate::audit::verify(bundle, kept.as_deref(), federation.as_deref(), !cli.json)?;
            if cli.json {
                print_json(&serde_json::json!({
                    "bundle": bundle,
                    "institution": v.institution,
                    "entries": v.report.checkpoint.as_ref().map(|c| c.size),
                    "cosigned_by": v.report.cosigned_by,
                    "ok": v.report.ok(),
                    "findings": v.report.findings,
                }))?;
            } else {
                crate::audit::print_report(&v, bundle);
            }
            if !v.report.ok() {
                bail!(
                    "{} finding(s) in {}",
                    v.report.findings.len(),
                    bundle.display()
                );
            }
            Ok(())
        }
        AuditCmd::Reconcile { a, b } => {
            if !crate::audit::reconcile(a, b, cli.json)? {
                bail!("the logs do not reconcile");
            }
            Ok(())
        }
        AuditCmd::Person { avs, bundles } => crate::audit::person(avs, bundles, cli.json),
    }
}

fn run_federation(cli: &Cli, f: &FederationCmd) -> anyhow::Result<()> {
    let summary = |r: &protocol_spec::roster::SignedRoster, what: &str| -> anyhow::Result<()> {
        if cli.json {
            return print_json(r);
        }
        println!(
            "{what}: roster `{}` version {}, {} member(s), {} policy rule(s), {} signature(s)",
            r.roster.federation,
            r.roster.version,
            r.roster.members.len(),
            r.roster.policy.len(),
            r.signatures.len()
        );
        Ok(())
    };
    match f {
        FederationCmd::Init {
            name,
            authorities,
            threshold,
            dir,
        } => {
            let out = federation::init(dir, name, *authorities, *threshold, now())?;
            if cli.json {
                return print_json(
                    &serde_json::json!({ "federation": out.federation, "roster": out.roster, "keys": out.keys }),
                );
            }
            println!(
                "created federation `{name}` ({threshold} of {authorities} authorities must sign)"
            );
            println!(
                "  anchor        {}  (give to every node)",
                out.federation.display()
            );
            println!("  roster draft  {}", out.roster.display());
            for k in &out.keys {
                println!(
                    "  authority key {}  (give to one steering-group member, keep private)",
                    k.display()
                );
            }
            Ok(())
        }
        FederationCmd::AddMember { roster, member } => {
            let m = federation::load_member(member)?;
            let r = federation::edit(roster, now(), |r| federation::add_member(r, m))?;
            summary(&r, "member added")
        }
        FederationCmd::RemoveMember {
            roster,
            institution,
        } => {
            let r = federation::edit(roster, now(), |r| federation::remove_member(r, institution))?;
            summary(&r, "member removed")
        }
        FederationCmd::Allow {
            roster,
            sector,
            purpose,
            categories,
        } => {
            let cats = flat(categories.clone());
            if cats.is_empty() {
                bail!("name at least one category");
            }
            let r = federation::edit(roster, now(), |r| {
                federation::allow(r, sector.clone(), purpose.clone(), cats);
                Ok(())
            })?;
            summary(&r, "policy updated")
        }
        FederationCmd::Witnesses {
            roster,
            institution,
            witnesses,
            quorum,
        } => {
            let r = federation::edit(roster, now(), |r| {
                federation::set_witnesses(r, institution, witnesses.clone(), *quorum)
            })?;
            summary(&r, "witness policy set")
        }
        FederationCmd::NewVersion { roster } => {
            let r = federation::edit(roster, now(), |r| {
                r.version += 1;
                Ok(())
            })?;
            summary(&r, "new version drafted")
        }
        FederationCmd::Sign { roster, key } => {
            let r = federation::sign(roster, key)?;
            summary(&r, "signed")
        }
        FederationCmd::Verify {
            roster,
            federation: fed,
        } => {
            let r = federation::load_roster(roster)?;
            let anchor = federation::load_federation(fed)?;
            if r.roster.federation != anchor.name {
                bail!(
                    "roster is for federation `{}`, not `{}`",
                    r.roster.federation,
                    anchor.name
                );
            }
            r.verify(&anchor.authorities)
                .with_context(|| format!("roster {} is not valid", roster.display()))?;
            summary(&r, "valid")
        }
        FederationCmd::Show { roster } => {
            let r = federation::load_roster(roster)?;
            if cli.json {
                return print_json(&r);
            }
            summary(&r, "roster")?;
            for m in &r.roster.members {
                println!(
                    "  member {:<14} {:<22} {:<40} {}",
                    m.id, m.sector, m.name, m.address
                );
            }
            for p in &r.roster.policy {
                println!(
                    "  policy {} may receive {} for {}",
                    p.sector,
                    p.categories
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    p.purpose
                );
            }
            Ok(())
        }
    }
}
