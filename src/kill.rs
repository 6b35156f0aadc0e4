//! Kill, freeze, wait until empty, and remove: the steps that end a box.
//!
//! Nothing here spins (the backend may, briefly: `SysFs::wait_for_exit`
//! looks at a killed job's pidfd for up to 200 us before it sleeps, see
//! `crate::spin`). Waiting is `poll(POLLPRI)` on a kept `cgroup.events`
//! fd, cut into slices of 0.5, 1, 2, 4, 8 and then 16 ms after each of which the
//! file is read again: the kernel rate-limits its notifications (a wake can
//! come ~15 ms late when the cgroup became populated shortly before), and
//! the slices bound that delay without burning the CPU the dying tasks need.
//! `rmdir` is retried on `EBUSY` with a bounded backoff.
//!
//! # Examples
//!
//! The steps one by one ([`JobBox::kill`](crate::JobBox::kill) and
//! [`JobBox::destroy`](crate::JobBox::destroy) take them for a box):

use std::collections::BTreeSet;
use std::time::Duration;

use rustix::io::Errno;

use crate::fs::{Access, CgroupFs, Handle};
use crate::parse::events::Events;
use crate::{Error, ErrorKind, Result};

/// How to kill every process of a box.
///
/// See the [example](crate::Builder#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KillMethod {
    /// `cgroup.kill` when the kernel has it (5.14+), else [`KillMethod::Signal`].
    #[default]
    Auto,
    /// Write `1` to `cgroup.kill`: the kernel kills the whole subtree,
    /// forks included.
    CgroupKill,
    /// Freeze, SIGKILL every process of every cgroup of the subtree through
    /// pidfds, repeat until empty, thaw.
    Signal,
}

/// How many list-and-kill rounds the signal path makes before giving up.
const MAX_SIGNAL_ROUNDS: u32 = 1000;
/// The first wait between two reads of `cgroup.events`; it doubles.
const FIRST_SLICE: Duration = Duration::from_micros(500);
/// The longest single wait between two reads of `cgroup.events`.
const MAX_SLICE: Duration = Duration::from_millis(16);
/// The same while a killed box empties.
const KILL_SLICE: Duration = Duration::from_millis(2);
/// The longest sleep between two `rmdir` attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(50);
/// At most this many cgroups in one box's subtree are walked.
const MAX_SUBTREE: usize = 100_000;

/// Kill every process in `dir` and all cgroups below it. Returns the method
/// actually used. It does not wait: see [`wait_until_empty`].
///
/// [`KillMethod::CgroupKill`] on a kernel without `cgroup.kill` (before
/// Linux 5.14) fails at once with [`ErrorKind::Unsupported`], naming the
/// version needed; [`KillMethod::Auto`] takes the signal path there.
///
/// See the [example](crate::Builder#examples).
pub(crate) fn kill<F: CgroupFs>(
    fs: &F,
    dir: &F::Dir,
    method: KillMethod,
    deadline: Duration,
) -> Result<KillMethod> {
    // Auto writes cgroup.kill without looking first: the write fails with
    // ENOENT on a kernel without it, and the signal path takes over.
    let use_kill_file = method != KillMethod::Signal;
    if use_kill_file {
        match fs.write_file(dir, "cgroup.kill", b"1") {
            Ok(()) => return Ok(KillMethod::CgroupKill),
            // The kernel lacks it after all; fall back when allowed.
            Err(e) if method == KillMethod::Auto && e.is_errno(Errno::NOENT) => {}
            Err(e) if e.is_errno(Errno::NOENT) => return Err(no_kill_file(fs, dir, e)),
            Err(e) => return Err(e),
        }
    }
    kill_by_signal(fs, dir, deadline)?;
    Ok(KillMethod::Signal)
}

/// Refuse [`KillMethod::CgroupKill`] for a box on a kernel without
/// `cgroup.kill`, when the box is made: not later, when it should be killed.
pub(crate) fn check_method<F: CgroupFs>(fs: &F, dir: &F::Dir, method: KillMethod) -> Result<()> {
    if method != KillMethod::CgroupKill || fs.has_file(dir, "cgroup.kill")? {
        return Ok(());
    }
    let missing = Error::from_rustix("open", &dir.path().join("cgroup.kill"), Errno::NOENT);
    Err(no_kill_file(fs, dir, missing))
}

/// The first release with `cgroup.kill`.
const KILL_FILE_SINCE: &str = "5.14";

