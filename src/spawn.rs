//! Starting a program already inside a box.
//!
//! The child of `fork` writes `0` to a `cgroup.procs` fd opened beforehand,
//! in a `pre_exec` hook, and only then `exec`s: the program never runs
//! outside the box. The hook makes one raw `write(2)` and nothing else, so
//! it is async-signal-safe.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Arc;

use crate::fs::{CgroupFs, Handle, SysFs};
use crate::{Error, JobBox, Result};

impl JobBox<SysFs> {
    /// Spawn `cmd` inside the box. The `cgroup.procs` fd the hook writes
    /// to is a duplicate owned by the hook itself, so the `Command` stays
    /// safe to spawn again even after the box handle is gone (it then fails
    /// with the kernel's error instead of writing to a stale fd number).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::process::Command;
    /// use std::sync::Arc;
    /// use cgbox::fs::SysFs;
    /// use cgbox::{Builder, Limits, Size};
    ///
    /// let job = Builder::new()
    ///     .limits(Limits::new().memory_max(Size::parse("1G")?).cpus(2.0))
    ///     .create(Arc::new(SysFs::new()?))?;
    /// let mut child = job.spawn(Command::new("make").arg("-j4"))?; // born in the box
    /// let status = child.wait()?;
    /// job.destroy()?; // and whatever make left running goes with the box
    /// println!("make: {status}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        let path = self.procs_file().path().to_path_buf();
        let fd = rustix::io::fcntl_dupfd_cloexec(self.procs_file().fd(), 0)
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
