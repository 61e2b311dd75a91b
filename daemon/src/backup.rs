//! Backup and restore of a node's store: the persons' records, the cases, the outbox and the
//! log. A backup is a consistent snapshot taken while the node runs (SQLite `VACUUM INTO` over
//! a read-only connection, which reads one committed state); keys and `node.toml` are the
//! administrator's own files and are backed up apart. A restored store may hold less of the log
//! than the witnesses cosigned: the node finds out at its next start and halts its log
//! (transparency-log.md §7.4) rather than fork it.

use crate::config::{ConfigFile, suffixed};
use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What a backup holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    pub path: PathBuf,
    /// Entries of the log the snapshot holds.
    pub log_size: u64,
    pub bytes: u64,
}

/// The store file of the node `config` describes.
fn store_path(config: &Path) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read config file {}", config.display()))?;
    let file: ConfigFile = toml::from_str(&text)
        .with_context(|| format!("config file {} is invalid", config.display()))?;
    let base = config.parent().unwrap_or(Path::new("."));
    let dir = if file.data_dir.is_absolute() {
        file.data_dir.clone()
    } else {
        base.join(&file.data_dir)
    };
    Ok(dir.join("node.db"))
}

/// Checks that `path` is a sound node store and says how much log it holds.
fn inspect(path: &Path) -> anyhow::Result<Snapshot> {
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .with_context(|| format!("{} is not a node store", path.display()))?;
    if check != "ok" {
        bail!("{} is damaged: {check}", path.display());
    }
    let log_size: i64 = db
        .query_row("SELECT COUNT(*) FROM log_entries", [], |r| r.get(0))
        .with_context(|| format!("{} is not a node store", path.display()))?;
    Ok(Snapshot {
        path: path.to_path_buf(),
        log_size: log_size as u64,
        bytes: std::fs::metadata(path)?.len(),
    })
}

/// Writes a consistent snapshot of the node's store to `out` (a new file, 0600), while the
/// node runs or not.
pub fn backup(config: &Path, out: &Path) -> anyhow::Result<Snapshot> {
    snapshot(&store_path(config)?, out)
}

