//! File helpers: private files are created with 0600 permissions and written atomically
//! (temporary file, fsync, rename) so that a crash leaves either the old file or the new one.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use protocol_spec::keys::SigningKey;
use std::io::Write;
use std::path::Path;

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    let _ = mode;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

pub fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with_mode(path, bytes, 0o644)
}

pub fn random_seed() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("operating system randomness");
    b
}

pub fn encode_seed(key: &SigningKey) -> String {
    B64.encode(*key.seed())
}

pub fn decode_seed(s: &str) -> anyhow::Result<[u8; 32]> {
    let v = B64.decode(s.trim()).context("not base64")?;
    v.try_into()
        .map_err(|_| anyhow::anyhow!("not a 32-byte key"))
}
