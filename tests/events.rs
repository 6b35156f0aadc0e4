//! A box's events on a real kernel (`BoxRef::events`): the box filling,
//! emptying, freezing, thawing and going, on any writable cgroup2 (this
//! machine's, without controllers); OOM kills, forks refused at
//! `pids.max` and PSI triggers under a memory hog where the controllers
//! are (the VM of `tests/vm/run.sh`, on 5.10, 6.1 and 6.12). Latencies are
//! measured from when the test sees the job end (its `waitpid` returns, in
//! a thread of its own) to when `next` returns the event; they must be
//! under 100 ms. What a kernel lacks is asserted: no `oom_group_kill` on
//! 5.10 (no event from it, never one with 0), no PSI (the typed error).
//! Memory hogs and fork bombs run only where memory and pids limits hold
//! them (the VM). Each test's app is removed when it ends, also on failure.

mod common;

use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cgbox::fs::SysFs;
use cgbox::{Builder, ErrorKind, Event, Events, JobBox, Limits, Resource, Size, Trigger};

/// What "delivered at once" means here.
const PROMPT: Duration = Duration::from_millis(100);
/// The longest any expected event may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(30);

struct Host {
    fs: Arc<SysFs>,
    app: String,
    _tree: common::AppTree,
}

/// The live system with the controllers `needs`, else `None` (said, or a
/// failure under CGBOX_REQUIRE_REAL_CGROUP=1).
fn host(test: &str, needs: &[&str]) -> Option<Host> {
    let live = common::live("cgbox-ev", test)?;
    let controllers = live.discovery.controllers.clone();
    let missing: Vec<&str> = needs
        .iter()
        .copied()
        .filter(|c| !controllers.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        common::skip(
            test,
            &format!("needs the {missing:?} controllers, which boxes here cannot be given"),
        );
        return None;
    }
    Some(Host {
        fs: live.fs,
        app: live.app,
        _tree: live.tree,
    })
}

impl Host {
    fn boxed(&self, limits: Limits) -> JobBox<SysFs> {
        Builder::new()
            .app(&self.app)
            .limits(limits)
            .create(self.fs.clone())
            .unwrap()
    }
}

/// The job's end as this test sees it: `waitpid` returning in a thread of
/// its own, so that the main thread can sit in `next` meanwhile.
struct Ended(std::thread::JoinHandle<(Instant, std::process::ExitStatus)>);

fn watch_exit(mut child: Child) -> Ended {
    Ended(std::thread::spawn(move || {
        let status = child.wait().unwrap();
        (Instant::now(), status)
    }))
}

impl Ended {
    fn join(self) -> (Instant, std::process::ExitStatus) {
        self.0.join().unwrap()
    }
}

/// Events until `last` (included), each with when `next` returned it.
fn until(events: &mut Events, last: impl Fn(&Event) -> bool) -> Vec<(Instant, Event)> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.next(left).unwrap() {
            Some(e) => {
                seen.push((Instant::now(), e));
                if last(&e) {
                    return seen;
                }
            }
            None => {
                assert!(
                    Instant::now() < deadline,
                    "no end event in {PATIENCE:?}; saw {:?}",
                    seen.iter().map(|(_, e)| e).collect::<Vec<_>>()
                );
            }
        }
    }
}

fn when(seen: &[(Instant, Event)], what: impl Fn(&Event) -> bool) -> Option<Instant> {
    seen.iter().find(|(_, e)| what(e)).map(|(t, _)| *t)
}

/// How long after `ended` the event came (zero when it came first).
fn late(event: Instant, ended: Instant) -> Duration {
    event.saturating_duration_since(ended)
}

