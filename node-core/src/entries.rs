//! Composition of the node's log entries (spec: transparency log, entry kinds). Entries hold
//! no personal data in clear: a person appears only as a freshly salted commitment.

use crate::{Env, Tx};
use protocol_spec::avs::Avs;
use protocol_spec::case::{CaseEventKind, CoordinatedCase, SignedCaseEvent};
use protocol_spec::entry::{self, Entry};
use protocol_spec::exchange::{DisclosureHeader, RefusalCode, SummaryRequest};
use protocol_spec::ids::StaffId;

fn person(env: &mut Env<'_>, p: Option<&Avs>) -> String {
    entry::person_field(p, env.bytes())
}

fn append(tx: &mut Tx<'_>, kind: &str, at: u64, values: Vec<String>) -> anyhow::Result<u64> {
    tx.log(Entry::new(kind, at, values)?.to_bytes())
}

/// The responder refused; the person is named only when the requester is concerned.
pub fn refusal(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    r: &SummaryRequest,
    who: Option<&Avs>,
    code: RefusalCode,
    digest: &[u8; 32],
) -> anyhow::Result<()> {
    let values = vec![
        r.case_id.to_string(),
        person(env, who),
        r.requester.to_string(),
        r.purpose.to_string(),
        entry::categories_field(&r.categories),
        code.as_str().to_string(),
        hex::encode(digest),
    ];
    append(tx, "refusal", env.now, values)?;
    Ok(())
}

/// The responder disclosed; returns the entry's bytes so its leaf can be named in the reply.
pub fn disclosure(
    env: &mut Env<'_>,
    h: &DisclosureHeader,
    who: &Avs,
    sealed_digest: &[u8; 32],
) -> anyhow::Result<Vec<u8>> {
    let values = vec![
        h.case_id.to_string(),
        person(env, Some(who)),
        h.recipient.to_string(),
        h.purpose.to_string(),
        entry::categories_field(&h.categories),
        h.consent_id.to_string(),
        hex::encode(h.request_digest),
        hex::encode(sealed_digest),
    ];
    Ok(Entry::new("disclosure", env.now, values)?.to_bytes())
}

#[allow(clippy::too_many_arguments)] // one per field of the entry
pub fn receipt(
    env: &mut Env<'_>,
    h: &DisclosureHeader,
    who: Option<&Avs>,
    sealed_digest: &[u8; 32],
    source_leaf: (u64, [u8; 32]),
    staff: &StaffId,
) -> anyhow::Result<Vec<u8>> {
    let values = vec![
        h.case_id.to_string(),
        person(env, who),
        h.source.to_string(),
        h.purpose.to_string(),
        entry::categories_field(&h.categories),
        h.consent_id.to_string(),
        hex::encode(h.request_digest),
        hex::encode(sealed_digest),
        format!("{} {}", source_leaf.0, hex::encode(source_leaf.1)),
        staff.to_string(),
    ];
    Ok(Entry::new("receipt", env.now, values)?.to_bytes())
}

pub fn refused_by_peer(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    r: &SummaryRequest,
    who: Option<&Avs>,
    code: RefusalCode,
    digest: &[u8; 32],
    staff: &StaffId,
) -> anyhow::Result<()> {
    let values = vec![
        r.case_id.to_string(),
        person(env, who),
        r.responder.to_string(),
        r.purpose.to_string(),
        entry::categories_field(&r.categories),
        code.as_str().to_string(),
        hex::encode(digest),
        staff.to_string(),
    ];
    append(tx, "refused-by-peer", env.now, values)?;
    Ok(())
}

/// A request this node will not send, or whose answer it will not keep: `reason` is a
/// kebab-case code from the spec; `digest` names the answered version, else the latest.
pub fn request_withdrawn(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    r: &SummaryRequest,
    who: Option<&Avs>,
    digest: &[u8; 32],
    reason: &str,
    staff: &StaffId,
) -> anyhow::Result<()> {
    let values = vec![
        r.case_id.to_string(),
        person(env, who),
        r.responder.to_string(),
        hex::encode(digest),
        reason.to_string(),
        staff.to_string(),
    ];
    append(tx, "request-withdrawn", env.now, values)?;
    Ok(())
}

pub fn summary_opened(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    h: &DisclosureHeader,
    who: Option<&Avs>,
    sealed_digest: &[u8; 32],
    staff: &StaffId,
) -> anyhow::Result<()> {
    let values = vec![
        h.case_id.to_string(),
        person(env, who),
        h.source.to_string(),
        hex::encode(sealed_digest),
        staff.to_string(),
    ];
    append(tx, "summary-opened", env.now, values)?;
    Ok(())
}

pub fn case_event(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    case: &CoordinatedCase,
    ev: &SignedCaseEvent,
) -> anyhow::Result<()> {
    let e = &ev.event;
    let detail = match &e.kind {
        CaseEventKind::Opened { .. } => "opened".to_string(),
        CaseEventKind::Invited { institution } => format!("invited {institution}"),
        CaseEventKind::Accepted => "accepted".into(),
        CaseEventKind::Left => "left".into(),
        CaseEventKind::Closed => "closed".into(),
        CaseEventKind::ConsentRecorded(c) => format!(
            "consent-recorded {} {} {} {}..{}",
            c.consent_id,
            c.purposes
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
            entry::categories_field(&c.categories),
            c.valid_from,
            c.valid_until
        ),
        CaseEventKind::ConsentRevoked { consent_id } => format!("consent-revoked {consent_id}"),
    };
    let values = vec![
        e.case_id.to_string(),
        person(env, Some(&case.person)),
        e.author.to_string(),
        e.event_id.to_string(),
        detail,
        e.staff.to_string(),
    ];
    append(tx, "case-event", e.at, values)?;
    Ok(())
}

pub fn staff(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    staff: &StaffId,
    role: &str,
    action: &str,
    by: &StaffId,
) -> anyhow::Result<()> {
    let values = vec![
        staff.to_string(),
        role.to_string(),
        action.to_string(),
        by.to_string(),
    ];
    append(tx, "staff", env.now, values)?;
    Ok(())
}

pub fn records_imported(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    persons: u64,
    fields: u64,
    digest: &[u8; 32],
    by: &StaffId,
) -> anyhow::Result<()> {
    let values = vec![
        persons.to_string(),
        fields.to_string(),
        hex::encode(digest),
        by.to_string(),
    ];
    append(tx, "records-imported", env.now, values)?;
    Ok(())
}

pub fn roster(
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    version: u64,
    digest: &[u8; 32],
) -> anyhow::Result<()> {
    append(
        tx,
        "roster",
        env.now,
        vec![version.to_string(), hex::encode(digest)],
    )?;
    Ok(())
}
