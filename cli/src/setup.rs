//! `passerelle node init`: creates a node's keys, its commented configuration, the member entry
//! to hand to the steering group, and the first administrator's credential.

use crate::credential::Credential;
use crate::federation::FederationFile;
use crate::files::{write_private, write_public};
use anyhow::bail;
use protocol_spec::ids::{InstitutionId, Role, Sector, StaffId};
use protocol_spec::keys::{EncryptionKey, SigningKey};
use protocol_spec::roster::Member;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub struct NodeInit {
    pub institution: InstitutionId,
    pub name: String,
    pub sector: Sector,
    pub listen: SocketAddr,
    /// Address peers use to reach the node, if different from `listen`.
    pub address: Option<String>,
    pub federation: FederationFile,
    pub dir: PathBuf,
}

pub struct NodeInitOutput {
    pub config: PathBuf,
    pub member: PathBuf,
    pub admin_credential: PathBuf,
    pub member_entry: Member,
}

pub fn node_init(init: &NodeInit) -> anyhow::Result<NodeInitOutput> {
    let config = init.dir.join("node.toml");
    if config.exists() {
        bail!(
            "{} already exists; not overwriting a node",
            config.display()
        );
    }
    let signing = SigningKey::from_seed(daemon::clock::random());
    let encryption = EncryptionKey::from_secret(daemon::clock::random());
    write_private(
        &init.dir.join("keys/signing.key"),
        signing.to_file().as_bytes(),
    )?;
    write_private(
        &init.dir.join("keys/encryption.key"),
        encryption.to_file().as_bytes(),
    )?;
    let log = SigningKey::from_seed(daemon::clock::random());
    let witness = SigningKey::from_seed(daemon::clock::random());
    write_private(&init.dir.join("keys/log.key"), log.to_file().as_bytes())?;
    write_private(
        &init.dir.join("keys/witness.key"),
        witness.to_file().as_bytes(),
    )?;
    let address = init
        .address
        .clone()
        .unwrap_or_else(|| init.listen.to_string());
    let member = Member {
        id: init.institution.clone(),
        name: init.name.clone(),
        sector: init.sector.clone(),
        address: address.clone(),
        signing_key: signing.public(),
        encryption_key: encryption.public(),
        log_key: log.public(),
        witness_key: witness.public(),
        witnesses: Vec::new(),
        witness_quorum: 0,
    };
    let member_path = init.dir.join("member.toml");
    write_public(
        &member_path,
        format!(
            "# Roster entry for {}: send this file to the steering group, which adds it with\n\
             # `passerelle federation add-member`.\n{}",
            init.institution,
            toml::to_string(&member)?
        )
        .as_bytes(),
    )?;
    let admin_key = SigningKey::from_seed(daemon::clock::random());
    let admin_staff: StaffId = "admin".parse()?;
    let cred = Credential::new(
        admin_staff.clone(),
        init.institution.clone(),
        Role::Admin,
        address,
        signing.public(),
        admin_key,
    );
    let admin_path = init.dir.join("admin.cred");
    cred.save(&admin_path)?;
    let f = &init.federation;
    let authorities: Vec<String> = f
        .authorities
        .keys
        .iter()
        .map(|a| format!("  {{ name = \"{}\", key = \"{}\" }},", a.name, a.key))
        .collect();
    let text = format!(
        r#"# Passerelle node configuration for {institution} ({name}).
# Relative paths are resolved against this file's directory.

# This institution's id in the federation roster.
institution = "{institution}"
# UDP address the QUIC endpoint listens on.
listen = "{listen}"
# Where the node keeps its store (SQLite, WAL) and transparency log.
data_dir = "data"
# Ed25519 node identity key and X25519 HPKE key; both must stay mode 0600.
signing_key = "keys/signing.key"
encryption_key = "keys/encryption.key"
# Ed25519 keys that sign this node's log checkpoints and cosign its peers' (mode 0600).
log_key = "keys/log.key"
witness_key = "keys/witness.key"
# The signed roster to start from. The node refuses to start unless it is signed by the
# federation's threshold below and lists this institution with the keys above.
roster = "roster.toml"

# The steering group's authority keys: the trust anchor for the first roster.
[federation]
name = "{fed}"

[federation.authorities]
threshold = {threshold}
keys = [
{keys}
]

# The first administrator, registered when the store is created; their credential is
# admin.cred beside this file. Issue further staff credentials with `passerelle staff issue`.
[bootstrap_admin]
staff = "{admin}"
key = "{admin_key}"

# How many connections others may hold open; a key over its share is refused at once, so a
# flood from one peer or credential does not stop service to the others.
[limits]
connections_per_key = 8
connections = 1024

# Prometheus metrics and health checks over plain HTTP (GET /metrics, /livez, /readyz), for
# `passerelle node health` and monitoring. Unauthenticated: a loopback address unless
# allow_remote = true. Without this table the node serves none.
# [observability]
# listen = "127.0.0.1:9464"
"#,
        institution = init.institution,
        name = init.name.replace('"', "'"),
        listen = init.listen,
        fed = f.name,
        threshold = f.authorities.threshold,
        keys = authorities.join("\n"),
        admin = admin_staff,
        admin_key = cred.key.public(),
    );
    write_public(&config, text.as_bytes())?;
    Ok(NodeInitOutput {
        config,
        member: member_path,
        admin_credential: admin_path,
        member_entry: member,
    })
}

/// Checks a config file the way the node will, without starting it.
pub fn check_config(path: &Path) -> anyhow::Result<()> {
    daemon::config::NodeConfig::load(path).map(|_| ())
}
