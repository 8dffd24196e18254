//! Atomic file writes: write a temporary file next to the target, rename it over the
//! target when complete, remove it on any error (or panic).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file that is removed when dropped, unless [`TempFile::keep`] was called.
pub(super) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Reserves a new, empty, hidden temporary file in the directory of `target`.
    /// `ext` ends its name (some writers choose their encoding from the extension). The
    /// name has no other dot than the leading one and the extension's.
    ///
    /// **Errors** with [`Error::Io`] naming `target` if the directory is missing or not
    /// writable.
    pub(super) fn new(target: &Path, ext: &str) -> Result<Self> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".ctscreen-tmp-{}-{n}{ext}", std::process::id()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(Self { path, armed: true }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(target, e)),
            }
        }
    }

    /// The temporary file's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk and renames it to `target`; the temporary file is gone
    /// afterwards whatever happens.
    pub(super) fn commit(mut self, target: &Path) -> Result<()> {
        let sync = std::fs::File::open(&self.path).and_then(|f| f.sync_all());
        sync.map_err(|e| Error::io(target, e))?;
        std::fs::rename(&self.path, target).map_err(|e| Error::io(target, e))?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `target` atomically: `write` fills the temporary file (whose path it receives);
/// when it succeeds the file is renamed to `target`, when it fails the temporary file is
/// removed and `target` is untouched.
pub(super) fn write_atomic<F>(target: &Path, ext: &str, write: F) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
{
    let tmp = TempFile::new(target, ext)?;
    write(tmp.path())?;
    tmp.commit(target)
}

/// Writes two files that belong together (a MetaImage header and its data file): both are
/// written to temporary files first, then the data file is renamed, then the header. If
/// the header cannot be renamed the new data file is removed again.
pub(super) fn write_atomic_pair<F>(header: &Path, data: &Path, write: F) -> Result<()>
where
    F: FnOnce(&Path, &Path) -> Result<()>,
{
    let tmp_header = TempFile::new(header, ".hdrtmp")?;
    let tmp_data = TempFile::new(data, ".datatmp")?;
    write(tmp_header.path(), tmp_data.path())?;
    tmp_data.commit(data)?;
    if let Err(e) = tmp_header.commit(header) {
        let _ = std::fs::remove_file(data);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".ctscreen-tmp"))
            .collect()
    }

    #[test]
    fn failure_mid_way_leaves_nothing_and_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        // A writer that writes part of the file and then fails.
        let err = write_atomic(&target, ".bin", |tmp| {
            std::fs::write(tmp, b"partial").unwrap();
            Err(Error::format(tmp, "simulated failure"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("simulated failure"));
        assert!(!target.exists());
        assert!(leftovers(dir.path()).is_empty());

        std::fs::write(&target, b"old").unwrap();
        let _ = write_atomic(&target, ".bin", |tmp| {
            std::fs::write(tmp, b"new but broken").unwrap();
            Err(Error::format(tmp, "simulated failure"))
        });
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert!(leftovers(dir.path()).is_empty());

        write_atomic(&target, ".bin", |tmp| {
            std::fs::write(tmp, b"new").map_err(|e| Error::io(tmp, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn panic_in_writer_removes_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let r = std::panic::catch_unwind(|| {
            let _ = write_atomic(&target, ".bin", |tmp| {
                std::fs::write(tmp, b"x").unwrap();
                panic!("writer bug");
            });
        });
        assert!(r.is_err());
        assert!(!target.exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("no/such/dir/out.bin");
        let err = write_atomic(&target, ".bin", |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("no/such/dir/out.bin"), "{err}");
    }

    #[test]
    fn pair_failure_leaves_neither_file() {
        let dir = tempfile::tempdir().unwrap();
        let (h, d) = (dir.path().join("a.mhd"), dir.path().join("a.raw"));
        let err = write_atomic_pair(&h, &d, |th, td| {
            std::fs::write(td, b"data").unwrap();
            std::fs::write(th, b"hea").unwrap();
            Err(Error::format(th, "simulated failure"))
        });
        assert!(err.is_err());
        assert!(!h.exists() && !d.exists());
        assert!(leftovers(dir.path()).is_empty());
    }
}
