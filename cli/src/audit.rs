//! Auditor commands: export a node's log as a C2SP tlog-tiles bundle, verify bundles offline,
//! reconcile two nodes' logs, and a person's access report.

use crate::client::Client;
use crate::credential::Credential;
use anyhow::{Context, bail};
use daemon::log::{log_vkey, witness_vkey};
use protocol_spec::audit::{self, BundleFiles, BundleKeys, BundleReport, LogView, ReadError};
use protocol_spec::avs::Avs;
use protocol_spec::entry::LogEntry;
use protocol_spec::ids::InstitutionId;
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::tlog::cosignature::count_cosignatures;
use protocol_spec::tlog::note::{Note, VerifierKey, verify_note};
use protocol_spec::tlog::{Checkpoint, tiles};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `audit export` waits by default for the witness quorum: a node asks its witnesses
/// every 5 seconds while its log grows, and one round can take a peer timeout (15 s).
pub const DEFAULT_EXPORT_WAIT: Duration = Duration::from_secs(30);
/// Pause between two requests for a cosigned checkpoint.
const COSIGN_POLL: Duration = Duration::from_secs(2);

pub struct ExportOptions {
    /// Longest wait for a checkpoint carrying the witness quorum.
    pub wait: Duration,
    /// Write the bundle even if the quorum did not come in time (its verify then fails).
    pub allow_uncosigned: bool,
}

/// What `audit export` wrote, as its own verify judges it.
pub struct Exported {
    pub size: u64,
    pub quorum: usize,
    pub verified: Verified,
}

/// The node's newest checkpoint after a witnessing round, with the names of the witnesses
/// that cosigned it. The round runs on the node; if it takes longer than the staff request
/// timeout (a witness unreachable), the checkpoint signed so far is taken instead.
async fn cosigned_checkpoint(
    client: &Client,
    log: &VerifierKey,
    witnesses: &[VerifierKey],
) -> anyhow::Result<(String, Checkpoint, Vec<String>)> {
    let text = match client.call(StaffRequest::LogCheckpoint).await {
        Ok(StaffReply::Checkpoint { note }) => note,
        Ok(other) => bail!("unexpected reply to a checkpoint request: {other:?}"),
        Err(_) => match client
            .call(StaffRequest::LogTile {
                path: "checkpoint".into(),
            })
            .await?
        {
            StaffReply::LogData(b) => {
                String::from_utf8(b).context("the node's checkpoint is not UTF-8")?
            }
            other => bail!("unexpected reply to a checkpoint request: {other:?}"),
        },
    };
    let note = Note::parse(&text).context("the node's checkpoint is not a signed note")?;
    verify_note(&note, std::slice::from_ref(log))
        .context("the node's checkpoint does not verify against its log key in the roster")?;
    let cp = Checkpoint::parse(&note.text)?;
    let names = count_cosignatures(&note, witnesses)
        .context("a cosignature on the node's checkpoint fails")?;
    Ok((text, cp, names))
}

/// Creates `dir` if needed and makes it 0700 whatever the umask: a bundle holds salted
/// person commitments.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    Ok(())
}

