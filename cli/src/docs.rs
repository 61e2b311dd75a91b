//! Manual pages and shell completions, generated from the command-line definitions so that they
//! say exactly what `--help` says: `passerelle man --out DIR` and `passerelle completions SHELL`.

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, roman};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The manual the pages belong to, as `man` shows it in their header.
const MANUAL: &str = "Passerelle Manual";

/// Sections of `passerelle(1)` beyond what `passerelle --help` prints.
const TOP_EXTRA: &[(&str, &str)] = &[(
    "Environment",
    "  PASSERELLE_CREDENTIAL  the staff credential file, when --credential is not given
  PASSERELLE_LOG         diagnostics on stderr, a tracing filter such as `debug`
                         (default `warn,quinn=error,rustls=error`; RUST_LOG is read
                         when it is unset)
  PASSERELLE_LOG_FORMAT  `text` (default) or `json`: one JSON object per line",
)];

/// `passerelled`'s command line.
pub fn passerelled() -> clap::Command {
    daemon::args::Args::command()
}

/// Writes the completion script of `passerelle`, the command tree `cmd`, for `shell` (bash,
/// zsh, fish, elvish, powershell).
pub fn completions(mut cmd: clap::Command, shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut cmd, "passerelle", out);
}

/// One manual page: its file name (`passerelle-case-open.1`) and its roff source.
pub struct Page {
    pub file_name: String,
    pub roff: Vec<u8>,
}

/// Every page: `passerelle(1)` from its command tree `passerelle`, one per command and
/// subcommand (`passerelle-case-open(1)`), and `passerelled(1)`.
pub fn man_pages(passerelle: clap::Command) -> anyhow::Result<Vec<Page>> {
    let mut cmd = passerelle.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &mut pages)?;
    let mut daemon = passerelled();
    daemon.build();
    pages.push(page(
        &daemon,
        &[],
        &["passerelle(1)", "systemd.exec(5)", "journalctl(1)"],
    )?);
    Ok(pages)
}

fn collect(cmd: &clap::Command, pages: &mut Vec<Page>) -> anyhow::Result<()> {
    if cmd.get_name() == "passerelle" {
        pages.push(page(cmd, TOP_EXTRA, &["passerelled(1)"])?);
    } else {
        pages.push(page(cmd, &[], &["passerelle(1)"])?);
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages)?;
    }
    Ok(())
}

/// clap_mangen's page (name, synopsis, description, options, subcommands), then the text
/// `--help` prints after the options as sections of their own (`Exit status:` becomes EXIT
/// STATUS, its lines kept as written), then `extra` sections and SEE ALSO.
fn page(cmd: &clap::Command, extra: &[(&str, &str)], see_also: &[&str]) -> anyhow::Result<Page> {
    let after = cmd
        .get_after_long_help()
        .or(cmd.get_after_help())
        .map(|a| a.to_string());
    let bare = cmd
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>)
        .version(None::<&str>);
    let man = Man::new(bare);
    let mut rendered = Vec::new();
    man.render(&mut rendered)?;
    let rendered = String::from_utf8(rendered)?;
    // The title line clap_mangen writes drops the empty date, which shifts the source and the
    // manual into the wrong fields; every page names the package version as its source.
    let title = cmd.get_display_name().unwrap_or(cmd.get_name());
    let th = format!(
        ".TH \"{}\" \"1\" \"\" \"Passerelle {}\" \"{MANUAL}\"",
        title.to_uppercase(),
        env!("CARGO_PKG_VERSION")
    );
    let mut out = String::new();
    for line in rendered.lines() {
        out.push_str(if line.starts_with(".TH ") { &th } else { line });
        out.push('\n');
    }
    let mut roff = Roff::default();
    if let Some(after) = after {
        after_help_sections(&mut roff, &after);
    }
    for (heading, text) in extra {
        after_help_sections(&mut roff, &format!("{heading}:\n{text}"));
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(see_also.join(", "))]);
    out.push_str(&roff.render());
    Ok(Page {
        file_name: man.get_filename(),
        roff: out.into_bytes(),
    })
}

/// A line at the margin ending in `:` heads a section; the lines under it are kept as they
/// are laid out (tables of codes and variables).
fn after_help_sections(roff: &mut Roff, text: &str) {
    let mut open = false;
    for line in text.lines() {
        let heading = line
            .strip_suffix(':')
            .filter(|h| !h.starts_with(' ') && !h.is_empty());
        if let Some(heading) = heading {
            if open {
                roff.control("fi", []);
            }
            roff.control("SH", [heading.to_uppercase().as_str()]);
            roff.control("nf", []);
            open = true;
        } else if open || !line.trim().is_empty() {
            if !open {
                roff.control("nf", []);
                open = true;
            }
            roff.text([roman(line)]);
        }
    }
    if open {
        roff.control("fi", []);
    }
}

/// Writes every page into `dir` (created if missing); returns their paths.
pub fn write_man_pages(passerelle: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for p in man_pages(passerelle)? {
        let path = dir.join(&p.file_name);
        std::fs::write(&path, &p.roff)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