/// [`backup`] of the store at `store`.
fn snapshot(store: &Path, out: &Path) -> anyhow::Result<Snapshot> {
    if !store.exists() {
        bail!("no node store at {}", store.display());
    }
    if out.exists() {
        bail!(
            "{} exists already; a backup is written to a new file",
            out.display()
        );
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Written in a private directory first, so no one else can read it while it is written,
    // and renamed into place only once checked.
    let tmp = tempfile::Builder::new()
        .prefix(".passerelle-backup-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700))?;
    let staged = tmp.path().join("node.db");
    let db = Connection::open_with_flags(store, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open the node store {}", store.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(10))?;
    db.execute("VACUUM INTO ?1", [staged.to_string_lossy()])
        .context("cannot take a snapshot of the node store")?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    inspect(&staged)?;
    std::fs::rename(&staged, out)
        .with_context(|| format!("cannot move the backup to {}", out.display()))?;
    inspect(out)
}

/// Puts a backup in place as the node's store; the node must be stopped (it holds the data
/// directory's lock while it runs, see [`crate::lock`]). An existing store is
/// refused unless `replace`, and is then moved aside (`node.db.replaced-<unix time>`, see
/// [`move_aside`]), never deleted.
pub fn restore(
    config: &Path,
    from: &Path,
    replace: bool,
    now: u64,
) -> anyhow::Result<(Snapshot, Option<PathBuf>)> {
    let store = store_path(config)?;
    let dir = store.parent().context("the store has no directory")?;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    // Held until the restore is done: a node started meanwhile refuses to start.
    let _stopped = crate::lock::for_stopped_node(dir, "restore")?;
    restore_into(&store, from, replace, now)
}

/// [`restore`] to the store at `store`.
fn restore_into(
    store: &Path,
    from: &Path,
    replace: bool,
    now: u64,
) -> anyhow::Result<(Snapshot, Option<PathBuf>)> {
    // A damaged or foreign file is refused before anything is touched.
    let source = inspect(from)?;
    let dir = store.parent().context("the store has no directory")?;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let in_place = COMPANIONS.iter().any(|c| suffixed(store, c).exists());
    if in_place && !replace {
        bail!(
            "a node store exists at {}; stop the node and pass --replace to move it aside",
            store.display()
        );
    }
    // The copy is made and checked in a private directory beside the store before the store in
    // place is touched; a failure leaves that store as it was and removes the directory.
    let tmp = tempfile::Builder::new()
        .prefix(".passerelle-restore-")
        .tempdir_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700))?;
    let staged = tmp.path().join("node.db");
    // Read through SQLite, not copied as a file: a store moved aside may hold its newest
    // commits in its write-ahead log (`-wal`), which a file copy leaves behind.
    {
        let db = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", from.display()))?;
        db.execute("VACUUM INTO ?1", [staged.to_string_lossy()])
            .with_context(|| format!("cannot read {} whole", from.display()))?;
    }
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    let copied = inspect(&staged)?;
    if copied.log_size != source.log_size {
        bail!(
            "the copy of {} holds a log of {} entries, the file {}: nothing was restored",
            from.display(),
            copied.log_size,
            source.log_size
        );
    }
    // The next start asks the witnesses before serving (transparency-log.md §7.6).
    {
        let db = Connection::open(&staged)?;
        crate::log::loss::set_meta(&db, crate::log::loss::RESTORED_KEY, &now.to_string())?;
    }
    let moved = if in_place {
        Some(move_aside(store, now)?)
    } else {
        None
    };
    std::fs::rename(&staged, store)
        .with_context(|| format!("cannot put the restored store at {}", store.display()))?;
    Ok((inspect(store)?, moved))
}

/// The store's file and the files SQLite keeps beside it: its write-ahead log holds commits
/// not yet copied back into the file, so they go together, under one name.
const COMPANIONS: [&str; 3] = ["", "-wal", "-shm"];

/// Moves the store at `store` and its companions aside as `<store>.replaced-<now>`, or with
/// `.1`, `.2`… after it when that name is taken (two restores in one second), and returns the
/// new name. Nothing is ever overwritten: a name is free only if none of its companions
/// exists, and each file is renamed with RENAME_NOREPLACE, so a file that appeared meanwhile
/// fails the move instead of being replaced.
fn move_aside(store: &Path, now: u64) -> anyhow::Result<PathBuf> {
    let present: Vec<&str> = COMPANIONS
        .into_iter()
        .filter(|c| suffixed(store, c).exists())
        .collect();
    let Some((first, rest)) = present.split_first() else {
        bail!("no node store at {} to move aside", store.display());
    };
    for n in 0..1000u32 {
        let aside = match n {
            0 => suffixed(store, &format!(".replaced-{now}")),
            n => suffixed(store, &format!(".replaced-{now}.{n}")),
        };
        if COMPANIONS.iter().any(|c| suffixed(&aside, c).exists()) {
            continue;
        }
        match rename_new(&suffixed(store, first), &suffixed(&aside, first)) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            r => r.with_context(|| format!("cannot move {} aside", store.display()))?,
        }
        for c in rest {
            rename_new(&suffixed(store, c), &suffixed(&aside, c)).with_context(|| {
                format!(
                    "cannot move {} to {}",
                    suffixed(store, c).display(),
                    suffixed(&aside, c).display()
                )
            })?;
        }
        return Ok(aside);
    }
    bail!(
        "cannot move {} aside: every name {}.replaced-{now}… is taken",
        store.display(),
        store.display()
    )
}

/// Renames `from` to `to` only if `to` does not exist, atomically.
fn rename_new(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(std::io::Error::from)
}

/// Declares lost the log entries that the node's witnesses cosigned beyond what its restored
/// store holds, as its last start found; the node must be stopped. Its next start, under a new
/// log key, records the loss in its log and goes on.
pub fn declare_loss(config: &Path) -> anyhow::Result<crate::log::loss::Behind> {
    let store = store_path(config)?;
    if !store.exists() {
        bail!("no node store at {}", store.display());
    }
    let dir = store.parent().context("the store has no directory")?;
    let _stopped = crate::lock::for_stopped_node(dir, "declare the loss")?;
    let db = Connection::open(&store)
        .with_context(|| format!("cannot open the node store {}", store.display()))?;
    crate::log::loss::declare(&db)
}

#[cfg(test)]
mod tests;
