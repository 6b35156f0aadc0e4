//! Limits, kills and the CLI proven on a real kernel with every controller:
//! the VM of `tests/vm/run.sh`, on Linux 5.10, 6.1 and 6.12. Where no
//! writable cgroup2 offers cpu, memory, pids, io and cpuset, each test says
//! why and does nothing; with CGBOX_REQUIRE_REAL_CGROUP=1 that is a failure.
//! Each test reads what the kernel offers (discovery's features, the files
//! of the box, the kernel version) and asserts what cgbox must do there:
//! on 5.10, no `memory.peak` or `pids.peak` (absent, never 0) and a forced
//! `cgroup.kill` that fails at once. Each test's app directory is removed
//! when the test ends, also when it fails (a guard), so failures do not
//! cascade. Jobs are busybox or coreutils commands, so that the same tests
//! run on any such machine.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cgbox::Discovery;
use cgbox::HomeKind;
use cgbox::KillMethod;
use cgbox::Stats;
use cgbox::fs::{Handle, SysFs};
use cgbox::{Builder, ErrorKind, JobBox, Limits, Policy};
use cgbox::{IoMax, Size};

const NEEDED: [&str; 5] = ["cpu", "memory", "pids", "io", "cpuset"];

struct Vm {
    fs: Arc<SysFs>,
    app: String,
    discovery: Discovery,
    /// Whatever the test leaves is removed when it ends.
    _tree: common::AppTree,
}

/// The live system when it can prove limits, else `None` (said, or a
/// failure under CGBOX_REQUIRE_REAL_CGROUP=1).
fn vm(test: &str) -> Option<Vm> {
    let app = format!("rk-{test}");
    let fs = Arc::new(SysFs::new().ok()?);
    let discovery = Discovery::probe(&*fs, &app);
    let missing: Vec<&str> = NEEDED
        .iter()
        .copied()
        .filter(|c| !discovery.controllers.iter().any(|h| h == c))
        .collect();
    if discovery.usable() && missing.is_empty() {
        return Some(Vm {
            _tree: common::AppTree {
                fs: fs.clone(),
                app: app.clone(),
            },
            fs,
            app,
            discovery,
        });
    }
    let why = format!(
        "needs a writable cgroup2 with {NEEDED:?} (missing {missing:?}): {:?}",
        discovery.problems
    );
    common::skip(test, &why);
    None
}

impl Vm {
    fn boxed(&self, limits: Limits) -> JobBox<SysFs> {
        Builder::new()
            .app(&self.app)
            .limits(limits)
            .create(self.fs.clone())
            .unwrap()
    }

    /// The app directory, after removing its tree if no box is left in it:
    /// `<app>` and `agents` outlive boxes by design, so `gone(&vm.app_dir())`
    /// holds exactly when the test left no box behind.
    fn app_dir(&self) -> PathBuf {
        let dir = self.discovery.home().unwrap().join(&self.app);
        let _ = std::fs::remove_dir(dir.join("agents"));
        let _ = std::fs::remove_dir(&dir);
        dir
    }
}

