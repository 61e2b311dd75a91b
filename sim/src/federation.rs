//! The simulated federation: institutions, their keys (derived from the run's seed), the signed
//! rosters, the exchange policy and each institution's records.

use crate::rng::SimRng;
use node_core::{BootstrapAdmin, Secrets};
use protocol_spec::avs::{Avs, check_digit};
use protocol_spec::category::Category;
use protocol_spec::ids::{InstitutionId, Purpose, Sector};
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey, sha256};
use protocol_spec::records::{Person, RecordField, RecordSet};
use protocol_spec::roster::{Authorities, Authority, Member, PolicyRule, Roster, SignedRoster};

/// Simulated time starts here (unix seconds), so consents and rosters carry plausible dates.
pub const BASE_TIME: u64 = 1_800_000_000;
pub const FEDERATION: &str = "ne-cii";
pub const PURPOSES: [&str; 3] = ["coordinated-assessment", "action-plan", "referral"];

/// The institutions of the first roster, the one that joins later, and the misbehaving member.
const FOUNDERS: [(&str, &str, &str); 4] = [
    ("ne.orp", "Office regional de placement", "employment"),
    (
        "ne.oai",
        "Office de l'assurance-invalidite",
        "disability-insurance",
    ),
    ("ne.sas", "Service de l'action sociale", "social-aid"),
    ("ne.smig", "Service des migrations", "migration"),
];
const JOINER: (&str, &str, &str) = ("ne.ofij", "Office des mineurs et de la jeunesse", "youth");
const ROGUE: (&str, &str, &str) = ("ne.rogue", "Misbehaving partner", "insertion");

/// The exchange policy: which sector may receive which categories for which purpose. Referral
/// is allowed to no one, so policy refusals happen too; the misbehaving member's sector may
/// receive everything, so only the rule's other conditions stand between it and the data.
fn policy() -> Vec<PolicyRule> {
    use Category::*;
    let rule = |sector: &str, purpose: &str, categories: Vec<Category>| PolicyRule {
        sector: sector.parse().expect("sector"),
        purpose: purpose.parse().expect("purpose"),
        categories,
    };
    vec![
        rule(
            "employment",
            "coordinated-assessment",
            vec![
                Identity,
                Employment,
                Benefits,
                Measures,
                Training,
                CaseManagement,
            ],
        ),
        rule(
            "employment",
            "action-plan",
            vec![Identity, Employment, Measures, Training],
        ),
        rule(
            "disability-insurance",
            "coordinated-assessment",
            vec![Identity, Employment, Health, Measures, CaseManagement],
        ),
        rule(
            "disability-insurance",
            "action-plan",
            vec![Employment, Measures],
        ),
        rule(
            "social-aid",
            "coordinated-assessment",
            vec![Identity, Household, Employment, Benefits],
        ),
        rule(
            "social-aid",
            "action-plan",
            vec![Household, Benefits, Measures, CaseManagement],
        ),
        rule(
            "migration",
            "coordinated-assessment",
            vec![Identity, Household, Training],
        ),
        rule(
            "youth",
            "coordinated-assessment",
            vec![Identity, Household, Measures, Training],
        ),
        rule(
            "youth",
            "action-plan",
            vec![Measures, Training, CaseManagement],
        ),
        rule(
            "insertion",
            "coordinated-assessment",
            Category::ALL.to_vec(),
        ),
        rule("insertion", "action-plan", Category::ALL.to_vec()),
    ]
}

/// One institution and the seeds of its keys.
#[derive(Clone)]
pub struct Institution {
    pub id: InstitutionId,
    pub name: String,
    pub sector: Sector,
    run_seed: u64,
    /// How many times its signing and encryption keys were rotated.
    pub generation: u32,
}

impl Institution {
    fn new((id, name, sector): (&str, &str, &str), run_seed: u64) -> Self {
        Institution {
            id: id.parse().expect("institution id"),
            name: name.into(),
            sector: sector.parse().expect("sector"),
            run_seed,
            generation: 0,
        }
    }

    /// A 32-byte seed for one of this institution's keys, derived from the run's seed.
    pub fn seed(&self, label: &str) -> [u8; 32] {
        sha256(&[
            b"passerelle-sim\n",
            &self.run_seed.to_le_bytes(),
            self.id.as_str().as_bytes(),
            b"\n",
            label.as_bytes(),
        ])
    }

    /// The seed of a rotated key (signing, encryption) in its `generation`.
    fn rotated(&self, label: &str, generation: u32) -> [u8; 32] {
        match generation {
            0 => self.seed(label),
            g => self.seed(&format!("{label} {g}")),
        }
    }

    pub fn signing(&self) -> SigningKey {
        SigningKey::from_seed(self.rotated("signing", self.generation))
    }

    pub fn secrets(&self) -> Secrets {
        Secrets {
            signing: self.signing(),
            encryption: EncryptionKey::from_secret(self.rotated("encryption", self.generation)),
            log: SigningKey::from_seed(self.seed("log")).public(),
            witness: SigningKey::from_seed(self.seed("witness")).public(),
            // Summaries sealed to a replaced key still open.
            former_encryption: (0..self.generation)
                .rev()
                .map(|g| EncryptionKey::from_secret(self.rotated("encryption", g)))
                .collect(),
        }
    }

