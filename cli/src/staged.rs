//! An output file that is checked before CMD runs and takes its name only
//! when it is meant to be seen: a temporary file is made beside the target
//! at once (an unwritable place is a 125 before anything ran), and renamed
//! over the target later, so that a reader never mistakes an old file, or
//! half of one, for this run's. A staged file never put in place leaves no
//! temporary behind.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct Staged {
    /// The option that named it (`--report`), for messages.
    flag: &'static str,
    target: PathBuf,
    /// `None` once renamed into place.
    temp: Option<PathBuf>,
    pub file: File,
}

impl Staged {
    /// Make the temporary file beside `target` (a regular file or none).
    pub fn prepare(flag: &'static str, target: &Path) -> Result<Staged, String> {
        let shown = target.display();
        match std::fs::symlink_metadata(target) {
            Ok(m) if !m.file_type().is_file() => {
                return Err(format!("{flag} {shown}: not a regular file"));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{flag} {shown}: {e}")),
        }
        let name = target
            .file_name()
            .ok_or_else(|| format!("{flag} {shown}: not a file name"))?;
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = dir.join(format!(
            ".{}.cgbox-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)
            .map_err(|e| {
                format!(
                    "{flag} {shown}: cannot write beside it ({}): {e}",
                    temp.display()
                )
            })?;
        Ok(Staged {
            flag,
            target: target.to_path_buf(),
            temp: Some(temp),
            file,
        })
    }

    /// Write all of `data`, flush it to disk and give the file its name.
    pub fn finish(mut self, data: &[u8]) -> Result<(), String> {
        use std::io::Write;
        self.file
            .write_all(data)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| format!("{} {}: {e}", self.flag, self.target.display()))?;
        self.put_in_place()
    }

    /// Give the file its name (once; later calls do nothing).
    pub fn put_in_place(&mut self) -> Result<(), String> {
        if let Some(temp) = self.temp.take() {
            std::fs::rename(&temp, &self.target).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                format!("{} {}: {e}", self.flag, self.target.display())
            })?;
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            let _ = std::fs::remove_file(temp);
        }
    }
}
