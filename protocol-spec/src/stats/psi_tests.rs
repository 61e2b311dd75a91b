//! What users of the overlap figure rely on: it is the true count, whatever the ring order;
//! no message carries a person; bad elements are refused by name; small overlaps stay hidden.

use super::*;
use crate::avs::check_digit;
use crate::seal::SeededRng;
use crate::stats::suppress::tests::determined_exactly;
use proptest::prelude::*;
use std::collections::BTreeMap;

const FEDERATION: &str = "ne-cii";

fn month() -> Month {
    "2026-11".parse().unwrap()
}

/// A valid number with the nine middle digits of `n`.
fn avs(n: u32) -> Avs {
    let body = format!("756{n:09}");
    let first12: [u8; 12] = body
        .bytes()
        .map(|b| b - b'0')
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    format!("{body}{}", check_digit(&first12)).parse().unwrap()
}

fn inst(s: &str) -> InstitutionId {
    s.parse().unwrap()
}

fn round(participants: &[&str], threshold: u32) -> PsiRound {
    PsiRound {
        federation: FEDERATION.into(),
        month: month(),
        roster_version: 7,
        attempt: 0,
        dashboard: inst("ne.semp"),
        participants: participants.iter().map(|p| inst(p)).collect(),
        threshold,
        expires_at: 1_796_000_000,
    }
}

fn key_of(who: &InstitutionId) -> SigningKey {
    SigningKey::from_seed(sha256(&[who.as_str().as_bytes()]))
}

/// Runs the whole round as the nodes would, every message signed and checked by its
/// receiver: the messages in the order sent, and the sets the dashboard receives.
fn run_round(
    round: &PsiRound,
    persons: &BTreeMap<InstitutionId, BTreeSet<Avs>>,
    rng: &mut SeededRng,
) -> (Vec<SignedPsiSet>, Vec<(InstitutionId, BlindedSet)>) {
    round.check().unwrap();
    let secrets: BTreeMap<&InstitutionId, RoundSecret> = round
        .participants
        .iter()
        .map(|p| (p, RoundSecret::generate(rng)))
        .collect();
    let n = round.participants.len();
    let mut sent = Vec::new();
    let mut finals = Vec::new();
    for origin in &round.participants {
        let set = blind(
            &secrets[origin],
            &round.federation,
            round.month,
            &persons[origin],
            round.min_size(),
            rng,
        )
        .unwrap();
        let mut msg = PsiSet {
            round: round.id(),
            origin: origin.clone(),
            hop: 1,
            sender: origin.clone(),
            set,
        }
        .sign(&key_of(origin));
        sent.push(msg.clone());
        for hop in 1..=n as u8 {
            let to = round.recipient(origin, hop).unwrap().clone();
            msg.verify(round, &to, &key_of(&msg.set.sender).public())
                .unwrap();
            if usize::from(hop) == n {
                finals.push((origin.clone(), msg.set.set.clone()));
                break;
            }
            let set = reblind(&secrets[&to], &msg.set.set, round.min_size(), rng).unwrap();
            msg = PsiSet {
                round: round.id(),
                origin: origin.clone(),
                hop: hop + 1,
                sender: to.clone(),
                set,
            }
            .sign(&key_of(&to));
            sent.push(msg.clone());
        }
    }
    (sent, finals)
}

/// The same figures computed in the clear.
fn plain_counts(
    order: &[InstitutionId],
    persons: &BTreeMap<InstitutionId, BTreeSet<Avs>>,
) -> (u64, Vec<u64>, BTreeMap<(InstitutionId, InstitutionId), u64>) {
    let n = order.len();
    let mut holders: BTreeMap<&Avs, usize> = BTreeMap::new();
    for p in order {
        for a in &persons[p] {
            *holders.entry(a).or_default() += 1;
        }
    }
    let several = holders.values().filter(|&&m| m >= 2).count() as u64;
    let mut by_count = vec![0u64; n - 1];
    for &m in holders.values().filter(|&&m| m >= 2) {
        by_count[m - 2] += 1;
    }
    let mut pairs = BTreeMap::new();
    for (i, a) in order.iter().enumerate() {
        for b in &order[i + 1..] {
            let key = if a < b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            pairs.insert(key, persons[a].intersection(&persons[b]).count() as u64);
        }
    }
    (several, by_count, pairs)
}

