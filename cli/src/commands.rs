//! Command-line definitions and their execution.

use crate::client::Client;
use crate::credential::Credential;
use crate::output::{self, Classified, ErrorKind, Status};
use crate::{dates, federation, outln, records, render, setup, values};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use daemon::clock::now;
use protocol_spec::avs::Avs;
use protocol_spec::case::DeclineReason;
use protocol_spec::category::Category;
use protocol_spec::ids::{
    CaseId, ConsentId, InstitutionId, Purpose, Role, Sector, StaffId, SummaryId,
};
use protocol_spec::keys::SigningKey;
use protocol_spec::staff::{ConsentDraft, StaffReply, StaffRequest};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "passerelle",
    version,
    about = "Passerelle: consented, end-to-end encrypted case-summary exchange between social services",
    after_help = output::EXIT_STATUS
)]
pub struct Cli {
    /// Print one JSON document on stdout instead of text, errors included.
    #[arg(long, global = true)]
    pub json: bool,
    /// Staff credential file (issued by the institution's administrator), e.g. alice.cred.
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_CREDENTIAL",
        value_name = "FILE"
    )]
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
    /// Coordinator or administrator: the sector's monthly statistics, which name no person;
    /// sending them to the dashboard member, and the dashboard there.
    #[command(subcommand)]
    Stats(StatsCmd),
    /// Case worker: coordinated cases.
    #[command(subcommand)]
    Case(CaseCmd),
    /// Case worker: the person's consent.
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Case worker: request, list and open summaries.
    #[command(subcommand)]
    Summary(SummaryCmd),
    /// Any staff member: what waits in the node's outbox, to whom, since when, and why.
    Queue,
    /// Auditor: the node's transparency log.
    #[command(subcommand)]
    Log(LogCmd),
    /// Auditor: export, verify and reconcile logs; a person's access report.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Show who this credential belongs to.
    Whoami,
    /// Print passerelle's shell completion script.
    ///
    /// The Debian package installs them for bash, zsh and fish. Elsewhere, e.g.:
    /// `passerelle completions bash > ~/.local/share/bash-completion/completions/passerelle`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages of passerelle (one per command) and passerelled into a directory.
    Man {
        /// Directory to write the pages into (created if missing), e.g. man/man1.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Start an example federation of three nodes on loopback and walk through exchanges.
    Demo(DemoArgs),
    /// Benchmarks, each reported next to a baseline measured in the same run.
    Bench(BenchArgs),
}

// Help texts shared by several options.
const ROSTER_HELP: &str = "The roster file to edit or read, e.g. steering/roster.toml.";
const CASE_HELP: &str =
    "The coordinated case's id (32 hex digits), as `case open` and `case list` print it.";

