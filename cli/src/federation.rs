//! Steering-group commands: authority keys, roster drafting, threshold signing.

use crate::files::{write_private, write_public};
use anyhow::{Context, bail};
use protocol_spec::category::Category;
use protocol_spec::ids::{InstitutionId, Purpose, Sector};
use protocol_spec::keys::SigningKey;
use protocol_spec::roster::{Authorities, Authority, Member, PolicyRule, Roster, SignedRoster};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `federation.toml`: the public trust anchor every node is configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationFile {
    pub name: String,
    pub authorities: Authorities,
}

pub fn load_federation(path: &Path) -> anyhow::Result<FederationFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read federation file {}", path.display()))?;
    let f: FederationFile = toml::from_str(&text)
        .with_context(|| format!("federation file {} is invalid", path.display()))?;
    // The same checks as a node's [federation] table: a threshold of 0 would let an audit
    // accept an unsigned roster.
    daemon::config::FederationAnchor {
        name: f.name.clone(),
        authorities: f.authorities.clone(),
    }
    .check()
    .with_context(|| format!("federation file {} cannot be used", path.display()))?;
    Ok(f)
}

pub fn load_roster(path: &Path) -> anyhow::Result<SignedRoster> {
    daemon::config::load_roster(path)
}

pub fn save_roster(path: &Path, roster: &SignedRoster) -> anyhow::Result<()> {
    let text = format!(
        "# Passerelle federation roster `{}`, version {}.\n\
         # Edit with `passerelle federation …`; any edit clears the signatures, which must then\n\
         # be collected again from a threshold of steering-group authorities.\n{}",
        roster.roster.federation,
        roster.roster.version,
        toml::to_string(roster).context("encoding roster")?
    );
    write_public(path, text.as_bytes())
}

pub struct InitOutput {
    pub federation: PathBuf,
    pub roster: PathBuf,
    pub keys: Vec<PathBuf>,
}

/// Creates authority keys, the federation anchor and an empty version-1 roster draft.
pub fn init(
    dir: &Path,
    name: &str,
    authorities: u8,
    threshold: u8,
    now: u64,
) -> anyhow::Result<InitOutput> {
    if threshold == 0 || threshold > authorities {
        bail!("threshold {threshold} is impossible with {authorities} authority key(s)");
    }
    if !protocol_spec::roster::valid_federation_name(name) {
        bail!("federation name `{name}` must be 1 to 64 characters from a-z, 0-9, `-` and `.`");
    }
    let federation = dir.join("federation.toml");
    if federation.exists() {
        bail!("{} already exists", federation.display());
    }
    let mut keys = Vec::new();
    let mut list = Vec::new();
    for i in 1..=authorities {
        let k = SigningKey::from_seed(daemon::clock::random());
        let path = dir.join(format!("authority-{i}.key"));
        write_private(&path, k.to_file().as_bytes())?;
        list.push(Authority {
            name: format!("authority-{i}"),
            key: k.public(),
        });
        keys.push(path);
    }
    let anchor = FederationFile {
        name: name.to_string(),
        authorities: Authorities {
            threshold,
            keys: list,
        },
    };
    let text = format!(
        "# Passerelle federation `{name}`: the steering group's public keys. Every node's config\n\
         # carries this anchor; a roster is valid when {threshold} of these keys signed it.\n{}",
        toml::to_string(&anchor)?
    );
    write_public(&federation, text.as_bytes())?;
    let roster = dir.join("roster.toml");
    let draft = SignedRoster {
        roster: Roster {
            federation: name.to_string(),
            version: 1,
            issued_at: now,
            authorities: anchor.authorities.clone(),
            members: vec![],
            policy: vec![],
            former_keys: vec![],
            former_log_keys: vec![],
            retention: vec![],
            statistics: None,
        },
        signatures: vec![],
    };
    save_roster(&roster, &draft)?;
    Ok(InitOutput {
        federation,
        roster,
        keys,
    })
}