fn pairs_of(
    round: &PsiRound,
    counts: &OverlapCounts,
) -> BTreeMap<(InstitutionId, InstitutionId), u64> {
    pair_indices(round.participants.len())
        .into_iter()
        .zip(&counts.pairs)
        .map(|((i, j), &c)| {
            let (a, b) = (&round.participants[i], &round.participants[j]);
            let key = if a < b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            (key, c)
        })
        .collect()
}

/// Example-like data: employment follows persons 0..40, disability insurance 30..60 and
/// 0..5, social aid 35..70 and 0..3 (known overlaps: 0..3 in all three, 3..5 in
/// employment and disability, 30..35 in employment and disability, 35..40 in all three,
/// 40..60 in disability and social aid).
fn example() -> BTreeMap<InstitutionId, BTreeSet<Avs>> {
    let range = |r: std::ops::Range<u32>| r.map(avs).collect::<BTreeSet<_>>();
    let mut m = BTreeMap::new();
    m.insert(inst("ne.orp"), range(0..40));
    let mut oai = range(30..60);
    oai.extend(range(0..5));
    m.insert(inst("ne.oai"), oai);
    let mut sas = range(35..70);
    sas.extend(range(0..3));
    m.insert(inst("ne.sas"), sas);
    m
}

#[test]
fn the_overlap_is_the_true_count_on_example_data() {
    let r = round(&["ne.orp", "ne.oai", "ne.sas"], 5);
    let persons = example();
    let (_, finals) = run_round(&r, &persons, &mut SeededRng::new([1; 32]));
    let counts = overlap_counts(&r, &finals).unwrap();
    // By hand: in all three 0..3 and 35..40 (8); in two: 3..5, 30..35 (orp, oai) and 40..60
    // (oai, sas): 27.
    assert_eq!(counts.several, 35);
    assert_eq!(counts.by_count, vec![27, 8]);
    // orp∩oai = 0..5 ∪ 30..40 = 15, orp∩sas = 0..3 ∪ 35..40 = 8, oai∩sas = 0..3 ∪ 35..60 = 28.
    assert_eq!(counts.pairs, vec![15, 8, 28]);
    assert_eq!(counts.sizes, vec![40, 35, 38]);
    let (several, by_count, pairs) = plain_counts(&r.participants, &persons);
    assert_eq!((counts.several, &counts.by_count), (several, &by_count));
    assert_eq!(pairs_of(&r, &counts), pairs);
    // Every figure is at least k: all shown.
    let published = overlap(&r, &finals).unwrap();
    assert_eq!(published.several, Cell::Count(35));
    assert_eq!(
        published.by_count,
        vec![(2, Cell::Count(27)), (3, Cell::Count(8))]
    );
    assert_eq!(published.pairs[2].first, inst("ne.oai"));
    assert_eq!(published.pairs[2].persons, Cell::Count(28));
}

