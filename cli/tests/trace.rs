//! `cgbox run --trace`: options refused before CMD runs (exit 125, the
//! command never started), and on this machine's real cgroup2 (when it
//! has a writable one) a trace whose ticks keep time and cost little, and
//! that `cgbox plot` draws. The trace writer itself is tested on the fake
//! with a virtual clock in `src/bin/cgbox/trace.rs`.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cgbox::Discovery;
use cgbox::fs::SysFs;

fn cgbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cgbox"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A file CMD would make: it must never appear when the run is refused.
fn marker(dir: &Path) -> (PathBuf, String) {
    let m = dir.join("ran");
    let cmd = format!("touch {}", m.display());
    (m, cmd)
}

#[test]
fn trace_options_are_checked_before_the_command_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (ran, cmd) = marker(tmp.path());
    let trace = tmp.path().join("t.jsonl");
    let trace = trace.to_str().unwrap();
    let report = tmp.path().join("r.json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--trace", trace, "--trace-every", "0.001"],
            "--trace-every: 0.001 s is too often: at most every 0.01 s (10 ms)",
        ),
        (
            vec!["--trace", trace, "--trace-every", "0.0099"],
            "too often",
        ),
        (
            vec!["--trace", trace, "--trace-every", "0"],
            "not a positive number of seconds",
        ),
        (
            vec!["--trace", trace, "--trace-every", "soon"],
            "not a positive number of seconds",
        ),
        (
            vec!["--trace-every", "1"],
            "--trace-every needs --trace FILE",
        ),
        (
            vec!["--trace", trace, "--trace", trace],
            "--trace is given twice",
        ),
    ];
    for (opts, want) in cases {
        let mut args = vec!["run"];
        args.extend(&opts);
        args.extend(["--", "sh", "-c", &cmd]);
        let out = cgbox(&args);
        assert_eq!(out.status.code(), Some(125), "{opts:?}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{opts:?}: {err}");
        assert!(!ran.exists(), "{opts:?}: the command ran");
        assert!(!Path::new(trace).exists(), "{opts:?}: a trace was written");
    }
    // 0.01 itself is allowed: refused only later, for want of a
    // place to trace to.
    let out = cgbox(&[
        "run",
        "--trace",
        "/nonexistent/dir/t.jsonl",
        "--trace-every",
        "0.01",
        "--report",
        report.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("--trace /nonexistent/dir/t.jsonl: cannot write beside it"),
        "{err}"
    );
    assert!(
        !ran.exists(),
        "an unwritable trace is found before CMD runs"
    );
    // The report says why, as for every outcome.
    let r = std::fs::read_to_string(&report).unwrap();
    assert!(
        r.contains("\"status\": 125") && r.contains("cannot write beside it"),
        "{r}"
    );
    // A directory is not a trace file.
    let out = cgbox(&[
        "run",
        "--trace",
        tmp.path().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("not a regular file"));
    assert!(!ran.exists());
    let out = cgbox(&["run", "--trace"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("--trace needs a value"));
    // The help names the options.
    let out = cgbox(&["run", "--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("--trace FILE") && help.contains("--trace-every SECS"),
        "{help}"
    );
}

/// This machine's cgroup2, when boxes can be made here; otherwise say why
/// (or fail, with CGBOX_REQUIRE_REAL_CGROUP=1).
fn host(test: &str) -> Option<String> {
    let app = format!("cgbox-trace-{test}-{}", std::process::id());
    let d = Discovery::probe(&SysFs::new().ok()?, &app);
    if d.usable() {
        return Some(app);
    }
    common::skip(test, &format!("no writable cgroup2 here: {:?}", d.problems));
    None
}

/// Removes the test's app tree when the test ends, also on failure.
struct AppTree(String);

impl Drop for AppTree {
    fn drop(&mut self) {
        if let Ok(fs) = SysFs::new()
            && let Some(parent) = Discovery::probe(&fs, &self.0).home()
        {
            let _ = std::fs::remove_dir(parent.join(&self.0).join("agents"));
            let _ = std::fs::remove_dir(parent.join(&self.0));
        }
    }
}

/// `0m1.250000s` (POSIX `times`) as a duration.
fn shell_time(word: &str) -> Duration {
    let (m, s) = word.trim_end_matches('s').split_once('m').unwrap();
    Duration::from_secs_f64(m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap())
}

#[test]
fn a_real_run_traced_keeps_time_costs_little_and_plots() {
    let Some(app) = host("real") else { return };
    let _tree = AppTree(app.clone());
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("t.jsonl");
    // A job that computes for a moment, forks, and sleeps: the sleep
    // costs nothing, so what the children used is cgbox's own sampling.
    let job = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1.5 & wait";
    // Run through a shell that reports, with `times`, the CPU its
    // children used: cgbox and the job, and nothing of other tests.
    let log = tmp.path().join("stderr");
    let start = Instant::now();
    let out = Command::new("sh")
        .args([
            "-c",
            r#"log=$1; shift; "$@" 2>"$log"; rc=$?; times; exit $rc"#,
            "sh",
            log.to_str().unwrap(),
            env!("CARGO_BIN_EXE_cgbox"),
            "--app",
            &app,
            "run",
            "--trace",
            trace.to_str().unwrap(),
            "--trace-every",
            "0.01",
            "--",
            "sh",
            "-c",
            job,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let wall = start.elapsed();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let times = text(&out.stdout);
    let children = times.lines().nth(1).expect("times prints two lines");
    let used: Duration = children.split_whitespace().map(shell_time).sum();
    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        lines[0].starts_with("{\"cgbox_trace\": 1, "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("\"command\": [\"sh\", \"-c\", "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("\"every_ms\": 10"));
    let samples: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"cpu.stat\""))
        .collect();
    let last = lines.last().unwrap();
    assert!(
        last.contains("\"end\": {\"status\": 0, \"exit_code\": 0"),
        "{last}"
    );
    // Ticks keep time: about one per 10 ms of the run, never a burst (a
    // spinning loop would write thousands), never far too few.
    let runtime = wall.as_secs_f64();
    let most = (runtime / 0.01) as usize + 3;
    assert!(
        samples.len() <= most && samples.len() >= most / 4,
        "{} samples in {runtime:.2} s",
        samples.len()
    );
    // CPU usage climbs and never goes back.
    let usage: Vec<u64> = samples
        .iter()
        .map(|l| {
            let at = l.find("\"usage_usec\": ").unwrap() + 14;
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(usage.windows(2).all(|w| w[0] <= w[1]), "{usage:?}");
    assert!(usage.last().unwrap() > &0);
    // The cost: cgbox's own CPU (the job's sleep uses none; its loop is
    // counted in the box and taken off). A loop that spun instead of
    // waiting in poll would take a whole core; what tracing costs is a
    // fraction of a percent on the development machine (docs/tracing.md),
    // some 12% in the VM suite's QEMU, which emulates every instruction.
    let job_cpu = Duration::from_micros(*usage.last().unwrap());
    let cgbox_cpu = used.saturating_sub(job_cpu);
    eprintln!(
        "cost: {} samples in {runtime:.2} s; cgbox used {:?} of CPU ({:.2}% of a core; {:.1} us a sample)",
        samples.len(),
        cgbox_cpu,
        cgbox_cpu.as_secs_f64() / runtime * 100.0,
        cgbox_cpu.as_secs_f64() * 1e6 / samples.len() as f64
    );
    assert!(
        cgbox_cpu.as_secs_f64() < 0.5 * runtime,
        "cgbox used {cgbox_cpu:?} in {runtime:.2} s"
    );
    // And the picture.
    let svg = tmp.path().join("t.svg");
    let out = cgbox(&["plot", trace.to_str().unwrap(), "-o", svg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("data-series=\"cpu.stat usage_usec\""));
    assert!(svg.contains("cgbox run: sh -c"));
}
