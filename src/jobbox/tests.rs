use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustix::io::Errno;

use super::*;
use crate::fs::fake::{FakeFs, Op, ProcState};
use crate::fs::{CgroupFs, read_string};
use crate::limits::{IoMax, Limits, Size};
use crate::{ErrorKind, KillMethod};

/// What every box leaves behind: the long-lived app tree.
const APP_TREE: [&str; 3] = ["/", "/cgbox", "/cgbox/agents"];

fn fake() -> Arc<FakeFs> {
    Arc::new(FakeFs::new())
}

fn read(fake: &FakeFs, path: &Path, file: &str) -> String {
    read_string(fake, &fake.open_dir(path).unwrap(), file).unwrap()
}

fn every_limit() -> Limits {
    Limits {
        memory_max: Some(Size::Bytes(64 << 20)),
        memory_high: Some(Size::Bytes(48 << 20)),
        memory_swap_max: Some(Size::Bytes(0)),
        memory_oom_group: Some(true),
        cpus: Some(0.5),
        cpu_period_us: None,
        cpu_weight: Some(50),
        pids_max: Some(Some(32)),
        cpuset_cpus: Some("1".into()),
        cpuset_mems: Some("0".into()),
        io_max: vec![IoMax::parse("259:0 wbps=4194304").unwrap()],
        io_weight: Some(200),
    }
}

#[test]
fn handle_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<JobBox<FakeFs>>();
    check::<JobBox<crate::fs::SysFs>>();
}

#[test]
fn create_applies_every_limit_in_the_kernel_format() {
    let fake = fake();
    let b = Builder::new()
        .limits(every_limit())
        .create(fake.clone())
        .unwrap();
    assert!(b.path().starts_with("/sys/fs/cgroup/cgbox/agents"));
    assert_eq!(
        uuid::Uuid::parse_str(b.name()).unwrap().get_version_num(),
        4
    );
    for (file, want) in [
        ("memory.max", "67108864\n"),
        ("memory.high", "50331648\n"),
        ("memory.swap.max", "0\n"),
        ("memory.oom.group", "1\n"),
        ("cpu.max", "50000 100000\n"),
        ("cpu.weight", "50\n"),
        ("pids.max", "32\n"),
        ("cpuset.cpus", "1\n"),
        ("cpuset.mems", "0\n"),
        (
            "io.max",
            "259:0 rbps=max wbps=4194304 riops=max wiops=max\n",
        ),
        ("io.weight", "default 200\n"),
    ] {
        assert_eq!(read(&fake, b.path(), file), want, "{file}");
    }
    // enabled level by level, and only what limits and stats need
    assert_eq!(
        read(
            &fake,
            Path::new("/sys/fs/cgroup/cgbox/agents"),
            "cgroup.subtree_control"
        ),
        "cpuset cpu io memory pids\n"
    );
    assert!(b.skipped().is_empty());
    b.destroy().unwrap();
    assert_eq!(
        fake.cgroups(),
        APP_TREE,
        "the box is gone; <app> and agents stay"
    );
    assert_eq!(fake.open_fds(), 0);
}

#[test]
fn strict_refuses_an_undelegated_controller_and_changes_nothing() {
    let fake = Arc::new(FakeFs::with_controllers(&["cpu", "pids"]));
    let e = Builder::new()
        .limits(Limits::new().memory_max(Size::Bytes(1 << 26)))
        .create(fake.clone())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ControllerUnavailable, "{e}");
    assert!(e.to_string().contains("memory"), "{e}");
    assert!(e.hint().unwrap().contains("best-effort"), "{e}");
    assert_eq!(fake.cgroups(), vec!["/"]);
    assert_eq!(
        read(&fake, Path::new("/sys/fs/cgroup"), "cgroup.subtree_control"),
        "",
        "nothing enabled"
    );
}

