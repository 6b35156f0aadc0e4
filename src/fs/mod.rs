//! The seam between cgbox's logic and the kernel.
//!
//! Everything cgbox does to cgroups goes through [`CgroupFs`]: the real
//! [`SysFs`] on Linux, or `FakeFs` (the `fake` feature), an in-memory
//! model of the kernel's cgroup v2 rules with fake processes and fault
//! injection. The trait is
//! handle-based: a cgroup directory is opened once and files are reached
//! relative to it, so the real backend works with `openat` on kept
//! directory fds and `pread` on kept file fds.
//!
//! See the [example](crate::fs::CgroupFs#examples).

use std::path::Path;
use std::time::Duration;

use crate::Result;

#[cfg(any(test, feature = "fake"))]
pub mod fake;
mod name;
mod sys;

#[cfg(any(test, feature = "fake"))]
pub use fake::FakeFs;
pub(crate) use name::check_component;
pub use name::validate_name;
pub use sys::SysFs;

/// Anything that knows the absolute path it stands for (as the process
/// sees it), for error messages and listings.
///
/// See the [example](crate::fs::CgroupFs#examples).
pub trait Handle: Send + Sync + std::fmt::Debug {
    /// The absolute path.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn path(&self) -> &Path;
}

/// How a kept file is opened.
///
/// See the [example](crate::fs::CgroupFs#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// For `pread` at offset 0, again and again.
    Read,
    /// For `write`, again and again (`cgroup.procs`, `cgroup.kill`).
    Write,
    /// For both on one open file: `memory.peak`, whose reset (a write,
    /// Linux 6.12+) holds for reads of that same open file only.
    ReadWrite,
}

