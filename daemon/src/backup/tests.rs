//! Restore on stores built here, without a node: what is moved aside and what is restored.

use super::*;

/// A closed node store at `path` holding `entries` log entries.
fn store_with(path: &Path, entries: u64) {
    let db = node_core::store::open(path).unwrap();
    append(&db, 0, entries);
}

fn append(db: &Connection, from: u64, count: u64) {
    for i in from..from + count {
        db.execute(
            "INSERT INTO log_entries (idx, entry, leaf_hash) VALUES (?1, ?2, ?3)",
            rusqlite::params![i as i64, vec![1u8], vec![0u8; 32]],
        )
        .unwrap();
    }
}

/// A store at `to` as a node that crashed leaves it: `entries` log entries, all of them still
/// in its write-ahead log (`to` with `-wal`), none yet copied back into `to` itself.
fn crashed_store(to: &Path, entries: u64) {
    let scratch = tempfile::tempdir().unwrap();
    let live = scratch.path().join("node.db");
    store_with(&live, 0);
    let db = node_core::store::open(&live).unwrap();
    db.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    append(&db, 0, entries);
    std::fs::copy(&live, to).unwrap();
    std::fs::copy(suffixed(&live, "-wal"), suffixed(to, "-wal")).unwrap();
}

/// Under `dir`: a backup holding `entries` log entries, and the path of a node's store in a
/// data directory of its own (the directory made, the store not).
fn backup_and_store(dir: &Path, entries: u64) -> (PathBuf, PathBuf) {
    let backup = dir.join("backup.db");
    store_with(&backup, entries);
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    (backup, data.join("node.db"))
}

fn log_size(path: &Path) -> u64 {
    inspect(path).unwrap().log_size
}

#[test]
fn two_restores_in_the_same_second_keep_both_stores_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (backup, store) = backup_and_store(dir.path(), 2);
    store_with(&store, 7);

    let (_, first) = restore_into(&store, &backup, true, 1_796_526_667).unwrap();
    let first = first.expect("moved aside");
    assert_eq!(log_size(&first), 7);
    let (_, second) = restore_into(&store, &backup, true, 1_796_526_667).unwrap();
    let second = second.expect("moved aside");
    assert_ne!(
        first, second,
        "a second name, not the first one overwritten"
    );
    assert_eq!(log_size(&first), 7, "the original store is kept");
    assert_eq!(log_size(&second), 2);
    assert_eq!(log_size(&store), 2);
}

#[test]
fn a_store_moved_aside_takes_its_write_ahead_log_under_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    let (backup, store) = backup_and_store(dir.path(), 1);
    let data = store.parent().unwrap().to_path_buf();
    crashed_store(&store, 4);
    // An older store moved aside in the same second, and a stray log under the next name.
    let now = 1_796_526_667;
    let taken = data.join(format!("node.db.replaced-{now}"));
    std::fs::write(&taken, b"older").unwrap();
    std::fs::write(
        suffixed(&data.join(format!("node.db.replaced-{now}.1")), "-wal"),
        b"x",
    )
    .unwrap();

    let (_, aside) = restore_into(&store, &backup, true, now).unwrap();
    let aside = aside.expect("moved aside");
    assert!(
        std::fs::read(&taken).unwrap() == b"older",
        "never overwritten"
    );
    assert_eq!(aside, data.join(format!("node.db.replaced-{now}.2")));
    assert!(
        suffixed(&aside, "-wal").exists(),
        "the log beside its store"
    );
    assert!(
        !suffixed(&store, "-wal").exists(),
        "no old log beside the restored store, which is one file"
    );
    assert_eq!(log_size(&aside), 4, "the store aside with its log is whole");
    assert_eq!(log_size(&store), 1);
}

#[test]
fn a_restore_reads_the_source_with_its_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    // A store moved aside while its last commits were still in its write-ahead log.
    let source = dir.path().join("node.db.replaced-1796526667");
    crashed_store(&source, 37);
    assert!(suffixed(&source, "-wal").exists());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let store = data.join("node.db");

    let (restored, _) = restore_into(&store, &source, false, 1).unwrap();
    assert_eq!(restored.log_size, 37);
    assert_eq!(log_size(&store), 37);
}

#[test]
fn a_backup_file_is_restored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    store_with(&live, 5);
    let out = dir.path().join("backup.db");
    snapshot(&live, &out).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let store = data.join("node.db");
    store_with(&store, 9);

    let (restored, aside) = restore_into(&store, &out, true, 1).unwrap();
    assert_eq!(restored.log_size, 5);
    assert_eq!(log_size(&aside.unwrap()), 9);
    assert_eq!(log_size(&out), 5, "the backup is left as it was");
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("backup.db"))
        .collect();
    assert_eq!(beside, ["backup.db"], "a backup is one file");
    let left: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "nothing staged is left: {left:?}");
}

#[test]
fn without_replace_a_store_in_place_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (backup, store) = backup_and_store(dir.path(), 1);
    store_with(&store, 3);
    let e = restore_into(&store, &backup, false, 1).unwrap_err();
    assert!(format!("{e:#}").contains("--replace"), "{e:#}");
    let names: Vec<_> = std::fs::read_dir(store.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["node.db"], "nothing moved aside or staged");
    assert_eq!(log_size(&store), 3);
}
