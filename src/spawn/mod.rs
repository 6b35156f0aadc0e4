//! Starting a program already inside a box.
//!
//! Two ways in:
//!
//! - [`JobBox::start`] with a [`BoxCommand`]: on Linux 5.7+ (x86_64) the
//!   child is created inside the box by one `clone3` with
//!   `CLONE_INTO_CGROUP`, `CLONE_PIDFD` and vfork semantics (shared memory,
//!   a stack of its own, as `posix_spawn` does): nothing is migrated, no
//!   `cgroup.procs` is written, and the cost does not grow with the size of
//!   this process. Where `clone3` is missing or refused (`ENOSYS`, as
//!   Docker's default seccomp profile answers; `EPERM`; `E2BIG` or `EINVAL`
//!   from kernels before 5.7), or the command asks for a uid, a gid or a
//!   `pre_exec` hook, it takes the fork path below instead, and says why at
//!   debug level. Either way a [`BoxChild`] comes back, with the pipes and
//!   a pidfd.
//! - [`JobBox::spawn`] with a `std::process::Command` (the fork path): the
//!   child of `fork` writes `0` to a duplicate of the box's `cgroup.procs`
//!   in a `pre_exec` hook and only then `exec`s, so the program never runs
//!   outside the box. The hook makes std fork the whole process instead of
//!   using `posix_spawn`, and the move takes the cgroup lock: slower.
//!
//! # Examples
//!
//! ```no_run
//! use std::sync::Arc;
//! use cgbox::Builder;
//! use cgbox::fs::SysFs;
//! use cgbox::spawn::{BoxCommand, Stdio};
//!
//! let job = Builder::new().create(Arc::new(SysFs::new()?))?;
//! let mut cmd = BoxCommand::new("cat");
//! cmd.arg("/proc/self/cgroup").stdout(Stdio::piped());
//! let child = job.start(&cmd)?;
//! assert!(child.born_inside()); // on Linux 5.7+, x86_64
//! let out = child.wait_with_output()?;
//! assert!(String::from_utf8_lossy(&out.stdout).contains(job.name()));
//! job.destroy()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The fork path, with a `std::process::Command`:
//!
//! ```no_run
//! use std::process::Command;
//! use std::sync::Arc;
//! use cgbox::fs::SysFs;
//! use cgbox::{Builder, Limits, Size};
//!
//! let job = Builder::new()
//!     .limits(Limits::new().memory_max(Size::parse("1G")?).cpus(2.0))
//!     .create(Arc::new(SysFs::new()?))?;
//! let mut child = job.spawn(Command::new("make").arg("-j4"))?; // born in the box
//! let status = child.wait()?;
//! job.destroy()?; // and whatever make left running goes with the box
//! println!("make: {status}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Arc;

use crate::fs::{CgroupFs, Handle, SysFs};
use crate::{Error, JobBox, Result};

mod child;
mod clone3;
mod command;
mod plan;

pub use child::BoxChild;
pub(crate) use command::Io;
pub use command::{BoxCommand, Stdio};

impl JobBox<SysFs> {
    /// Start `cmd` inside the box: born there by `clone3` where the kernel
    /// allows it, else forked and moved in before `exec` (see the
    /// [module docs](crate::spawn)). Errors carry the errno: `ENOENT` when
    /// the program is not found, `EACCES` or `ENOEXEC` when it cannot be
    /// executed.
    ///
    /// See the [example](crate::spawn#examples).
    pub fn start(&self, cmd: &BoxCommand) -> Result<BoxChild> {
        if let Some(reason) = cmd.fork_only() {
            return self.start_forked(cmd, reason);
        }
        if !self.fs().checks_magic() {
            return self.start_forked(cmd, "the box is in a fixture tree, not on cgroup2");
        }
        match clone3::start(self, cmd)? {
            clone3::Outcome::Started(child) => Ok(child),
            clone3::Outcome::Refused(reason) => self.start_forked(cmd, &reason),
        }
    }

