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

/// Checks that the directory `path` goes into exists: a mistyped `--out` must fail, not
/// leave a directory tree behind.
pub fn existing_parent(path: &Path) -> anyhow::Result<()> {
    let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => anyhow::bail!(
            "cannot create {}: {} is a file, not a directory",
            path.display(),
            dir.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "cannot create {}: the directory {} does not exist (create it first, or check the path)",
            path.display(),
            dir.display()
        ),
        Err(e) => anyhow::bail!("cannot create {}: {}: {e}", path.display(), dir.display()),
    }
}

/// Creates a file only its owner can read, failing if the path exists: the path is claimed
/// before anything irreversible (registering a key) depends on it.
pub fn create_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    existing_parent(path)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("{} already exists; not overwriting it", path.display())
        } else {
            anyhow::anyhow!("cannot create {}: {e}", path.display())
        }
    })?;
    let written = (|| {
        // The umask can only remove bits from 0600, but an odd one could leave the owner
        // unable to read the file back.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        anyhow::bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// Reads a file holding a private key, refusing it when others may read it, as the node does
/// for its own keys: a leaked key is not detected by anything else.
pub fn read_private(path: &Path, what: &str) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{what} {path} has permissions {mode:o}: it holds a private key and must be readable by its owner only; run `chmod 600 {path}`",
                path = path.display()
            );
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    Ok(text)
}

pub fn encode_seed(key: &SigningKey) -> String {
    B64.encode(*key.seed())
}

pub fn decode_seed(s: &str) -> anyhow::Result<[u8; 32]> {
    let v = B64.decode(s.trim()).context("not base64")?;
    v.try_into()
        .map_err(|_| anyhow::anyhow!("not a 32-byte key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mistyped directory is refused and nothing is created; a file in the way is named.
    #[test]
    fn create_private_makes_no_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let e = create_private(&d.join("missing/dir/c.cred"), b"x").unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("missing/dir") && e.contains("does not exist"),
            "{e}"
        );
        assert!(!d.join("missing").exists());
        std::fs::write(d.join("file"), "").unwrap();
        let e = create_private(&d.join("file/c.cred"), b"x").unwrap_err();
        assert!(e.to_string().contains("is a file, not a directory"), "{e}");
        create_private(&d.join("c.cred"), b"x").unwrap();
        assert_eq!(std::fs::read(d.join("c.cred")).unwrap(), b"x");
    }
}
