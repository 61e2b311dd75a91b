//! Node configuration file (TOML). Relative paths are resolved against the file's directory.

use anyhow::{Context, bail};
use protocol_spec::endorsement::KeyEndorsement;
use protocol_spec::ids::{InstitutionId, StaffId};
use protocol_spec::keys::{EncryptionKey, PublicKey, SigningKey};
use protocol_spec::roster::{Authorities, SignedRoster};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub institution: InstitutionId,
    pub(crate) listen: SocketAddr,
    pub(crate) data_dir: PathBuf,
    pub(crate) signing_key: PathBuf,
    pub(crate) encryption_key: PathBuf,
    pub(crate) log_key: PathBuf,
    pub(crate) witness_key: PathBuf,
    /// The signed roster to start from; a newer one received later replaces it in the store.
    pub(crate) roster: PathBuf,
    pub federation: FederationAnchor,
    pub(crate) bootstrap_admin: BootstrapAdmin,
    /// Bounds on what clients may hold open; defaults when the section is absent.
    #[serde(default)]
    pub(crate) limits: Limits,
    /// The metrics and health endpoint; none when the table is absent.
    #[serde(default)]
    pub(crate) observability: Option<Observability>,
}

/// `[observability]`: where the node serves `GET /metrics`, `/livez` and `/readyz` over plain
/// HTTP, without authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observability {
    /// A TCP socket address, loopback unless `allow_remote`.
    pub listen: SocketAddr,
    /// Allows a non-loopback `listen` address: anyone who reaches it reads the node's figures
    /// and health, so only behind a firewall that admits the monitoring host alone.
    #[serde(default)]
    pub allow_remote: bool,
}

impl Observability {
    /// The endpoint is unauthenticated: it listens on loopback unless the administrator says
    /// otherwise.
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.listen.ip().is_loopback() && !self.allow_remote {
            bail!(
                "listen = \"{}\" is not a loopback address; the endpoint has no \
                 authentication, so it listens on 127.0.0.1 or [::1] unless `allow_remote = \
                 true` is set (then keep it behind a firewall)",
                self.listen
            );
        }
        Ok(())
    }
}

/// The `[observability]` table of a node configuration file, read alone: `passerelle node
/// health --config` needs only the address, not the node's keys.
pub fn observability_of(path: &Path) -> anyhow::Result<Option<Observability>> {
    #[derive(Deserialize)]
    struct Only {
        observability: Option<Observability>,
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let only: Only = toml::from_str(&text)
        .with_context(|| format!("config file {} is invalid", path.display()))?;
    if let Some(o) = &only.observability {
        o.check().with_context(|| {
            format!(
                "the [observability] table of {} cannot be used",
                path.display()
            )
        })?;
    }
    Ok(only.observability)
}

/// The files a node configuration names, resolved against its directory: what key rotation
/// and backups work on while the node may be running.
pub struct ConfigPaths {
    pub institution: InstitutionId,
    pub signing_key: PathBuf,
    pub encryption_key: PathBuf,
    pub log_key: PathBuf,
    pub witness_key: PathBuf,
    pub roster: PathBuf,
    pub data_dir: PathBuf,
    pub federation: FederationAnchor,
}

impl ConfigPaths {
    pub fn load(config: &Path) -> anyhow::Result<ConfigPaths> {
        let text = std::fs::read_to_string(config)
            .with_context(|| format!("cannot read config file {}", config.display()))?;
        let file: ConfigFile = toml::from_str(&text)
            .with_context(|| format!("config file {} is invalid", config.display()))?;
        let base = config.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        Ok(ConfigPaths {
            signing_key: resolve(&file.signing_key),
            encryption_key: resolve(&file.encryption_key),
            log_key: resolve(&file.log_key),
            witness_key: resolve(&file.witness_key),
            roster: resolve(&file.roster),
            data_dir: resolve(&file.data_dir),
            institution: file.institution,
            federation: file.federation,
        })
    }
}

/// How much a node lets others hold open, so a flood from one key, or many, does not stop
/// service to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Limits {
    /// Open connections from one peer node or staff key; more are refused at once.
    pub(crate) connections_per_key: usize,
    /// Open connections in all.
    pub(crate) connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections_per_key: 8,
            connections: 1024,
        }
    }
}

