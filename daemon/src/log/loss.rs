//! A restored store whose log is behind what the witnesses cosigned, and the administrator's
//! declaration that the missing entries are lost (transparency-log.md §7.6).
//!
//! `node restore` marks the store it puts in place. The first start on a marked store asks the
//! witnesses before it serves anything; if one cosigned more than the store holds, the node
//! does not start, and keeps refusing until either a copy holding those entries is restored or
//! the administrator declares the loss (`node declare-loss`) and the steering group gives the
//! log a new key. The node then records the loss in its log, signed like every entry by the
//! checkpoints that follow, and goes on under the new key.

use super::checkpoints::confirm_with_witnesses;
use crate::log_state::{HALTED_KEY, Standing};
use crate::node::Node;
use anyhow::{Context, anyhow, bail};
use node_core::vkeys::origin;
use protocol_spec::entry::{LogEntry, LogLoss};
use protocol_spec::ids::InstitutionId;
use protocol_spec::tlog::note::{self, Note, SIG_ED25519, VerifierKey};
use rusqlite::{Connection, OptionalExtension};
use std::sync::Arc;

/// `meta` key set by `node restore`: check with the witnesses before serving.
pub(crate) const RESTORED_KEY: &str = "restored";
/// `meta` key recording that the witnesses cosigned more than the restored store holds.
pub(crate) const BEHIND_KEY: &str = "log-behind";
/// `meta` key set by `node declare-loss`.
pub(crate) const DECLARED_KEY: &str = "loss-declared";

/// A witness cosigned `cosigned` entries of this log; the restored store holds `kept`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behind {
    pub witness: InstitutionId,
    pub cosigned: u64,
    pub kept: u64,
}

impl Behind {
    fn encode(&self) -> String {
        format!("{} {} {}", self.witness, self.cosigned, self.kept)
    }

    fn decode(text: &str) -> Option<Behind> {
        let mut parts = text.split(' ');
        let b = Behind {
            witness: parts.next()?.parse().ok()?,
            cosigned: parts.next()?.parse().ok()?,
            kept: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(b)
    }

    pub fn explain(&self) -> String {
        format!(
            "witness {} cosigned {} of this node's log, the restored store holds {}: it is {} \
             behind",
            self.witness,
            entries(self.cosigned),
            self.kept,
            entries(self.cosigned.saturating_sub(self.kept))
        )
    }
}

fn entries(n: u64) -> String {
    format!("{n} {}", if n == 1 { "entry" } else { "entries" })
}

/// What `node restore` and `node declare-loss` left in the store for the next start.
#[derive(Debug, Default)]
pub struct Marks {
    pub restored: bool,
    pub behind: Option<Behind>,
    pub declared: bool,
}

fn meta(conn: &Connection, key: &str) -> anyhow::Result<Option<String>> {
    let v: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?;
    Ok(v.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, value.as_bytes()],
    )?;
    Ok(())
}

impl Marks {
    pub fn read(conn: &Connection) -> anyhow::Result<Marks> {
        let behind = match meta(conn, BEHIND_KEY)? {
            Some(t) => Some(
                Behind::decode(&t)
                    .ok_or_else(|| anyhow!("the store is corrupt: meta `{BEHIND_KEY}` is {t:?}"))?,
            ),
            None => None,
        };
        Ok(Marks {
            restored: meta(conn, RESTORED_KEY)?.is_some(),
            behind,
            declared: meta(conn, DECLARED_KEY)?.is_some(),
        })
    }

    /// The refusal of a start on a store found behind whose loss is not declared.
    pub(crate) fn refusal(&self) -> Option<anyhow::Error> {
        let b = self.behind.as_ref()?;
        (!self.declared).then(|| refusal_text(b))
    }
}

fn refusal_text(b: &Behind) -> anyhow::Error {
    anyhow!(
        "this node does not start: its log is behind what its witnesses cosigned ({}). \
         Restore a copy of the store that holds those entries (`passerelle node restore \
         --replace`), or, if none exists, declare them lost with `passerelle node declare-loss` \
         and have the steering group give the log a new key (README, \"A restored backup behind \
         its witnesses\")",
        b.explain()
    )
}

