//! `cgbox run`'s options, checked before anything is looked at or made.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use cgbox::limits::{IoMax, Limits, Size};

use crate::args::{Arg, Lexer};
use crate::signals;

pub const HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] [--parent DIR] [--no-systemd] run [LIMITS]
                 [--name NAME] [--timeout SECS] [--signal SIG] [--kill-after SECS]
                 [--best-effort] [--report FILE] [--quiet] -- CMD [ARGS...]

Run CMD already inside a new box at <home>/<app>/agents/<name> (see cgbox
inspect for the home), wait for it, kill whatever it left running, print a
summary on stderr and remove the box. In a systemd unit that does not
delegate, cgbox first asks systemd for a scope of its own with Delegate=yes
(--no-systemd: refuse instead).

limits:
  --memory SIZE        memory.max        (SIZE: bytes with K, M, G or T, or max; at least 1M)
  --memory-high SIZE   memory.high       (at least 1M)
  --swap SIZE          memory.swap.max
  --cpus FRACTION      cpu.max over a 100 ms period (1.5 = one and a half CPUs)
  --cpu-weight N       cpu.weight, 1 to 10000
  --pids N             pids.max (or max)
  --cpuset LIST        cpuset.cpus, such as 0-3,6
  --io-max 'MAJ:MIN rbps=N wbps=N riops=N wiops=N'   io.max (repeatable, one per device)
  --io-weight N        io.weight, 1 to 10000

options:
  --name NAME        the box's name (default: a UUID v4); letters, digits, '-', '_', '.'
  --timeout SECS     stop the command after SECS seconds (exit code 124)
  --signal SIG       how to stop it, at --timeout: first this signal to every process
                     in the box (default TERM); when cgbox itself is interrupted
                     (INT, TERM, HUP, QUIT) it passes on the signal it received
  --kill-after SECS  then, if anything still runs, kill the box (default 5; 0: at once)
  --best-effort      warn about limits that cannot be applied and run anyway
  --report FILE      write what happened as JSON (for every outcome, 125 to 127
                     included): {\"name\", \"path\", \"status\", \"exit_code\", \"signal\",
                     \"timed_out\", \"interrupted_by\", \"stop_signal\", \"killed\",
                     \"wall_ms\", \"skipped\", \"error\", \"stats\": {...}}
  --quiet            no summary on stderr

exit code: CMD's, 128+N when CMD died of signal N, 124 on --timeout, 128+N
when cgbox was interrupted by signal N and had to kill CMD, 125 when cgbox
failed before CMD ran, 126 when CMD could not be executed (no permission, a
bad interpreter), 127 when CMD was not found. Signals cgbox's caller ignored
stay ignored for CMD too.
";

/// How long a stopped command gets before its box is killed.
pub const DEFAULT_KILL_AFTER: Duration = Duration::from_secs(5);

pub struct RunArgs {
    pub limits: Limits,
    pub name: Option<String>,
    pub timeout: Option<Duration>,
    pub signal: i32,
    pub kill_after: Duration,
    pub best_effort: bool,
    pub report: Option<PathBuf>,
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

/// A whole number as the kernel prints it, with what is wrong said.
pub fn whole(flag: &str, v: &str) -> Result<u64, String> {
    if let Some(n) = cgbox::parse::value::parse_u64(v) {
        return Ok(n);
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{flag}: {v} is too large"));
    }
    Err(format!("{flag}: {v:?} is not a whole number"))
}

pub fn parse(mut lex: Lexer) -> Result<Parsed, String> {
    let mut a = RunArgs {
        limits: Limits::default(),
        name: None,
        timeout: None,
        signal: signals::SIGTERM,
        kill_after: DEFAULT_KILL_AFTER,
        best_effort: false,
        report: None,
        quiet: false,
        command: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    let size = |lex: &mut Lexer, flag: &str| -> Result<Size, String> {
        let v = lex.value(flag)?;
        Size::parse(&v).map_err(|e| format!("{flag}: {e}"))
    };
    loop {
        let arg = lex.next_arg()?;
        let flag = match arg {
            None => return Err("no command given: cgbox run [LIMITS] -- CMD [ARGS...]".into()),
            Some(Arg::DashDash) => break,
            Some(Arg::Word(_)) => {
                return Err("put -- before the command: cgbox run [LIMITS] -- CMD".into());
            }
            Some(Arg::Short('h')) => return Ok(Parsed::Help),
            Some(Arg::Long(flag)) => flag,
            Some(other) => {
                return Err(format!(
                    "unexpected {} (see cgbox run --help)",
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
        match flag.as_str() {
            "help" => return Ok(Parsed::Help),
            "memory" => a.limits.memory_max = Some(size(&mut lex, &dashed)?),
            "memory-high" => a.limits.memory_high = Some(size(&mut lex, &dashed)?),
            "swap" => a.limits.memory_swap_max = Some(size(&mut lex, &dashed)?),
            "cpus" => {
                let v = lex.value(&dashed)?;
                let cpus: f64 = v
                    .parse()
                    .map_err(|_| format!("--cpus: {v:?} is not a number"))?;
                a.limits.cpus = Some(cpus);
            }
            "cpu-weight" => a.limits.cpu_weight = Some(whole(&dashed, &lex.value(&dashed)?)?),
            "pids" => {
                let v = lex.value(&dashed)?;
                a.limits.pids_max = Some(if v == "max" {
                    None
                } else {
                    Some(whole(&dashed, &v).map_err(|e| format!("{e} (or max)"))?)
                });
            }
            "cpuset" => a.limits.cpuset_cpus = Some(lex.value(&dashed)?),
            "io-max" => {
                let v = lex.value(&dashed)?;
                let io = IoMax::parse(&v).map_err(|e| format!("--io-max: {e}"))?;
                if a.limits
                    .io_max
                    .iter()
                    .any(|o| (o.major, o.minor) == (io.major, io.minor))
                {
                    return Err(format!(
                        "--io-max: device {}:{} is given twice",
                        io.major, io.minor
                    ));
                }
                a.limits.io_max.push(io);
            }
            "io-weight" => a.limits.io_weight = Some(whole(&dashed, &lex.value(&dashed)?)?),
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
            "report" => a.report = Some(PathBuf::from(lex.value(&dashed)?)),
            "quiet" => a.quiet = true,
            other => return Err(format!("unknown option --{other} (see cgbox run --help)")),
        }
    }
    a.command = lex.rest();
    if a.command.is_empty() {
        return Err("no command after --".into());
    }
    Ok(Parsed::Run(Box::new(a)))
}