#[test]
fn best_effort_applies_what_it_can_and_reports_the_rest() {
    let fake = Arc::new(FakeFs::with_controllers(&["cpu", "pids"]));
    let limits = Limits::new().memory_max(Size::Bytes(1 << 26)).pids_max(10);
    let b = Builder::new()
        .limits(limits)
        .policy(Policy::BestEffort)
        .create(fake.clone())
        .unwrap();
    assert_eq!(read(&fake, b.path(), "pids.max"), "10\n");
    let skipped: Vec<&str> = b.skipped().iter().map(|s| s.what.as_str()).collect();
    assert_eq!(skipped, vec!["memory"]);
    assert_eq!(
        b.skipped()[0].error.kind(),
        ErrorKind::ControllerUnavailable
    );
    b.destroy().unwrap();
}

#[test]
fn best_effort_skips_a_value_the_kernel_refuses() {
    let fake = fake();
    fake.fail(Op::Write, "/cpu.max", Errno::INVAL, None);
    let b = Builder::new()
        .limits(Limits::new().cpus(1.0).pids_max(3))
        .policy(Policy::BestEffort)
        .create(fake.clone())
        .unwrap();
    assert_eq!(b.skipped().len(), 1);
    assert_eq!(b.skipped()[0].what, "cpu.max");
    assert_eq!(read(&fake, b.path(), "pids.max"), "3\n");
}

#[test]
fn no_internal_process_rule_gives_a_typed_error() {
    let fake = fake();
    fake.mkdir_p("ns").unwrap();
    fake.write_file(
        &fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap(),
        "cgroup.subtree_control",
        b"+memory",
    )
    .unwrap();
    fake.spawn("ns").unwrap();
    let e = Builder::new()
        .parent("/sys/fs/cgroup/ns")
        .limits(Limits::new().memory_max(Size::Bytes(1 << 26)))
        .create(fake.clone())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoInternalProcesses, "{e}");
    assert!(e.hint().unwrap().contains("cgbox prepare"), "{e}");
    assert_eq!(fake.cgroups(), vec!["/", "/ns"]);
    assert_eq!(
        read(
            &fake,
            Path::new("/sys/fs/cgroup/ns"),
            "cgroup.subtree_control"
        ),
        "",
        "nothing enabled"
    );
}

#[test]
fn realtime_processes_block_a_cpu_limit() {
    let fake = fake();
    fake.set_realtime_outside_root(true);
    let e = Builder::new()
        .limits(Limits::new().cpus(1.0))
        .create(fake.clone())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RealtimeProcesses, "{e}");
    assert_eq!(fake.cgroups(), vec!["/"]);
    // without a cpu limit, cpu is only wanted for statistics: no error
    let b = Builder::new()
        .limits(Limits::new().pids_max(5))
        .create(fake.clone())
        .unwrap();
    b.destroy().unwrap();
}

#[test]
fn bad_input_creates_nothing() {
    let fake = fake();
    for builder in [
        Builder::new().name("../escape"),
        Builder::new().name(""),
        Builder::new().name(".hidden"),
        Builder::new().app("a/b"),
        Builder::new().limits(Limits::new().cpus(f64::NAN)),
        Builder::new().limits(Limits::new().pids_max(0)),
    ] {
        assert!(builder.create(fake.clone()).is_err());
        assert_eq!(fake.cgroups(), vec!["/"]);
        assert_eq!(fake.open_fds(), 0);
    }
}

