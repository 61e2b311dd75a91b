//! Finding a member among thousands. A node looks members up by id and by key several times for
//! each message it handles; in a roster of 10,000 a scan costs more than the rest of an
//! exchange's bookkeeping. Each thread keeps an index of the last two member lists it searched.
//! An index is only a hint: a position it gives is checked against the list, and what it does
//! not know is looked for by a scan, so a list edited in place is still answered right.

use crate::ids::InstitutionId;
use crate::keys::PublicKey;
use crate::roster::Member;
use std::cell::RefCell;
use std::collections::HashMap;

/// Below this many members a scan is as fast as hashing the name.
const SMALL: usize = 64;

struct Index {
    /// Which list it indexes: where its members are, and how many.
    at: usize,
    len: usize,
    by_id: HashMap<InstitutionId, usize>,
    by_key: HashMap<PublicKey, usize>,
}

impl Index {
    fn build(members: &[Member]) -> Index {
        let mut by_id = HashMap::with_capacity(members.len());
        let mut by_key = HashMap::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            // The first of duplicates, as a scan finds it.
            by_id.entry(m.id.clone()).or_insert(i);
            by_key.entry(m.signing_key).or_insert(i);
        }
        Index {
            at: members.as_ptr() as usize,
            len: members.len(),
            by_id,
            by_key,
        }
    }

    fn indexes(&self, members: &[Member]) -> bool {
        self.at == members.as_ptr() as usize && self.len == members.len()
    }
}

thread_local! {
    /// The most recently searched first.
    static INDEXES: RefCell<[Option<Index>; 2]> = const { RefCell::new([None, None]) };
}

/// The position `f` finds in the index of `members`, built if this thread has none.
fn hint(members: &[Member], f: impl FnOnce(&Index) -> Option<usize>) -> Option<usize> {
    INDEXES.with(|cell| {
        let mut slots = cell.borrow_mut();
        match slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|i| i.indexes(members)))
        {
            Some(0) => {}
            Some(_) => slots.swap(0, 1),
            None => {
                slots.swap(0, 1);
                slots[0] = Some(Index::build(members));
            }
        }
        slots[0].as_ref().and_then(f)
    })
}

pub(crate) fn by_id<'m>(members: &'m [Member], id: &InstitutionId) -> Option<&'m Member> {
    find(members, |i| i.by_id.get(id).copied(), |m| &m.id == id)
}

pub(crate) fn by_key<'m>(members: &'m [Member], key: &PublicKey) -> Option<&'m Member> {
    find(
        members,
        |i| i.by_key.get(key).copied(),
        |m| &m.signing_key == key,
    )
}

/// The first member that `is`: where the index says, if it is there, else by a scan.
fn find(
    members: &[Member],
    position: impl FnOnce(&Index) -> Option<usize>,
    is: impl Fn(&Member) -> bool,
) -> Option<&Member> {
    if members.len() >= SMALL
        && let Some(m) = hint(members, position).and_then(|p| members.get(p))
        && is(m)
    {
        return Some(m);
    }
    members.iter().find(|m| is(m))
}

#[cfg(test)]
mod tests {
    use crate::keys::SigningKey;
    use crate::roster::Roster;
    use crate::roster::tests::sample;

    /// The sample roster with `n` more members, each with keys of its own.
    fn large(n: u16, tag: u8) -> Roster {
        let a = SigningKey::from_seed([1; 32]);
        let mut r = sample(&[&a], 1);
        let template = r.members[0].clone();
        for i in 0..n {
            let mut m = template.clone();
            m.id = format!("ne.m{tag}x{i}").parse().unwrap();
            let [hi, lo] = i.to_be_bytes();
            m.signing_key = SigningKey::from_seed([
                tag, hi, lo, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
                9, 9, 9, 9, 9, 9,
            ])
            .public();
            r.members.push(m);
        }
        r
    }

    /// What a scan finds, which the index must agree with.
    fn scanned(r: &Roster, i: usize) -> (&crate::roster::Member, &crate::roster::Member) {
        let m = &r.members[i];
        let by_id = r.members.iter().find(|x| x.id == m.id).unwrap();
        let by_key = r
            .members
            .iter()
            .find(|x| x.signing_key == m.signing_key)
            .unwrap();
        (by_id, by_key)
    }

    #[test]
    fn every_member_of_a_large_roster_is_found_by_id_and_by_key() {
        let r = large(1_000, 1);
        for i in 0..r.members.len() {
            let (by_id, by_key) = scanned(&r, i);
            let m = &r.members[i];
            assert!(std::ptr::eq(r.member(&m.id).unwrap(), by_id));
            assert!(std::ptr::eq(
                r.member_by_key(&m.signing_key).unwrap(),
                by_key
            ));
        }
        assert!(r.member(&"ne.none".parse().unwrap()).is_none());
        assert!(
            r.member_by_key(&SigningKey::from_seed([77; 32]).public())
                .is_none()
        );
    }

    #[test]
    fn a_roster_edited_in_place_after_a_lookup_is_still_answered_right() {
        let mut r = large(200, 2);
        let old_key = r.members[150].signing_key;
        let old_id = r.members[150].id.clone();
        assert!(r.member_by_key(&old_key).is_some());
        // Same list, same length: the index built above is kept, and now wrong.
        let new_key = SigningKey::from_seed([3; 32]).public();
        r.members[150].signing_key = new_key;
        r.members[150].id = "ne.renamed".parse().unwrap();
        assert!(r.member_by_key(&old_key).is_none());
        assert!(r.member(&old_id).is_none());
        assert_eq!(r.member_by_key(&new_key).unwrap().id.as_str(), "ne.renamed");
        assert!(r.member(&"ne.renamed".parse().unwrap()).is_some());
        // Two members listed alike: the first is found, as by a scan.
        r.members[180].signing_key = new_key;
        r.members.swap(150, 180);
        let first = r
            .members
            .iter()
            .position(|m| m.signing_key == new_key)
            .unwrap();
        assert!(std::ptr::eq(
            r.member_by_key(&new_key).unwrap(),
            &r.members[first]
        ));
    }

    #[test]
    fn rosters_searched_in_turn_each_answer_for_their_own_members() {
        let (a, b, c) = (large(100, 4), large(100, 5), large(100, 6));
        for round in 0..3 {
            for (r, tag) in [(&a, 4), (&b, 5), (&c, 6)] {
                let id = format!("ne.m{tag}x{}", 10 * round).parse().unwrap();
                assert!(r.member(&id).is_some());
                let other = format!("ne.m{}x1", if tag == 4 { 5 } else { 4 })
                    .parse()
                    .unwrap();
                assert!(r.member(&other).is_none());
            }
        }
    }
}
