//! Persons followed by several sectors (spec/statistics.md §10): a multi-party private set
//! intersection cardinality round over ristretto255 (RFC 9496). Each sector maps the persons
//! it follows to group elements and blinds them with a secret scalar drawn for the round; every
//! set then travels round the ring of sectors, each multiplying every element by its own secret
//! and shuffling. The dashboard receives every set blinded by the product of all the secrets:
//! equal persons give equal elements, so it can count overlaps, and learns no person.
//!
//! Pure functions: the node lends the random source, keeps the secret for the round only and
//! carries the messages.

use crate::avs::Avs;
use crate::ids::InstitutionId;
use crate::keys::{PublicKey, Signature, SigningKey, sha256};
use crate::seal::CryptoRng;
use crate::stats::month::Month;
use crate::stats::noise::uniform;
use crate::stats::report::Cell;
use crate::stats::suppress::{Mark, Relation, suppress};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Domain separator of the round id.
pub const ROUND_CONTEXT: &[u8] = b"passerelle/v1 psi-round\n";
/// Domain separator of a person's group element.
pub const PERSON_CONTEXT: &[u8] = b"passerelle/v1 psi-person\n";
/// Domain separator of a padding element.
pub const DUMMY_CONTEXT: &[u8] = b"passerelle/v1 psi-dummy\n";
/// Signing contexts of the three messages.
pub const START_CONTEXT: &[u8] = b"passerelle/v1 psi-start\n";
pub const SET_CONTEXT: &[u8] = b"passerelle/v1 psi-set\n";
pub const OUTCOME_CONTEXT: &[u8] = b"passerelle/v1 psi-outcome\n";

/// Elements in one set: 32 bytes each, so a set message stays under the 32 MiB bound of a
/// message spanning frames (protocol.md §3.1).
pub const MAX_SET: usize = 1_000_000;
/// Participants of one round (sector nodes, the dashboard not counted).
pub const MAX_PARTICIPANTS: usize = 16;
/// Rounds per federation and month: attempts 0, 1 and 2.
pub const MAX_ATTEMPTS: u8 = 3;
/// A round expires at most this long after its start is accepted.
pub const MAX_ROUND_SECONDS: u64 = 7 * 86_400;

/// SHA-256 naming a round (spec §10.3).
pub type RoundId = [u8; 32];

/// Why a round, a message or a set is refused. Messages name positions, institutions and
/// sizes, never an element or a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsiError {
    #[error("a round has 2 to {MAX_PARTICIPANTS} participants, found {0}")]
    Participants(usize),
    #[error("participant `{0}` is listed twice")]
    RepeatedParticipant(InstitutionId),
    #[error("the dashboard `{0}` cannot be a participant of its own round")]
    DashboardParticipates(InstitutionId),
    #[error("threshold must be 2 to 100, found {0}")]
    Threshold(u32),
    #[error("attempt {0} is beyond the {MAX_ATTEMPTS} attempts a month allows (0 to 2)")]
    Attempt(u8),
    #[error("`{0}` is not a participant of this round")]
    NotParticipant(InstitutionId),
    #[error("hop {hop} is out of range: 1 to {participants}")]
    Hop { hop: u8, participants: usize },
    #[error("the set of `{origin}` at hop {hop} is sent by `{expected}`, not `{sender}`")]
    WrongSender {
        origin: InstitutionId,
        hop: u8,
        expected: InstitutionId,
        sender: InstitutionId,
    },
    #[error("the set of `{origin}` at hop {hop} goes to `{expected}`, not to this node")]
    WrongRecipient {
        origin: InstitutionId,
        hop: u8,
        expected: InstitutionId,
    },
    #[error("the message belongs to another round")]
    WrongRound,
    #[error("the signature of `{0}` does not verify")]
    BadSignature(InstitutionId),
    #[error("a set has at most {max} elements, found {size}")]
    TooLarge { size: usize, max: usize },
    #[error("a set has at least {min} elements (smaller sets are padded), found {size}")]
    TooSmall { size: usize, min: usize },
    #[error("element {index} is not a canonical ristretto255 encoding")]
    NotCanonical { index: usize },
    #[error("element {index} is the identity element")]
    Identity { index: usize },
    #[error("element {index} repeats element {first}")]
    Duplicate { index: usize, first: usize },
    #[error("the dashboard needs one set per participant, in ring order")]
    SetsOutOfOrder,
    #[error("a round secret is a canonical non-zero scalar")]
    BadSecret,
}