#[test]
fn a_taken_name_is_already_exists() {
    let fake = fake();
    let first = Builder::new().name("job").create(fake.clone()).unwrap();
    let e = Builder::new().name("job").create(fake.clone()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert!(
        fake.cgroups().contains(&"/cgbox/agents/job".to_owned()),
        "the first box is untouched"
    );
    first.destroy().unwrap();
}

/// Every step of creation, failed once in turn: no directory leaks, no fd
/// leaks, and a pre-existing box beside it is untouched.
#[test]
fn a_fault_at_any_step_leaks_nothing() {
    let steps: &[(Op, &str)] = &[
        (Op::OpenDir, "/sys/fs/cgroup"),
        (Op::Read, "/sys/fs/cgroup/cgroup.controllers"),
        (Op::Mkdir, "/cgbox"),
        (Op::OpenDir, "/cgbox"),
        (Op::Mkdir, "/agents"),
        (Op::OpenDir, "/agents"),
        (Op::Read, "/sys/fs/cgroup/cgroup.subtree_control"),
        (Op::Write, "/sys/fs/cgroup/cgroup.subtree_control"),
        (Op::Write, "/cgbox/cgroup.subtree_control"),
        (Op::Write, "/agents/cgroup.subtree_control"),
        (Op::Mkdir, "/agents/job"),
        (Op::OpenDir, "/agents/job"),
        (Op::Write, "/job/cpu.max"),
        (Op::Write, "/job/memory.max"),
        (Op::Write, "/job/pids.max"),
        (Op::Write, "/job/io.max"),
        // cgroup.events is opened on first use, not at creation.
    ];
    let limits = Limits::new()
        .cpus(1.0)
        .memory_max(Size::Bytes(1 << 26))
        .pids_max(9);
    let limits = Limits {
        io_max: vec![IoMax::parse("259:0 rbps=1000").unwrap()],
        ..limits
    };
    for with_neighbour in [false, true] {
        for (op, path) in steps {
            let fake = fake();
            let neighbour = with_neighbour.then(|| {
                Builder::new()
                    .name("other")
                    .create(fake.clone())
                    .unwrap()
                    .keep()
            });
            let before = fake.cgroups();
            let levels = ["", "cgbox", "cgbox/agents"];
            let controls = |fake: &FakeFs| -> Vec<Option<String>> {
                levels
                    .iter()
                    .map(|l| {
                        fake.open_dir(&Path::new("/sys/fs/cgroup").join(l))
                            .ok()
                            .map(|d| read_string(fake, &d, "cgroup.subtree_control").unwrap())
                    })
                    .collect()
            };
            let controls_before = controls(&fake);
            for errno in [Errno::ACCESS, Errno::IO] {
                fake.fail(*op, path, errno, None);
                let r = Builder::new()
                    .name("job")
                    .limits(limits.clone())
                    .create(fake.clone());
                let e = r.expect_err(&format!("{op:?} {path} should fail"));
                assert_eq!(e.errno(), Some(errno.raw_os_error()), "{op:?} {path}: {e}");
                assert_eq!(
                    fake.cgroups(),
                    before,
                    "{op:?} {path} with neighbour={with_neighbour}"
                );
                assert_eq!(fake.open_fds(), 0, "{op:?} {path}: fd leaked");
                fake.clear_faults();
                assert_eq!(
                    controls(&fake),
                    controls_before,
                    "{op:?} {path}: every level's subtree_control as it was"
                );
            }
            drop(neighbour);
        }
    }
}

#[test]
fn destroy_kills_everything_including_nested_cgroups() {
    let fake = fake();
    let b = Builder::new().name("job").create(fake.clone()).unwrap();
    fake.mkdir_p("cgbox/agents/job/inner/deeper").unwrap();
    let pids = [
        fake.spawn("cgbox/agents/job/inner").unwrap(),
        fake.spawn_forker("cgbox/agents/job/inner/deeper", 10)
            .unwrap(),
    ];
    let direct = fake.spawn("cgbox/agents/job").unwrap();
    assert!(b.is_populated().unwrap());
    assert!(
        b.pids().unwrap().len() >= 3,
        "the forker may add one while listed"
    );
    b.destroy().unwrap();
    for p in pids.into_iter().chain([direct]) {
        assert_eq!(fake.state(p), Some(ProcState::Zombie));
    }
    assert_eq!(fake.cgroups(), APP_TREE);
}

#[test]
fn destroy_through_the_signal_path_and_lingering_tasks() {
    let fake = fake();
    fake.set_kill_linger(std::time::Duration::from_millis(5));
    let b = Builder::new()
        .kill_method(KillMethod::Signal)
        .create(fake.clone())
        .unwrap();
    let rel = b
        .path()
        .strip_prefix("/sys/fs/cgroup")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    fake.spawn_forker(&rel, 20).unwrap();
    fake.spawn(&rel).unwrap();
    b.destroy().unwrap();
    assert_eq!(fake.live_pids(), vec![fake.self_pid()]);
    assert_eq!(fake.cgroups(), APP_TREE);
}

#[test]
fn drop_removes_and_keep_opts_out() {
    let fake = fake();
    {
        let b = Builder::new().create(fake.clone()).unwrap();
        let rel = b
            .path()
            .strip_prefix("/sys/fs/cgroup")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        fake.spawn(&rel).unwrap();
    }
    assert_eq!(fake.cgroups(), APP_TREE);
    let kept = Builder::new()
        .name("stay")
        .create(fake.clone())
        .unwrap()
        .keep();
    assert_eq!(kept, Path::new("/sys/fs/cgroup/cgbox/agents/stay"));
    assert!(fake.cgroups().contains(&"/cgbox/agents/stay".to_owned()));
    // A box opened by name is not its handle's: dropping the handle
    // neither kills what runs inside nor removes the box.
    let job = fake.spawn("cgbox/agents/stay").unwrap();
    let opened: BoxRef<FakeFs> = BoxRef::open(fake.clone(), "cgbox", "stay").unwrap();
    assert!(opened.is_populated().unwrap());
    drop(opened);
    assert!(fake.cgroups().contains(&"/cgbox/agents/stay".to_owned()));
    assert_eq!(
        fake.cgroup_of(job).as_deref(),
        Some("/cgbox/agents/stay"),
        "still running"
    );
    // Killing it is an explicit call.
    BoxRef::open(fake.clone(), "cgbox", "stay")
        .unwrap()
        .destroy()
        .unwrap();
    assert_eq!(fake.cgroup_of(job), None, "killed on request");
    assert_eq!(fake.cgroups(), APP_TREE);
}

#[test]
fn destroy_reports_a_box_that_cannot_be_removed() {
    let fake = fake();
    let b = Builder::new()
        .name("job")
        .timeout(std::time::Duration::from_millis(100))
        .create(fake.clone())
        .unwrap();
    fake.fail(Op::Rmdir, "/agents/job", Errno::BUSY, None);
    let e = b.destroy().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(e.errno(), Some(Errno::BUSY.raw_os_error()));
}

#[test]
fn move_pid_retries_einval_briefly() {
    let fake = fake();
    let b = Builder::new().create(fake.clone()).unwrap();
    let pid = fake.spawn("").unwrap();
    fake.fail(Op::Write, "/cgroup.procs", Errno::INVAL, Some(3));
    b.move_pid(pid).unwrap();
    assert_eq!(
        fake.cgroup_of(pid).as_deref(),
        Some(
            b.path()
                .strip_prefix("/sys/fs/cgroup")
                .unwrap()
                .to_str()
                .unwrap()
        )
        .map(|p| format!("/{p}"))
        .as_deref()
    );
    fake.fail(Op::Write, "/cgroup.procs", Errno::INVAL, None);
    let other = fake.spawn("").unwrap();
    assert_eq!(
        b.move_pid(other).unwrap_err().errno(),
        Some(Errno::INVAL.raw_os_error())
    );
    fake.clear_faults();
    assert_eq!(
        b.move_pid(99_999).unwrap_err().errno(),
        Some(Errno::SRCH.raw_os_error())
    );
}

#[test]
fn list_shows_ownership_and_reap_touches_only_what_nobody_holds() {
    let fake = fake();
    let app = App::open(fake.clone(), "cgbox").unwrap();
    assert!(app.list().unwrap().boxes.is_empty());
    let owned = Builder::new().name("owned").create_in(&app).unwrap();
    fake.spawn("cgbox/agents/owned").unwrap();
    let _ = Builder::new().name("kept").create_in(&app).unwrap().keep();
    // An owner that died: its lock is gone with it.
    let crashed = Builder::new().name("crashed").create_in(&app).unwrap();
    let orphan = Builder::new().name("orphan").create_in(&app).unwrap();
    let orphan_pid = fake.spawn("cgbox/agents/orphan").unwrap();
    for b in [crashed, orphan] {
        let name = b.name().to_owned();
        std::mem::forget(b); // the process died without running Drop
        fake.release_lock(&format!("cgbox/agents/{name}")).unwrap();
    }
    fake.mkdir_p("cgbox/agents/.hidden").unwrap();

    let listing = app.list().unwrap();
    let states: Vec<(String, &str, &str)> = listing
        .boxes
        .iter()
        .map(|b| (b.name.clone(), b.ownership(), b.activity()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("crashed".into(), "leftover", "empty"),
            ("kept".into(), "kept", "empty"),
            ("orphan".into(), "orphaned", "running"),
            ("owned".into(), "owned", "running"),
        ]
    );
    assert_eq!(listing.odd.len(), 1, "{:?}", listing.odd);
    assert_eq!(listing.odd[0].name, ".hidden");

    // A leftover made a moment ago may be a box whose maker has not taken
    // hold of it yet: reap waits until it is LEFTOVER_AGE old.
    let r = app.reap(false, DEFAULT_TIMEOUT).unwrap();
    assert_eq!(r.young, vec!["crashed"]);
    assert!(r.removed.is_empty());
    fake.advance(Duration::from_secs(2)); // a leftover's age
    let r = app.reap(false, DEFAULT_TIMEOUT).unwrap();
    assert_eq!(r.removed, vec!["crashed"]);
    assert_eq!(r.orphans, vec!["orphan"]);
    assert_eq!(r.owned, vec!["owned"]);
    assert_eq!(r.kept, vec!["kept"]);
    assert_eq!(r.odd.len(), 1, "an odd entry is named and passed over");
    assert_eq!(fake.state(orphan_pid), Some(ProcState::Running));

    let r = app.reap(true, DEFAULT_TIMEOUT).unwrap();
    assert_eq!(r.killed, vec!["orphan"]);
    assert_eq!(fake.state(orphan_pid), Some(ProcState::Zombie));
    assert!(
        owned.is_populated().unwrap(),
        "an owned box is never touched"
    );
    owned.destroy().unwrap();
    BoxRef::open(fake.clone(), "cgbox", "kept")
        .unwrap()
        .destroy()
        .unwrap();
    assert_eq!(
        fake.cgroups(),
        vec!["/", "/cgbox", "/cgbox/agents", "/cgbox/agents/.hidden"],
        "reap and destroy never remove <app> or agents"
    );
}

#[test]
fn the_app_tree_outlives_boxes_and_keeps_an_admins_settings() {
    let fake = fake();
    fake.mkdir_p("myapp").unwrap();
    fake.write_file(
        &fake.open_dir(Path::new("/sys/fs/cgroup/myapp")).unwrap(),
        "cgroup.max.descendants",
        b"5",
    )
    .ok(); // the fake keeps no value for it; the directory is what counts
    let b = Builder::new().app("myapp").create(fake.clone()).unwrap();
    b.destroy().unwrap();
    let app = App::open(fake.clone(), "myapp").unwrap();
    app.reap(true, DEFAULT_TIMEOUT).unwrap();
    assert_eq!(fake.cgroups(), vec!["/", "/myapp", "/myapp/agents"]);
    // Only an explicit removal takes the tree away, and only when empty.
    let busy = Builder::new().name("b").create_in(&app).unwrap();
    let e = app.clone().remove().unwrap_err();
    assert!(e.is_busy(), "{e}");
    busy.destroy().unwrap();
    app.remove().unwrap();
    assert_eq!(fake.cgroups(), vec!["/"]);
}

#[test]
fn creation_starts_over_when_agents_is_removed_underneath() {
    let fake = fake();
    let app = App::open(fake.clone(), "cgbox").unwrap();
    // Another process removes the app tree between our open and our mkdir.
    App::open(fake.clone(), "cgbox").unwrap().remove().unwrap();
    let b = Builder::new().name("again").create_in(&app).unwrap();
    assert!(fake.cgroups().contains(&"/cgbox/agents/again".to_owned()));
    b.destroy().unwrap();
}

#[test]
fn an_endless_timeout_never_overflows() {
    let fake = fake();
    let b = Builder::new()
        .name("forever")
        .timeout(Duration::MAX)
        .create(fake.clone())
        .unwrap();
    fake.spawn("cgbox/agents/forever").unwrap();
    b.freeze().unwrap();
    b.thaw().unwrap();
    b.kill().unwrap();
    drop(b); // Drop ends the box with the same deadline: no panic
    assert!(!fake.cgroups().iter().any(|c| c.ends_with("forever")));
}

#[test]
fn a_damaged_events_file_is_an_error_never_empty() {
    let fake = fake();
    let b = Builder::new().name("d").create(fake.clone()).unwrap();
    let pid = fake.spawn("cgbox/agents/d").unwrap();
    fake.set_file("cgbox/agents/d", "cgroup.events", "populated 2\nfrozen 0\n")
        .unwrap();
    let e = b.is_populated().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    let e = b.kill().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "kill must not return Ok: {e}");
    assert_eq!(
        fake.state(pid),
        Some(ProcState::Running),
        "nothing was killed"
    );
    let _ = b.keep();
}

