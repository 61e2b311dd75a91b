//! The federation roster: members, their keys, and the exchange policy, signed by a threshold
//! of steering-group authority keys.

use crate::category::Category;
use crate::ids::{InstitutionId, Purpose, Sector};
use crate::keys::{PublicKey, Signature, SignatureCheck, SigningKey, Strict};
use crate::stats::StatisticsConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Domain separator of the roster signature input (spec/protocol.md §5.2).
pub const ROSTER_CONTEXT: &[u8] = b"passerelle/v1 roster\n";
/// A federation name becomes part of checkpoint origins and note key names, which admit no
/// spaces or `+`: 1 to 64 characters from `a-z`, `0-9`, `-` and `.`.
pub fn valid_federation_name(name: &str) -> bool {
    let token = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.';
    !name.is_empty() && name.len() <= 64 && name.bytes().all(token)
}

/// At most this many witnesses per member, so a cosigned checkpoint stays within 16 signatures.
pub const MAX_WITNESSES: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    pub name: String,
    pub key: PublicKey,
}

/// Trust anchor a node is configured with: the steering group's keys and threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorities {
    pub threshold: u8,
    pub keys: Vec<Authority>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: InstitutionId,
    pub name: String,
    pub sector: Sector,
    /// `host:port` of the node's QUIC endpoint.
    pub address: String,
    pub signing_key: PublicKey,
    pub encryption_key: PublicKey,
    /// Ed25519 key that signs the node's log checkpoints (C2SP signed note, type 0x01).
    pub log_key: PublicKey,
    /// Ed25519 key with which the node cosigns peers' checkpoints (C2SP tlog-cosignature).
    pub witness_key: PublicKey,
    /// Witness policy for this node's log: which members cosign its checkpoints, and how many
    /// cosignatures make a quorum.
    pub witnesses: Vec<InstitutionId>,
    pub witness_quorum: u8,
}

/// One permission of the exchange policy: institutions of `sector` may receive `categories`
/// for `purpose`. Anything not granted by some rule is forbidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    pub sector: Sector,
    pub purpose: Purpose,
    pub categories: Vec<Category>,
}

/// A node signing key the roster no longer lists as current: the member got a new one, or was
/// removed. The steering group keeps vouching for it so that the case events signed under it
/// stay verifiable (spec §6.3); nothing else accepts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormerKey {
    pub institution: InstitutionId,
    pub signing_key: PublicKey,
    /// The first roster version that no longer lists the key as current.
    pub retired_in: u64,
}

/// A log key the roster no longer lists as current: the member's log key was replaced, or the
/// member removed. Auditors verify the checkpoints signed under it before `retired_in` (spec
/// §5.1, transparency-log.md §7.5); no node follows a log under it any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormerLogKey {
    pub institution: InstitutionId,
    pub log_key: PublicKey,
    /// The first roster version that no longer lists the key as current.
    pub retired_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    pub federation: String,
    pub version: u64,
    /// Unix seconds at which the steering group issued this version.
    pub issued_at: u64,
    /// The authorities that must sign the *next* version.
    pub authorities: Authorities,
    pub members: Vec<Member>,
    pub policy: Vec<PolicyRule>,
    /// Key history, carried forward by every successor. Last and optional in text forms, so a
    /// roster file written before it existed still reads.
    #[serde(default)]
    pub former_keys: Vec<FormerKey>,
    /// How long a received summary is kept, per purpose (spec §7.10). Optional in text forms.
    #[serde(default)]
    pub retention: Vec<Retention>,
    /// Log key history, carried forward like `former_keys`. Optional in text forms.
    #[serde(default)]
    pub former_log_keys: Vec<FormerLogKey>,
    /// The monthly statistics: measures, grid fields, threshold and privacy budget
    /// (spec/statistics.md §2). Optional in text forms; none: no report can be computed.
    #[serde(default)]
    pub statistics: Option<Box<StatisticsConfig>>,
}

/// Received summaries for `purpose` are purged `days` days after they were received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub purpose: Purpose,
    pub days: u32,
}

