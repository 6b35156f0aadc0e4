//! Signals, read from a signalfd instead of caught by handlers.
//!
//! From its first instruction until its box is gone, `cgbox run` blocks
//! every signal whose default action would end it, so none can kill it with
//! a box left behind; it reads them from a signalfd in the same `poll` as
//! the command's pidfd. No disposition is changed: a signal the caller
//! ignored (`nohup` ignores SIGHUP) stays ignored, for cgbox and for the
//! command, which inherits it through `exec`. The command starts with an
//! empty mask (`BoxCommand::unblock_signals`). When the box is gone the old mask
//! comes back, and a signal still pending then ends cgbox as it would
//! have.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

/// The signals that stop a run gracefully, as timeout(1) does.
pub const STOP_SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// Every other signal whose default action ends a process and that can be
/// blocked (not the synchronous ones: SEGV, BUS, FPE, ILL, TRAP, SYS,
/// ABRT): USR1, USR2, ALRM, STKFLT, XCPU, XFSZ, VTALRM, PROF, IO, PWR,
/// PIPE (which Rust's runtime ignores anyway), and the real-time signals.
const OTHER_TERMINATING: [i32; 11] = [10, 12, 14, 16, 24, 25, 26, 27, 29, 30, 13];
const FIRST_REALTIME: i32 = 34;
const LAST_REALTIME: i32 = 64;

/// glibc's and musl's `sigset_t` on Linux: 1024 bits.
#[repr(C)]
struct SigSet([u64; 16]);

const SIG_SETMASK: i32 = 2;
const SFD_CLOEXEC: i32 = 0o2000000;
const SFD_NONBLOCK: i32 = 0o4000;

unsafe extern "C" {
    // From the C library std already links: the calls neither std nor
    // rustix's stable API offers.
    fn sigemptyset(set: *mut SigSet) -> i32;
    fn sigaddset(set: *mut SigSet, signum: i32) -> i32;
    fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    fn signalfd(fd: i32, mask: *const SigSet, flags: i32) -> i32;
}

/// Blocked terminating signals and the signalfd they arrive on. Dropping
/// it puts the old mask back.
pub struct Signals {
    fd: OwnedFd,
    old: SigSet,
}

impl Signals {
    /// Block every terminating signal; read them from [`Signals::fd`].
    pub fn block() -> io::Result<Signals> {
        let mut set = SigSet([0; 16]);
        let mut old = SigSet([0; 16]);
        // A blocked signal is never discarded, even when ignored (the
        // kernel keeps it for a handler that may come): so the ones the
        // caller ignores are left out, and stay ignored.
        let ignored = ignored_signals();
        let signals = STOP_SIGNALS
            .iter()
            .chain(OTHER_TERMINATING.iter())
            .copied()
            .chain(FIRST_REALTIME..=LAST_REALTIME)
            .filter(|s| ignored & (1u64 << (s - 1)) == 0);
        // SAFETY: `set` and `old` are valid, exclusively borrowed sigset_t
        // buffers of the C library's size; the signal numbers are in range.
        unsafe {
            sigemptyset(&mut set);
            for sig in signals {
                sigaddset(&mut set, sig);
            }
            if sigprocmask(SIG_SETMASK, &set, &mut old) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: `set` is a valid sigset_t; -1 asks for a new descriptor.
        let raw = unsafe { signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: `old` is what sigprocmask just filled in.
            unsafe { sigprocmask(SIG_SETMASK, &old, std::ptr::null_mut()) };
            return Err(e);
        }
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Signals { fd, old })
    }

    /// The descriptor to poll for `POLLIN`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next pending signal, if any (does not wait).
    pub fn take(&self) -> Option<i32> {
        // struct signalfd_siginfo: 128 bytes, ssi_signo first.
        let mut info = [0u8; 128];
        match rustix::io::read(&self.fd, &mut info) {
            Ok(128) => {
                let signo = info.first_chunk::<4>().map(|b| u32::from_ne_bytes(*b))?;
                i32::try_from(signo).ok()
            }
            _ => None,
        }
    }
}

/// The signals this process ignores: bit N-1 for signal N, as the
/// `SigIgn` line of `/proc/self/status` has them.
fn ignored_signals() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

impl Drop for Signals {
    fn drop(&mut self) {
        // SAFETY: restoring the mask saved by `block`.
        unsafe { sigprocmask(SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// The names `--signal` takes and reports use.
const NAMES: [(&str, i32); 12] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("KILL", 9),
    ("USR1", 10),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("CONT", 18),
    ("STOP", 19),
    ("WINCH", 28),
];

/// `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse(text: &str) -> Option<i32> {
    let upper = text.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = NAMES.iter().find(|(name, _)| *name == bare) {
        return Some(*n);
    }
    let n: i32 = crate::limit_args::decimal(bare).and_then(|v| i32::try_from(v).ok())?;
    rustix::process::Signal::from_named_raw(n).map(|_| n)
}

/// `SIGTERM`, or `SIG35` for one without a name here.
pub fn name(sig: i32) -> String {
    match NAMES.iter().find(|(_, n)| *n == sig) {
        Some((name, _)) => format!("SIG{name}"),
        None => format!("SIG{sig}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (text, want) in [
            ("TERM", Some(15)),
            ("sigint", Some(2)),
            ("9", Some(9)),
            ("KILL", Some(9)),
        ] {
            assert_eq!(parse(text), want, "{text}");
        }
        for bad in ["", "0", "65", "40", "TERMS", "-9", "1.5"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(35), "SIG35");
    }
}
