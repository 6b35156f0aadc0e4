//! A CI step in a box: run a command with limits and a timeout, kill what
//! it leaves behind, print a summary and write a JSON report, with the
//! library alone ([`Builder`], [`BoxRef::start`](cgbox::BoxRef::start),
//! [`Stats`]). This is what `cgbox run --timeout ... --report ...` does, in
//! a page.
//!
//! Why the step ended is the library's to say, not the example's: a
//! [`Tally`](cgbox::Tally) of the box is taken before the command starts,
//! and once the command has been waited for,
//! [`BoxRef::outcome`](cgbox::BoxRef::outcome), told whether the timeout
//! fired (a [`Stop`]), judges the run by the kernel's counters. The
//! [`Outcome`]'s words ([`Outcome::describe`]: `exit 3`, `timed out
//! (SIGKILL)`, `killed by the OOM killer at memory.max 512 MiB`) open the
//! summary, its [`Cause`] is the report's `cause`, and its
//! [`Counts`](cgbox::Counts) over the run (CPU, peak memory, OOM kills,
//! throttling) fill in the summary.
//!
//! ```text
//! cargo run --example ci_step                                     # on cgbox's fake kernel: no root
//! sudo cargo run --example ci_step -- --real -- make -j4          # this machine's cgroup2
//! sudo cargo run --example ci_step -- --real --timeout 5 --report step.json -- sh -c 'sleep 60'
//! ```
//!
//! Options: `--real`, `--best-effort` (limits this machine cannot apply are
//! skipped), `--timeout SECS` (default 60), `--report FILE` (default
//! `ci-step.json` in the temporary directory), then `--` and the command.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cgbox::fs::{CgroupFs, FakeFs, SysFs};
use cgbox::{
    BoxChild, BoxCommand, Builder, Cause, FileStats, JobBox, Limits, Number, Outcome, Policy, Size,
    Stats, Stop,
};

/// What the step may use.
fn limits() -> Limits {
    Limits::new()
        .memory_max(Size::Bytes(512 << 20))
        .memory_high(Size::Bytes(448 << 20))
        .cpus(1.5)
        .pids_max(256)
}

/// The timeout kills the whole box at once
/// ([`BoxRef::kill`](cgbox::BoxRef::kill)): SIGKILL.
const SIGKILL: i32 = rustix::process::Signal::KILL.as_raw();

/// How the step went.
struct Step {
    name: String,
    command: Vec<String>,
    /// How the command ended and why, in cgbox's judgement: its status,
    /// the cause (an exit, the timeout, an OOM kill and at which limit, a
    /// signal) and what the kernel counted over the run.
    outcome: Outcome,
    wall: Duration,
    /// Every statistic, read after the command ended, before the box was
    /// removed: the report's.
    stats: Stats,
    skipped: Vec<String>,
}

impl Step {
    /// The exit code a CI runner would give the step (as timeout(1) does).
    fn code(&self) -> i32 {
        let status = self.outcome.status;
        match (&self.outcome.cause, status.code(), status.signal()) {
            (Cause::TimedOut { .. }, _, _) => 124,
            (_, Some(c), _) => c,
            (_, None, Some(s)) => 128 + s,
            _ => 1,
        }
    }

    fn summary(&self) -> String {
        let c = &self.outcome.counts; // `None` where the kernel does not count it
        let ms = |us: u64| format!("{:.0} ms", us as f64 / 1000.0);
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
        let or = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        format!(
            "{}: {}, wall {}, cpu {}, peak memory {}, oom kills {}, throttled periods {}",
            self.name,
            self.outcome.describe(),
            ms(self.wall.as_micros() as u64),
            or(c.cpu_usec.map(ms)),
            or(c.memory_peak.map(mib)),
            or(c.oom_kills.map(|n| n.to_string())),
            or(c.nr_throttled.map(|n| n.to_string())),
        )
    }

