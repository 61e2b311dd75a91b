//! Where a node keeps its coordinated cases: each case's verified history, by case id, with
//! its person (for the records' cross-reference).

use protocol_spec::case::CoordinatedCase;
use protocol_spec::ids::CaseId;
use rusqlite::OptionalExtension;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// How many decoded cases a thread keeps, and how many stored bytes in all (a history may hold
/// up to 1,024 events); past either, it starts again from none.
const DECODED_CASES: usize = 256;
const DECODED_BYTES: usize = 16 << 20;

thread_local! {
    /// Cases this thread decoded, with the stored bytes they were decoded from. A case is served
    /// from here only when the store holds exactly those bytes now, so whatever was written,
    /// committed or rolled back since, what is served is what the store holds. Decoding a
    /// history was about a tenth of a store thread's time; an exchange reads its case five times.
    static DECODED: RefCell<Decoded<Arc<CoordinatedCase>>> = RefCell::new(Decoded::default());
}

/// Decoded values by case id, each with the stored bytes it came from, within the bounds above.
struct Decoded<T> {
    cases: HashMap<CaseId, (Vec<u8>, T)>,
    /// The stored bytes of the cases kept.
    bytes: usize,
}

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Decoded {
            cases: HashMap::new(),
            bytes: 0,
        }
    }
}

impl<T> Decoded<T> {
    fn keep(&mut self, case_id: CaseId, stored: Vec<u8>, case: T) {
        if let Some((old, _)) = self.cases.remove(&case_id) {
            self.bytes -= old.len();
        }
        if self.cases.len() >= DECODED_CASES || self.bytes + stored.len() > DECODED_BYTES {
            self.cases.clear();
            self.bytes = 0;
        }
        self.bytes += stored.len();
        self.cases.insert(case_id, (stored, case));
    }
}

/// The case `case_id` as this node holds it (its history was verified when stored). Shared:
/// an exchange reads its case several times, and a history may be long.
pub fn load_case(
    db: &rusqlite::Connection,
    case_id: &CaseId,
) -> anyhow::Result<Option<Arc<CoordinatedCase>>> {
    enum Found {
        Known(Arc<CoordinatedCase>),
        Stored(Vec<u8>),
    }
    // The stored bytes are compared where SQLite holds them, and copied only to decode them.
    let found = db
        .prepare_cached("SELECT history FROM cases WHERE case_id = ?1")?
        .query_row([case_id.0.to_vec()], |r| {
            let h = r.get_ref(0)?.as_blob().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, e.into())
            })?;
            let known = DECODED.with_borrow(|d| {
                d.cases
                    .get(case_id)
                    .filter(|(stored, _)| stored.as_slice() == h)
                    .map(|(_, case)| case.clone())
            });
            Ok(known.map_or_else(|| Found::Stored(h.to_vec()), Found::Known))
        })
        .optional()?;
    match found {
        None => Ok(None),
        Some(Found::Known(case)) => Ok(Some(case)),
        Some(Found::Stored(h)) => {
            let case = Arc::new(CoordinatedCase::restore(postcard::from_bytes(&h)?)?);
            DECODED.with_borrow_mut(|d| d.keep(*case_id, h, case.clone()));
            Ok(Some(case))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> CaseId {
        let mut id = [0u8; 16];
        id[..2].copy_from_slice(&n.to_be_bytes());
        CaseId(id)
    }

    #[test]
    fn the_decoded_cases_kept_stay_within_their_bounds() {
        let mut d = Decoded::default();
        for n in 0..DECODED_CASES as u16 {
            d.keep(id(n), vec![0; 10], ());
        }
        assert_eq!(d.cases.len(), DECODED_CASES);
        d.keep(id(0), vec![0; 20], ());
        assert_eq!(
            (d.cases.len(), d.bytes),
            (DECODED_CASES, DECODED_CASES * 10 + 10)
        );
        d.keep(id(9999), vec![0; 10], ());
        assert_eq!(
            (d.cases.len(), d.bytes),
            (1, 10),
            "past the count, from none again"
        );
        d.keep(id(1), vec![0; DECODED_BYTES - 10], ());
        assert_eq!(d.cases.len(), 2);
        d.keep(id(2), vec![0; 1], ());
        assert_eq!(
            (d.cases.len(), d.bytes),
            (1, 1),
            "past the bytes, from none again"
        );
    }
}