/// The steering group's keys this node trusts to sign the first roster it accepts. The same
/// table is the whole of a `federation.toml` (spec §15.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationAnchor {
    pub name: String,
    pub authorities: Authorities,
}

impl FederationAnchor {
    /// A name that can form log origins, and authorities that can vouch for a roster: a
    /// threshold of 0 would make an unsigned roster acceptable.
    pub fn check(&self) -> anyhow::Result<()> {
        if !protocol_spec::roster::valid_federation_name(&self.name) {
            bail!(
                "federation name `{}` must be 1 to 64 characters from a-z, 0-9, `-` and `.`",
                self.name
            );
        }
        self.authorities
            .check()
            .map_err(|e| anyhow::anyhow!("federation authorities: {e}"))
    }
}

/// The first administrator, registered when the node's store is created.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BootstrapAdmin {
    pub(crate) staff: StaffId,
    pub(crate) key: PublicKey,
}

/// A loaded, checked configuration: keys read, roster verified.
pub struct NodeConfig {
    pub(crate) institution: InstitutionId,
    pub(crate) listen: SocketAddr,
    pub(crate) data_dir: PathBuf,
    pub(crate) signing_key: SigningKey,
    pub(crate) encryption_key: EncryptionKey,
    pub(crate) log_key: SigningKey,
    pub(crate) witness_key: SigningKey,
    pub(crate) roster: SignedRoster,
    pub(crate) bootstrap_admin: BootstrapAdmin,
    pub(crate) limits: Limits,
    pub(crate) observability: Option<Observability>,
    /// The signing key's endorsements by the keys it replaced, oldest first (spec §4.4).
    pub(crate) endorsements: Vec<KeyEndorsement>,
    /// Encryption keys replaced by rotations, to open summaries sealed to them (spec §15.6).
    pub(crate) former_encryption: Vec<EncryptionKey>,
}

impl NodeConfig {
    /// The metrics and health endpoint's address, if the node serves one.
    pub fn observability(&self) -> Option<Observability> {
        self.observability
    }

