//! `passerelle node rotate-keys`: replacing a node's keys in two steps around the steering
//! group's roster (README "Operations: key rotation", spec §15.6).
//!
//! 1. Prepare: new keys are written beside the current ones as `<key file>.next` (0600) and
//!    the member's new public entry as `member.next.toml`. The node's current keys stay in
//!    force (a running node keeps serving on them): the roster in force still lists them.
//! 2. Activate, once the steering group signed a roster listing the new keys: the roster is
//!    checked against the pending keys, the outgoing signing key endorses the incoming one
//!    (spec §4.4), the current key files move aside as `<key file>.retired-<unix time>`, the
//!    pending ones take their place, and the roster becomes the node's starting roster. The
//!    node uses them from its next start.

use crate::files::{create_private, write_public};
use anyhow::{Context, bail};
use daemon::config::{
    ConfigPaths, EndorsementsFile, NodeKeys, check_roster_for, endorsements_path,
    load_endorsements, read_secret, suffixed,
};
use protocol_spec::endorsement::KeyEndorsement;
use protocol_spec::keys::{EncryptionKey, SigningKey};
use protocol_spec::roster::Member;
use std::path::{Path, PathBuf};

/// One of a node's four keys (spec §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyKind {
    Signing,
    Encryption,
    Log,
    Witness,
}

impl KeyKind {
    pub const ALL: [KeyKind; 4] = [
        KeyKind::Signing,
        KeyKind::Encryption,
        KeyKind::Log,
        KeyKind::Witness,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Signing => "signing",
            KeyKind::Encryption => "encryption",
            KeyKind::Log => "log",
            KeyKind::Witness => "witness",
        }
    }

    fn path<'a>(&self, p: &'a ConfigPaths) -> &'a Path {
        match self {
            KeyKind::Signing => &p.signing_key,
            KeyKind::Encryption => &p.encryption_key,
            KeyKind::Log => &p.log_key,
            KeyKind::Witness => &p.witness_key,
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a pending key waits for the roster that lists it.
fn next_path(key: &Path) -> PathBuf {
    suffixed(key, ".next")
}

/// The member file a prepared rotation writes, beside `node.toml`.
pub fn member_next_path(config: &Path) -> PathBuf {
    config
        .parent()
        .unwrap_or(Path::new("."))
        .join("member.next.toml")
}

/// A node's four keys as read from files, private halves included.
struct KeySet {
    signing: SigningKey,
    encryption: EncryptionKey,
    log: SigningKey,
    witness: SigningKey,
}

impl KeySet {
    /// Each key from its pending file when `pending` says so and it exists, else from the key
    /// file itself.
    fn read(paths: &ConfigPaths, pending: bool) -> anyhow::Result<KeySet> {
        let pick = |kind: KeyKind| {
            let next = next_path(kind.path(paths));
            if pending && next.exists() {
                next
            } else {
                kind.path(paths).to_path_buf()
            }
        };
        let signing_key = |p: PathBuf| -> anyhow::Result<SigningKey> {
            SigningKey::from_file(&read_secret(&p)?)
                .with_context(|| format!("key file {} is invalid", p.display()))
        };
        let enc = pick(KeyKind::Encryption);
        Ok(KeySet {
            signing: signing_key(pick(KeyKind::Signing))?,
            encryption: EncryptionKey::from_file(&read_secret(&enc)?)
                .with_context(|| format!("key file {} is invalid", enc.display()))?,
            log: signing_key(pick(KeyKind::Log))?,
            witness: signing_key(pick(KeyKind::Witness))?,
        })
    }

    fn node_keys(&self) -> NodeKeys<'_> {
        NodeKeys {
            signing: &self.signing,
            encryption: &self.encryption,
            log: &self.log,
            witness: &self.witness,
        }
    }
}

pub struct Prepared {
    pub member: PathBuf,
    pub keys: Vec<(KeyKind, PathBuf)>,
    pub entry: Member,
}

