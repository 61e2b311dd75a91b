//! `passerelle bench audit`: offline audit of a synthetic log against raw SHA-256.

use super::Row;
use anyhow::bail;
use protocol_spec::keys::SigningKey;
use std::time::Instant;

/// A line of this process's /proc status (Linux), in MiB.
fn status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Peak resident memory of this process, in MiB.
fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// Resident memory of this process now, in MiB.
fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

/// Starts the peak over from the resident memory now (Linux 4.0 and later), so that the next
/// peak is that of what runs after; `false` where the kernel does not allow it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `passerelle bench audit`: builds a synthetic log of `n` realistic entries as an in-memory
/// tiles bundle with a signed, cosigned checkpoint, then times `audit verify`'s core over it
/// next to plain SHA-256 of the same entries (one hash each), measured in the same run; then
/// `audit reconcile` and `audit person` over that log and the recipient's `n` receipts, next
/// to SHA-256 of both logs. Quadratic matching would show as a ratio falling with `n`.
pub fn measure(n: u64) -> anyhow::Result<AuditFigures> {
    use protocol_spec::audit::{BundleKeys, LogView, person_report, reconcile, verify_bundle};
    use protocol_spec::category::Category;
    use protocol_spec::entry::{Disclosure, LogEntry, Person, Receipt, SourceLeaf};
    use protocol_spec::ids::{CaseId, ConsentId};
    use protocol_spec::tlog::cosignature::cosign;
    use protocol_spec::tlog::note::{Note, SIG_COSIGNATURE, SIG_ED25519, VerifierKey};
    use protocol_spec::tlog::{Checkpoint, Tree, leaf_hash, sign_checkpoint, tiles};
    use std::collections::HashMap;

    if n == 0 {
        bail!("--entries must be at least 1");
    }
    let person = "756.9217.0769.85".parse()?;
    let entries: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut salt = [0u8; 32];
            salt[..8].copy_from_slice(&i.to_be_bytes());
            let e = Disclosure {
                time: 1_790_000_000 + i,
                case: CaseId([i as u8; 16]),
                person: Person::commit(Some(&person), salt),
                recipient: "ne.oai".parse()?,
                purpose: "coordinated-assessment".parse()?,
                categories: vec![Category::Employment, Category::Measures],
                consent: ConsentId([7; 16]),
                request: protocol_spec::keys::sha256(&[&i.to_be_bytes()]),
                summary: protocol_spec::keys::sha256(&[b"sealed", &i.to_be_bytes()]),
            };
            Ok(LogEntry::from(e).to_bytes())
        })
        .collect::<anyhow::Result<_>>()?;
    let mut tree = Tree::new();
    for e in &entries {
        tree.append(leaf_hash(e));
    }
    let origin = "bench.passerelle/ne.orp";
    let log = SigningKey::from_seed([1; 32]);
    let witness = SigningKey::from_seed([2; 32]);
    let wname = format!("{origin}/witness");
    let cp = Checkpoint {
        origin: origin.into(),
        size: n,
        root: tree.root(),
    };
    let mut note = Note::parse(&sign_checkpoint(&cp, origin, &log))?;
    note.signatures
        .push(cosign(&note.text, &wname, &witness, 1_790_000_000));
    let mut files: HashMap<String, Vec<u8>> =
        tiles::tiles(&tree, &entries, n)?.into_iter().collect();
    files.insert("checkpoint".into(), note.to_text().into_bytes());
    let keys = BundleKeys {
        former_logs: vec![],
        log: VerifierKey::new(origin, SIG_ED25519, log.public()),
        witnesses: vec![VerifierKey::new(&wname, SIG_COSIGNATURE, witness.public())],
        quorum: 1,
    };
    let bytes: usize = entries.iter().map(Vec::len).sum();

    // Baseline: raw SHA-256 over the same entries, one digest per entry.
    let start = Instant::now();
    let mut acc = 0u8;
    for e in &entries {
        acc ^= protocol_spec::keys::sha256(&[e])[0];
    }
    let sha = start.elapsed();
    std::hint::black_box(acc);

    // The verifier's own memory: its peak above what the process holds with the bundle.
    let before = rss_mib().filter(|_| reset_peak_rss());
    let start = Instant::now();
    let report = verify_bundle(&mut files, &keys, None, &mut |_| {});
    let verify = start.elapsed();
    let verify_peak_rss_mib = before.zip(peak_rss_mib()).map(|(b, p)| (p - b).max(0.0));
    if !report.ok() {
        bail!("benchmark bundle did not verify: {:?}", report.findings);
    }

    // Reconcile and the person report over this log and the recipient's, which holds the
    // receipt of every disclosure: 2n entries, parsed as `audit reconcile` does.
    let receipts: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| {
            let LogEntry::Disclosure(d) = LogEntry::parse(e)? else {
                bail!("benchmark log holds an entry other than a disclosure");
            };
            let r = Receipt {
                time: d.time + 1,
                case: d.case,
                person: d.person,
                source: "ne.orp".parse()?,
                purpose: d.purpose,
                categories: d.categories,
                consent: d.consent,
                request: d.request,
                summary: d.summary,
                source_leaf: SourceLeaf {
                    index: 0,
                    hash: [0; 32],
                },
                staff: "worker-1".parse()?,
            };
            Ok(LogEntry::from(r).to_bytes())
        })
        .collect::<anyhow::Result<_>>()?;
    let start = Instant::now();
    let mut acc = 0u8;
    for e in entries.iter().chain(&receipts) {
        acc ^= protocol_spec::keys::sha256(&[e])[0];
    }
    let sha_both = start.elapsed();
    std::hint::black_box(acc);
    let view = |institution: &str, log: &[Vec<u8>]| -> anyhow::Result<LogView> {
        Ok(LogView {
            institution: institution.into(),
            entries: log
                .iter()
                .map(|e| LogEntry::parse(e))
                .collect::<Result<_, _>>()?,
        })
    };
    let start = Instant::now();
    let (orp, oai) = (view("ne.orp", &entries)?, view("ne.oai", &receipts)?);
    let differences = reconcile(&orp, &oai).len();
    let reconciled = start.elapsed();
    if differences != 0 {
        bail!("benchmark logs did not reconcile: {differences} difference(s)");
    }
    let start = Instant::now();
    let accesses = person_report(&person, &[orp, oai]).len();
    let reported = start.elapsed();
    if accesses as u64 != 2 * n {
        bail!("person report found {accesses} of {} entries", 2 * n);
    }

    let both = 2 * n as usize;
    let rows = vec![
        Row::new(
            "baseline: raw SHA-256, one digest per entry",
            n as usize,
            1,
            sha,
        ),
        Row::new(
            "audit verify: signatures, tiles, root, entries",
            n as usize,
            1,
            verify,
        ),
        Row::new("baseline: raw SHA-256 over both logs", both, 1, sha_both),
        Row::new(
            "audit reconcile: parse both logs, match all",
            both,
            1,
            reconciled,
        ),
        Row::new("audit person: one commitment per entry", both, 1, reported),
    ];
    Ok(AuditFigures {
        entries: n,
        entry_bytes: bytes,
        verify_over_sha256: rows[1].per_second / rows[0].per_second,
        reconcile_over_sha256: rows[3].per_second / rows[2].per_second,
        person_over_sha256: rows[4].per_second / rows[2].per_second,
        verify_peak_rss_mib,
        peak_rss_mib: peak_rss_mib(),
        rows,
    })
}

