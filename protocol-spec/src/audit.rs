//! Auditor logic over parsed log entries: reconciling two nodes' logs (every disclosure has its
//! receipt and the other way round) and a person's access report. Verification of the logs
//! themselves (signatures, proofs) comes first and is done with [`crate::tlog`].

use crate::avs::Avs;
use crate::entry::{LogEntry, Value};
use crate::tlog::cosignature::count_cosignatures;
use crate::tlog::note::{Note, VerifierKey, verify_note};
use crate::tlog::{Checkpoint, EMPTY_ROOT, Hash, TileStream, leaf_hash, tiles};
use serde::Serialize;

/// One node's log as an auditor holds it after verification.
pub struct LogView {
    /// Institution whose log this is.
    pub institution: String,
    pub entries: Vec<LogEntry>,
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

/// What matches a disclosure to its receipt: the kind looked for, the institution it must
/// name as its peer, the request digest and the sealed summary's digest.
type MatchKey<'a> = (&'static str, &'a str, &'a [u8; 32], &'a [u8; 32]);

/// A disclosure or receipt as reconciling sees it: its kind, the peer it names (recipient or
/// source), its request digest and its sealed summary's digest.
fn exchange(e: &LogEntry) -> Option<MatchKey<'_>> {
    match e {
        LogEntry::Disclosure(d) => {
            Some(("disclosure", d.recipient.as_str(), &d.request, &d.summary))
        }
        LogEntry::Receipt(r) => Some(("receipt", r.source.as_str(), &r.request, &r.summary)),
        _ => None,
    }
}

/// The match keys of every disclosure and receipt of a log, so that each lookup from the
/// other log is one hash probe and reconciling stays linear in the logs' size.
fn match_keys(log: &LogView) -> std::collections::HashSet<MatchKey<'_>> {
    log.entries.iter().filter_map(exchange).collect()
}