/// `ENOENT` opening `cgroup.kill`: the box is gone (that error as it is),
/// or this kernel has no such file. The latter is `Unsupported` and
/// carries no errno, so that nobody takes it for "gone" and waits for a
/// box that was never killed to empty.
fn no_kill_file<F: CgroupFs>(fs: &F, dir: &F::Dir, open_error: Error) -> Error {
    if !fs.has_file(dir, "cgroup.procs").unwrap_or(false) {
        return open_error;
    }
    let release = fs
        .read_host_file(std::path::Path::new("/proc/sys/kernel/osrelease"))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let this = match release {
        Some(r) => format!("this kernel ({r})"),
        None => "this kernel".to_owned(),
    };
    Error::new(ErrorKind::Unsupported, "kill by cgroup.kill")
        .with_path(dir.path().join("cgroup.kill"))
        .with_detail(format!(
            "{this} has no cgroup.kill: it needs Linux {KILL_FILE_SINCE} or later; nothing was killed"
        ))
        .with_hint(
            "use KillMethod::Auto or KillMethod::Signal, which freeze the box and SIGKILL every process in it",
        )
}

/// Freeze (so that nothing forks), SIGKILL what is listed, repeat until
/// the whole subtree is empty, thaw.
fn kill_by_signal<F: CgroupFs>(fs: &F, dir: &F::Dir, deadline: Duration) -> Result<()> {
    let froze =
        fs.has_file(dir, "cgroup.freeze")? && fs.write_file(dir, "cgroup.freeze", b"1").is_ok();
    let events = fs.open_file(dir, "cgroup.events", Access::Read)?;
    let result = (|| {
        for _ in 0..MAX_SIGNAL_ROUNDS {
            let listed = subtree_pids(fs, dir)?;
            if listed.is_empty() {
                return Ok(());
            }
            // A pidfd pins the process; a PID still listed after the pidfds
            // are open is that same process, never a recycled one outside.
            let mut pinned: Vec<(u32, F::Pidfd)> = listed
                .iter()
                .filter_map(|&pid| fs.pidfd_open(pid).ok().map(|fd| (pid, fd)))
                .collect();
            let still = subtree_pids(fs, dir)?;
            pinned.retain(|(pid, _)| still.contains(pid));
            for (_, fd) in &pinned {
                match fs.pidfd_kill(fd) {
                    Ok(()) => {}
                    Err(e) if e.is_errno(Errno::SRCH) => {}
                    Err(e) => return Err(e),
                }
            }
            let mut exits: Vec<F::Pidfd> = pinned.into_iter().map(|(_, fd)| fd).collect();
            let slice_end = crate::fs::deadline(fs, Duration::from_millis(50)).min(deadline);
            match wait_until_empty(fs, &events, &mut exits, slice_end) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::TimedOut && fs.now() < deadline => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(ErrorKind::TimedOut, "kill by signal")
            .with_path(dir.path())
            .with_detail(format!(
                "processes kept appearing after {MAX_SIGNAL_ROUNDS} rounds"
            )))
    })();
    if froze && let Err(e) = fs.write_file(dir, "cgroup.freeze", b"0") {
        log::debug!("thaw {}: {e}", dir.path().display());
    }
    result
}

/// Every PID listed in `cgroup.procs` of `dir` and of every cgroup below it.
///
/// See the [example](crate::Builder#examples).
pub(crate) fn subtree_pids<F: CgroupFs>(fs: &F, dir: &F::Dir) -> Result<BTreeSet<u32>> {
    let mut pids = BTreeSet::new();
    let mut buf = Vec::new();
    let mut visit = |d: &F::Dir| -> Result<()> {
        match fs.read_file(d, "cgroup.procs", &mut buf) {
            Ok(()) => {}
            Err(e) if e.is_gone() => return Ok(()),
            // A threaded cgroup: its processes are listed by its thread
            // root, which this walk visits too.
            Err(e) if e.is_errno(Errno::OPNOTSUPP) => return Ok(()),
            Err(e) => return Err(e),
        }
        let text = String::from_utf8_lossy(&buf);
        pids.extend(crate::parse::token::pids(&text));
        Ok(())
    };
    visit(dir)?;
    for_each_descendant(fs, dir, &mut |d, _| visit(d))?;
    Ok(pids)
}

