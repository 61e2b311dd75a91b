//! Staff credentials: the file a staff member uses to reach their own institution's node.
//! It holds their private key, so it is written with 0600 permissions.

use anyhow::Context;
use protocol_spec::ids::{InstitutionId, Role, StaffId};
use protocol_spec::keys::{PublicKey, SigningKey};
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize_shim::Secret;

mod zeroize_shim {
    /// Keeps the base64 seed out of Debug output.
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    #[serde(transparent)]
    pub struct Secret(pub String);
    impl std::fmt::Debug for Secret {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("(secret)")
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialFile {
    pub staff: StaffId,
    pub institution: InstitutionId,
    pub role: Role,
    pub node_address: String,
    pub node_key: PublicKey,
    secret_key: Secret,
}

pub struct Credential {
    pub staff: StaffId,
    pub institution: InstitutionId,
    pub role: Role,
    pub node_address: String,
    pub node_key: PublicKey,
    pub key: SigningKey,
}

impl Credential {
    pub fn new(
        staff: StaffId,
        institution: InstitutionId,
        role: Role,
        node_address: String,
        node_key: PublicKey,
        key: SigningKey,
    ) -> Self {
        Credential {
            staff,
            institution,
            role,
            node_address,
            node_key,
            key,
        }
    }

    pub fn load(path: &Path) -> anyhow::Result<Credential> {
        let text = crate::files::read_private(path, "staff credential")?;
        Self::from_text(&text)
            .with_context(|| format!("staff credential {} is invalid", path.display()))
    }

    /// Parses a credential file's text; separate from [`Credential::load`] so the parser can
    /// be fuzzed without files.
    pub fn from_text(text: &str) -> anyhow::Result<Credential> {
        let f: CredentialFile = toml::from_str(text)?;
        let seed = crate::files::decode_seed(&f.secret_key.0).context("invalid secret key")?;
        Ok(Credential {
            staff: f.staff,
            institution: f.institution,
            role: f.role,
            node_address: f.node_address,
            node_key: f.node_key,
            key: SigningKey::from_seed(seed),
        })
    }

    pub fn to_text(&self) -> String {
        let f = CredentialFile {
            staff: self.staff.clone(),
            institution: self.institution.clone(),
            role: self.role,
            node_address: self.node_address.clone(),
            node_key: self.node_key,
            secret_key: Secret(crate::files::encode_seed(&self.key)),
        };
        format!(
            "# Passerelle staff credential for {} ({}) at {}.\n\
             # It contains a private key: keep it private (mode 0600). Revoke with\n\
             # `passerelle staff revoke {}` if it is lost.\n{}",
            self.staff,
            self.role,
            self.institution,
            self.staff,
            toml::to_string(&f).expect("credential encodes")
        )
    }

    /// Writes the credential to a new file (mode 0600); an existing file is never overwritten.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::files::create_private(path, self.to_text().as_bytes())
    }
}