/// The retention of a purpose the roster does not list: one year.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;
/// No retention may exceed ten years: a summary is a working copy, not an archive.
pub const MAX_RETENTION_DAYS: u32 = 3653;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterSignature {
    pub authority: PublicKey,
    pub signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRoster {
    pub roster: Roster,
    pub signatures: Vec<RosterSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("roster has {valid} valid authority signature(s), below the threshold of {threshold}")]
    BelowThreshold { valid: usize, threshold: u8 },
    #[error("roster signature by {0} does not verify")]
    BadSignature(PublicKey),
    #[error("roster version {offered} is not newer than the current version {current}")]
    NotNewer { offered: u64, current: u64 },
    #[error("roster is for federation `{offered}`, this node belongs to `{expected}`")]
    WrongFederation { offered: String, expected: String },
    #[error("roster is malformed: {0}")]
    Malformed(String),
    #[error("the trusted authorities cannot vouch for any roster: {0}")]
    UnusableAuthorities(String),
}

impl Authorities {
    /// What makes a set of authorities usable, as a roster's next signers or as a trust
    /// anchor: a threshold from 1 to the number of keys, and no key listed twice. A threshold
    /// of 0 would let an unsigned roster through.
    pub fn check(&self) -> Result<(), String> {
        if self.threshold == 0 || usize::from(self.threshold) > self.keys.len() {
            return Err(format!(
                "threshold {} is impossible with {} authority key(s)",
                self.threshold,
                self.keys.len()
            ));
        }
        let distinct: BTreeSet<_> = self.keys.iter().map(|k| k.key).collect();
        if distinct.len() != self.keys.len() {
            return Err("an authority key is listed twice".into());
        }
        Ok(())
    }
}