/// A sector's secret scalar for one round: drawn fresh, never stored, wiped on drop.
pub struct RoundSecret(Scalar);

impl RoundSecret {
    /// A uniform non-zero scalar: 64 random bytes reduced modulo the group order.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> RoundSecret {
        loop {
            let mut wide = Zeroizing::new([0u8; 64]);
            rng.fill_bytes(wide.as_mut_slice());
            let secret = RoundSecret(Scalar::from_bytes_mod_order_wide(&wide));
            if secret.0 != Scalar::ZERO {
                return secret;
            }
        }
    }

    /// A given scalar (32 bytes little-endian, canonical, non-zero): for test vectors and
    /// other implementations checking against them.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<RoundSecret, PsiError> {
        let bytes = Zeroizing::new(bytes);
        let scalar: Option<Scalar> = Scalar::from_canonical_bytes(*bytes).into();
        match scalar {
            Some(s) if s != Scalar::ZERO => Ok(RoundSecret(s)),
            _ => Err(PsiError::BadSecret),
        }
    }
}

impl Drop for RoundSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for RoundSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoundSecret(..)")
    }
}

/// RFC 9496 §4.3.4 one-way map over the 64 bytes of SHA-512(input): the same element as
/// `RistrettoPoint::hash_from_bytes::<Sha512>(input)`.
fn hash_to_group(input: &[u8]) -> RistrettoPoint {
    use sha2::{Digest, Sha512};
    let mut wide = Zeroizing::new([0u8; 64]);
    wide.copy_from_slice(&Sha512::digest(input));
    RistrettoPoint::from_uniform_bytes(&wide)
}

/// The hash input of a person's element: `PERSON_CONTEXT || postcard((federation, month,
/// the 13 digits))`. Another federation or month gives unrelated elements.
pub fn person_input(federation: &str, month: Month, avs: &Avs) -> Zeroizing<Vec<u8>> {
    let mut input = Zeroizing::new(PERSON_CONTEXT.to_vec());
    input.extend(postcard::to_stdvec(&(federation, month, avs)).expect("strings encode"));
    input
}

/// A person's group element in a round of `federation` for `month`.
pub fn encode_person(federation: &str, month: Month, avs: &Avs) -> RistrettoPoint {
    hash_to_group(&person_input(federation, month, avs))
}

/// A padding element: the map of 32 random bytes, equal to no person's element.
fn dummy<R: CryptoRng + ?Sized>(rng: &mut R) -> RistrettoPoint {
    let mut input = DUMMY_CONTEXT.to_vec();
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    input.extend(seed);
    hash_to_group(&input)
}

/// Fisher–Yates with uniform integers by rejection: every order equally likely.
fn shuffle<T, R: CryptoRng + ?Sized>(items: &mut [T], rng: &mut R) {
    for i in (1..items.len()).rev() {
        let j = uniform(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A set of blinded elements, each a canonical ristretto255 encoding. Text form: a list of
/// hex strings; postcard: the count, then 32 bytes per element.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlindedSet {
    #[serde(with = "crate::ids::hex32::list")]
    pub elements: Vec<[u8; 32]>,
}

// A set can hold a million elements: Debug gives its size only.
impl fmt::Debug for BlindedSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlindedSet({} elements)", self.elements.len())
    }
}

impl BlindedSet {
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// SHA-256 of the set's postcard encoding: how logs name a set.
    pub fn digest(&self) -> [u8; 32] {
        sha256(&[&postcard::to_stdvec(self).expect("set encodes")])
    }
}