fn sh(b: &JobBox<SysFs>, script: &str) -> Output {
    b.spawn(
        Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .unwrap()
    .wait_with_output()
    .unwrap()
}

fn sh_bg(b: &JobBox<SysFs>, script: &str) -> Child {
    b.spawn(
        Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    )
    .unwrap()
}

/// Read the first line the job prints: its "ready" handshake.
fn ready(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

/// Poll the box's statistics until `done` (bounded: a state, not a timer).
fn until(b: &JobBox<SysFs>, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = b.stats().unwrap();
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached in 60 s: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(status: std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

fn gone(path: &Path) {
    assert!(!path.exists(), "{} left behind", path.display());
}

/// `memory.peak`: Linux 5.19 (absent on 5.10, present on 6.1 and 6.12).
fn kernel_has_memory_peak() -> bool {
    common::kernel_at_least(5, 19)
}

/// `pids.peak`: Linux 6.1 (absent on 5.10).
fn kernel_has_pids_peak() -> bool {
    common::kernel_at_least(6, 1)
}

/// The box for a kill test forcing `method`; `None` where the kernel has
/// no `cgroup.kill` and refused it, as `common::create_forcing` asserts.
fn boxed_forcing(vm: &Vm, limits: Limits, method: KillMethod) -> Option<JobBox<SysFs>> {
    let agents = vm.discovery.home().unwrap().join(&vm.app).join("agents");
    let b = common::create_forcing(
        &vm.fs,
        &agents,
        Builder::new().app(&vm.app).limits(limits),
        method,
    )?;
    assert_eq!(
        b.path().join("cgroup.kill").exists(),
        common::kernel_at_least(5, 14),
        "cgroup.kill came in 5.14"
    );
    assert_eq!(
        vm.discovery.features.kill,
        common::kernel_at_least(5, 14),
        "discovery says so too"
    );
    Some(b)
}

#[test]
fn allocation_beyond_memory_max_is_oom_killed_and_counted() {
    let Some(vm) = vm("oom") else { return };
    let limits = Limits {
        memory_swap_max: Some(Size::Bytes(0)),
        ..Limits::new().memory_max(Size::Bytes(32 << 20))
    };
    let b = vm.boxed(limits);
    let out = b
        .spawn(
            Command::new("dd")
                .args(["if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"])
                .stderr(Stdio::null()),
        )
        .unwrap()
        .wait_with_output()
        .unwrap();
    assert_eq!(signal(out.status), Some(9), "{out:?}");
    let s = b.stats().unwrap();
    assert!(s.oom_kills().unwrap() >= 1, "{s:?}");
    assert!(s.key("memory.events", "max").unwrap() >= 1);
    let has_peak = b.path().join("memory.peak").exists();
    assert_eq!(
        has_peak,
        kernel_has_memory_peak(),
        "memory.peak came in 5.19"
    );
    assert_eq!(vm.discovery.features.memory_peak, has_peak);
    if has_peak {
        let peak = s.memory_peak().unwrap();
        assert!(peak <= 32 << 20 && peak > 16 << 20, "peak {peak}");
    } else {
        assert_eq!(s.memory_peak(), None, "absent, never 0: {s:?}");
        assert!(
            s.file("memory.peak").is_none() && s.errors.is_empty(),
            "{s:?}"
        );
    }
    b.destroy().unwrap();
    gone(&vm.app_dir());
}

#[test]
fn memory_high_raises_high_events_without_killing() {
    let Some(vm) = vm("high") else { return };
    let b = vm.boxed(Limits {
        memory_high: Some(Size::Bytes(16 << 20)),
        ..Limits::new()
    });
    let out = sh(
        &b,
        "dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null; echo done",
    );
    assert!(out.status.success(), "{out:?}");
    let s = b.stats().unwrap();
    assert!(s.key("memory.events", "high").unwrap() > 0, "{s:?}");
    assert_eq!(s.oom_kills(), Some(0));
    b.destroy().unwrap();
}

#[test]
fn fork_beyond_pids_max_fails_with_eagain() {
    let Some(vm) = vm("pids") else { return };
    let b = vm.boxed(Limits::new().pids_max(5));
    // the sleepers must not hold the output pipes open
    let out = sh(
        &b,
        "for i in 1 2 3 4 5 6; do sleep 1000 >/dev/null 2>&1 & done; echo unreachable",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Resource temporarily unavailable"),
        "EAGAIN expected: {err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("unreachable"));
    let s = b.stats().unwrap();
    assert!(s.pids_max_events().unwrap() >= 1, "{s:?}");
    assert_eq!(b.path().join("pids.peak").exists(), kernel_has_pids_peak());
    if kernel_has_pids_peak() {
        assert_eq!(s.pids_peak(), Some(5));
    } else {
        assert_eq!(s.pids_peak(), None, "absent, never 0: {s:?}");
        assert!(s.file("pids.peak").is_none());
    }
    b.destroy().unwrap();
}

#[test]
fn a_busy_loop_is_throttled_to_cpu_max() {
    let Some(vm) = vm("cpu") else { return };
    let b = vm.boxed(Limits::new().cpus(0.5));
    let start = Instant::now();
    let out = sh(
        &b,
        "timeout 2 yes >/dev/null & timeout 2 yes >/dev/null; wait",
    );
    let wall = start.elapsed().as_micros() as u64;
    assert!(
        out.status.success() || out.status.code() == Some(124),
        "{out:?}"
    );
    let s = b.stats().unwrap();
    let used = s.cpu_usage_usec().unwrap();
    assert!(s.nr_throttled().unwrap() > 0, "{s:?}");
    assert!(s.throttled_usec().unwrap() > 0);
    // two busy loops unthrottled would use 2 CPUs: at 0.5 CPU, about a quarter of that
    assert!(
        used < wall * 3 / 4,
        "used {used} us of CPU in {wall} us wall"
    );
    assert!(used > wall / 5, "used {used} us of CPU in {wall} us wall");
    let psi = s.file("cpu.pressure").unwrap();
    assert!(
        psi.get_nested("some", "total")
            .and_then(|n| n.as_u64())
            .unwrap()
            > 0,
        "throttling shows as pressure"
    );
    b.destroy().unwrap();
}

#[test]
fn cpuset_confines_the_task() {
    let Some(vm) = vm("cpuset") else { return };
    let b = vm.boxed(Limits {
        cpuset_cpus: Some("1".into()),
        ..Limits::new()
    });
    let out = sh(&b, "grep Cpus_allowed_list /proc/self/status");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.split_whitespace().last(), Some("1"), "{text}");
    b.destroy().unwrap();
}

fn scratch_disk() -> Option<(String, String)> {
    let dev = std::fs::read_to_string("/sys/block/nvme0n1/dev").ok()?;
    Some(("/dev/nvme0n1".into(), dev.trim().to_owned()))
}

#[test]
fn io_max_throttles_writes_to_the_scratch_disk() {
    let Some(vm) = vm("io") else { return };
    let Some((disk, majmin)) = scratch_disk() else {
        if std::env::var("CGBOX_REQUIRE_REAL_CGROUP").as_deref() == Ok("1") {
            panic!("no scratch disk /dev/nvme0n1 in the VM");
        }
        eprintln!("SKIPPED: no scratch disk /dev/nvme0n1");
        return;
    };
    let io = IoMax::parse(&format!("{majmin} wbps=4194304")).unwrap();
    let b = vm.boxed(Limits {
        io_max: vec![io],
        ..Limits::new()
    });
    let start = Instant::now();
    let out = sh(
        &b,
        &format!("dd if=/dev/zero of={disk} bs=1M count=8 oflag=direct 2>&1"),
    );
    let took = start.elapsed();
    assert!(out.status.success(), "{out:?}");
    assert!(
        took >= Duration::from_millis(1200),
        "8 MiB at 4 MiB/s took {took:?}"
    );
    let s = b.stats().unwrap();
    let written = s
        .file("io.stat")
        .unwrap()
        .get_nested(&majmin, "wbytes")
        .and_then(|n| n.as_u64())
        .unwrap();
    assert!(written >= 8 << 20, "{written}");
    b.destroy().unwrap();
}

fn hundred_processes(method: KillMethod) {
    let Some(vm) = vm("hundred") else { return };
    let Some(b) = boxed_forcing(&vm, Limits::new(), method) else {
        return;
    };
    let mut child = sh_bg(
        &b,
        "i=0; while [ $i -lt 100 ]; do sleep 1000 & i=$((i+1)); done; echo ready; wait",
    );
    assert_eq!(ready(&mut child), "ready\n");
    assert!(b.pids().unwrap().len() >= 101);
    b.destroy().unwrap();
    assert_eq!(signal(child.wait().unwrap()), Some(9));
    gone(&vm.app_dir());
}

#[test]
fn a_hundred_processes_die_by_cgroup_kill() {
    hundred_processes(KillMethod::CgroupKill);
}

#[test]
fn a_hundred_processes_die_by_the_signal_path() {
    hundred_processes(KillMethod::Signal);
}

/// Ten nested cgroups with processes at several depths (the kernel
/// selftests' test_cgkill_tree shape), killed from the top.
fn nested_tree(method: KillMethod) {
    let Some(vm) = vm("tree") else { return };
    let Some(b) = boxed_forcing(&vm, Limits::new(), method) else {
        return;
    };
    let script = r#"
        cg=$1
        p1=$cg/l1; p4=$p1/l2/l3/l4; p7=$p4/l5/l6/l7; p10=$p7/l8/l9/l10
        mkdir -p "$p10"
        for d in "$p1" "$p4" "$p7" "$p10"; do
            sh -c 'echo 0 > "$1/cgroup.procs"; exec sleep 1000' _ "$d" &
        done
        echo 1 > "$p4/l5/cgroup.freeze"
        for d in "$p1" "$p4" "$p7" "$p10"; do
            while [ -z "$(cat "$d/cgroup.procs")" ]; do :; done
        done
        echo ready; wait
    "#;
    let mut child = b
        .spawn(
            Command::new("sh")
                .args(["-c", script, "sh"])
                .arg(b.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped()),
        )
        .unwrap();
    assert_eq!(ready(&mut child), "ready\n");
    let pids = b.pids().unwrap();
    assert!(pids.len() >= 5, "{pids:?}");
    let path = b.path().to_path_buf();
    b.destroy().unwrap();
    assert_eq!(signal(child.wait().unwrap()), Some(9));
    gone(&path);
}

#[test]
fn ten_nested_cgroups_die_from_the_top_by_cgroup_kill() {
    nested_tree(KillMethod::CgroupKill);
}

#[test]
fn ten_nested_cgroups_die_from_the_top_by_the_signal_path() {
    nested_tree(KillMethod::Signal);
}

fn fork_bomb(method: KillMethod) {
    let Some(vm) = vm("bomb") else { return };
    let limits = Limits::new()
        .pids_max(300)
        .memory_max(Size::Bytes(256 << 20));
    let Some(b) = boxed_forcing(&vm, limits, method) else {
        return;
    };
    let mut bomb = sh_bg(&b, "bomb() { bomb | bomb & }; bomb 2>/dev/null; wait");
    until(&b, "the bomb hits pids.max", |s| {
        s.pids_max_events().unwrap_or(0) >= 1
    });
    b.destroy().unwrap();
    bomb.wait().unwrap();
    gone(&vm.app_dir());
}

#[test]
fn a_fork_bomb_dies_by_cgroup_kill() {
    fork_bomb(KillMethod::CgroupKill);
}

#[test]
fn a_fork_bomb_dies_by_the_signal_path() {
    fork_bomb(KillMethod::Signal);
}

#[test]
fn ten_rounds_of_100_mb_kill_and_remove_without_ebusy() {
    let Some(vm) = vm("rounds") else { return };
    for round in 0..10 {
        let b = vm.boxed(Limits::new().memory_max(Size::Bytes(512 << 20)));
        let mut child = b
            .spawn(Command::new("dd").args([
                "if=/dev/zero",
                "of=/dev/null",
                "bs=100M",
                "count=100000",
            ]))
            .unwrap();
        until(&b, "100 MB resident", |s| {
            s.memory_current().unwrap_or(0) >= 95 << 20
        });
        let path = b.path().to_path_buf();
        b.destroy().unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(signal(child.wait().unwrap()), Some(9));
        gone(&path);
    }
    gone(&vm.app_dir());
}

#[test]
fn the_no_internal_process_rule_is_a_typed_error() {
    let Some(vm) = vm("nip") else { return };
    // A non-root cgroup holding a process, used as the parent of boxes.
    let holder = Builder::new()
        .app(&vm.app)
        .name("holder")
        .create(vm.fs.clone())
        .unwrap();
    let mut child = holder.spawn(Command::new("sleep").arg("1000")).unwrap();
    let e = Builder::new()
        .app("inner")
        .parent(holder.path())
        .limits(Limits::new().memory_max(Size::Bytes(64 << 20)))
        .create(vm.fs.clone())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoInternalProcesses, "{e}");
    assert!(!holder.path().join("inner").exists(), "nothing left inside");
    let holder_dir = holder.path().to_path_buf();
    holder.destroy().unwrap();
    assert_eq!(signal(child.wait().unwrap()), Some(9));
    gone(&holder_dir);
}

#[test]
fn enabling_on_a_populated_parent_is_no_internal_processes() {
    let Some(vm) = vm("nip2") else { return };
    let fs = &*vm.fs;
    use cgbox::fs::CgroupFs;
    let parent = fs.open_dir(vm.discovery.home().unwrap()).unwrap();
    fs.make_child(&parent, &vm.app).unwrap();
    let holder = fs.open_child(&parent, &vm.app).unwrap();
    // holder gets memory from its parent, holds a process, then is asked to pass memory on
    let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    fs.write_file(&holder, "cgroup.procs", child.id().to_string().as_bytes())
        .unwrap();
    let e = Builder::new()
        .app("inner")
        .parent(holder.path())
        .limits(Limits::new().memory_max(Size::Bytes(64 << 20)))
        .create(vm.fs.clone())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoInternalProcesses, "{e}");
    assert_eq!(
        e.errno(),
        None,
        "refused from what the kernel shows, before any write"
    );
    assert!(e.to_string().contains("no-internal-process"), "{e}");
    assert!(e.hint().unwrap().contains("cgbox prepare"), "{e}");
    assert_eq!(
        std::fs::read_to_string(holder.path().join("cgroup.subtree_control")).unwrap(),
        "",
        "the holder's controllers as they were"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    common::remove_cgroups(&parent.path().join(&vm.app));
    gone(&vm.app_dir());
}

#[test]
fn the_top_down_rule_is_a_typed_error() {
    let Some(vm) = vm("topdown") else { return };
    let fs = &*vm.fs;
    use cgbox::fs::CgroupFs;
    let parent = fs.open_dir(vm.discovery.home().unwrap()).unwrap();
    fs.make_child(&parent, &vm.app).unwrap();
    let mid = fs.open_child(&parent, &vm.app).unwrap();
    fs.make_child(&mid, "below").unwrap();
    // `mid` does not pass memory on, so `below` cannot have it.
    let e = Builder::new()
        .parent(mid.path().join("below"))
        .limits(Limits::new().memory_max(Size::Bytes(64 << 20)))
        .create(vm.fs.clone())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ControllerUnavailable, "{e}");
    assert_eq!(
        fs.child_names(&fs.open_child(&mid, "below").unwrap())
            .unwrap(),
        Vec::<String>::new()
    );
    common::remove_cgroups(&parent.path().join(&vm.app));
    gone(&vm.app_dir());
}

#[test]
fn the_layout_is_the_one_the_vm_was_booted_with() {
    let Some(vm) = vm("layout") else { return };
    let kind = vm.discovery.home_kind().cloned().unwrap();
    match std::env::var("CGBOX_VM_LAYOUT").as_deref() {
        Ok("nested") => {
            // The suite runs inside a box made by `cgbox run`: its boxes go
            // inside that box, never beside it.
            assert_eq!(kind, HomeKind::Box("suite".into()));
            assert_eq!(
                vm.discovery.home(),
                Some(std::path::Path::new("/sys/fs/cgroup/cgbox/agents/suite"))
            );
        }
        Ok("root") => assert_eq!(kind, HomeKind::RealRoot),
        other => panic!("unknown CGBOX_VM_LAYOUT {other:?}"),
    }
    // Boxes with limits work in either layout.
    let b = vm.boxed(Limits::new().pids_max(10));
    assert_eq!(
        std::fs::read_to_string(b.path().join("pids.max")).unwrap(),
        "10\n"
    );
    b.destroy().unwrap();
}

#[test]
fn every_limit_applies_strictly_here() {
    let Some(vm) = vm("every") else { return };
    let limits = Limits {
        memory_max: Some(Size::Bytes(256 << 20)),
        memory_high: Some(Size::Bytes(200 << 20)),
        memory_swap_max: Some(Size::Bytes(0)),
        memory_oom_group: Some(true),
        cpus: Some(1.5),
        cpu_period_us: None,
        cpu_weight: Some(300),
        pids_max: Some(Some(100)),
        cpuset_cpus: Some("0-1".into()),
        cpuset_mems: Some("0".into()),
        io_max: scratch_disk()
            .map(|(_, mm)| IoMax::parse(&format!("{mm} rbps=1048576")).unwrap())
            .into_iter()
            .collect(),
        io_weight: Some(50),
    };
    let b = Builder::new()
        .app(&vm.app)
        .limits(limits)
        .policy(Policy::Strict)
        .create(vm.fs.clone())
        .unwrap();
    assert!(b.skipped().is_empty());
    let read = |f: &str| std::fs::read_to_string(b.path().join(f)).unwrap();
    assert_eq!(read("cpu.max"), "150000 100000\n");
    assert_eq!(read("cpu.weight"), "300\n");
    assert_eq!(read("memory.max"), "268435456\n");
    assert_eq!(read("memory.oom.group"), "1\n");
    assert_eq!(read("io.weight"), "default 50\n");
    let s = b.stats().unwrap();
    assert_eq!(s.memory_peak().is_some(), kernel_has_memory_peak(), "{s:?}");
    assert_eq!(s.pids_peak().is_some(), kernel_has_pids_peak(), "{s:?}");
    assert_eq!(
        s.file("memory.swap.peak").is_some(),
        common::kernel_at_least(6, 5),
        "memory.swap.peak came in 6.5: {s:?}"
    );
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    b.destroy().unwrap();
}
