//! Staff requests, grouped by role: administration here, case work in `cases` and
//! `requester`, reading in `queries`. Log and witness requests are served by the driver.

use crate::io::{Env, Fault, Output, Ticket, bad};
use crate::state::{Core, StaffMember};
use crate::store::Tx;
use crate::{cases, entries, queries, stats};
use crate::{requester, roster};
use protocol_spec::case::{CaseEventKind, Consent};
use protocol_spec::entry::StaffAction;
use protocol_spec::ids::ConsentId;
use protocol_spec::records::RecordSet;
use protocol_spec::staff::{ConsentDraft, StaffInfo, StaffReply, StaffRequest};
use rusqlite::OptionalExtension;

fn reply(ticket: Ticket, reply: StaffReply) -> Result<Vec<Output>, Fault> {
    Ok(vec![Output::StaffReply { ticket, reply }])
}

pub(crate) fn dispatch(
    core: &mut Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    ticket: Ticket,
    who: &StaffMember,
    request: StaffRequest,
) -> Result<Vec<Output>, Fault> {
    use StaffRequest as R;
    match request {
        R::WhoAmI => reply(
            ticket,
            StaffReply::Me(StaffInfo {
                staff: who.staff.clone(),
                role: who.role,
                institution: core.me.clone(),
                revoked: false,
            }),
        ),
        R::Status => reply(ticket, queries::status(core, tx)?),
        R::StaffIssue { staff, role, key } => {
            let exists: bool = tx
                .db
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM staff WHERE staff_id = ?1 OR key = ?2)",
                )?
                .query_row(rusqlite::params![staff.as_str(), key.0.to_vec()], |r| {
                    r.get(0)
                })?;
            if exists {
                return Err(bad("staff id or key already issued"));
            }
            tx.db.prepare_cached("INSERT INTO staff (staff_id, role, key, issued_by, issued_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(
                rusqlite::params![staff.as_str(), role.as_str(), key.0.to_vec(), who.staff.as_str(), env.now as i64],
            )?;
            entries::staff(tx, env, &staff, role, StaffAction::Issued, &who.staff)?;
            core.staff.insert(key, StaffMember { staff, role });
            Ok(vec![
                Output::StaffChanged(core.staff_keys()),
                Output::StaffReply {
                    ticket,
                    reply: StaffReply::Done,
                },
            ])
        }
        R::StaffRevoke { staff } => {
            let role: Option<String> = tx
                .db
                .prepare_cached(
                    "SELECT role FROM staff WHERE staff_id = ?1 AND revoked_at IS NULL",
                )?
                .query_row([staff.as_str()], |r| r.get(0))
                .optional()?;
            let role = role.ok_or_else(|| bad(format!("no active staff member {staff}")))?;
            tx.db
                .prepare_cached("UPDATE staff SET revoked_at = ?1 WHERE staff_id = ?2")?
                .execute(rusqlite::params![env.now as i64, staff.as_str()])?;
            entries::staff(
                tx,
                env,
                &staff,
                role.parse()?,
                StaffAction::Revoked,
                &who.staff,
            )?;
            core.staff.retain(|_, m| m.staff != staff);
            Ok(vec![
                Output::StaffChanged(core.staff_keys()),
                Output::StaffReply {
                    ticket,
                    reply: StaffReply::Done,
                },
            ])
        }
        R::StaffList => reply(ticket, queries::staff_list(core, tx)?),
        R::ImportRecords(set) => reply(ticket, import_records(core, tx, env, who, set)?),
        R::ImportPlacements(set) => reply(ticket, stats::import_placements(core, tx, set)?),
        R::StatsReport { month } => reply(ticket, stats::report(core, tx, env, who, month)?),
        R::StatsSend { month, correction } => {
            stats::send(core, tx, env, ticket, who, month, correction)
        }
        R::StatsDashboard { months, until } => {
            let mut d = stats::dashboard(core, tx, env, months, until)?;
            stats::psi::attach_overlaps(tx, &mut d)?;
            reply(ticket, d)
        }
        R::StatsOverlap { month, again } => {
            stats::psi::overlap_request(core, tx, env, ticket, &who.staff, month, again)
        }
        R::InstallRoster(r) => {
            let (version, mut out) = roster::adopt(core, tx, env, r)?;
            out.push(Output::StaffReply {
                ticket,
                reply: StaffReply::RosterInstalled { version },
            });
            Ok(out)
        }
        R::CaseOpen { person, invite } => cases::open(core, tx, env, ticket, who, person, invite),
        R::CaseInvite {
            case_id,
            institution,
        } => {
            if core.roster.roster.member(&institution).is_none() {
                return Err(bad(format!("{institution} is not a federation member")));
            }
            let kind = CaseEventKind::Invited { institution };
            cases::change(core, tx, env, ticket, who, case_id, kind)
        }
        R::CaseAccept { case_id } => {
            cases::change(core, tx, env, ticket, who, case_id, CaseEventKind::Accepted)
        }
        R::CaseLeave { case_id } => {
            cases::change(core, tx, env, ticket, who, case_id, CaseEventKind::Left)
        }
        R::CaseDecline { case_id, reason } => {
            let kind = CaseEventKind::Declined { reason };
            cases::change(core, tx, env, ticket, who, case_id, kind)
        }
        R::CaseRemove {
            case_id,
            institution,
        } => {
            let kind = CaseEventKind::Removed { institution };
            cases::change(core, tx, env, ticket, who, case_id, kind)
        }
        R::CaseHandOver { case_id, to } => {
            let kind = CaseEventKind::LeadHandedOver { to };
            cases::change(core, tx, env, ticket, who, case_id, kind)
        }
        R::CaseRefer {
            case_id,
            institution,
            purpose,
            mut categories,
        } => {
            if core.roster.roster.member(&institution).is_none() {
                return Err(bad(format!("{institution} is not a federation member")));
            }
            if institution == core.me {
                return Err(bad("a case is referred to another institution"));
            }
            categories.sort();
            categories.dedup();
            if categories.is_empty() {
                return Err(bad("name at least one category of the summary to pass on"));
            }
            let kind = CaseEventKind::Referred {
                institution,
                purpose,
                categories,
            };
            cases::change(core, tx, env, ticket, who, case_id, kind)
        }
        R::CaseClose { case_id } => {
            cases::change(core, tx, env, ticket, who, case_id, CaseEventKind::Closed)
        }
        R::ConsentRecord(d) => {
            let kind = CaseEventKind::ConsentRecorded(consent_from(env, who, &d));
            cases::change(core, tx, env, ticket, who, d.case_id, kind)
        }
        R::ConsentReplace { replaces, draft } => {
            let consent = consent_from(env, who, &draft);
            let kinds = vec![
                CaseEventKind::ConsentRecorded(consent),
                CaseEventKind::ConsentRevoked {
                    consent_id: replaces,
                },
            ];
            cases::changes(core, tx, env, ticket, who, draft.case_id, kinds)
        }
        R::ConsentRevoke {
            case_id,
            consent_id,
        } => {
            let kind = CaseEventKind::ConsentRevoked { consent_id };
            cases::change(core, tx, env, ticket, who, case_id, kind)
        }
        R::CaseList => reply(ticket, queries::case_list(core, tx)?),
        R::CaseShow { case_id } => reply(ticket, queries::case_show(core, tx, &case_id)?),
        R::SummaryRequest {
            case_id,
            from,
            purpose,
            categories,
        } => requester::request(
            core, tx, env, ticket, who, case_id, from, purpose, categories,
        ),
        R::SummaryList => reply(ticket, queries::summary_list(tx)?),
        R::SummaryOpen { summary_id } => {
            Ok(vec![queries::summary_open(tx, ticket, who, &summary_id)?])
        }
        R::CaseNotify { case_id } => crate::notices::send(core, tx, env, ticket, who, case_id),
        R::SummaryPurge { summary_id } => {
            crate::retention::purge_now(tx, env, &summary_id, &who.staff)?;
            reply(ticket, StaffReply::Done)
        }
        R::Roster => reply(ticket, StaffReply::Roster((*core.roster).clone())),
        R::RequestList => reply(ticket, queries::request_list(tx)?),
        R::Queue => reply(ticket, queries::queue(tx)?),
        R::LogCheckpoint | R::LogTile { .. } | R::WitnessEvidence => {
            Ok(vec![Output::ServeLog { ticket, request }])
        }
    }
}

