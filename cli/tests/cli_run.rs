//! `cgbox run`, `kill`, `reap` and `list` end to end on this machine's real
//! cgroup2. Each test uses its own --app and checks that nothing is left.
//! Without a writable cgroup2 they say why and do nothing (unless
//! CGBOX_REQUIRE_REAL_CGROUP=1). Bad input is checked everywhere.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::TestApp;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cgbox::Discovery;
use cgbox::fs::SysFs;

fn cgbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cgbox"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The app name for a test and its directory, when this machine can run
/// boxes.
fn host(test: &str) -> Option<(String, TestApp)> {
    let app = TestApp::at_home("cgbox-cli", test)?;
    Some((app.app.clone(), app))
}

/// The app directory as `/proc/self/cgroup` would name it: relative to the mount.
fn rel_app(app: &str) -> String {
    let d = Discovery::probe(&SysFs::new().unwrap(), app);
    let rel = d
        .home()
        .unwrap()
        .strip_prefix(d.mount.as_ref().unwrap())
        .unwrap()
        .join(app);
    format!("/{}", rel.display())
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn command_runs_inside_a_box_and_nothing_is_left() {
    let Some((app, dir)) = host("inside") else {
        return;
    };
    let out = cgbox(&[
        "--app",
        &app,
        "run",
        "--name",
        "job1",
        "--",
        "sh",
        "-c",
        "cat /proc/self/cgroup",
    ]);
    assert_eq!(code(&out), 0, "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("0::/") && l.ends_with(&format!("/{app}/agents/job1"))),
        "{stdout}"
    );
    let summary = String::from_utf8(out.stderr).unwrap();
    assert!(summary.contains("job1: exit 0, wall "), "{summary}");
    assert_eq!(dir.boxes(), Vec::<String>::new(), "no box left behind");
    assert!(
        dir.dir.join("agents").exists(),
        "the app tree stays for the next run"
    );
}

#[test]
fn exit_codes_follow_the_contract() {
    let Some((app, dir)) = host("codes") else {
        return;
    };
    let not_executable = tempfile::NamedTempFile::new().unwrap();
    let plain = not_executable.path().to_str().unwrap();
    for (args, want) in [
        (&["--", "sh", "-c", "exit 7"][..], 7),
        (&["--", "sh", "-c", "kill -9 $$"][..], 137),
        (&["--", "sh", "-c", "kill -15 $$"][..], 143),
        (&["--timeout", "0.2", "--", "sleep", "30"][..], 124),
        (&["--", "/nonexistent/program"][..], 127),
        (&["--", "no-such-command-cgbox"][..], 127),
        (&["--", plain][..], 126),
        (&["--", "/"][..], 126),
    ] {
        let mut full = vec!["--app", &app, "run", "--quiet"];
        full.extend_from_slice(args);
        let out = cgbox(&full);
        assert_eq!(
            code(&out),
            want,
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(dir.boxes(), Vec::<String>::new(), "{args:?} left a box");
    }
}

/// PIDs of live (not zombie) processes whose command line is exactly `argv`.
fn processes_with_cmdline(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
        })
        .collect()
}

