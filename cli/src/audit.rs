//! Auditor commands: export a node's log as a C2SP tlog-tiles bundle, verify bundles offline,
//! reconcile two nodes' logs, and a person's access report.

use crate::client::Client;
use crate::credential::Credential;
use anyhow::{Context, bail};
use daemon::log::{log_vkey, witness_vkey};
use protocol_spec::audit::{self, BundleKeys, BundleReport, LogView};
use protocol_spec::avs::Avs;
use protocol_spec::entry::Entry;
use protocol_spec::ids::InstitutionId;
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::tlog::note::{Note, VerifierKey};
use protocol_spec::tlog::{Checkpoint, tiles};
use std::path::{Path, PathBuf};

/// Writes the bundle: `checkpoint`, `tile/…`, `roster.toml`, `log.vkey`, `witnesses.vkeys`,
/// `institution`. Returns the checkpoint size.
pub async fn export(cred: &Credential, out: &Path) -> anyhow::Result<u64> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty", out.display());
    }
    let client = Client::connect(cred).await?;
    let fetch = |path: String| {
        let client = &client;
        async move {
            match client
                .call(StaffRequest::LogTile { path: path.clone() })
                .await?
            {
                StaffReply::LogData(b) => Ok::<_, anyhow::Error>(b),
                other => bail!("unexpected reply for {path}: {other:?}"),
            }
        }
    };
    let checkpoint = fetch("checkpoint".into()).await?;
    let note = Note::parse(std::str::from_utf8(&checkpoint)?)?;
    let cp = Checkpoint::parse(&note.text)?;
    let roster = match client.call(StaffRequest::Roster).await? {
        StaffReply::Roster(r) => r,
        other => bail!("unexpected reply {other:?}"),
    };
    let write = |rel: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let p = out.join(rel);
        std::fs::create_dir_all(p.parent().expect("inside bundle"))?;
        std::fs::write(&p, bytes).with_context(|| format!("cannot write {}", p.display()))
    };
    let paths: Vec<String> = tiles::level_tile_paths(cp.size)
        .into_iter()
        .map(|t| t.0)
        .chain(tiles::entry_bundle_paths(cp.size).into_iter().map(|t| t.0))
        .collect();
    let bar = progress(paths.len() as u64, "tiles");
    for p in paths {
        write(&p, &fetch(p.clone()).await?)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    client.close();
    write("checkpoint", &checkpoint)?;
    write("roster.toml", toml::to_string(&roster)?.as_bytes())?;
    write("institution", format!("{}\n", cred.institution).as_bytes())?;
    let (log, witnesses, _) = keys_for(&roster, &cred.institution)?;
    write("log.vkey", format!("{}\n", log.to_text()).as_bytes())?;
    let w: String = witnesses
        .iter()
        .map(|k| format!("{}\n", k.to_text()))
        .collect();
    write("witnesses.vkeys", w.as_bytes())?;
    Ok(cp.size)
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
}

/// Verifies one bundle offline. The keys come from the bundle's roster, checked against the
/// federation anchor when one is given, and must equal the bundle's vkey files.
pub fn verify(
    bundle: &Path,
    kept: Option<&Path>,
    federation: Option<&Path>,
    show_progress: bool,
) -> anyhow::Result<Verified> {
    let read_text = |name: &str| {
        std::fs::read_to_string(bundle.join(name))
            .with_context(|| format!("bundle {} has no readable {name}", bundle.display()))
    };
    let institution: InstitutionId = read_text("institution")?.trim().parse()?;
    let roster: SignedRoster =
        toml::from_str(&read_text("roster.toml")?).context("bundle roster is invalid")?;
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
    if read_text("log.vkey")?.trim() != log.to_text() {
        pre.push(audit::Finding {
            location: "log.vkey".into(),
            problem: "does not match the roster's log key".into(),
        });
    }
    let listed: Vec<String> = read_text("witnesses.vkeys")?
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
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read kept checkpoint {}", p.display()))?,
        ),
        None => None,
    };
    let keys = BundleKeys {
        log,
        witnesses,
        quorum,
    };
    let size_hint = std::fs::read_to_string(bundle.join("checkpoint"))
        .ok()
        .and_then(|t| t.lines().nth(1).and_then(|s| s.parse::<u64>().ok()))
        .unwrap_or(0);
    let bar = progress(size_hint, "entries");
    if !show_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut read = |p: &str| -> Option<Vec<u8>> {
        // Paths come from the verifier itself, never from the bundle, so they stay inside it.
        std::fs::read(bundle.join(p)).ok()
    };
    let mut report = audit::verify_bundle(&mut read, &keys, kept_text.as_deref(), &mut |n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    pre.append(&mut report.findings);
    report.findings = pre;
    Ok(Verified {
        institution,
        report,
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
        println!("  verified: log signature, witness quorum, every entry and tile, root");
    }
    for f in &v.report.findings {
        println!("  FAILED {}: {}", f.location, f.problem);
    }
}

fn view(v: &Verified) -> anyhow::Result<LogView> {
    let entries = v
        .report
        .entries
        .iter()
        .map(|e| Entry::parse(e))
        .collect::<Result<Vec<_>, _>>()
        .context("a bundle entry is malformed")?;
    Ok(LogView {
        institution: v.institution.to_string(),
        entries,
    })
}

/// Verifies every bundle and bails out naming the first that fails: reports are built only
/// from verified logs.
pub fn verified_views(bundles: &[PathBuf]) -> anyhow::Result<Vec<LogView>> {
    let mut out = Vec::new();
    for b in bundles {
        let v = verify(b, None, None, false)?;
        if !v.report.ok() {
            print_report(&v, b);
            bail!(
                "bundle {} does not verify; nothing is reported from unverified logs",
                b.display()
            );
        }
        out.push(view(&v)?);
    }
    Ok(out)
}

pub fn reconcile(a: &Path, b: &Path, json: bool) -> anyhow::Result<bool> {
    let views = verified_views(&[a.to_path_buf(), b.to_path_buf()])?;
    let diffs = audit::reconcile(&views[0], &views[1]);
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

pub fn person(avs: &Avs, bundles: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let views = verified_views(bundles)?;
    let report = audit::person_report(avs, &views);
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
        line.push_str(&field("outcome", &a.code));
        line.push_str(&field("staff", &a.staff));
        println!("{}", line.trim_end());
    }
    Ok(())
}
