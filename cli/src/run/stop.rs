//! Waiting for CMD, and stopping it the way timeout(1) does.
//!
//! One `poll` on CMD's pidfd and the signalfd, with the deadline as its
//! timeout: no timer ticks, no spinning. At `--timeout`, or when cgbox is
//! asked to stop (INT, TERM, HUP, QUIT), every process in the box first
//! gets a signal (`--signal`, or the one cgbox received), so that a job can
//! run its trap and clean up; after `--kill-after` whatever still runs is
//! killed with the box. A second stop signal, or any other terminating
//! signal, kills at once.
//!
//! With `--trace`, the next sample is one more timeout of the same poll,
//! and the box's `memory.events` one more fd (the kernel wakes it on an
//! OOM kill or a `memory.high` hit): still one poll, no thread.

use std::io;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use cgbox::BoxChild;
use cgbox::JobBox;
use cgbox::fs::SysFs;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

use crate::signals::{self, STOP_SIGNALS, Signals};
use crate::trace::{TraceFile, Tracer};

/// The trace of a run, when `--trace` asks for one.
pub type Trace = Tracer<SysFs, TraceFile>;

/// How the run ended, for the exit code, the summary and the report.
#[derive(Debug, Default)]
pub struct Outcome {
    /// CMD's status, once it was reaped.
    pub status: Option<ExitStatus>,
    /// `--timeout` fired.
    pub timed_out: bool,
    /// cgbox was asked to stop with this signal.
    pub interrupted_by: Option<i32>,
    /// The signal the box's processes got first.
    pub stop_signal: Option<i32>,
    /// The box had to be killed while CMD still ran.
    pub killed: bool,
    /// A terminating signal cgbox does not stop gracefully on (USR1 ...):
    /// cgbox ends of it once the box is gone.
    pub fatal: Option<i32>,
}

/// What cgbox did to stop CMD, as the library's outcome takes it.
pub fn stop_of(o: &Outcome, how: &Stopping) -> cgbox::Stop {
    if o.timed_out {
        // No grace (--kill-after 0, or --signal KILL): killed at once.
        let (signal, grace) = match o.stop_signal {
            Some(sig) => (sig, how.kill_after),
            None => (signals::SIGKILL, Duration::ZERO),
        };
        return cgbox::Stop::Timeout {
            signal,
            grace,
            killed: o.killed,
        };
    }
    match o.interrupted_by.or(o.fatal) {
        Some(signal) => cgbox::Stop::Interrupted {
            signal,
            killed: o.killed,
        },
        None => cgbox::Stop::Nothing,
    }
}

/// What stopping needs to know.
pub struct Stopping {
    pub deadline: Option<Instant>,
    pub signal: i32,
    pub kill_after: Duration,
}

