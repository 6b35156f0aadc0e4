//! Why a job ended, from the kernel's counters: [`BoxRef::tally`] before,
//! [`BoxRef::outcome`] after. An exit, a signal and a kill with the box
//! run wherever a writable cgroup2 is (this machine's, without
//! controllers, too); an OOM kill at `memory.max` (alone and as a group),
//! forks refused, throttling, a command counted apart inside a long-lived
//! box, and the run's own peak (6.12's `memory.peak` reset) need the
//! controllers: the VM of `tests/vm/run.sh`, on 5.10, 6.1 and 6.12. What
//! 5.10 lacks (`memory.peak`, `pids.peak`, `oom_group_kill`) is asserted
//! absent, never zero. Memory hogs and fork bombs run only there.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use cgbox::fs::SysFs;
use cgbox::{BoxCommand, BoxRef, Builder, Cause, JobBox, Limits, Outcome, Size, Stdio, Stop};

const NEEDED: [&str; 3] = ["cpu", "memory", "pids"];

/// A box of a test's own app where boxes can be made here.
fn host(test: &str) -> Option<common::Live> {
    common::live("outcome", test)
}

/// The same, where the controllers a limit needs are offered (the VM).
fn vm(test: &str) -> Option<common::Live> {
    let live = host(test)?;
    let missing: Vec<&str> = NEEDED
        .iter()
        .copied()
        .filter(|c| !live.discovery.controllers.iter().any(|h| h == c))
        .collect();
    if missing.is_empty() {
        return Some(live);
    }
    common::skip(test, &format!("needs {NEEDED:?} (missing {missing:?})"));
    None
}

fn boxed(live: &common::Live, limits: Limits) -> JobBox<SysFs> {
    Builder::new()
        .app(&live.app)
        .limits(limits)
        .create(live.fs.clone())
        .unwrap()
}

/// Run `script` with `sh -c` in `b` and judge it.
fn run(b: &BoxRef<SysFs>, script: &str) -> Outcome {
    let before = b.tally().unwrap();
    let status = start(b, script).wait().unwrap();
    b.outcome(&before, status, Stop::Nothing).unwrap()
}

fn start(b: &BoxRef<SysFs>, script: &str) -> cgbox::BoxChild {
    let mut cmd = BoxCommand::new("sh");
    cmd.args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    b.start(&cmd).unwrap()
}

#[test]
fn an_exit_and_a_signal_are_said_as_they_are() {
    let Some(live) = host("exit") else { return };
    let b = boxed(&live, Limits::new());
    let o = run(&b, "exit 3");
    assert_eq!(o.cause, Cause::Exited(3));
    assert_eq!(o.describe(), "exit 3");
    assert!(
        o.counts.cpu_usec.is_some(),
        "cpu.stat is a core file: {o:?}"
    );
    let o = run(&b, "kill -TERM $$");
    assert_eq!(o.cause, Cause::Signaled(15));
    assert_eq!(o.describe(), "killed by SIGTERM");
    b.destroy().unwrap();
}

#[test]
fn a_job_killed_with_its_box_is_told_from_one_killed_from_outside() {
    let Some(live) = host("killed") else { return };
    let b = boxed(&live, Limits::new());
    let before = b.tally().unwrap();
    let mut child = start(&b, "sleep 1000");
    b.kill().unwrap();
    let status = child.wait().unwrap();
    let o = b.outcome(&before, status, Stop::Nothing).unwrap();
    assert_eq!(o.cause, Cause::KilledWithBox, "{o:?}");
    // The same kill from another handle (another process's `cgbox kill`).
    let before = b.tally().unwrap();
    let mut child = start(&b, "sleep 1000");
    BoxRef::open(live.fs.clone(), &live.app, b.name())
        .unwrap()
        .kill()
        .unwrap();
    let status = child.wait().unwrap();
    let o = b.outcome(&before, status, Stop::Nothing).unwrap();
    assert_eq!(o.cause, Cause::Signaled(9), "{o:?}");
    // What the caller did comes first.
    let o = b
        .outcome(
            &before,
            status,
            Stop::Interrupted {
                signal: 2,
                killed: true,
            },
        )
        .unwrap();
    assert_eq!(o.describe(), "interrupted by SIGINT, then killed");
    b.destroy().unwrap();
}

