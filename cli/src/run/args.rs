//! `cgbox run`'s options, checked before anything is looked at or made.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use cgbox::Limits;

use crate::args::{Arg, Lexer};
use crate::signals;

pub const HELP_HEAD: &str = "\
usage: cgbox [--root DIR] [--app NAME] [--parent DIR] [--no-systemd] run [LIMITS]
                 [--name NAME] [--timeout SECS] [--signal SIG] [--kill-after SECS]
                 [--best-effort] [--cgroupns] [--report FILE]
                 [--trace FILE [--trace-every SECS]] [--quiet] -- CMD [ARGS...]

Run CMD already inside a new box at <home>/<app>/agents/<name> (see cgbox
inspect for the home), wait for it, kill whatever it left running, print a
summary on stderr and remove the box. In a systemd unit that does not
delegate, cgbox first asks systemd for a scope of its own with Delegate=yes
(--no-systemd: refuse instead).

";

pub const HELP_TAIL: &str = "\
options:
  --name NAME        the box's name (default: a UUID v4); letters, digits, '-', '_', '.'
  --timeout SECS     stop the command after SECS seconds (exit code 124)
  --signal SIG       how to stop it, at --timeout: first this signal to every process
                     in the box (default TERM); when cgbox itself is interrupted
                     (INT, TERM, HUP, QUIT) it passes on the signal it received
  --kill-after SECS  then, if anything still runs, kill the box (default 5; 0: at once)
  --best-effort      warn about limits that cannot be applied and run anyway
  --cgroupns         give CMD a cgroup namespace rooted at its box: it sees the box as /,
                     and on a cgroup2 mount with nsdelegate it cannot leave the box,
                     even as root (making the namespace needs CAP_SYS_ADMIN)
  --report FILE      write what happened as JSON (for every outcome, 125 to 127
                     included): {\"name\", \"path\", \"status\", \"exit_code\", \"signal\",
                     \"timed_out\", \"interrupted_by\", \"stop_signal\", \"killed\",
                     \"wall_ms\", \"skipped\", \"error\", \"cause\": {\"kind\", \"text\",
                     ..., \"counts\"}, \"stats\": {...}}; cause says why CMD ended
                     (exited, oom_killed, timed_out ...) and what limited it
  --trace FILE       sample the box while CMD runs and write JSON lines: what ran and
                     the limits, then time, memory.current, cpu.stat, pids.current,
                     pressure, and events (OOM kills, memory.high hits) as they happen;
                     cgbox plot FILE -o run.svg draws it
  --trace-every SECS how often (default 0.1; at least 0.01)
  --quiet            no summary on stderr

exit code: CMD's, 128+N when CMD died of signal N, 124 on --timeout, 128+N
when cgbox was interrupted by signal N and had to kill CMD, 125 when cgbox
failed before CMD ran, 126 when CMD could not be executed (no permission, a
bad interpreter), 127 when CMD was not found. Signals cgbox's caller ignored
stay ignored for CMD too.
";

/// How long a stopped command gets before its box is killed.
pub const DEFAULT_KILL_AFTER: Duration = Duration::from_secs(5);

/// `run` makes a box for CMD; `exec` starts CMD in a box that exists.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Exec,
}

impl Mode {
    fn word(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Exec => "exec",
        }
    }
}

pub struct RunArgs {
    pub mode: Mode,
    /// `exec`: the box CMD goes into.
    pub target: Option<String>,
    /// `exec`: kill what CMD leaves running when it ends.
    pub kill_rest: bool,
    pub limits: Limits,
    pub name: Option<String>,
    pub timeout: Option<Duration>,
    pub signal: i32,
    pub kill_after: Duration,
    pub best_effort: bool,
    pub cgroupns: bool,
    pub report: Option<PathBuf>,
    pub trace: Option<PathBuf>,
    pub trace_every: Option<Duration>,
    pub quiet: bool,
    pub command: Vec<OsString>,
}

pub enum Parsed {
    Run(Box<RunArgs>),
    Help,
}

/// Seconds as a user writes them: a finite, non-negative number, at most a
/// billion (31 years); `positive` refuses 0.
pub fn seconds(flag: &str, v: &str, positive: bool) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(s) if (0.0..1e9).contains(&s) && (s > 0.0 || !positive) => {
            Ok(Duration::from_secs_f64(s))
        }
        _ => Err(format!(
            "{flag}: {v:?} is not a {}number of seconds",
            if positive { "positive " } else { "" }
        )),
    }
}