/// Lists every disclosure without its receipt and every receipt without its disclosure,
/// in both directions between the two logs. Entries are matched on the request digest and
/// the sealed summary's digest, which both sides record. Linear in the logs' size.
pub fn reconcile(a: &LogView, b: &LogView) -> Vec<Difference> {
    let keys = [match_keys(a), match_keys(b)];
    let mut out = Vec::new();
    for (from, to, theirs) in [(a, b, &keys[1]), (b, a, &keys[0])] {
        for (i, e) in from.entries.iter().enumerate() {
            let Some((kind, peer, request, summary)) = exchange(e) else {
                continue;
            };
            let (other_kind, what) = match kind {
                "disclosure" => ("receipt", "disclosure without a receipt at the recipient"),
                _ => ("disclosure", "receipt without a disclosure at the source"),
            };
            if peer != to.institution {
                continue;
            }
            if !theirs.contains(&(other_kind, from.institution.as_str(), request, summary)) {
                out.push(Difference {
                    institution: from.institution.clone(),
                    index: i as u64,
                    kind: kind.to_string(),
                    counterpart: to.institution.clone(),
                    request: hex::encode(request),
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
    /// The other institution involved (recipient, requester, source, author), if any.
    pub peer: Option<String>,
    pub purpose: Option<String>,
    pub categories: Option<String>,
    pub consent: Option<String>,
    /// The refusal code, the withdrawal reason or the case change.
    pub code: Option<String>,
    pub staff: Option<String>,
}

/// Whether an entry names `person` by commitment.
pub fn names_person(entry: &LogEntry, person: &Avs) -> bool {
    entry.person().is_some_and(|p| p.names(person))
}

/// The report line of an entry that names the person.
fn access(logged_by: &str, index: usize, e: &LogEntry) -> Access {
    fn text<T: Value>(v: &T) -> Option<String> {
        Some(v.encode())
    }
    let mut a = Access {
        logged_by: logged_by.to_string(),
        index: index as u64,
        time: e.time(),
        kind: e.kind().to_string(),
        peer: None,
        purpose: None,
        categories: None,
        consent: None,
        code: None,
        staff: None,
    };
    match e {
        LogEntry::Disclosure(d) => {
            a.peer = text(&d.recipient);
            a.purpose = text(&d.purpose);
            a.categories = text(&d.categories);
            a.consent = text(&d.consent);
        }
        LogEntry::Refusal(r) => {
            a.peer = text(&r.requester);
            a.purpose = text(&r.purpose);
            a.categories = text(&r.categories);
            a.code = text(&r.code);
        }
        LogEntry::Receipt(r) => {
            a.peer = text(&r.source);
            a.purpose = text(&r.purpose);
            a.categories = text(&r.categories);
            a.consent = text(&r.consent);
            a.staff = text(&r.staff);
        }
        LogEntry::RefusedByPeer(r) => {
            a.peer = text(&r.source);
            a.purpose = text(&r.purpose);
            a.categories = text(&r.categories);
            a.code = text(&r.code);
            a.staff = text(&r.staff);
        }
        LogEntry::SummaryOpened(o) => {
            a.peer = text(&o.source);
            a.staff = text(&o.staff);
        }
        LogEntry::SummaryPurged(p) => {
            a.peer = text(&p.source);
            a.code = text(&p.reason);
            a.staff = text(&p.staff);
        }
        LogEntry::CaseEvent(c) => {
            a.peer = text(&c.author);
            a.code = text(&c.detail);
            a.staff = text(&c.staff);
        }
        LogEntry::RequestWithdrawn(w) => {
            a.peer = text(&w.source);
            a.code = text(&w.reason);
            a.staff = text(&w.staff);
        }
        LogEntry::Roster(_)
        | LogEntry::WitnessEvidence(_)
        | LogEntry::Staff(_)
        | LogEntry::RecordsImported(_)
        | LogEntry::LogLoss(_)
        | LogEntry::StatsSent(_)
        | LogEntry::StatsReceived(_)
        | LogEntry::PsiRound(_)
        | LogEntry::PsiSet(_)
        | LogEntry::PsiRefused(_)
        | LogEntry::PsiOutcome(_)
        | LogEntry::PsiEnd(_) => {}
    }
    a
}

/// Everything the logs say about `person`: who received which categories, when, for which
/// purpose, under which consent, the refused attempts, and who opened what. One commitment
/// per entry, then a sort of the matches: linear in the logs' size.
pub fn person_report(person: &Avs, logs: &[LogView]) -> Vec<Access> {
    let mut out = Vec::new();
    for log in logs {
        for (i, e) in log.entries.iter().enumerate() {
            if names_person(e, person) {
                out.push(access(&log.institution, i, e));
            }
        }
    }
    out.sort_by(|a, b| (a.time, &a.logged_by, a.index).cmp(&(b.time, &b.logged_by, b.index)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Disclosure, Person, Receipt, SourceLeaf};
    use crate::ids::{CaseId, ConsentId};

    /// A digest named by a short label, so the tests read as requests `r1`, `r2`.
    fn digest(label: &str) -> [u8; 32] {
        crate::keys::sha256(&[label.as_bytes()])
    }

    fn disclosure(to: &str, req: &str, person: &Avs) -> LogEntry {
        sealed_disclosure(to, req, "s", person)
    }

    fn sealed_disclosure(to: &str, req: &str, summary: &str, person: &Avs) -> LogEntry {
        Disclosure {
            time: 10,
            case: CaseId([1; 16]),
            person: Person::commit(Some(person), [1; 32]),
            recipient: to.parse().unwrap(),
            purpose: "assess".parse().unwrap(),
            categories: vec![crate::category::Category::Employment],
            consent: ConsentId([2; 16]),
            request: digest(req),
            summary: digest(summary),
        }
        .into()
    }

    fn receipt(from: &str, req: &str, person: &Avs) -> LogEntry {
        sealed_receipt(from, req, "s", person)
    }

    fn sealed_receipt(from: &str, req: &str, summary: &str, person: &Avs) -> LogEntry {
        Receipt {
            time: 11,
            case: CaseId([1; 16]),
            person: Person::commit(Some(person), [2; 32]),
            source: from.parse().unwrap(),
            purpose: "assess".parse().unwrap(),
            categories: vec![crate::category::Category::Employment],
            consent: ConsentId([2; 16]),
            request: digest(req),
            summary: digest(summary),
            source_leaf: SourceLeaf {
                index: 0,
                hash: [0; 32],
            },
            staff: "w".parse().unwrap(),
        }
        .into()
    }

    #[test]
    fn reconcile_is_exact_on_large_logs() {
        // 20,000 disclosures each way, interleaved, with every kind of gap: a receipt
        // dropped (i % 7 == 0), a phantom receipt (i % 11 == 0), a receipt naming another
        // sealed summary (i % 13 == 0, both ends reported), and traffic with a third
        // institution that this pair must ignore. Built so the expected answer is known.
        let p: Avs = "7569217076985".parse().unwrap();
        let n = 20_000u64;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut want = std::collections::BTreeSet::new();
        for i in 0..n {
            let req = format!("{i:064x}");
            // ne.orp discloses to ne.oai.
            a.push(sealed_disclosure("ne.oai", &req, "s", &p));
            match (i % 7, i % 13) {
                (0, _) => {
                    want.insert(("ne.orp", a.len() as u64 - 1));
                }
                (_, 0) => {
                    b.push(sealed_receipt("ne.orp", &req, "other", &p));
                    want.insert(("ne.orp", a.len() as u64 - 1));
                    want.insert(("ne.oai", b.len() as u64 - 1));
                }
                _ => b.push(sealed_receipt("ne.orp", &req, "s", &p)),
            }
            // ne.oai discloses to ne.orp under the same request digests: direction matters.
            b.push(sealed_disclosure("ne.orp", &req, "s", &p));
            a.push(sealed_receipt("ne.oai", &req, "s", &p));
            if i % 11 == 0 {
                let phantom = format!("{:064x}", n + i);
                b.push(sealed_receipt("ne.orp", &phantom, "s", &p));
                want.insert(("ne.oai", b.len() as u64 - 1));
            }
            a.push(sealed_disclosure("ne.sas", &req, "s", &p));
            b.push(sealed_receipt("ne.sas", &req, "s", &p));
        }
        let a = LogView {
            institution: "ne.orp".into(),
            entries: a,
        };
        let b = LogView {
            institution: "ne.oai".into(),
            entries: b,
        };
        let got: std::collections::BTreeSet<(&str, u64)> = reconcile(&a, &b)
            .iter()
            .map(|d| {
                let inst = if d.institution == "ne.orp" {
                    "ne.orp"
                } else {
                    "ne.oai"
                };
                (inst, d.index)
            })
            .collect();
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
        assert_eq!(reconcile(&b, &a).len(), want.len(), "symmetric");
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
                .any(|x| x.institution == "ne.orp" && x.request == hex::encode(digest("r2")))
        );
        assert!(
            d.iter()
                .any(|x| x.institution == "ne.oai" && x.request == hex::encode(digest("r3")))
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
    /// The log's former keys from the roster's log key history (spec §5.1): a kept checkpoint
    /// signed before a rotation verifies under one of them. The bundle's own checkpoint must be
    /// signed with the current key.
    pub former_logs: Vec<VerifierKey>,
    pub witnesses: Vec<VerifierKey>,
    pub quorum: usize,
}

/// Largest checkpoint note a bundle may hold: three short lines and at most 16 signature
/// lines fit many times over; anything larger is not a checkpoint and is not read further.
pub const MAX_CHECKPOINT_LEN: usize = 64 * 1024;

/// Extra files named one by one before the rest are only counted.
const MAX_EXTRA_REPORTED: u64 = 20;

/// Why a bundle file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    Missing,
    /// Larger than the verifier will read for that path (the limit it asked with).
    TooLarge,
    /// Present but unreadable (not a regular file, an I/O error), described.
    Unreadable(String),
}

/// The files of a bundle, read one at a time and no larger than the verifier asks, so that
/// a bundle cannot make the verifier hold more than the log it claims to be.
pub trait BundleFiles {
    /// The file at `path` (`checkpoint` or a tile path) if it has at most `limit` bytes.
    fn read(&mut self, path: &str, limit: usize) -> Result<Vec<u8>, ReadError>;
    /// Calls `each` with the path of every file under `tile/`, in any order.
    fn tile_files(&mut self, each: &mut dyn FnMut(&str));

    /// Lends `use_bytes` the file at `path` if it has at most `limit` bytes, refusing it as
    /// [`BundleFiles::read`] does. The verifier reads through this: a bundle held in memory
    /// lends its bytes rather than copying each file.
    fn with_file(
        &mut self,
        path: &str,
        limit: usize,
        use_bytes: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ReadError> {
        use_bytes(&self.read(path, limit)?);
        Ok(())
    }
}

/// An in-memory bundle, path → bytes (tests and benchmarks).
impl BundleFiles for std::collections::HashMap<String, Vec<u8>> {
    fn read(&mut self, path: &str, limit: usize) -> Result<Vec<u8>, ReadError> {
        match self.get(path) {
            None => Err(ReadError::Missing),
            Some(b) if b.len() > limit => Err(ReadError::TooLarge),
            Some(b) => Ok(b.clone()),
        }
    }

    fn tile_files(&mut self, each: &mut dyn FnMut(&str)) {
        self.keys()
            .filter(|p| p.starts_with("tile/"))
            .for_each(|p| each(p));
    }

    fn with_file(
        &mut self,
        path: &str,
        limit: usize,
        use_bytes: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ReadError> {
        match self.get(path) {
            None => Err(ReadError::Missing),
            Some(b) if b.len() > limit => Err(ReadError::TooLarge),
            Some(b) => {
                use_bytes(b);
                Ok(())
            }
        }
    }
}

/// One problem found in a bundle, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub location: String,
    pub problem: String,
}

/// The outcome of verifying a bundle: the checkpoint, how many entries were read, and every
/// problem. The entries themselves are not kept: [`verify_bundle_with`] hands them out.
#[derive(Debug, Default)]
pub struct BundleReport {
    /// The checkpoint, once its log signature verified.
    pub checkpoint: Option<Checkpoint>,
    pub cosigned_by: Vec<String>,
    /// Entries read, in order from the first, up to the first unusable entry bundle.
    pub entries: u64,
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

/// Reads and checks the checkpoint note: parsed, signed by the log key, for the log's origin.
/// Nothing in a checkpoint is trusted before its signature is: a forged one claiming a huge
/// size stops here.
fn signed_checkpoint(
    files: &mut dyn BundleFiles,
    keys: &BundleKeys,
    r: &mut BundleReport,
) -> Option<(Note, Checkpoint)> {
    let bytes = match files.read("checkpoint", MAX_CHECKPOINT_LEN) {
        Ok(b) => b,
        Err(ReadError::Missing) => {
            r.find("checkpoint", "missing");
            return None;
        }
        Err(ReadError::TooLarge) => {
            r.find(
                "checkpoint",
                format!("larger than {MAX_CHECKPOINT_LEN} bytes: not a checkpoint note"),
            );
            return None;
        }
        Err(ReadError::Unreadable(e)) => {
            r.find("checkpoint", e);
            return None;
        }
    };
    let note = match String::from_utf8(bytes)
        .map_err(|_| "not UTF-8".to_string())
        .and_then(|t| Note::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(n) => n,
        Err(e) => {
            r.find("checkpoint", e);
            return None;
        }
    };
    if let Err(e) = verify_note(&note, std::slice::from_ref(&keys.log)) {
        r.find(
            "checkpoint",
            format!("log signature: {e}; nothing else is checked against an unsigned checkpoint"),
        );
        return None;
    }
    let cp = match Checkpoint::parse(&note.text) {
        Ok(cp) => cp,
        Err(e) => {
            r.find("checkpoint", e.to_string());
            return None;
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
    Some((note, cp))
}

/// Findings of one kind after the first [`MAX_REPORTED_PER_KIND`] are only counted, so that a
/// log whose every entry or tile is wrong still gives a report of bounded size.
pub const MAX_REPORTED_PER_KIND: u64 = 1000;

/// Findings of one kind: the first named, the rest counted under one summary line.
struct Capped {
    shown: Vec<Finding>,
    more: u64,
}

impl Capped {
    fn new() -> Capped {
        Capped {
            shown: Vec::new(),
            more: 0,
        }
    }

    fn find(&mut self, location: impl Into<String>, problem: impl Into<String>) {
        if (self.shown.len() as u64) < MAX_REPORTED_PER_KIND {
            self.shown.push(Finding {
                location: location.into(),
                problem: problem.into(),
            });
        } else {
            self.more += 1;
        }
    }

    /// The findings, then `summary(n)` at `location` if `n` more were counted.
    fn into_report(self, r: &mut BundleReport, location: &str, summary: impl Fn(u64) -> String) {
        r.findings.extend(self.shown);
        if self.more > 0 {
            r.find(location, summary(self.more));
        }
    }
}

/// What reading the entries found, each kind kept apart so the report lists them in the
/// order of the checks: entry bundles, level tiles level by level, malformed entries.
struct Streamed {
    tree: TileStream,
    bundles: Capped,
    /// Level-tile findings, one list per tile level.
    tiles: Vec<Capped>,
    malformed: Capped,
    /// Root of the first `kept_size` entries, once that many were read.
    kept_root: Option<Hash>,
}

/// Compares a level tile of the bundle with the hashes the entries produce; at level 0 a
/// differing hash names its entry.
fn check_level_tile(
    files: &mut dyn BundleFiles,
    level: u8,
    index: u64,
    ours: &[Hash],
    found: &mut Capped,
) {
    let width = ours.len() as u64;
    let path = tiles::tile_path(level, index, width);
    let read = files.with_file(&path, ours.len() * 32, &mut |stored| {
        if stored.len() == ours.len() * 32
            && stored.chunks_exact(32).eq(ours.iter().map(|h| &h[..]))
        {
            return;
        }
        for (i, (a, b)) in stored.chunks(32).zip(ours).enumerate() {
            if a != b {
                let what = if level == 0 {
                    let n = index * tiles::TILE_WIDTH + i as u64;
                    format!(
                        "entry {n} does not match its leaf hash (altered, reordered or replaced)"
                    )
                } else {
                    format!("hash {i} does not match the entries")
                };
                found.find(&path, what);
            }
        }
        if stored.len() != ours.len() * 32 {
            found.find(&path, "tile has the wrong length");
        }
    });
    match read {
        Ok(()) => {}
        Err(ReadError::Missing) => found.find(path, "missing"),
        Err(ReadError::TooLarge) => found.find(path, "tile has the wrong length"),
        Err(ReadError::Unreadable(e)) => found.find(path, e),
    }
}

/// Reads the entry bundles in order, stopping at the first that is missing or unusable. Each
/// entry is checked for its format, handed to `entry`, and hashed into a [`TileStream`],
/// which hands out each level tile as it completes to be checked against the bundle's; the
/// partial tiles at the right edge are checked once the entries end. Only one entry bundle
/// and the tiles being filled are held at a time: memory stays the same whatever the log's
/// size.
fn read_entries(
    files: &mut dyn BundleFiles,
    cp: &Checkpoint,
    kept_size: Option<u64>,
    progress: &mut dyn FnMut(u64),
    entry: &mut dyn FnMut(u64, &[u8]),
) -> Streamed {
    let mut s = Streamed {
        tree: TileStream::new(),
        bundles: Capped::new(),
        tiles: Vec::new(),
        malformed: Capped::new(),
        kept_root: (kept_size == Some(0)).then_some(EMPTY_ROOT),
    };
    // One entry bundle's leaf hashes and malformed entries, kept until the whole bundle is
    // known to be well framed: entries of a bundle that is not are not counted.
    let mut leaves: Vec<Hash> = Vec::with_capacity(tiles::TILE_WIDTH as usize);
    let mut malformed: Vec<(u64, String)> = Vec::new();
    for (path, width) in tiles::entry_bundle_paths(cp.size) {
        let limit = tiles::MAX_BUNDLE_LEN / 256 * width as usize;
        let first = s.tree.size();
        let mut unusable = false;
        let read = files.with_file(&path, limit, &mut |bytes| {
            leaves.clear();
            malformed.clear();
            // Checked and hashed in one pass, each entry right after the one before it.
            let mut held = 0u64;
            for e in tiles::BundleEntries::new(bytes) {
                let Some(e) = e else {
                    unusable = true;
                    return;
                };
                if held < width {
                    if let Err(err) = LogEntry::check(e) {
                        malformed.push((first + held, err.to_string()));
                    }
                    leaves.push(leaf_hash(e));
                }
                held += 1;
            }
            if held != width {
                s.bundles.find(
                    &path,
                    format!(
                        "holds {held} entries, expected {width}: the log is truncated or padded"
                    ),
                );
            }
            for (index, err) in malformed.drain(..) {
                s.malformed
                    .find(format!("entry {index}"), format!("malformed entry: {err}"));
            }
            // Entries past the bundle's width are reported above, not read.
            for (index, e) in (first..).zip(tiles::BundleEntries::new(bytes).flatten()) {
                if index - first == width {
                    break;
                }
                entry(index, e);
            }
        });
        if let Err(e) = read {
            let why = match e {
                ReadError::Missing => "missing".to_string(),
                ReadError::TooLarge => format!("larger than any bundle of {width} entries can be"),
                ReadError::Unreadable(e) => e,
            };
            s.bundles.find(
                &path,
                format!(
                    "{why}: the checkpoint covers {} entries, the bundle holds {first} before it",
                    cp.size
                ),
            );
            break;
        }
        if unusable {
            s.bundles.find(
                &path,
                format!(
                    "{}: the entries from here on are not checked",
                    tiles::TileError::Bundle(path.clone())
                ),
            );
            break;
        }
        for leaf in leaves.drain(..) {
            let found = &mut s.tiles;
            s.tree.append(leaf, &mut |level, index, hashes| {
                let level_found = tile_findings(found, level);
                check_level_tile(files, level, index, hashes, level_found);
            });
            if Some(s.tree.size()) == kept_size {
                s.kept_root = Some(s.tree.root());
            }
        }
        progress(s.tree.size());
    }
    for (level, index, hashes) in s.tree.partial_tiles() {
        let level_found = tile_findings(&mut s.tiles, level);
        check_level_tile(files, level, index, hashes, level_found);
    }
    s
}

/// The findings list of tile `level`, created on first use.
fn tile_findings(found: &mut Vec<Capped>, level: u8) -> &mut Capped {
    let level = usize::from(level);
    while found.len() <= level {
        found.push(Capped::new());
    }
    &mut found[level]
}

/// Reports every file under `tile/` that is not a tile of the checkpoint's size: an entry
/// bundle beyond it holds entries that the checkpoint does not cover.
fn report_extra_files(files: &mut dyn BundleFiles, size: u64, r: &mut BundleReport) {
    let mut extra = 0u64;
    let mut found = Vec::new();
    files.tile_files(&mut |path| {
        let tile = tiles::parse_path(path);
        if tile.is_some_and(|t| tiles::is_tile_of(size, &t)) {
            return;
        }
        extra += 1;
        if extra > MAX_EXTRA_REPORTED {
            return;
        }
        let problem = match tile {
            Some(tiles::TilePath::Entries { .. }) => format!(
                "entry bundle beyond the checkpoint's {size} entries: the bundle holds entries the signed checkpoint does not cover"
            ),
            Some(_) => format!("level tile that a log of {size} entries does not have"),
            None => "not a tile: a bundle holds only the tiles of its checkpoint".to_string(),
        };
        found.push(Finding {
            location: path.to_string(),
            problem,
        });
    });
    // Directory order is arbitrary; the report is not.
    found.sort_by(|a, b| a.location.cmp(&b.location));
    r.findings.extend(found);
    if extra > MAX_EXTRA_REPORTED {
        r.find(
            "tile/",
            format!(
                "{} more files that are not tiles of this checkpoint",
                extra - MAX_EXTRA_REPORTED
            ),
        );
    }
}

/// Verifies a C2SP tlog-tiles bundle: the log's signature first (nothing else is read if it
/// fails), the cosignature quorum, every entry against the level-0 tiles, every level tile,
/// the root, each entry's format, files beyond the checkpoint, and consistency with a
/// checkpoint the auditor kept from before. Files are read one by one with a size limit each,
/// and entries are checked as they are read, none kept: memory is the same for a log of any
/// size, whatever size its checkpoint claims. `progress` is called with the number of
/// entries read so far.
pub fn verify_bundle(
    files: &mut dyn BundleFiles,
    keys: &BundleKeys,
    kept: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> BundleReport {
    verify_bundle_with(files, keys, kept, progress, &mut |_, _| {})
}

/// [`verify_bundle`], also handing `entry` each entry read, with its index, in log order, as
/// it is read: a caller that needs the entries (reconciling, a person's report) takes them
/// from here and trusts them only if the report is [`BundleReport::ok`].
pub fn verify_bundle_with(
    files: &mut dyn BundleFiles,
    keys: &BundleKeys,
    kept: Option<&str>,
    progress: &mut dyn FnMut(u64),
    entry: &mut dyn FnMut(u64, &[u8]),
) -> BundleReport {
    let mut r = BundleReport::default();
    let Some((note, cp)) = signed_checkpoint(files, keys, &mut r) else {
        return r;
    };
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

    // The kept checkpoint is read first so the root at its size is taken on the way.
    let old = kept.map(|k| kept_checkpoint(k, keys));
    let kept_size = match &old {
        Some(Ok(old)) if old.size <= cp.size => Some(old.size),
        _ => None,
    };
    let s = read_entries(files, &cp, kept_size, progress, entry);
    let have = s.tree.size();
    r.entries = have;
    s.bundles.into_report(&mut r, "tile/entries", |n| {
        format!("{n} more entry bundles that do not hold their width")
    });
    if have < cp.size {
        r.find(
            "tile/entries",
            format!(
                "log truncated: {have} entries for a checkpoint of {}",
                cp.size
            ),
        );
    }
    for (level, found) in s.tiles.into_iter().enumerate() {
        found.into_report(&mut r, &format!("tile/{level}"), |n| {
            format!("{n} more problems in level-{level} tiles")
        });
    }
    report_extra_files(files, cp.size, &mut r);
    let root = s.tree.root();
    if have >= cp.size && root != cp.root {
        r.find(
            "checkpoint",
            "the entries do not produce the signed root: the log was altered",
        );
    }
    s.malformed
        .into_report(&mut r, "entries", |n| format!("{n} more malformed entries"));
    if let Some(old) = old {
        check_kept(old, &cp, have, s.kept_root, root, &mut r);
    }
    r.checkpoint = Some(cp);
    r
}

/// A checkpoint the auditor kept from an earlier visit, signed by the log key or by a former
/// log key the roster's history lists (a rotation since the kept visit).
fn kept_checkpoint(kept: &str, keys: &BundleKeys) -> Result<Checkpoint, String> {
    let n = Note::parse(kept).map_err(|e| e.to_string())?;
    let log_keys: Vec<VerifierKey> = std::iter::once(keys.log.clone())
        .chain(keys.former_logs.iter().cloned())
        .collect();
    // The log's keys share its name and differ by key id: one of them must have signed.
    verify_note(&n, &log_keys).map_err(|e| format!("kept checkpoint signature: {e}"))?;
    Checkpoint::parse(&n.text).map_err(|e| e.to_string())
}

/// Consistency with a checkpoint the auditor kept from an earlier visit. Every entry up to
/// the current size was read and hashed, so no consistency proof is needed: the kept tree is
/// a prefix of the current one exactly when the root recomputed at the kept size is the kept
/// root and the root at the current size is the current one. A proof built from those entries
/// (RFC 9162 §2.1.4) verifies exactly then, barring a SHA-256 collision. `kept_root` is the
/// root of the first `old.size` entries, if that many were read; `root` that of all of them.
fn check_kept(
    old: Result<Checkpoint, String>,
    cp: &Checkpoint,
    have: u64,
    kept_root: Option<Hash>,
    root: Hash,
    r: &mut BundleReport,
) {
    match old {
        Err(e) => r.find("kept checkpoint", e),
        Ok(old) if old.origin != cp.origin => r.find("kept checkpoint", "is for another log"),
        Ok(old) if old.size > cp.size => r.find(
            "kept checkpoint",
            format!(
                "log rolled back or truncated: the kept checkpoint covers {} entries, the current one {}",
                old.size, cp.size
            ),
        ),
        Ok(old) if old.size == cp.size && old.root != cp.root => r.find(
            "kept checkpoint",
            format!(
                "fork: two checkpoints of size {} signed by the log with different roots",
                cp.size
            ),
        ),
        Ok(old) => {
            // From size 0, and between equal sizes with equal roots, there is nothing to
            // prove (RFC 9162 leaves both to the caller; `verify_consistency` accepts them).
            let prefix = old.size == 0
                || old.size == cp.size
                || (kept_root == Some(old.root) && root == cp.root);
            if have < cp.size || !prefix {
                r.find(
                    "kept checkpoint",
                    format!(
                        "not consistent with the current log: the first {} entries were rewritten",
                        old.size
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod bundle_tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::tlog::cosignature::cosign;
    use crate::tlog::note::{SIG_COSIGNATURE, SIG_ED25519};
    use crate::tlog::{Tree, sign_checkpoint, verify_consistency};
    use std::collections::HashMap;

    const ORIGIN: &str = "t.passerelle/ne.orp";

    fn log_key() -> SigningKey {
        SigningKey::from_seed([1; 32])
    }

    fn keys() -> BundleKeys {
        let w = SigningKey::from_seed([2; 32]);
        BundleKeys {
            log: VerifierKey::new(ORIGIN, SIG_ED25519, log_key().public()),
            former_logs: vec![],
            witnesses: vec![VerifierKey::new(
                &format!("{ORIGIN}/witness"),
                SIG_COSIGNATURE,
                w.public(),
            )],
            quorum: 1,
        }
    }

    /// A checkpoint note for `cp`, signed by `key` and cosigned by the witness.
    fn note_for(cp: &Checkpoint, key: &SigningKey) -> Vec<u8> {
        let mut note = Note::parse(&sign_checkpoint(cp, ORIGIN, key)).unwrap();
        let w = SigningKey::from_seed([2; 32]);
        note.signatures.push(cosign(
            &note.text,
            &format!("{ORIGIN}/witness"),
            &w,
            1_790_000_000,
        ));
        note.to_text().into_bytes()
    }

    /// A bundle of `n` well-formed entries.
    fn bundle(n: u64) -> (Checkpoint, HashMap<String, Vec<u8>>) {
        let entries: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                LogEntry::from(crate::entry::Roster {
                    time: 1_790_000_000 + i,
                    version: i,
                    digest: [i as u8; 32],
                })
                .to_bytes()
            })
            .collect();
        let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: n,
            root: tree.root(),
        };
        let mut files: HashMap<String, Vec<u8>> = tiles::tiles(&tree, &entries, n)
            .unwrap()
            .into_iter()
            .collect();
        files.insert("checkpoint".into(), note_for(&cp, &log_key()));
        (cp, files)
    }

    fn findings(files: &HashMap<String, Vec<u8>>) -> Vec<String> {
        let r = verify_bundle(&mut files.clone(), &keys(), None, &mut |_| {});
        r.findings
            .iter()
            .map(|f| format!("{}: {}", f.location, f.problem))
            .collect()
    }

    #[test]
    fn a_good_bundle_verifies() {
        for n in [0, 1, 255, 256, 257, 600, 65_537] {
            let (cp, files) = bundle(n);
            let r = verify_bundle(&mut files.clone(), &keys(), None, &mut |_| {});
            assert_eq!(r.findings, [], "size {n}");
            assert_eq!(r.entries, n);
            assert_eq!(r.checkpoint, Some(cp));
        }
    }

    #[test]
    fn a_huge_claimed_size_is_reported_without_allocating_for_it() {
        let (cp, mut files) = bundle(600);
        let huge = Checkpoint {
            size: 1 << 62,
            ..cp
        };
        // Signed by the log key: the tiles that exist are read, the first missing one stops.
        files.insert("checkpoint".into(), note_for(&huge, &log_key()));
        let f = findings(&files);
        assert_eq!(
            f,
            [
                "tile/entries/002: missing: the checkpoint covers 4611686018427387904 entries, \
                 the bundle holds 512 before it",
                "tile/entries: log truncated: 512 entries for a checkpoint of 4611686018427387904",
                "tile/0/002.p/88: level tile that a log of 4611686018427387904 entries does not have",
                "tile/1/000.p/2: level tile that a log of 4611686018427387904 entries does not have",
                "tile/entries/002.p/88: entry bundle beyond the checkpoint's 4611686018427387904 \
                 entries: the bundle holds entries the signed checkpoint does not cover",
            ]
        );
        // Signed by another key: nothing but the signature is judged, no tile is read.
        files.insert(
            "checkpoint".into(),
            note_for(&huge, &SigningKey::from_seed([9; 32])),
        );
        let mut reads = Vec::new();
        struct Logged<'a>(&'a HashMap<String, Vec<u8>>, &'a mut Vec<String>);
        impl BundleFiles for Logged<'_> {
            fn read(&mut self, path: &str, limit: usize) -> Result<Vec<u8>, ReadError> {
                self.1.push(path.to_string());
                self.0.clone().read(path, limit)
            }
            fn tile_files(&mut self, _: &mut dyn FnMut(&str)) {
                self.1.push("(listing)".into());
            }
        }
        let r = verify_bundle(&mut Logged(&files, &mut reads), &keys(), None, &mut |_| {});
        assert_eq!(reads, ["checkpoint"]);
        assert_eq!(r.checkpoint, None);
        assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
        assert!(
            r.findings[0]
                .problem
                .starts_with("log signature: no signature by a known key"),
            "{:?}",
            r.findings
        );
    }

    /// Any tile altered, shortened or left out is found where it is: at the tile, or for an
    /// altered entry at the level-0 tile that names it.
    #[test]
    fn tampered_tiles_are_found_where_they_are() {
        let (_, files) = bundle(600);
        let flip: &dyn Fn(&mut Vec<u8>) = &|b| b[5] ^= 1;
        let drop_last: &dyn Fn(&mut Vec<u8>) = &|b| {
            let mut e = tiles::parse_bundle("p", b).unwrap();
            e.pop();
            *b = tiles::encode_bundle(&e).unwrap();
        };
        // The tile, how it is changed (`None`: left out), and the finding it must give.
        type Tampering<'a> = (&'a str, Option<&'a dyn Fn(&mut Vec<u8>)>, &'a str);
        let cases: [Tampering; 6] = [
            (
                "tile/0/001",
                Some(flip),
                "tile/0/001: entry 256 does not match",
            ),
            (
                "tile/1/000.p/2",
                Some(flip),
                "tile/1/000.p/2: hash 0 does not match",
            ),
            (
                "tile/0/002.p/88",
                Some(&|b| b.truncate(100)),
                "tile/0/002.p/88: tile has the wrong length",
            ),
            ("tile/1/000.p/2", None, "tile/1/000.p/2: missing"),
            (
                "tile/entries/001",
                Some(&|b| b[3] ^= 1),
                "tile/0/001: entry 256 does not match",
            ),
            (
                "tile/entries/002.p/88",
                Some(drop_last),
                "tile/entries/002.p/88: holds 87 entries, expected 88",
            ),
        ];
        for (path, change, expected) in cases {
            let mut files = files.clone();
            match change {
                Some(change) => change(files.get_mut(path).expect("a tile of the bundle")),
                None => {
                    files.remove(path);
                }
            }
            let f = findings(&files);
            assert!(f.iter().any(|x| x.starts_with(expected)), "{path}: {f:?}");
        }
    }

    #[test]
    fn oversized_files_are_not_read() {
        let (_, mut files) = bundle(600);
        let mut big = files.clone();
        big.insert("checkpoint".into(), vec![b'a'; MAX_CHECKPOINT_LEN + 1]);
        assert_eq!(
            findings(&big),
            ["checkpoint: larger than 65536 bytes: not a checkpoint note"]
        );
        // A partial bundle of 88 entries padded past what 88 entries can fill.
        files.insert(
            "tile/entries/002.p/88".into(),
            vec![0; 88 * (2 + tiles::MAX_ENTRY_LEN) + 1],
        );
        files.insert("tile/0/001".into(), vec![0; tiles::FULL_TILE_LEN + 32]);
        let f = findings(&files);
        assert!(
            f.contains(
                &"tile/entries/002.p/88: larger than any bundle of 88 entries can be: the \
                  checkpoint covers 600 entries, the bundle holds 512 before it"
                    .to_string()
            ),
            "{f:?}"
        );
        assert!(
            f.contains(&"tile/0/001: tile has the wrong length".to_string()),
            "{f:?}"
        );
    }

    /// A bundle of `entries` with a checkpoint signed by the log and cosigned.
    fn bundle_of(entries: &[Vec<u8>]) -> (Checkpoint, HashMap<String, Vec<u8>>) {
        let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: tree.size(),
            root: tree.root(),
        };
        let mut files: HashMap<String, Vec<u8>> = tiles::tiles_for_entries(entries)
            .unwrap()
            .into_iter()
            .collect();
        files.insert("checkpoint".into(), note_for(&cp, &log_key()));
        (cp, files)
    }

    fn roster_entry(i: u64) -> Vec<u8> {
        LogEntry::from(crate::entry::Roster {
            time: 1_790_000_000 + i,
            version: i,
            digest: [i as u8; 32],
        })
        .to_bytes()
    }

    /// The kept checkpoint is judged from the roots recomputed at both sizes; the verdict is
    /// the one a consistency proof built from the current entries gives, at every kept size
    /// (tile edges and not), for the log's own history and for a rewritten one.
    #[test]
    fn kept_checkpoints_are_judged_as_a_consistency_proof_would() {
        let entries: Vec<Vec<u8>> = (0..600).map(roster_entry).collect();
        let (cp, files) = bundle_of(&entries);
        let current = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
        // Another history: entry 100 rewritten.
        let mut rewritten = entries.clone();
        rewritten[100] = roster_entry(10_000);
        let other = Tree::from_leaves(rewritten.iter().map(|e| leaf_hash(e)));
        for old_size in [0u64, 1, 100, 101, 255, 256, 257, 300, 512, 599, 600] {
            for (history, tree) in [("own", &current), ("rewritten", &other)] {
                let old = Checkpoint {
                    origin: ORIGIN.into(),
                    size: old_size,
                    root: tree.root_at(old_size).unwrap(),
                };
                let kept = String::from_utf8(note_for(&old, &log_key())).unwrap();
                let r = verify_bundle(&mut files.clone(), &keys(), Some(&kept), &mut |_| {});
                let proof = current.consistency_proof(old.size, cp.size).unwrap();
                let consistent =
                    verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof).is_ok();
                let fork = old_size == 600 && history == "rewritten";
                let found: Vec<&str> = r.findings.iter().map(|f| f.problem.as_str()).collect();
                if consistent {
                    assert_eq!(found, [] as [&str; 0], "{history} {old_size}");
                } else if fork {
                    assert!(found[0].starts_with("fork"), "{found:?}");
                } else {
                    assert_eq!(
                        found,
                        [format!(
                            "not consistent with the current log: the first {old_size} entries \
                             were rewritten"
                        )],
                        "{history} {old_size}"
                    );
                }
                assert_eq!(consistent, history == "own" || old_size <= 100);
            }
        }
        // A current log that does not produce its root is not consistent either; nor is a
        // truncated one.
        let kept = String::from_utf8(note_for(
            &Checkpoint {
                origin: ORIGIN.into(),
                size: 300,
                root: current.root_at(300).unwrap(),
            },
            &log_key(),
        ))
        .unwrap();
        let mut altered = files.clone();
        altered.insert(
            "tile/entries/002.p/88".into(),
            tiles::encode_bundle(&rewritten[512..].iter().rev().collect::<Vec<_>>()).unwrap(),
        );
        let mut truncated = files.clone();
        truncated.remove("tile/entries/002.p/88");
        for mut bundle in [altered, truncated] {
            let r = verify_bundle(&mut bundle, &keys(), Some(&kept), &mut |_| {});
            let last = r.findings.last().unwrap();
            assert_eq!(last.location, "kept checkpoint", "{:?}", r.findings);
            assert!(last.problem.starts_with("not consistent"), "{last:?}");
        }
    }

    /// A log whose every entry is malformed names the first 1,000 and counts the rest.
    #[test]
    fn findings_of_one_kind_are_capped_with_a_count() {
        let entries: Vec<Vec<u8>> = (0..1_300u64).map(|i| i.to_be_bytes().to_vec()).collect();
        let (_, files) = bundle_of(&entries);
        let f = findings(&files);
        assert_eq!(f.len(), 1_001, "{:?}", &f[..3]);
        assert!(f[0].starts_with("entry 0: malformed entry: "), "{}", f[0]);
        assert!(
            f[999].starts_with("entry 999: malformed entry: "),
            "{}",
            f[999]
        );
        assert_eq!(f[1000], "entries: 300 more malformed entries");
        // Every level-0 tile altered: 1,300 leaf hashes that do not match, capped the same.
        let mut altered = files.clone();
        for (path, bytes) in altered.iter_mut() {
            if path.starts_with("tile/0/") {
                bytes.iter_mut().for_each(|b| *b ^= 1);
            }
        }
        let f = findings(&altered);
        assert_eq!(
            f.iter()
                .filter(|x| x.contains("does not match its leaf hash"))
                .count(),
            1_000
        );
        assert!(f.contains(&"tile/0: 300 more problems in level-0 tiles".to_string()));
    }

    #[test]
    fn files_beyond_the_checkpoint_are_reported() {
        let (_, mut files) = bundle(600);
        // The next bundle, a full tile where only a partial one belongs, and a stray file.
        files.insert("tile/entries/003.p/1".into(), vec![0, 0]);
        files.insert("tile/0/002".into(), vec![0; 8192]);
        files.insert("tile/notes.txt".into(), b"hello".to_vec());
        assert_eq!(
            findings(&files),
            [
                "tile/0/002: level tile that a log of 600 entries does not have",
                "tile/entries/003.p/1: entry bundle beyond the checkpoint's 600 entries: the \
                 bundle holds entries the signed checkpoint does not cover",
                "tile/notes.txt: not a tile: a bundle holds only the tiles of its checkpoint",
            ]
        );
        // Many extra files: the first are named, the rest counted.
        for i in 3..40u64 {
            files.insert(tiles::entries_path(i, 256), vec![]);
        }
        let f = findings(&files);
        assert_eq!(f.len(), 21, "{f:?}");
        assert_eq!(
            f[20],
            "tile/: 20 more files that are not tiles of this checkpoint"
        );
    }

    /// An auditor's kept checkpoint signed before the log key was replaced verifies under the
    /// roster's log key history; under a key the history does not hold it fails.
    #[test]
    fn a_kept_checkpoint_verifies_under_a_former_log_key_of_the_history() {
        let (_, files) = bundle(600);
        let (old_cp, _) = bundle(300);
        let former = SigningKey::from_seed([7; 32]);
        let kept = String::from_utf8(note_for(&old_cp, &former)).unwrap();
        let mut with_history = keys();
        with_history.former_logs = vec![VerifierKey::new(ORIGIN, SIG_ED25519, former.public())];
        let r = verify_bundle(&mut files.clone(), &with_history, Some(&kept), &mut |_| {});
        assert_eq!(r.findings, [], "signed under a former key of the history");
        let r = verify_bundle(&mut files.clone(), &keys(), Some(&kept), &mut |_| {});
        assert!(
            r.findings
                .iter()
                .any(|f| f.location == "kept checkpoint" && f.problem.contains("signature")),
            "{:?}",
            r.findings
        );
        // The bundle's own checkpoint must carry the current key, not a former one.
        let mut old_signed = files.clone();
        let (cp, _) = bundle(600);
        old_signed.insert("checkpoint".into(), note_for(&cp, &former));
        let r = verify_bundle(&mut old_signed, &with_history, None, &mut |_| {});
        assert!(!r.findings.is_empty());
    }
}
