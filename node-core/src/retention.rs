//! Retention of received summaries (spec §7.10): a summary is kept for the days the roster's
//! policy sets for its purpose, then purged; a case worker may purge one earlier. A purge
//! overwrites the sealed content (the store runs with `secure_delete`), keeps the disclosure's
//! header, signature and sealed digest, so the exchange's signed records stay verifiable, and
//! is logged.

use crate::case_store::load_case;
use crate::entries;
use crate::io::{Env, Fault, bad};
use crate::state::Core;
use crate::store::Tx;
use protocol_spec::entry::PurgeReason;
use protocol_spec::exchange::Disclosure;
use protocol_spec::ids::{StaffId, SummaryId};
use protocol_spec::roster::Roster;
use rusqlite::OptionalExtension;

/// How often the store is scanned for summaries past their retention.
pub const SCAN_EVERY: u64 = 3600;
/// At most this many summaries are purged in one step, so a step stays short.
const PURGES_PER_STEP: usize = 64;
const DAY: u64 = 86_400;

/// Purges what is past its retention, if a scan is due.
pub(crate) fn tick(core: &mut Core, tx: &mut Tx<'_>, env: &mut Env<'_>) -> Result<(), Fault> {
    if env.now < core.next_retention_scan {
        return Ok(());
    }
    if purge_expired(tx, env, &core.roster.roster)? {
        core.next_retention_scan = env.now + SCAN_EVERY;
    }
    Ok(())
}