/// `+1.234 ms` after `ended`, or `-0.500 ms` when the event came first.
fn offset(event: Instant, ended: Instant) -> String {
    match event.checked_duration_since(ended) {
        Some(after) => format!("+{:.3} ms", after.as_secs_f64() * 1000.0),
        None => format!("-{:.3} ms", (ended - event).as_secs_f64() * 1000.0),
    }
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Wait (bounded) until thread `tid` of this process sits in
/// `epoll_wait`: then what happens next is what wakes it.
fn until_waiting(tid: rustix::thread::Pid) {
    #[cfg(target_arch = "x86_64")]
    const EPOLL_WAITS: [i64; 3] = [232, 281, 441];
    #[cfg(not(target_arch = "x86_64"))]
    const EPOLL_WAITS: [i64; 2] = [22, 441];
    let file = format!("/proc/self/task/{}/syscall", tid.as_raw_nonzero());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&file).unwrap();
        let nr: i64 = text
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1);
        if EPOLL_WAITS.contains(&nr) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "thread {tid:?} never waited: {text}"
        );
        std::thread::sleep(Duration::from_millis(1)); // a bounded wait on a state
    }
}

/// Wait on an outside epoll set, as a caller's event loop would: until
/// something is ready, or 1 s at most.
fn wait_a_second(outer: &impl AsFd) {
    let mut ready = Vec::with_capacity(4);
    let ts = rustix::event::Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    rustix::event::epoll::wait(outer, rustix::buffer::spare_capacity(&mut ready), Some(&ts))
        .unwrap();
}

/// Whether this process has CAP_SYS_RESOURCE (bit 24 of CapEff), which
/// PSI triggers with windows other than multiples of 2 s need.
fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap();
    eff & (1 << 24) != 0
}

#[test]
fn the_box_filling_freezing_emptying_and_going_are_delivered() {
    let Some(h) = host("life", &[]) else { return };
    let b = h.boxed(Limits::new());
    let mut events = b.events().unwrap();
    assert!(!events.is_populated() && !events.is_frozen());
    assert_eq!(events.next(Duration::ZERO).unwrap(), None, "nothing yet");

    let child = b.spawn(Command::new("sleep").arg("1000")).unwrap();
    let pid = child.id();
    let seen = until(&mut events, |e| *e == Event::Populated);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(events.is_populated());

    b.freeze().unwrap();
    assert_eq!(
        until(&mut events, |e| *e == Event::Frozen)
            .last()
            .map(|s| s.1),
        Some(Event::Frozen)
    );
    assert!(events.is_frozen());
    b.thaw().unwrap();
    assert_eq!(
        until(&mut events, |e| *e == Event::Thawed)
            .last()
            .map(|s| s.1),
        Some(Event::Thawed)
    );

    // The job ends while this thread waits in next.
    let ended = watch_exit(child);
    let waiter = rustix::thread::gettid();
    let killer = std::thread::spawn(move || {
        until_waiting(waiter);
        let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    });
    let seen = until(&mut events, |e| *e == Event::Empty);
    let (exited, _) = ended.join();
    killer.join().unwrap();
    let empty = when(&seen, |e| *e == Event::Empty).unwrap();
    let lag = late(empty, exited);
    eprintln!(
        "{}: empty delivered {} from the job's end",
        common::kernel_release(),
        offset(empty, exited)
    );
    assert!(lag <= PROMPT, "empty came {lag:?} after the job ended");
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), [Event::Empty]);

    // Removed: Gone, promptly (inotify on the parent), then nothing more.
    let path = b.path().to_path_buf();
    let destroyer = std::thread::spawn(move || {
        until_waiting(waiter);
        b.destroy().unwrap();
        Instant::now()
    });
    let seen = until(&mut events, |e| *e == Event::Gone);
    let removed = destroyer.join().unwrap();
    assert!(!path.exists());
    let lag = late(when(&seen, |e| *e == Event::Gone).unwrap(), removed);
    eprintln!(
        "{}: gone delivered {lag:?} after the box was removed",
        common::kernel_release()
    );
    assert!(lag <= PROMPT, "gone came {lag:?} after the box was removed");
    let e = events.next(Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("gone"), "{e}");
}

