//! Waiting for a `clone3` child that shares our memory to `execve` (or to
//! end before it): spin a little, then sleep.
//!
//! The kernel says so by clearing a word of ours and waking a futex on it
//! (`CLONE_CHILD_CLEARTID`) when the child lets go of our memory: at its
//! `execve`, or when it ends. `CLONE_VFORK` would put the parent to sleep
//! at once instead; a short spin first keeps its CPU awake (see
//! [`spin`](crate::spin) for why and how long), then it sleeps on the
//! futex.
//!
//! One end leaves the word set: older kernels (5.10 among them) keep it
//! for the debugger when a core-dumping signal kills the child. The sleep
//! therefore has a timeout ([`RECHECK`]), after which the child's pidfd
//! says whether it has ended.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::thread::futex;

/// The word's value until the kernel clears it.
pub(super) const RUNNING: u32 = 1;

/// How long one futex sleep lasts before the pidfd is asked whether the
/// child has ended without clearing the word.
const RECHECK: Duration = Duration::from_millis(10);

/// Return once `word` is cleared (the child exec'd or ended) or `pidfd`
/// (where there is one) says the child has ended.
pub(super) fn wait_for_exec(word: &AtomicU32, pidfd: Option<BorrowedFd<'_>>) {
    let cleared = || word.load(Ordering::Acquire) != RUNNING;
    if cleared() || crate::spin::until(cleared) {
        return;
    }
    sleep_on(word, pidfd);
}

/// The sleeping half of [`wait_for_exec`].
fn sleep_on(word: &AtomicU32, pidfd: Option<BorrowedFd<'_>>) {
    let recheck = futex::Timespec {
        tv_sec: 0,
        tv_nsec: RECHECK.as_nanos().try_into().unwrap_or(10_000_000),
    };
    while word.load(Ordering::Acquire) == RUNNING {
        // Not FUTEX_PRIVATE: the kernel's wake at exec or exit is a shared
        // one. EAGAIN (cleared meanwhile), EINTR and ETIMEDOUT all mean
        // look again.
        match futex::wait(word, futex::Flags::empty(), RUNNING, Some(&recheck)) {
            Ok(()) => continue,
            Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::INTR => continue,
            Err(e) if e == rustix::io::Errno::TIMEDOUT => {}
            // No futex to sleep on (never seen): sleep as long instead.
            Err(_) => std::thread::sleep(RECHECK),
        }
        if pidfd.is_some_and(ended) {
            return;
        }
    }
}

/// Whether the process of `pidfd` has ended (its pidfd polls readable).
fn ended(pidfd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn a_cleared_word_ends_the_wait_at_once_or_after_the_spin() {
        let us = rustix::process::pidfd_open(
            rustix::process::getpid(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        // Cleared before: no wait at all.
        wait_for_exec(&AtomicU32::new(0), Some(us.as_fd()));
        // An exec that takes longer than the spin: the parent sleeps, and
        // the kernel's shared futex wake (made here by a thread) ends it.
        let word = std::sync::Arc::new(AtomicU32::new(RUNNING));
        let slow = crate::spin::BUDGET * 3;
        let t = Instant::now();
        let execs = {
            let word = std::sync::Arc::clone(&word);
            std::thread::spawn(move || {
                std::thread::sleep(slow);
                word.store(0, Ordering::Release);
                futex::wake(&word, futex::Flags::empty(), 1).unwrap();
            })
        };
        wait_for_exec(&word, Some(us.as_fd()));
        let waited = t.elapsed();
        execs.join().unwrap();
        assert_eq!(word.load(Ordering::Acquire), 0);
        assert!(
            waited >= slow,
            "returned after {waited:?}, before the word was cleared"
        );
        assert!(
            waited < RECHECK * 50,
            "took {waited:?}: the wake was missed"
        );
    }

    #[test]
    fn a_child_that_ends_without_clearing_the_word_ends_the_wait() {
        // As a child killed by a core-dumping signal before exec leaves it
        // on older kernels: the word stays set, the pidfd tells.
        let mut child = Command::new("/bin/sh")
            .args(["-c", "exit 3"])
            .spawn()
            .unwrap();
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).unwrap();
        let word = AtomicU32::new(RUNNING);
        wait_for_exec(&word, Some(pidfd.as_fd()));
        assert_eq!(word.load(Ordering::Acquire), RUNNING);
        assert!(ended(pidfd.as_fd()));
        assert_eq!(child.wait().unwrap().code(), Some(3));
    }
}