#[derive(Subcommand)]
pub enum FederationCmd {
    /// Create authority keys, federation.toml and an empty roster draft.
    Init {
        /// The federation's name: 1 to 64 characters from a-z, 0-9, `-` and `.`, e.g. ne-cii.
        #[arg(long)]
        name: String,
        /// How many steering-group authority keys to create, one per member of the group.
        #[arg(long, default_value_t = 3)]
        authorities: u8,
        /// How many authority signatures make a roster valid.
        #[arg(long, default_value_t = 2)]
        threshold: u8,
        /// Directory to write the keys, federation.toml and roster.toml into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Add a member from the member.toml its administrator produced with `node init`.
    AddMember {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The member.toml file `passerelle node init` wrote for the institution.
        member: PathBuf,
    },
    /// Remove a member; it also stops witnessing the others' logs. Its signing and log keys
    /// stay in the roster's key history, so the case events it signed and its log's
    /// checkpoints still verify. A log it witnessed that would keep fewer witnesses than its
    /// quorum is refused unless --replacement-witness or --lower-quorum says what to do, e.g.
    /// `passerelle federation remove-member --roster roster.toml ne.sas --replacement-witness ne.smig`.
    RemoveMember {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The member's institution id, e.g. ne.sas.
        institution: InstitutionId,
        /// Another member that takes over as witness of every log the removed member
        /// witnessed, e.g. ne.smig.
        #[arg(long, value_name = "ID")]
        replacement_witness: Option<InstitutionId>,
        /// Lower the quorum of a log left with fewer witnesses than its quorum to the
        /// witnesses it keeps (its checkpoints then need fewer cosignatures).
        #[arg(long)]
        lower_quorum: bool,
    },
    /// Put a member's new keys in the roster draft, from the member.next.toml that its
    /// administrator's `passerelle node rotate-keys` wrote. Its name, sector, address and
    /// witness policy stay; its replaced signing and log keys go to the key history. Start a
    /// new version first, e.g. `passerelle federation new-version --roster roster.toml`, then
    /// `passerelle federation rotate-member --roster roster.toml ne.orp/member.next.toml`.
    RotateMember {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The member.next.toml file `passerelle node rotate-keys` wrote.
        member: PathBuf,
    },
    /// Let a sector receive categories for a purpose (the exchange policy).
    Allow {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The receiving sector, as the members' entries name it: the federation's own
        /// vocabulary, e.g. employment, disability-insurance, social-aid, migration.
        #[arg(long)]
        sector: Sector,
        /// The purpose of the exchange: the federation's own vocabulary, e.g.
        /// coordinated-assessment, action-plan.
        #[arg(long)]
        purpose: Purpose,
        /// Data categories the sector may receive for the purpose, comma-separated.
        #[arg(long, value_delimiter = ',', required = true,
              value_parser = values::one_of(&Category::ALL, Category::as_str))]
        categories: Vec<Category>,
    },
    /// Set how long members keep a summary received for a purpose before purging it (a
    /// purpose not set here: 365 days).
    Retention {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The purpose, as the exchange policy names it, e.g. coordinated-assessment.
        #[arg(long)]
        purpose: Purpose,
        /// Days a received summary is kept, 1 to 3653.
        #[arg(long)]
        days: u32,
    },
    /// Declare (or replace) a mixed insertion measure for the monthly statistics.
    ///
    /// Example: `passerelle federation measure --roster steering/roster.toml --id atelier-bois
    /// --name "Atelier bois" --provider "Caritas Neuchâtel" --places employment=12,social-aid=6
    /// --cost-per-place-month 1850`
    Measure {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The measure's id: 1 to 64 characters from a-z, 0-9 and -, e.g. atelier-bois.
        #[arg(long)]
        id: protocol_spec::stats::MeasureId,
        /// The measure's display name, e.g. "Atelier bois".
        #[arg(long)]
        name: String,
        /// Who runs it, e.g. "Caritas Neuchâtel".
        #[arg(long)]
        provider: String,
        /// Places budgeted per sector, SECTOR=N comma-separated, e.g. employment=12,social-aid=6.
        #[arg(long, value_delimiter = ',', value_parser = values::sector_places)]
        places: Vec<protocol_spec::stats::SectorPlaces>,
        /// Cost of one place for one month in CHF, e.g. 1850 or 1850.50.
        #[arg(long, value_parser = values::francs)]
        cost_per_place_month: u64,
        /// Take the measure out of the declaration instead.
        #[arg(long, conflicts_with_all = ["name", "provider", "places", "cost_per_place_month"])]
        remove: bool,
    },
    /// Declare (or replace) an observation-grid field the profile figures count, with the
    /// values it may take; records importing another value for it are refused.
    ///
    /// Example: `passerelle federation grid-field --roster steering/roster.toml
    /// --category employment --field mobility --values none,public-transport,car`
    GridField {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The field's data category.
        #[arg(long, value_parser = values::one_of(&Category::ALL, Category::as_str))]
        category: Category,
        /// The field name, [a-z0-9_]{1,64}, e.g. mobility.
        #[arg(long)]
        field: String,
        /// The declared values, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        values: Vec<String>,
    },
    /// Set the statistics' suppression threshold, privacy budget and dashboard member.
    ///
    /// Example: `passerelle federation statistics --roster steering/roster.toml --threshold 5
    /// --epsilon-per-release 0.5 --epsilon-per-month 1 --dashboard ne.cii`
    Statistics {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// Counts from 1 to threshold − 1 are suppressed; 2 to 100.
        #[arg(long, default_value_t = 5)]
        threshold: u32,
        /// Epsilon each report release spends (with --epsilon-per-month); none: exact figures.
        #[arg(long, requires = "epsilon_per_month", value_parser = values::epsilon)]
        epsilon_per_release: Option<u32>,
        /// Epsilon all releases of one month may spend together.
        #[arg(long, requires = "epsilon_per_release", value_parser = values::epsilon)]
        epsilon_per_month: Option<u32>,
        /// The member that keeps the coordination dashboard, which every other member sends
        /// its signed monthly reports to, e.g. ne.cii; a member of the roster. Unchanged if
        /// not given.
        #[arg(long)]
        dashboard: Option<InstitutionId>,
    },
    /// Set which members cosign a member's log checkpoints, and how many make a quorum.
    Witnesses {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The member whose log is witnessed, e.g. ne.orp.
        #[arg(long)]
        institution: InstitutionId,
        /// The other members that cosign its checkpoints, comma-separated, e.g. ne.oai,ne.sas.
        #[arg(long, value_delimiter = ',', required = true)]
        witnesses: Vec<InstitutionId>,
        /// How many of the witnesses must cosign a checkpoint.
        #[arg(long)]
        quorum: u8,
    },
    /// Start the next roster version from the current one (signatures are cleared).
    NewVersion {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
    },
    /// Add one authority's signature.
    Sign {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// One authority's private key file, e.g. steering/authority-1.key.
        #[arg(long)]
        key: PathBuf,
    },
    /// Check a roster's signatures against the federation's authorities.
    Verify {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
        /// The federation's trust anchor, federation.toml.
        #[arg(long)]
        federation: PathBuf,
    },
    /// Print a roster: members, exchange policy and signatures.
    Show {
        #[arg(long, help = ROSTER_HELP)]
        roster: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum NodeCmd {
    /// Create keys (0600), a commented config, the member entry and the admin credential.
    Init {
        /// This institution's id: 2 to 4 dot-separated labels of a-z, 0-9 and `-`, e.g. ne.orp.
        #[arg(long)]
        institution: InstitutionId,
        /// The institution's name as members see it, e.g. "Office régional de placement".
        #[arg(long)]
        name: String,
        /// The institution's sector: the federation's own vocabulary, e.g. employment,
        /// disability-insurance, social-aid, migration.
        #[arg(long)]
        sector: Sector,
        /// UDP address the node listens on, e.g. 0.0.0.0:7101.
        #[arg(long)]
        listen: SocketAddr,
        /// Address peers use to reach the node, when it differs from --listen, e.g.
        /// orp.example.ch:7101.
        #[arg(long)]
        address: Option<String>,
        /// The federation's trust anchor, federation.toml, from the steering group.
        #[arg(long)]
        federation: PathBuf,
        /// Directory to create the node in.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Check a node config as the node would at start-up.
    Check {
        /// The node's config file, e.g. ne.orp/node.toml.
        config: PathBuf,
    },
    /// Write a consistent copy of the node's store (records, cases, outbox and log) to a new
    /// file, 0600, while the node runs. Keys and node.toml are not in it: back them up apart.
    Backup {
        /// The node's config file, e.g. /etc/passerelle/node.toml.
        #[arg(long)]
        config: PathBuf,
        /// The backup file to create, e.g. /srv/backup/ne.orp-2026-12-04.db.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup in place as the node's store, the node stopped: refused while it runs, with
    /// or without --replace, and the node does not start while a restore works. At its next
    /// start the node asks its witnesses before it serves: if they cosigned more than the backup
    /// holds, it does not start, saying by how many entries it is behind, until a copy holding
    /// them is restored or the loss is declared (`node declare-loss`) and the log given a new
    /// key.
    Restore {
        /// The node's config file, e.g. /etc/passerelle/node.toml.
        #[arg(long)]
        config: PathBuf,
        /// The backup file `node backup` wrote, or a store moved aside (read with the -wal
        /// file beside it, if any).
        #[arg(long)]
        from: PathBuf,
        /// Move an existing store aside instead of refusing: to node.db.replaced-<unix time>
        /// (.1, .2… after it if that name is taken), its -wal and -shm files with it; no file
        /// is ever overwritten.
        #[arg(long)]
        replace: bool,
    },
    /// Replace the node's keys, in two steps around the steering group's roster (README,
    /// "Operations: key rotation"). Without --activate: writes new keys beside the current ones
    /// (`keys/signing.key.next`, …, 0600) and member.next.toml for the steering group; the
    /// current keys stay in force until --activate (a running node keeps serving on them). With --activate --roster FILE, the node stopped or
    /// restarted right after: checks that the signed roster lists the new keys, moves the
    /// current key files aside (`….retired-<time>`, never deleted), puts the new ones in place,
    /// has the old signing key endorse the new one (staff credentials keep working) and makes
    /// the roster the node's starting roster. E.g. `passerelle node rotate-keys --config
    /// node.toml --only log,witness`, later `passerelle node rotate-keys --config node.toml
    /// --activate --roster roster.toml`.
    RotateKeys {
        /// The node's config file, e.g. /etc/passerelle/node.toml.
        #[arg(long)]
        config: PathBuf,
        /// Which keys to replace, comma-separated, from signing, encryption, log, witness
        /// (default: all four), e.g. --only log,witness.
        #[arg(long, value_delimiter = ',',
              value_parser = values::one_of(&crate::rotation::KeyKind::ALL, crate::rotation::KeyKind::as_str),
              conflicts_with = "activate")]
        only: Vec<crate::rotation::KeyKind>,
        /// Switch to the pending keys, once the steering group signed a roster listing them.
        #[arg(long, requires = "roster")]
        activate: bool,
        /// With --activate: the signed roster listing the new keys, e.g. roster.toml.
        #[arg(long, requires = "activate")]
        roster: Option<PathBuf>,
        /// With --activate: do not endorse the new signing key with the old one. For a key
        /// that leaked: its holder could otherwise present its own endorsed key to staff
        /// clients; issue the staff credentials again instead.
        #[arg(long, requires = "activate")]
        no_endorsement: bool,
    },
    /// Declare lost the log entries the witnesses cosigned beyond what the restored store
    /// holds, as the node's last start reported; the node stopped. The steering group must also
    /// give the log a new key (`node rotate-keys --only log`): at its next start under that key
    /// the node writes a signed `log-loss` entry to its log, which `audit verify` reports, and
    /// its witnesses cosign again. E.g. `passerelle node declare-loss --config node.toml`.
    DeclareLoss {
        /// The node's config file, e.g. /etc/passerelle/node.toml.
        #[arg(long)]
        config: PathBuf,
    },
    /// The node's state (any role).
    Status,
    /// Ask a running node's observability endpoint whether it is ready (`GET /readyz`): its
    /// store records, the roster in force lists it, its QUIC endpoint is bound and its log is
    /// not halted. Exit status 0 when ready, 1 when not (each failing check is named), 5 when
    /// the endpoint cannot be reached. Needs `[observability]` in node.toml; no credential.
    ///
    /// Example: `passerelle node health --config /etc/passerelle/node.toml`, or in a unit,
    /// `ExecStartPost=-/usr/bin/passerelle node health --address 127.0.0.1:9464` (the `-` keeps
    /// a start whose node is not ready, e.g. with a halted log, from failing).
    Health {
        /// The endpoint's address, as `listen` in the `[observability]` table, e.g.
        /// 127.0.0.1:9464.
        #[arg(
            long,
            value_name = "ADDR",
            required_unless_present = "config",
            conflicts_with = "config"
        )]
        address: Option<SocketAddr>,
        /// Read the address from the node's config file instead, e.g. /etc/passerelle/node.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Ask whether the node is alive instead (`GET /livez`): its run loop and store thread
        /// answer within 2 s.
        #[arg(long)]
        live: bool,
    },
}

