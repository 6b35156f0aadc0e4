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
//! Should the word stay set while the child is gone, the child's pidfd
//! tells: the sleep has a timeout ([`RECHECK`]) after which it is asked.
//! Kernels before 5.16 leave the word set when a core-dumping signal kills
//! the child, though there such a signal also ends every process sharing
//! its memory, the caller included (as with `CLONE_VFORK`); the check is
//! for any end the word does not see.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
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
    if cleared() || crate::spin::until(crate::spin::BUDGET, cleared) {
        return;
    }
    sleep_on(word, pidfd, RECHECK);
}

/// The sleeping half of [`wait_for_exec`]: futex sleeps of at most
/// `recheck`, the pidfd asked after each that did not see the word cleared.
fn sleep_on(word: &AtomicU32, pidfd: Option<BorrowedFd<'_>>, recheck: Duration) {
    let timeout = futex::Timespec {
        tv_sec: recheck.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: recheck.subsec_nanos().into(),
    };
    while word.load(Ordering::Acquire) == RUNNING {
        // Not FUTEX_PRIVATE: the kernel's wake at exec or exit is a shared
        // one. EAGAIN (cleared meanwhile), EINTR and ETIMEDOUT all mean
        // look again.
        let slept = futex::wait(word, futex::Flags::empty(), RUNNING, Some(&timeout));
        if word.load(Ordering::Acquire) != RUNNING {
            return;
        }
        if let Err(e) = slept
            && ![Errno::AGAIN, Errno::INTR, Errno::TIMEDOUT].contains(&e)
        {
            // No futex to sleep on (never seen): sleep as long instead.
            std::thread::sleep(recheck);
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
    fn a_cleared_word_ends_the_wait_before_any_sleep() {
        let us = rustix::process::pidfd_open(
            rustix::process::getpid(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        wait_for_exec(&AtomicU32::new(0), Some(us.as_fd()));
        sleep_on(&AtomicU32::new(0), None, Duration::from_secs(3600));
    }

    #[test]
    fn the_kernels_shared_wake_ends_the_futex_sleep() {
        // A sleeper with a recheck far longer than a wake takes: only the
        // wake can end its sleep in time (a missed one fails after 30 s).
        let recheck = Duration::from_secs(30);
        let word = std::sync::Arc::new(AtomicU32::new(RUNNING));
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let sleeper = {
            let word = std::sync::Arc::clone(&word);
            std::thread::spawn(move || {
                tid_tx
                    .send(rustix::thread::gettid().as_raw_nonzero().get())
                    .unwrap();
                sleep_on(&word, None, recheck);
            })
        };
        let tid = tid_rx.recv().unwrap();
        // Wait until it sleeps (state S: the futex is its only wait).
        let stat = format!("/proc/self/task/{tid}/stat");
        let asleep = || {
            std::fs::read_to_string(&stat)
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('S')))
                .unwrap_or(false)
        };
        while !asleep() {
            std::thread::yield_now();
        }
        // As the kernel does at exec: clear, then a shared (not private) wake.
        word.store(0, Ordering::Release);
        futex::wake(&word, futex::Flags::empty(), 1).unwrap();
        let t = Instant::now();
        sleeper.join().unwrap();
        assert!(t.elapsed() < recheck / 2, "the wake was missed");
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