/// Called with each cgroup below a box and the names leading to it.
type Visitor<'a, F> = dyn FnMut(&<F as CgroupFs>::Dir, &[String]) -> Result<()> + 'a;

/// Depth-first over the cgroups below `dir` (not `dir` itself), without
/// recursion: a job can nest cgroups deeper than a thread's stack.
/// `visit` gets each cgroup and the names from `dir` down to it.
fn for_each_descendant<F: CgroupFs>(
    fs: &F,
    dir: &F::Dir,
    visit: &mut Visitor<'_, F>,
) -> Result<()> {
    let mut stack: Vec<(F::Dir, Vec<String>)> = Vec::new();
    let push_children =
        |d: &F::Dir, path: &[String], stack: &mut Vec<(F::Dir, Vec<String>)>| -> Result<()> {
            let names = match fs.child_names(d) {
                Ok(n) => n,
                Err(e) if e.is_gone() => return Ok(()),
                Err(e) => return Err(e),
            };
            for name in names {
                match fs.open_child(d, &name) {
                    Ok(child) => {
                        let mut p = path.to_vec();
                        p.push(name);
                        stack.push((child, p));
                    }
                    Err(e) if e.is_gone() => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
    push_children(dir, &[], &mut stack)?;
    let mut seen = 0usize;
    while let Some((d, path)) = stack.pop() {
        seen += 1;
        if seen > MAX_SUBTREE {
            return Err(Error::new(ErrorKind::Other, "walk cgroup subtree")
                .with_path(dir.path())
                .with_detail(format!("more than {MAX_SUBTREE} cgroups")));
        }
        visit(&d, &path)?;
        push_children(&d, &path, &mut stack)?;
    }
    Ok(())
}

/// Read a kept `cgroup.events` (one `pread` into a stack buffer). Damaged
/// content is an error naming the file, never "not populated".
pub(crate) fn read_events<F: CgroupFs>(fs: &F, events: &F::File) -> Result<Events> {
    let mut buf = [0u8; 128];
    let n = fs.read_kept(events, &mut buf)?;
    let text = buf
        .get(..n)
        .filter(|_| n < buf.len())
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| {
            Error::new(ErrorKind::Parse, "read cgroup.events")
                .with_path(events.path())
                .with_detail("content is not short UTF-8 text")
        })?;
    crate::parse::events::parse(text).map_err(|e| e.into_error(events.path()))
}

/// The `cgroup.events` keys a wait can be for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Populated,
    Frozen,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Populated => "populated",
            Key::Frozen => "frozen",
        }
    }
}

/// Wait until `cgroup.events` reads `key == want`, until `deadline` (of
/// `fs.now()`). `exits` are pidfds of processes we started: their ending
/// wakes the wait at once, where the kernel's rate-limited notification
/// could come ~15 ms late.
fn wait_for_event<F: CgroupFs>(
    fs: &F,
    events: &F::File,
    exits: &mut Vec<F::Pidfd>,
    key: Key,
    want: bool,
    deadline: Duration,
) -> Result<()> {
    let mut slice = FIRST_SLICE;
    // Waiting for a box to empty with processes of ours in it (just
    // killed): their pidfds wake the wait, so the file is not read until
    // one has, and the wait is not cut into short slices meanwhile.
    let mut look = exits.is_empty() || key != Key::Populated || want;
    loop {
        if look {
            let now_events = read_events(fs, events)?;
            let state = match key {
                Key::Populated => Some(now_events.populated),
                Key::Frozen => now_events.frozen,
            };
            if state == Some(want) {
                return Ok(());
            }
        }
        look = true;
        let now = fs.now();
        if now >= deadline {
            return Err(Error::new(ErrorKind::TimedOut, "wait for cgroup.events")
                .with_path(events.path())
                .with_detail(format!("{} is still {}", key.name(), u8::from(!want))));
        }
        let wait = if exits.is_empty() { slice } else { MAX_SLICE };
        fs.wait_for_change(events, exits, wait.min(deadline - now))?;
        if exits.is_empty() {
            // A killed box empties in a few ms while the kernel's
            // notification may come up to ~10 ms late: look at least
            // every 2 ms then (sleeping in between, never spinning).
            let cap = if key == Key::Populated && !want {
                KILL_SLICE
            } else {
                MAX_SLICE
            };
            slice = (slice * 2).min(cap);
        }
    }
}