#[test]
fn an_oom_kill_at_memory_max_names_the_limit() {
    let Some(live) = vm("oom") else { return };
    let b = boxed(
        &live,
        Limits {
            memory_swap_max: Some(Size::Bytes(0)),
            ..Limits::new().memory_max(Size::Bytes(32 << 20))
        },
    );
    let o = run(&b, "exec dd if=/dev/zero of=/dev/null bs=100M count=1");
    assert_eq!(
        o.cause,
        Cause::OomKilled {
            cgroup: Some(b.path().to_path_buf()),
            limit: Some(32 << 20),
            group: false,
        },
        "{o:?}"
    );
    assert_eq!(
        o.describe(),
        "killed by the OOM killer at memory.max 32 MiB"
    );
    assert!(o.counts.oom_kills.unwrap() >= 1, "{o:?}");
    assert!(o.counts.memory_max_hits.unwrap() >= 1, "{o:?}");
    assert_eq!(
        o.counts.memory_peak.is_some(),
        common::kernel_at_least(5, 19),
        "memory.peak came in 5.19; absent before, never 0: {o:?}"
    );
    assert_group_kills_counted_where_the_kernel_counts_them(&o);
    b.destroy().unwrap();
}

/// `oom_group_kill`: counted on 6.1 and 6.12, absent (not 0) on 5.10.
fn assert_group_kills_counted_where_the_kernel_counts_them(o: &Outcome) {
    if common::kernel_at_least(6, 1) {
        assert!(o.counts.oom_group_kills.is_some(), "{o:?}");
    } else if !common::kernel_at_least(5, 11) {
        assert_eq!(o.counts.oom_group_kills, None, "absent, never 0: {o:?}");
    }
}

