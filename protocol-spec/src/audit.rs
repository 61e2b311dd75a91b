//! Auditor logic over parsed log entries: reconciling two nodes' logs (every disclosure has its
//! receipt and the other way round) and a person's access report. Verification of the logs
//! themselves (signatures, proofs) comes first and is done with [`crate::tlog`].

use crate::avs::Avs;
use crate::entry::Entry;
use crate::tlog::note::{Note, VerifierKey, count_cosignatures, verify_note};
use crate::tlog::{Checkpoint, Tree, leaf_hash, tiles, verify_consistency};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

/// One node's log as an auditor holds it after verification.
pub struct LogView {
    /// Institution whose log this is.
    pub institution: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Institution whose log holds the entry that has no counterpart.
    pub institution: String,
    pub index: u64,
    pub kind: String,
    /// The other institution, in whose log the counterpart is missing.
    pub counterpart: String,
    pub request: String,
    pub what: String,
}

/// Lists every disclosure without its receipt and every receipt without its disclosure,
/// in both directions between the two logs. Entries are matched on the request digest and
/// the sealed summary's digest, which both sides record.
pub fn reconcile(a: &LogView, b: &LogView) -> Vec<Difference> {
    let mut out = Vec::new();
    for (from, to) in [(a, b), (b, a)] {
        for (i, e) in from.entries.iter().enumerate() {
            let (other_kind, peer_key, what) = match e.kind.as_str() {
                "disclosure" => (
                    "receipt",
                    "recipient",
                    "disclosure without a receipt at the recipient",
                ),
                "receipt" => (
                    "disclosure",
                    "source",
                    "receipt without a disclosure at the source",
                ),
                _ => continue,
            };
            if e.get(peer_key) != Some(to.institution.as_str()) {
                continue;
            }
            let (request, summary) = (e.get("request"), e.get("summary"));
            let counterpart_key = if other_kind == "receipt" {
                "source"
            } else {
                "recipient"
            };
            let found = to.entries.iter().any(|o| {
                o.kind == other_kind
                    && o.get(counterpart_key) == Some(from.institution.as_str())
                    && o.get("request") == request
                    && o.get("summary") == summary
            });
            if !found {
                out.push(Difference {
                    institution: from.institution.clone(),
                    index: i as u64,
                    kind: e.kind.clone(),
                    counterpart: to.institution.clone(),
                    request: request.unwrap_or("-").to_string(),
                    what: what.to_string(),
                });
            }
        }
    }
    out
}

/// One line of a person's access report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// Institution whose log recorded it.
    pub logged_by: String,
    pub index: u64,
    pub time: u64,
    pub kind: String,
    /// The other institution involved (recipient, requester, source), if any.
    pub peer: Option<String>,
    pub purpose: Option<String>,
    pub categories: Option<String>,
    pub consent: Option<String>,
    pub code: Option<String>,
    pub staff: Option<String>,
}

/// Whether an entry's `person` field is a commitment to `person`.
pub fn names_person(entry: &Entry, person: &Avs) -> bool {
    let Some(field) = entry.get("person") else {
        return false;
    };
    let mut parts = field.split(' ');
    let (Some(salt), Some(commitment), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(commitment)) = (B64.decode(salt), B64.decode(commitment)) else {
        return false;
    };
    let Ok(salt) = <[u8; 32]>::try_from(salt.as_slice()) else {
        return false;
    };
    person.commitment(&salt).as_slice() == commitment.as_slice()
}