/// Applies an edit to a roster file; signatures are cleared because they no longer hold.
pub fn edit(
    path: &Path,
    now: u64,
    f: impl FnOnce(&mut Roster) -> anyhow::Result<()>,
) -> anyhow::Result<SignedRoster> {
    edit_checked(path, now, f).map(|(r, _)| r)
}

/// [`edit`], with a warning when the edit changed a signed version in place: nodes adopt only
/// a newer version, so once that version is installed anywhere the edit can never take effect.
pub fn edit_checked(
    path: &Path,
    now: u64,
    f: impl FnOnce(&mut Roster) -> anyhow::Result<()>,
) -> anyhow::Result<(SignedRoster, Option<String>)> {
    let mut r = load_roster(path)?;
    let (version, signatures) = (r.roster.version, r.signatures.len());
    f(&mut r.roster)?;
    r.roster.issued_at = now;
    r.roster.check_well_formed()?;
    r.signatures.clear();
    save_roster(path, &r)?;
    let warning = (signatures > 0 && r.roster.version == version).then(|| {
        format!(
            "version {version} was signed ({signatures} signature(s)); this edit changed it in \
             place and cleared its signatures. Nodes adopt only a newer version: if version \
             {version} is installed anywhere, start the next one first (`passerelle federation \
             new-version`) and edit that"
        )
    });
    Ok((r, warning))
}

pub fn load_member(path: &Path) -> anyhow::Result<Member> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read member file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("member file {} is invalid", path.display()))
}

pub fn add_member(roster: &mut Roster, member: Member) -> anyhow::Result<()> {
    if roster.member(&member.id).is_some() {
        bail!(
            "{} is already a member; remove it first to change its entry",
            member.id
        );
    }
    // A key taken back into use is current again, not history.
    roster
        .former_keys
        .retain(|f| f.signing_key != member.signing_key);
    roster
        .former_log_keys
        .retain(|f| f.log_key != member.log_key);
    roster.members.push(member);
    Ok(())
}

/// What to do about the logs a removed member witnessed, when fewer witnesses than their
/// quorum would remain.
#[derive(Debug, Clone, Default)]
pub struct WitnessFallback {
    /// Another member that takes over as witness of every log the removed member witnessed.
    pub replacement: Option<InstitutionId>,
    /// Lower each such log's quorum to the witnesses it keeps.
    pub lower_quorum: bool,
}

/// Removes a member; its signing and log keys go to the roster's key history, so the case
/// events it signed and the checkpoints of its log stay verifiable (spec §5.1). It also stops
/// witnessing the others' logs: a log left with fewer witnesses than its quorum is refused
/// unless `fallback` names a replacement witness or accepts a lower quorum.
pub fn remove_member(
    roster: &mut Roster,
    id: &InstitutionId,
    fallback: &WitnessFallback,
) -> anyhow::Result<()> {
    if roster.member(id).is_none() {
        bail!("{id} is not a member");
    }
    if let Some(r) = &fallback.replacement {
        if r == id {
            bail!("{id} cannot replace itself as witness");
        }
        if roster.member(r).is_none() {
            bail!("the replacement witness {r} is not a member");
        }
    }
    roster.retire_signing_key(id);
    roster.retire_log_key(id);
    roster.members.retain(|m| &m.id != id);
    for m in &mut roster.members {
        if !m.witnesses.contains(id) {
            continue;
        }
        m.witnesses.retain(|w| w != id);
        if let Some(r) = &fallback.replacement
            && r != &m.id
            && !m.witnesses.contains(r)
        {
            m.witnesses.push(r.clone());
        }
        if usize::from(m.witness_quorum) > m.witnesses.len() {
            if !fallback.lower_quorum {
                bail!(
                    "removing {id} leaves the log of {} with {} witness(es), below its quorum of \
                     {}: name another member to witness it instead (--replacement-witness ID), \
                     accept a lower quorum (--lower-quorum), or set its witnesses first \
                     (`passerelle federation witnesses`)",
                    m.id,
                    m.witnesses.len(),
                    m.witness_quorum
                );
            }
            m.witness_quorum = m.witnesses.len() as u8;
        }
    }
    Ok(())
}