#[derive(Subcommand)]
pub enum StaffCmd {
    /// Issue a credential: a new key pair is made here, its public half registered at the node.
    Issue {
        /// The new staff member's id, unique in the institution, e.g. alice.
        #[arg(value_parser = values::staff_id())]
        staff: StaffId,
        /// What the credential may do.
        #[arg(long, value_parser = values::one_of(&Role::ALL, Role::as_str))]
        role: Role,
        /// Where to write the credential (created with mode 0600; must not exist yet).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a credential; the node refuses it from then on.
    Revoke {
        /// The staff member's id, as `staff list` shows it.
        #[arg(value_parser = values::staff_id())]
        staff: StaffId,
    },
    /// List the institution's staff credentials, active and revoked.
    List,
}

#[derive(Subcommand)]
pub enum RosterCmd {
    /// Install a newer roster signed by the steering group; the node passes it on to the others.
    Install {
        /// The signed roster file, e.g. roster.toml.
        roster: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum RecordsCmd {
    /// Import CSV (persons: avs,name,birth_date; fields: avs,category,field,value) or JSON files.
    /// All files are checked first; if any row is rejected, nothing is imported.
    Import {
        /// Record files (.csv or .json), formats in protocol-spec/spec/records.md.
        files: Vec<PathBuf>,
    },
    /// Import placements in mixed insertion measures from CSV (avs,measure,start,end,outcome).
    /// Every measure must be declared in the roster and every person already in the records;
    /// if any row is rejected, nothing is imported. Importing a placement again (same person,
    /// measure and start) updates its end and outcome.
    ///
    /// Example: `passerelle records import-placements examples/placements/ne.orp.csv`
    ImportPlacements {
        /// The placements file, format in protocol-spec/spec/statistics.md §3.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum StatsCmd {
    /// Compute this sector's report for a month: per measure participants, entries, exits by
    /// outcome, place-days and cost against the budget; coordination activity; profiles.
    /// Counts under the federation's threshold show as <k, and the figures that would reveal
    /// them as x. Under a privacy budget every figure carries noise and each report spends
    /// part of the month's budget; once it is spent, reports of that month are refused.
    ///
    /// Example: `passerelle stats report --month 2026-11 --json`
    Report {
        /// The month, YYYY-MM (by UTC date for case activity), e.g. 2026-11.
        #[arg(long)]
        month: protocol_spec::stats::Month,
    },
    /// Compute the month's report as `stats report` does, sign it with this node's key and
    /// send it to the federation's dashboard member named in the roster. If the dashboard is
    /// offline the report stays queued (`passerelle queue`) and is sent again until accepted.
    /// A month already sent is sent again only with --correction: the dashboard then shows
    /// the correction in its place. Each send is a release (under a privacy budget, it spends).
    ///
    /// Example: `passerelle stats send --month 2026-11`
    Send {
        /// The month, YYYY-MM, e.g. 2026-11.
        #[arg(long)]
        month: protocol_spec::stats::Month,
        /// Replace the month's earlier delivery with a newly computed report.
        #[arg(long)]
        correction: bool,
    },
    /// At the dashboard member: the sectors' reports per month, measure and sector, the
    /// members that have not reported, and the persons followed by several sectors where a
    /// round published them (`stats overlap`); writes dashboard.html (self-contained, charts
    /// as inline SVG), dashboard.csv, dashboard-overlap.csv and dashboard.json into DIR
    /// (created private, 0700).
    ///
    /// Example: `passerelle stats dashboard --out dashboard/ --months 12`
    Dashboard {
        /// Directory to write dashboard.html, dashboard.csv and dashboard.json into.
        #[arg(long)]
        out: PathBuf,
        /// How many months to show, 1 to 36.
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u8).range(1..=36))]
        months: u8,
        /// The last month shown, YYYY-MM; default: the latest month a report was received
        /// for, or the month before the current one if later.
        #[arg(long)]
        until: Option<protocol_spec::stats::Month>,
    },
    /// At the dashboard member: count the persons followed by several sectors in a month
    /// that has ended, by a private set intersection round among every other member: each
    /// sector blinds its persons followed with a secret of its own, the sets go round the
    /// ring, and this node compares only the fully blinded sets. No node learns whom another
    /// follows; the dashboard publishes the counts (in two sectors or more, by number of
    /// sectors, per pair) with small counts suppressed as <k. The first call starts the
    /// month's round; later calls show where it stands. An attempt that published no figure (a
    /// sector refused, was unreachable until the round expired, restarted during it, or its
    /// set's size differed from its report) is followed by the next with --again, three
    /// attempts a month at most. Send the month's reports first: each set's size is checked
    /// against its sector's report.
    ///
    /// Example: `passerelle stats overlap --month 2026-11`
    Overlap {
        /// The month, YYYY-MM, e.g. 2026-11; it must have ended.
        #[arg(long)]
        month: protocol_spec::stats::Month,
        /// Start the next attempt when the latest one published no figure.
        #[arg(long)]
        again: bool,
    },
}

#[derive(Subcommand)]
pub enum CaseCmd {
    /// Open a coordinated case about a person in this institution's records.
    Open {
        /// The person's social insurance number, 756.XXXX.XXXX.XX or 13 digits.
        #[arg(long, value_parser = values::avs())]
        person: Avs,
        /// Institutions to invite, comma-separated, e.g. ne.oai,ne.sas.
        #[arg(long, value_delimiter = ',')]
        invite: Vec<InstitutionId>,
    },
    /// Invite another institution to a case.
    Invite {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
        /// The institution to invite, e.g. ne.sas.
        #[arg(long)]
        institution: InstitutionId,
    },
    /// Accept this institution's invitation to a case.
    Accept {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
    },
    /// Close a case this institution leads; no summary is disclosed for it from then on.
    Close {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
    },
    /// Leave a case this institution takes part in (the lead hands over or closes instead):
    /// from then on this institution receives nothing more about the case and is refused as
    /// not concerned.
    Leave {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
    },
    /// Turn down this institution's invitation or referral to a case, with a reason.
    Decline {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
        /// Why, from a closed list: no free text, which could carry personal data.
        #[arg(long, value_parser = values::one_of(&DeclineReason::ALL, DeclineReason::as_str))]
        reason: DeclineReason,
    },
    /// Take an invited or participating institution out of a case this institution leads: it
    /// is told, receives nothing more and is refused as not concerned.
    Remove {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
        /// The institution to remove, e.g. ne.sas.
        #[arg(long)]
        institution: InstitutionId,
    },
    /// Tell the case's other participants that this institution updated its records about
    /// the person, so a newer summary is available from it (the notice carries no data; they
    /// request the summary if they need it).
    Notify {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
    },
    /// Hand the lead of a case (closing, removing, handing over) to another participant.
    HandOver {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
        /// The participant that becomes the lead, e.g. ne.oai.
        #[arg(long)]
        to: InstitutionId,
    },
    /// Refer the case's person to another service: it is invited, and once it accepts it
    /// receives this institution's summary for the purpose and categories given, if the
    /// person's consent covers it. It may decline with a reason instead.
    Refer {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
        /// The service the person is referred to, e.g. ne.oai.
        #[arg(long)]
        institution: InstitutionId,
        /// The purpose of the summary that goes with the referral, as the federation's
        /// exchange policy names it, e.g. coordinated-assessment.
        #[arg(long)]
        purpose: Purpose,
        /// Data categories of the summary that goes with the referral, comma-separated.
        #[arg(long, value_delimiter = ',', required = true,
              value_parser = values::one_of(&Category::ALL, Category::as_str))]
        categories: Vec<Category>,
    },
    /// List the cases this institution takes part in or is invited to.
    List,
    /// Show a case: participants and consents.
    Show {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
    },
}