/// The checks every receiver makes (spec §10.5), in this order: the size (`min..=MAX_SET`),
/// then each element in turn: a canonical encoding, not the identity, not seen before.
pub fn check_set(set: &BlindedSet, min: usize) -> Result<Vec<RistrettoPoint>, PsiError> {
    let size = set.len();
    if size > MAX_SET {
        return Err(PsiError::TooLarge { size, max: MAX_SET });
    }
    if size < min {
        return Err(PsiError::TooSmall { size, min });
    }
    let mut seen: HashMap<[u8; 32], usize> = HashMap::with_capacity(size);
    let mut points = Vec::with_capacity(size);
    for (index, bytes) in set.elements.iter().enumerate() {
        let point = CompressedRistretto(*bytes)
            .decompress()
            .ok_or(PsiError::NotCanonical { index })?;
        if point.is_identity() {
            return Err(PsiError::Identity { index });
        }
        // Encodings are canonical, so equal bytes are equal elements and the converse.
        match seen.entry(*bytes) {
            Entry::Occupied(first) => {
                return Err(PsiError::Duplicate {
                    index,
                    first: *first.get(),
                });
            }
            Entry::Vacant(slot) => {
                slot.insert(index);
            }
        }
        points.push(point);
    }
    Ok(points)
}

fn multiply(secret: &RoundSecret, points: &[RistrettoPoint]) -> Vec<[u8; 32]> {
    points
        .iter()
        .map(|p| (secret.0 * p).compress().to_bytes())
        .collect()
}

/// The first hop: each person's element times the secret, padded with random elements up to
/// `min_size` (the threshold `k`), in a uniformly random order. Each person counts once.
pub fn blind<'a, R: CryptoRng + ?Sized>(
    secret: &RoundSecret,
    federation: &str,
    month: Month,
    persons: impl IntoIterator<Item = &'a Avs>,
    min_size: usize,
    rng: &mut R,
) -> Result<BlindedSet, PsiError> {
    let persons: BTreeSet<&Avs> = persons.into_iter().collect();
    if persons.len() > MAX_SET {
        return Err(PsiError::TooLarge {
            size: persons.len(),
            max: MAX_SET,
        });
    }
    let mut points: Vec<RistrettoPoint> = persons
        .iter()
        .map(|avs| encode_person(federation, month, avs))
        .collect();
    while points.len() < min_size {
        points.push(dummy(rng));
    }
    let mut elements = multiply(secret, &points);
    shuffle(&mut elements, rng);
    Ok(BlindedSet { elements })
}

/// A later hop without the shuffle: every element checked (`check_set`) then multiplied by
/// the secret, in the order received. The test vectors list hops in this order.
pub fn exponentiate(
    secret: &RoundSecret,
    set: &BlindedSet,
    min_size: usize,
) -> Result<BlindedSet, PsiError> {
    let points = check_set(set, min_size)?;
    Ok(BlindedSet {
        elements: multiply(secret, &points),
    })
}

/// A later hop: check, multiply by the secret, shuffle.
pub fn reblind<R: CryptoRng + ?Sized>(
    secret: &RoundSecret,
    set: &BlindedSet,
    min_size: usize,
    rng: &mut R,
) -> Result<BlindedSet, PsiError> {
    let mut out = exponentiate(secret, set, min_size)?;
    shuffle(&mut out.elements, rng);
    Ok(out)
}

/// A round: who takes part, in which ring order, for which month (spec §10.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsiRound {
    pub federation: String,
    pub month: Month,
    pub roster_version: u64,
    /// 0, 1 or 2: a failed round may be run again, at most three times a month.
    pub attempt: u8,
    pub dashboard: InstitutionId,
    /// The participating sector nodes in roster order: the ring.
    pub participants: Vec<InstitutionId>,
    /// The roster's suppression threshold `k`; also the minimum set size.
    pub threshold: u32,
    /// POSIX seconds after which no node takes part any more and every secret is erased.
    pub expires_at: u64,
}

impl PsiRound {
    /// What can be checked without the roster: sizes, repetitions, the threshold.
    pub fn check(&self) -> Result<(), PsiError> {
        let n = self.participants.len();
        if !(2..=MAX_PARTICIPANTS).contains(&n) {
            return Err(PsiError::Participants(n));
        }
        let mut seen = HashSet::new();
        for p in &self.participants {
            if !seen.insert(p) {
                return Err(PsiError::RepeatedParticipant(p.clone()));
            }
        }
        if seen.contains(&self.dashboard) {
            return Err(PsiError::DashboardParticipates(self.dashboard.clone()));
        }
        if !(2..=100).contains(&self.threshold) {
            return Err(PsiError::Threshold(self.threshold));
        }
        if self.attempt >= MAX_ATTEMPTS {
            return Err(PsiError::Attempt(self.attempt));
        }
        Ok(())
    }