    /// A staff member's credential key (the transport would authenticate it).
    pub fn staff_key(&self, staff: &str) -> PublicKey {
        SigningKey::from_seed(self.seed(&format!("staff {staff}"))).public()
    }

    pub fn admin(&self) -> BootstrapAdmin {
        BootstrapAdmin {
            staff: "admin".parse().expect("staff id"),
            key: self.staff_key("admin"),
        }
    }

    pub fn member(&self) -> Member {
        let s = self.secrets();
        Member {
            id: self.id.clone(),
            name: self.name.clone(),
            sector: self.sector.clone(),
            address: format!("{}.sim:7100", self.id),
            signing_key: s.signing.public(),
            encryption_key: s.encryption.public(),
            log_key: s.log,
            witness_key: s.witness,
            witnesses: vec![],
            witness_quorum: 0,
        }
    }
}

pub struct Federation {
    pub founders: Vec<Institution>,
    pub joiner: Institution,
    pub rogue: Institution,
    authorities: Vec<SigningKey>,
    /// The roster every founder is configured with.
    pub first: SignedRoster,
    /// The persons known anywhere in the federation; each institution holds some of them.
    pub persons: Vec<Avs>,
}

impl Federation {
    pub fn new(run_seed: u64, rng: &mut SimRng) -> Self {
        let founders: Vec<Institution> = FOUNDERS
            .iter()
            .map(|f| Institution::new(*f, run_seed))
            .collect();
        let joiner = Institution::new(JOINER, run_seed);
        let rogue = Institution::new(ROGUE, run_seed);
        let authorities: Vec<SigningKey> = (0..3)
            .map(|i| SigningKey::from_seed(sha256(&[b"authority", &run_seed.to_le_bytes(), &[i]])))
            .collect();
        let mut members: Vec<Member> = founders.iter().map(Institution::member).collect();
        // Each founder's log is witnessed by the next two founders; the misbehaving member's by
        // the first two, whom it offers a forked log.
        let n = founders.len();
        for (i, m) in members.iter_mut().enumerate() {
            m.witnesses = (1..=2).map(|k| founders[(i + k) % n].id.clone()).collect();
            m.witness_quorum = 1;
        }
        let mut rogue_member = rogue.member();
        rogue_member.witnesses = founders[..2].iter().map(|f| f.id.clone()).collect();
        rogue_member.witness_quorum = 1;
        members.push(rogue_member);
        let first = sign(
            Roster {
                federation: FEDERATION.into(),
                version: 1,
                issued_at: BASE_TIME - 86_400,
                authorities: Authorities {
                    threshold: 2,
                    keys: authorities
                        .iter()
                        .enumerate()
                        .map(|(i, k)| Authority {
                            name: format!("steering-{i}"),
                            key: k.public(),
                        })
                        .collect(),
                },
                members,
                policy: policy(),
                former_keys: vec![],
                former_log_keys: vec![],
                retention: vec![],
                statistics: None,
            },
            &authorities,
        );
        let persons = (0..10).map(|_| random_avs(rng)).collect();
        Federation {
            founders,
            joiner,
            rogue,
            authorities,
            first,
            persons,
        }
    }

    /// The roster version after `base` with `change` made, signed by two of the three
    /// authorities.
    pub fn next(&self, mut base: Roster, change: impl FnOnce(&mut Roster)) -> SignedRoster {
        base.version += 1;
        base.issued_at += 60;
        change(&mut base);
        sign(base, &self.authorities)
    }

    pub fn purposes() -> Vec<Purpose> {
        PURPOSES
            .iter()
            .map(|p| p.parse().expect("purpose"))
            .collect()
    }
}

fn sign(roster: Roster, authorities: &[SigningKey]) -> SignedRoster {
    SignedRoster::sign(roster, &[&authorities[0], &authorities[2]])
}

fn random_avs(rng: &mut SimRng) -> Avs {
    let mut d = [0u8; 12];
    d[..3].copy_from_slice(&[7, 5, 6]);
    for x in &mut d[3..] {
        *x = rng.between(0, 9) as u8;
    }
    let digits: String = d
        .iter()
        .chain(std::iter::once(&check_digit(&d)))
        .map(|x| char::from(b'0' + x))
        .collect();
    digits.parse().expect("a valid social insurance number")
}

/// An institution's records: some of the federation's persons, with fields in a few categories.
pub fn records(persons: &[Avs], rng: &mut SimRng) -> RecordSet {
    let held = rng.subset(persons, persons.len());
    let held: Vec<Avs> = if held.len() < 3 {
        persons[..3].to_vec()
    } else {
        held
    };
    let mut set = RecordSet {
        persons: Vec::new(),
        fields: Vec::new(),
    };
    for (n, avs) in held.iter().enumerate() {
        set.persons.push(Person {
            avs: avs.clone(),
            name: format!("Person {n}"),
            birth_date: format!(
                "19{}-0{}-1{}",
                50 + rng.between(0, 49),
                rng.between(1, 9),
                rng.between(0, 9)
            ),
        });
        for category in rng.subset(&Category::ALL, 6) {
            for f in 0..rng.between(1, 3) {
                set.fields.push(RecordField {
                    avs: avs.clone(),
                    category,
                    field: format!("{}_{f}", category.as_str().replace('-', "_")),
                    value: format!("value {}", hex::encode(rng.bytes::<4>())),
                });
            }
        }
    }
    set
}