/// Writes the bundle: `tile/…`, `roster.toml`, `institution`, `log.vkey`, `witnesses.vkeys`,
/// then `checkpoint` last, so that an interrupted export has no checkpoint. It first waits,
/// up to `opts.wait`, for a checkpoint carrying the roster's witness quorum, and without one
/// writes nothing unless `opts.allow_uncosigned`. Then it verifies what it wrote. Files are
/// 0600 in 0700 directories.
pub async fn export(
    cred: &Credential,
    out: &Path,
    opts: &ExportOptions,
) -> anyhow::Result<Exported> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty", out.display());
    }
    // Only the bundle's own directory is created: a mistyped path fails here instead of
    // leaving salted person commitments in directories nobody meant to make.
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!(
            "{} does not exist: create it first, or check the spelling (only the bundle's own directory is created)",
            parent.display()
        );
    }
    let client = Client::connect(cred).await?;
    let roster = match client.call(StaffRequest::Roster).await? {
        StaffReply::Roster(r) => r,
        other => bail!("unexpected reply {other:?}"),
    };
    let (log, witnesses, quorum) = keys_for(&roster, &cred.institution)?;
    let deadline = Instant::now() + opts.wait;
    let (checkpoint, cp, cosigned) = loop {
        let (text, cp, names) = cosigned_checkpoint(&client, &log, &witnesses).await?;
        let now = Instant::now();
        if names.len() >= quorum || now >= deadline {
            break (text, cp, names);
        }
        tokio::time::sleep(COSIGN_POLL.min(deadline - now)).await;
    };
    if cosigned.len() < quorum && !opts.allow_uncosigned {
        client.close();
        let missing: Vec<String> = witnesses
            .iter()
            .filter(|w| !cosigned.contains(&w.name))
            .map(|w| w.name.clone())
            .collect();
        bail!(
            "the node's newest checkpoint ({} entries) is not yet cosigned: {} of the {quorum} \
             witness cosignature(s) the roster requires after waiting {} s (not yet from: {}). \
             Nothing was written, since `passerelle audit verify` would reject the bundle. The \
             node asks its witnesses every 5 seconds while its log grows: retry in a moment, or \
             with a longer --wait; if it persists, check that the witnesses are running and \
             reachable. --allow-uncosigned writes the bundle anyway.",
            cp.size,
            cosigned.len(),
            opts.wait.as_secs(),
            missing.join(", ")
        );
    }

    private_dir(out)?;
    let write = |rel: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let mut dir = out.to_path_buf();
        for step in Path::new(rel)
            .parent()
            .into_iter()
            .flat_map(Path::components)
        {
            dir.push(step);
            if !dir.is_dir() {
                private_dir(&dir)?;
            }
        }
        crate::files::write_private(&out.join(rel), bytes)
    };
    let paths = tiles::level_tile_paths(cp.size)
        .map(|t| t.0)
        .chain(tiles::entry_bundle_paths(cp.size).map(|t| t.0));
    let bar = progress(tiles::tile_count(cp.size), "tiles");
    for p in paths {
        let bytes = match client
            .call(StaffRequest::LogTile { path: p.clone() })
            .await?
        {
            StaffReply::LogData(b) => b,
            other => bail!("unexpected reply for {p}: {other:?}"),
        };
        write(&p, &bytes)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    client.close();
    write("roster.toml", toml::to_string(&roster)?.as_bytes())?;
    write("institution", format!("{}\n", cred.institution).as_bytes())?;
    write("log.vkey", format!("{}\n", log.to_text()).as_bytes())?;
    let w: String = witnesses
        .iter()
        .map(|k| format!("{}\n", k.to_text()))
        .collect();
    write("witnesses.vkeys", w.as_bytes())?;
    write("checkpoint", checkpoint.as_bytes())?;
    Ok(Exported {
        size: cp.size,
        quorum,
        verified: verify(out, None, None, false)?,
    })
}

fn keys_for(
    roster: &SignedRoster,
    id: &InstitutionId,
) -> anyhow::Result<(VerifierKey, Vec<VerifierKey>, usize)> {
    let r = &roster.roster;
    let m = r
        .member(id)
        .with_context(|| format!("the bundle's roster does not list {id}"))?;
    let log = log_vkey(r, id).expect("member");
    let witnesses = m
        .witnesses
        .iter()
        .filter_map(|w| witness_vkey(r, w))
        .collect();
    Ok((log, witnesses, usize::from(m.witness_quorum)))
}

/// The verifier keys of the log's former keys in the roster's history (spec §5.1).
fn former_log_vkeys(
    roster: &SignedRoster,
    id: &InstitutionId,
    current: &VerifierKey,
) -> Vec<VerifierKey> {
    roster
        .roster
        .log_keys(id)
        .into_iter()
        .skip(usize::from(roster.roster.member(id).is_some()))
        .map(|k| VerifierKey::new(&current.name, protocol_spec::tlog::note::SIG_ED25519, k))
        .collect()
}

fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {what}"))
            .expect("progress template"),
    );
    if len < 10_000 && what == "entries" {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

pub struct Verified {
    pub institution: InstitutionId,
    pub report: BundleReport,
    /// The losses the log declares (`log-loss` entries, transparency-log.md §7.6), as text.
    pub declared_losses: Vec<String>,
    /// Whether the bundle's roster was checked against the federation's authority keys;
    /// without, the keys it names are the bundle's own word.
    pub roster_checked: bool,
    /// Whether the log was checked consistent with a kept checkpoint.
    pub kept_checked: bool,
}

/// What a verification without the federation's anchor rests on, said wherever logs are
/// verified: a forged bundle can carry a roster naming its forger's keys.
pub const ROSTER_UNCHECKED: &str = "roster not checked against the federation's key: the log \
    key, witness keys and quorum come from the bundle's own roster.toml, taken on trust (pass \
    --federation federation.toml to check it)";

/// The trust the logs were verified under, as one line.
pub fn trust(federation: Option<&Path>) -> String {
    match federation {
        Some(f) => format!(
            "roster signatures checked against the federation's key ({})",
            f.display()
        ),
        None => ROSTER_UNCHECKED.to_string(),
    }
}

/// A `log-loss` entry (transparency-log.md §7.6), explained; other entries are passed over
/// without being parsed, so verification keeps its pace.
fn declared_loss(index: u64, entry: &[u8]) -> Option<String> {
    if !entry
        .windows(LOSS_KIND.len())
        .any(|w| w == LOSS_KIND.as_bytes())
    {
        return None;
    }
    match LogEntry::parse(entry) {
        Ok(LogEntry::LogLoss(l)) => Some(format!(
            "entry {index}: declared loss at {}: witness {} had cosigned {} entries, the \
             restored store kept {} (root {}); the log went on under a new log key (the \
             former one {})",
            crate::dates::format_time(l.time),
            l.witness,
            l.cosigned,
            l.kept,
            hex::encode(l.kept_root),
            protocol_spec::keys::PublicKey(l.former_key)
        )),
        _ => None,
    }
}

/// The kind line of a `log-loss` entry.
const LOSS_KIND: &str = "\nkind log-loss\n";

/// Largest roster file read from a bundle; rosters of real federations are a few kilobytes.
const MAX_ROSTER_LEN: usize = 1 << 20;
/// Largest institution id or vkey list read from a bundle.
const MAX_SMALL_FILE_LEN: usize = 64 * 1024;
/// Directory depth under `tile/` that a tile path can reach (`tile/entries/x…/x…/…/N.p/W`).
const MAX_TILE_DEPTH: usize = 12;

/// Reads a regular file of at most `limit` bytes, refusing larger ones before reading them.
fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    read_bounded_into(path, limit, &mut bytes)?;
    Ok(bytes)
}

/// [`read_bounded`] into `bytes`, whose allocation is reused: the verifier reads thousands of
/// tiles one after another.
fn read_bounded_into(path: &Path, limit: usize, bytes: &mut Vec<u8>) -> Result<(), ReadError> {
    bytes.clear();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::Unreadable(format!("cannot be read: {e}"))),
    };
    // A FIFO or a device (/dev/zero) would block or never end.
    if !meta.is_file() {
        return Err(ReadError::Unreadable("not a regular file".into()));
    }
    if meta.len() > limit as u64 {
        return Err(ReadError::TooLarge);
    }
    // The size just checked, and one byte to see a file that grew since.
    bytes.reserve(meta.len() as usize + 1);
    std::fs::File::open(path)
        .and_then(|f| f.take(limit as u64 + 1).read_to_end(bytes))
        .map_err(|e| ReadError::Unreadable(format!("cannot be read: {e}")))?;
    if bytes.len() > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(())
}