#[test]
fn the_ring_order_does_not_change_the_result() {
    let persons = example();
    let orders = [
        ["ne.orp", "ne.oai", "ne.sas"],
        ["ne.sas", "ne.orp", "ne.oai"],
        ["ne.oai", "ne.sas", "ne.orp"],
        ["ne.sas", "ne.oai", "ne.orp"],
    ];
    let mut results = Vec::new();
    for (seed, order) in orders.iter().enumerate() {
        let r = round(order, 5);
        let (_, finals) = run_round(&r, &persons, &mut SeededRng::new([seed as u8; 32]));
        let counts = overlap_counts(&r, &finals).unwrap();
        results.push((
            counts.several,
            counts.by_count.clone(),
            pairs_of(&r, &counts),
        ));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
}

#[test]
fn no_message_carries_a_person_in_the_clear() {
    let r = round(&["ne.orp", "ne.oai", "ne.sas"], 5);
    let persons = example();
    let (sent, finals) = run_round(&r, &persons, &mut SeededRng::new([2; 32]));
    assert_eq!(sent.len(), 9, "3 sets × 3 hops");
    let everyone: BTreeSet<&Avs> = persons.values().flatten().collect();
    let unblinded: HashSet<[u8; 32]> = everyone
        .iter()
        .map(|a| encode_person(FEDERATION, month(), a).compress().to_bytes())
        .collect();
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for msg in &sent {
        let wire = postcard::to_stdvec(msg).unwrap();
        for a in &everyone {
            assert!(!contains(&wire, a.digits().as_bytes()));
        }
        assert!(msg.set.set.elements.iter().all(|e| !unblinded.contains(e)));
    }
    // Two sets meet only at the dashboard: a participant never receives two sets blinded by
    // the same product, so it can compare nothing.
    for p in &r.participants {
        let received: Vec<&SignedPsiSet> = sent
            .iter()
            .filter(|m| usize::from(m.set.hop) < r.participants.len())
            .filter(|m| r.recipient(&m.set.origin, m.set.hop).unwrap() == p)
            .collect();
        assert_eq!(received.len(), 2);
        assert!(received.iter().all(|m| &m.set.origin != p));
        let a: HashSet<_> = received[0].set.set.elements.iter().collect();
        assert!(received[1].set.set.elements.iter().all(|e| !a.contains(e)));
    }
    for (_, set) in &finals {
        assert!(set.elements.iter().all(|e| !unblinded.contains(e)));
    }
}

/// RFC 9496 Appendix A.2: encodings a decoder must refuse (non-canonical field elements, a
/// negative s, a non-square).
const BAD_ENCODINGS: [&str; 4] = [
    "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
];

fn some_set(n: u32) -> BlindedSet {
    let secret = RoundSecret::generate(&mut SeededRng::new([3; 32]));
    let persons: Vec<Avs> = (0..n).map(avs).collect();
    blind(
        &secret,
        FEDERATION,
        month(),
        &persons,
        0,
        &mut SeededRng::new([4; 32]),
    )
    .unwrap()
}

#[test]
fn identity_non_canonical_and_duplicate_elements_are_refused_by_position() {
    let secret = RoundSecret::generate(&mut SeededRng::new([5; 32]));
    let mut rng = SeededRng::new([6; 32]);
    for bad in BAD_ENCODINGS {
        let mut set = some_set(6);
        set.elements[3] = hex::decode(bad).unwrap().try_into().unwrap();
        let err = reblind(&secret, &set, 5, &mut rng).unwrap_err();
        assert_eq!(err, PsiError::NotCanonical { index: 3 }, "{bad}");
        assert_eq!(
            err.to_string(),
            "element 3 is not a canonical ristretto255 encoding"
        );
    }
    let mut set = some_set(6);
    set.elements[2] = [0; 32];
    let err = reblind(&secret, &set, 5, &mut rng).unwrap_err();
    assert_eq!(err.to_string(), "element 2 is the identity element");
    let mut set = some_set(6);
    set.elements[5] = set.elements[1];
    let err = reblind(&secret, &set, 5, &mut rng).unwrap_err();
    assert_eq!(err.to_string(), "element 5 repeats element 1");
    let err = reblind(&secret, &some_set(4), 5, &mut rng).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a set has at least 5 elements (smaller sets are padded), found 4"
    );
    let big = BlindedSet {
        elements: vec![[0; 32]; MAX_SET + 1],
    };
    assert_eq!(
        check_set(&big, 5).unwrap_err(),
        PsiError::TooLarge {
            size: MAX_SET + 1,
            max: MAX_SET
        }
    );
    // The dashboard refuses the same.
    let r = round(&["ne.orp", "ne.oai"], 5);
    let mut dup = some_set(6);
    dup.elements[4] = dup.elements[0];
    assert_eq!(
        overlap_counts(&r, &[(inst("ne.orp"), some_set(6)), (inst("ne.oai"), dup)]).unwrap_err(),
        PsiError::Duplicate { index: 4, first: 0 }
    );
}

#[test]
fn messages_from_the_wrong_sender_round_or_key_are_refused() {
    let r = round(&["ne.orp", "ne.oai", "ne.sas"], 5);
    let set = PsiSet {
        round: r.id(),
        origin: inst("ne.orp"),
        hop: 1,
        sender: inst("ne.orp"),
        set: some_set(5),
    };
    let oai = inst("ne.oai");
    let good = set.clone().sign(&key_of(&inst("ne.orp")));
    good.verify(&r, &oai, &key_of(&inst("ne.orp")).public())
        .unwrap();
    // Signed by another key.
    let forged = set.clone().sign(&key_of(&inst("ne.sas")));
    assert_eq!(
        forged
            .verify(&r, &oai, &key_of(&inst("ne.orp")).public())
            .unwrap_err(),
        PsiError::BadSignature(inst("ne.orp"))
    );
    // Claims hop 2, which ne.oai would have sent.
    let mut skipped = set.clone();
    skipped.hop = 2;
    let err = skipped
        .sign(&key_of(&inst("ne.orp")))
        .verify(&r, &inst("ne.sas"), &key_of(&inst("ne.orp")).public())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the set of `ne.orp` at hop 2 is sent by `ne.oai`, not `ne.orp`"
    );
    // Delivered to a node that is not next in the ring.
    assert!(matches!(
        good.verify(&r, &inst("ne.sas"), &key_of(&inst("ne.orp")).public()),
        Err(PsiError::WrongRecipient { .. })
    ));
    // A replay into the next month's round.
    let mut next = r.clone();
    next.month = "2026-12".parse().unwrap();
    assert_eq!(
        good.verify(&next, &oai, &key_of(&inst("ne.orp")).public())
            .unwrap_err(),
        PsiError::WrongRound
    );
    let mut out_of_range = set;
    out_of_range.hop = 4;
    assert!(matches!(
        out_of_range.sign(&key_of(&inst("ne.orp"))).verify(
            &r,
            &oai,
            &key_of(&inst("ne.orp")).public()
        ),
        Err(PsiError::Hop { hop: 4, .. })
    ));
}