    /// The report: what ran, how it ended, and every statistic, with keys
    /// as the kernel names them (a file the kernel lacks is left out).
    fn json(&self) -> String {
        let mut o = String::from("{");
        let _ = write!(o, "\"name\": {}, \"command\": [", string(&self.name));
        let words: Vec<String> = self.command.iter().map(|w| string(w)).collect();
        o.push_str(&words.join(", "));
        let opt = |v: Option<i32>| v.map_or("null".into(), |v| v.to_string());
        let status = self.outcome.status;
        let _ = write!(
            o,
            "], \"exit_code\": {}, \"signal\": {}, \"cause\": {{\"kind\": {}, \"text\": {}}}, \"status\": {}, \"wall_ms\": {}, \"skipped\": [{}], \"stats\": {{",
            opt(status.code()),
            opt(status.signal()),
            string(kind(&self.outcome.cause)),
            string(&self.outcome.describe()),
            self.code(),
            self.wall.as_millis(),
            self.skipped
                .iter()
                .map(|s| string(s))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let files: Vec<String> = self
            .stats
            .files
            .iter()
            .map(|(name, f)| format!("{}: {}", string(name), file_json(f)))
            .collect();
        o.push_str(&files.join(", "));
        o.push_str("}}\n");
        o
    }
}

/// The cause for programs reading the report. `Cause` is
/// `#[non_exhaustive]`: a cause of a later cgbox is "other" (its words
/// are still in `text`).
fn kind(cause: &Cause) -> &'static str {
    match cause {
        Cause::Exited(_) => "exited",
        Cause::OomKilled { .. } => "oom_killed",
        Cause::TimedOut { .. } => "timed_out",
        Cause::Interrupted { .. } => "interrupted",
        Cause::KilledWithBox => "killed_with_box",
        Cause::Signaled(_) => "signaled",
        _ => "other",
    }
}

fn string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn number(n: Number) -> String {
    match n {
        Number::Uint(v) => v.to_string(),
        Number::Int(v) => v.to_string(),
        Number::Float(v) if v.is_finite() => v.to_string(),
        Number::Float(_) => "null".into(),
        Number::Max => "\"max\"".into(),
    }
}

