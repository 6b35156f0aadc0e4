//! Starting a program already inside a box.
//! (documented on [`BoxCommand`]).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Arc;

use rustix::mount::MountFlags;

use crate::fs::{CgroupFs, Handle, SysFs};
use crate::{BoxRef, Error, Result};

mod child;
mod clone3;
mod command;
#[cfg(target_arch = "x86_64")]
mod exec_wait;
mod plan;

pub use child::BoxChild;
use child::Watched;
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
        let (child, watched) = self
            .spawn_moved(&mut std_cmd, cmd.cgroup_namespace)
            .map_err(|e| match cmd.cgroup_namespace {
                true => explain_cgroupns(e),
                false => e,
            })?;
        Ok(BoxChild::forked(child, watched))
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
        self.spawn_moved(cmd, false).map(|(child, ..)| child)
    }

    /// [`BoxRef::spawn`]; with `cgroup_namespace`, the child, once in the
    /// box, makes it the root of a new cgroup namespace. The child's pidfd
    /// comes back too (the box watches it), where the kernel gives one.
    fn spawn_moved(
        &self,
        cmd: &mut Command,
        cgroup_namespace: bool,
    ) -> Result<(Child, Option<Watched>)> {
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
            let remount = self.remount()?;
            // SAFETY: the hook runs after the move above. It makes one
            // unshare(2) through rustix's raw syscall, with NEWCGROUP (and
            // NEWNS when cgroup2 is mounted again): it shares no fd table
            // or memory that rustix's `unshare_unsafe` warns about. Then
            // raw mount(2)/umount2(2) calls on C strings made before the
            // fork (rustix passes a `&CStr` as it is, without copying).
            // Errors are built from an errno without allocating.
            unsafe {
                cmd.pre_exec(move || {
                    let errno =
                        |e: rustix::io::Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
                    let mut flags = rustix::thread::UnshareFlags::NEWCGROUP;
                    if remount.is_some() {
                        flags |= rustix::thread::UnshareFlags::NEWNS;
                    }
                    rustix::thread::unshare_unsafe(flags).map_err(errno)?;
                    if let Some(r) = &remount {
                        r.mount().map_err(errno)?;
                    }
                    Ok(())
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
        let watched = self.fs().pidfd_open(child.id()).ok().map(|pidfd| {
            let unreaped = self.watch_exit(Arc::clone(&pidfd));
            (pidfd, unreaped)
        });
        Ok((child, watched))
    }
}

/// cgroup2 mounted again for a job with a cgroup namespace, in a mount
/// namespace of its own, as container runtimes mount it: rooted at the
/// namespace root (the job's box), at the mount point through which this
/// process sees the box, so that `/sys/fs/cgroup/memory.max` (wherever
/// cgroup2 is) is the box's. Made before the job is started: the child
/// only passes these on to raw system calls.
#[derive(Debug, Clone)]
pub(crate) struct Remount {
    /// The mount point, NUL-terminated.
    pub(crate) target: CString,
    /// The flags of the mount it replaces (read-only stays read-only).
    pub(crate) flags: MountFlags,
}

impl Remount {
    /// In the child, after `unshare(CLONE_NEWCGROUP | CLONE_NEWNS)`:
    /// make every mount a slave (nothing the job mounts or unmounts
    /// reaches the host), take the old cgroup2 mount away from the job's
    /// view (best effort: a mount on top hides it too) and mount cgroup2
    /// there again. Raw system calls on prepared C strings, no allocation.
    ///
    /// The mount is made from inside the new cgroup namespace, so it is
    /// rooted at the box, and the superblock's flags (`nsdelegate`,
    /// `memory_recursiveprot`) are left as they are: only a mount from the
    /// initial cgroup namespace may change them.
    pub(crate) fn mount(&self) -> rustix::io::Result<()> {
        use rustix::mount::{MountPropagationFlags, UnmountFlags, mount, mount_change, unmount};
        mount_change(
            c"/",
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
        )?;
        let _ = unmount(self.target.as_c_str(), UnmountFlags::DETACH);
        mount(
            c"cgroup2",
            self.target.as_c_str(),
            c"cgroup2",
            self.flags,
            None::<&std::ffi::CStr>,
        )
    }
}

impl BoxRef<SysFs> {
    /// Where and how cgroup2 is mounted again for a job with a cgroup
    /// namespace; `None` in a fixture tree (no cgroup2 there).
    pub(crate) fn remount(&self) -> Result<Option<Remount>> {
        let fs = &**self.fs();
        if !fs.checks_magic() {
            return Ok(None);
        }
        let mounts = crate::home::mounts(fs)?;
        let Some(m) = mounts
            .v2
            .iter()
            .filter(|m| self.path().starts_with(&m.mount_point))
            .max_by_key(|m| m.mount_point.components().count())
        else {
            return Err(
                Error::new(crate::ErrorKind::NotCgroup2, "mount cgroup2 for the job")
                    .with_path(self.path())
                    .with_detail("no cgroup2 mount in /proc/self/mountinfo holds the box"),
            );
        };
        let target = CString::new(m.mount_point.as_os_str().as_bytes()).map_err(|_| {
            Error::new(crate::ErrorKind::InvalidInput, "mount cgroup2 for the job")
                .with_path(&m.mount_point)
                .with_detail("the mount point holds a NUL byte")
        })?;
        // The options of the mount it replaces, as the job saw them.
        let mut flags = MountFlags::empty();
        for option in &m.mount_options {
            flags |= match option.as_str() {
                "ro" => MountFlags::RDONLY,
                "nosuid" => MountFlags::NOSUID,
                "nodev" => MountFlags::NODEV,
                "noexec" => MountFlags::NOEXEC,
                "noatime" => MountFlags::NOATIME,
                "nodiratime" => MountFlags::NODIRATIME,
                "relatime" => MountFlags::RELATIME,
                _ => MountFlags::empty(),
            };
        }
        Ok(Some(Remount { target, flags }))
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