#[test]
fn polled_from_outside_the_watcher_loses_nothing() {
    // As an event loop holds it: the watcher's fd in an epoll set of the
    // loop's own, next(ZERO) only once that says readable.
    use rustix::event::epoll;
    let Some(h) = host("outside", &[]) else {
        return;
    };
    let b = h.boxed(Limits::new());
    let mut events = b.events().unwrap();
    let outer = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    epoll::add(
        &outer,
        events.as_fd(),
        epoll::EventData::new_u64(7),
        epoll::EventFlags::IN | epoll::EventFlags::ET,
    )
    .unwrap();
    let mut loop_until = |want: Event| {
        let deadline = Instant::now() + PATIENCE;
        loop {
            wait_a_second(&outer);
            while let Some(e) = events.next(Duration::ZERO).unwrap() {
                if e == want {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "{want:?} never came");
        }
    };
    let mut child = b.spawn(Command::new("sleep").arg("1000")).unwrap();
    loop_until(Event::Populated);
    child.kill().unwrap();
    child.wait().unwrap();
    loop_until(Event::Empty);
    b.destroy().unwrap();
    loop_until(Event::Gone);
}

#[test]
fn psi_triggers_follow_the_kernels_rules() {
    let Some(h) = host("rules", &[]) else { return };
    let b = h.boxed(Limits::new());
    let mut events = b.events().unwrap();
    let ms = Duration::from_millis;
    let one_second = Trigger::some(Resource::Memory, ms(100), ms(1000));
    let two_seconds = Trigger::some(Resource::Memory, ms(100), ms(2000));
    let release = common::kernel_release();
    if !b.path().join("memory.pressure").exists() {
        // No PSI here: the typed error, never a trigger silently not set.
        let e = events.trigger(two_seconds).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        eprintln!("{release}: no PSI, Unsupported as asserted");
        return;
    }
    // Checked before the kernel sees it, with the rule.
    let e = events
        .trigger(Trigger::some(Resource::Memory, ms(100), ms(20_000)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("500 ms to 10 s"), "{e}");
    let privileged = has_cap_sys_resource();
    if privileged {
        events.trigger(one_second).unwrap();
    } else {
        let e = events.trigger(one_second).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("multiple of 2 s"), "{e}");
    }
    match events.trigger(two_seconds) {
        Ok(()) => assert!(privileged || common::kernel_at_least(6, 5), "{release}"),
        Err(e) => {
            // Before 6.5, triggers need CAP_SYS_RESOURCE.
            assert!(
                !privileged && !common::kernel_at_least(6, 5),
                "{release}: {e}"
            );
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        }
    }
    // `cgroup.pressure` 0 (Linux 6.1+) turns the box's PSI off: the files go.
    let switch = b.path().join("cgroup.pressure");
    if !switch.exists() {
        assert!(
            !common::kernel_at_least(6, 1),
            "{release} has cgroup.pressure"
        );
        eprintln!("{release}: no cgroup.pressure, so PSI cannot be switched off per box");
        return;
    }
    std::fs::write(&switch, "0").unwrap();
    let e = events.trigger(two_seconds).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(
        e.to_string().contains("no pressure stall information"),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("cgroup.pressure"), "{e}");
    std::fs::write(&switch, "1").unwrap();
    // The watcher still watches: a job starts, the event comes.
    let mut child = b.spawn(Command::new("sleep").arg("1000")).unwrap();
    assert_eq!(
        until(&mut events, |e| *e == Event::Populated)
            .last()
            .map(|s| s.1),
        Some(Event::Populated)
    );
    child.kill().unwrap();
    child.wait().unwrap();
    b.destroy().unwrap();
}

/// `oom_group_kill` in `memory.events`: not in 5.10, in 6.1 and later (the
/// kernels of the matrix; the counter came in between).
fn counts_group_kills(b: &JobBox<SysFs>) -> bool {
    let text = std::fs::read_to_string(b.path().join("memory.events")).unwrap();
    let has = text.lines().any(|l| l.starts_with("oom_group_kill "));
    if common::kernel_at_least(6, 1) {
        assert!(has, "{}: {text}", common::kernel_release());
    } else if !common::kernel_at_least(5, 11) {
        assert!(!has, "{}: {text}", common::kernel_release());
    }
    has
}

#[test]
fn an_oom_kill_and_the_box_emptying_arrive_within_100_ms() {
    let Some(h) = host("oom", &["memory"]) else {
        return;
    };
    let b = h.boxed(Limits {
        memory_swap_max: Some(Size::Bytes(0)),
        ..Limits::new().memory_max(Size::Bytes(32 << 20))
    });
    let mut events = b.events().unwrap();
    let job = b
        .spawn(
            Command::new("dd")
                .args(["if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"])
                .stderr(Stdio::null()),
        )
        .unwrap();
    let ended = watch_exit(job);
    let seen = until(&mut events, |e| *e == Event::Empty);
    let (exited, status) = ended.join();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "killed by the OOM killer: {status:?}"
    );
    let kinds: Vec<Event> = seen.iter().map(|s| s.1).collect();
    let oom = when(
        &seen,
        |e| matches!(e, Event::OomKill { count } if *count >= 1),
    )
    .unwrap_or_else(|| panic!("no OOM kill in {kinds:?}"));
    let empty = when(&seen, |e| *e == Event::Empty).unwrap();
    assert!(
        kinds
            .iter()
            .any(|e| matches!(e, Event::MemoryMax { count } if *count >= 1)),
        "memory.max was reached: {kinds:?}"
    );
    assert!(
        oom <= empty,
        "the kill comes before the box is empty: {kinds:?}"
    );
    let release = common::kernel_release();
    eprintln!(
        "{release}: oom kill delivered {} and empty {} from the job's end",
        offset(oom, exited),
        offset(empty, exited)
    );
    assert!(
        late(oom, exited) <= PROMPT,
        "oom kill came {:?} late",
        late(oom, exited)
    );
    assert!(
        late(empty, exited) <= PROMPT,
        "empty came {:?} late",
        late(empty, exited)
    );
    if !counts_group_kills(&b) {
        eprintln!("{release}: no oom_group_kill in memory.events");
    }
    assert!(
        !kinds
            .iter()
            .any(|e| matches!(e, Event::OomGroupKill { .. })),
        "no group kill without memory.oom.group: {kinds:?}"
    );
    b.destroy().unwrap();
}