#[test]
fn background_processes_do_not_outlive_the_command() {
    let Some((app, dir)) = host("background") else {
        return;
    };
    // a sleep with a duration no other process uses, left behind by a shell that exits at once
    let marker = (900_000 + std::process::id()).to_string();
    // the probe finds such a process when there is one (once its exec has
    // filled in /proc/PID/cmdline, which can be a moment after spawn returns)
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let control = Reaped(
        Command::new("sleep")
            .arg(&marker)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while processes_with_cmdline(&["sleep", &marker]) != vec![control.0.id()] {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe never saw {}",
            control.0.id()
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(control);
    let script = format!("sleep {marker} >/dev/null 2>&1 & echo started");
    let out = cgbox(&["--app", &app, "run", "--quiet", "--", "sh", "-c", &script]);
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "started\n");
    let left = processes_with_cmdline(&["sleep", &marker]);
    assert!(left.is_empty(), "left running: {left:?}");
    assert!(dir.boxes().is_empty());
}

#[test]
fn timeout_kills_a_hundred_background_processes_and_nested_cgroups() {
    let Some((app, dir)) = host("timeout") else {
        return;
    };
    let script = r#"
        cg=/sys/fs/cgroup/unified$(sed -n 's/^0:://p' /proc/self/cgroup)
        [ -d "$cg" ] || cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
        i=0; while [ $i -lt 100 ]; do sleep 1000 & i=$((i+1)); done
        mkdir "$cg/inner" && sh -c 'echo 0 > "$1/cgroup.procs"; exec sleep 1000' _ "$cg/inner" &
        wait
    "#;
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = cgbox(&[
        "--app",
        &app,
        "run",
        "--quiet",
        "--timeout",
        "1",
        "--report",
        report.path().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(code(&out), 124, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.boxes().is_empty(), "{:?} left behind", dir.boxes());
    let json = std::fs::read_to_string(report.path()).unwrap();
    // Stopped like timeout(1): TERM first to every process of the box (the
    // shell dies of it), then whatever is left is killed with the box.
    assert!(json.contains(r#""status": 124, "exit_code": null, "signal": 15, "timed_out": true, "interrupted_by": null, "stop_signal": 15"#), "{json}");
}

#[test]
fn report_follows_the_contract() {
    let Some((app, _app_dir)) = host("report") else {
        return;
    };
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = cgbox(&[
        "--app",
        &app,
        "run",
        "--quiet",
        "--name",
        "r1",
        "--report",
        report.path().to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!(code(&out), 0);
    assert!(
        out.stderr.is_empty(),
        "--quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_to_string(report.path()).unwrap();
    let rel = rel_app(&app);
    let head = format!(
        r#"{{"name": "r1", "path": "{rel}/agents/r1", "status": 0, "exit_code": 0, "signal": null, "timed_out": false, "interrupted_by": null, "stop_signal": null, "killed": false, "wall_ms": "#
    );
    assert!(json.starts_with(&head), "{json}");
    assert!(json.contains(&format!(r#""stats": {{"path": "{rel}/agents/r1", "cgroup.events": {{"populated": 0, "frozen": 0}}"#)), "{json}");
    assert!(json.contains(r#""cpu.stat": {"usage_usec": "#), "{json}");
    assert!(json.trim_end().ends_with("}}"), "{json}");
    // The peaks where the box had the controller (its `.current` file is
    // there) and the kernel has them (memory.peak 5.19, pids.peak 6.1);
    // left out, never 0, where not.
    for (file, current, since) in [
        ("memory.peak", "memory.current", (5, 19)),
        ("pids.peak", "pids.current", (6, 1)),
    ] {
        assert_eq!(
            json.contains(&format!("\"{file}\": ")),
            json.contains(&format!("\"{current}\": ")) && common::kernel_at_least(since.0, since.1),
            "{file} on {}: {json}",
            common::kernel_release()
        );
    }
}

/// A cgroup offered no controller at all, made for one test beside its
/// app and removed when the test ends: `<bare>/inner` (a new cgroup is
/// offered what its parent passes on, and `<bare>` passes on nothing), so
/// no limit can be had there, on any host.
struct Bare {
    outer: PathBuf,
    inner: PathBuf,
}

impl Bare {
    fn new(app: &TestApp) -> Bare {
        let outer = PathBuf::from(format!("{}-bare", app.dir.display()));
        let bare = Bare {
            inner: outer.join("inner"),
            outer,
        };
        std::fs::create_dir_all(&bare.inner).unwrap();
        let offered = std::fs::read_to_string(bare.inner.join("cgroup.controllers")).unwrap();
        assert_eq!(offered.trim(), "", "offered nothing");
        bare
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        for dir in [&self.inner, &self.outer] {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for app in entries.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()) {
                    let _ = std::fs::remove_dir(app.path().join("agents"));
                    let _ = std::fs::remove_dir(app.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn limits_that_cannot_be_applied_fail_before_the_command_unless_best_effort() {
    let Some((app, dir)) = host("strict") else {
        return;
    };
    let bare = Bare::new(&dir);
    let parent = bare.inner.to_str().unwrap();
    let boxes = TestApp::at(&bare.inner, &app);
    let marker = tempfile::tempdir().unwrap();
    let touched = marker.path().join("ran");
    let cmd = format!("touch {}", touched.display());
    let out = cgbox(&[
        "--app", &app, "--parent", parent, "run", "--memory", "64M", "--", "sh", "-c", &cmd,
    ]);
    assert_eq!(code(&out), 125);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("memory") && err.contains("fix:"), "{err}");
    assert!(!touched.exists(), "the command ran");
    assert!(boxes.boxes().is_empty());

    let out = cgbox(&[
        "--app",
        &app,
        "--parent",
        parent,
        "run",
        "--memory",
        "64M",
        "--best-effort",
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
    assert_eq!(code(&out), 0);
    assert!(
        String::from_utf8(out.stderr).unwrap().contains("warning"),
        "best-effort warns"
    );
    assert!(touched.exists());
    assert!(boxes.boxes().is_empty());
}

#[test]
fn malformed_limits_exit_125_and_create_nothing() {
    // No cgroup2 needed: these are refused before anything is looked at.
    let app = format!("cgbox-cli-bad-{}", std::process::id());
    for args in [
        &["--memory", "12Q"][..],
        &["--memory", "0"][..],
        &["--cpus", "nan"][..],
        &["--cpus", "inf"][..],
        &["--cpus", "-1"][..],
        &["--cpus", "0.001"][..],
        &["--cpu-weight", "0"][..],
        &["--cpu-weight", "99999"][..],
        &["--pids", "0"][..],
        &["--pids", "-3"][..],
        &["--cpuset", "3-1"][..],
        &["--io-max", "8:0"][..],
        &["--io-max", "sda wbps=1"][..],
        &["--io-weight", "0"][..],
        &["--swap", "lots"][..],
        &["--name", "a/b"][..],
        &["--name", ".."][..],
        &["--timeout", "0"][..],
        &["--timeout", "-1"][..],
        &["--bogus"][..],
    ] {
        let mut full = vec!["--app", app.as_str(), "run"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--", "true"]);
        let out = cgbox(&full);
        assert_eq!(
            code(&out),
            125,
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} says nothing");
    }
    let out = cgbox(&["run", "--memory", "1G"]);
    assert_eq!(code(&out), 125, "no command");
    if let Some(parent) = Discovery::probe(&SysFs::new().unwrap(), &app).home() {
        assert!(!parent.join(&app).exists());
    }
}

#[test]
fn list_reap_and_kill_tell_owned_kept_orphaned_and_leftover_boxes_apart() {
    let Some((app, dir)) = host("killreap") else {
        return;
    };
    let fs = std::sync::Arc::new(SysFs::new().unwrap());
    // Boxes outlive their handles here: end them even if an assertion fails.
    struct Cleanup(std::sync::Arc<SysFs>, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for name in ["leftover", "kept", "orphan", "owned", ".odd"] {
                if let Ok(b) = cgbox::BoxRef::open(self.0.clone(), &self.1, name) {
                    let _ = b.destroy();
                }
            }
        }
    }
    let cleanup = Cleanup(fs.clone(), app.clone());
    let agents = dir.dir.join("agents");
    // A leftover: made and never used (a run killed before it started).
    // A kept box. A box this process holds, with a sleeper. An entry that
    // is not a box cgbox can address.
    let _ = cgbox::Builder::new()
        .app(&app)
        .name("kept")
        .create(fs.clone())
        .unwrap()
        .keep();
    std::fs::create_dir(agents.join("leftover")).unwrap();
    // Made an hour ago: reap leaves boxes made a moment ago to their maker.
    std::fs::File::open(agents.join("leftover"))
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600)),
        )
        .unwrap();
    std::fs::create_dir(agents.join(".odd")).unwrap();
    let owned = cgbox::Builder::new()
        .app(&app)
        .name("owned")
        .create(fs.clone())
        .unwrap();
    let mut sleeper = owned
        .spawn(Command::new("sleep").arg("1000").stdin(Stdio::null()))
        .unwrap();
    // An orphan: `cgbox run` killed with SIGKILL while its job runs.
    let mut run = Command::new(env!("CARGO_BIN_EXE_cgbox"))
        .args([
            "--app", &app, "run", "--quiet", "--name", "orphan", "--", "sleep", "1000",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // Until the job has exec'd sleep: before that, the child born by clone3
    // still holds a copy of cgbox's descriptors, the box's lock among them
    // (they close at exec), and the box reads as owned.
    let procs = agents.join("orphan/cgroup.procs");
    let exec_d = || {
        std::fs::read_to_string(&procs).is_ok_and(|p| {
            p.lines().any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "sleep\n")
            })
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !exec_d() {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphan's job never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    run.kill().unwrap();
    run.wait().unwrap();

    let out = cgbox(&["--app", &app, "list", "--json"]);
    assert_eq!(code(&out), 0);
    let json = String::from_utf8(out.stdout).unwrap();
    for (name, owner, state) in [
        ("kept", "kept", "empty"),
        ("leftover", "leftover", "empty"),
        ("orphan", "orphaned", "running"),
        ("owned", "owned", "running"),
    ] {
        let entry = format!(
            r#""name": "{name}", "path": "{}/agents/{name}", "owner": "{owner}", "state": "{state}""#,
            rel_app(&app)
        );
        assert!(json.contains(&entry), "{entry} not in {json}");
    }
    assert!(
        json.contains(r#""odd": [{"name": ".odd", "why": "#),
        "{json}"
    );

    let out = cgbox(&["--app", &app, "reap"]);
    let status = code(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(status, 1, "an odd entry makes reap exit 1: {text}");
    assert!(text.contains("removed leftover"), "{text}");
    assert!(
        text.contains("left orphan orphan") && text.contains("--orphans"),
        "{text}"
    );
    assert!(
        text.contains("left owned: a live process owns it"),
        "{text}"
    );
    assert!(text.contains("left kept: kept on purpose"), "{text}");
    assert!(text.contains("could not handle .odd"), "{text}");
    assert_eq!(
        sleeper.try_wait().unwrap(),
        None,
        "an owned box is never touched"
    );

    let out = cgbox(&["--app", &app, "reap", "--orphans"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("killed and removed orphan orphan"), "{text}");
    std::fs::remove_dir(agents.join(".odd")).unwrap();

    // kill is explicit: it ends even a box another process owns.
    let out = cgbox(&["--app", &app, "kill", "owned"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(sleeper.wait().unwrap().signal(), Some(9));
    owned.destroy().unwrap();
    let out = cgbox(&["--app", &app, "kill", "kept"]);
    assert_eq!(code(&out), 0);
    assert!(dir.boxes().is_empty(), "{:?}", dir.boxes());

    let out = cgbox(&["--app", &app, "kill", "owned"]);
    assert_eq!(code(&out), 1, "a box that is gone");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("no box named")
    );
    drop(cleanup);
}

#[test]
fn stats_of_a_live_box_leave_out_what_this_kernel_lacks() {
    let Some((app, _app_dir)) = host("stats") else {
        return;
    };
    let fs = std::sync::Arc::new(SysFs::new().unwrap());
    let b = cgbox::Builder::new()
        .app(&app)
        .name("s1")
        .create(fs.clone())
        .unwrap();
    let mut child = b
        .spawn(Command::new("sleep").arg("1000").stdin(Stdio::null()))
        .unwrap();
    let out = cgbox(&["--app", &app, "stats", "s1", "--json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(
        json.contains(r#""cgroup.events": {"populated": 1, "frozen": 0}"#),
        "{json}"
    );
    // The box's statistics are those of the controllers it was given; the
    // peaks need a kernel that has them too (memory.peak 5.19, pids.peak
    // 6.1): where not, they are left out, never printed as 0.
    let has: Vec<String> = std::fs::read_to_string(b.path().join("cgroup.controllers"))
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    for (file, controller, since) in [
        ("memory.current", "memory", (0, 0)),
        ("pids.current", "pids", (0, 0)),
        ("nr_throttled", "cpu", (0, 0)),
        ("memory.peak", "memory", (5, 19)),
        ("pids.peak", "pids", (6, 1)),
    ] {
        let listed = json.contains(&format!("\"{file}\""));
        assert_eq!(
            listed,
            has.iter().any(|c| c == controller) && common::kernel_at_least(since.0, since.1),
            "{file} on {}: {json}",
            common::kernel_release()
        );
    }
    let out = cgbox(&[
        "--app",
        &app,
        "stats",
        &format!("{}/agents/s1", rel_app(&app)),
    ]);
    assert_eq!(code(&out), 0);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("populated      yes")
    );
    b.destroy().unwrap();
    child.wait().unwrap();
    let out = cgbox(&["--app", &app, "stats", "s1"]);
    assert_eq!(code(&out), 1, "gone");
}

#[test]
fn stats_on_fixture_samples_follow_the_contract() {
    // A root tree: mountinfo naming /sys/fs/cgroup, and real kernel 6.1
    // files of several scenarios, one damaged.
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("proc/self")).unwrap();
    std::fs::write(
        r.join("proc/self/mountinfo"),
        "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
    )
    .unwrap();
    std::fs::write(r.join("proc/self/cgroup"), "0::/\n").unwrap();
    let samples = common::fixtures().join("samples/kernel-6.1");
    for scenario in ["oom", "io", "throttled"] {
        let dir = r.join("sys/fs/cgroup").join(scenario);
        std::fs::create_dir_all(&dir).unwrap();
        for f in std::fs::read_dir(samples.join(scenario)).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
    }
    std::fs::write(r.join("sys/fs/cgroup/oom/memory.stat"), "anon 1\nfile x\n").unwrap();
    let run = |path: &str| {
        let out = cgbox(&["--root", r.to_str().unwrap(), "stats", path, "--json"]);
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let oom = run("/oom");
    assert!(oom.starts_with(r#"{"path": "/oom", "memory.current": 65536, "memory.peak": 33554432, "memory.max": 33554432, "memory.events": {"low": 0, "high": 0, "max": 36, "oom": 1, "oom_kill": 1, "oom_group_kill": 0}"#), "{oom}");
    assert!(
        oom.contains(
            r#""memory.pressure": {"some": {"avg10": 0, "avg60": 0, "avg300": 0, "total": 13790}"#
        ),
        "{oom}"
    );
    assert!(
        oom.ends_with(
            "\"errors\": {\"memory.stat\": \"line 2: file: not a number: \\\"x\\\"\"}}\n"
        ),
        "{oom}"
    );
    assert!(
        !oom.contains("\"memory.stat\": {"),
        "a damaged file is not printed: {oom}"
    );
    let io = run("/io");
    assert!(io.contains(r#""io.stat": {"259:0": {"rbytes": 8388608, "wbytes": 25165824, "rios": 16, "wios": 48, "dbytes": 0, "dios": 0}}"#), "{io}");
    let cpu = run("/throttled");
    assert!(cpu.contains(r#""cpu.stat": {"usage_usec": 4569656, "user_usec": 2043758, "system_usec": 2525897, "nr_periods": 25, "nr_throttled": 23, "throttled_usec": 3262179, "nr_bursts": 0, "burst_usec": 0}"#), "{cpu}");
    assert!(cpu.contains(r#""cpu.pressure": {"some": {"avg10": 12.93, "avg60": 2.55, "avg300": 0.54, "total": 2184784}"#), "{cpu}");
    assert!(cpu.ends_with("\"errors\": {}}\n"), "{cpu}");
    let out = cgbox(&["--root", r.to_str().unwrap(), "stats", "/nope", "--json"]);
    assert_eq!(code(&out), 1);
    let out = cgbox(&["--root", r.to_str().unwrap(), "stats", "/throttled"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("throttled      23 of 25 periods (92%)"),
        "{text}"
    );
    assert!(Path::new(&r.join("sys/fs/cgroup/io")).exists());
}

/// `--cgroupns`: CMD sees its box as the root of its cgroup namespace,
/// and cgroup2 mounted where it was, rooted at the box: the mount's
/// `cgroup.procs` lists CMD, and the only cgroup2 in its mountinfo has
/// root `/` (what keeps a root job in on an nsdelegate mount is proven in
/// tests/spawn_fast.rs, in the VM). The host's mount is left as it was.
#[test]
fn cgroupns_roots_cmd_at_its_box() {
    let Some((app, dir)) = host("cgroupns") else {
        return;
    };
    let mount = Discovery::probe(&SysFs::new().unwrap(), &app)
        .mount
        .unwrap();
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let out = cgbox(&[
        "--app",
        &app,
        "run",
        "--quiet",
        "--cgroupns",
        "--",
        "sh",
        "-c",
        r#"cat /proc/self/cgroup; echo "pid $$"; sed 's/^/procs /' "$0/cgroup.procs"; grep ' - cgroup2 ' /proc/self/mountinfo | cut -d' ' -f4,5"#,
        mount.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l == "0::/"), "{text}");
    let pid = text.lines().find_map(|l| l.strip_prefix("pid ")).unwrap();
    assert!(text.lines().any(|l| l == format!("procs {pid}")), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.ends_with(&format!(" {}", mount.display())))
            .collect::<Vec<_>>(),
        [format!("/ {}", mount.display())],
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        before
    );
    assert!(dir.boxes().is_empty());
}