/// Runs once the node is built and before it serves: after a declared loss, records it and
/// goes on under the new log key; on a restored store, asks the witnesses first and refuses to
/// start if the store is behind what they cosigned (or holds another history). When no
/// witness can be reached, the node starts, and every witnessing round checks again (§7.4).
pub(crate) async fn before_serving(node: &Arc<Node>, marks: &Marks) -> anyhow::Result<()> {
    if marks.declared {
        let behind = marks.behind.as_ref().ok_or_else(|| {
            anyhow!("the store holds a loss declaration but no record of what was behind")
        })?;
        return record_loss(node, behind).await;
    }
    if !marks.restored {
        return Ok(());
    }
    let Err(e) = confirm_with_witnesses(node).await else {
        return Ok(());
    };
    let (behind, halted) = {
        let log = node.log.lock().unwrap();
        (
            log.behind.clone(),
            matches!(log.standing, Standing::Halted(_)),
        )
    };
    if let Some((witness, cosigned)) = behind {
        let b = Behind {
            witness,
            cosigned,
            kept: node.log.lock().unwrap().size(),
        };
        let text = b.encode();
        node.store
            .write(move |tx| set_meta(tx.db, BEHIND_KEY, &text))
            .await?;
        return Err(refusal_text(&b));
    }
    if halted {
        return Err(e.context("this node does not start on the restored store"));
    }
    tracing::warn!(error = %e, "the restored store could not be checked with the witnesses yet");
    Ok(())
}

/// Appends the `log-loss` entry and clears the marks, in one transaction. Refused unless the
/// log key changed since the store's newest checkpoint: going on under the old key would sign
/// a fork of what the witnesses cosigned.
async fn record_loss(node: &Arc<Node>, behind: &Behind) -> anyhow::Result<()> {
    let newest: Option<String> = node
        .store
        .read(|db| {
            Ok(db
                .query_row(
                    "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await?;
    let in_force = node.roster();
    let roster = &in_force.roster;
    let name = origin(&roster.federation, &node.me);
    let signed_by = |key: &protocol_spec::keys::PublicKey| {
        let vkey = VerifierKey::new(&name, SIG_ED25519, *key);
        newest.as_deref().is_some_and(|t| {
            Note::parse(t).is_ok_and(|n| note::verify_note(&n, std::slice::from_ref(&vkey)).is_ok())
        })
    };
    let needs_new_key = || {
        anyhow!(
            "the loss is declared ({}), but the log can go on only under a new log key, and \
             the roster still lists the one this store's checkpoints were signed with: run \
             `passerelle node rotate-keys --only log` and have the steering group put the new \
             key in the roster (README, \"Operations: key rotation\")",
            behind.explain()
        )
    };
    if signed_by(&node.log_key.public()) {
        return Err(needs_new_key());
    }
    let mine: Vec<_> = roster
        .former_log_keys
        .iter()
        .filter(|f| f.institution == node.me)
        .collect();
    let former = mine
        .iter()
        .find(|f| signed_by(&f.log_key))
        .or(mine.last())
        .map(|f| f.log_key)
        .ok_or_else(needs_new_key)?;
    let (kept, kept_root) = {
        let log = node.log.lock().unwrap();
        (log.size(), log.root())
    };
    let entry = LogLoss {
        time: crate::clock::now(),
        kept,
        kept_root,
        cosigned: behind.cosigned,
        witness: behind.witness.clone(),
        former_key: former.0,
    };
    node.store
        .write(move |tx| {
            tx.log(LogEntry::from(entry).to_bytes())?;
            for key in [DECLARED_KEY, BEHIND_KEY, RESTORED_KEY, HALTED_KEY] {
                tx.db.execute("DELETE FROM meta WHERE key = ?1", [key])?;
            }
            Ok(())
        })
        .await
        .context("recording the declared loss")?;
    node.log.lock().unwrap().standing = Standing::Unconfirmed { halted: None };
    tracing::warn!(
        institution = %node.me,
        kept,
        cosigned = behind.cosigned,
        witness = %behind.witness,
        "declared loss recorded in the log; the log goes on under its new key"
    );
    Ok(())
}

/// `node declare-loss`: marks a stopped node's store so that its next start records the loss
/// the witnesses showed at the previous start. Refused when no start found the log behind.
pub fn declare(conn: &Connection) -> anyhow::Result<Behind> {
    let marks = Marks::read(conn)?;
    let Some(behind) = marks.behind else {
        bail!(
            "no start of this node found its log behind its witnesses: there is no loss to \
             declare (start the node on the restored store first; it checks with its witnesses)"
        );
    };
    set_meta(conn, DECLARED_KEY, "1")?;
    Ok(behind)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal counts in good English and points at the README section by its title.
    #[test]
    fn the_refusal_names_the_count_and_the_readme_section() {
        let b = Behind {
            witness: "ne.oai".parse().unwrap(),
            cosigned: 31,
            kept: 30,
        };
        let text = refusal_text(&b).to_string();
        assert!(
            text.contains("witness ne.oai cosigned 31 entries of this node's log, the restored store holds 30: it is 1 entry behind"),
            "{text}"
        );
        assert!(
            text.contains("(README, \"A restored backup behind its witnesses\")"),
            "{text}"
        );
        let readme = include_str!("../../../README.md");
        assert!(readme.contains("**A restored backup behind its witnesses.**"));
    }
}