/// Everything the logs say about `person`: who received which categories, when, for which
/// purpose, under which consent, the refused attempts, and who opened what.
pub fn person_report(person: &Avs, logs: &[LogView]) -> Vec<Access> {
    let mut out = Vec::new();
    for log in logs {
        for (i, e) in log.entries.iter().enumerate() {
            if !names_person(e, person) {
                continue;
            }
            let peer = ["recipient", "requester", "source", "author"]
                .iter()
                .find_map(|k| e.get(k))
                .map(str::to_string);
            let get = |k: &str| e.get(k).map(str::to_string);
            out.push(Access {
                logged_by: log.institution.clone(),
                index: i as u64,
                time: e.time,
                kind: e.kind.clone(),
                peer,
                purpose: get("purpose"),
                categories: get("categories"),
                consent: get("consent"),
                code: get("code").or_else(|| get("detail")),
                staff: get("staff"),
            });
        }
    }
    out.sort_by(|a, b| (a.time, &a.logged_by, a.index).cmp(&(b.time, &b.logged_by, b.index)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::person_field;

    fn disclosure(to: &str, req: &str, person: &Avs) -> Entry {
        Entry::new(
            "disclosure",
            10,
            vec![
                "c".into(),
                person_field(Some(person), [1; 32]),
                to.into(),
                "assess".into(),
                "employment".into(),
                "k".into(),
                req.into(),
                "s".into(),
            ],
        )
        .unwrap()
    }

    fn receipt(from: &str, req: &str, person: &Avs) -> Entry {
        Entry::new(
            "receipt",
            11,
            vec![
                "c".into(),
                person_field(Some(person), [2; 32]),
                from.into(),
                "assess".into(),
                "employment".into(),
                "k".into(),
                req.into(),
                "s".into(),
                "0 00".into(),
                "w".into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn reconcile_finds_dropped_receipts_and_phantom_receipts() {
        let p: Avs = "7569217076985".parse().unwrap();
        let a = LogView {
            institution: "ne.orp".into(),
            entries: vec![
                disclosure("ne.oai", "r1", &p),
                disclosure("ne.oai", "r2", &p),
            ],
        };
        let b = LogView {
            institution: "ne.oai".into(),
            entries: vec![receipt("ne.orp", "r1", &p), receipt("ne.orp", "r3", &p)],
        };
        let d = reconcile(&a, &b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d.iter()
                .any(|x| x.institution == "ne.orp" && x.request == "r2")
        );
        assert!(
            d.iter()
                .any(|x| x.institution == "ne.oai" && x.request == "r3")
        );
    }

    #[test]
    fn person_report_recomputes_commitments() {
        let p: Avs = "7569217076985".parse().unwrap();
        let a = LogView {
            institution: "ne.orp".into(),
            entries: vec![disclosure("ne.oai", "r1", &p)],
        };
        let r = person_report(&p, &[a]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].peer.as_deref(), Some("ne.oai"));
        let other: Avs = "7561234567897".parse().unwrap();
        let a = LogView {
            institution: "ne.orp".into(),
            entries: vec![disclosure("ne.oai", "r1", &p)],
        };
        assert!(person_report(&other, &[a]).is_empty());
    }
}

/// What an auditor verifies a bundle against.
pub struct BundleKeys {
    pub log: VerifierKey,
    pub witnesses: Vec<VerifierKey>,
    pub quorum: usize,
}

/// One problem found in a bundle, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub location: String,
    pub problem: String,
}

/// The outcome of verifying a bundle: the checkpoint, the entries read, and every problem.
#[derive(Debug, Default)]
pub struct BundleReport {
    pub checkpoint: Option<Checkpoint>,
    pub cosigned_by: Vec<String>,
    pub entries: Vec<Vec<u8>>,
    pub findings: Vec<Finding>,
}

impl BundleReport {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }

    fn find(&mut self, location: impl Into<String>, problem: impl Into<String>) {
        self.findings.push(Finding {
            location: location.into(),
            problem: problem.into(),
        });
    }
}

/// Verifies a C2SP tlog-tiles bundle read through `read` (path → bytes): the log's signature,
/// the cosignature quorum, every entry against the level-0 tiles, every level tile, the root,
/// each entry's format, and consistency with a checkpoint the auditor kept from before.
/// `progress` is called with the number of entries read so far.
pub fn verify_bundle(
    read: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
    keys: &BundleKeys,
    kept: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> BundleReport {
    let mut r = BundleReport::default();
    let Some(text) = read("checkpoint").and_then(|b| String::from_utf8(b).ok()) else {
        r.find("checkpoint", "missing or not UTF-8");
        return r;
    };
    let note = match Note::parse(&text) {
        Ok(n) => n,
        Err(e) => {
            r.find("checkpoint", e.to_string());
            return r;
        }
    };
    if let Err(e) = verify_note(&note, std::slice::from_ref(&keys.log)) {
        r.find("checkpoint", format!("log signature: {e}"));
    }
    let cp = match Checkpoint::parse(&note.text) {
        Ok(cp) => cp,
        Err(e) => {
            r.find("checkpoint", e.to_string());
            return r;
        }
    };
    if cp.origin != keys.log.name {
        r.find(
            "checkpoint",
            format!(
                "origin `{}` is not the log's key name `{}`",
                cp.origin, keys.log.name
            ),
        );
    }
    match count_cosignatures(&note, &keys.witnesses) {
        Ok(names) => {
            if names.len() < keys.quorum {
                r.find(
                    "checkpoint",
                    format!(
                        "{} valid cosignature(s), below the witness quorum of {}",
                        names.len(),
                        keys.quorum
                    ),
                );
            }
            r.cosigned_by = names;
        }
        Err(e) => r.find("checkpoint", e.to_string()),
    }

    // Entries, bundle by bundle.
    let mut tree = Tree::new();
    for (path, width) in tiles::entry_bundle_paths(cp.size) {
        let Some(bytes) = read(&path) else {
            r.find(
                &path,
                format!(
                    "missing: the checkpoint covers {} entries, the bundle holds {}",
                    cp.size,
                    r.entries.len()
                ),
            );
            break;
        };
        match tiles::parse_bundle(&path, &bytes) {
            Ok(entries) => {
                if entries.len() as u64 != width {
                    r.find(
                        &path,
                        format!(
                            "holds {} entries, expected {width}: the log is truncated or padded",
                            entries.len()
                        ),
                    );
                }
                for e in entries {
                    tree.append(leaf_hash(&e));
                    r.entries.push(e);
                }
            }
            Err(e) => r.find(&path, e.to_string()),
        }
        progress(r.entries.len() as u64);
    }
    let have = r.entries.len() as u64;
    if have < cp.size {
        r.find(
            "tile/entries",
            format!(
                "log truncated: {have} entries for a checkpoint of {}",
                cp.size
            ),
        );
    }

    // Level tiles: each must match what the entries produce; level 0 pinpoints entries.
    for (path, level, index, width) in tiles::level_tile_paths(cp.size.min(have)) {
        let Some(stored) = read(&path) else {
            r.find(&path, "missing");
            continue;
        };
        let Some(ours) = tiles::level_tile(&tree, level, index, width) else {
            continue;
        };
        if stored != ours {
            for (i, (a, b)) in stored.chunks(32).zip(ours.chunks(32)).enumerate() {
                if a != b {
                    let n = index * tiles::TILE_WIDTH + i as u64;
                    let what = if level == 0 {
                        format!(
                            "entry {n} does not match its leaf hash (altered, reordered or replaced)"
                        )
                    } else {
                        format!("hash {i} does not match the entries")
                    };
                    r.find(&path, what);
                }
            }
            if stored.len() != ours.len() {
                r.find(&path, "tile has the wrong length");
            }
        }
    }
    if have >= cp.size {
        let root = tree.root_at(cp.size).expect("size within tree");
        if root != cp.root {
            r.find(
                "checkpoint",
                "the entries do not produce the signed root: the log was altered",
            );
        }
    }
    let malformed: Vec<(usize, String)> = r
        .entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Entry::check(e).err().map(|err| (i, err.to_string())))
        .collect();
    for (i, err) in malformed {
        r.find(format!("entry {i}"), format!("malformed entry: {err}"));
    }

    // Consistency with what the auditor kept from an earlier visit.
    if let Some(kept) = kept {
        match Note::parse(kept).map_err(|e| e.to_string()).and_then(|n| {
            verify_note(&n, std::slice::from_ref(&keys.log)).map_err(|e| format!("kept checkpoint signature: {e}"))?;
            Checkpoint::parse(&n.text).map_err(|e| e.to_string())
        }) {
            Err(e) => r.find("kept checkpoint", e),
            Ok(old) if old.origin != cp.origin => r.find("kept checkpoint", "is for another log"),
            Ok(old) if old.size > cp.size => r.find(
                "kept checkpoint",
                format!("log rolled back or truncated: the kept checkpoint covers {} entries, the current one {}", old.size, cp.size),
            ),
            Ok(old) if old.size == cp.size && old.root != cp.root => r.find(
                "kept checkpoint",
                format!("fork: two checkpoints of size {} signed by the log with different roots", cp.size),
            ),
            Ok(old) => {
                let proof = tree.consistency_proof(old.size, cp.size.min(have)).unwrap_or_default();
                if have < cp.size || verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof).is_err() {
                    r.find(
                        "kept checkpoint",
                        format!("not consistent with the current log: the first {} entries were rewritten", old.size),
                    );
                }
            }
        }
    }
    r.checkpoint = Some(cp);
    r
}