/// The operations cgbox needs from the kernel. See the [module docs](self).
///
/// Names passed as `name` are single path components; backends refuse
/// anything else (a slash, `..`, NUL) with [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName).
///
/// # An extension point, with a contract
///
/// The trait is public and not sealed: [`SysFs`] and `FakeFs` are the two
/// backends this crate ships, and a program may add its own (one that
/// records every call, say, or injects the failures its own tests need).
/// What the rest of the crate relies on is what `SysFs` does on Linux, and
/// what the fake is checked against on every supported kernel: errors keep
/// the kernel's errno (`ENOENT` for a removed cgroup, `EBUSY`,
/// `EOPNOTSUPP`...), reads return whole files, `wait_for_change` wakes on
/// `cgroup.events` changes and on pidfd exits and never spins, and
/// `now`/`sleep` are one clock. A backend that answers otherwise can make
/// cgbox wait out timeouts or report a box killed that is not. New methods
/// may be added in a minor release, with a default where one exists.
///
/// # Examples
///
/// Every operation on the fake, as the real backend does it on Linux:
///
/// ```
/// use std::path::Path;
/// use std::time::Duration;
/// use cgbox::fs::{Access, CgroupFs, FakeFs, Handle};
///
/// let fs = FakeFs::new();
/// let root = fs.open_dir(Path::new("/sys/fs/cgroup"))?;
/// let mounts = fs.read_host_file(Path::new("/proc/self/mountinfo"))?;
/// assert!(String::from_utf8_lossy(&mounts).contains(" - cgroup2 "));
///
/// // Directories: made, opened, listed, removed.
/// fs.make_child(&root, "job")?;
/// fs.write_file(&root, "cgroup.subtree_control", b"+memory +pids")?;
/// let job = fs.open_child(&root, "job")?;
/// assert_eq!(job.path(), Path::new("/sys/fs/cgroup/job"));
/// assert_eq!(fs.child_names(&root)?, ["job"]);
/// assert!(fs.has_file(&job, "memory.max")? && fs.may_write(&job, Some("memory.max")));
///
/// // Files: whole reads and writes, or kept open for pread and write.
/// fs.write_file(&job, "pids.max", b"16")?;
/// let mut buf = Vec::new();
/// fs.read_file(&job, "pids.max", &mut buf)?;
/// assert_eq!(buf, b"16\n");
/// fs.read_file(&job, "memory.max", &mut buf)?;
/// assert_eq!(buf, b"max\n");
/// assert!(fs.read_file(&job, "no.such.file", &mut buf).unwrap_err().is_gone());
/// let procs = fs.open_file(&job, "cgroup.procs", Access::Write)?;
/// let events = fs.open_file(&job, "cgroup.events", Access::Read)?;
/// let pid = fs.spawn("")?; // a fake process in the root
/// fs.write_kept(&procs, pid.to_string().as_bytes())?; // moved into job
/// let mut kept = [0u8; 64];
/// let n = fs.read_kept(&events, &mut kept)?;
/// assert!(kept[..n].starts_with(b"populated 1"));
///
/// // Processes through pidfds, and waits on them.
/// let pidfd = fs.pidfd_open(pid)?;
/// fs.pidfd_kill(&pidfd)?;
/// let mut exits = vec![pidfd];
/// while !fs.wait_for_change(&events, &mut exits, Duration::from_millis(100))? {}
/// assert!(exits.is_empty(), "the killed process's pidfd is dropped");
/// fs.reap(pid)?;
/// let other = fs.spawn("job")?;
/// let mut exits = vec![fs.pidfd_open(other)?];
/// assert!(!fs.wait_for_exit(&mut exits, Duration::ZERO)?); // still running
/// fs.pidfd_kill(&exits[0])?;
/// while !fs.wait_for_exit(&mut exits, Duration::from_millis(100))? {}
/// assert!(exits.is_empty());
/// fs.reap(other)?;
///
/// // xattrs, locks, ages, who we are, and the clock.
/// fs.write_xattr(&job, "user.cgbox.kept", b"1")?;
/// assert_eq!(fs.read_xattr(&job, "user.cgbox.kept")?, Some(b"1".to_vec()));
/// assert!(fs.try_lock(&job)?);
/// assert_eq!(fs.age(&job)?, Duration::ZERO); // the fake's clock has not moved
/// assert_eq!((fs.self_pid(), fs.euid()), (1, 0));
/// let until = fs.now() + Duration::from_secs(1);
/// fs.sleep(Duration::from_secs(1)); // the fake's clock advances
/// assert_eq!(fs.now(), until);
/// drop((job, procs, events));
/// fs.remove_child(&root, "job")?;
/// # Ok::<(), cgbox::Error>(())
/// ```
pub trait CgroupFs: Send + Sync {
    /// An open cgroup directory.
    type Dir: Handle;
    /// An open interface file, kept for repeated reads or writes.
    type File: Handle;
    /// A reference to a process that cannot be confused with a later
    /// process of the same PID (a pidfd on Linux).
    type Pidfd: Send + Sync;

    /// Read a file outside cgroupfs, such as `/proc/self/mountinfo`.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn read_host_file(&self, path: &Path) -> Result<Vec<u8>>;

    /// Open a cgroup directory by absolute path. The real backend refuses a
    /// directory that is not on cgroup2 with [`ErrorKind::NotCgroup2`](crate::ErrorKind::NotCgroup2)
    /// unless it is rooted at a fixture tree.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn open_dir(&self, path: &Path) -> Result<Self::Dir>;
    /// Open the child cgroup `name` of `dir`.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn open_child(&self, dir: &Self::Dir, name: &str) -> Result<Self::Dir>;
    /// Create the child cgroup `name` (`mkdir`).
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn make_child(&self, dir: &Self::Dir, name: &str) -> Result<()>;
    /// Remove the child cgroup `name` (`rmdir`).
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn remove_child(&self, dir: &Self::Dir, name: &str) -> Result<()>;
    /// The names of the child cgroups of `dir`, sorted.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn child_names(&self, dir: &Self::Dir) -> Result<Vec<String>>;
    /// Whether the interface file `name` exists in `dir`.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn has_file(&self, dir: &Self::Dir, name: &str) -> Result<bool>;
    /// Whether this process may write `name` in `dir` (`None`: the directory itself).
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn may_write(&self, dir: &Self::Dir, name: Option<&str>) -> bool;