#[test]
fn an_oom_group_kill_is_an_event_where_the_kernel_counts_it() {
    let Some(h) = host("group", &["memory"]) else {
        return;
    };
    let b = h.boxed(Limits {
        memory_swap_max: Some(Size::Bytes(0)),
        memory_oom_group: Some(true),
        ..Limits::new().memory_max(Size::Bytes(32 << 20))
    });
    let mut events = b.events().unwrap();
    // A helper that would limp on, and the hog.
    let job = b
        .spawn(&mut sh(
            "sleep 1000 & dd if=/dev/zero of=/dev/null bs=100M count=1; wait",
        ))
        .unwrap();
    let ended = watch_exit(job);
    let seen = until(&mut events, |e| *e == Event::Empty);
    let (exited, _) = ended.join();
    let kinds: Vec<Event> = seen.iter().map(|s| s.1).collect();
    let empty = when(&seen, |e| *e == Event::Empty).unwrap();
    assert!(
        late(empty, exited) <= PROMPT,
        "empty came {:?} late",
        late(empty, exited)
    );
    let kills: u64 = kinds
        .iter()
        .map(|e| match e {
            Event::OomKill { count } => *count,
            _ => 0,
        })
        .sum();
    assert!(
        kills >= 2,
        "the whole box was killed (sh, sleep, dd): {kinds:?}"
    );
    let groups: Vec<&Event> = kinds
        .iter()
        .filter(|e| matches!(e, Event::OomGroupKill { .. }))
        .collect();
    if counts_group_kills(&b) {
        assert_eq!(groups, [&Event::OomGroupKill { count: 1 }], "{kinds:?}");
    } else {
        assert_eq!(
            groups,
            [] as [&Event; 0],
            "absent, never an event: {kinds:?}"
        );
        eprintln!(
            "{}: the group kill is not counted, and no event says it",
            common::kernel_release()
        );
    }
    b.destroy().unwrap();
}