    fn start_forked(&self, cmd: &BoxCommand, reason: &str) -> Result<BoxChild> {
        log::debug!(
            "start {} in box {}: fork path, as {reason}",
            cmd.get_program().to_string_lossy(),
            self.path().display()
        );
        let mut std_cmd = cmd.to_std().map_err(|e| {
            let operation = format!("start {} in box", cmd.get_program().to_string_lossy());
            match e.raw_os_error() {
                Some(errno) => Error::from_errno(operation, self.path(), errno),
                None => Error::new(crate::ErrorKind::Other, operation).with_detail(e.to_string()),
            }
        })?;
        let child = self
            .spawn_moved(&mut std_cmd, cmd.cgroup_namespace)
            .map_err(|e| match cmd.cgroup_namespace {
                true => explain_cgroupns(e),
                false => e,
            })?;
        let pidfd = self.fs().pidfd_open(child.id()).ok();
        Ok(BoxChild::forked(child, pidfd))
    }

    /// Spawn `cmd` inside the box on the fork path (see the
    /// [module docs](crate::spawn); [`JobBox::start`] is faster). The
    /// `cgroup.procs` fd the hook writes to is a duplicate owned by the
    /// hook itself, so the `Command` stays safe to spawn again even after
    /// the box handle is gone (it then fails with the kernel's error
    /// instead of writing to a stale fd number).
    ///
    /// See the [example](crate::spawn#examples).
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        self.spawn_moved(cmd, false)
    }

    /// [`JobBox::spawn`]; with `cgroup_namespace`, the child, once in the
    /// box, makes it the root of a new cgroup namespace.
    fn spawn_moved(&self, cmd: &mut Command, cgroup_namespace: bool) -> Result<Child> {
        let procs = self.procs_file()?;
        let path = procs.path().to_path_buf();
        let fd = rustix::io::fcntl_dupfd_cloexec(procs.fd(), 0)
            .map_err(|e| Error::from_rustix("dup", &path, e))?;
        let fd = Arc::new(fd);
        // SAFETY: the hook only calls `write(2)` through rustix's raw
        // syscall and builds an `io::Error` from an errno without allocating.
        unsafe {
            cmd.pre_exec(move || {
                rustix::io::write(&*fd, b"0")
                    .map(drop)
                    .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))
            });
        }
        if cgroup_namespace {
            // SAFETY: the hook runs after the move above and makes one
            // unshare(2) through rustix's raw syscall, with NEWCGROUP only:
            // it shares no fd table or memory that rustix's `unshare_unsafe`
            // warns about. The error is built from an errno without
            // allocating.
            unsafe {
                cmd.pre_exec(|| {
                    rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWCGROUP)
                        .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))
                });
            }
        }
        let child = cmd.spawn().map_err(|e| {
            let program = std::path::PathBuf::from(cmd.get_program());
            let operation = format!("spawn into box {}", self.path().display());
            match e.raw_os_error() {
                Some(errno) => Error::from_errno(operation, &program, errno),
                None => Error::new(crate::ErrorKind::Other, operation)
                    .with_path(&program)
                    .with_detail(e.to_string()),
            }
        })?;
        // Not yet reaped (we hold the Child), so the PID is still this process.
        if let Ok(pidfd) = self.fs().pidfd_open(child.id()) {
            self.watch_exit(pidfd);
        }
        Ok(child)
    }
}

/// A cgroup namespace the child could not make: `EPERM` means it lacks
/// `CAP_SYS_ADMIN`, which the fix names.
pub(crate) fn explain_cgroupns(e: Error) -> Error {
    if e.errno() == Some(rustix::io::Errno::PERM.raw_os_error()) {
        e.with_detail("making a cgroup namespace needs CAP_SYS_ADMIN; nothing ran")
            .with_hint("run as root, or without a cgroup namespace")
    } else {
        e
    }
}