/// Wait until the cgroup of the kept `cgroup.events` file is unpopulated;
/// `exits` as for [`set_frozen`]'s wait: pidfds of our own processes in it.
///
/// See the [example](crate::Builder#examples).
pub(crate) fn wait_until_empty<F: CgroupFs>(
    fs: &F,
    events: &F::File,
    exits: &mut Vec<F::Pidfd>,
    deadline: Duration,
) -> Result<()> {
    wait_for_event(fs, events, exits, Key::Populated, false, deadline)
}

/// Right after a kill: wait (one wake-up, [`MAX_SLICE`] at most) on the
/// pidfds of the processes of ours in the box (`exits`) alone. `true` when
/// all have ended; whether anything else is still inside is for the
/// caller to find out (one read of `cgroup.events`, or a removal's
/// `rmdir`). `false` sends the caller to [`wait_until_empty`], which
/// handles the rest: a slow exit, other processes, a process of ours that
/// left the box.
pub(crate) fn ours_ended<F: CgroupFs>(
    fs: &F,
    exits: &mut Vec<F::Pidfd>,
    deadline: Duration,
) -> Result<bool> {
    let now = fs.now();
    if exits.is_empty() || now >= deadline {
        return Ok(false);
    }
    fs.wait_for_exit(exits, MAX_SLICE.min(deadline - now))?;
    Ok(exits.is_empty())
}

/// Freeze (`true`) or thaw (`false`) `dir` and wait until `cgroup.events`
/// says so.
///
/// See the [example](crate::Builder#examples).
pub(crate) fn set_frozen<F: CgroupFs>(
    fs: &F,
    dir: &F::Dir,
    events: &F::File,
    frozen: bool,
    deadline: Duration,
) -> Result<()> {
    fs.write_file(dir, "cgroup.freeze", if frozen { b"1" } else { b"0" })?;
    wait_for_event(fs, events, &mut Vec::new(), Key::Frozen, frozen, deadline)
}