/// Purges up to a step's worth of summaries past the retention `roster` sets for their
/// purpose; `true` once none is left.
fn purge_expired(tx: &mut Tx<'_>, env: &mut Env<'_>, roster: &Roster) -> Result<bool, Fault> {
    let rows: Vec<(Vec<u8>, Vec<u8>, i64, String)> = {
        let mut st = tx.db.prepare_cached(
            "SELECT summary_id, disclosure, received_at, requested_by FROM summaries WHERE purged_at IS NULL ORDER BY received_at",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut purged = 0;
    for (id, d, received_at, by) in rows {
        let d: Disclosure = postcard::from_bytes(&d)?;
        let days = roster.retention_days(&d.header.purpose);
        if (received_at as u64).saturating_add(u64::from(days) * DAY) > env.now {
            continue;
        }
        if purged == PURGES_PER_STEP {
            // More are due: the next tick goes on.
            return Ok(false);
        }
        let id = SummaryId(
            id.try_into()
                .map_err(|_| anyhow::anyhow!("corrupt summary id"))?,
        );
        purge_stored(tx, env, &id, d, PurgeReason::Retention, &by.parse()?)?;
        purged += 1;
    }
    if purged > 0 {
        tracing::info!(purged, "summaries past their retention purged");
    }
    Ok(true)
}

/// A case worker purges a summary before its retention ends.
pub(crate) fn purge_now(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    summary_id: &SummaryId,
    staff: &StaffId,
) -> Result<(), Fault> {
    let row: Option<(Vec<u8>, Option<i64>)> = tx
        .db
        .prepare_cached("SELECT disclosure, purged_at FROM summaries WHERE summary_id = ?1")?
        .query_row([summary_id.0.to_vec()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (d, purged_at) =
        row.ok_or_else(|| bad(format!("no received summary {summary_id} at this node")))?;
    if purged_at.is_some() {
        return Err(bad(format!("summary {summary_id} is already purged")));
    }
    let d: Disclosure = postcard::from_bytes(&d)?;
    purge_stored(tx, env, summary_id, d, PurgeReason::OnRequest, staff)
}

fn purge_stored(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    summary_id: &SummaryId,
    mut d: Disclosure,
    reason: PurgeReason,
    staff: &StaffId,
) -> Result<(), Fault> {
    let digest = d.sealed.digest();
    d.sealed.enc = [0; 32];
    d.sealed.ciphertext = Vec::new();
    tx.db.prepare_cached("UPDATE summaries SET disclosure = ?2, sealed_digest = ?3, purged_at = ?4, purge_reason = ?5 WHERE summary_id = ?1")?
        .execute(
        rusqlite::params![
            summary_id.0.to_vec(),
            postcard::to_stdvec(&d)?,
            digest.to_vec(),
            env.now as i64,
            reason.as_str()
        ],
    )?;
    let person = load_case(tx.db, &d.header.case_id)?.map(|c| c.person.clone());
    entries::summary_purged(tx, env, &d.header, person.as_ref(), &digest, reason, staff)?;
    Ok(())
}

/// When a stored summary was purged and its sealed digest, if it was.
pub(crate) fn purged(
    tx: &Tx<'_>,
    summary_id: &SummaryId,
) -> anyhow::Result<Option<(u64, String, [u8; 32])>> {
    type Row = (Option<i64>, Option<String>, Option<Vec<u8>>);
    let row: Option<Row> = tx
        .db
        .prepare_cached(
            "SELECT purged_at, purge_reason, sealed_digest FROM summaries WHERE summary_id = ?1",
        )?
        .query_row([summary_id.0.to_vec()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    Ok(match row {
        Some((Some(at), Some(reason), Some(digest))) => Some((
            at as u64,
            reason,
            digest
                .try_into()
                .map_err(|_| anyhow::anyhow!("corrupt sealed digest"))?,
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_spec::entry::LogEntry;
    use protocol_spec::exchange::DisclosureHeader;
    use protocol_spec::ids::{CaseId, ConsentId, RequestId};
    use protocol_spec::keys::Signature;
    use protocol_spec::roster::Retention;
    use protocol_spec::seal::Sealed;

    struct Zero;
    impl crate::Random for Zero {
        fn fill(&mut self, dst: &mut [u8]) {
            dst.fill(0);
        }
    }

    fn store_summary(db: &rusqlite::Connection, n: u8, purpose: &str, received_at: u64) {
        let d = Disclosure {
            header: DisclosureHeader {
                request_digest: [n; 32],
                request_id: RequestId([n; 16]),
                case_id: CaseId([1; 16]),
                source: "ne.orp".parse().unwrap(),
                recipient: "ne.oai".parse().unwrap(),
                purpose: purpose.parse().unwrap(),
                categories: vec![protocol_spec::category::Category::Employment],
                consent_id: ConsentId([2; 16]),
                disclosed_at: received_at,
                roster_version: 1,
            },
            sealed: Sealed {
                enc: [7; 32],
                ciphertext: b"the sealed content".to_vec(),
            },
            signature: Signature([3; 64]),
        };
        db.execute(
            "INSERT INTO summaries (summary_id, case_id, source, request, disclosure, requested_by, received_at) VALUES (?1, ?2, 'ne.orp', x'00', ?3, 'bruno', ?4)",
            rusqlite::params![vec![n; 16], vec![1u8; 16], postcard::to_stdvec(&d).unwrap(), received_at as i64],
        )
        .unwrap();
    }

    fn step<T>(
        db: &mut rusqlite::Connection,
        now: u64,
        f: impl FnOnce(&mut Tx<'_>, &mut Env<'_>) -> T,
    ) -> (T, Vec<Vec<u8>>) {
        let size = crate::store::log_size(db).unwrap();
        let mut txn = db.transaction().unwrap();
        let sp = txn.savepoint().unwrap();
        let mut pending = Vec::new();
        let mut random = Zero;
        let verified = crate::verified::Verified::default();
        let mut env = Env {
            now,
            random: &mut random,
            verified: &verified,
            presigned: None,
        };
        let out = {
            let mut tx = Tx::new(&sp, &mut pending, size);
            f(&mut tx, &mut env)
        };
        sp.commit().unwrap();
        txn.commit().unwrap();
        (out, pending)
    }

    #[test]
    fn summaries_past_their_purposes_retention_are_purged_and_logged_the_rest_kept() {
        let mut db = crate::store::open_in_memory().unwrap();
        let t0 = 1_800_000_000;
        store_summary(&db, 1, "action-plan", t0);
        store_summary(&db, 2, "coordinated-assessment", t0);
        let roster = Roster {
            federation: "ne-cii".into(),
            version: 1,
            issued_at: t0,
            authorities: protocol_spec::roster::Authorities {
                threshold: 1,
                keys: vec![],
            },
            members: vec![],
            policy: vec![],
            former_keys: vec![],
            former_log_keys: vec![],
            retention: vec![Retention {
                purpose: "action-plan".parse().unwrap(),
                days: 30,
            }],
            statistics: None,
        };
        // Day 29: nothing is due yet.
        let (done, _) = step(&mut db, t0 + 29 * DAY, |tx, env| {
            purge_expired(tx, env, &roster).unwrap()
        });
        assert!(done);
        assert_eq!(crate::store::log_size(&db).unwrap(), 0);
        // Day 31: the action plan's summary goes; the other purpose keeps the default year.
        step(&mut db, t0 + 31 * DAY, |tx, env| {
            purge_expired(tx, env, &roster).unwrap()
        });
        let (purged, kept) = step(&mut db, t0 + 31 * DAY, |tx, _| {
            (
                purged(tx, &SummaryId([1; 16])).unwrap(),
                purged(tx, &SummaryId([2; 16])).unwrap(),
            )
        })
        .0;
        let (at, reason, digest) = purged.expect("purged");
        assert_eq!((at, reason.as_str()), (t0 + 31 * DAY, "retention"));
        assert!(kept.is_none());
        // The content is gone, the digest that the receipt names is kept.
        let stored: Vec<u8> = db
            .prepare_cached("SELECT disclosure FROM summaries WHERE summary_id = ?1")
            .unwrap()
            .query_row([vec![1u8; 16]], |r| r.get(0))
            .unwrap();
        let d: Disclosure = postcard::from_bytes(&stored).unwrap();
        assert!(d.sealed.ciphertext.is_empty());
        assert_eq!(
            digest,
            Sealed {
                enc: [7; 32],
                ciphertext: b"the sealed content".to_vec()
            }
            .digest()
        );
        let entry: Vec<u8> = db
            .prepare_cached("SELECT entry FROM log_entries ORDER BY idx DESC LIMIT 1")
            .unwrap()
            .query_row([], |r| r.get(0))
            .unwrap();
        match LogEntry::parse(&entry).unwrap() {
            LogEntry::SummaryPurged(p) => {
                assert_eq!(p.summary, digest);
                assert_eq!(p.reason, PurgeReason::Retention);
            }
            other => panic!("{other:?}"),
        }
        // On request: the other one now; twice is refused.
        step(&mut db, t0 + 32 * DAY, |tx, env| {
            purge_now(tx, env, &SummaryId([2; 16]), &"bruno".parse().unwrap()).unwrap()
        });
        let again = step(&mut db, t0 + 32 * DAY, |tx, env| {
            purge_now(tx, env, &SummaryId([2; 16]), &"bruno".parse().unwrap()).is_err()
        })
        .0;
        assert!(again, "a purged summary is not purged twice");
    }
}
