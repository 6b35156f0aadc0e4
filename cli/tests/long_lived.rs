//! The per-agent pattern end to end: a box made once, commands started in
//! it and processes moved in, its limits changed while it runs, frozen and
//! thawed, then ended. From the shell (`cgbox create/exec/set/freeze/thaw/
//! move/kill`) and from the library (`set_limits`). The core interface runs
//! on any writable cgroup2 (this machine's); what needs controllers
//! (memory, pids, cpu) runs in the VM, where CGBOX_REQUIRE_REAL_CGROUP=1
//! makes a missing controller a failure.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cgbox::Discovery;
use cgbox::fs::SysFs;
use cgbox::{Limits, Size};

const CGBOX: &str = env!("CARGO_BIN_EXE_cgbox");

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Agent {
    fs: Arc<SysFs>,
    app: String,
    controllers: Vec<String>,
    _tree: common::AppTree,
}

impl Agent {
    fn cgbox(&self, args: &[&str]) -> Output {
        common::cgbox_in(CGBOX, &self.app, args)
    }

    fn has(&self, controllers: &[&str]) -> bool {
        controllers
            .iter()
            .all(|c| self.controllers.iter().any(|h| h == c))
    }

    fn box_path(&self, name: &str) -> PathBuf {
        Discovery::probe(&*self.fs, &self.app)
            .require_placement()
            .unwrap()
            .box_path(&self.app, name)
    }

    fn read(&self, name: &str, file: &str) -> String {
        std::fs::read_to_string(self.box_path(name).join(file)).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for name in ["a1", "lib"] {
            if let Ok(b) = cgbox::BoxRef::open(self.fs.clone(), &self.app, name) {
                let _ = b.destroy();
            }
        }
    }
}