/// Gives member `new.id` the keys of `new` (a `member.next.toml` from `node rotate-keys`),
/// keeping its name, sector, address and witness policy. Replaced signing and log keys go to
/// the roster's key history (spec §5.1).
pub fn rotate_member(roster: &mut Roster, new: &Member) -> anyhow::Result<Vec<&'static str>> {
    let Some(old) = roster.member(&new.id).cloned() else {
        bail!(
            "{} is not a member; a new member is added with `federation add-member`",
            new.id
        );
    };
    let changed: Vec<&'static str> = [
        ("signing", old.signing_key != new.signing_key),
        ("encryption", old.encryption_key != new.encryption_key),
        ("log", old.log_key != new.log_key),
        ("witness", old.witness_key != new.witness_key),
    ]
    .into_iter()
    .filter_map(|(k, c)| c.then_some(k))
    .collect();
    if changed.is_empty() {
        bail!(
            "the member file for {} lists the keys the roster already has: nothing to rotate",
            new.id
        );
    }
    if old.signing_key != new.signing_key {
        roster.retire_signing_key(&new.id);
    }
    if old.log_key != new.log_key {
        roster.retire_log_key(&new.id);
    }
    let m = roster
        .members
        .iter_mut()
        .find(|m| m.id == new.id)
        .expect("checked above");
    m.signing_key = new.signing_key;
    m.encryption_key = new.encryption_key;
    m.log_key = new.log_key;
    m.witness_key = new.witness_key;
    Ok(changed)
}

pub fn allow(roster: &mut Roster, sector: Sector, purpose: Purpose, mut categories: Vec<Category>) {
    categories.sort();
    categories.dedup();
    if let Some(rule) = roster
        .policy
        .iter_mut()
        .find(|r| r.sector == sector && r.purpose == purpose)
    {
        rule.categories.extend(categories);
        rule.categories.sort();
        rule.categories.dedup();
    } else {
        roster.policy.push(PolicyRule {
            sector,
            purpose,
            categories,
        });
    }
}

/// What in the roster looks like a typo: sectors and purposes are the federation's own
/// vocabulary, so a policy rule for a sector no member has, or a retention for a purpose no
/// rule grants, is accepted but most likely a slip.
pub fn vocabulary_warnings(roster: &Roster) -> Vec<String> {
    warnings_after(roster, None)
}

/// [`vocabulary_warnings`] after `removed` left the roster: a sector it was the last member of
/// is no typo, and is named as what it is.
pub fn warnings_after(roster: &Roster, removed: Option<&Member>) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for rule in &roster.policy {
        if !roster.members.iter().any(|m| m.sector == rule.sector) && seen.insert(&rule.sector) {
            out.push(match removed.filter(|m| m.sector == rule.sector) {
                Some(m) => format!(
                    "{} was the last member of sector `{}`: the policy's rules for that sector \
                     grant nothing until another member of it joins",
                    m.id, rule.sector
                ),
                None => format!(
                    "the policy names sector `{}`, which no member has (yet): check the spelling",
                    rule.sector
                ),
            });
        }
    }
    for r in &roster.retention {
        if !roster.policy.iter().any(|p| p.purpose == r.purpose) {
            out.push(format!(
                "a retention is set for purpose `{}`, which no policy rule grants: check the spelling",
                r.purpose
            ));
        }
    }
    out
}

/// Sets a member's witness policy: which other members cosign its log, and the quorum.
pub fn set_witnesses(
    roster: &mut Roster,
    id: &InstitutionId,
    witnesses: Vec<InstitutionId>,
    quorum: u8,
) -> anyhow::Result<()> {
    let m = roster
        .members
        .iter_mut()
        .find(|m| &m.id == id)
        .ok_or_else(|| anyhow::anyhow!("{id} is not a member"))?;
    m.witnesses = witnesses;
    m.witness_quorum = quorum;
    Ok(())
}