impl Roster {
    /// The exact bytes authorities sign: context string then the postcard encoding.
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = ROSTER_CONTEXT.to_vec();
        out.extend(postcard::to_stdvec(self).expect("roster encodes"));
        out
    }

    /// The first member listed with `id`. Indexed in rosters of thousands (`member_index`).
    pub fn member(&self, id: &InstitutionId) -> Option<&Member> {
        crate::member_index::by_id(&self.members, id)
    }

    /// The first member listed with signing key `key`.
    pub fn member_by_key(&self, key: &PublicKey) -> Option<&Member> {
        crate::member_index::by_key(&self.members, key)
    }

    /// Every key under which `id`'s case events verify: its current signing key, if it is a
    /// member, then the former keys the roster keeps for it.
    pub fn case_event_keys(&self, id: &InstitutionId) -> Vec<PublicKey> {
        let current = self.member(id).map(|m| m.signing_key);
        let former = self
            .former_keys
            .iter()
            .filter(|f| &f.institution == id)
            .map(|f| f.signing_key);
        current.into_iter().chain(former).collect()
    }

    /// Moves the signing key of member `id` to the key history, as of this (draft) version:
    /// called when the member is removed or its key replaced.
    pub fn retire_signing_key(&mut self, id: &InstitutionId) {
        if let Some(m) = self.member(id) {
            let key = m.signing_key;
            if !self.former_keys.iter().any(|f| f.signing_key == key) {
                self.former_keys.push(FormerKey {
                    institution: id.clone(),
                    signing_key: key,
                    retired_in: self.version,
                });
            }
        }
    }

    /// Every key under which checkpoints of `id`'s log verify for an auditor: its current log
    /// key, if it is a member, then the former log keys the roster keeps for it.
    pub fn log_keys(&self, id: &InstitutionId) -> Vec<PublicKey> {
        let current = self.member(id).map(|m| m.log_key);
        let former = self
            .former_log_keys
            .iter()
            .filter(|f| &f.institution == id)
            .map(|f| f.log_key);
        current.into_iter().chain(former).collect()
    }

    /// Moves the log key of member `id` to the log key history, as of this (draft) version:
    /// called when the member is removed or its log key replaced.
    pub fn retire_log_key(&mut self, id: &InstitutionId) {
        if let Some(m) = self.member(id) {
            let key = m.log_key;
            if !self.former_log_keys.iter().any(|f| f.log_key == key) {
                self.former_log_keys.push(FormerLogKey {
                    institution: id.clone(),
                    log_key: key,
                    retired_in: self.version,
                });
            }
        }
    }

    /// How many days a summary received for `purpose` is kept (spec §7.10).
    pub fn retention_days(&self, purpose: &Purpose) -> u32 {
        self.retention
            .iter()
            .find(|r| &r.purpose == purpose)
            .map_or(DEFAULT_RETENTION_DAYS, |r| r.days)
    }

    /// Whether the policy lets `sector` receive every one of `categories` for `purpose`.
    pub fn policy_allows(
        &self,
        sector: &Sector,
        purpose: &Purpose,
        categories: &[Category],
    ) -> bool {
        categories.iter().all(|c| {
            self.policy
                .iter()
                .any(|r| &r.sector == sector && &r.purpose == purpose && r.categories.contains(c))
        })
    }

    /// Structural checks every node applies before trusting a roster.
    pub fn check_well_formed(&self) -> Result<(), RosterError> {
        let bad = |m: String| Err(RosterError::Malformed(m));
        if !valid_federation_name(&self.federation) {
            return bad(
                "federation name must be 1 to 64 characters from a-z, 0-9, `-` and `.`".into(),
            );
        }
        self.authorities.check().map_err(RosterError::Malformed)?;
        let mut ids = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for m in &self.members {
            if !ids.insert(&m.id) {
                return bad(format!("member {} is listed twice", m.id));
            }
            for k in [m.signing_key, m.encryption_key, m.log_key, m.witness_key] {
                if !keys.insert(k) {
                    return bad(format!("member {} reuses a key listed elsewhere", m.id));
                }
            }
            // A checkpoint note carries the log's signature and one line per witness; verifiers
            // need accept no more than 16 signatures.
            let distinct: BTreeSet<_> = m.witnesses.iter().collect();
            if distinct.len() != m.witnesses.len() {
                return bad(format!("member {} names a witness twice", m.id));
            }
            if m.witnesses.len() > MAX_WITNESSES {
                return bad(format!(
                    "member {} names more than {MAX_WITNESSES} witnesses",
                    m.id
                ));
            }
            if usize::from(m.witness_quorum) > m.witnesses.len() {
                return bad(format!(
                    "member {} needs {} cosignature(s) but names {} witness(es)",
                    m.id,
                    m.witness_quorum,
                    m.witnesses.len()
                ));
            }
            if m.address.parse::<std::net::SocketAddr>().is_err() && !m.address.contains(':') {
                return bad(format!(
                    "member {} has no port in address `{}`",
                    m.id, m.address
                ));
            }
        }
        // A key belongs to one institution for good: a former key is nobody's current key, and
        // is listed once, so an event verifies as one author's or not at all.
        let mut former = BTreeSet::new();
        for f in &self.former_keys {
            if keys.contains(&f.signing_key) || !former.insert(f.signing_key) {
                return bad(format!(
                    "former key of {} is listed twice or is a current key",
                    f.institution
                ));
            }
            if f.retired_in > self.version {
                return bad(format!(
                    "former key of {} is retired in version {}, after this one",
                    f.institution, f.retired_in
                ));
            }
        }
        let mut purposes = BTreeSet::new();
        for r in &self.retention {
            if !purposes.insert(&r.purpose) {
                return bad(format!(
                    "retention of purpose {} is listed twice",
                    r.purpose
                ));
            }
            if r.days == 0 || r.days > MAX_RETENTION_DAYS {
                return bad(format!(
                    "retention of purpose {} must be 1 to {MAX_RETENTION_DAYS} days",
                    r.purpose
                ));
            }
        }
        let mut former_log = BTreeSet::new();
        for f in &self.former_log_keys {
            if keys.contains(&f.log_key) || !former_log.insert(f.log_key) {
                return bad(format!(
                    "former log key of {} is listed twice or is a current key",
                    f.institution
                ));
            }
            if f.retired_in > self.version {
                return bad(format!(
                    "former log key of {} is retired in version {}, after this one",
                    f.institution, f.retired_in
                ));
            }
        }
        for m in &self.members {
            if let Some(w) = m
                .witnesses
                .iter()
                .find(|w| self.member(w).is_none() || *w == &m.id)
            {
                return bad(format!(
                    "member {} names {w} as witness, which is not another member",
                    m.id
                ));
            }
        }
        if let Some(s) = &self.statistics {
            s.check().map_err(RosterError::Malformed)?;
            if let Some(d) = &s.dashboard
                && self.member(d).is_none()
            {
                return bad(format!(
                    "the statistics dashboard {d} is not a member of the roster"
                ));
            }
        }
        Ok(())
    }
}

impl SignedRoster {
    pub fn sign(roster: Roster, keys: &[&SigningKey]) -> SignedRoster {
        let mut signed = SignedRoster {
            roster,
            signatures: Vec::new(),
        };
        for k in keys {
            signed.add_signature(k);
        }
        signed
    }

    /// Adds (or replaces) one authority's signature.
    pub fn add_signature(&mut self, key: &SigningKey) {
        let input = self.roster.signing_input();
        let public = key.public();
        self.signatures.retain(|s| s.authority != public);
        self.signatures.push(RosterSignature {
            authority: public,
            signature: key.sign(&input),
        });
    }