/// Remove the cgroup `name` under `parent` and every cgroup below it,
/// deepest first. `EBUSY` is retried with a bounded backoff until
/// `deadline`; `ENOENT`/`ENODEV` count as done. On timeout the error names
/// what is still inside.
///
/// See the [example](crate::Builder#examples).
pub(crate) fn remove_tree<F: CgroupFs>(
    fs: &F,
    parent: &F::Dir,
    name: &str,
    deadline: Duration,
) -> Result<()> {
    // The common case, an empty box with no cgroup of its own inside, is
    // one rmdir: only a busy one is walked.
    if remove_if_empty(fs, parent, name)? {
        return Ok(());
    }
    let top = match fs.open_child(parent, name) {
        Ok(d) => d,
        Err(e) if e.is_gone() => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut below: Vec<Vec<String>> = Vec::new();
    for_each_descendant(fs, &top, &mut |_, path| {
        below.push(path.to_vec());
        Ok(())
    })?;
    // Deepest first: longer paths are below shorter ones.
    below.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in &below {
        let Some((leaf, parents)) = path.split_last() else {
            continue;
        };
        if parents.is_empty() {
            rmdir_retry(fs, &top, leaf, deadline)?;
        } else if let Some(dir) = reopen(fs, &top, parents)? {
            rmdir_retry(fs, &dir, leaf, deadline)?;
        }
    }
    rmdir_retry(fs, parent, name, deadline)
}

/// One `rmdir` of `name` under `parent`: `true` when it is gone (removed
/// now or before), `false` when it is busy (processes or cgroups inside).
pub(crate) fn remove_if_empty<F: CgroupFs>(fs: &F, parent: &F::Dir, name: &str) -> Result<bool> {
    match fs.remove_child(parent, name) {
        Ok(()) => Ok(true),
        Err(e) if e.is_gone() => Ok(true),
        Err(e) if e.is_busy() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Open the non-empty `path` below `base` again; `None` when it is gone.
fn reopen<F: CgroupFs>(fs: &F, base: &F::Dir, path: &[String]) -> Result<Option<F::Dir>> {
    let mut cur: Option<F::Dir> = None;
    for part in path {
        match fs.open_child(cur.as_ref().unwrap_or(base), part) {
            Ok(d) => cur = Some(d),
            Err(e) if e.is_gone() => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

fn rmdir_retry<F: CgroupFs>(fs: &F, parent: &F::Dir, name: &str, deadline: Duration) -> Result<()> {
    let mut backoff = Duration::from_millis(1);
    loop {
        match fs.remove_child(parent, name) {
            Ok(()) => return Ok(()),
            Err(e) if e.is_gone() => return Ok(()),
            Err(e) if e.is_errno(Errno::BUSY) => {
                let now = fs.now();
                if now >= deadline {
                    let (inside, hint) = describe_contents(fs, parent, name);
                    return Err(e
                        .with_kind(ErrorKind::TimedOut)
                        .with_detail(format!("still busy when the time ran out: {inside}"))
                        .with_hint(hint));
                }
                fs.sleep(backoff.min(deadline - now));
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
}

/// What is still inside a cgroup that will not go, and what to do about
/// it. It never blames "something outside" by default: the usual cause
/// is a box that was not killed (or not yet empty) before removal.
fn describe_contents<F: CgroupFs>(fs: &F, parent: &F::Dir, name: &str) -> (String, &'static str) {
    let Ok(dir) = fs.open_child(parent, name) else {
        return (
            "it could not be opened".into(),
            "look at it with `cat cgroup.procs` and `ls`",
        );
    };
    let pids = crate::fs::read_optional(fs, &dir, "cgroup.procs")
        .ok()
        .flatten()
        .unwrap_or_default();
    let pids: Vec<&str> = pids.lines().take(10).collect();
    let children = fs.child_names(&dir).unwrap_or_default();
    let hint = if !pids.is_empty() {
        "processes are still inside: kill the box before removing it (JobBox::kill, `cgbox kill NAME`); if it was killed and they came back, something moves processes into it: find them with `cat cgroup.procs`"
    } else if !children.is_empty() {
        "child cgroups are still inside: something created them while the box was being removed; remove them, or retry"
    } else {
        "no process is listed: the kernel still counts tasks that are exiting; retry with a longer timeout"
    };
    (
        format!(
            "processes [{}], child cgroups [{}]",
            pids.join(", "),
            children.join(", ")
        ),
        hint,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::fake::{FakeFs, Op, ProcState};
    use std::path::Path;

    fn setup(fake: &FakeFs, rel: &str) -> <FakeFs as CgroupFs>::Dir {
        fake.mkdir_p(rel).unwrap();
        fake.open_dir(&Path::new("/sys/fs/cgroup").join(rel))
            .unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn cgroup_kill_empties_a_nested_tree() {
        let fake = FakeFs::new();
        let dir = setup(&fake, "box");
        fake.mkdir_p("box/a/b").unwrap();
        let pids = [
            fake.spawn("box").unwrap(),
            fake.spawn("box/a").unwrap(),
            fake.spawn("box/a/b").unwrap(),
        ];
        let used = kill(&fake, &dir, KillMethod::Auto, SECOND).unwrap();
        assert_eq!(used, KillMethod::CgroupKill);
        let events = fake.open_file(&dir, "cgroup.events", Access::Read).unwrap();
        wait_until_empty(&fake, &events, &mut Vec::new(), SECOND).unwrap();
        for p in pids {
            assert_eq!(fake.state(p), Some(ProcState::Zombie));
        }
        remove_tree(
            &fake,
            &fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap(),
            "box",
            SECOND,
        )
        .unwrap();
        assert_eq!(fake.cgroups(), vec!["/"]);
    }

    #[test]
    fn signal_path_catches_forks_and_nested_frozen_cgroups() {
        let fake = FakeFs::new();
        let dir = setup(&fake, "box");
        fake.mkdir_p("box/deep/er").unwrap();
        fake.spawn_forker("box", 50).unwrap();
        fake.spawn_forker("box/deep/er", 50).unwrap();
        fake.write_file(
            &fake.open_dir(Path::new("/sys/fs/cgroup/box/deep")).unwrap(),
            "cgroup.freeze",
            b"1",
        )
        .unwrap();
        let used = kill(&fake, &dir, KillMethod::Signal, SECOND).unwrap();
        assert_eq!(used, KillMethod::Signal);
        assert_eq!(fake.live_pids(), vec![fake.self_pid()]);
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        remove_tree(&fake, &root, "box", SECOND).unwrap();
        assert_eq!(fake.cgroups(), vec!["/"]);
    }

    #[test]
    fn signal_path_finds_processes_in_threaded_cgroups() {
        let fake = FakeFs::new();
        let dir = setup(&fake, "box");
        fake.mkdir_p("box/t").unwrap();
        let t = fake.open_dir(Path::new("/sys/fs/cgroup/box/t")).unwrap();
        fake.write_file(&t, "cgroup.type", b"threaded").unwrap();
        let pid = fake.spawn("box").unwrap();
        fake.write_file(&t, "cgroup.procs", pid.to_string().as_bytes())
            .unwrap();
        assert_eq!(subtree_pids(&fake, &dir).unwrap().len(), 1);
        kill(&fake, &dir, KillMethod::Signal, SECOND).unwrap();
        assert_eq!(fake.state(pid), Some(ProcState::Zombie));
    }

    #[test]
    fn signal_path_without_freezer_loops_until_forks_stop() {
        let fake = FakeFs::new();
        fake.hide_file("cgroup.freeze");
        fake.hide_file("cgroup.kill");
        let dir = setup(&fake, "box");
        fake.spawn_forker("box", 30).unwrap();
        assert_eq!(
            kill(&fake, &dir, KillMethod::Auto, SECOND).unwrap(),
            KillMethod::Signal
        );
        assert_eq!(fake.live_pids(), vec![fake.self_pid()]);
    }

    #[test]
    fn forced_cgroup_kill_without_the_file_fails_at_once_and_names_the_version() {
        use crate::fs::fake::Kernel;
        let fake = FakeFs::with_kernel(Kernel::V5_10);
        let dir = setup(&fake, "box");
        let pid = fake.spawn("box").unwrap();
        let start = fake.clock();
        let e = kill(&fake, &dir, KillMethod::CgroupKill, start + SECOND).unwrap_err();
        assert_eq!(fake.clock(), start, "no wait at all");
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(!e.is_gone(), "not mistaken for a box removed from outside");
        let text = e.to_string();
        assert!(
            text.contains("needs Linux 5.14") && text.contains("5.10.0-32-cloud-amd64"),
            "{text}"
        );
        assert!(text.contains("KillMethod::Auto"), "{text}");
        assert_eq!(fake.state(pid), Some(ProcState::Running), "nothing killed");
        // Auto takes the signal path on the same kernel and leaves nothing.
        assert_eq!(
            kill(&fake, &dir, KillMethod::Auto, fake.clock() + SECOND).unwrap(),
            KillMethod::Signal
        );
        assert_eq!(fake.live_pids(), vec![fake.self_pid()]);
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        remove_tree(&fake, &root, "box", fake.clock() + SECOND).unwrap();
        assert_eq!(fake.cgroups(), vec!["/"]);
    }

    #[test]
    fn forced_cgroup_kill_on_5_10_fails_at_once_and_blames_nobody() {
        use crate::fs::fake::Kernel;
        let fake = FakeFs::with_kernel(Kernel::V5_10);
        let dir = setup(&fake, "box");
        let pid = fake.spawn("box").unwrap();
        let start = fake.clock();
        let e = kill(&fake, &dir, KillMethod::CgroupKill, start + SECOND).unwrap_err();
        assert_eq!(fake.clock(), start, "failed at once, no timeout waited out");
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("needs Linux 5.14"), "{e}");
        assert!(!e.to_string().contains("outside"), "{e}");
        assert_eq!(e.errno(), None, "never taken for a box that is gone");
        assert_eq!(
            fake.state(pid),
            Some(ProcState::Running),
            "nothing was killed"
        );
        // The default method ends it.
        assert_eq!(
            kill(&fake, &dir, KillMethod::Auto, start + SECOND).unwrap(),
            KillMethod::Signal
        );
        assert_eq!(fake.live_pids(), vec![fake.self_pid()]);
    }

    #[test]
    fn forced_cgroup_kill_of_a_box_that_is_gone_is_the_gone_error() {
        let fake = FakeFs::new();
        let dir = setup(&fake, "box");
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        fake.remove_child(&root, "box").unwrap();
        let e = kill(&fake, &dir, KillMethod::CgroupKill, SECOND).unwrap_err();
        assert!(e.is_gone(), "{e}");
    }

    #[test]
    fn waiting_for_lingering_tasks_uses_poll_not_spin() {
        let fake = FakeFs::new();
        fake.set_kill_linger(Duration::from_millis(40));
        let dir = setup(&fake, "box");
        fake.spawn("box").unwrap();
        kill(&fake, &dir, KillMethod::CgroupKill, SECOND).unwrap();
        let events = fake.open_file(&dir, "cgroup.events", Access::Read).unwrap();
        let start = fake.clock();
        wait_until_empty(&fake, &events, &mut Vec::new(), start + SECOND).unwrap();
        // woken by the change itself, not a timer long after it
        assert_eq!(fake.clock() - start, Duration::from_millis(40));
    }

    #[test]
    fn wait_times_out_with_a_typed_error() {
        let fake = FakeFs::new();
        let dir = setup(&fake, "box");
        fake.spawn("box").unwrap();
        let events = fake.open_file(&dir, "cgroup.events", Access::Read).unwrap();
        let e = wait_until_empty(
            &fake,
            &events,
            &mut Vec::new(),
            fake.clock() + Duration::from_millis(100),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert!(e.to_string().contains("populated is still 1"), "{e}");
    }

    #[test]
    fn rmdir_retries_ebusy_then_succeeds_or_names_what_is_inside() {
        let fake = FakeFs::new();
        setup(&fake, "box");
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        fake.fail(Op::Rmdir, "/box", Errno::BUSY, Some(5));
        remove_tree(&fake, &root, "box", fake.clock() + SECOND).unwrap();
        assert_eq!(fake.cgroups(), vec!["/"]);

        setup(&fake, "stuck");
        let pid = fake.spawn("stuck").unwrap();
        let e = remove_tree(
            &fake,
            &root,
            "stuck",
            fake.clock() + Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert_eq!(
            e.errno(),
            Some(Errno::BUSY.raw_os_error()),
            "last errno kept"
        );
        assert!(e.to_string().contains(&format!("processes [{pid}]")), "{e}");
        let hint = e.hint().unwrap();
        assert!(
            hint.starts_with("processes are still inside: kill the box"),
            "{hint}"
        );
        assert!(!hint.starts_with("something outside"), "{hint}");
    }

    #[test]
    fn removing_what_is_gone_is_done() {
        let fake = FakeFs::new();
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        remove_tree(&fake, &root, "never-was", SECOND).unwrap();
        setup(&fake, "x");
        fake.fail(Op::Rmdir, "/x", Errno::NODEV, Some(1));
        remove_tree(&fake, &root, "x", SECOND).unwrap();
    }

    #[test]
    fn freeze_and_thaw_wait_for_events() {
        let fake = FakeFs::new();
        let dir = setup(&fake, "box");
        fake.spawn("box").unwrap();
        let events = fake.open_file(&dir, "cgroup.events", Access::Read).unwrap();
        set_frozen(&fake, &dir, &events, true, SECOND).unwrap();
        assert_eq!(read_events(&fake, &events).unwrap().frozen, Some(true));
        set_frozen(&fake, &dir, &events, false, SECOND).unwrap();
        assert_eq!(read_events(&fake, &events).unwrap().frozen, Some(false));
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::fs::{Access, CgroupFs, FakeFs, deadline};
        use crate::kill::{self, KillMethod};
        use std::path::Path;
        use std::time::Duration;

        let fs = FakeFs::new();
        fs.mkdir_p("jobs/b/nested")?; // the job made a cgroup of its own inside
        let a = fs.spawn("jobs/b")?;
        let b = fs.spawn_forker("jobs/b/nested", 3)?; // forks while being killed
        let jobs = fs.open_dir(Path::new("/sys/fs/cgroup/jobs"))?;
        let dir = fs.open_child(&jobs, "b")?;
        let events = fs.open_file(&dir, "cgroup.events", Access::Read)?;
        let until = deadline(&fs, Duration::from_secs(5));

        let pids = kill::subtree_pids(&fs, &dir)?; // b forks as its cgroup.procs is read
        assert!(pids.contains(&a) && pids.contains(&b));
        kill::set_frozen(&fs, &dir, &events, true, until)?; // waits for "frozen 1"
        kill::set_frozen(&fs, &dir, &events, false, until)?;
        // cgroup.kill where the kernel has it; freeze and SIGKILL otherwise.
        assert_eq!(
            kill::kill(&fs, &dir, KillMethod::Auto, until)?,
            KillMethod::CgroupKill
        );
        kill::wait_until_empty(&fs, &events, &mut Vec::new(), until)?; // poll, never spin
        assert!(kill::subtree_pids(&fs, &dir)?.is_empty());
        drop((dir, events));
        kill::remove_tree(&fs, &jobs, "b", until)?; // nested cgroups first; EBUSY retried
        assert_eq!(fs.cgroups(), ["/", "/jobs"]);
        Ok(())
    }
}