    /// `SHA-256(ROUND_CONTEXT || postcard(PsiRound))`.
    pub fn id(&self) -> RoundId {
        sha256(&[
            ROUND_CONTEXT,
            &postcard::to_stdvec(self).expect("round encodes"),
        ])
    }

    pub fn min_size(&self) -> usize {
        self.threshold as usize
    }

    pub fn position(&self, who: &InstitutionId) -> Result<usize, PsiError> {
        self.participants
            .iter()
            .position(|p| p == who)
            .ok_or_else(|| PsiError::NotParticipant(who.clone()))
    }

    fn hop_in_range(&self, hop: u8) -> Result<(), PsiError> {
        let participants = self.participants.len();
        if hop == 0 || usize::from(hop) > participants {
            return Err(PsiError::Hop { hop, participants });
        }
        Ok(())
    }

    /// Who sends the set of `origin` after `hop` secrets were applied: the participant `hop − 1`
    /// places after the origin in the ring.
    pub fn sender(&self, origin: &InstitutionId, hop: u8) -> Result<&InstitutionId, PsiError> {
        self.hop_in_range(hop)?;
        let n = self.participants.len();
        let at = (self.position(origin)? + usize::from(hop) - 1) % n;
        Ok(&self.participants[at])
    }

    /// Who receives it: the next participant in the ring, or the dashboard after the last hop.
    pub fn recipient(&self, origin: &InstitutionId, hop: u8) -> Result<&InstitutionId, PsiError> {
        self.hop_in_range(hop)?;
        let n = self.participants.len();
        if usize::from(hop) == n {
            return Ok(&self.dashboard);
        }
        let at = (self.position(origin)? + usize::from(hop)) % n;
        Ok(&self.participants[at])
    }

    /// The start's signing input: `START_CONTEXT || postcard(PsiRound)`.
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = START_CONTEXT.to_vec();
        out.extend(postcard::to_stdvec(self).expect("round encodes"));
        out
    }

    /// The dashboard's start message.
    pub fn sign(self, dashboard_key: &SigningKey) -> SignedPsiStart {
        let signature = dashboard_key.sign(&self.signing_input());
        SignedPsiStart {
            round: self,
            signature,
        }
    }
}

/// The dashboard's call to take part in a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPsiStart {
    pub round: PsiRound,
    pub signature: Signature,
}

impl SignedPsiStart {
    /// Well-formed and signed by the dashboard's key (from the roster).
    pub fn verify(&self, dashboard_key: &PublicKey) -> Result<(), PsiError> {
        self.round.check()?;
        if !dashboard_key.verify(&self.round.signing_input(), &self.signature) {
            return Err(PsiError::BadSignature(self.round.dashboard.clone()));
        }
        Ok(())
    }
}

/// One set on its way round the ring: `origin`'s set with `hop` secrets applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsiSet {
    #[serde(with = "crate::ids::hex32")]
    pub round: RoundId,
    pub origin: InstitutionId,
    pub hop: u8,
    pub sender: InstitutionId,
    pub set: BlindedSet,
}