    /// Verifies the roster under a set of trusted authorities: at least `threshold` distinct
    /// listed keys must have signed. A signature by a listed key that fails is an error even if
    /// the threshold is met otherwise, so a corrupted file is never silently accepted.
    pub fn verify(&self, trusted: &Authorities) -> Result<(), RosterError> {
        self.verify_checked(trusted, &Strict)
    }

    /// [`Self::verify`], the authorities' signatures judged by `check`.
    pub fn verify_checked(
        &self,
        trusted: &Authorities,
        check: &dyn SignatureCheck,
    ) -> Result<(), RosterError> {
        trusted.check().map_err(RosterError::UnusableAuthorities)?;
        self.roster.check_well_formed()?;
        let input = self.roster.signing_input();
        let mut valid = BTreeSet::new();
        for s in &self.signatures {
            if !trusted.keys.iter().any(|a| a.key == s.authority) {
                continue; // unknown keys are ignored, like signed-note verifiers do
            }
            if !check.holds(&s.authority, &input, &s.signature) {
                return Err(RosterError::BadSignature(s.authority));
            }
            valid.insert(s.authority);
        }
        if valid.len() < usize::from(trusted.threshold) {
            return Err(RosterError::BelowThreshold {
                valid: valid.len(),
                threshold: trusted.threshold,
            });
        }
        Ok(())
    }

    /// Accepts `self` as the successor of `current`: same federation, strictly newer version,
    /// signed by the threshold of the authorities named in `current`.
    pub fn verify_successor(&self, current: &Roster) -> Result<(), RosterError> {
        self.verify_successor_checked(current, &Strict)
    }

    /// [`Self::verify_successor`], the authorities' signatures judged by `check`.
    pub fn verify_successor_checked(
        &self,
        current: &Roster,
        check: &dyn SignatureCheck,
    ) -> Result<(), RosterError> {
        if self.roster.federation != current.federation {
            return Err(RosterError::WrongFederation {
                offered: self.roster.federation.clone(),
                expected: current.federation.clone(),
            });
        }
        if self.roster.version <= current.version {
            return Err(RosterError::NotNewer {
                offered: self.roster.version,
                current: current.version,
            });
        }
        self.verify_checked(&current.authorities, check)
    }

