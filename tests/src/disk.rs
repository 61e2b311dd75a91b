//! Disks that fail on purpose, under a node's data directory: a small tmpfs that a filler file
//! fills up, and an ext4 image that the kernel turns read-only as it does a failing disk
//! (`errors=remount-ro`). Mounting needs root (CAP_SYS_ADMIN), as CI has; without it
//! [`Disk::tmpfs`] and [`Disk::ext4`] say why, and the tests that need them skip.
//!
//! Whatever is mounted is unmounted when the [`Disk`] is dropped, a failed test included; the
//! node using it must be stopped first (or the unmount is lazy and the mount goes once the
//! node's files are closed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Disk {
    dir: PathBuf,
    /// The ext4 image behind the mount, if it is one.
    image: Option<PathBuf>,
    filler: PathBuf,
}

fn run(cmd: &str, args: &[&std::ffi::OsStr]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {} {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Moves what `dir` holds aside, runs `mount` (which mounts something over `dir`), and puts
/// it back on the new file system.
fn mount_over(dir: &Path, mount: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let aside = dir.with_extension("aside");
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    crate::copy_dir(dir, &aside, &[]);
    if let Err(e) = mount() {
        let _ = std::fs::remove_dir_all(&aside);
        return Err(e);
    }
    crate::copy_dir(&aside, dir, &[]);
    // On disk before anything fails: a file system the kernel stops writing to keeps only
    // what was synced.
    run("sync", &[os("-f"), dir.as_os_str()])?;
    std::fs::remove_dir_all(&aside).map_err(|e| e.to_string())?;
    Ok(())
}

impl Disk {
    /// A tmpfs of `bytes` over `dir`, holding what `dir` held. The node using `dir` must be
    /// stopped.
    pub fn tmpfs(dir: &Path, bytes: u64) -> Result<Disk, String> {
        mount_over(dir, || {
            run(
                "mount",
                &[
                    os("-t"),
                    os("tmpfs"),
                    os("-o"),
                    os(&format!("size={bytes},mode=0700")),
                    os("tmpfs"),
                    dir.as_os_str(),
                ],
            )
            .map(drop)
        })?;
        Ok(Disk {
            dir: dir.to_path_buf(),
            image: None,
            filler: dir.join("filler"),
        })
    }

    /// An ext4 file system of `bytes` in an image file beside `dir`, mounted over `dir` with
    /// `errors=remount-ro`, holding what `dir` held. The node using `dir` must be stopped.
    pub fn ext4(dir: &Path, bytes: u64) -> Result<Disk, String> {
        let image = dir.with_extension("ext4");
        let file = std::fs::File::create(&image).map_err(|e| e.to_string())?;
        file.set_len(bytes).map_err(|e| e.to_string())?;
        drop(file);
        run("mkfs.ext4", &[os("-q"), os("-F"), image.as_os_str()])?;
        let disk = Disk {
            dir: dir.to_path_buf(),
            image: Some(image),
            filler: dir.join("filler"),
        };
        mount_over(dir, || disk.mount_image())?;
        Ok(disk)
    }

    fn mount_image(&self) -> Result<(), String> {
        let image = self.image.as_ref().expect("an ext4 disk");
        run(
            "mount",
            &[
                os("-o"),
                os("loop,errors=remount-ro"),
                image.as_os_str(),
                self.dir.as_os_str(),
            ],
        )
        .map(drop)
    }

    /// Fills the file system with a filler file until no byte more fits; returns its size.
    pub fn fill(&self) -> u64 {
        let mut f = std::fs::File::create(&self.filler).expect("filler file");
        let mut written = 0u64;
        let mut chunk = 1 << 20;
        let zeros = vec![0u8; chunk];
        while chunk > 0 {
            match f.write(&zeros[..chunk]) {
                Ok(0) => chunk /= 2,
                Ok(n) => written += n as u64,
                Err(_) => chunk /= 2,
            }
        }
        let _ = f.sync_all();
        written
    }

    /// Removes the filler file.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("removing the filler file");
    }

    /// Remounts the file system read-only or read-write. Linux refuses a read-only remount
    /// while any file on it is open for writing (a running node's store), so only for a
    /// stopped node.
    pub fn remount(&self, read_only: bool) -> Result<(), String> {
        let opts = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        run("mount", &[os("-o"), os(opts), self.dir.as_os_str()]).map(drop)
    }

    /// The kernel's switch that reports an error on the ext4 file system.
    pub fn error_trigger(&self) -> Result<PathBuf, String> {
        let source = run(
            "findmnt",
            &[os("-n"), os("-o"), os("SOURCE"), self.dir.as_os_str()],
        )?;
        let device = Path::new(source.trim())
            .file_name()
            .ok_or("no device behind the mount")?
            .to_owned();
        let trigger = Path::new("/sys/fs/ext4")
            .join(device)
            .join("trigger_fs_error");
        match trigger.exists() {
            true => Ok(trigger),
            false => Err(format!("{} is missing", trigger.display())),
        }
    }

    /// Has the kernel report an error on the ext4 file system: with `errors=remount-ro` it
    /// turns it read-only under the running node, as it does when a disk fails.
    pub fn fail(&self) -> Result<(), String> {
        let trigger = self.error_trigger()?;
        std::fs::write(&trigger, "1").map_err(|e| format!("{}: {e}", trigger.display()))
    }

    /// What the administrator does once the node is stopped: unmount the failed file
    /// system, check and repair it, mount it again.
    pub fn repair(&self) -> Result<(), String> {
        run("umount", &[self.dir.as_os_str()])?;
        let image = self.image.as_ref().expect("an ext4 disk");
        // 0: clean, 1: errors corrected.
        let status = Command::new("e2fsck")
            .args([os("-f"), os("-y"), image.as_os_str()])
            .output()
            .map_err(|e| e.to_string())?
            .status;
        if !matches!(status.code(), Some(0 | 1)) {
            return Err(format!("e2fsck: {status}"));
        }
        self.mount_image()
    }

    /// Whether a new file can be written in the directory now; the error if not.
    pub fn probe(&self) -> std::io::Result<()> {
        let p = self.dir.join("probe");
        std::fs::write(&p, b"probe")?;
        std::fs::remove_file(&p)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if run("umount", &[self.dir.as_os_str()]).is_err() {
            let _ = run("umount", &[os("-l"), self.dir.as_os_str()]);
        }
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}