impl PsiSet {
    /// `SET_CONTEXT || postcard(PsiSet)`.
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = SET_CONTEXT.to_vec();
        out.extend(postcard::to_stdvec(self).expect("set encodes"));
        out
    }

    pub fn sign(self, sender_key: &SigningKey) -> SignedPsiSet {
        let signature = sender_key.sign(&self.signing_input());
        SignedPsiSet {
            set: self,
            signature,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPsiSet {
    pub set: PsiSet,
    pub signature: Signature,
}

impl SignedPsiSet {
    /// The hop, its sender and its recipient are the ones the ring names (§10.5 step 2, but
    /// the signature).
    pub fn check_route(&self, round: &PsiRound, me: &InstitutionId) -> Result<(), PsiError> {
        let s = &self.set;
        let expected = round.sender(&s.origin, s.hop)?;
        if *expected != s.sender {
            return Err(PsiError::WrongSender {
                origin: s.origin.clone(),
                hop: s.hop,
                expected: expected.clone(),
                sender: s.sender.clone(),
            });
        }
        let recipient = round.recipient(&s.origin, s.hop)?;
        if recipient != me {
            return Err(PsiError::WrongRecipient {
                origin: s.origin.clone(),
                hop: s.hop,
                expected: recipient.clone(),
            });
        }
        Ok(())
    }

    /// SHA-256 of the signing input: how both ends log the message.
    pub fn digest(&self) -> [u8; 32] {
        sha256(&[&self.set.signing_input()])
    }

    /// The envelope checks of a receiver `me` (spec §10.5): this round, a hop in range, the
    /// expected sender and recipient, the sender's signature. The elements are checked by
    /// [`reblind`] or [`overlap`].
    pub fn verify(
        &self,
        round: &PsiRound,
        me: &InstitutionId,
        sender_key: &PublicKey,
    ) -> Result<(), PsiError> {
        let s = &self.set;
        if s.round != round.id() {
            return Err(PsiError::WrongRound);
        }
        self.check_route(round, me)?;
        if !sender_key.verify(&s.signing_input(), &self.signature) {
            return Err(PsiError::BadSignature(s.sender.clone()));
        }
        Ok(())
    }
}

/// Exact figures, known to the dashboard only and never stored (spec §10.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlapCounts {
    /// Set sizes in ring order (padding included).
    pub sizes: Vec<u64>,
    /// Distinct persons in two sets or more.
    pub several: u64,
    /// `by_count[m − 2]`: persons in exactly `m` sets, `m` = 2 to N.
    pub by_count: Vec<u64>,
    /// Persons in both sets of each pair `(i, j)`, `i < j` in ring order, `(0,1), (0,2), …,
    /// (1,2), …`.
    pub pairs: Vec<u64>,
}

/// One pair's published overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairOverlap {
    pub first: InstitutionId,
    pub second: InstitutionId,
    pub persons: Cell,
}

/// The published figures, after small-count suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlap {
    pub several: Cell,
    /// `(m, persons in exactly m sectors)`, m = 2 to N.
    pub by_count: Vec<(u8, Cell)>,
    pub pairs: Vec<PairOverlap>,
}

fn pair_indices(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect()
}

/// The linear relations the figures satisfy, over the figure vector `several, by_count[2..=N],
/// pairs…`: the histogram sums to `several`, and the pairs sum to `Σ C(m,2) · by_count[m]`
/// (a person in `m` sectors is in `C(m,2)` pairs). For N = 2 the three figures are equal.
pub fn overlap_relations(n: usize) -> Vec<Relation> {
    let hist = |m: usize| m - 1; // index of by_count[m]
    let first_pair = n;
    let mut sum: Relation = (2..=n).map(|m| (hist(m), 1)).collect();
    sum.push((0, -1));
    let mut pairs: Relation = (0..pair_indices(n).len())
        .map(|p| (first_pair + p, 1))
        .collect();
    pairs.extend((2..=n).map(|m| (hist(m), -((m * (m - 1) / 2) as i64))));
    vec![sum, pairs]
}

impl OverlapCounts {
    /// The figure vector in the order of [`overlap_relations`].
    pub fn figures(&self) -> Vec<u64> {
        let mut v = vec![self.several];
        v.extend(&self.by_count);
        v.extend(&self.pairs);
        v
    }

    /// The figures hidden before complementary suppression (spec §10.6): every zero, and a
    /// pair's figure that leaves fewer than `k` elements of either set outside it. A shown
    /// zero would tell each sector that none of its persons is followed by the other, a pair
    /// equal to a set's size that all of them are.
    pub fn forced(&self, threshold: u32) -> Vec<bool> {
        let k = u64::from(threshold);
        let n = self.sizes.len();
        let mut forced: Vec<bool> = self.figures().iter().map(|&v| v == 0).collect();
        for (p, (i, j)) in pair_indices(n).into_iter().enumerate() {
            let x = self.pairs[p];
            if x + k > self.sizes[i] || x + k > self.sizes[j] {
                forced[n + p] = true;
            }
        }
        forced
    }

    /// Small-count suppression: §6 of the statistics spec, with [`Self::forced`] and the
    /// relations of [`overlap_relations`].
    pub fn publish(&self, participants: &[InstitutionId], threshold: u32) -> Overlap {
        let n = participants.len();
        let values = self.figures();
        let marks = suppress(
            &values,
            &self.forced(threshold),
            &overlap_relations(n),
            threshold,
        );
        let cell = |i: usize| match marks[i] {
            Mark::Shown => Cell::Count(values[i]),
            Mark::Small => Cell::Small,
            Mark::Withheld => Cell::Withheld,
        };
        Overlap {
            several: cell(0),
            by_count: (2..=n).map(|m| (m as u8, cell(m - 1))).collect(),
            pairs: pair_indices(n)
                .into_iter()
                .enumerate()
                .map(|(p, (i, j))| PairOverlap {
                    first: participants[i].clone(),
                    second: participants[j].clone(),
                    persons: cell(n + p),
                })
                .collect(),
        }
    }
}

