//! [`BoxChild`]: a started program, whichever way it was started.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};
use std::sync::Arc;

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};

/// A program started in a box by [`BoxRef::start`](crate::BoxRef::start):
/// what [`std::process::Child`] offers, plus the pidfd.
///
/// As with `Child`, dropping it neither kills nor reaps the program; the
/// box's kill and [`BoxChild::wait`] do.
///
/// See the [example](crate::BoxCommand#examples).
#[derive(Debug)]
pub struct BoxChild {
    /// The write end of the child's stdin, when it was [`Stdio::piped`](super::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The read end of the child's stdout, when piped.
    pub stdout: Option<ChildStdout>,
    /// The read end of the child's stderr, when piped.
    pub stderr: Option<ChildStderr>,
    inner: Inner,
    /// Held until the child is reaped: tells its box that a job of its own
    /// may still run there (see `BoxRef::watch_exit`).
    unreaped: Option<Arc<()>>,
}

/// A forked child's pidfd and its box's token (see `BoxRef::watch_exit`),
/// where `pidfd_open` worked.
pub(crate) type Watched = (Arc<OwnedFd>, Arc<()>);

#[derive(Debug)]
enum Inner {
    /// Born in the box by clone3; `status` once reaped.
    Clone3 {
        pid: Pid,
        pidfd: Arc<OwnedFd>,
        status: Option<ExitStatus>,
    },
    /// Forked outside and moved in before exec (std's spawn).
    Fork {
        child: Child,
        pidfd: Option<Arc<OwnedFd>>,
    },
}

impl BoxChild {
    pub(crate) fn born(
        pid: Pid,
        pidfd: Arc<OwnedFd>,
        unreaped: Arc<()>,
        stdio: [Option<OwnedFd>; 3],
    ) -> BoxChild {
        let [stdin, stdout, stderr] = stdio;
        BoxChild {
            stdin: stdin.map(ChildStdin::from),
            stdout: stdout.map(ChildStdout::from),
            stderr: stderr.map(ChildStderr::from),
            inner: Inner::Clone3 {
                pid,
                pidfd,
                status: None,
            },
            unreaped: Some(unreaped),
        }
    }

    pub(crate) fn forked(mut child: Child, watched: Option<Watched>) -> BoxChild {
        let (pidfd, unreaped) = watched.unzip();
        BoxChild {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            inner: Inner::Fork { child, pidfd },
            unreaped,
        }
    }

    /// Once reaped, the child no longer keeps its box busy.
    fn reaped(&mut self) {
        self.unreaped = None;
    }

    /// The process id.
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn id(&self) -> u32 {
        match &self.inner {
            // A PID from the kernel is positive.
            Inner::Clone3 { pid, .. } => pid.as_raw_pid().unsigned_abs(),
            Inner::Fork { child, .. } => child.id(),
        }
    }

    /// A pidfd of the child: readable (`POLLIN`) once it has exited. `None`
    /// only on the fork path on a kernel without `pidfd_open` (before 5.3).
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            Inner::Clone3 { pidfd, .. } => Some(pidfd.as_fd()),
            Inner::Fork { pidfd, .. } => pidfd.as_deref().map(AsFd::as_fd),
        }
    }

    /// True when the child was created inside the box by `clone3` with
    /// `CLONE_INTO_CGROUP` (it never ran anywhere else); false when it was
    /// forked and moved in before `exec` (the fallback).
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn born_inside(&self) -> bool {
        matches!(self.inner, Inner::Clone3 { .. })
    }

    /// Send SIGKILL. A child that has already exited is not an error.
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn kill(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Clone3 {
                status: Some(_), ..
            } => Ok(()),
            Inner::Clone3 { pidfd, .. } => {
                match rustix::process::pidfd_send_signal(&*pidfd, Signal::KILL) {
                    Ok(()) | Err(Errno::SRCH) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Inner::Fork { child, .. } => child.kill(),
        }
    }

    /// Wait for the child to exit (stdin is closed first, as
    /// [`Child::wait`] does) and reap it.
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        let status = match &mut self.inner {
            Inner::Clone3 {
                status: Some(s), ..
            } => Ok(*s),
            Inner::Clone3 { pid, status, .. } => reap(*pid, WaitOptions::empty())
                .and_then(|s| {
                    s.ok_or_else(|| io::Error::other("waitpid without WNOHANG returned no status"))
                })
                .inspect(|s| *status = Some(*s)),
            Inner::Fork { child, .. } => child.wait(),
        };
        if status.is_ok() {
            self.reaped();
        }
        status
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let status = match &mut self.inner {
            Inner::Clone3 {
                status: Some(s), ..
            } => Ok(Some(*s)),
            Inner::Clone3 { pid, status, .. } => {
                reap(*pid, WaitOptions::NOHANG).inspect(|s| *status = *s)
            }
            Inner::Fork { child, .. } => child.try_wait(),
        };
        if let Ok(Some(_)) = status {
            self.reaped();
        }
        status
    }

    /// Close stdin, read stdout and stderr to the end (both at once, so
    /// that neither pipe can fill and stall the child), then wait.
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = match (self.stdout.take(), self.stderr.take()) {
            (None, None) => (Vec::new(), Vec::new()),
            (Some(mut out), None) => {
                let mut v = Vec::new();
                out.read_to_end(&mut v)?;
                (v, Vec::new())
            }
            (None, Some(mut err)) => {
                let mut v = Vec::new();
                err.read_to_end(&mut v)?;
                (Vec::new(), v)
            }
            (Some(out), Some(err)) => read2(out.into(), err.into())?,
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// `waitpid` on our own child, retried on `EINTR`.
fn reap(pid: Pid, options: WaitOptions) -> io::Result<Option<ExitStatus>> {
    loop {
        match rustix::process::waitpid(Some(pid), options) {
            Ok(Some((_, status))) => return Ok(Some(ExitStatus::from_raw(status.as_raw()))),
            Ok(None) => return Ok(None),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Read two pipes to their ends at once, with `poll`.
fn read2(out: OwnedFd, err: OwnedFd) -> io::Result<(Vec<u8>, Vec<u8>)> {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut bufs = (Vec::new(), Vec::new());
    let mut open = [Some(out), Some(err)];
    let mut chunk = [0u8; 8192];
    while open.iter().any(Option::is_some) {
        let mut fds: Vec<PollFd<'_>> = open
            .iter()
            .flatten()
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        match poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|p| !p.revents().is_empty()).collect();
        drop(fds);
        let mut ready = ready.into_iter();
        for (slot, buf) in open.iter_mut().zip([&mut bufs.0, &mut bufs.1]) {
            let Some(fd) = slot else { continue };
            if !ready.next().unwrap_or(false) {
                continue;
            }
            match rustix::io::read(&*fd, &mut chunk) {
                Ok(0) => *slot = None,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(Errno::INTR) | Err(Errno::AGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(bufs)
}
