//! This node as a witness of its peers' logs (transparency-log.md §6): the tlog-witness
//! add-checkpoint decision, made in the step that stores the new witness state; a checkpoint
//! inconsistent with the one cosigned before kept with it as evidence. The cosignature itself is
//! signed off the store thread ([`Work::Cosign`]), once the state is durable.

use crate::io::{Env, Fault, Output};
use crate::jobs::Work;
use crate::state::Core;
use crate::store::Tx;
use crate::verified::CheckedKey;
use crate::vkeys::{log_vkey, origin, witness_vkey};
use anyhow::anyhow;
use protocol_spec::entry::{LogEntry, Text, WitnessEvidence};
use protocol_spec::peer::PeerReply;
use protocol_spec::tlog::Checkpoint;
use protocol_spec::tlog::note::{self, Note, VerifierKey};
use protocol_spec::tlog::witness::{self, AddCheckpoint, WitnessRefusal, WitnessState};
use rusqlite::{Connection, OptionalExtension};

/// The checkpoint this node last cosigned for `origin` (its witness state) and that note, if
/// the log's key in the roster in force, `log_key`, signed it. A note signed with a key the
/// steering group has since replaced means the log restarted under its new key, and is followed
/// from the empty tree (transparency-log.md §7.5). The key the note was verified under is kept
/// with it, so this compares keys instead of verifying again.
pub fn cosigned(
    db: &Connection,
    origin: &str,
    log_key: Option<&VerifierKey>,
) -> anyhow::Result<Option<(WitnessState, String)>> {
    type Row = (i64, Vec<u8>, String, Option<Vec<u8>>);
    let row: Option<Row> = db
        .prepare_cached("SELECT size, root, note, log_key FROM witness_state WHERE origin = ?1")?
        .query_row([origin], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((size, root, note, verified_under)) = row else {
        return Ok(None);
    };
    let Some(key) = log_key else {
        return Ok(None);
    };
    let signed = match verified_under {
        Some(k) => key.name == origin && k == key.key.0,
        // Kept by an earlier version, without its key.
        None => Note::parse(&note)
            .is_ok_and(|n| note::verify_note(&n, std::slice::from_ref(key)).is_ok()),
    };
    if !signed {
        return Ok(None);
    }
    let state = WitnessState {
        size: u64::try_from(size)
            .map_err(|_| anyhow!("the store is corrupt: witness state size of {origin}"))?,
        root: root
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("the store is corrupt: witness state root of {origin}"))?,
    };
    Ok(Some((state, note)))
}

/// Keeps two signed checkpoints of a log that cannot both be honest: the one this node
/// cosigned and the one it was offered, with a `witness-evidence` entry in its own log.
pub fn keep_evidence(
    tx: &mut Tx<'_>,
    now: u64,
    origin: &str,
    cosigned: &str,
    offered: &str,
    problem: &str,
) -> anyhow::Result<()> {
    tx.db.execute(
        "INSERT INTO witness_evidence (origin, cosigned, offered, problem, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![origin, cosigned, offered, problem, now as i64],
    )?;
    let digest = |t: &str| protocol_spec::keys::sha256(&[t.as_bytes()]);
    let text = |t: &str| Text::new(t).map_err(|e| anyhow!("witness evidence {e}"));
    let entry = WitnessEvidence {
        time: now,
        origin: text(origin)?,
        cosigned: digest(cosigned),
        offered: digest(offered),
        problem: text(problem)?,
    };
    tx.log(LogEntry::from(entry).to_bytes())?;
    tracing::error!(
        origin,
        problem,
        "a peer log presented a checkpoint inconsistent with one this node cosigned; evidence kept"
    );
    Ok(())
}

fn refused(e: &WitnessRefusal) -> Output {
    Output::PeerReply(PeerReply::WitnessRefused {
        status: e.status(),
        latest: match e {
            WitnessRefusal::Conflict { latest } => Some(*latest),
            _ => None,
        },
        reason: e.to_string(),
    })
}

/// The witness side of add-checkpoint: decide, and store the new state in the same step. The
/// answer is the cosigning to do, or the refusal. An inconsistent checkpoint is kept with the
/// one cosigned before as evidence, logged, and reported to administrators through the status.
pub(crate) fn add_checkpoint(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    body: &str,
) -> Result<Output, Fault> {
    let req = match AddCheckpoint::parse(body) {
        Ok(r) => r,
        Err(e) => return Ok(refused(&e)),
    };
    let roster = &core.roster.roster;
    // The origin names the log; only a member whose witness policy names this node is served.
    let offered = Note::parse(&req.checkpoint)
        .ok()
        .and_then(|n| Checkpoint::parse(&n.text).ok());
    let o = offered
        .as_ref()
        .map(|c| c.origin.clone())
        .unwrap_or_default();
    let log_member = roster
        .members
        .iter()
        .find(|m| origin(&roster.federation, &m.id) == o && m.witnesses.contains(&core.me));
    let log_key = log_member.and_then(|m| log_vkey(roster, &m.id));
    let prior = cosigned(tx.db, &o, log_key.as_ref())?;
    let state = prior.as_ref().map(|p| p.0).unwrap_or_default();
    #[cfg(feature = "mutants")]
    let state = if core.mutants.witness_forgets_its_state {
        WitnessState::default()
    } else {
        state
    };
    let checked = log_key.as_ref().map(|key| CheckedKey {
        key,
        verified: env.verified,
    });
    match witness::decide(state, checked.as_ref(), &req) {
        // No log of a Passerelle member grows that far; the store could not keep it.
        Ok((cp, _)) if i64::try_from(cp.size).is_err() => Ok(refused(&WitnessRefusal::Malformed(
            "checkpoint size beyond 2^63 - 1",
        ))),
        Ok((cp, _)) => {
            let Some(wkey) = witness_vkey(roster, &core.me) else {
                return Err(Fault::Local(anyhow!(
                    "this node has no witness key in the roster"
                )));
            };
            let verified_under = log_key.as_ref().map(|k| k.key.0.to_vec());
            tx.db.prepare_cached(
                "INSERT INTO witness_state (origin, size, root, note, log_key) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, log_key = excluded.log_key",
            )?.execute(rusqlite::params![o, cp.size as i64, cp.root.to_vec(), req.checkpoint, verified_under],
            )?;
            Ok(Output::Work(Work::Cosign {
                body: cp.body(),
                name: wkey.name,
                time: env.now,
            }))
        }
        Err(e) => {
            if e.is_evidence() {
                let held = prior.map(|p| p.1).unwrap_or_default();
                keep_evidence(tx, env.now, &o, &held, &req.checkpoint, &e.to_string())?;
            }
            Ok(refused(&e))
        }
    }
}