#[test]
fn rounds_are_checked_and_named_by_their_content() {
    let r = round(&["ne.orp", "ne.oai"], 5);
    r.check().unwrap();
    let mut bad = r.clone();
    bad.participants.push(inst("ne.semp"));
    assert_eq!(
        bad.check().unwrap_err(),
        PsiError::DashboardParticipates(inst("ne.semp"))
    );
    let mut bad = r.clone();
    bad.participants.truncate(1);
    assert_eq!(bad.check().unwrap_err(), PsiError::Participants(1));
    let mut bad = r.clone();
    bad.participants.push(inst("ne.orp"));
    assert_eq!(
        bad.check().unwrap_err(),
        PsiError::RepeatedParticipant(inst("ne.orp"))
    );
    let mut bad = r.clone();
    bad.attempt = 3;
    assert_eq!(bad.check().unwrap_err(), PsiError::Attempt(3));
    let mut other = r.clone();
    other.attempt = 1;
    assert_ne!(other.id(), r.id());
    let start = r.clone().sign(&key_of(&inst("ne.semp")));
    start.verify(&key_of(&inst("ne.semp")).public()).unwrap();
    assert_eq!(
        start.verify(&key_of(&inst("ne.orp")).public()).unwrap_err(),
        PsiError::BadSignature(inst("ne.semp"))
    );
}

#[test]
fn small_sets_are_padded_and_padding_counts_for_nothing() {
    let r = round(&["ne.orp", "ne.oai", "ne.sas"], 5);
    let mut persons = BTreeMap::new();
    persons.insert(inst("ne.orp"), (0..2).map(avs).collect::<BTreeSet<_>>());
    persons.insert(inst("ne.oai"), BTreeSet::new());
    persons.insert(inst("ne.sas"), (1..9).map(avs).collect());
    let (sent, finals) = run_round(&r, &persons, &mut SeededRng::new([8; 32]));
    assert!(sent.iter().all(|m| m.set.set.len() >= 5));
    let counts = overlap_counts(&r, &finals).unwrap();
    assert_eq!(counts.sizes, vec![5, 5, 8]);
    assert_eq!(counts.several, 1);
    assert_eq!(counts.pairs, vec![0, 1, 0]);
    assert_eq!(size_from_report(Cell::Small, false, 5), Some(5));
    assert_eq!(size_from_report(Cell::Count(0), false, 5), Some(5));
    assert_eq!(size_from_report(Cell::Count(8), false, 5), Some(8));
    assert_eq!(size_from_report(Cell::Count(8), true, 5), None);
    assert_eq!(size_from_report(Cell::Withheld, false, 5), None);
}