#[test]
fn cgroups_a_job_names_oddly_inside_its_box_are_still_killed_and_removed() {
    let fake = fake();
    let b = Builder::new().name("odd").create(fake.clone()).unwrap();
    fake.mkdir_p("cgbox/agents/odd/.hidden/a b/-x").unwrap();
    let pid = fake.spawn("cgbox/agents/odd/.hidden/a b/-x").unwrap();
    b.destroy().unwrap();
    assert_eq!(fake.state(pid), Some(ProcState::Zombie));
    assert_eq!(fake.cgroups(), APP_TREE);
}

#[test]
fn set_limits_enables_what_the_box_lacks_and_warns_below_use() {
    let fake = fake();
    let b = Builder::new().name("live").create(fake.clone()).unwrap();
    assert!(
        !fake
            .open_dir(b.path())
            .map(|d| fake.has_file(&d, "pids.max").unwrap())
            .unwrap(),
        "made without limits: no pids controller"
    );
    let changed = b.set_limits(&Limits::new().pids_max(10)).unwrap();
    assert_eq!(read(&fake, b.path(), "pids.max"), "10\n");
    assert_eq!(
        changed.written,
        vec![Change {
            file: "pids.max".to_owned(),
            before: "max".to_owned(),
            after: "10".to_owned()
        }]
    );
    for _ in 0..3 {
        fake.spawn("cgbox/agents/live").unwrap();
    }
    let changed = b.set_limits(&Limits::new().pids_max(2)).unwrap();
    assert_eq!(changed.warnings.len(), 1, "{changed:?}");
    assert!(
        changed.warnings[0].contains("pids.current 3"),
        "{changed:?}"
    );
    fake.set_file("cgbox/agents/live", "memory.current", "104857600\n")
        .unwrap();
    let changed = b
        .set_limits(&Limits::new().memory_max(Size::Bytes(64 << 20)))
        .unwrap();
    assert!(
        changed.warnings.iter().any(|w| w.contains("OOM")),
        "{changed:?}"
    );
    b.destroy().unwrap();
}