/// Step 1: new keys for `kinds` (all four when empty) as `<key file>.next`, and the member's
/// entry listing them. Refused while a rotation is pending, so a prepared key is never lost.
pub fn prepare(config: &Path, kinds: &[KeyKind]) -> anyhow::Result<Prepared> {
    let paths = ConfigPaths::load(config)?;
    let mut kinds: Vec<KeyKind> = if kinds.is_empty() {
        KeyKind::ALL.to_vec()
    } else {
        kinds.to_vec()
    };
    kinds.sort();
    kinds.dedup();
    let pending: Vec<String> = KeyKind::ALL
        .iter()
        .map(|k| next_path(k.path(&paths)))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !pending.is_empty() {
        bail!(
            "a key rotation is already pending ({}): activate it with `passerelle node \
             rotate-keys --activate --roster FILE` once the steering group signed the roster \
             listing the new keys, or delete those files to abandon it",
            pending.join(", ")
        );
    }
    // The entry as the node's starting roster lists it, checked as the node checks it.
    let current = daemon::config::NodeConfig::load(config)
        .context("the node's configuration must load before its keys are rotated")?;
    let mut entry = current
        .member_entry()
        .context("the node's roster does not list it")?;
    let mut written = Vec::new();
    for kind in &kinds {
        let next = next_path(kind.path(&paths));
        let (file, public) = match kind {
            KeyKind::Encryption => {
                let k = EncryptionKey::from_secret(daemon::clock::random());
                (k.to_file(), k.public())
            }
            _ => {
                let k = SigningKey::from_seed(daemon::clock::random());
                (k.to_file(), k.public())
            }
        };
        if let Err(e) = create_private(&next, file.as_bytes()) {
            // Nothing half-written: the keys of this run are taken back.
            for (_, p) in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        match kind {
            KeyKind::Signing => entry.signing_key = public,
            KeyKind::Encryption => entry.encryption_key = public,
            KeyKind::Log => entry.log_key = public,
            KeyKind::Witness => entry.witness_key = public,
        }
        written.push((*kind, next));
    }
    let member = member_next_path(config);
    let text = format!(
        "# New keys for {}: send this file to the steering group, which puts them in the next\n\
         # roster with `passerelle federation rotate-member`. Then activate them with\n\
         # `passerelle node rotate-keys --activate --roster FILE` and restart the node.\n{}",
        entry.id,
        toml::to_string(&entry)?
    );
    if let Err(e) = write_public(&member, text.as_bytes()) {
        for (_, p) in &written {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    Ok(Prepared {
        member,
        keys: written,
        entry,
    })
}

pub struct Activated {
    pub version: u64,
    /// The kinds switched, and where each replaced key was moved.
    pub retired: Vec<(KeyKind, PathBuf)>,
    pub endorsed: bool,
}

/// Step 2: switches to the pending keys that the signed `roster` lists, and makes that roster
/// the node's starting roster. Run again after an interruption, it completes the switch.
pub fn activate(
    config: &Path,
    roster_path: &Path,
    endorse: bool,
    now: u64,
) -> anyhow::Result<Activated> {
    let paths = ConfigPaths::load(config)?;
    let roster = daemon::config::load_roster(roster_path)?;
    let pending: Vec<KeyKind> = KeyKind::ALL
        .into_iter()
        .filter(|k| next_path(k.path(&paths)).exists())
        .collect();
    let next = KeySet::read(&paths, true)?;
    check_roster_for(
        &roster,
        &paths.federation,
        &paths.institution,
        &next.node_keys(),
    )
    .with_context(|| {
        format!(
            "roster {} cannot be activated: it must be signed by the steering group and list \
             this node's new keys ({}; made by `passerelle federation rotate-member` with \
             member.next.toml)",
            roster_path.display(),
            if pending.is_empty() {
                "none pending".to_string()
            } else {
                pending
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )
    })?;
    let current = KeySet::read(&paths, false)?;
    let mut endorsed = false;
    if pending.contains(&KeyKind::Signing) && endorse {
        let path = endorsements_path(&paths.signing_key);
        let mut chain = load_endorsements(&path)?;
        let link = KeyEndorsement::sign(&current.signing, next.signing.public());
        if !chain.contains(&link) {
            chain.push(link);
            let text = format!(
                "# Endorsements of this node's signing keys, oldest first: each replaced key\n\
                 # signed its successor, so staff credentials issued before a rotation keep\n\
                 # working (spec §4.4). Public.\n{}",
                toml::to_string(&EndorsementsFile { endorsement: chain })?
            );
            write_public(&path, text.as_bytes())?;
        }
        endorsed = true;
    }
    let mut retired = Vec::new();
    for kind in &pending {
        // The old key is linked aside, then the new one renamed over it: the key file exists
        // at every moment, and an interrupted switch is completed by running it again.
        let key = kind.path(&paths);
        let aside = suffixed(key, &format!(".retired-{now}"));
        match std::fs::hard_link(key, &aside) {
            Ok(()) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && std::fs::read(&aside).ok() == std::fs::read(key).ok() => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot keep {} as {}", key.display(), aside.display())
                });
            }
        }
        std::fs::rename(next_path(key), key)
            .with_context(|| format!("cannot put the new {kind} key in {}", key.display()))?;
        retired.push((*kind, aside));
    }
    let text = std::fs::read(roster_path)
        .with_context(|| format!("cannot read {}", roster_path.display()))?;
    write_public(&paths.roster, &text)?;
    Ok(Activated {
        version: roster.roster.version,
        retired,
        endorsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_for_the_command_line() {
        let names: Vec<&str> = KeyKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["signing", "encryption", "log", "witness"]);
        assert_eq!(
            next_path(Path::new("keys/log.key")),
            Path::new("keys/log.key.next")
        );
    }
}
