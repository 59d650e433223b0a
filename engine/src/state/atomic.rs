//! Replacing a file so that readers see the old bytes or the new ones, never a mix,
//! whatever happens in between (crash, kill -9, power loss): write a temporary file in
//! the same directory, fsync it, rename it over the target, fsync the directory.
//!
//! Used for state files and by `failback fmt` for configuration files.

use std::fs::{self, Permissions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// New contents written and flushed to disk beside the target, not yet in place.
/// Dropping it without [`PreparedWrite::commit`] removes the temporary file and
/// leaves the target as it was.
#[derive(Debug)]
pub struct PreparedWrite {
    temp: NamedTempFile,
    target: PathBuf,
}

/// Writes `bytes` to a temporary file beside `target` with `permissions` (the
/// temporary file's own, 0600 on Unix, when `None`) and syncs it.
pub fn prepare(
    target: &Path,
    bytes: &[u8],
    permissions: Option<Permissions>,
) -> io::Result<PreparedWrite> {
    let dir = parent_dir(target);
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    if let Some(permissions) = permissions {
        temp.as_file().set_permissions(permissions)?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(PreparedWrite {
        temp,
        target: target.to_owned(),
    })
}

impl PreparedWrite {
    /// Renames the temporary file over the target and syncs the directory, so that
    /// the rename itself survives a crash.
    pub fn commit(self) -> io::Result<()> {
        let target = self.target;
        self.temp.persist(&target).map_err(|err| err.error)?;
        sync_dir(parent_dir(&target))
    }
}

/// [`prepare`] then [`PreparedWrite::commit`].
pub fn write_atomically(
    target: &Path,
    bytes: &[u8],
    permissions: Option<Permissions>,
) -> io::Result<()> {
    prepare(target, bytes, permissions)?.commit()
}

/// Owner read and write only (0600), for anything that names hosts and users.
pub fn owner_only() -> Option<Permissions> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Windows cannot open a directory as a file; NTFS journals the rename.
        let _ = (dir, fs::metadata);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_target_and_leaves_no_temporary_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("failback.state.json");
        fs::write(&target, "old")?;
        write_atomically(&target, b"new", owner_only())?;
        assert_eq!(fs::read_to_string(&target)?, "new");
        assert_eq!(fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_contents() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("failback.state.json");
        fs::write(&target, "old")?;
        let prepared = prepare(&target, b"new", owner_only())?;
        // The new bytes are on disk, beside the target, under another name.
        assert_eq!(fs::read_dir(dir.path())?.count(), 2);
        assert_eq!(fs::read_to_string(&target)?, "old");
        drop(prepared);
        assert_eq!(fs::read_to_string(&target)?, "old");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn applies_the_requested_mode() -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("x");
        write_atomically(&target, b"x", Some(Permissions::from_mode(0o640)))?;
        assert_eq!(fs::metadata(&target)?.permissions().mode() & 0o777, 0o640);
        write_atomically(&target, b"y", owner_only())?;
        assert_eq!(fs::metadata(&target)?.permissions().mode() & 0o777, 0o600);
        Ok(())
    }
}
