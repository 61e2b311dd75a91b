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

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> Credential {
        Credential::new(
            "carla".parse().unwrap(),
            "ne.orp".parse().unwrap(),
            Role::Auditor,
            "127.0.0.1:7101".into(),
            SigningKey::from_seed([4; 32]).public(),
            SigningKey::from_seed([16; 32]),
        )
    }

    /// Spec §15.4: every key required, no other key, the role by name, a private file.
    #[test]
    fn credential_file_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("carla.cred");
        credential().save(&path).unwrap();
        let back = Credential::load(&path).unwrap();
        assert_eq!(back.key.public(), SigningKey::from_seed([16; 32]).public());
        assert_eq!(back.role, Role::Auditor);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("role = \"auditor\""), "{text}");

        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            crate::files::write_private(&p, text.as_bytes()).unwrap();
            p
        };
        for (name, bad) in [
            ("extra", format!("{text}comment = \"x\"\n")),
            ("role", text.replace("\"auditor\"", "\"Auditor\"")),
            ("missing", text.replace("node_address", "# node_address")),
            (
                "short-seed",
                text.replace(&crate::files::encode_seed(&credential().key), "AAAA"),
            ),
        ] {
            assert!(Credential::load(&write(name, &bad)).is_err(), "{name}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            assert!(Credential::load(&path).is_err(), "readable by the group");
        }
    }
}
