//! Where a node keeps its coordinated cases: each case's verified history, by case id, with
//! its person (for the records' cross-reference).

use protocol_spec::case::CoordinatedCase;
use protocol_spec::ids::CaseId;
use rusqlite::OptionalExtension;
use std::cell::RefCell;
use std::collections::HashMap;

/// How many decoded cases a thread keeps; past it, it starts again from none.
const DECODED_CASES: usize = 256;

thread_local! {
    /// Cases this thread decoded, with the stored bytes they were decoded from. A case is served
    /// from here only when the store holds exactly those bytes now, so whatever was written,
    /// committed or rolled back since, what is served is what the store holds. Decoding a
    /// history was about a tenth of a store thread's time, read two or three times per exchange.
    static DECODED: RefCell<HashMap<CaseId, (Vec<u8>, CoordinatedCase)>> =
        RefCell::new(HashMap::new());
}

/// The case `case_id` as this node holds it (its history was verified when stored).
pub fn load_case(
    db: &rusqlite::Connection,
    case_id: &CaseId,
) -> anyhow::Result<Option<CoordinatedCase>> {
    let h: Option<Vec<u8>> = db
        .prepare_cached("SELECT history FROM cases WHERE case_id = ?1")?
        .query_row([case_id.0.to_vec()], |r| r.get(0))
        .optional()?;
    let Some(h) = h else {
        return Ok(None);
    };
    let known = DECODED.with_borrow(|d| {
        d.get(case_id)
            .filter(|(stored, _)| *stored == h)
            .map(|(_, case)| case.clone())
    });
    if let Some(case) = known {
        return Ok(Some(case));
    }
    let case = CoordinatedCase::restore(postcard::from_bytes(&h)?)?;
    DECODED.with_borrow_mut(|d| {
        if d.len() >= DECODED_CASES {
            d.clear();
        }
        d.insert(*case_id, (h, case.clone()));
    });
    Ok(Some(case))
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