    /// SHA-256 of the signing input: how logs and status output name a roster version.
    pub fn digest(&self) -> [u8; 32] {
        crate::keys::sha256(&[&self.roster.signing_input()])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample(authorities: &[&SigningKey], threshold: u8) -> Roster {
        Roster {
            federation: "ne-cii".into(),
            version: 1,
            issued_at: 1_700_000_000,
            authorities: Authorities {
                threshold,
                keys: authorities
                    .iter()
                    .enumerate()
                    .map(|(i, k)| Authority {
                        name: format!("steering-{i}"),
                        key: k.public(),
                    })
                    .collect(),
            },
            members: vec![Member {
                id: "ne.orp".parse().unwrap(),
                name: "Office régional de placement".into(),
                sector: "employment".parse().unwrap(),
                address: "127.0.0.1:7101".into(),
                signing_key: SigningKey::from_seed([10; 32]).public(),
                encryption_key: PublicKey([11; 32]),
                log_key: PublicKey([12; 32]),
                witness_key: PublicKey([13; 32]),
                witnesses: vec![],
                witness_quorum: 0,
            }],
            policy: vec![PolicyRule {
                sector: "employment".parse().unwrap(),
                purpose: "coordinated-assessment".parse().unwrap(),
                categories: vec![Category::Employment],
            }],
            former_keys: vec![],
            retention: vec![],
            former_log_keys: vec![],
            statistics: None,
        }
    }

    /// ne.orp's first key retired in version 2, and a removed member's key with it.
    fn with_history(authorities: &[&SigningKey]) -> Roster {
        let mut r = sample(authorities, 1);
        r.version = 2;
        r.retire_signing_key(&"ne.orp".parse().unwrap());
        r.members[0].signing_key = SigningKey::from_seed([20; 32]).public();
        r.former_keys.push(FormerKey {
            institution: "ne.caritas".parse().unwrap(),
            signing_key: SigningKey::from_seed([30; 32]).public(),
            retired_in: 2,
        });
        r
    }

    #[test]
    fn case_events_verify_under_current_and_former_keys() {
        let a = SigningKey::from_seed([1; 32]);
        let r = with_history(&[&a]);
        assert!(r.check_well_formed().is_ok());
        let orp: InstitutionId = "ne.orp".parse().unwrap();
        assert_eq!(
            r.case_event_keys(&orp),
            vec![
                SigningKey::from_seed([20; 32]).public(),
                SigningKey::from_seed([10; 32]).public()
            ]
        );
        assert_eq!(r.former_keys[0].retired_in, 2);
        // A removed member's key verifies its past events but makes it no member.
        let caritas: InstitutionId = "ne.caritas".parse().unwrap();
        assert_eq!(
            r.case_event_keys(&caritas),
            vec![SigningKey::from_seed([30; 32]).public()]
        );
        assert!(r.member(&caritas).is_none());
        assert!(r.case_event_keys(&"ne.smig".parse().unwrap()).is_empty());
        // Retiring twice keeps one entry.
        let mut again = r.clone();
        again.members[0].signing_key = SigningKey::from_seed([10; 32]).public();
        again.retire_signing_key(&orp);
        assert!(
            again.check_well_formed().is_err(),
            "a former key cannot be current again"
        );
    }

    #[test]
    fn key_history_is_well_formed() {
        let a = SigningKey::from_seed([1; 32]);
        let mut twice = with_history(&[&a]);
        twice.former_keys.push(twice.former_keys[1].clone());
        assert!(twice.check_well_formed().is_err());
        let mut early = with_history(&[&a]);
        early.former_keys[1].retired_in = 3;
        assert!(early.check_well_formed().is_err());
        // The history is signed like the rest of the roster.
        let mut s = SignedRoster::sign(with_history(&[&a]), &[&a]);
        assert!(s.verify(&s.roster.authorities.clone()).is_ok());
        s.roster.former_keys.pop();
        assert!(s.verify(&s.roster.authorities.clone()).is_err());
    }

    /// A replaced log key stays in the log key history, for auditors; it is nobody's current
    /// key and is listed once.
    #[test]
    fn log_key_history_is_kept_and_well_formed() {
        let a = SigningKey::from_seed([1; 32]);
        let orp: InstitutionId = "ne.orp".parse().unwrap();
        let mut r = sample(&[&a], 1);
        r.version = 2;
        r.retire_log_key(&orp);
        r.retire_log_key(&orp);
        r.members[0].log_key = PublicKey([22; 32]);
        assert!(r.check_well_formed().is_ok());
        assert_eq!(
            r.log_keys(&orp),
            vec![PublicKey([22; 32]), PublicKey([12; 32])]
        );
        assert_eq!(r.former_log_keys.len(), 1, "retiring twice keeps one entry");
        assert_eq!(r.former_log_keys[0].retired_in, 2);
        let mut current = r.clone();
        current.members[0].log_key = PublicKey([12; 32]);
        assert!(
            current.check_well_formed().is_err(),
            "a former log key cannot be current"
        );
        let mut early = r.clone();
        early.former_log_keys[0].retired_in = 3;
        assert!(early.check_well_formed().is_err());
        let mut s = SignedRoster::sign(r, &[&a]);
        assert!(s.verify(&s.roster.authorities.clone()).is_ok());
        s.roster.former_log_keys.clear();
        assert!(
            s.verify(&s.roster.authorities.clone()).is_err(),
            "the history is signed"
        );
    }

    /// A roster file written before the key history existed still reads, with none.
    #[test]
    fn text_form_without_key_history_reads() {
        let a = SigningKey::from_seed([1; 32]);
        let mut value = serde_json::to_value(sample(&[&a], 1)).unwrap();
        value.as_object_mut().unwrap().remove("former_keys");
        value.as_object_mut().unwrap().remove("former_log_keys");
        let r: Roster = serde_json::from_value(value).unwrap();
        assert!(r.former_keys.is_empty() && r.former_log_keys.is_empty());
    }

    #[test]
    fn threshold_is_enforced() {
        let ks: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_seed([i; 32])).collect();
        let r = sample(&[&ks[0], &ks[1], &ks[2]], 2);
        let trusted = r.authorities.clone();
        let one = SignedRoster::sign(r.clone(), &[&ks[0]]);
        assert!(matches!(
            one.verify(&trusted),
            Err(RosterError::BelowThreshold {
                valid: 1,
                threshold: 2
            })
        ));
        let two = SignedRoster::sign(r.clone(), &[&ks[0], &ks[2]]);
        assert!(two.verify(&trusted).is_ok());
        // The same key twice is one signature.
        let dup = SignedRoster::sign(r.clone(), &[&ks[0], &ks[0]]);
        assert!(dup.verify(&trusted).is_err());
        // An outsider's signature does not count.
        let outsider = SigningKey::from_seed([99; 32]);
        let out = SignedRoster::sign(r.clone(), &[&ks[0], &outsider]);
        assert!(out.verify(&trusted).is_err());
        // An anchor that asks for no signature, or counts one key twice, vouches for nothing:
        // not even for a roster its keys signed.
        for anchor in [
            Authorities {
                threshold: 0,
                ..trusted.clone()
            },
            Authorities {
                threshold: 2,
                keys: vec![trusted.keys[0].clone(), trusted.keys[0].clone()],
            },
        ] {
            assert!(matches!(
                two.verify(&anchor),
                Err(RosterError::UnusableAuthorities(_))
            ));
            assert!(SignedRoster::sign(r.clone(), &[]).verify(&anchor).is_err());
        }
    }