pub fn sign(path: &Path, key_path: &Path) -> anyhow::Result<SignedRoster> {
    let text = crate::files::read_private(key_path, "authority key")?;
    let key = SigningKey::from_file(&text)
        .with_context(|| format!("authority key {} is invalid", key_path.display()))?;
    let mut r = load_roster(path)?;
    // The signer must be one of the authorities that vouch for this version: those named in it
    // (for the first version) or in the previous one, which the node checks.
    if !r
        .roster
        .authorities
        .keys
        .iter()
        .any(|a| a.key == key.public())
    {
        bail!(
            "key {} is not one of this roster's authorities",
            key_path.display()
        );
    }
    r.add_signature(&key);
    save_roster(path, &r)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_spec::keys::PublicKey;

    fn member(id: &str, seed: u8) -> Member {
        Member {
            id: id.parse().unwrap(),
            name: id.into(),
            sector: "employment".parse().unwrap(),
            address: "127.0.0.1:7101".into(),
            signing_key: SigningKey::from_seed([seed; 32]).public(),
            encryption_key: PublicKey([seed; 32]),
            log_key: PublicKey([seed + 1; 32]),
            witness_key: PublicKey([seed + 2; 32]),
            witnesses: vec![],
            witness_quorum: 0,
        }
    }

    /// Removing a member, or replacing its keys, keeps its old signing key in the history the
    /// next versions carry; taking a key back into use moves it out of the history.
    #[test]
    fn removal_and_key_replacement_keep_the_key_history() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "ne-cii", 1, 1, 1).unwrap();
        let path = dir.path().join("roster.toml");
        edit(&path, 2, |r| {
            add_member(r, member("ne.orp", 10))?;
            add_member(r, member("ne.oai", 20))
        })
        .unwrap();
        edit(&path, 3, |r| {
            r.version = 2;
            remove_member(r, &"ne.oai".parse().unwrap(), &WitnessFallback::default())?;
            remove_member(r, &"ne.orp".parse().unwrap(), &WitnessFallback::default())?;
            add_member(r, member("ne.orp", 30))
        })
        .unwrap();
        let r = edit(&path, 4, |r| {
            r.version = 3;
            Ok(())
        })
        .unwrap()
        .roster;
        let history: Vec<_> = r
            .former_keys
            .iter()
            .map(|f| (f.institution.as_str(), f.signing_key, f.retired_in))
            .collect();
        let key = |seed| SigningKey::from_seed([seed; 32]).public();
        assert_eq!(
            history,
            vec![("ne.oai", key(20), 2), ("ne.orp", key(10), 2)]
        );
        assert_eq!(
            r.case_event_keys(&"ne.orp".parse().unwrap()),
            vec![key(30), key(10)]
        );
        let back = edit(&path, 5, |r| {
            remove_member(r, &"ne.orp".parse().unwrap(), &WitnessFallback::default())?;
            add_member(r, member("ne.orp", 10))
        })
        .unwrap()
        .roster;
        assert_eq!(
            back.case_event_keys(&"ne.orp".parse().unwrap()),
            vec![key(10), key(30)]
        );
    }

    /// A removed witness is taken out of every witness list; a log that would fall below its
    /// quorum is refused unless a replacement witness or a lower quorum is given.
    #[test]
    fn removing_a_witness_keeps_every_quorum_reachable() {
        let mut r = Roster {
            federation: "ne-cii".into(),
            version: 2,
            issued_at: 1,
            authorities: Authorities {
                threshold: 1,
                keys: vec![Authority {
                    name: "a".into(),
                    key: SigningKey::from_seed([1; 32]).public(),
                }],
            },
            members: vec![
                member("ne.orp", 10),
                member("ne.oai", 20),
                member("ne.sas", 30),
                member("ne.smig", 40),
            ],
            policy: vec![],
            former_keys: vec![],
            retention: vec![],
            former_log_keys: vec![],
            statistics: None,
        };
        let id = |s: &str| -> InstitutionId { s.parse().unwrap() };
        set_witnesses(&mut r, &id("ne.orp"), vec![id("ne.oai"), id("ne.sas")], 2).unwrap();
        set_witnesses(&mut r, &id("ne.oai"), vec![id("ne.sas")], 1).unwrap();
        let e = remove_member(&mut r.clone(), &id("ne.sas"), &WitnessFallback::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--replacement-witness") && e.contains("quorum of 2"),
            "{e}"
        );
        let bad = WitnessFallback {
            replacement: Some(id("ne.sas")),
            lower_quorum: false,
        };
        assert!(remove_member(&mut r.clone(), &id("ne.sas"), &bad).is_err());

        let mut replaced = r.clone();
        let smig = WitnessFallback {
            replacement: Some(id("ne.smig")),
            lower_quorum: false,
        };
        remove_member(&mut replaced, &id("ne.sas"), &smig).unwrap();
        assert!(replaced.check_well_formed().is_ok());
        let witnesses = |r: &Roster, m: &str| r.member(&id(m)).unwrap().witnesses.clone();
        assert_eq!(
            witnesses(&replaced, "ne.orp"),
            [id("ne.oai"), id("ne.smig")]
        );
        assert_eq!(witnesses(&replaced, "ne.oai"), [id("ne.smig")]);
        assert!(witnesses(&replaced, "ne.smig").is_empty(), "untouched");
        assert_eq!(replaced.log_keys(&id("ne.sas")), [PublicKey([31; 32])]);

        let mut lowered = r.clone();
        let lower = WitnessFallback {
            replacement: None,
            lower_quorum: true,
        };
        remove_member(&mut lowered, &id("ne.sas"), &lower).unwrap();
        let orp = lowered.member(&id("ne.orp")).unwrap();
        assert_eq!(
            (orp.witnesses.clone(), orp.witness_quorum),
            (vec![id("ne.oai")], 1)
        );
        let oai = lowered.member(&id("ne.oai")).unwrap();
        assert_eq!((oai.witnesses.len(), oai.witness_quorum), (0, 0));
    }

    /// A rotation replaces the four keys and keeps the member's policy; the old signing and log
    /// keys become history; a file with the same keys is refused.
    #[test]
    fn rotating_a_member_keeps_its_entry_and_its_key_history() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "ne-cii", 1, 1, 1).unwrap();
        let path = dir.path().join("roster.toml");
        edit(&path, 2, |r| {
            add_member(r, member("ne.orp", 10))?;
            add_member(r, member("ne.oai", 20))?;
            set_witnesses(
                r,
                &"ne.orp".parse().unwrap(),
                vec!["ne.oai".parse().unwrap()],
                1,
            )
        })
        .unwrap();
        let mut next = member("ne.orp", 50);
        next.address = "elsewhere:1".into();
        let r = edit(&path, 3, |r| {
            r.version = 2;
            assert_eq!(rotate_member(r, &next)?.len(), 4);
            Ok(())
        })
        .unwrap()
        .roster;
        let m = r.member(&"ne.orp".parse().unwrap()).unwrap();
        assert_eq!(m.signing_key, next.signing_key);
        assert_eq!(m.witness_key, next.witness_key);
        assert_eq!(m.address, "127.0.0.1:7101", "only the keys change");
        assert_eq!(m.witness_quorum, 1);
        let orp = "ne.orp".parse().unwrap();
        assert_eq!(r.case_event_keys(&orp).len(), 2);
        assert_eq!(r.log_keys(&orp), [PublicKey([51; 32]), PublicKey([11; 32])]);
        let same = edit(&path, 4, |r| rotate_member(r, &next).map(|_| ()));
        assert!(format!("{:#}", same.unwrap_err()).contains("nothing to rotate"));
        let stranger = edit(&path, 4, |r| {
            rotate_member(r, &member("ne.sas", 60)).map(|_| ())
        });
        assert!(format!("{:#}", stranger.unwrap_err()).contains("not a member"));
    }

    /// An anchor that needs no signature is refused, so `audit verify --federation` and
    /// `federation verify` never accept an unsigned roster through it.
    #[test]
    fn an_anchor_with_threshold_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("federation.toml");
        let key = SigningKey::from_seed([1; 32]).public();
        for (threshold, ok) in [(1, true), (0, false), (2, false)] {
            std::fs::write(
                &path,
                format!(
                    "name = \"ne-cii\"\n[authorities]\nthreshold = {threshold}\n\
                     [[authorities.keys]]\nname = \"authority-1\"\nkey = \"{key}\"\n"
                ),
            )
            .unwrap();
            assert_eq!(load_federation(&path).is_ok(), ok, "threshold {threshold}");
        }
    }

    #[test]
    fn a_sector_no_member_has_and_a_retention_no_rule_grants_are_flagged() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "ne-cii", 1, 1, 1).unwrap();
        let path = dir.path().join("roster.toml");
        let r = edit(&path, 2, |r| {
            add_member(r, member("ne.orp", 10))?;
            allow(
                r,
                "employment".parse().unwrap(),
                "action-plan".parse().unwrap(),
                vec![Category::Measures],
            );
            Ok(())
        })
        .unwrap()
        .roster;
        assert!(
            vocabulary_warnings(&r).is_empty(),
            "{:?}",
            vocabulary_warnings(&r)
        );
        let r = edit(&path, 3, |r| {
            allow(
                r,
                "employmnet".parse().unwrap(),
                "action-plan".parse().unwrap(),
                vec![Category::Measures],
            );
            r.retention.push(protocol_spec::roster::Retention {
                purpose: "action-pan".parse().unwrap(),
                days: 30,
            });
            Ok(())
        })
        .unwrap()
        .roster;
        let w = vocabulary_warnings(&r);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("`employmnet`") && w[1].contains("`action-pan`"),
            "{w:?}"
        );
    }

    /// Removing the last member of a sector says so, not "check the spelling".
    #[test]
    fn removing_a_sectors_last_member_is_not_called_a_typo() {
        let mut r = Roster {
            federation: "ne-cii".into(),
            version: 1,
            issued_at: 1,
            authorities: Authorities {
                threshold: 1,
                keys: vec![],
            },
            members: vec![member("ne.orp", 10)],
            policy: vec![],
            former_keys: vec![],
            retention: vec![],
            former_log_keys: vec![],
            statistics: None,
        };
        let mut sas = member("ne.sas", 20);
        sas.sector = "social-aid".parse().unwrap();
        add_member(&mut r, sas.clone()).unwrap();
        allow(
            &mut r,
            "social-aid".parse().unwrap(),
            "action-plan".parse().unwrap(),
            vec![Category::Measures],
        );
        remove_member(&mut r, &sas.id, &WitnessFallback::default()).unwrap();
        let w = warnings_after(&r, Some(&sas));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("ne.sas was the last member of sector `social-aid`")
                && !w[0].contains("spelling"),
            "{w:?}"
        );
        assert!(vocabulary_warnings(&r)[0].contains("check the spelling"));
    }

    /// An edit of a signed version warns that it changed that version in place; a new version
    /// (and an edit of an unsigned draft) does not.
    #[test]
    fn editing_a_signed_version_in_place_warns() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "ne-cii", 1, 1, 1).unwrap();
        let path = dir.path().join("roster.toml");
        let key = dir.path().join("authority-1.key");
        let (_, w) = edit_checked(&path, 2, |r| add_member(r, member("ne.orp", 10))).unwrap();
        assert_eq!(w, None, "an unsigned draft");
        sign(&path, &key).unwrap();
        let (r, w) = edit_checked(&path, 3, |r| {
            remove_member(r, &"ne.orp".parse().unwrap(), &WitnessFallback::default())
        })
        .unwrap();
        let w = w.expect("a signed version edited in place");
        assert!(
            w.contains("version 1 was signed") && w.contains("new-version"),
            "{w}"
        );
        assert!(r.signatures.is_empty());
        sign(&path, &key).unwrap();
        let (r, w) = edit_checked(&path, 4, |r| {
            r.version += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((w, r.roster.version), (None, 2));
    }
}