pub fn wait(
    child: &mut BoxChild,
    jb: &JobBox<SysFs>,
    signals: &Signals,
    how: &Stopping,
    mut trace: Option<&mut Trace>,
) -> io::Result<Outcome> {
    let mut out = Outcome::default();
    let pid = Pid::from_raw(i32::try_from(child.id()).map_err(io::Error::other)?)
        .ok_or_else(|| io::Error::other("CMD has PID 0"))?;
    // Not yet reaped (we hold the child), so the PID is still CMD.
    let pidfd = pidfd_open(pid, PidfdFlags::empty()).ok();
    let mut grace: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            out.status = Some(status);
            return Ok(out);
        }
        while let Some(sig) = signals.take() {
            let first_stop =
                STOP_SIGNALS.contains(&sig) && out.interrupted_by.is_none() && grace.is_none();
            if first_stop {
                out.interrupted_by = Some(sig);
                grace = begin_stop(jb, sig, from_terminal(sig), how, &mut out);
            } else {
                if !STOP_SIGNALS.contains(&sig) {
                    out.fatal = Some(sig);
                }
                return kill_now(child, jb, out);
            }
            if grace.is_none() {
                return kill_now(child, jb, out);
            }
        }
        let now = Instant::now();
        if grace.is_none() && !out.timed_out && how.deadline.is_some_and(|d| now >= d) {
            out.timed_out = true;
            grace = begin_stop(jb, how.signal, false, how, &mut out);
            if grace.is_none() {
                return kill_now(child, jb, out);
            }
        }
        if grace.is_some_and(|g| now >= g) {
            return kill_now(child, jb, out);
        }
        let Some(pidfd) = &pidfd else {
            // A kernel without pidfds: block in wait(); signals wait too.
            out.status = Some(child.wait()?);
            return Ok(out);
        };
        let tick = trace.as_ref().map(|t| Instant::now() + t.due_in());
        let next = [grace, if out.timed_out { None } else { how.deadline }, tick]
            .into_iter()
            .flatten()
            .min();
        let timeout = next.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        let events = trace.as_ref().and_then(|t| t.events_file());
        let mut fds = [
            PollFd::new(pidfd, PollFlags::IN),
            PollFd::from_borrowed_fd(signals.fd(), PollFlags::IN),
            PollFd::from_borrowed_fd(events.map_or(signals.fd(), |f| f.fd()), PollFlags::PRI),
        ];
        let n = if events.is_some() { 3 } else { 2 };
        match poll(&mut fds[..n], timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let events_woke = n == 3 && fds.get(2).is_some_and(|f| !f.revents().is_empty());
        if let Some(t) = trace.as_deref_mut() {
            if events_woke {
                t.events_woke();
            }
            t.tick_if_due();
        }
    }
}

/// Send `sig` to every process of the box; the moment after which the box
/// is killed, or `None` to kill it now. A signal the terminal sent went to
/// cgbox's whole foreground process group already, CMD included: it is not
/// sent to those processes a second time.
fn begin_stop(
    jb: &JobBox<SysFs>,
    sig: i32,
    tty: bool,
    how: &Stopping,
    out: &mut Outcome,
) -> Option<Instant> {
    if how.kill_after.is_zero() || sig == signals::SIGKILL {
        return None;
    }
    out.stop_signal = Some(sig);
    let signal = Signal::from_named_raw(sig)?;
    let ours = process_group("self");
    for pid in jb.pids().unwrap_or_default() {
        let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            continue;
        };
        if tty && ours.is_some() && process_group(&pid.to_string()) == ours {
            continue;
        }
        // A pidfd pins the process: the signal cannot reach a recycled PID.
        if let Ok(fd) = pidfd_open(p, PidfdFlags::empty()) {
            let _ = pidfd_send_signal(&fd, signal);
        }
    }
    Some(Instant::now() + how.kill_after)
}

/// Whether `sig` is one the terminal sends to its foreground process group,
/// and cgbox is in that group.
fn from_terminal(sig: i32) -> bool {
    if ![signals::SIGINT, signals::SIGQUIT, signals::SIGHUP].contains(&sig) {
        return false;
    }
    let Some(ours) = process_group("self") else {
        return false;
    };
    [
        std::io::stdin().as_fd(),
        std::io::stderr().as_fd(),
        std::io::stdout().as_fd(),
    ]
    .into_iter()
    .any(|fd| rustix::termios::tcgetpgrp(fd).is_ok_and(|fg| fg.as_raw_nonzero().get() == ours))
}

/// The process group of `/proc/<pid>` (`self` for this process), from its
/// `stat`: the process group of a process the kernel's init started can be
/// 0, which rustix's `getpgrp` does not allow for.
fn process_group(pid: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, in parentheses: state, ppid, pgrp.
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split(' ').nth(2)?.parse().ok()
}

fn kill_now(child: &mut BoxChild, jb: &JobBox<SysFs>, mut out: Outcome) -> io::Result<Outcome> {
    if child.try_wait()?.is_none() {
        out.killed = true;
    }
    if let Err(e) = jb.kill() {
        crate::context::report(&e);
    }
    out.status = Some(child.wait()?);
    Ok(out)
}
