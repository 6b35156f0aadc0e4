//! The seam between cgbox's logic and the kernel.
//!
//! Everything cgbox does to cgroups goes through [`CgroupFs`]: the real
//! [`SysFs`] on Linux, or [`FakeFs`], an in-memory model of the kernel's
//! cgroup v2 rules with fake processes and fault injection. The trait is
//! handle-based: a cgroup directory is opened once and files are reached
//! relative to it, so the real backend works with `openat` on kept
//! directory fds and `pread` on kept file fds.

use std::path::Path;
use std::time::Duration;

use crate::Result;

pub mod fake;
mod name;
pub mod sys;

pub use fake::FakeFs;
pub use name::{check_component, validate_name};
pub use sys::SysFs;

/// Anything that knows the absolute path it stands for (as the process
/// sees it), for error messages and listings.
pub trait Handle: Send + Sync + std::fmt::Debug {
    /// The absolute path.
    fn path(&self) -> &Path;
}

/// How a kept file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// For `pread` at offset 0, again and again.
    Read,
    /// For `write`, again and again (`cgroup.procs`, `cgroup.kill`).
    Write,
}

/// The operations cgbox needs from the kernel. See the [module docs](self).
///
/// Names passed as `name` are single path components; backends refuse
/// anything else (a slash, `..`, NUL) with [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName).
pub trait CgroupFs: Send + Sync {
    /// An open cgroup directory.
    type Dir: Handle;
    /// An open interface file, kept for repeated reads or writes.
    type File: Handle;
    /// A reference to a process that cannot be confused with a later
    /// process of the same PID (a pidfd on Linux).
    type Pidfd: Send + Sync;

    /// Read a file outside cgroupfs, such as `/proc/self/mountinfo`.
    fn read_host_file(&self, path: &Path) -> Result<Vec<u8>>;

    /// Open a cgroup directory by absolute path. The real backend refuses a
    /// directory that is not on cgroup2 with [`ErrorKind::NotCgroup2`](crate::ErrorKind::NotCgroup2)
    /// unless it is rooted at a fixture tree.
    fn open_dir(&self, path: &Path) -> Result<Self::Dir>;
    /// Open the child cgroup `name` of `dir`.
    fn open_child(&self, dir: &Self::Dir, name: &str) -> Result<Self::Dir>;
    /// Create the child cgroup `name` (`mkdir`).
    fn make_child(&self, dir: &Self::Dir, name: &str) -> Result<()>;
    /// Remove the child cgroup `name` (`rmdir`).
    fn remove_child(&self, dir: &Self::Dir, name: &str) -> Result<()>;
    /// The names of the child cgroups of `dir`, sorted.
    fn child_names(&self, dir: &Self::Dir) -> Result<Vec<String>>;
    /// Whether the interface file `name` exists in `dir`.
    fn has_file(&self, dir: &Self::Dir, name: &str) -> Result<bool>;
    /// Whether this process may write `name` in `dir` (`None`: the directory itself).
    fn may_write(&self, dir: &Self::Dir, name: Option<&str>) -> bool;

    /// Read the whole interface file `name` into `buf` (cleared first).
    fn read_file(&self, dir: &Self::Dir, name: &str, buf: &mut Vec<u8>) -> Result<()>;
    /// Write `data` to `name` with one `write(2)`.
    fn write_file(&self, dir: &Self::Dir, name: &str, data: &[u8]) -> Result<()>;
    /// Open `name` to keep it.
    fn open_file(&self, dir: &Self::Dir, name: &str, access: Access) -> Result<Self::File>;
    /// Read a kept file from offset 0 into `buf` (one `pread`), returning the length.
    fn read_kept(&self, file: &Self::File, buf: &mut [u8]) -> Result<usize>;
    /// Write `data` to a kept file with one `write(2)`.
    fn write_kept(&self, file: &Self::File, data: &[u8]) -> Result<()>;
    /// Wait up to `timeout` for the kernel to signal that a kept file
    /// (`cgroup.events`) changed since it was last read, or that one of
    /// `exits` (pidfds of processes we started) ended. Pidfds of ended
    /// processes are removed from `exits`, so that they do not wake every
    /// later wait. `Ok(false)` on timeout.
    fn wait_for_change(
        &self,
        file: &Self::File,
        exits: &mut Vec<Self::Pidfd>,
        timeout: Duration,
    ) -> Result<bool>;

    /// Get a pidfd for `pid`.
    fn pidfd_open(&self, pid: u32) -> Result<Self::Pidfd>;
    /// Send SIGKILL through a pidfd.
    fn pidfd_kill(&self, pidfd: &Self::Pidfd) -> Result<()>;

    /// Read the extended attribute `name` of a cgroup directory; `None`
    /// when it is not set, or the kernel has no xattrs on cgroupfs.
    fn read_xattr(&self, dir: &Self::Dir, name: &str) -> Result<Option<Vec<u8>>>;
    /// Set the extended attribute `name` of a cgroup directory.
    fn write_xattr(&self, dir: &Self::Dir, name: &str, value: &[u8]) -> Result<()>;
    /// Take the exclusive `flock` of a cgroup directory without waiting.
    /// `Ok(true)`: taken, and held until this handle is dropped (or the
    /// process dies); `Ok(false)`: another open description holds it.
    fn try_lock(&self, dir: &Self::Dir) -> Result<bool>;
    /// How long ago the cgroup directory was last changed (made, or a child
    /// cgroup made or removed in it): its mtime.
    fn age(&self, dir: &Self::Dir) -> Result<Duration>;
    /// This process's PID, as `cgroup.procs` lists it.
    fn self_pid(&self) -> u32;
    /// This process's effective user ID (0: root).
    fn euid(&self) -> u32;

    /// A monotonic clock (the fake's is virtual).
    fn now(&self) -> Duration;
    /// Sleep, for bounded backoff (the fake advances its clock).
    fn sleep(&self, duration: Duration);
}

/// Read `name` in `dir` as UTF-8 text.
pub fn read_string<F: CgroupFs + ?Sized>(fs: &F, dir: &F::Dir, name: &str) -> Result<String> {
    let mut buf = Vec::new();
    fs.read_file(dir, name, &mut buf)?;
    String::from_utf8(buf).map_err(|_| {
        crate::Error::new(crate::ErrorKind::Parse, "read")
            .with_path(dir.path().join(name))
            .with_detail("content is not UTF-8")
    })
}

/// Read `name` in `dir`, `None` when it does not exist (ENOENT) or the
/// kernel does not support reading it (EOPNOTSUPP, as PSI can).
pub fn read_optional<F: CgroupFs + ?Sized>(
    fs: &F,
    dir: &F::Dir,
    name: &str,
) -> Result<Option<String>> {
    match read_string(fs, dir, name) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_absent() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The moment `timeout` from now on `fs`'s clock, saturating: a timeout of
/// [`Duration::MAX`] means "no deadline", never an overflow panic.
pub fn deadline<F: CgroupFs + ?Sized>(fs: &F, timeout: Duration) -> Duration {
    fs.now().saturating_add(timeout)
}