#[test]
fn small_overlaps_are_suppressed_so_that_totals_cannot_reveal_them() {
    let parts = [inst("ne.orp"), inst("ne.oai"), inst("ne.sas")];
    // orp∩oai holds 2 persons; everything else large.
    let counts = OverlapCounts {
        sizes: vec![100, 100, 100],
        several: 40,
        by_count: vec![30, 10],
        pairs: vec![12, 18, 30],
    };
    // 12 + 18 + 30 = 60 = 30 + 3·10: consistent.
    let published = counts.publish(&parts, 5);
    assert_eq!(published.pairs[0].persons, Cell::Count(12));
    let counts = OverlapCounts {
        sizes: vec![100, 100, 100],
        several: 40,
        by_count: vec![30, 10],
        pairs: vec![2, 28, 30],
    };
    let published = counts.publish(&parts, 5);
    assert_eq!(published.pairs[0].persons, Cell::Small);
    // The pairs' sum (a relation) would give it back: one more figure is withheld.
    assert!(
        published.pairs[1..]
            .iter()
            .any(|p| p.persons == Cell::Withheld)
            || published.by_count.iter().any(|(_, c)| *c == Cell::Withheld)
    );
    assert_nothing_recomputable(&counts, &published, 3, 5);
    // Two sectors: the three figures are one number; a small one hides all three.
    let counts = OverlapCounts {
        sizes: vec![50, 50],
        several: 3,
        by_count: vec![3],
        pairs: vec![3],
    };
    let published = counts.publish(&parts[..2], 5);
    assert_eq!(published.several, Cell::Small);
    assert_eq!(published.by_count, vec![(2, Cell::Small)]);
    assert_eq!(published.pairs[0].persons, Cell::Small);
    // No overlap at all is not shown as 0: each sector would learn that the other follows
    // none of its persons.
    let counts = OverlapCounts {
        sizes: vec![50, 60, 70],
        several: 20,
        by_count: vec![20, 0],
        pairs: vec![0, 8, 12],
    };
    let published = counts.publish(&parts, 5);
    assert_eq!(published.pairs[0].persons, Cell::Small);
    assert_eq!(published.by_count[1], (3, Cell::Small));
    assert_nothing_recomputable(&counts, &published, 3, 5);
    // Nor an overlap that holds all but a few of a sector's persons (here 48 of its 50):
    // each would learn that nearly all of them are followed by the other.
    let counts = OverlapCounts {
        sizes: vec![50, 200, 70],
        several: 70,
        by_count: vec![60, 10],
        pairs: vec![48, 12, 30],
    };
    let published = counts.publish(&parts, 5);
    assert_eq!(published.pairs[0].persons, Cell::Small);
    assert_nothing_recomputable(&counts, &published, 3, 5);
}

