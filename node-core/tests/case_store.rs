//! A case is read as the store holds it now, though the decoded cases are kept between reads:
//! a history changed behind the reader's back, or rolled back, is read as it is.

mod common;

use common::*;
use node_core::case_store::load_case;

fn store(db: &rusqlite::Connection, history: &[protocol_spec::case::SignedCaseEvent]) {
    db.execute(
        "INSERT INTO cases (case_id, person, history) VALUES (?1, '7569217076985', ?2)
         ON CONFLICT(case_id) DO UPDATE SET history = excluded.history",
        rusqlite::params![
            history[0].event.case_id.0.to_vec(),
            postcard::to_stdvec(&history.to_vec()).unwrap()
        ],
    )
    .unwrap();
}

#[test]
fn a_case_is_read_as_stored_now() {
    let v = core_json();
    let (_, history) = federation(&v);
    let case_id = history[0].event.case_id;
    let mut db = node_core::store::open_in_memory().unwrap();
    store(&db, &history[..2]);
    let events =
        |db: &rusqlite::Connection| load_case(db, &case_id).unwrap().unwrap().history.len();
    assert_eq!(events(&db), 2);
    assert_eq!(events(&db), 2, "read again, unchanged");
    store(&db, &history[..4]);
    assert_eq!(events(&db), 4, "changed since it was last read");
    {
        let txn = db.transaction().unwrap();
        store(&txn, &history[..3]);
        assert_eq!(events(&txn), 3, "as the transaction holds it");
        // Dropped: rolled back.
    }
    assert_eq!(events(&db), 4, "what a rollback left");
    db.execute("DELETE FROM cases", []).unwrap();
    assert!(
        load_case(&db, &case_id).unwrap().is_none(),
        "gone once deleted"
    );
}