/// What the person's signed consent form says.
#[derive(Args)]
pub struct ConsentForm {
    #[arg(long = "case", help = CASE_HELP)]
    case_id: CaseId,
    /// Institutions between which the person consents to exchange, comma-separated, e.g.
    /// ne.oai,ne.orp.
    #[arg(long, value_delimiter = ',', required = true)]
    participants: Vec<InstitutionId>,
    /// Purposes the person consents to, comma-separated, as the federation's exchange policy
    /// names them, e.g. coordinated-assessment,action-plan.
    #[arg(long, value_delimiter = ',', required = true)]
    purposes: Vec<Purpose>,
    /// Data categories the person consents to, comma-separated.
    #[arg(long, value_delimiter = ',', required = true,
      value_parser = values::one_of(&Category::ALL, Category::as_str))]
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
}

#[derive(Subcommand)]
pub enum ConsentCmd {
    /// Record the person's consent from the signed form.
    Record(ConsentForm),
    /// Record the person's new form that narrows (fewer institutions, purposes or categories,
    /// a shorter period) or renews a consent: the new consent is recorded and the one it
    /// replaces is revoked, both in one step, so there is never a moment with both or neither.
    Replace {
        /// The consent the new form replaces, as `case show` prints it.
        #[arg(long)]
        consent: ConsentId,
        #[command(flatten)]
        form: ConsentForm,
    },
    /// Revoke a consent; requests in flight are refused from then on.
    Revoke {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
        /// The consent's id, as `case show` prints it.
        #[arg(long)]
        consent: ConsentId,
    },
}