/// A bundle on disk, read into one buffer reused from file to file. Paths come from the
/// verifier or from listing the bundle itself, so they stay inside it.
struct BundleDir<'a> {
    root: &'a Path,
    buffer: Vec<u8>,
}

impl BundleFiles for BundleDir<'_> {
    fn read(&mut self, path: &str, limit: usize) -> Result<Vec<u8>, ReadError> {
        read_bounded(&self.root.join(path), limit)
    }

    fn tile_files(&mut self, each: &mut dyn FnMut(&str)) {
        walk(&self.root.join("tile"), "tile", 0, each);
    }

    fn with_file(
        &mut self,
        path: &str,
        limit: usize,
        use_bytes: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ReadError> {
        read_bounded_into(&self.root.join(path), limit, &mut self.buffer)?;
        use_bytes(&self.buffer);
        Ok(())
    }
}

/// Lists the files under `dir` as `rel/…`. Symbolic links and anything deeper than a tile
/// path can be are listed as they are, not followed, so the verifier reports them.
fn walk(dir: &Path, rel: &str, depth: usize, each: &mut dyn FnMut(&str)) {
    let Ok(list) = std::fs::read_dir(dir) else {
        return;
    };
    for e in list.flatten() {
        let rel = format!("{rel}/{}", e.file_name().to_string_lossy());
        match e.file_type() {
            Ok(t) if t.is_dir() && depth < MAX_TILE_DEPTH => walk(&e.path(), &rel, depth + 1, each),
            _ => each(&rel),
        }
    }
}

/// A bundle's text file, bounded; the error names the file and the problem.
fn read_text(bundle: &Path, name: &str, limit: usize) -> anyhow::Result<String> {
    let bytes = read_bounded(&bundle.join(name), limit).map_err(|e| {
        let why = match e {
            ReadError::Missing => "missing".to_string(),
            ReadError::TooLarge => format!("larger than {limit} bytes"),
            ReadError::Unreadable(e) => e,
        };
        anyhow::anyhow!("bundle {}: {name} is {why}", bundle.display())
    })?;
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("bundle {}: {name} is not UTF-8", bundle.display()))
}

/// Verifies one bundle offline. The keys come from the bundle's roster, checked against the
/// federation anchor when one is given, and must equal the bundle's vkey files. Entries are
/// checked as they are read and none is kept, so memory does not grow with the log.
pub fn verify(
    bundle: &Path,
    kept: Option<&Path>,
    federation: Option<&Path>,
    show_progress: bool,
) -> anyhow::Result<Verified> {
    verify_with(bundle, kept, federation, show_progress, &mut |_, _| {})
}

