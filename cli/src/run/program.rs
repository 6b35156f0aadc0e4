//! Finding CMD, and the shell's exit codes when it cannot run: 127 when it
//! is not there, 126 when it is there but cannot be executed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

pub const EXIT_FAILED: i32 = 125;
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;
pub const EXIT_TIMED_OUT: i32 = 124;

/// Why CMD cannot run, found before the box is made.
pub struct NotRunnable {
    pub code: i32,
    pub message: String,
}

/// Look `program` up as `execvp` would: a name with a `/` as it is, else
/// the first executable file of that name on PATH (else the first file of
/// that name, so that exec reports why it is not executable).
pub fn find(program: &OsStr) -> Result<PathBuf, NotRunnable> {
    let shown = program.to_string_lossy();
    let not_found = |why: &str| NotRunnable {
        code: EXIT_NOT_FOUND,
        message: format!("{shown:?}: {why}"),
    };
    if program.is_empty() {
        return Err(not_found("command not found (an empty name)"));
    }
    let path = Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return if path.exists() {
            Ok(path.to_path_buf())
        } else {
            Err(not_found("no such file"))
        };
    }
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let candidates = || std::env::split_paths(&search).map(|dir| dir.join(program));
    candidates()
        .find(|p| is_exec(p))
        .or_else(|| candidates().find(|p| p.exists()))
        .ok_or_else(|| not_found("command not found"))
}

/// The exit code for a CMD that was found but whose `exec` failed.
pub fn exec_failure(errno: Option<i32>) -> i32 {
    match errno.map(Errno::from_raw_os_error) {
        // The file is there (it was found): ENOENT from exec is its
        // interpreter (`#!/missing`) or loader that is missing.
        Some(
            Errno::NOENT
            | Errno::ACCESS
            | Errno::NOEXEC
            | Errno::ISDIR
            | Errno::PERM
            | Errno::TXTBSY
            | Errno::LIBBAD
            | Errno::LOOP
            | Errno::NAMETOOLONG
            | Errno::NOTDIR,
        ) => EXIT_CANNOT_EXECUTE,
        _ => EXIT_FAILED,
    }
}

/// What to tell the user about a failed exec of an existing file.
pub fn exec_message(program: &Path, errno: Option<i32>) -> Option<String> {
    match errno.map(Errno::from_raw_os_error) {
        Some(Errno::NOENT) => Some(format!(
            "{}: bad interpreter: the file exists, but its #! interpreter (or loader) does not",
            program.display()
        )),
        _ => None,
    }
}
