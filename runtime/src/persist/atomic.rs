//! Replacing a file atomically: write a temporary file beside it, fsync it, rename it over the
//! target, fsync the directory. Readers (and a node restarted after a crash at any point) see
//! either the old file or the complete new one.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::PersistError;

/// A file being written; it replaces `target` only when [`AtomicFile::commit`] succeeds. Dropped
/// without a commit, it removes its temporary file and leaves `target` untouched.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: BufWriter<File>,
    committed: bool,
}

impl AtomicFile {
    /// Start writing what will become `target` (its directory must exist).
    pub fn create(target: &Path) -> Result<Self, PersistError> {
        let mut name = target
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(format!(".tmp-{}", std::process::id()));
        let temp = target.with_file_name(name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| PersistError::io(&temp, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            writer: BufWriter::with_capacity(256 * 1024, file),
            committed: false,
        })
    }

    /// The writer for the file's contents.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.writer
    }

    /// Flush, fsync, rename over the target and fsync the directory.
    pub fn commit(mut self) -> Result<(), PersistError> {
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_all())
            .map_err(|e| PersistError::io(&self.temp, e))?;
        std::fs::rename(&self.temp, &self.target).map_err(|e| PersistError::io(&self.target, e))?;
        self.committed = true;
        sync_dir(&self.target)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Replace `target` with `bytes`, atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let mut file = AtomicFile::create(target)?;
    file.writer()
        .write_all(bytes)
        .map_err(|e| PersistError::io(target, e))?;
    file.commit()
}

/// fsync the directory holding `path`, so a rename into it survives a crash.
pub(crate) fn sync_dir(path: &Path) -> Result<(), PersistError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PersistError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        write_atomic(&target, b"first").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"first");
        {
            let mut abandoned = AtomicFile::create(&target).unwrap();
            abandoned.writer().write_all(b"half of the sec").unwrap();
            // dropped without commit
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"first");
        write_atomic(&target, b"second").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }
}