pub fn parse(mut lex: Lexer, mode: Mode) -> Result<Parsed, String> {
    let word = mode.word();
    let mut a = RunArgs {
        mode,
        target: None,
        kill_rest: false,
        limits: Limits::default(),
        name: None,
        timeout: None,
        signal: signals::SIGTERM,
        kill_after: DEFAULT_KILL_AFTER,
        best_effort: false,
        cgroupns: false,
        report: None,
        trace: None,
        trace_every: None,
        quiet: false,
        command: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    loop {
        let arg = lex.next_arg()?;
        let flag = match arg {
            None => {
                return Err(format!(
                    "no command given: cgbox {word} ... -- CMD [ARGS...]"
                ));
            }
            Some(Arg::DashDash) => break,
            Some(Arg::Word(w)) if mode == Mode::Exec && a.target.is_none() => {
                let name = w.to_string_lossy().into_owned();
                cgbox::fs::validate_name(&name).map_err(|e| format!("box name: {e}"))?;
                a.target = Some(name);
                continue;
            }
            Some(Arg::Word(_)) => {
                return Err(format!(
                    "put -- before the command: cgbox {word} ... -- CMD"
                ));
            }
            Some(Arg::Short('h')) => return Ok(Parsed::Help),
            Some(Arg::Long(flag)) => flag,
            Some(other) => {
                return Err(format!(
                    "unexpected {} (see cgbox {word} --help)",
                    other.describe()
                ));
            }
        };
        // Every option but --io-max is given once: a second value is a
        // mistake, not a silent override.
        if flag != "io-max" && seen.contains(&flag) {
            return Err(format!("--{flag} is given twice"));
        }
        seen.push(flag.clone());
        let dashed = format!("--{flag}");
        let run_only = ["name", "best-effort"];
        if mode == Mode::Exec
            && (run_only.contains(&flag.as_str())
                || crate::limit_args::LIMIT_FLAGS.contains(&flag.as_str()))
        {
            return Err(format!(
                "--{flag} is for run; exec starts CMD in a box as it is (cgbox set changes its limits)"
            ));
        }
        if mode == Mode::Run && flag == "kill-rest" {
            return Err("--kill-rest is for exec; run always kills what CMD leaves".into());
        }
        match flag.as_str() {
            "help" => return Ok(Parsed::Help),
            "kill-rest" => a.kill_rest = true,
            limit if crate::limit_args::LIMIT_FLAGS.contains(&limit) => {
                crate::limit_args::parse(limit, &mut lex, &mut a.limits)?
            }
            "name" => {
                let name = lex.value(&dashed)?;
                cgbox::fs::validate_name(&name).map_err(|e| format!("--name: {e}"))?;
                a.name = Some(name);
            }
            "timeout" => a.timeout = Some(seconds(&dashed, &lex.value(&dashed)?, true)?),
            "signal" => {
                let v = lex.value(&dashed)?;
                a.signal = signals::parse(&v).ok_or_else(|| {
                    format!("--signal: {v:?} is not a signal (TERM, INT, HUP, KILL, 15 ...)")
                })?;
            }
            "kill-after" => a.kill_after = seconds(&dashed, &lex.value(&dashed)?, false)?,
            "best-effort" => a.best_effort = true,
            "cgroupns" => a.cgroupns = true,
            "report" => a.report = Some(PathBuf::from(lex.file(&dashed)?)),
            "trace" => a.trace = Some(PathBuf::from(lex.file(&dashed)?)),
            "trace-every" => {
                let v = lex.value(&dashed)?;
                let every = seconds(&dashed, &v, true)?;
                if every + Duration::from_nanos(1) < crate::trace::MIN_EVERY {
                    return Err(format!(
                        "--trace-every: {v} s is too often: at most every 0.01 s (10 ms)"
                    ));
                }
                a.trace_every = Some(every);
            }
            "quiet" => a.quiet = true,
            other => {
                return Err(format!(
                    "unknown option --{other} (see cgbox {word} --help)"
                ));
            }
        }
    }
    a.command = lex.rest();
    if mode == Mode::Exec && a.target.is_none() {
        return Err("give the box: cgbox exec NAME -- CMD".into());
    }
    if a.command.is_empty() {
        return Err("no command after --".into());
    }
    if a.trace_every.is_some() && a.trace.is_none() {
        return Err("--trace-every needs --trace FILE".into());
    }
    Ok(Parsed::Run(Box::new(a)))
}

pub const EXEC_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] exec NAME [--timeout SECS] [--signal SIG]
                 [--kill-after SECS] [--kill-rest] [--cgroupns] [--report FILE]
                 [--trace FILE] [--trace-every SECS] [--quiet] -- CMD [ARGS...]

Start CMD inside the existing box NAME (made with cgbox create, or a box of a
running program), born there as with run, wait for it and exit with its
code. CMD gets a cgroup of its own inside the box (NAME/exec/agents/<id>):
the box's limits cover it and its CPU and memory count in the box's
statistics. The box and its other processes are left alone; what CMD leaves
running stays in the box (killed with it), unless --kill-rest.

  --timeout, --signal, --kill-after, --cgroupns, --report, --trace, --trace-every,
  --quiet: as for run (--cgroupns roots the namespace at CMD's own cgroup)
  --kill-rest   when CMD ends, kill what it left running

exit code: as for run.
";