#[test]
fn set_limits_loosens_first_and_puts_back_what_it_changed_when_a_write_fails() {
    let fake = fake();
    let b = Builder::new()
        .name("live")
        .limits(
            Limits::new()
                .memory_max(Size::Bytes(256 << 20))
                .memory_high(Size::Bytes(128 << 20)),
        )
        .create(fake.clone())
        .unwrap();
    // Lower memory.max, raise memory.high: memory.high (looser) goes first.
    fake.fail(Op::Write, "/live/memory.max", Errno::IO, Some(1));
    let e = b
        .set_limits(
            &Limits::new()
                .memory_max(Size::Bytes(64 << 20))
                .memory_high(Size::Max),
        )
        .unwrap_err();
    assert!(e.to_string().contains("memory.max"), "names the file: {e}");
    assert_eq!(
        read(&fake, b.path(), "memory.high"),
        "134217728\n",
        "put back"
    );
    assert_eq!(
        read(&fake, b.path(), "memory.max"),
        "268435456\n",
        "unchanged"
    );
    let changed = b
        .set_limits(
            &Limits::new()
                .memory_max(Size::Bytes(64 << 20))
                .memory_high(Size::Max),
        )
        .unwrap();
    let order: Vec<&str> = changed.written.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(order, ["memory.high", "memory.max"], "looser first");
    // Bad input changes nothing.
    let e = b.set_limits(&Limits::new().pids_max(0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    b.destroy().unwrap();
}

#[test]
fn a_freeze_that_never_completes_times_out_with_a_typed_error() {
    let fake = fake();
    let b = Builder::new()
        .name("ice")
        .timeout(Duration::from_millis(200))
        .create(fake.clone())
        .unwrap();
    fake.spawn("cgbox/agents/ice").unwrap();
    // A task the kernel cannot freeze: cgroup.events keeps saying 0.
    fake.set_file(
        "cgbox/agents/ice",
        "cgroup.events",
        "populated 1\nfrozen 0\n",
    )
    .unwrap();
    let e = b.freeze().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(e.to_string().contains("frozen is still 0"), "{e}");
    let _ = b.keep();
}

#[test]
fn a_forced_cgroup_kill_on_a_kernel_without_it_is_refused_when_the_box_is_made() {
    let fake = Arc::new(FakeFs::with_kernel(crate::fs::fake::Kernel::V5_10));
    let e = Builder::new()
        .kill_method(KillMethod::CgroupKill)
        .create(fake.clone())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("5.14"), "{e}");
    assert_eq!(fake.cgroups(), vec!["/"], "nothing left");
    // Auto works there, by signals.
    let b = Builder::new().create(fake.clone()).unwrap();
    b.destroy().unwrap();
}

/// Once a box of an app handle has settled every level, the next box reads
/// only `agents`' `cgroup.subtree_control`: a fault on the home's files
/// does not reach it. A box that needs a controller `agents` does not pass
/// (cpuset here, or memory after someone disabled it) takes the full path
/// again, and meets the fault.
#[test]
fn later_boxes_of_an_app_check_only_agents() {
    let fake = fake();
    let app = App::open(fake.clone(), "cgbox").unwrap();
    let memory = Builder::new().limits(Limits::new().memory_max(Size::Bytes(1 << 26)));
    memory.create_in(&app).unwrap().destroy().unwrap();
    fake.fail(
        Op::Read,
        "/sys/fs/cgroup/cgroup.subtree_control",
        Errno::IO,
        None,
    );
    let b = memory.create_in(&app).unwrap();
    let agents = fake
        .open_dir(Path::new("/sys/fs/cgroup/cgbox/agents"))
        .unwrap();
    let passed = read_string(&*fake, &agents, "cgroup.subtree_control").unwrap();
    assert!(passed.split_whitespace().any(|c| c == "memory"), "{passed}");
    b.destroy().unwrap();
    Builder::new().create_in(&app).unwrap().destroy().unwrap();
    let e = Builder::new()
        .limits(Limits::new().cpuset_cpus("0"))
        .create_in(&app)
        .unwrap_err();
    assert_eq!(e.errno(), Some(Errno::IO.raw_os_error()), "{e}");
    // memory taken away under the handle: checked, not assumed.
    fake.clear_faults();
    fake.write_file(&agents, "cgroup.subtree_control", b"-memory")
        .unwrap();
    fake.fail(
        Op::Read,
        "/sys/fs/cgroup/cgroup.subtree_control",
        Errno::IO,
        None,
    );
    let e = memory.create_in(&app).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::IO.raw_os_error()), "{e}");
    fake.clear_faults();
    let b = memory.create_in(&app).unwrap();
    assert_eq!(
        read_string(&*fake, b.dir(), "memory.max").unwrap(),
        "67108864\n"
    );
    b.destroy().unwrap();
    assert_eq!(fake.cgroups(), vec!["/", "/cgbox", "/cgbox/agents"]);
}