/// [`verify`], also handing `entry` each entry read, with its index, in log order.
fn verify_with(
    bundle: &Path,
    kept: Option<&Path>,
    federation: Option<&Path>,
    show_progress: bool,
    entry: &mut dyn FnMut(u64, &[u8]),
) -> anyhow::Result<Verified> {
    // Said as such, not as its first file missing.
    match std::fs::metadata(bundle) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("bundle {}: the directory does not exist", bundle.display())
        }
        Err(e) => bail!("bundle {}: cannot be read: {e}", bundle.display()),
        Ok(m) if !m.is_dir() => bail!("bundle {}: not a directory", bundle.display()),
        Ok(_) => {}
    }
    let institution: InstitutionId = read_text(bundle, "institution", MAX_SMALL_FILE_LEN)?
        .trim()
        .parse()?;
    let roster: SignedRoster = toml::from_str(&read_text(bundle, "roster.toml", MAX_ROSTER_LEN)?)
        .context("bundle roster is invalid")?;
    let mut pre = Vec::new();
    if let Some(f) = federation {
        let anchor = crate::federation::load_federation(f)?;
        if let Err(e) = roster.verify(&anchor.authorities) {
            pre.push(audit::Finding {
                location: "roster.toml".into(),
                problem: format!("not signed by the federation's threshold: {e}"),
            });
        }
    }
    let (log, witnesses, quorum) = keys_for(&roster, &institution)?;
    if read_text(bundle, "log.vkey", MAX_SMALL_FILE_LEN)?.trim() != log.to_text() {
        pre.push(audit::Finding {
            location: "log.vkey".into(),
            problem: "does not match the roster's log key".into(),
        });
    }
    let listed: Vec<String> = read_text(bundle, "witnesses.vkeys", MAX_SMALL_FILE_LEN)?
        .lines()
        .map(str::to_string)
        .collect();
    if listed
        != witnesses
            .iter()
            .map(VerifierKey::to_text)
            .collect::<Vec<_>>()
    {
        pre.push(audit::Finding {
            location: "witnesses.vkeys".into(),
            problem: "do not match the roster's witness keys".into(),
        });
    }
    let kept_text = match kept {
        Some(p) => Some(
            read_bounded(p, audit::MAX_CHECKPOINT_LEN)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .with_context(|| {
                    format!(
                        "cannot read kept checkpoint {} (missing, unreadable, not UTF-8 or \
                         larger than {} bytes)",
                        p.display(),
                        audit::MAX_CHECKPOINT_LEN
                    )
                })?,
        ),
        None => None,
    };
    let former_logs = former_log_vkeys(&roster, &institution, &log);
    let keys = BundleKeys {
        log,
        former_logs,
        witnesses,
        quorum,
    };
    // Only for the progress bar's length, which allocates nothing for a huge claim.
    let size_hint = read_bounded(&bundle.join("checkpoint"), audit::MAX_CHECKPOINT_LEN)
        .ok()
        .and_then(|b| {
            let t = String::from_utf8(b).ok()?;
            t.lines().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    let bar = progress(size_hint, "entries");
    if !show_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut losses = Vec::new();
    let mut each = |index: u64, bytes: &[u8]| {
        losses.extend(declared_loss(index, bytes));
        entry(index, bytes);
    };
    let mut report = audit::verify_bundle_with(
        &mut BundleDir {
            root: bundle,
            buffer: Vec::new(),
        },
        &keys,
        kept_text.as_deref(),
        &mut |n| bar.set_position(n),
        &mut each,
    );
    bar.finish_and_clear();
    pre.append(&mut report.findings);
    report.findings = pre;
    Ok(Verified {
        institution,
        declared_losses: losses,
        report,
        roster_checked: federation.is_some(),
        kept_checked: kept.is_some(),
    })
}

pub fn print_report(v: &Verified, bundle: &Path) {
    match &v.report.checkpoint {
        Some(cp) => println!(
            "{}: log of {} with {} entries, root {}, cosigned by {}",
            bundle.display(),
            v.institution,
            cp.size,
            hex::encode(cp.root),
            if v.report.cosigned_by.is_empty() {
                "no witness".to_string()
            } else {
                v.report.cosigned_by.join(", ")
            }
        ),
        None => println!("{}: no usable checkpoint", bundle.display()),
    }
    if v.report.ok() {
        let mut held = Vec::new();
        if v.roster_checked {
            held.push("roster signatures against the federation's key");
        }
        held.extend([
            "log signature",
            "witness quorum",
            "every entry and tile",
            "root",
        ]);
        if v.kept_checked {
            held.push("consistency with the kept checkpoint");
        }
        println!("  verified: {}", held.join(", "));
    }
    if !v.roster_checked {
        println!("  {ROSTER_UNCHECKED}");
    }
    for l in &v.declared_losses {
        println!("  NOTE {l}");
    }
    for f in &v.report.findings {
        println!("  FAILED {}: {}", f.location, f.problem);
    }
}

/// Verifies every bundle, each roster against `federation` when given, and bails out naming
/// the first that fails: reports are built only from verified logs. The entries are parsed as
/// the verifier reads them; reconciling and a person's report need them all, which `audit
/// verify` alone does not keep.
pub fn verified_views(
    bundles: &[PathBuf],
    federation: Option<&Path>,
) -> anyhow::Result<Vec<LogView>> {
    let mut out = Vec::new();
    for b in bundles {
        let mut entries = Vec::new();
        let mut malformed = false;
        let v = verify_with(
            b,
            None,
            federation,
            false,
            &mut |_, e| match LogEntry::parse(e) {
                Ok(e) => entries.push(e),
                Err(_) => malformed = true,
            },
        )?;
        if !v.report.ok() {
            print_report(&v, b);
            bail!(
                "bundle {} does not verify; nothing is reported from unverified logs",
                b.display()
            );
        }
        // Cannot happen once the log verified (every entry's format is checked); an error,
        // not a panic, all the same.
        if malformed {
            bail!("bundle {}: a bundle entry is malformed", b.display());
        }
        out.push(LogView {
            institution: v.institution.to_string(),
            entries,
        });
    }
    Ok(out)
}

/// In JSON, stdout holds the one document: the trust goes to stderr, and only when the
/// rosters were taken on trust.
fn say_trust(federation: Option<&Path>, json: bool) {
    if !json {
        println!("{}", trust(federation));
    } else if federation.is_none() {
        eprintln!("note: {ROSTER_UNCHECKED}");
    }
}

pub fn reconcile(
    a: &Path,
    b: &Path,
    federation: Option<&Path>,
    json: bool,
) -> anyhow::Result<bool> {
    let views = verified_views(&[a.to_path_buf(), b.to_path_buf()], federation)?;
    let diffs = audit::reconcile(&views[0], &views[1]);
    say_trust(federation, json);
    if json {
        println!("{}", serde_json::to_string_pretty(&diffs)?);
    } else if diffs.is_empty() {
        println!(
            "{} and {}: every disclosure has its receipt and every receipt its disclosure",
            views[0].institution, views[1].institution
        );
    } else {
        for d in &diffs {
            println!(
                "{} entry {} ({}, request {}): {} at {}",
                d.institution, d.index, d.kind, d.request, d.what, d.counterpart
            );
        }
    }
    Ok(diffs.is_empty())
}

pub fn person(
    avs: &Avs,
    bundles: &[PathBuf],
    federation: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let views = verified_views(bundles, federation)?;
    let report = audit::person_report(avs, &views);
    say_trust(federation, json);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "access report for {avs} from {} verified log(s): {} event(s)",
        views.len(),
        report.len()
    );
    for a in &report {
        let mut line = format!(
            "{}  {:<16} {:<8} ",
            crate::dates::format_time(a.time),
            a.kind,
            a.logged_by
        );
        let field = |label: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| format!(" {label} {v}"))
                .unwrap_or_default()
        };
        line.push_str(&field("peer", &a.peer));
        line.push_str(&field("purpose", &a.purpose));
        line.push_str(&field("categories", &a.categories));
        line.push_str(&field("consent", &a.consent));
        line.push_str(&field("outcome", &a.code.as_deref().map(readable_detail)));
        line.push_str(&field("staff", &a.staff));
        println!("{}", line.trim_end());
    }
    Ok(())
}

/// A case change as staff read it: a recorded consent's validity in calendar days, as
/// `case show` prints it, not the log's unix seconds. Anything else is shown as logged.
fn readable_detail(detail: &str) -> String {
    use protocol_spec::entry::{CaseDetail, Value};
    match CaseDetail::decode(detail) {
        Ok(CaseDetail::ConsentRecorded {
            valid_from,
            valid_until,
            ..
        }) => match detail.rsplit_once(' ') {
            Some((head, _)) => format!(
                "{head} {}",
                crate::render::validity(valid_from, valid_until)
            ),
            None => detail.to_string(),
        },
        _ => detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_recorded_consent_reads_in_days() {
        let logged = format!(
            "consent-recorded {} coordinated-assessment employment 1795305600..1826841599",
            "ab".repeat(16)
        );
        let shown = super::readable_detail(&logged);
        assert!(
            shown.ends_with(" employment 2026-11-22..2027-11-21"),
            "{shown}"
        );
        assert_eq!(super::readable_detail("opened"), "opened");
    }
}