fn import_records(
    core: &Core,
    tx: &mut Tx<'_>,
    env: &mut Env<'_>,
    who: &StaffMember,
    set: RecordSet,
) -> Result<StaffReply, Fault> {
    set.validate()
        .map_err(|e| bad(format!("records rejected: {e}")))?;
    // A field the statistics count takes one of its declared values (spec/statistics.md §2).
    if let Some(cfg) = &core.roster.roster.statistics {
        let mut problems = protocol_spec::records::Problems::default();
        for (i, f) in set.fields.iter().enumerate() {
            if let Some(g) = cfg.grid_field(f.category, &f.field)
                && !g.values.contains(&f.value)
            {
                problems.push(
                    i + 1,
                    format!(
                        "field {}: the value of {}/{} is not one of its declared values ({})",
                        i + 1,
                        f.category,
                        f.field,
                        g.values.join(", ")
                    ),
                );
            }
        }
        problems
            .finish((), false)
            .map_err(|e| bad(format!("records rejected: {e}")))?;
    }
    let (persons, fields) = (set.persons.len() as u64, set.fields.len() as u64);
    let digest = protocol_spec::keys::sha256(&[&postcard::to_stdvec(&set)?]);
    for p in &set.persons {
        tx.db
            .prepare_cached(
                "INSERT INTO persons (avs, name, birth_date) VALUES (?1, ?2, ?3)
             ON CONFLICT(avs) DO UPDATE SET name = excluded.name, birth_date = excluded.birth_date",
            )?
            .execute(rusqlite::params![p.avs.digits(), p.name, p.birth_date])?;
    }
    for f in &set.fields {
        let known: bool = tx
            .db
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM persons WHERE avs = ?1)")?
            .query_row([f.avs.digits()], |r| r.get(0))?;
        if !known {
            return Err(bad(
                "a field row names a person who is neither in the file nor already in the records; nothing was imported",
            ));
        }
        tx.db
            .prepare_cached(
                "INSERT INTO record_fields (avs, category, field, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(avs, category, field) DO UPDATE SET value = excluded.value",
            )?
            .execute(rusqlite::params![
                f.avs.digits(),
                f.category.as_str(),
                f.field,
                f.value
            ])?;
    }
    entries::records_imported(tx, env, persons, fields, &digest, &who.staff)?;
    Ok(StaffReply::Imported { persons, fields })
}

/// The consent a draft records: lists sorted and deduplicated, the id drawn here (spec §6.3).
fn consent_from(env: &mut Env<'_>, who: &StaffMember, d: &ConsentDraft) -> Consent {
    let mut participants = d.participants.clone();
    participants.sort();
    participants.dedup();
    let mut purposes = d.purposes.clone();
    purposes.sort();
    purposes.dedup();
    let mut categories = d.categories.clone();
    categories.sort();
    categories.dedup();
    Consent {
        consent_id: ConsentId(env.bytes()),
        case_id: d.case_id,
        participants,
        purposes,
        categories,
        valid_from: d.valid_from,
        valid_until: d.valid_until,
        form_digest: d.form_digest,
        recorded_by: who.staff.clone(),
        recorded_at: env.now,
    }
}