#[derive(Subcommand)]
pub enum SummaryCmd {
    /// Ask a peer institution for its summary about the case's person.
    Request {
        #[arg(long = "case", help = CASE_HELP)]
        case_id: CaseId,
        /// The institution asked for its summary, e.g. ne.orp.
        #[arg(long)]
        from: InstitutionId,
        /// The purpose, as the consent and the federation's exchange policy name it, e.g.
        /// coordinated-assessment.
        #[arg(long)]
        purpose: Purpose,
        /// Data categories requested, comma-separated.
        #[arg(long, value_delimiter = ',', required = true,
              value_parser = values::one_of(&Category::ALL, Category::as_str))]
        categories: Vec<Category>,
    },
    /// List the summaries this institution received (still sealed).
    List,
    /// List this node's summary requests, newest first, and what became of each: pending
    /// (queued, it will be sent again), received, refused (with the code) or failed (withdrawn,
    /// with the reason). Look here before asking again for a request whose outcome was unknown.
    Requests,
    /// Open a received summary; the opening is recorded in the log under your staff id.
    Open {
        /// The summary's id, as `summary request` and `summary list` print it.
        summary: SummaryId,
    },
    /// Destroy a received summary's content now, before its retention period ends (the node
    /// purges it by itself when that period ends). Its receipt stays in the log; the purge is
    /// logged under your staff id.
    Purge {
        /// The summary's id, as `summary list` prints it.
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

/// Without a subcommand, measures everything in one run (several minutes): the crypto floor
/// of one exchange, durable commits, bare quinn round trips and handshakes, full exchanges
/// between two node processes at each concurrency, the roster-size sweep, idle peer
/// connections and their reconnection, and audit verification. Needs `passerelled` beside
/// `passerelle` (`cargo build --release`).
///
/// Example: `passerelle bench --json > bench.json`
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCmd>,
    /// Exchanges per concurrency level (500 at most at concurrency 1); the roster sweep makes
    /// four times as many at each size.
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Concurrency levels of the full exchanges, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32, 128])]
    pub concurrency: Vec<usize>,
    /// Roster sizes of the sweep (members), comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [3, 1000, 5000, 10000])]
    pub roster_sizes: Vec<usize>,
    /// Idle peer connections held open at once, then reconnected after a restart.
    #[arg(long, default_value_t = 1000)]
    pub peers: usize,
    /// Log entries of the audit verification.
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: u64,
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Full exchanges through the requester's node between two node processes, at
    /// concurrency 1 and the one given, against the crypto floor.
    Exchange {
        /// How many summary requests to make at the concurrency given (and at most 500 at
        /// concurrency 1).
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// How many requests are in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Offline audit verification of a synthetic log, against raw SHA-256 of its entries.
    Audit {
        /// How many log entries to generate and verify.
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Write this node's log as an offline bundle (C2SP tlog-tiles, roster, verifier keys).
    Export {
        /// Directory to write the bundle into, e.g. orp-2026-11: new or empty, in a directory
        /// that exists.
        #[arg(long)]
        out: PathBuf,
        /// Seconds to wait for a checkpoint carrying the witness quorum before giving up.
        #[arg(long, default_value_t = crate::audit::DEFAULT_EXPORT_WAIT.as_secs())]
        wait: u64,
        /// Write the bundle even without the witness quorum (its verify then reports it).
        #[arg(long)]
        allow_uncosigned: bool,
    },
    /// Check a bundle offline: signatures, witness quorum, root, every entry; exit 0 only if all
    /// hold. Without --federation the keys come from the bundle's own roster, taken on trust,
    /// and the output says so.
    Verify {
        /// The bundle directory `audit export` wrote.
        bundle: PathBuf,
        /// A checkpoint kept from an earlier audit: the log must be consistent with it.
        #[arg(long)]
        kept: Option<PathBuf>,
        /// The federation anchor (federation.toml), to check the bundle's roster against the
        /// steering group's keys; without it the roster is taken on trust.
        #[arg(long)]
        federation: Option<PathBuf>,
    },
    /// Check that every disclosure in one log has its receipt in the other, and back. Both
    /// bundles are verified first, under the trust `audit verify` states.
    Reconcile {
        /// One institution's bundle.
        a: PathBuf,
        /// The other institution's bundle.
        b: PathBuf,
        /// The federation anchor (federation.toml), to check each bundle's roster against the
        /// steering group's keys; without it each roster is taken on trust.
        #[arg(long)]
        federation: Option<PathBuf>,
    },
    /// A person's access report from one or more bundles, each verified first, under the trust
    /// `audit verify` states.
    Person {
        /// The person's social insurance number, 756.XXXX.XXXX.XX or 13 digits.
        #[arg(value_parser = values::avs())]
        avs: Avs,
        /// Bundle directories to search, each verified first.
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
        /// The federation anchor (federation.toml), to check each bundle's roster against the
        /// steering group's keys; without it each roster is taken on trust.
        #[arg(long)]
        federation: Option<PathBuf>,
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

async fn staff_call(cli: &Cli, req: StaffRequest) -> anyhow::Result<StaffReply> {
    let path = cli.credential.as_ref().context(Classified::new(
        ErrorKind::Usage,
        "this command needs a staff credential: pass --credential FILE or set PASSERELLE_CREDENTIAL",
    ))?;
    let (client, _) = Client::connect_file(path).await?;
    let reply = client.call(req).await;
    client.close();
    reply
}

fn show(cli: &Cli, reply: &StaffReply) -> anyhow::Result<Status> {
    if cli.json {
        output::reply(reply)?;
    } else {
        output::text(&render::human(reply))?;
    }
    Ok(Status::of(reply))
}

/// Runs a parsed command line; what it printed is on stdout, how it turned out is the status.
pub async fn run(cli: Cli) -> anyhow::Result<Status> {
    let req = match &cli.command {
        Command::Federation(f) => return run_federation(&cli, f).map(|()| Status::Done),
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
                output::document(
                    "node-created",
                    serde_json::json!({
                        "config": out.config, "member": out.member, "admin_credential": out.admin_credential,
                    }),
                )?;
                return Ok(Status::Done);
            }
            outln!("created node {institution} in {}", dir.display())?;
            outln!("  config            {}", out.config.display())?;
            outln!(
                "  member entry      {}  (send to the steering group)",
                out.member.display()
            )?;
            outln!(
                "  admin credential  {}  (keep private)",
                out.admin_credential.display()
            )?;
            outln!(
                "next: place the signed roster at {}, then run: passerelled --config {}",
                dir.join("roster.toml").display(),
                out.config.display()
            )?;
            return Ok(Status::Done);
        }
        Command::Node(NodeCmd::Backup { config, out }) => {
            let s = daemon::backup::backup(config, out)?;
            if cli.json {
                output::document("backup", &s)?;
            } else {
                outln!(
                    "backup written: {} ({} bytes, a log of {} entries)",
                    s.path.display(),
                    s.bytes,
                    s.log_size
                )?;
            }
            return Ok(Status::Done);
        }
        Command::Node(NodeCmd::Restore {
            config,
            from,
            replace,
        }) => {
            let (s, moved) = daemon::backup::restore(config, from, *replace, now())?;
            if cli.json {
                output::document(
                    "restored",
                    serde_json::json!({ "store": s.path, "log_size": s.log_size, "moved_aside": moved }),
                )?;
            } else {
                if let Some(m) = &moved {
                    outln!("the store in place was moved to {}", m.display())?;
                }
                outln!(
                    "restored {} (a log of {} entries); start the node: it first checks its log with its witnesses, and does not start if it is behind what they cosigned",
                    s.path.display(),
                    s.log_size
                )?;
            }
            return Ok(Status::Done);
        }
        Command::Node(NodeCmd::Health {
            address,
            config,
            live,
        }) => return node_health(*address, config.as_deref(), *live, cli.json).await,
        Command::Node(NodeCmd::RotateKeys {
            config,
            only,
            activate,
            roster,
            no_endorsement,
        }) => {
            if *activate {
                let roster = roster.as_ref().context("--activate needs --roster")?;
                let a = crate::rotation::activate(config, roster, !no_endorsement, now())?;
                if cli.json {
                    output::document(
                        "keys-activated",
                        serde_json::json!({
                            "roster_version": a.version,
                            "retired": a.retired.iter().map(|(k, p)| serde_json::json!({"key": k.as_str(), "moved_to": p})).collect::<Vec<_>>(),
                            "endorsed": a.endorsed,
                        }),
                    )?;
                } else {
                    for (k, p) in &a.retired {
                        outln!("{k} key replaced; the old one is kept in {}", p.display())?;
                    }
                    if a.endorsed {
                        outln!(
                            "the old signing key endorsed the new one: staff credentials keep working"
                        )?;
                    }
                    outln!(
                        "roster version {} is the node's starting roster. Next: restart the node (e.g. `systemctl restart passerelled`); it adopts the roster and passes it on to the other members",
                        a.version
                    )?;
                }
                return Ok(Status::Done);
            }
            let p = crate::rotation::prepare(config, only)?;
            if cli.json {
                output::document(
                    "keys-prepared",
                    serde_json::json!({
                        "member": p.member,
                        "keys": p.keys.iter().map(|(k, f)| serde_json::json!({"key": k.as_str(), "file": f})).collect::<Vec<_>>(),
                    }),
                )?;
            } else {
                for (k, f) in &p.keys {
                    outln!("new {k} key: {} (pending, 0600)", f.display())?;
                }
                outln!(
                    "the node's current keys stay in force until --activate (a running node keeps serving on them). Next: send {} to the steering group, which runs `passerelle federation rotate-member` in a new roster version and signs it; then `passerelle node rotate-keys --config {} --activate --roster ROSTER` and restart the node",
                    p.member.display(),
                    config.display()
                )?;
            }
            return Ok(Status::Done);
        }
        Command::Node(NodeCmd::DeclareLoss { config }) => {
            let b = daemon::backup::declare_loss(config)?;
            if cli.json {
                output::document(
                    "loss-declared",
                    serde_json::json!({
                        "witness": b.witness,
                        "cosigned": b.cosigned,
                        "kept": b.kept,
                    }),
                )?;
            } else {
                outln!("loss declared: {}", b.explain())?;
                outln!(
                    "Next: give the log a new key (`passerelle node rotate-keys --config {} --only log`, then the steering group's roster, then --activate); the node's next start under it records the loss in its log",
                    config.display()
                )?;
            }
            return Ok(Status::Done);
        }
        Command::Node(NodeCmd::Check { config }) => {
            setup::check_config(config)?;
            if cli.json {
                output::document("config-valid", serde_json::json!({ "config": config }))?;
            } else {
                outln!("{}: ok", config.display())?;
            }
            return Ok(Status::Done);
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            crate::docs::completions(
                <Cli as clap::CommandFactory>::command(),
                *shell,
                &mut script,
            );
            let script = String::from_utf8(script)?;
            if cli.json {
                output::document(
                    "completions",
                    serde_json::json!({ "shell": shell.to_string(), "script": script }),
                )?;
            } else {
                output::text(&script)?;
            }
            return Ok(Status::Done);
        }
        Command::Man { out } => {
            let pages =
                crate::docs::write_man_pages(<Cli as clap::CommandFactory>::command(), out)?;
            if cli.json {
                output::document(
                    "man-pages",
                    serde_json::json!({ "dir": out, "pages": pages }),
                )?;
            } else {
                outln!("wrote {} manual pages to {}", pages.len(), out.display())?;
            }
            return Ok(Status::Done);
        }
        Command::Demo(args) => {
            crate::demo::run(args.keep.clone(), cli.json).await?;
            return Ok(Status::Done);
        }
        Command::Audit(a) => return run_audit(&cli, a).await,
        Command::Bench(b) => {
            match &b.command {
                None => {
                    crate::bench::run(
                        crate::bench::BenchOptions {
                            requests: b.requests,
                            concurrencies: b.concurrency.clone(),
                            roster_sizes: b.roster_sizes.clone(),
                            peers: b.peers,
                            audit_entries: b.entries,
                        },
                        cli.json,
                    )
                    .await?
                }
                Some(BenchCmd::Exchange {
                    requests,
                    concurrency,
                }) => crate::bench::exchanges(*requests, *concurrency, cli.json).await?,
                Some(BenchCmd::Audit { entries }) => {
                    crate::bench::audit::audit(*entries, cli.json)?
                }
            }
            return Ok(Status::Done);
        }
        Command::Node(NodeCmd::Status) => StaffRequest::Status,
        Command::Whoami => StaffRequest::WhoAmI,
        Command::Staff(StaffCmd::Issue { staff, role, out }) => {
            let path = cli.credential.as_ref().context(Classified::new(
                ErrorKind::Usage,
                "issuing needs the administrator's credential (--credential)",
            ))?;
            // Connected first, so the new credential pins the node's current key.
            let (client, admin) = Client::connect_file(path).await?;
            let key = SigningKey::from_seed(daemon::clock::random());
            let public = key.public();
            let cred = Credential::new(
                staff.clone(),
                admin.institution.clone(),
                *role,
                admin.node_address.clone(),
                client.node_key(),
                key,
            );
            // Written (new file, 0600) before the node registers the key: a path that cannot
            // be written fails with nothing registered, instead of a registered key lost.
            if let Err(e) = cred.save(out) {
                client.close();
                return Err(e);
            }
            let reply = client
                .call(StaffRequest::StaffIssue {
                    staff: staff.clone(),
                    role: *role,
                    key: public,
                })
                .await;
            client.close();
            if let Err(e) = reply {
                if output::kind_of(&e) == ErrorKind::Unreachable {
                    // The request left but no answer came: the key may be registered.
                    return Err(e.context(format!(
                        "{} is kept: `passerelle staff list` tells whether {staff} was registered; if not, delete the file",
                        out.display()
                    )));
                }
                let _ = std::fs::remove_file(out);
                return Err(e);
            }
            if cli.json {
                output::document(
                    "credential-issued",
                    serde_json::json!({ "staff": staff, "role": role, "credential": out }),
                )?;
            } else {
                outln!(
                    "issued {role} credential for {staff}: {} (hand it over privately)",
                    out.display()
                )?;
            }
            return Ok(Status::Done);
        }
        Command::Staff(StaffCmd::Revoke { staff }) => {
            let reply = staff_call(
                &cli,
                StaffRequest::StaffRevoke {
                    staff: staff.clone(),
                },
            )
            .await?;
            if cli.json || !matches!(reply, StaffReply::Done) {
                return show(&cli, &reply);
            }
            // Staff ids are how the node's log attributes actions, not personal data.
            outln!(
                "revoked the credential of {staff}: the node refuses it from the next request on"
            )?;
            return Ok(Status::Done);
        }
        Command::Staff(StaffCmd::List) => StaffRequest::StaffList,
        Command::Roster(RosterCmd::Install { roster }) => {
            StaffRequest::InstallRoster(federation::load_roster(roster)?)
        }
        Command::Records(RecordsCmd::Import { files }) => {
            StaffRequest::ImportRecords(records::read_records(files)?)
        }
        Command::Records(RecordsCmd::ImportPlacements { file }) => {
            let file = records::PlacementsFile::read(file)?;
            let reply = staff_call(&cli, StaffRequest::ImportPlacements(file.set.clone()))
                .await
                .map_err(|e| {
                    // The node's problems name placements by their order; name the file's lines.
                    let Some(told) = file.explain_refusal(&e.root_cause().to_string()) else {
                        return e;
                    };
                    anyhow::anyhow!(told).context(Classified::new(
                        output::kind_of(&e),
                        format!("the node refused {}", file.path.display()),
                    ))
                })?;
            return show(&cli, &reply);
        }
        Command::Stats(StatsCmd::Report { month }) => StaffRequest::StatsReport { month: *month },
        Command::Stats(StatsCmd::Send { month, correction }) => StaffRequest::StatsSend {
            month: *month,
            correction: *correction,
        },
        Command::Stats(StatsCmd::Overlap { month, again }) => StaffRequest::StatsOverlap {
            month: *month,
            again: *again,
        },
        Command::Stats(StatsCmd::Dashboard { out, months, until }) => {
            let reply = staff_call(
                &cli,
                StaffRequest::StatsDashboard {
                    months: *months,
                    until: *until,
                },
            )
            .await?;
            let StaffReply::Dashboard(d) = &reply else {
                return show(&cli, &reply);
            };
            let files = crate::dashboard::write(out, d)?;
            if cli.json {
                output::document(
                    "dashboard",
                    serde_json::json!({ "files": files, "dashboard": d }),
                )?;
            } else {
                let mut text = crate::dashboard::text(d);
                for f in &files {
                    text.push_str(&format!("wrote {}\n", f.display()));
                }
                output::text(&text)?;
            }
            return Ok(Status::Done);
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
            CaseCmd::Leave { case_id } => StaffRequest::CaseLeave { case_id: *case_id },
            CaseCmd::Decline { case_id, reason } => StaffRequest::CaseDecline {
                case_id: *case_id,
                reason: *reason,
            },
            CaseCmd::Remove {
                case_id,
                institution,
            } => StaffRequest::CaseRemove {
                case_id: *case_id,
                institution: institution.clone(),
            },
            CaseCmd::Notify { case_id } => StaffRequest::CaseNotify { case_id: *case_id },
            CaseCmd::HandOver { case_id, to } => StaffRequest::CaseHandOver {
                case_id: *case_id,
                to: to.clone(),
            },
            CaseCmd::Refer {
                case_id,
                institution,
                purpose,
                categories,
            } => StaffRequest::CaseRefer {
                case_id: *case_id,
                institution: institution.clone(),
                purpose: purpose.clone(),
                categories: categories.clone(),
            },
            CaseCmd::List => StaffRequest::CaseList,
            CaseCmd::Show { case_id } => StaffRequest::CaseShow { case_id: *case_id },
        },
        Command::Consent(ConsentCmd::Record(form)) => {
            StaffRequest::ConsentRecord(consent_draft(form)?)
        }
        Command::Consent(ConsentCmd::Replace { consent, form }) => StaffRequest::ConsentReplace {
            replaces: *consent,
            draft: consent_draft(form)?,
        },
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
        Command::Summary(SummaryCmd::Requests) => StaffRequest::RequestList,
        Command::Queue => StaffRequest::Queue,
        Command::Summary(SummaryCmd::Open { summary }) => StaffRequest::SummaryOpen {
            summary_id: *summary,
        },
        Command::Summary(SummaryCmd::Purge { summary }) => StaffRequest::SummaryPurge {
            summary_id: *summary,
        },
        Command::Log(LogCmd::Checkpoint) => StaffRequest::LogCheckpoint,
        Command::Log(LogCmd::Evidence) => StaffRequest::WitnessEvidence,
    };
    let reply = staff_call(&cli, req).await?;
    show(&cli, &reply)
}

async fn run_audit(cli: &Cli, a: &AuditCmd) -> anyhow::Result<Status> {
    match a {
        AuditCmd::Export {
            out,
            wait,
            allow_uncosigned,
        } => {
            let path = cli.credential.as_ref().context(Classified::new(
                ErrorKind::Usage,
                "export needs an auditor credential (--credential)",
            ))?;
            // Connecting once first records the node's rotated key in the file, if it was.
            let (probe, cred) = Client::connect_file(path).await?;
            probe.close();
            let opts = crate::audit::ExportOptions {
                wait: std::time::Duration::from_secs(*wait),
                allow_uncosigned: *allow_uncosigned,
            };
            let e = crate::audit::export(&cred, out, &opts).await?;
            let report = &e.verified.report;
            if cli.json {
                output::document(
                    "audit-exported",
                    serde_json::json!({
                        "bundle": out,
                        "entries": e.size,
                        "cosigned_by": report.cosigned_by,
                        "quorum": e.quorum,
                        "ok": report.ok(),
                        "findings": report.findings,
                    }),
                )?;
            } else {
                outln!(
                    "exported {} log entries of {} to {}, cosigned by {} of {} required witness(es)",
                    e.size,
                    cred.institution,
                    out.display(),
                    report.cosigned_by.len(),
                    e.quorum
                )?;
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
            Ok(Status::Done)
        }
        AuditCmd::Verify {
            bundle,
            kept,
            federation,
        } => {
            let v =
                crate::audit::verify(bundle, kept.as_deref(), federation.as_deref(), !cli.json)?;
            if cli.json {
                output::document(
                    "audit-verified",
                    serde_json::json!({
                        "bundle": bundle,
                        "institution": v.institution,
                        "entries": v.report.checkpoint.as_ref().map(|c| c.size),
                        "cosigned_by": v.report.cosigned_by,
                        "ok": v.report.ok(),
                        "findings": v.report.findings,
                        "declared_losses": v.declared_losses,
                        "roster_checked": v.roster_checked,
                        "kept_checked": v.kept_checked,
                    }),
                )?;
            } else {
                crate::audit::print_report(&v, bundle);
            }
            Ok(if v.report.ok() {
                Status::Done
            } else {
                Status::Findings
            })
        }
        AuditCmd::Reconcile { a, b, federation } => Ok(
            if crate::audit::reconcile(a, b, federation.as_deref(), cli.json)? {
                Status::Done
            } else {
                Status::Findings
            },
        ),
        AuditCmd::Person {
            avs,
            bundles,
            federation,
        } => {
            crate::audit::person(avs, bundles, federation.as_deref(), cli.json)?;
            Ok(Status::Done)
        }
    }
}

/// Edits a roster file, warning when the edit changed a signed version in place.
fn edit_roster(
    path: &std::path::Path,
    f: impl FnOnce(&mut protocol_spec::roster::Roster) -> anyhow::Result<()>,
) -> anyhow::Result<protocol_spec::roster::SignedRoster> {
    let (r, warning) = federation::edit_checked(path, now(), f)?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    Ok(r)
}

fn run_federation(cli: &Cli, f: &FederationCmd) -> anyhow::Result<()> {
    let summary_after = |r: &protocol_spec::roster::SignedRoster,
                         what: &str,
                         removed: Option<&protocol_spec::roster::Member>|
     -> anyhow::Result<()> {
        // Warnings go to stderr, so the JSON document on stdout stays the one document.
        for w in federation::warnings_after(&r.roster, removed) {
            eprintln!("warning: {w}");
        }
        if cli.json {
            return output::document("roster", r);
        }
        outln!(
            "{what}: roster `{}` version {}, {} member(s), {} policy rule(s), {} signature(s)",
            r.roster.federation,
            r.roster.version,
            r.roster.members.len(),
            r.roster.policy.len(),
            r.signatures.len()
        )?;
        Ok(())
    };
    let summary =
        |r: &protocol_spec::roster::SignedRoster, what: &str| summary_after(r, what, None);
    match f {
        FederationCmd::Init {
            name,
            authorities,
            threshold,
            dir,
        } => {
            let out = federation::init(dir, name, *authorities, *threshold, now())?;
            if cli.json {
                return output::document(
                    "federation-created",
                    serde_json::json!({ "federation": out.federation, "roster": out.roster, "keys": out.keys }),
                );
            }
            outln!(
                "created federation `{name}` ({threshold} of {authorities} authorities must sign)"
            )?;
            outln!(
                "  anchor        {}  (give to every node)",
                out.federation.display()
            )?;
            outln!("  roster draft  {}", out.roster.display())?;
            for k in &out.keys {
                outln!(
                    "  authority key {}  (give to one steering-group member, keep private)",
                    k.display()
                )?;
            }
            Ok(())
        }
        FederationCmd::AddMember { roster, member } => {
            let m = federation::load_member(member)?;
            let r = edit_roster(roster, |r| federation::add_member(r, m))?;
            summary(&r, "member added")
        }
        FederationCmd::RemoveMember {
            roster,
            institution,
            replacement_witness,
            lower_quorum,
        } => {
            let fallback = federation::WitnessFallback {
                replacement: replacement_witness.clone(),
                lower_quorum: *lower_quorum,
            };
            let mut removed = None;
            let r = edit_roster(roster, |r| {
                removed = r.member(institution).cloned();
                federation::remove_member(r, institution, &fallback)
            })?;
            summary_after(&r, "member removed", removed.as_ref())
        }
        FederationCmd::RotateMember { roster, member } => {
            let m = federation::load_member(member)?;
            let mut changed = Vec::new();
            let r = edit_roster(roster, |r| {
                changed = federation::rotate_member(r, &m)?;
                Ok(())
            })?;
            summary(
                &r,
                &format!("new {} key(s) of {}", changed.join(", "), m.id),
            )
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
            let r = edit_roster(roster, |r| {
                federation::allow(r, sector.clone(), purpose.clone(), cats);
                Ok(())
            })?;
            summary(&r, "policy updated")
        }
        FederationCmd::Retention {
            roster,
            purpose,
            days,
        } => {
            let r = edit_roster(roster, |r| {
                r.retention.retain(|x| &x.purpose != purpose);
                r.retention.push(protocol_spec::roster::Retention {
                    purpose: purpose.clone(),
                    days: *days,
                });
                r.retention.sort_by(|a, b| a.purpose.cmp(&b.purpose));
                Ok(())
            })?;
            summary(&r, "retention set")
        }
        FederationCmd::Measure {
            roster,
            id,
            name,
            provider,
            places,
            cost_per_place_month,
            remove,
        } => {
            let r = edit_roster(roster, |r| {
                let stats = r.statistics.get_or_insert_with(Default::default);
                if *remove {
                    if stats.measure(id).is_none() {
                        bail!("no measure {id} is declared");
                    }
                    stats.measures.retain(|m| &m.id != id);
                    return Ok(());
                }
                let measure = protocol_spec::stats::Measure {
                    id: id.clone(),
                    name: name.clone(),
                    provider: provider.clone(),
                    places: places.clone(),
                    cost_per_place_month: *cost_per_place_month,
                };
                match stats.measures.iter_mut().find(|m| &m.id == id) {
                    Some(m) => *m = measure,
                    None => stats.measures.push(measure),
                }
                Ok(())
            })?;
            summary(
                &r,
                if *remove {
                    "measure removed"
                } else {
                    "measure set"
                },
            )
        }
        FederationCmd::GridField {
            roster,
            category,
            field,
            values,
        } => {
            let r = edit_roster(roster, |r| {
                let stats = r.statistics.get_or_insert_with(Default::default);
                let g = protocol_spec::stats::GridField {
                    category: *category,
                    field: field.clone(),
                    values: values.iter().map(|v| v.trim().to_string()).collect(),
                };
                match stats
                    .grid_fields
                    .iter_mut()
                    .find(|x| x.category == *category && &x.field == field)
                {
                    Some(x) => *x = g,
                    None => stats.grid_fields.push(g),
                }
                Ok(())
            })?;
            summary(&r, "grid field set")
        }
        FederationCmd::Statistics {
            roster,
            threshold,
            epsilon_per_release,
            epsilon_per_month,
            dashboard,
        } => {
            let r = edit_roster(roster, |r| {
                if let Some(d) = dashboard
                    && r.member(d).is_none()
                {
                    bail!(
                        "{d} is not a member of the roster; add it first (`federation add-member`)"
                    );
                }
                let stats = r.statistics.get_or_insert_with(Default::default);
                stats.threshold = *threshold;
                if let Some(d) = dashboard {
                    stats.dashboard = Some(d.clone());
                }
                stats.privacy = match (epsilon_per_release, epsilon_per_month) {
                    (Some(e), Some(m)) => Some(protocol_spec::stats::PrivacyBudget {
                        epsilon_per_release_milli: *e,
                        epsilon_per_month_milli: *m,
                    }),
                    _ => None,
                };
                Ok(())
            })?;
            summary(&r, "statistics set")
        }
        FederationCmd::Witnesses {
            roster,
            institution,
            witnesses,
            quorum,
        } => {
            let r = edit_roster(roster, |r| {
                federation::set_witnesses(r, institution, witnesses.clone(), *quorum)
            })?;
            summary(&r, "witness policy set")
        }
        FederationCmd::NewVersion { roster } => {
            let r = edit_roster(roster, |r| {
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
                return output::document("roster", &r);
            }
            summary(&r, "roster")?;
            if r.roster.members.is_empty() {
                outln!("no members yet: add them with `passerelle federation add-member`")?;
                return Ok(());
            }
            output::text(&crate::table::table(
                ["MEMBER", "SECTOR", "NAME", "ADDRESS"],
                r.roster.members.iter().map(|m| {
                    [
                        m.id.to_string(),
                        m.sector.to_string(),
                        m.name.clone(),
                        m.address.clone(),
                    ]
                }),
            ))?;
            if !r.roster.policy.is_empty() {
                outln!("\nexchange policy: the sector may receive the categories for the purpose")?;
                output::text(&crate::table::table(
                    ["SECTOR", "PURPOSE", "CATEGORIES"],
                    r.roster.policy.iter().map(|p| {
                        [
                            p.sector.to_string(),
                            p.purpose.to_string(),
                            crate::table::joined(p.categories.iter().map(|c| c.as_str())),
                        ]
                    }),
                ))?;
            }
            Ok(())
        }
    }
}

/// The draft a consent form gives: the scanned form is read here and only its digest sent.
fn consent_draft(f: &ConsentForm) -> anyhow::Result<ConsentDraft> {
    let form_digest = match &f.form {
        Some(p) => Some(protocol_spec::keys::sha256(&[&std::fs::read(p)
            .with_context(|| {
                format!("cannot read consent form {}", p.display())
            })?])),
        None => None,
    };
    Ok(ConsentDraft {
        case_id: f.case_id,
        participants: f.participants.clone(),
        purposes: f.purposes.clone(),
        categories: flat(f.categories.clone()),
        valid_from: dates::parse_day(&f.from)?,
        valid_until: dates::parse_day_end(&f.until)?,
        form_digest,
    })
}

/// `node health`: one probe of the node's observability endpoint.
async fn node_health(
    address: Option<SocketAddr>,
    config: Option<&std::path::Path>,
    live: bool,
    json: bool,
) -> anyhow::Result<Status> {
    let addr = match (address, config) {
        (Some(a), _) => a,
        (None, Some(path)) => daemon::config::observability_of(path)?
            .map(|o| o.listen)
            .with_context(|| {
                format!(
                    "{} has no [observability] table: the node serves no health endpoint (add `listen = \"127.0.0.1:9464\"` under [observability] and restart it)",
                    path.display()
                )
            })?,
        (None, None) => bail!("give --address or --config"),
    };
    let path = if live { "/livez" } else { "/readyz" };
    let (_, health) = daemon::observability::health(addr, path)
        .await
        .context(Classified::new(
            ErrorKind::Unreachable,
            format!("cannot ask the node's observability endpoint at {addr} (is the node running with this [observability] listen address?)"),
        ))?;
    let what = if live { "live" } else { "ready" };
    if json {
        output::document(
            "health",
            serde_json::json!({ "address": addr, "probe": what, "ok": health.ok, "checks": health.checks }),
        )?;
    } else {
        let verdict = if health.ok {
            what.to_string()
        } else {
            format!("NOT {what}")
        };
        outln!("node at {addr}: {verdict}")?;
        for c in &health.checks {
            outln!(
                "  {:<13} {:<4} {}",
                c.name,
                if c.ok { "ok" } else { "FAIL" },
                c.detail
            )?;
        }
    }
    Ok(if health.ok {
        Status::Done
    } else {
        Status::Findings
    })
}
