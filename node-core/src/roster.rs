//! Roster adoption (spec §5): a newer roster signed by the threshold of the current one's
//! authorities, that still lists this node with the keys it holds. Steps run one at a time on
//! the store, so the version only ever grows; the adopted roster is offered to every other
//! member through the outbox, by its version first (§5.4), a bounded number at a time, and
//! again to members that were offline.

use crate::entries;
use crate::io::Token;
use crate::io::{Env, Fault, Output, bad};
use crate::outbox::{self, Item};
use crate::state::Core;
use crate::store::Tx;
use protocol_spec::ids::InstitutionId;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::roster::SignedRoster;
use protocol_spec::staff::StaffErrorKind;
use rusqlite::OptionalExtension;

/// A roster offered by a peer. An older one means the peer missed a newer roster: it gets ours
/// (by version first).
pub(crate) fn offered(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    offered: SignedRoster,
    from: &protocol_spec::keys::PublicKey,
) -> Result<Vec<Output>, Fault> {
    let version = offered.roster.version;
    if offered.roster.federation == core.roster.roster.federation
        && version <= core.roster.roster.version
    {
        if version < core.roster.roster.version {
            if let Some(m) = core.roster.roster.member_by_key(from).map(|m| m.id.clone()) {
                outbox::enqueue(core, tx, env, &m, &Item::Roster, None)?;
            }
        } else if offered.digest() != core.roster_digest() {
            warn_same_version(version);
        }
        return Ok(Vec::new());
    }
    adopt(core, tx, env, offered).map(|(_, out)| out)
}

/// How long a member that was heard from counts as likely reachable.
pub(crate) const HEARD_LATELY: u64 = 3_600;

/// Whether `member` was heard from lately.
pub(crate) fn heard_lately(core: &Core, member: &InstitutionId, now: u64) -> bool {
    core.heard
        .get(member)
        .is_some_and(|t| now.saturating_sub(*t) < HEARD_LATELY)
}

/// The roster items of the members heard from lately, which leave at once whatever the
/// offers in flight; the others are due a second later. Offers to unreachable members hold
/// their places until the connection attempt gives up, and the members this node works with
/// should not wait behind them.
fn heard_from_first(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &Env<'_>,
    offers: usize,
) -> anyhow::Result<Vec<Token>> {
    let lately: Vec<&InstitutionId> = core
        .heard
        .keys()
        .filter(|id| heard_lately(core, id, env.now))
        .collect();
    if lately.is_empty() {
        return Ok(Vec::new());
    }
    if lately.len() < offers {
        tx.db
            .prepare_cached("UPDATE outbox SET next_attempt = ?1 WHERE topic = 'roster'")?
            .execute([env.now as i64 + 1])?;
    }
    let mut item = tx.db.prepare_cached(
        "UPDATE outbox SET next_attempt = ?2 WHERE recipient = ?1 AND topic = 'roster' RETURNING id",
    )?;
    let mut tokens = Vec::with_capacity(lately.len());
    for id in lately {
        let token: Option<Token> = item
            .query_row(rusqlite::params![id.as_str(), env.now as i64], |r| r.get(0))
            .optional()?;
        tokens.extend(token);
    }
    Ok(tokens)
}

/// What a queued [`Item::Roster`] carries: the version of the roster in force when it is sent,
/// or the roster itself once its recipient asked for it.
pub(crate) fn message(core: &mut Core, token: Token) -> PeerMessage {
    if core.rosters_wanted.contains(&token) {
        return PeerMessage::Roster(core.roster.clone());
    }
    PeerMessage::RosterVersion {
        version: core.roster.roster.version,
        digest: core.roster_digest(),
    }
}

/// A member offers the version of the roster it holds: the receiver asks for the roster if
/// it is newer than its own, and offers its own back if that one is newer.
pub(crate) fn version_offered(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    version: u64,
    digest: [u8; 32],
    from: &protocol_spec::keys::PublicKey,
) -> Result<PeerReply, Fault> {
    if version > core.roster.roster.version {
        return Ok(PeerReply::RosterWanted);
    }
    if version < core.roster.roster.version {
        let member = core.sender(from)?;
        outbox::enqueue(core, tx, env, &member, &Item::Roster, None)?;
    } else if digest != core.roster_digest() {
        warn_same_version(version);
    }
    Ok(PeerReply::Accepted)
}

/// Two rosters of one version: the authorities signed both. Neither node adopts the other's,
/// so offering it back would go on forever; an administrator must look.
fn warn_same_version(version: u64) {
    tracing::warn!(
        version,
        "a member holds another roster of the version in force here"
    );
}

pub(crate) fn adopt(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    offered: SignedRoster,
) -> Result<(u64, Vec<Output>), Fault> {
    offered
        .verify_successor_checked(&core.roster.roster, env.verified)
        .map_err(|e| bad(e.to_string()))?;
    let Some(mine) = offered.roster.member(&core.me) else {
        return Err(Fault::Refused(
            StaffErrorKind::BadRequest,
            "the offered roster no longer lists this institution; an administrator must decide"
                .into(),
        ));
    };
    // A roster giving this institution other keys would lock the node out of its own
    // federation: that is a key change for the administrator, not something to adopt silently.
    let k = &core.keys;
    for (what, listed, ours) in [
        ("signing", mine.signing_key, k.signing.public()),
        ("encryption", mine.encryption_key, k.encryption.public()),
        ("log", mine.log_key, k.log),
        ("witness", mine.witness_key, k.witness),
    ] {
        if listed != ours {
            return Err(bad(format!(
                "the offered roster lists another {what} key for this institution than the one it holds"
            )));
        }
    }
    let version = offered.roster.version;
    tx.db.prepare_cached("INSERT INTO meta (key, value) VALUES ('roster', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
        .execute(
        [postcard::to_stdvec(&offered)?],
    )?;
    entries::roster(tx, env, version, &offered.digest())?;
    let others: Vec<_> = offered
        .roster
        .members
        .iter()
        .filter(|m| m.id != core.me)
        .map(|m| m.id.clone())
        .collect();
    // Due now, carrying the roster in force when each leaves: this one, or a later one.
    for id in &others {
        let token = outbox::insert(tx, env, id, &Item::Roster, None)?;
        outbox::carries_anew(core, token);
    }
    outbox::all_due(tx, env)?;
    let first = heard_from_first(core, tx, env, others.len())?;
    // The new roster is in force from here (should the step still fail, its writes are rolled
    // back and the core reads its state again from the store).
    core.roster = std::sync::Arc::new(offered);
    let roster = core.roster.clone();
    core.heard
        .retain(|id, _| roster.roster.member(id).is_some());
    // The driver takes the roster first: the sends look their recipients up in it.
    let mut out = vec![Output::RosterAdopted(core.roster.clone())];
    // The first of them leave as the step ends, the others as those are answered.
    out.extend(crate::delivery::send(core, tx, env, first)?);
    out.extend(crate::delivery::send_due_rosters(core, tx, env)?);
    // Its retention periods may differ: look for summaries past them at the next tick.
    core.next_retention_scan = 0;
    tracing::info!(version, "roster adopted");
    Ok((version, out))
}