    /// Loads and checks everything the node needs before it binds a socket. Each error names
    /// the file and the problem.
    pub fn load(path: &Path) -> anyhow::Result<NodeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let file: ConfigFile = toml::from_str(&text)
            .with_context(|| format!("config file {} is invalid", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_file(file, base)
    }

    pub(crate) fn from_file(file: ConfigFile, base: &Path) -> anyhow::Result<NodeConfig> {
        file.federation
            .check()
            .context("the [federation] table cannot be used")?;
        if let Some(o) = &file.observability {
            o.check()
                .context("the [observability] table cannot be used")?;
        }
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let signing_path = resolve(&file.signing_key);
        let signing_key = SigningKey::from_file(&read_secret(&signing_path)?)
            .with_context(|| format!("signing key file {} is invalid", signing_path.display()))?;
        let enc_path = resolve(&file.encryption_key);
        let encryption_key = EncryptionKey::from_file(&read_secret(&enc_path)?)
            .with_context(|| format!("encryption key file {} is invalid", enc_path.display()))?;
        let log_path = resolve(&file.log_key);
        let log_key = SigningKey::from_file(&read_secret(&log_path)?)
            .with_context(|| format!("log key file {} is invalid", log_path.display()))?;
        let witness_path = resolve(&file.witness_key);
        let witness_key = SigningKey::from_file(&read_secret(&witness_path)?)
            .with_context(|| format!("witness key file {} is invalid", witness_path.display()))?;
        let endorsements = load_endorsements(&endorsements_path(&signing_path))?;
        if let Some(last) = endorsements.last() {
            let first = &endorsements[0].old;
            if last.new != signing_key.public()
                || !protocol_spec::endorsement::follows(&endorsements, first, &last.new)
            {
                bail!(
                    "key endorsements {} do not form a chain ending at the signing key {}",
                    endorsements_path(&signing_path).display(),
                    signing_path.display()
                );
            }
        }
        let mut former_encryption = Vec::new();
        for p in retired_key_files(&enc_path)? {
            former_encryption.push(EncryptionKey::from_file(&read_secret(&p)?).with_context(
                || format!("retired encryption key file {} is invalid", p.display()),
            )?);
        }
        let roster_path = resolve(&file.roster);
        let roster = load_roster(&roster_path)?;
        let keys = NodeKeys {
            signing: &signing_key,
            encryption: &encryption_key,
            log: &log_key,
            witness: &witness_key,
        };
        check_roster_for(&roster, &file.federation, &file.institution, &keys)
            .with_context(|| format!("roster {} cannot be used", roster_path.display()))?;
        Ok(NodeConfig {
            institution: file.institution,
            listen: file.listen,
            data_dir: resolve(&file.data_dir),
            signing_key,
            encryption_key,
            log_key,
            witness_key,
            roster,
            bootstrap_admin: file.bootstrap_admin,
            limits: file.limits,
            observability: file.observability,
            endorsements,
            former_encryption,
        })
    }
}

impl NodeConfig {
    /// This node's entry in its starting roster.
    pub fn member_entry(&self) -> Option<protocol_spec::roster::Member> {
        self.roster.roster.member(&self.institution).cloned()
    }
}

/// Where a key rotation keeps the signing key's endorsements: beside the key file.
pub fn endorsements_path(signing_key: &Path) -> PathBuf {
    suffixed(signing_key, ".endorsements")
}

/// `<key file><suffix>`, e.g. `keys/signing.key.next`.
pub fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The `endorsements` file (spec §15.6): `[[endorsement]]` tables, oldest first.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndorsementsFile {
    #[serde(default)]
    pub endorsement: Vec<KeyEndorsement>,
}

/// The endorsements in `path`; none if the file does not exist.
pub fn load_endorsements(path: &Path) -> anyhow::Result<Vec<KeyEndorsement>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(toml::from_str::<EndorsementsFile>(&text)
            .with_context(|| format!("key endorsements file {} is invalid", path.display()))?
            .endorsement),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The `<key file>.retired-<unix time>` files beside `key`, newest first.
pub fn retired_key_files(key: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = match key.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = key.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}.retired-");
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e?;
        let file = e.file_name();
        if let Some(time) = file.to_str().and_then(|f| f.strip_prefix(&prefix))
            && let Ok(t) = time.parse::<u64>()
        {
            found.push((t, e.path()));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Reads a secret file, refusing one that others can read.
pub fn read_secret(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "key file {} has permissions {:o}; it must be readable by its owner only (chmod 600)",
                path.display(),
                mode
            );
        }
    }
    let _ = meta;
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))
}

pub fn load_roster(path: &Path) -> anyhow::Result<SignedRoster> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read roster file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("roster file {} is invalid", path.display()))
}

/// The node's own keys, to compare with its roster entry.
pub struct NodeKeys<'a> {
    pub signing: &'a SigningKey,
    pub encryption: &'a EncryptionKey,
    pub log: &'a SigningKey,
    pub witness: &'a SigningKey,
}

impl NodeKeys<'_> {
    /// Compares the node's keys with its roster entry; names the first that differs.
    pub(crate) fn check_listed(
        &self,
        member: &protocol_spec::roster::Member,
    ) -> Result<(), &'static str> {
        for (what, listed, ours) in [
            ("signing", member.signing_key, self.signing.public()),
            (
                "encryption",
                member.encryption_key,
                self.encryption.public(),
            ),
            ("log", member.log_key, self.log.public()),
            ("witness", member.witness_key, self.witness.public()),
        ] {
            if listed != ours {
                return Err(what);
            }
        }
        Ok(())
    }
}

