//! The CLI on a real kernel with every controller (the VM of
//! `tests/vm/run.sh`, on Linux 5.10, 6.1 and 6.12): `run --report` on an
//! OOM kill, a fork bomb under `--pids` and throttling under `--cpus`;
//! `stats --json`, `list --json` and `kill` on a live box. Where no
//! writable cgroup2 offers cpu, memory, pids, io and cpuset, each test says
//! why and does nothing; with CGBOX_REQUIRE_REAL_CGROUP=1 that is a
//! failure. The library's side of the same kernels is tests/real_kernel.rs.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cgbox::fs::SysFs;
use cgbox::{Discovery, HomeKind};

const NEEDED: [&str; 5] = ["cpu", "memory", "pids", "io", "cpuset"];

struct Vm {
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
    // Tests run in parallel: one of them steps into the leaf at a time.
    static PREPARE: Mutex<()> = Mutex::new(());
    let _one = PREPARE.lock().unwrap_or_else(|e| e.into_inner());
    let mut discovery = Discovery::probe(&*fs, &app);
    // Inside a box (the VM's nested layout) this test process is in the
    // home the CLI's boxes go to, and a `cgbox run` it starts is a second
    // process there: the home cannot give boxes controllers. (The library
    // steps into a leaf by itself only when it is alone in the home, which
    // is why `home_processes`, the others, can be empty here.) Step into a
    // leaf first, as an entrypoint does (`cgbox prepare`).
    if !discovery.home_processes.is_empty() || in_the_home(&discovery) {
        let out = cgbox_cli(&["prepare"]);
        assert_eq!(out.status.code(), Some(0), "cgbox prepare: {out:?}");
        discovery = Discovery::probe(&*fs, &app);
        assert!(
            discovery.home_processes.is_empty() && !in_the_home(&discovery),
            "cgbox prepare left processes in the home: {discovery:?}"
        );
    }
    let missing: Vec<&str> = NEEDED
        .iter()
        .copied()
        .filter(|c| !discovery.controllers.iter().any(|h| h == c))
        .collect();
    if discovery.usable() && missing.is_empty() {
        return Some(Vm {
            _tree: common::AppTree {
                fs,
                app: app.clone(),
            },
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

/// Whether the home is a box this process is in itself (not in a cgroup
/// below it): the nested layout. Never the real root, which is exempt from
/// the no-internal-process rule and must not be prepared.
fn in_the_home(d: &Discovery) -> bool {
    match (&d.mount, &d.cgroup, &d.placement) {
        (Some(mount), Some(cgroup), Some(p)) => {
            matches!(p.kind, HomeKind::Box(_))
                && mount.join(cgroup.trim_start_matches('/')) == p.home
        }
        _ => false,
    }
}

impl Vm {
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

/// Read the first line the job prints: its "ready" handshake.
fn ready(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

fn gone(path: &Path) {
    assert!(!path.exists(), "{} left behind", path.display());
}

fn cgbox_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cgbox"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn report_of(vm: &Vm, args: &[&str]) -> (i32, String) {
    let report = std::env::temp_dir().join(format!("{}-report.json", vm.app));
    let mut full = vec![
        "--app",
        &vm.app,
        "run",
        "--quiet",
        "--report",
        report.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    let out = cgbox_cli(&full);
    let json = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    gone(&vm.app_dir());
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn cgbox_run_reports_an_oom_kill() {
    let Some(vm) = vm("cli-oom") else { return };
    let (code, json) = report_of(
        &vm,
        &[
            "--memory",
            "32M",
            "--swap",
            "0",
            "--",
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=100M",
            "count=1",
        ],
    );
    assert_eq!(code, 137, "{json}");
    assert!(json.contains(r#""exit_code": null, "signal": 9"#), "{json}");
    assert!(
        json.contains(r#""cause": {"kind": "oom_killed", "text": "killed by the OOM killer at memory.max 32 MiB", "cgroup": "/"#)
            && json.contains(r#""limit": 33554432, "group": false, "counts": {"#),
        "the cause names the limit and the box: {json}"
    );
    assert_eq!(
        json.contains(r#""oom_group_kills": "#),
        common::kernel_at_least(6, 1),
        "counted from 6.1 (absent on 5.10, never 0): {json}"
    );
    assert!(json.contains(r#""oom_kill": 1"#), "{json}");
    assert!(json.contains(r#""memory.max": 33554432"#), "{json}");
    assert_eq!(
        json.contains(r#""memory.peak": "#),
        common::kernel_at_least(5, 19),
        "memory.peak reported where the kernel has it, left out (never 0) where not: {json}"
    );
}

#[test]
fn cgbox_run_stops_a_fork_bomb_under_pids() {
    let Some(vm) = vm("cli-bomb") else { return };
    let (code, json) = report_of(
        &vm,
        &[
            "--pids",
            "64",
            "--timeout",
            "3",
            "--",
            "sh",
            "-c",
            "bomb() { bomb | bomb & }; bomb 2>/dev/null; sleep 1000",
        ],
    );
    assert_eq!(code, 124, "{json}");
    assert!(json.contains(r#""timed_out": true"#), "{json}");
    if common::kernel_at_least(6, 1) {
        assert!(json.contains(r#""pids.peak": 64"#), "{json}");
    } else {
        assert!(!json.contains("pids.peak"), "absent, never 0: {json}");
    }
    assert!(
        !json.contains(r#""pids.events": {"max": 0}"#),
        "forks were refused: {json}"
    );
    assert!(
        json.contains(r#""cause": {"kind": "timed_out", "text": "timed out (SIGTERM, then killed after 5 s)", "signal": 15, "grace_ms": 5000, "killed": true"#)
            || json.contains(r#""cause": {"kind": "timed_out", "text": "timed out (SIGTERM)", "signal": 15, "grace_ms": 5000, "killed": false"#),
        "{json}"
    );
    let refused = number_after(&json, r#""forks_refused": "#);
    assert!(
        refused.is_some_and(|n| n > 0),
        "forks refused, counted: {json}"
    );
}

/// The number after `key` in `json`.
fn number_after(json: &str, key: &str) -> Option<u64> {
    let rest = json.split(key).nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[test]
fn cgbox_run_reports_throttling_under_cpus() {
    let Some(vm) = vm("cli-cpus") else { return };
    let (code, json) = report_of(
        &vm,
        &[
            "--cpus",
            "0.2",
            "--",
            "sh",
            "-c",
            "timeout 1 yes > /dev/null; true",
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert!(
        json.contains(r#""nr_throttled": "#) && !json.contains(r#""nr_throttled": 0,"#),
        "{json}"
    );
    assert!(
        json.contains(r#""cause": {"kind": "exited", "text": "exit 0", "exit_code": 0"#),
        "{json}"
    );
    let cause = json.split(r#""cause": "#).nth(1).unwrap_or("");
    assert!(
        number_after(cause, r#""nr_throttled": "#).is_some_and(|n| n > 0)
            && number_after(cause, r#""throttled_usec": "#).is_some_and(|n| n > 0),
        "throttling over the run, in the cause's counts: {json}"
    );
}

#[test]
fn cgbox_run_oom_group_takes_the_whole_box_and_says_so_first() {
    let Some(vm) = vm("cli-group") else { return };
    let out = cgbox_cli(&[
        "--app",
        &vm.app,
        "run",
        "--memory",
        "32M",
        "--swap",
        "0",
        "--oom-group",
        "--",
        "sh",
        "-c",
        "sleep 1000 & sleep 1000 & dd if=/dev/zero of=/dev/null bs=100M count=1; wait",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(137), "{err}");
    let first = err.lines().last().unwrap_or("");
    assert!(
        first.contains(": killed by the OOM killer at memory.max 32 MiB (the whole box: memory.oom.group), wall "),
        "the summary leads with the cause: {err}"
    );
    gone(&vm.app_dir());
}

#[test]
fn cgbox_exec_reports_the_command_s_own_memory_pids_and_oom_kills() {
    let Some(vm) = vm("cli-exec") else { return };
    let made = cgbox_cli(&[
        "--app", &vm.app, "create", "a1", "--memory", "64M", "--swap", "0", "--pids", "32",
    ]);
    assert_eq!(made.status.code(), Some(0), "{made:?}");
    let report = std::env::temp_dir().join(format!("{}-exec.json", vm.app));
    let exec = |script: &str| {
        let out = cgbox_cli(&[
            "--app",
            &vm.app,
            "exec",
            "--report",
            report.to_str().unwrap(),
            "a1",
            "--",
            "sh",
            "-c",
            script,
        ]);
        let json = std::fs::read_to_string(&report).unwrap_or_default();
        (out, json)
    };
    // A command that uses 20 MiB and a few processes, then one that uses 8.
    let (out, json) =
        exec("dd if=/dev/zero of=/dev/null bs=20M count=1; sleep 0.1 & sleep 0.1 & wait");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let counts = json.split(r#""counts": "#).nth(1).unwrap_or("").to_owned();
    if common::kernel_at_least(5, 19) {
        let peak = number_after(&counts, r#""memory_peak": "#).unwrap();
        assert!(
            ((20 << 20)..(64 << 20)).contains(&peak),
            "the command's own peak: {json}"
        );
        assert!(
            counts.contains(r#""memory_peak_is_the_run": true"#),
            "{json}"
        );
    } else {
        assert!(!counts.contains("memory_peak"), "absent on 5.10: {json}");
    }
    if common::kernel_at_least(6, 1) {
        assert!(
            number_after(&counts, r#""pids_peak": "#).is_some_and(|n| n >= 3),
            "{json}"
        );
    }
    let (out, json) = exec("dd if=/dev/zero of=/dev/null bs=8M count=1");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    if let Some(peak) = number_after(
        json.split(r#""counts": "#).nth(1).unwrap_or(""),
        r#""memory_peak": "#,
    ) {
        assert!(
            peak < 20 << 20,
            "the second command's own, not the first's: {json}"
        );
    }
    // An OOM kill of the command, at the box's limit, counted as its own.
    let (out, json) = exec("exec dd if=/dev/zero of=/dev/null bs=100M count=1");
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    assert!(
        json.contains(
            r#""kind": "oom_killed", "text": "killed by the OOM killer at memory.max 64 MiB""#
        ) && json.contains(r#"/agents/a1", "limit": 67108864"#),
        "the limit hit is the box's: {json}"
    );
    assert!(
        number_after(&json, r#""oom_kills": "#).is_some_and(|n| n >= 1),
        "{json}"
    );
    let _ = std::fs::remove_file(&report);
    let killed = cgbox_cli(&["--app", &vm.app, "kill", "a1"]);
    assert_eq!(killed.status.code(), Some(0), "{killed:?}");
    gone(&vm.app_dir());
}

#[test]
fn cgbox_stats_live_and_kill_from_outside() {
    let Some(vm) = vm("cli-live") else { return };
    let mut run = Command::new(env!("CARGO_BIN_EXE_cgbox"))
        .args([
            "--app", &vm.app, "run", "--quiet", "--name", "live", "--memory", "128M", "--", "sh",
            "-c",
        ])
        .arg("dd if=/dev/zero of=/dev/null bs=20M count=100000 & echo ready; wait")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(ready(&mut run), "ready\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    let json = loop {
        let out = cgbox_cli(&["--app", &vm.app, "stats", "live", "--json"]);
        let json = String::from_utf8(out.stdout).unwrap();
        let mem = json
            .split(r#""memory.current": "#)
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse::<u64>().ok());
        if mem.is_some_and(|m| m >= 20 << 20) {
            break json;
        }
        assert!(Instant::now() < deadline, "{json}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        json.contains(r#""cgroup.events": {"populated": 1"#),
        "{json}"
    );
    assert!(
        json.contains(r#""pids.current": 3"#) || json.contains(r#""pids.current": 2"#),
        "{json}"
    );
    let list = String::from_utf8(cgbox_cli(&["--app", &vm.app, "list", "--json"]).stdout).unwrap();
    assert!(
        list.contains(r#""name": "live""#) && list.contains(r#""populated": true"#),
        "{list}"
    );
    let out = cgbox_cli(&["--app", &vm.app, "kill", "live"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        run.wait().unwrap().code(),
        Some(137),
        "the run reports its command killed"
    );
    gone(&vm.app_dir());
}
