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
use std::sync::Arc;
use std::time::{Duration, Instant};

use cgbox::Discovery;
use cgbox::fs::SysFs;

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
    let discovery = Discovery::probe(&*fs, &app);
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
