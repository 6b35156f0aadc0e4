//! Starting a program already inside a box.
//! (documented on [`BoxCommand`]).

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Arc;

use crate::fs::{CgroupFs, Handle, SysFs};
use crate::{BoxRef, Error, Result};

mod child;
mod clone3;
mod command;
mod plan;

pub use child::BoxChild;
pub(crate) use command::Io;
pub use command::{BoxCommand, Stdio};

impl BoxRef<SysFs> {
    /// Start `cmd` inside the box: born there by `clone3` where the kernel
    /// allows it, else forked and moved in before `exec` (see the
    /// [`BoxCommand`](crate::BoxCommand) docs). Errors carry the errno: `ENOENT` when
    /// the program is not found, `EACCES` or `ENOEXEC` when it cannot be
    /// executed.
    ///
    /// See the [example](crate::BoxCommand#examples).
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
        let (child, pidfd) = self
            .spawn_moved(&mut std_cmd, cmd.cgroup_namespace)
            .map_err(|e| match cmd.cgroup_namespace {
                true => explain_cgroupns(e),
                false => e,
            })?;
        Ok(BoxChild::forked(child, pidfd))
    }

    /// Spawn `cmd` inside the box on the fork path (see the
    /// [`BoxCommand`](crate::BoxCommand) docs; [`BoxRef::start`] is faster). The
    /// `cgroup.procs` fd the hook writes to is a duplicate owned by the
    /// hook itself, so the `Command` stays safe to spawn again even after
    /// the box handle is gone (it then fails with the kernel's error
    /// instead of writing to a stale fd number).
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        self.spawn_moved(cmd, false).map(|(child, _)| child)
    }

    /// [`BoxRef::spawn`]; with `cgroup_namespace`, the child, once in the
    /// box, makes it the root of a new cgroup namespace. The child's pidfd
    /// comes back too (the box watches it), where the kernel gives one.
    fn spawn_moved(
        &self,
        cmd: &mut Command,
        cgroup_namespace: bool,
    ) -> Result<(Child, Option<Arc<OwnedFd>>)> {
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
        let pidfd = self.fs().pidfd_open(child.id()).ok();
        if let Some(pidfd) = &pidfd {
            self.watch_exit(Arc::clone(pidfd));
        }
        Ok((child, pidfd))
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