/// The dashboard's count over the final sets, one per participant in ring order, each
/// checked as at every hop.
pub fn overlap_counts(
    round: &PsiRound,
    sets: &[(InstitutionId, BlindedSet)],
) -> Result<OverlapCounts, PsiError> {
    round.check()?;
    let n = round.participants.len();
    if sets.len() != n
        || sets
            .iter()
            .zip(&round.participants)
            .any(|((origin, _), p)| origin != p)
    {
        return Err(PsiError::SetsOutOfOrder);
    }
    let mut holders: HashMap<[u8; 32], u32> = HashMap::new();
    for (i, (_, set)) in sets.iter().enumerate() {
        check_set(set, round.min_size())?;
        for e in &set.elements {
            *holders.entry(*e).or_default() |= 1 << i;
        }
    }
    let pairs = pair_indices(n);
    let mut counts = OverlapCounts {
        sizes: sets.iter().map(|(_, s)| s.len() as u64).collect(),
        several: 0,
        by_count: vec![0; n - 1],
        pairs: vec![0; pairs.len()],
    };
    for mask in holders.into_values() {
        let m = mask.count_ones() as usize;
        if m < 2 {
            continue;
        }
        counts.several += 1;
        counts.by_count[m - 2] += 1;
        for (p, &(i, j)) in pairs.iter().enumerate() {
            if mask & (1 << i) != 0 && mask & (1 << j) != 0 {
                counts.pairs[p] += 1;
            }
        }
    }
    Ok(counts)
}

/// Counts and suppression: what the dashboard publishes.
pub fn overlap(
    round: &PsiRound,
    sets: &[(InstitutionId, BlindedSet)],
) -> Result<Overlap, PsiError> {
    Ok(overlap_counts(round, sets)?.publish(&round.participants, round.threshold))
}

/// The set size a sector's signed report implies (spec §10.6): its `persons_followed`, raised
/// to `k` by padding; `None` where the report cannot say (a withheld figure, or noise).
pub fn size_from_report(persons_followed: Cell, noisy: bool, threshold: u32) -> Option<u64> {
    if noisy {
        return None;
    }
    match persons_followed {
        Cell::Count(n) => Some(n.max(u64::from(threshold))),
        Cell::Small => Some(u64::from(threshold)),
        Cell::Withheld => None,
    }
}

/// One participant's set size as the dashboard received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSize {
    pub origin: InstitutionId,
    pub size: u64,
}

/// The dashboard's answer to every participant: the sizes it received, so that each checks
/// that its own set and those it relayed arrived whole, and the published figures, none when
/// a size did not match its sector's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsiOutcome {
    #[serde(with = "crate::ids::hex32")]
    pub round: RoundId,
    pub sizes: Vec<SetSize>,
    pub overlap: Option<Overlap>,
}

impl PsiOutcome {
    /// `OUTCOME_CONTEXT || postcard(PsiOutcome)`.
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = OUTCOME_CONTEXT.to_vec();
        out.extend(postcard::to_stdvec(self).expect("outcome encodes"));
        out
    }

    pub fn sign(self, dashboard_key: &SigningKey) -> SignedPsiOutcome {
        let signature = dashboard_key.sign(&self.signing_input());
        SignedPsiOutcome {
            outcome: self,
            signature,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPsiOutcome {
    pub outcome: PsiOutcome,
    pub signature: Signature,
}

impl SignedPsiOutcome {
    pub fn verify(&self, round: &PsiRound, dashboard_key: &PublicKey) -> Result<(), PsiError> {
        if self.outcome.round != round.id() {
            return Err(PsiError::WrongRound);
        }
        if !dashboard_key.verify(&self.outcome.signing_input(), &self.signature) {
            return Err(PsiError::BadSignature(round.dashboard.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "psi_tests.rs"]
mod tests;
