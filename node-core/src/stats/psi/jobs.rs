//! The cryptography of an overlap round, done off the store thread (spec/statistics.md §10):
//! hashing a sector's persons to group elements and blinding them, checking and reblinding a
//! received set, counting the final sets and signing what leaves. The step hands a job out as
//! [`crate::Work`]; the driver runs it with [`crate::Crypto::run`], which calls the functions
//! here; the result comes back as [`crate::Done::Psi`].

use crate::random::{HpkeRng, Random};
use protocol_spec::avs::Avs;
use protocol_spec::ids::InstitutionId;
use protocol_spec::keys::{PublicKey, SigningKey};
use protocol_spec::stats::psi::{
    self, BlindedSet, PsiOutcome, PsiRound, PsiSet, RoundId, RoundSecret, SetSize,
    SignedPsiOutcome, SignedPsiSet,
};
use std::fmt;
use std::sync::Arc;

/// This node's secrets of the rounds it takes part in, by round id: memory only.
pub(crate) type Secrets = std::collections::HashMap<RoundId, Secret>;

/// This node's secret for one round, shared between the core's memory and the jobs in flight:
/// the scalar is wiped when the last holder drops it.
#[derive(Clone)]
pub struct Secret(pub(crate) Arc<RoundSecret>);

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Hop 1 of this sector's own set: its persons followed in the round's month.
#[derive(Clone, PartialEq, Eq)]
pub struct BlindJob {
    pub round: PsiRound,
    pub me: InstitutionId,
    pub persons: Vec<Avs>,
    pub secret: Secret,
}

// Persons are never printed: Debug gives their number only.
impl fmt::Debug for BlindJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BlindJob {{ round: {}, persons: {} }}",
            hex::encode(self.round.id()),
            self.persons.len()
        )
    }
}

/// What a receiver does with a set message's elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop {
    /// A participant: check, multiply by its secret, shuffle, sign the next hop.
    Reblind(Secret),
    /// The dashboard member (a final set), or a participant that only needs the digest of a
    /// message it may have received before: check the elements.
    Check,
}

/// A received set message, to be checked (spec/statistics.md §10.5) and carried one hop on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReblindJob {
    /// The connection's key: the reply goes back to it.
    pub from: PublicKey,
    pub round: PsiRound,
    pub me: InstitutionId,
    pub received: SignedPsiSet,
    /// The roster's key of the message's sender.
    pub sender_key: PublicKey,
    pub hop: Hop,
}

/// The dashboard member's count over the `N` final sets, in ring order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountJob {
    pub round: PsiRound,
    pub sets: Vec<(InstitutionId, BlindedSet)>,
    /// False when a set's size differs from its sector's report: the outcome carries the
    /// sizes only.
    pub publish: bool,
    /// How the sizes compared with the reports, as the `psi-outcome` entry says it.
    pub sizes_note: String,
}

/// The result of a round's job, for the core's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsiDone {
    Blinded {
        round: RoundId,
        set: Result<SignedPsiSet, String>,
    },
    Reblinded(Checked),
    Counted {
        round: RoundId,
        sizes_note: String,
        outcome: Result<SignedPsiOutcome, String>,
    },
}

/// A received set message after the checks off the store thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub from: PublicKey,
    pub received: SignedPsiSet,
    /// SHA-256 of the received message's signing input.
    pub digest: [u8; 32],
    pub signature_ok: bool,
    /// The size and element checks, and with them the next hop's signed message (none for a
    /// [`Hop::Check`]); not run when the signature failed.
    pub checked: Result<Option<SignedPsiSet>, String>,
}

pub(crate) fn run_blind(signing: &SigningKey, job: BlindJob, random: &mut dyn Random) -> PsiDone {
    let BlindJob {
        round,
        me,
        persons,
        secret,
    } = job;
    let id = round.id();
    let set = psi::blind(
        &secret.0,
        &round.federation,
        round.month,
        &persons,
        round.min_size(),
        &mut HpkeRng(random),
    )
    .map(|set| {
        PsiSet {
            round: id,
            origin: me.clone(),
            hop: 1,
            sender: me,
            set,
        }
        .sign(signing)
    })
    .map_err(|e| e.to_string());
    PsiDone::Blinded { round: id, set }
}

pub(crate) fn run_reblind(
    signing: &SigningKey,
    job: ReblindJob,
    random: &mut dyn Random,
) -> PsiDone {
    let ReblindJob {
        from,
        round,
        me,
        received,
        sender_key,
        hop,
    } = job;
    let input = received.set.signing_input();
    let digest = protocol_spec::keys::sha256(&[&input]);
    let signature_ok = sender_key.verify(&input, &received.signature);
    drop(input);
    let checked = if !signature_ok {
        Err(String::new())
    } else {
        let s = &received.set;
        match hop {
            Hop::Reblind(secret) => {
                psi::reblind(&secret.0, &s.set, round.min_size(), &mut HpkeRng(random)).map(|set| {
                    Some(
                        PsiSet {
                            round: s.round,
                            origin: s.origin.clone(),
                            hop: s.hop + 1,
                            sender: me,
                            set,
                        }
                        .sign(signing),
                    )
                })
            }
            Hop::Check => psi::check_set(&s.set, round.min_size()).map(|_| None),
        }
        .map_err(|e| e.to_string())
    };
    PsiDone::Reblinded(Checked {
        from,
        received,
        digest,
        signature_ok,
        checked,
    })
}

pub(crate) fn run_count(signing: &SigningKey, job: CountJob) -> PsiDone {
    let CountJob {
        round,
        sets,
        publish,
        sizes_note,
    } = job;
    let id = round.id();
    let sizes = sets
        .iter()
        .map(|(origin, set)| SetSize {
            origin: origin.clone(),
            size: set.len() as u64,
        })
        .collect();
    // The exact counts live only inside `overlap`, in this job's memory.
    let overlap = if publish {
        psi::overlap(&round, &sets).map(Some)
    } else {
        Ok(None)
    };
    let outcome = overlap
        .map(|overlap| {
            PsiOutcome {
                round: id,
                sizes,
                overlap,
            }
            .sign(signing)
        })
        .map_err(|e| e.to_string());
    PsiDone::Counted {
        round: id,
        sizes_note,
        outcome,
    }
}