fn agent(test: &str, needs: &[&str]) -> Option<Agent> {
    let app = format!("cgbox-agent-{test}-{}", std::process::id());
    let fs = Arc::new(SysFs::new().ok()?);
    let d = Discovery::probe(&*fs, &app);
    let missing: Vec<&&str> = needs
        .iter()
        .filter(|c| !d.controllers.iter().any(|h| h == *c))
        .collect();
    if d.usable() && missing.is_empty() {
        return Some(Agent {
            _tree: common::AppTree {
                fs: fs.clone(),
                app: app.clone(),
            },
            fs,
            app,
            controllers: d.controllers,
        });
    }
    let why = format!(
        "needs a writable cgroup2 with {needs:?} (missing {missing:?}): {:?}",
        d.problems
    );
    common::skip(test, &why);
    None
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn usage(a: &Agent, name: &str) -> u64 {
    a.read(name, "cpu.stat")
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn an_agents_whole_life_from_the_shell() {
    let Some(a) = agent("shell", &[]) else { return };
    let out = a.cgbox(&["create", "a1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        a.box_path("a1").display().to_string()
    );
    // Two tools, one after the other: both run in the box and add up.
    for tool in [
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
    ] {
        let before = usage(&a, "a1");
        let out = a.cgbox(&["exec", "a1", "--quiet", "--", "sh", "-c", tool]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(usage(&a, "a1") > before, "the tool's CPU counts in the box");
    }
    let out = a.cgbox(&["exec", "a1", "--quiet", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "exec exits with CMD's code");
    // A process started outside, moved in.
    let mut outside = Command::new("sleep").arg("1000").spawn().unwrap();
    let out = a.cgbox(&["move", "a1", &outside.id().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // In the box: in a1 itself, or, since exec's commands are counted
    // apart (a1 passes controllers on and may hold no process), its leaf.
    let pid = outside.id().to_string();
    assert!(
        a.read("a1", "cgroup.procs").lines().any(|l| l == pid)
            || std::fs::read_to_string(a.box_path("a1").join("init/cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .any(|l| l == pid),
        "{pid} in a1"
    );
    // Frozen, it stays frozen; thawed, it goes on.
    assert_eq!(a.cgbox(&["freeze", "a1"]).status.code(), Some(0));
    assert!(a.read("a1", "cgroup.events").contains("frozen 1"));
    let out = a.cgbox(&["list", "--json"]);
    assert!(
        text(&out.stdout).contains(r#""name": "a1", "#)
            && text(&out.stdout).contains(r#""owner": "kept", "state": "frozen""#),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(a.cgbox(&["thaw", "a1"]).status.code(), Some(0));
    assert!(a.read("a1", "cgroup.events").contains("frozen 0"));
    // A kept box survives reap, and dies by kill.
    let out = a.cgbox(&["reap", "--orphans"]);
    assert!(
        text(&out.stdout).contains("left a1: kept on purpose"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(outside.try_wait().unwrap(), None);
    let out = a.cgbox(&["stats", "a1", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(a.cgbox(&["kill", "a1"]).status.code(), Some(0));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(outside.wait().unwrap().signal(), Some(9));
    assert!(!a.box_path("a1").exists());
}

#[test]
fn exec_leaves_what_cmd_left_unless_told_to_kill_it() {
    let Some(a) = agent("rest", &[]) else { return };
    assert_eq!(a.cgbox(&["create", "a1"]).status.code(), Some(0));
    let marker = (2_200_000 + std::process::id()).to_string();
    let script = format!("sleep {marker} >/dev/null 2>&1 & echo started");
    let out = a.cgbox(&["exec", "a1", "--quiet", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("they stay in the box"),
        "{}",
        text(&out.stderr)
    );
    let box_procs = || {
        let mut n = 0;
        let mut stack = vec![a.box_path("a1")];
        while let Some(d) = stack.pop() {
            n += std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .count();
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
        n
    };
    assert_eq!(box_procs(), 1, "the sleeper stayed");
    let out = a.cgbox(&[
        "exec",
        "a1",
        "--quiet",
        "--kill-rest",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        box_procs(),
        1,
        "the second sleeper was killed; the first is untouched"
    );
    let out = a.cgbox(&[
        "exec",
        "a1",
        "--quiet",
        "--timeout",
        "0.3",
        "--",
        "sleep",
        "1000",
    ]);
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(box_procs(), 1, "a timed-out exec ends only its own command");
}

#[test]
fn lowering_limits_of_a_live_box_takes_effect_as_the_kernel_decides() {
    let Some(a) = agent("lower", &["memory", "pids", "cpu"]) else {
        return;
    };
    let out = a.cgbox(&["create", "a1", "--memory", "256M", "--pids", "64"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A job that holds 96 MiB of anonymous memory, then waits.
    let mut hog = Command::new(CGBOX)
        .args([
            "--app",
            &a.app,
            "exec",
            "a1",
            "--quiet",
            "--",
            "sh",
            "-c",
            "x=$(head -c 100663296 /dev/zero | tr '\\0' a); echo held; read _",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut got = [0u8; 5];
    hog.stdout.as_mut().unwrap().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"held\n");
    let out = a.cgbox(&["set", "a1", "--memory", "16M"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("below memory.current"),
        "{}",
        text(&out.stderr)
    );
    // The kernel reclaims what it can and OOM-kills the rest; memory.events says so.
    wait_until("the kernel acts on the lower memory.max", || {
        let events = a.read("a1", "memory.events");
        events
            .lines()
            .any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0")
            || events
                .lines()
                .any(|l| l.starts_with("max ") && l != "max 0")
    });
    let _ = hog.kill();
    let _ = hog.wait();
    // pids.max below pids.current: running processes live, new forks fail.
    let mut job = Command::new(CGBOX)
        .args([
            "--app", &a.app, "exec", "a1", "--quiet", "--", "sh", "-c",
            "sleep 1000 >/dev/null 2>&1 & sleep 1000 >/dev/null 2>&1 & echo up; read _; (true); echo forked",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = [0u8; 3];
    job.stdout.as_mut().unwrap().read_exact(&mut up).unwrap();
    let out = a.cgbox(&["set", "a1", "--pids", "2"]);
    assert!(
        text(&out.stderr).contains("below pids.current"),
        "{}",
        text(&out.stderr)
    );
    // The job tries to fork now: the shell cannot, and says so.
    use std::io::Write;
    job.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let done = job.wait_with_output().unwrap();
    assert_ne!(done.status.code(), Some(0));
    assert!(
        text(&done.stderr).contains("fork"),
        "{}",
        text(&done.stderr)
    );
    assert!(
        !text(&done.stdout).contains("forked"),
        "{}",
        text(&done.stdout)
    );
    // The command's own box (a1/exec/agents/<id>) shows a1's pids.max,
    // so the fork is refused at its limit: counted there, and in a1 too
    // where pids.events counts what happens below (Linux 6.12+).
    let mut counted_in = vec![a.box_path("a1")];
    let commands = a.box_path("a1").join("exec/agents");
    counted_in.extend(
        std::fs::read_dir(&commands)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    );
    assert!(
        counted_in.iter().any(|dir| {
            std::fs::read_to_string(dir.join("pids.events"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with("max ") && l != "max 0")
        }),
        "pids.events counts the refused fork: {counted_in:?}"
    );
    assert_eq!(
        a.read("a1", "pids.current"),
        "2\n",
        "the running sleepers live on"
    );
    // Raised again, and cpu added while it runs.
    let out = a.cgbox(&["set", "a1", "--pids", "64", "--cpus", "0.5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(a.read("a1", "cpu.max"), "50000 100000\n");
}

#[test]
fn a_frozen_busy_loop_uses_no_cpu_until_thawed() {
    let Some(a) = agent("freeze", &[]) else {
        return;
    };
    assert_eq!(a.cgbox(&["create", "a1"]).status.code(), Some(0));
    let mut busy = Command::new(CGBOX)
        .args([
            "--app",
            &a.app,
            "exec",
            "a1",
            "--quiet",
            "--",
            "sh",
            "-c",
            "while :; do :; done",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the loop runs", || usage(&a, "a1") > 20_000);
    assert_eq!(a.cgbox(&["freeze", "a1"]).status.code(), Some(0));
    let frozen_at = usage(&a, "a1");
    // The kernel's own clock is what is compared: a second of wall time
    // in which a running loop would use most of a CPU.
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        usage(&a, "a1") - frozen_at < 5_000,
        "frozen, it used {} us",
        usage(&a, "a1") - frozen_at
    );
    assert_eq!(a.cgbox(&["thaw", "a1"]).status.code(), Some(0));
    wait_until("it runs again", || usage(&a, "a1") > frozen_at + 20_000);
    let _ = busy.kill();
    let _ = busy.wait();
}

#[test]
fn the_library_changes_a_live_box() {
    let Some(a) = agent("lib", &["memory", "pids"]) else {
        return;
    };
    let b = cgbox::Builder::new()
        .app(&a.app)
        .name("lib")
        .limits(
            Limits::new()
                .pids_max(10)
                .memory_max(Size::Bytes(128 << 20)),
        )
        .create(a.fs.clone())
        .unwrap();
    let changed = b
        .set_limits(
            &Limits::new()
                .pids_max(20)
                .memory_max(Size::Bytes(64 << 20))
                .memory_high(Size::Bytes(48 << 20)),
        )
        .unwrap();
    let order: Vec<&str> = changed.written.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(
        order,
        ["pids.max", "memory.max", "memory.high"],
        "looser first, tighter last"
    );
    assert_eq!(a.read("lib", "memory.max"), "67108864\n");
    let e = b.set_limits(&Limits::new().pids_max(0)).unwrap_err();
    assert_eq!(e.kind(), cgbox::ErrorKind::InvalidInput);
    assert_eq!(
        a.read("lib", "pids.max"),
        "20\n",
        "bad input changed nothing"
    );
    assert!(a.has(&["memory"]));
    b.destroy().unwrap();
}