#[test]
fn forks_refused_at_pids_max_are_delivered() {
    let Some(h) = host("forks", &["pids"]) else {
        return;
    };
    let b = h.boxed(Limits::new().pids_max(4));
    let mut events = b.events().unwrap();
    let mut job = b
        .spawn(&mut sh("for i in 1 2 3 4 5 6; do sleep 1000 & done; wait"))
        .unwrap();
    let seen = until(&mut events, |e| matches!(e, Event::ForksRefused { .. }));
    let refused = seen
        .iter()
        .find_map(|(_, e)| match e {
            Event::ForksRefused { count } => Some(*count),
            _ => None,
        })
        .unwrap();
    assert!(refused >= 1);
    let text = std::fs::read_to_string(b.path().join("pids.events")).unwrap();
    let counted: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(counted >= refused, "{text}");
    let _ = job.kill();
    b.destroy().unwrap();
    let _ = job.wait();
}

#[test]
fn a_psi_memory_trigger_fires_under_a_memory_hog() {
    use rustix::event::epoll;
    let Some(h) = host("psi", &["memory"]) else {
        return;
    };
    let b = h.boxed(Limits {
        memory_swap_max: Some(Size::Bytes(0)),
        ..Limits::new().memory_high(Size::Bytes(16 << 20))
    });
    let mut events = b.events().unwrap();
    let window = if has_cap_sys_resource() { 1000 } else { 2000 };
    let trigger = Trigger::some(
        Resource::Memory,
        Duration::from_millis(100),
        Duration::from_millis(window),
    );
    let release = common::kernel_release();
    if let Err(e) = events.trigger(trigger) {
        // Where the kernel has no PSI for the box: the typed error.
        assert!(!b.path().join("memory.pressure").exists(), "{release}: {e}");
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        eprintln!("{release}: no PSI, Unsupported as asserted");
        b.destroy().unwrap();
        return;
    }
    // Throttled at memory.high with nowhere to swap to: the job stalls.
    let mut job = b
        .spawn(&mut sh(
            "while :; do dd if=/dev/zero of=/dev/null bs=64M count=1; done",
        ))
        .unwrap();
    let started = Instant::now();
    // First as an event loop holds the watcher: its fd in an outer epoll
    // set (a PSI firing is a flag the trigger's poll clears; the outer
    // wait must not take it from next).
    let outer = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    epoll::add(
        &outer,
        events.as_fd(),
        epoll::EventData::new_u64(1),
        epoll::EventFlags::IN | epoll::EventFlags::ET,
    )
    .unwrap();
    let mut fired = None;
    let mut others = Vec::new();
    while fired.is_none() {
        assert!(
            started.elapsed() < PATIENCE,
            "{release}: no pressure event in {PATIENCE:?}; saw {others:?}"
        );
        wait_a_second(&outer);
        while let Some(e) = events.next(Duration::ZERO).unwrap() {
            match e {
                Event::Pressure(t) => fired = Some(t),
                other => others.push(other),
            }
        }
    }
    assert_eq!(fired, Some(trigger));
    eprintln!(
        "{release}: {trigger} fired {:?} after the hog started",
        started.elapsed()
    );
    // Then as a plain blocking next: the trigger fires again (at most once
    // a window), the AIO poll request having been submitted again.
    let again = until(&mut events, |e| matches!(e, Event::Pressure(_)));
    assert_eq!(again.last().map(|s| s.1), Some(Event::Pressure(trigger)));
    assert!(
        others
            .iter()
            .chain(again.iter().map(|s| &s.1))
            .any(|e| matches!(e, Event::MemoryHigh { .. })),
        "memory.high was exceeded: {others:?} {again:?}"
    );
    let _ = job.kill();
    b.destroy().unwrap();
    let _ = job.wait();
}