    /// Text forms refuse keys they do not know, so a misspelt optional key is not ignored.
    #[test]
    fn unknown_keys_are_refused_in_text_forms() {
        let ks: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_seed([i; 32])).collect();
        let mut r = sample(&[&ks[0], &ks[1], &ks[2]], 2);
        r.former_keys = with_history(&[&ks[0]]).former_keys[1..].to_vec();
        let r = SignedRoster::sign(r, &[&ks[0], &ks[1]]);
        let value = serde_json::to_value(&r).unwrap();
        assert_eq!(
            serde_json::from_value::<SignedRoster>(value.clone()).unwrap(),
            r
        );
        for pointer in [
            "",
            "/roster",
            "/roster/authorities",
            "/roster/authorities/keys/0",
            "/roster/members/0",
            "/roster/policy/0",
            "/roster/former_keys/0",
            "/signatures/0",
        ] {
            let mut bad = value.clone();
            bad.pointer_mut(pointer)
                .and_then(|v| v.as_object_mut())
                .unwrap_or_else(|| panic!("{pointer}"))
                .insert("comment".into(), "x".into());
            assert!(
                serde_json::from_value::<SignedRoster>(bad).is_err(),
                "{pointer}"
            );
        }
    }

    #[test]
    fn tampering_breaks_signatures() {
        let ks: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_seed([i; 32])).collect();
        let r = sample(&[&ks[0], &ks[1], &ks[2]], 2);
        let mut s = SignedRoster::sign(r.clone(), &[&ks[0], &ks[1]]);
        s.roster.policy[0].categories.push(Category::Health);
        assert!(matches!(
            s.verify(&r.authorities),
            Err(RosterError::BadSignature(_))
        ));
    }

    #[test]
    fn names_and_witness_lists_are_bounded() {
        let ks: Vec<SigningKey> = (1..=2).map(|i| SigningKey::from_seed([i; 32])).collect();
        let mut r = sample(&[&ks[0], &ks[1]], 2);
        r.federation = "ne cii".into();
        assert!(
            r.check_well_formed().is_err(),
            "a space would break checkpoint origins"
        );
        r.federation = "ne+cii".into();
        assert!(r.check_well_formed().is_err());
        r.federation = "ne-cii".into();
        assert!(r.check_well_formed().is_ok());
        r.members[0].witnesses = vec![r.members[0].id.clone()];
        assert!(
            r.check_well_formed().is_err(),
            "a member cannot witness itself"
        );
    }

    #[test]
    fn successor_must_be_newer() {
        let ks: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_seed([i; 32])).collect();
        let r = sample(&[&ks[0], &ks[1], &ks[2]], 2);
        let same = SignedRoster::sign(r.clone(), &[&ks[0], &ks[1]]);
        assert!(matches!(
            same.verify_successor(&r),
            Err(RosterError::NotNewer { .. })
        ));
        let mut next = r.clone();
        next.version = 2;
        let next = SignedRoster::sign(next, &[&ks[1], &ks[2]]);
        assert!(next.verify_successor(&r).is_ok());
    }

    #[test]
    fn toml_text_form_keeps_the_signature_valid() {
        let ks: Vec<SigningKey> = (1..=2).map(|i| SigningKey::from_seed([i; 32])).collect();
        let r = sample(&[&ks[0], &ks[1]], 2);
        let s = SignedRoster::sign(r.clone(), &[&ks[0], &ks[1]]);
        let text = toml_like_roundtrip(&s);
        assert!(text.verify(&r.authorities).is_ok());
    }

    fn toml_like_roundtrip(s: &SignedRoster) -> SignedRoster {
        let json = serde_json::to_string(s).unwrap();
        serde_json::from_str(&json).unwrap()
    }
}
