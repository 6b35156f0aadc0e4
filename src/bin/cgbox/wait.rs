//! Waiting for the command with a deadline, without losing the box to a
//! signal. While the command runs, SIGINT, SIGTERM, SIGHUP and SIGQUIT only
//! note themselves (and write a byte to a self-pipe), so that cgbox always
//! gets to kill and remove the box; the command itself gets the default
//! handlers back at `exec`. The wait is one `poll` on a pidfd of the child
//! and the self-pipe: no timer ticks, no spinning.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::ExitStatus;

use cgbox::spawn::BoxChild;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

/// How the wait ended.
pub enum Ended {
    /// The command exited (or was killed by a signal).
    Exited(ExitStatus),
    /// The deadline passed first.
    TimedOut,
    /// cgbox itself was asked to stop with this signal.
    Interrupted(i32),
}

const STOP_SIGNALS: [i32; 4] = [2, 15, 1, 3]; // SIGINT, SIGTERM, SIGHUP, SIGQUIT
const SIG_DFL: usize = 0;

static CAUGHT: AtomicI32 = AtomicI32::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

unsafe extern "C" {
    // From the C library std already links; the one call cgbox needs that
    // neither std nor rustix's stable API offers.
    fn signal(signum: i32, handler: usize) -> usize;
}

extern "C" fn on_signal(sig: i32) {
    CAUGHT.store(sig, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: the fd is the write end of the guard's pipe, open while
        // the handler is installed; write(2) is async-signal-safe.
        let _ = rustix::io::write(unsafe { BorrowedFd::borrow_raw(fd) }, &[1]);
    }
}

/// Catches the stop signals while it lives.
pub struct SignalGuard {
    read: OwnedFd,
    _write: OwnedFd,
}

impl SignalGuard {
    pub fn install() -> io::Result<SignalGuard> {
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        WAKE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
        CAUGHT.store(0, Ordering::SeqCst);
        for sig in STOP_SIGNALS {
            // SAFETY: `on_signal` only touches atomics and calls write(2).
            unsafe { signal(sig, on_signal as extern "C" fn(i32) as usize) };
        }
        Ok(SignalGuard {
            read,
            _write: write,
        })
    }

    /// The stop signal caught so far, if any.
    pub fn caught(&self) -> Option<i32> {
        match CAUGHT.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for sig in STOP_SIGNALS {
            // SAFETY: restoring the default disposition.
            unsafe { signal(sig, SIG_DFL) };
        }
        WAKE_FD.store(-1, Ordering::SeqCst);
    }
}

/// Wait for `child` until `deadline`, or until cgbox is asked to stop.
pub fn wait(
    child: &mut BoxChild,
    deadline: Option<Instant>,
    guard: &SignalGuard,
) -> io::Result<Ended> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).map_err(io::Error::other)?)
        .ok_or_else(|| io::Error::other("child has PID 0"))?;
    // Already reaped, or a kernel without pidfds: fall back to wait().
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Ended::Exited(status));
        }
        if let Some(sig) = guard.caught() {
            return Ok(Ended::Interrupted(sig));
        }
        let Some(pidfd) = &pidfd else {
            return child.wait().map(Ended::Exited);
        };
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Ended::TimedOut);
                }
                Some(Timespec {
                    tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                    tv_nsec: i64::from(left.subsec_nanos()),
                })
            }
            None => None,
        };
        let mut fds = [
            PollFd::new(pidfd, PollFlags::IN),
            PollFd::from_borrowed_fd(guard.read.as_fd(), PollFlags::IN),
        ];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