    /// Read the whole interface file `name` into `buf` (cleared first).
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn read_file(&self, dir: &Self::Dir, name: &str, buf: &mut Vec<u8>) -> Result<()>;
    /// Write `data` to `name` with one `write(2)`.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn write_file(&self, dir: &Self::Dir, name: &str, data: &[u8]) -> Result<()>;
    /// Open `name` to keep it.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn open_file(&self, dir: &Self::Dir, name: &str, access: Access) -> Result<Self::File>;
    /// Read a kept file from offset 0 into `buf` (one `pread`), returning the length.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn read_kept(&self, file: &Self::File, buf: &mut [u8]) -> Result<usize>;
    /// Write `data` to a kept file with one `write(2)`.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn write_kept(&self, file: &Self::File, data: &[u8]) -> Result<()>;
    /// Wait up to `timeout` for the kernel to signal that a kept file
    /// (`cgroup.events`) changed since it was last read, or that one of
    /// `exits` (pidfds of processes we started) ended. Pidfds of ended
    /// processes are removed from `exits`, so that they do not wake every
    /// later wait. `Ok(false)` on timeout.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn wait_for_change(
        &self,
        file: &Self::File,
        exits: &mut Vec<Self::Pidfd>,
        timeout: Duration,
    ) -> Result<bool>;
    /// Wait up to `timeout` for one of `exits` (pidfds of processes we
    /// started) to end, removing the ended ones from `exits`; `Ok(false)`
    /// on timeout. Cheaper than [`wait_for_change`](Self::wait_for_change)
    /// right after a kill: no `cgroup.events` to open, and none that wakes
    /// the wait before the processes are gone. The default waits for
    /// nothing and returns `Ok(false)`, which sends callers to
    /// `wait_for_change`: a backend without pidfds loses only speed.
    /// [`SysFs`] looks at the pidfds for up to 200 us before it sleeps on
    /// them: a killed job ends within tens of microseconds, and an idle
    /// CPU can take longer than that to wake.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn wait_for_exit(&self, exits: &mut Vec<Self::Pidfd>, timeout: Duration) -> Result<bool> {
        let _ = (exits, timeout);
        Ok(false)
    }

    /// Get a pidfd for `pid`.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn pidfd_open(&self, pid: u32) -> Result<Self::Pidfd>;
    /// Send SIGKILL through a pidfd.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn pidfd_kill(&self, pidfd: &Self::Pidfd) -> Result<()>;

    /// Read the extended attribute `name` of a cgroup directory; `None`
    /// when it is not set, or the kernel has no xattrs on cgroupfs.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn read_xattr(&self, dir: &Self::Dir, name: &str) -> Result<Option<Vec<u8>>>;
    /// Set the extended attribute `name` of a cgroup directory.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn write_xattr(&self, dir: &Self::Dir, name: &str, value: &[u8]) -> Result<()>;
    /// Take the exclusive `flock` of a cgroup directory without waiting.
    /// `Ok(true)`: taken, and held until this handle is dropped (or the
    /// process dies); `Ok(false)`: another open description holds it.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn try_lock(&self, dir: &Self::Dir) -> Result<bool>;
    /// How long ago the cgroup directory was last changed (made, or a child
    /// cgroup made or removed in it): its mtime.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn age(&self, dir: &Self::Dir) -> Result<Duration>;
    /// This process's PID, as `cgroup.procs` lists it.
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn self_pid(&self) -> u32;
    /// This process's effective user ID (0: root).
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn euid(&self) -> u32;

    /// A monotonic clock (the fake's is virtual).
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn now(&self) -> Duration;
    /// Sleep, for bounded backoff (the fake advances its clock).
    ///
    /// See the [example](crate::fs::CgroupFs#examples).
    fn sleep(&self, duration: Duration);
}

/// Read `name` in `dir` as UTF-8 text.
pub(crate) fn read_string<F: CgroupFs + ?Sized>(
    fs: &F,
    dir: &F::Dir,
    name: &str,
) -> Result<String> {
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
///
/// See the [example](crate::fs::CgroupFs#examples).
pub(crate) fn read_optional<F: CgroupFs + ?Sized>(
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
///
/// See the [example](crate::fs::CgroupFs#examples).
pub(crate) fn deadline<F: CgroupFs + ?Sized>(fs: &F, timeout: Duration) -> Duration {
    fs.now().saturating_add(timeout)
}