/// What `bench audit` measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditFigures {
    pub entries: u64,
    pub entry_bytes: usize,
    pub rows: Vec<Row>,
    pub verify_over_sha256: f64,
    pub reconcile_over_sha256: f64,
    pub person_over_sha256: f64,
    /// Resident memory that `audit verify` added at its peak above the process holding the
    /// synthetic bundle in memory: the verifier's own, which does not grow with the log.
    pub verify_peak_rss_mib: Option<f64>,
    /// Of the whole benchmark process, which holds the synthetic logs themselves.
    pub peak_rss_mib: Option<f64>,
}

/// `passerelle bench audit`.
pub fn audit(n: u64, json: bool) -> anyhow::Result<()> {
    let f = measure(n)?;
    if json {
        return crate::output::document("bench-audit", serde_json::to_value(&f)?);
    }
    crate::outln!(
        "{n} entries, {:.1} MiB of entry text",
        f.entry_bytes as f64 / (1 << 20) as f64
    )?;
    super::print_rows(&f.rows)?;
    crate::outln!("\naudit verify / raw SHA-256: {:.3}", f.verify_over_sha256)?;
    if let Some(m) = f.verify_peak_rss_mib {
        crate::outln!("audit verify's own peak resident memory: {m:.1} MiB")?;
    }
    crate::outln!(
        "audit reconcile / raw SHA-256 (both logs, {n} entries each): {:.3}",
        f.reconcile_over_sha256
    )?;
    crate::outln!(
        "audit person / raw SHA-256 (both logs): {:.3}",
        f.person_over_sha256
    )?;
    if let Some(m) = f.peak_rss_mib {
        crate::outln!("peak resident memory of the benchmark, which holds both logs: {m:.0} MiB")?;
    }
    Ok(())
}
