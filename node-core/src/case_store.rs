//! Where a node keeps its coordinated cases: each case's verified history, by case id, with
//! its person (for the records' cross-reference).

use protocol_spec::case::CoordinatedCase;
use protocol_spec::ids::CaseId;
use rusqlite::OptionalExtension;

/// The case `case_id` as this node holds it (its history was verified when stored).
pub fn load_case(
    db: &rusqlite::Connection,
    case_id: &CaseId,
) -> anyhow::Result<Option<CoordinatedCase>> {
    let h: Option<Vec<u8>> = db
        .prepare_cached("SELECT history FROM cases WHERE case_id = ?1")?
        .query_row([case_id.0.to_vec()], |r| r.get(0))
        .optional()?;
    match h {
        None => Ok(None),
        Some(h) => Ok(Some(CoordinatedCase::restore(postcard::from_bytes(&h)?)?)),
    }
}

/// Stores the case's history, replacing the one held.
pub(crate) fn save_case(db: &rusqlite::Connection, case: &CoordinatedCase) -> anyhow::Result<()> {
    db.prepare_cached(
        "INSERT INTO cases (case_id, person, history) VALUES (?1, ?2, ?3)
         ON CONFLICT(case_id) DO UPDATE SET history = excluded.history",
    )?
    .execute(rusqlite::params![
        case.case_id.0.to_vec(),
        case.person.digits(),
        postcard::to_stdvec(&case.history)?
    ])?;
    Ok(())
}