#[test]
fn an_oom_group_takes_every_process_of_the_box() {
    let Some(live) = vm("group") else { return };
    let b = boxed(
        &live,
        Limits {
            memory_swap_max: Some(Size::Bytes(0)),
            ..Limits::new()
                .memory_max(Size::Bytes(32 << 20))
                .oom_group(true)
        },
    );
    // Helpers that would outlive the hog without the group kill.
    let o = run(
        &b,
        "sleep 1000 & sleep 1000 & dd if=/dev/zero of=/dev/null bs=100M count=1; wait",
    );
    assert!(
        matches!(o.cause, Cause::OomKilled { group: true, .. }),
        "{o:?}"
    );
    assert!(
        o.describe().ends_with("(the whole box: memory.oom.group)"),
        "{}",
        o.describe()
    );
    // The helpers (sleep 1000) would outlive the hog by far: the box
    // empties on its own only if the OOM kill took them too (they die
    // asynchronously: a bounded wait for that state).
    let since = std::time::Instant::now();
    while b.is_populated().unwrap() {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(10),
            "the OOM kill took the helpers too: nothing left in the box"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_group_kills_counted_where_the_kernel_counts_them(&o);
    if let Some(n) = o.counts.oom_group_kills {
        assert!(n >= 1, "{o:?}");
    }
    b.destroy().unwrap();
}

#[test]
fn forks_refused_and_throttling_are_counted_over_the_run() {
    let Some(live) = vm("limited") else { return };
    let b = boxed(&live, Limits::new().pids_max(4).cpus(0.2));
    // A shell whose fork fails gives up (exit 2): the forks are tried in
    // an inner one, so that the job itself ends as it means to.
    let o = run(
        &b,
        "sh -c 'for i in 1 2 3 4 5 6; do sleep 1 & done; wait' 2>/dev/null; exit 0",
    );
    assert_eq!(o.cause, Cause::Exited(0), "{o:?}");
    assert!(o.counts.forks_refused.unwrap() >= 1, "{o:?}");
    assert_eq!(
        o.counts.pids_peak.is_some(),
        common::kernel_at_least(6, 1),
        "pids.peak came in 6.1: {o:?}"
    );
    if let Some(peak) = o.counts.pids_peak {
        assert_eq!(peak, 4, "{o:?}");
        assert!(o.counts.pids_peak_is_the_run, "a new box: {o:?}");
    }
    b.kill().unwrap(); // the sleepers the job left
    // A second run in the same box counts only itself: no fork refused
    // this time, and the throttling of a busy loop at 0.2 CPU.
    let o = run(&b, "timeout 1 yes >/dev/null; exit 0");
    assert_eq!(o.cause, Cause::Exited(0), "{o:?}");
    assert_eq!(o.counts.forks_refused, Some(0), "{o:?}");
    assert!(o.counts.nr_throttled.unwrap() >= 1, "{o:?}");
    assert!(o.counts.throttled_usec.unwrap() > 0, "{o:?}");
    b.destroy().unwrap();
}

#[test]
fn a_command_in_a_box_inside_a_box_is_counted_apart() {
    let Some(live) = vm("nested") else { return };
    let outer = boxed(
        &live,
        Limits {
            memory_swap_max: Some(Size::Bytes(0)),
            ..Limits::new().memory_max(Size::Bytes(64 << 20)).pids_max(32)
        },
    );
    let exec = outer.nested("exec").unwrap();
    let inner = Builder::new().name("tool").create_in(&exec).unwrap();
    for file in ["memory.current", "pids.current", "cpu.weight"] {
        assert!(
            inner.path().join(file).exists(),
            "{file}: its controller reaches the inner box"
        );
    }
    let o = run(&inner, "exec dd if=/dev/zero of=/dev/null bs=100M count=1");
    // The limit hit is the outer box's: the inner one has none of its own.
    assert!(
        matches!(&o.cause, Cause::OomKilled { cgroup: Some(c), .. } if c == outer.path()),
        "{o:?}"
    );
    assert!(o.counts.oom_kills.unwrap() >= 1);
    if let Some(peak) = o.counts.memory_peak {
        assert!(o.counts.memory_peak_is_the_run);
        // The inner box's own peak, over half the outer limit it ran into
        // (a peak may pass that limit by a few MiB: charges go in per-CPU
        // batches, seen 2 MiB over on 6.1).
        assert!(peak > 32 << 20 && peak <= (64 << 20) + (8 << 20), "{o:?}");
    }
    inner.destroy().unwrap();
    outer.destroy().unwrap();
}

#[test]
fn the_run_s_own_peak_where_the_kernel_can_reset_it() {
    let Some(live) = vm("peak") else { return };
    let b = boxed(&live, Limits::new().memory_max(Size::Bytes(256 << 20)));
    assert_eq!(
        run(&b, "dd if=/dev/zero of=/dev/null bs=40M count=1").cause,
        Cause::Exited(0)
    );
    let o = run(&b, "dd if=/dev/zero of=/dev/null bs=8M count=1");
    assert_eq!(o.cause, Cause::Exited(0), "{o:?}");
    match o.counts.memory_peak {
        None => assert!(!common::kernel_at_least(5, 19), "{o:?}"),
        // 6.12: the tally reset memory.peak for itself: the second run's.
        Some(peak) if common::kernel_at_least(6, 12) => {
            assert!(o.counts.memory_peak_is_the_run, "{o:?}");
            assert!(peak < 24 << 20, "the 8M run, not the 40M one: {o:?}");
        }
        // Before: the box's life, and said so.
        Some(peak) => {
            assert!(!o.counts.memory_peak_is_the_run, "{o:?}");
            assert!(peak >= 40 << 20, "{o:?}");
        }
    }
    b.destroy().unwrap();
}

#[test]
fn an_outcome_of_a_box_removed_underneath_is_an_error_not_a_guess() {
    let Some(live) = host("gone") else { return };
    let b = boxed(&live, Limits::new());
    let before = b.tally().unwrap();
    let other = BoxRef::open(live.fs.clone(), &live.app, b.name()).unwrap();
    other.destroy().unwrap();
    let e = b
        .outcome(&before, ExitStatus::from_raw(0), Stop::Nothing)
        .unwrap_err();
    assert!(e.is_gone(), "{e}");
}