/// `cgroup.procs` is opened the first time a PID is moved in; a failure
/// there is the kernel's error, and the box stays whole.
#[test]
fn cgroup_procs_is_opened_on_first_move() {
    let fake = fake();
    let b = Builder::new().name("job").create(fake.clone()).unwrap();
    let pid = fake.spawn("").unwrap();
    fake.fail(Op::Open, "/job/cgroup.procs", Errno::ACCESS, None);
    let e = b.move_pid(pid).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ACCESS.raw_os_error()), "{e}");
    fake.clear_faults();
    b.move_pid(pid).unwrap();
    assert_eq!(b.pids().unwrap(), vec![pid]);
    b.destroy().unwrap();
    assert!(!fake.live_pids().contains(&pid), "{pid} was killed");
}

#[test]
fn a_process_moved_into_a_box_that_passes_controllers_lands_in_its_leaf() {
    let fake = fake();
    let a1 = Builder::new()
        .name("a1")
        .limits(Limits::new().memory_max(Size::Bytes(64 << 20)))
        .create(fake.clone())
        .unwrap();
    // A command counted apart inside it: a1 passes its controllers on.
    let exec = a1.nested("exec").unwrap();
    let tool = Builder::new().name("tool").create_in(&exec).unwrap();
    assert!(
        fake.file("cgbox/agents/a1", "cgroup.subtree_control")
            .unwrap()
            .contains("memory")
    );
    let outside = fake.spawn("").unwrap();
    a1.move_pid(outside).unwrap();
    assert_eq!(
        fake.cgroup_of(outside).as_deref(),
        Some("/cgbox/agents/a1/init")
    );
    assert_eq!(
        fake.file("cgbox/agents/a1/init", "memory.max").unwrap(),
        "67108864\n",
        "the leaf shows the box's limit"
    );
    // Still in the box: its processes, and its kill.
    assert_eq!(a1.pids().unwrap(), [outside]);
    tool.destroy().unwrap();
    a1.kill().unwrap();
    assert_eq!(fake.cgroup_of(outside), None);
    a1.destroy().unwrap();
    assert_eq!(fake.cgroups(), APP_TREE);
}