/// The checks a node makes on the roster it starts with.
pub fn check_roster_for(
    roster: &SignedRoster,
    anchor: &FederationAnchor,
    me: &InstitutionId,
    keys: &NodeKeys<'_>,
) -> anyhow::Result<()> {
    if roster.roster.federation != anchor.name {
        bail!(
            "it is for federation `{}`, the config names `{}`",
            roster.roster.federation,
            anchor.name
        );
    }
    // The first roster must satisfy the configured anchor; later ones chain from it.
    roster.verify(&anchor.authorities)?;
    let Some(member) = roster.roster.member(me) else {
        bail!("it does not list this institution `{me}`");
    };
    keys.check_listed(member).map_err(|what| {
        anyhow::anyhow!("it lists another {what} key for `{me}` than the configured key file")
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol_spec::roster::Authority;

    fn anchor(threshold: u8, keys: &[u8]) -> FederationAnchor {
        FederationAnchor {
            name: "ne-cii".into(),
            authorities: Authorities {
                threshold,
                keys: keys
                    .iter()
                    .map(|n| Authority {
                        name: format!("authority-{n}"),
                        key: SigningKey::from_seed([*n; 32]).public(),
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn the_anchor_must_be_able_to_vouch() {
        assert!(anchor(2, &[1, 2, 3]).check().is_ok());
        for bad in [anchor(0, &[1, 2]), anchor(3, &[1, 2]), anchor(1, &[1, 1])] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        let mut named = anchor(1, &[1]);
        named.name = "NE CII".into();
        assert!(named.check().is_err());
    }

    /// A config whose anchor accepts unsigned rosters is refused before anything else is read.
    #[test]
    fn a_config_with_threshold_zero_is_refused() {
        let text = r#"
institution = "ne.orp"
listen = "127.0.0.1:7101"
data_dir = "data"
signing_key = "keys/signing.key"
encryption_key = "keys/encryption.key"
log_key = "keys/log.key"
witness_key = "keys/witness.key"
roster = "roster.toml"

[federation]
name = "ne-cii"

[federation.authorities]
threshold = 0
keys = []

[bootstrap_admin]
staff = "admin"
key = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
"#;
        let file: ConfigFile = toml::from_str(text).expect("the file parses");
        let e = NodeConfig::from_file(file, Path::new("/nonexistent"))
            .err()
            .expect("refused");
        let e = format!("{e:#}");
        assert!(
            e.contains("[federation]") && e.contains("threshold 0"),
            "{e}"
        );
        // Unknown keys are refused in every table, the anchor's included.
        let extra = text.replace("threshold = 0", "threshold = 1\nquorum = 1");
        assert!(toml::from_str::<ConfigFile>(&extra).is_err());
        let extra = text.replace("[bootstrap_admin]", "[bootstrap_admin]\nrole = \"admin\"");
        assert!(toml::from_str::<ConfigFile>(&extra).is_err());
    }

    /// The unauthenticated endpoint listens on loopback unless the administrator allows more;
    /// the error says which address and what to do.
    #[test]
    fn the_observability_endpoint_is_local_unless_allowed() {
        let parse = |t: &str| toml::from_str::<Observability>(t).expect("the table parses");
        assert!(parse("listen = \"127.0.0.1:9464\"").check().is_ok());
        assert!(parse("listen = \"[::1]:9464\"").check().is_ok());
        let e = parse("listen = \"0.0.0.0:9464\"")
            .check()
            .expect_err("refused");
        let e = format!("{e:#}");
        assert!(
            e.contains("0.0.0.0:9464")
                && e.contains("not a loopback")
                && e.contains("allow_remote"),
            "{e}"
        );
        assert!(
            parse("listen = \"192.0.2.7:9464\"\nallow_remote = true")
                .check()
                .is_ok()
        );
        assert!(toml::from_str::<Observability>("listen = \"127.0.0.1:9464\"\nport = 1").is_err());
        assert!(toml::from_str::<Observability>("listen = \"localhost:9464\"").is_err());
        // Written back as it was read, with or without the table (the config fuzz target's
        // invariant).
        let base = "institution = \"ne.orp\"\nlisten = \"127.0.0.1:7101\"\ndata_dir = \"data\"\n\
            signing_key = \"s\"\nencryption_key = \"e\"\nlog_key = \"l\"\nwitness_key = \"w\"\n\
            roster = \"r\"\n[federation]\nname = \"f\"\n[federation.authorities]\nthreshold = 1\n\
            keys = []\n[bootstrap_admin]\nstaff = \"admin\"\n\
            key = \"iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=\"\n";
        for text in [
            base.to_string(),
            format!("{base}[observability]\nlisten = \"127.0.0.1:9464\"\n"),
        ] {
            let file: ConfigFile = toml::from_str(&text).expect("parses");
            let written = toml::to_string(&file).expect("writes");
            let again: ConfigFile = toml::from_str(&written).expect("reads back");
            assert_eq!(again.observability, file.observability, "{written}");
            assert_eq!(toml::to_string(&again).unwrap(), written);
        }
    }
}
