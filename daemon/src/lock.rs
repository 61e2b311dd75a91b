//! The data directory's lock. A running node holds it for as long as it runs; the commands
//! that must work on a stopped node's store (`node restore`, `node declare-loss`) take it for
//! as long as they work, so neither runs under the other, and a node started meanwhile refuses
//! to start. SQLite's own locks cannot tell that a node runs: in WAL mode an idle node holds
//! none that `BEGIN EXCLUSIVE` waits for. An advisory lock (`flock`) on `node.lock` is released
//! by the kernel when its holder exits, so a node that crashed leaves none behind.

use anyhow::Context;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Held while the data directory is in use; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// The lock file of the data directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("node.lock")
}

/// Takes the lock of the data directory `dir` (which must exist), or `None` when another
/// process, or another node in this process, holds it.
pub fn try_acquire(dir: &Path) -> anyhow::Result<Option<DataDirLock>> {
    let at = path(dir);
    // Never truncated: the file holds nothing, it only carries the lock.
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&at)
        .with_context(|| format!("cannot open the lock file {}", at.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(DataDirLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", at.display()))
        }
    }
}

/// The lock of a stopped node's data directory, for a command that must not run while the
/// node runs (`what` names it); the error says so.
pub fn for_stopped_node(dir: &Path, what: &str) -> anyhow::Result<DataDirLock> {
    try_acquire(dir)?.with_context(|| {
        format!(
            "the node is running (it holds {}): stop it first (e.g. `systemctl stop \
             passerelled`), then {what}",
            path(dir).display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let held = try_acquire(dir.path()).unwrap().expect("free");
        assert!(try_acquire(dir.path()).unwrap().is_none(), "held");
        let e = for_stopped_node(dir.path(), "restore").unwrap_err();
        assert!(format!("{e:#}").contains("the node is running"), "{e:#}");
        drop(held);
        assert!(try_acquire(dir.path()).unwrap().is_some(), "released");
    }
}