/// A box running a job this handle started, not yet reaped, is killed
/// before any `rmdir` and removed once the job's pidfd says it ended; a
/// job that left the box does not hold the removal up; once the job is
/// reaped, the box is an empty box again (one `rmdir` first). A one-time
/// `ENOENT` on the box's `rmdir` shows the order: an `rmdir` before the
/// kill would take the box for gone and kill nothing.
#[test]
fn destroy_kills_a_job_of_ours_before_any_rmdir() {
    let fake = fake();
    let started = |b: &JobBox<FakeFs>, rel: &str| {
        let pid = fake.spawn(rel).unwrap();
        (pid, b.watch_exit(fake.pidfd_open(pid).unwrap()))
    };

    let b = Builder::new().name("job").create(fake.clone()).unwrap();
    let (pid, _unreaped) = started(&b, "cgbox/agents/job");
    fake.fail(Op::Rmdir, "agents/job", Errno::NOENT, Some(1));
    b.destroy().unwrap();
    fake.clear_faults();
    assert_eq!(fake.state(pid), Some(ProcState::Zombie), "killed first");
    // The injected ENOENT left the (empty) box in place.
    BoxRef::open(fake.clone(), "cgbox", "job")
        .unwrap()
        .destroy()
        .unwrap();
    assert_eq!(fake.cgroups(), APP_TREE);

    let left = Builder::new().name("left").create(fake.clone()).unwrap();
    let elsewhere = Builder::new()
        .name("elsewhere")
        .create(fake.clone())
        .unwrap();
    let (pid, _unreaped) = started(&left, "cgbox/agents/left");
    elsewhere.move_pid(pid).unwrap();
    let before = fake.clock();
    left.destroy().unwrap();
    assert!(
        fake.clock() - before < Duration::from_secs(1),
        "waited {:?} for a job that had left",
        fake.clock() - before
    );
    assert_eq!(fake.state(pid), Some(ProcState::Running), "not in the box");
    elsewhere.destroy().unwrap();
    assert_eq!(fake.state(pid), Some(ProcState::Zombie));

    let reaped = Builder::new().name("reaped").create(fake.clone()).unwrap();
    let (pid, unreaped) = started(&reaped, "cgbox/agents/reaped");
    drop(unreaped);
    fake.fail(Op::Rmdir, "agents/reaped", Errno::NOENT, Some(1));
    reaped.destroy().unwrap();
    fake.clear_faults();
    assert_eq!(
        fake.state(pid),
        Some(ProcState::Running),
        "no job of ours left: the rmdir came first"
    );
    BoxRef::open(fake.clone(), "cgbox", "reaped")
        .unwrap()
        .destroy()
        .unwrap();
    assert_eq!(fake.state(pid), Some(ProcState::Zombie));
    assert_eq!(fake.cgroups(), APP_TREE);
}