fn pairs(p: &[(Cow<'static, str>, Number)]) -> String {
    let items: Vec<String> = p
        .iter()
        .map(|(k, v)| format!("{}: {}", string(k), number(*v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn file_json(f: &FileStats) -> String {
    match f {
        FileStats::Single(n) => number(*n),
        FileStats::Flat(p) => pairs(p),
        FileStats::Nested(lines) => {
            let items: Vec<String> = lines
                .iter()
                .map(|(k, p)| format!("{}: {}", string(k), pairs(p)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Wait for `child` at most until `deadline`: one `poll` on its pidfd, no
/// sleeping loop. `None` when the time ran out first.
fn wait_until(child: &mut BoxChild, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let Some(pidfd) = child.pidfd() else {
            // A kernel without pidfds (before 5.3): no timeout to be had.
            return child.wait().map(Some);
        };
        let timeout = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::from_borrowed_fd(pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The step on this machine: the command starts already inside its box.
fn on_this_machine(
    command: &[String],
    timeout: Duration,
    policy: Policy,
) -> Result<Step, Box<dyn Error>> {
    let (program, args) = command.split_first().ok_or("no command")?;
    let fs = Arc::new(SysFs::new()?);
    let job = Builder::new()
        .app("ci-step-example")
        .limits(limits())
        .policy(policy)
        .create(fs)?;
    println!("box {} made", job.path().display());
    // The counters the outcome is measured from.
    let before = job.tally()?;
    let start = Instant::now();
    let mut cmd = BoxCommand::new(program);
    cmd.args(args);
    let mut child = job.start(&cmd)?; // born in the box
    let (status, stop) = match wait_until(&mut child, start + timeout)? {
        Some(status) => (status, Stop::Nothing),
        None => {
            // Out of time: the whole box goes, forks and daemons included.
            job.kill()?;
            (child.wait()?, timed_out())
        }
    };
    let wall = start.elapsed();
    // Why it ended, read before anything else is killed.
    let outcome = job.outcome(&before, status, stop)?;
    // Nothing outlives the step.
    job.kill()?;
    let app = job.app().clone();
    let step = finish(job, command, outcome, wall);
    // A CI runner keeps `<app>/agents` for its next steps; the example
    // leaves nothing behind (this fails harmlessly while other steps run).
    let _ = app.remove();
    step
}

/// What the example does when time runs out, for
/// [`BoxRef::outcome`](cgbox::BoxRef::outcome): SIGKILL to the whole box,
/// no grace.
fn timed_out() -> Stop {
    Stop::Timeout {
        signal: SIGKILL,
        grace: Duration::ZERO,
        killed: false,
    }
}

/// Read the statistics, remove the box, and say how it went.
fn finish<F: CgroupFs>(
    job: JobBox<F>,
    command: &[String],
    outcome: Outcome,
    wall: Duration,
) -> Result<Step, Box<dyn Error>> {
    let stats = job.stats()?;
    let skipped = job
        .skipped()
        .iter()
        .map(|s| format!("{}: {}", s.what, s.error))
        .collect();
    let name = job.name().to_owned();
    job.destroy()?;
    Ok(Step {
        name,
        command: command.to_vec(),
        outcome,
        wall,
        stats,
        skipped,
    })
}

/// The step on cgbox's fake kernel: the fake runs no programs, so the
/// step's process is a fake one, and what it does (CPU, memory, a
/// throttled period) is written into the box's files as the kernel would
/// show it. Time is the fake's virtual clock; a fake process has no exit
/// status, so the one the kernel would give is made here.
fn on_the_fake(command: &[String], timeout: Duration) -> Result<Step, Box<dyn Error>> {
    let fake = Arc::new(FakeFs::new());
    let job = Builder::new()
        .app("ci-step-example")
        .limits(limits())
        .create(fake.clone())?;
    println!("box {} made (on the fake)", job.path().display());
    let rel = job
        .path()
        .strip_prefix(fake.mount())?
        .to_string_lossy()
        .into_owned();
    let before = job.tally()?;
    let start = fake.now();
    let pid = fake.spawn(&rel)?;
    // The step works for 1.2 s of virtual time, then exits 0, unless the
    // timeout comes first.
    let work = Duration::from_millis(1200);
    fake.advance(work.min(timeout));
    fake.set_file(
        &rel,
        "cpu.stat",
        "usage_usec 1650000\nuser_usec 1400000\nsystem_usec 250000\nnr_periods 12\nnr_throttled 3\nthrottled_usec 180000\n",
    )?;
    fake.set_file(&rel, "memory.peak", "301989888\n")?;
    let wall = fake.now() - start;
    let (status, stop) = if work <= timeout {
        fake.exit(pid)?;
        (ExitStatus::from_raw(0), Stop::Nothing)
    } else {
        job.kill()?; // as on_this_machine does at the deadline
        (ExitStatus::from_raw(SIGKILL), timed_out())
    };
    fake.reap(pid)?;
    let outcome = job.outcome(&before, status, stop)?;
    job.kill()?;
    finish(job, command, outcome, wall)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut real, mut policy) = (false, Policy::Strict);
    let mut timeout = Duration::from_secs(60);
    let mut report = std::env::temp_dir().join("ci-step.json");
    let mut command: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--real" => real = true,
            "--best-effort" => policy = Policy::BestEffort,
            "--timeout" => match args.next().and_then(|v| v.parse::<f64>().ok()) {
                Some(s) if s > 0.0 && s < 1e9 => timeout = Duration::from_secs_f64(s),
                _ => usage("--timeout needs a positive number of seconds"),
            },
            "--report" => match args.next() {
                Some(p) => report = PathBuf::from(p),
                None => usage("--report needs a file"),
            },
            "--" => {
                command = args.by_ref().collect();
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if command.is_empty() {
        command = [
            "sh",
            "-c",
            "echo building; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done",
        ]
        .map(String::from)
        .to_vec();
    }
    let shown: Vec<String> = match limits().files() {
        Ok(files) => files.iter().map(|(f, v)| format!("{f} {v}")).collect(),
        Err(e) => usage(&e.to_string()),
    };
    println!(
        "step: {command:?}, timeout {timeout:?}, limits: {}",
        shown.join(", ")
    );
    let step = if real {
        on_this_machine(&command, timeout, policy)
    } else {
        on_the_fake(&command, timeout)
    };
    let step = match step {
        Ok(s) => s,
        Err(e) => {
            // cgbox's errors say what failed, where, and the fix.
            eprintln!("ci_step: {e}");
            std::process::exit(125);
        }
    };
    println!("{}", step.summary());
    for s in &step.skipped {
        println!("skipped: {s}");
    }
    match std::fs::write(&report, step.json()) {
        Ok(()) => println!("report: {}", report.display()),
        Err(e) => eprintln!("ci_step: write {}: {e}", report.display()),
    }
    std::process::exit(step.code());
}

fn usage(why: &str) -> ! {
    eprintln!(
        "ci_step: {why}\nusage: ci_step [--real] [--best-effort] [--timeout SECS] [--report FILE] [-- CMD ARGS...]"
    );
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cgbox::Cause;

    /// `cargo test` runs the example's fake path: the summary and the
    /// report say what the step did, and why it ended.
    #[test]
    fn runs_on_the_fake_and_reports() {
        let command = ["make".to_owned()];
        let s = super::on_the_fake(&command, Duration::from_secs(60)).unwrap();
        assert_eq!((&s.outcome.cause, s.code()), (&Cause::Exited(0), 0));
        // The counts are the run's: what the fake's kernel was made to count.
        assert_eq!(s.outcome.counts.cpu_usec, Some(1_650_000));
        assert_eq!(s.outcome.counts.nr_throttled, Some(3));
        let summary = s.summary();
        assert!(
            summary.ends_with(": exit 0, wall 1200 ms, cpu 1650 ms, peak memory 288.0 MiB, oom kills 0, throttled periods 3"),
            "{summary}"
        );
        let json = s.json();
        assert!(json.starts_with("{\"name\": \""), "{json}");
        for part in [
            "\"command\": [\"make\"], \"exit_code\": 0, \"signal\": null, \"cause\": {\"kind\": \"exited\", \"text\": \"exit 0\"}, \"status\": 0, \"wall_ms\": 1200",
            "\"memory.peak\": 301989888",
            "\"memory.max\": 536870912",
            "\"pids.max\": 256",
            "\"nr_throttled\": 3",
        ] {
            assert!(json.contains(part), "{part} in {json}");
        }
    }

    /// A step still running at its timeout is killed with its box there,
    /// and reported as timed out (124), not as the SIGKILL it got.
    #[test]
    fn a_step_past_its_timeout_is_killed_and_said_to_have_timed_out() {
        let command = ["make".to_owned()];
        let s = super::on_the_fake(&command, Duration::from_secs(1)).unwrap();
        assert!(
            matches!(s.outcome.cause, Cause::TimedOut { signal: 9, .. }),
            "{:?}",
            s.outcome.cause
        );
        assert_eq!(s.code(), 124);
        let summary = s.summary();
        assert!(
            summary.contains(": timed out (SIGKILL), wall 1000 ms,"),
            "{summary}"
        );
        let json = s.json();
        let part = "\"exit_code\": null, \"signal\": 9, \"cause\": {\"kind\": \"timed_out\", \"text\": \"timed out (SIGKILL)\"}, \"status\": 124, \"wall_ms\": 1000";
        assert!(json.contains(part), "{part} in {json}");
    }
}