/// The two relations are all there are: the figures, as functions of the Venn regions, span
/// a space of dimension (number of figures − 2), for 2 to 6 sectors.
#[test]
fn the_published_relations_are_all_the_linear_relations() {
    for n in 2..=6usize {
        let pairs = pair_indices(n);
        let regions: Vec<u32> = (0u32..1 << n).filter(|m| m.count_ones() >= 2).collect();
        let mut rows: Vec<Vec<i128>> = Vec::new();
        rows.push(vec![1; regions.len()]);
        for m in 2..=n as u32 {
            rows.push(
                regions
                    .iter()
                    .map(|r| i128::from(r.count_ones() == m))
                    .collect(),
            );
        }
        for &(i, j) in &pairs {
            rows.push(
                regions
                    .iter()
                    .map(|r| i128::from(r & (1 << i) != 0 && r & (1 << j) != 0))
                    .collect(),
            );
        }
        let figures = rows.len();
        // Rank by fraction-free elimination.
        let cols = regions.len();
        let mut rank = 0;
        for c in 0..cols {
            let Some(p) = (rank..rows.len()).find(|&r| rows[r][c] != 0) else {
                continue;
            };
            rows.swap(rank, p);
            let pivot = rows[rank].clone();
            for (r, row) in rows.iter_mut().enumerate() {
                if r != rank && row[c] != 0 {
                    let (a, b) = (pivot[c], row[c]);
                    for (v, &pv) in row.iter_mut().zip(&pivot) {
                        *v = *v * a - pv * b;
                    }
                    let g = row.iter().fold(0i128, |g, &v| gcd(g, v.abs()));
                    if g > 1 {
                        row.iter_mut().for_each(|v| *v /= g);
                    }
                }
            }
            rank += 1;
        }
        assert_eq!(rank, figures - overlap_relations(n).len(), "{n} sectors");
        // And the relations hold on every region.
        for r in &regions {
            let mut values = vec![1u64];
            values.extend((2..=n as u32).map(|m| u64::from(r.count_ones() == m)));
            values.extend(
                pairs
                    .iter()
                    .map(|&(i, j)| u64::from(r & (1 << i) != 0 && r & (1 << j) != 0)),
            );
            for rel in overlap_relations(n) {
                let sum: i64 = rel.iter().map(|&(k, c)| c * values[k] as i64).sum();
                assert_eq!(sum, 0);
            }
        }
    }
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// RFC 9496 Appendix A.3: the one-way map of SHA-512 of these labels.
#[test]
fn hash_to_group_is_the_rfc_9496_one_way_map_over_sha512() {
    let cases = [
        (
            "Ristretto is traditionally a short shot of espresso coffee",
            "3066f82a1a747d45120d1740f14358531a8f04bbffe6a819f86dfe50f44a0a46",
        ),
        (
            "made with the normal amount of ground coffee but extracted with",
            "f26e5b6f7d362d2d2a94c5d0e7602cb4773c95a2e5c31a64f133189fa76ed61b",
        ),
        (
            "and is not a Ristretto as some believe.",
            "80bd07262511cdde4863f8a7434cef696750681cb9510eea557088f76d9e5065",
        ),
    ];
    for (label, want) in cases {
        assert_eq!(
            hex::encode(hash_to_group(label.as_bytes()).compress().as_bytes()),
            want
        );
    }
}

#[test]
fn secrets_are_non_zero_canonical_scalars_and_do_not_print() {
    assert_eq!(
        RoundSecret::from_bytes([0; 32]).unwrap_err(),
        PsiError::BadSecret
    );
    assert_eq!(
        RoundSecret::from_bytes([0xff; 32]).unwrap_err(),
        PsiError::BadSecret
    );
    let s = RoundSecret::from_bytes([1; 32]).unwrap();
    assert_eq!(format!("{s:?}"), "RoundSecret(..)");
    // Fresh secrets differ.
    let mut rng = SeededRng::new([9; 32]);
    let (a, b) = (
        RoundSecret::generate(&mut rng),
        RoundSecret::generate(&mut rng),
    );
    assert_ne!(a.0, b.0);
}

#[test]
fn shuffling_moves_every_element_anywhere() {
    // Over many shuffles of 4 items, each item lands in each place (a uniform permutation
    // gives each 1/4; a fixed or rotating order would not).
    let mut rng = SeededRng::new([10; 32]);
    let mut seen = [[0u32; 4]; 4];
    for _ in 0..4000 {
        let mut v = [0usize, 1, 2, 3];
        shuffle(&mut v, &mut rng);
        for (place, &item) in v.iter().enumerate() {
            seen[item][place] += 1;
        }
    }
    for row in seen {
        for c in row {
            assert!((850..1150).contains(&c), "{seen:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any sets of 2 to 4 sectors over a small population: the dashboard's counts are the
    /// plain set computation's.
    #[test]
    fn the_ring_computes_what_plain_sets_compute(
        membership in proptest::collection::vec(0u8..16, 4..30),
        sectors in 2usize..=4,
        seed in any::<[u8; 32]>(),
    ) {
        let names = ["ne.orp", "ne.oai", "ne.sas", "ne.smig"];
        let r = round(&names[..sectors], 2);
        let mut persons: BTreeMap<InstitutionId, BTreeSet<Avs>> =
            r.participants.iter().map(|p| (p.clone(), BTreeSet::new())).collect();
        for (person, mask) in membership.iter().enumerate() {
            for (i, p) in r.participants.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    persons.get_mut(p).unwrap().insert(avs(person as u32));
                }
            }
        }
        let (_, finals) = run_round(&r, &persons, &mut SeededRng::new(seed));
        let counts = overlap_counts(&r, &finals).unwrap();
        let (several, by_count, pairs) = plain_counts(&r.participants, &persons);
        prop_assert_eq!(counts.several, several);
        prop_assert_eq!(&counts.by_count, &by_count);
        prop_assert_eq!(pairs_of(&r, &counts), pairs);
        let published = counts.publish(&r.participants, 2);
        assert_nothing_recomputable(&counts, &published, sectors, 2);
    }
}

/// Every hidden figure stays hidden (no solution of the published relations pins it), and
/// every shown one is its true value, zero or at least `k`.
fn assert_nothing_recomputable(counts: &OverlapCounts, published: &Overlap, n: usize, k: u64) {
    let mut cells = vec![published.several];
    cells.extend(published.by_count.iter().map(|(_, c)| *c));
    cells.extend(published.pairs.iter().map(|p| p.persons));
    let hidden: Vec<bool> = cells.iter().map(|c| !matches!(c, Cell::Count(_))).collect();
    let rels = overlap_relations(n);
    let values = counts.figures();
    for i in 0..cells.len() {
        if hidden[i] {
            assert!(!determined_exactly(cells.len(), &rels, &hidden, i));
        } else {
            assert_eq!(cells[i], Cell::Count(values[i]));
            assert!(values[i] >= k, "figure {i} shown below k");
        }
    }
    // No pair shown leaves fewer than k persons of either set outside it.
    for (p, (i, j)) in pair_indices(n).into_iter().enumerate() {
        if let Cell::Count(x) = published.pairs[p].persons {
            assert!(x + k <= counts.sizes[i] && x + k <= counts.sizes[j]);
        }
    }
}
