//! `cgbox run`: a command in a new box; nothing outlives it.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cgbox::limits::{IoMax, Limits, Size};
use cgbox::spawn::BoxCommand;
use cgbox::stats::Stats;
use cgbox::{Builder, Policy};

use crate::Global;
use crate::args::{Arg, Lexer};
use crate::context::{Context, report};
use crate::json::Json;
use crate::stats::stats_json;
use crate::units::{bytes, or_dash, usec};
use crate::wait::{Ended, SignalGuard, wait};

const HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] run [LIMITS] [--name NAME] [--timeout SECS]
                 [--best-effort] [--report FILE] [--quiet] -- CMD [ARGS...]

Run CMD already inside a new box at <parent>/<app>/agents/<name>, wait for it,
kill whatever it left running, print a summary on stderr and remove the box.

limits:
  --memory SIZE        memory.max        (SIZE: bytes with K, M, G or T, or max)
  --memory-high SIZE   memory.high
  --swap SIZE          memory.swap.max
  --cpus FRACTION      cpu.max over a 100 ms period (1.5 = one and a half CPUs)
  --cpu-weight N       cpu.weight, 1 to 10000
  --pids N             pids.max (or max)
  --cpuset LIST        cpuset.cpus, such as 0-3,6
  --io-max 'MAJ:MIN rbps=N wbps=N riops=N wiops=N'   io.max (repeatable)
  --io-weight N        io.weight, 1 to 10000

options:
  --name NAME      the box's name (default: a UUID v4)
  --timeout SECS   kill the box after SECS seconds (exit code 124)
  --best-effort    warn about limits that cannot be applied and run anyway
  --report FILE    write the summary as JSON: {\"name\", \"path\", \"exit_code\",
                   \"signal\", \"timed_out\", \"wall_ms\", \"stats\": {...}}
  --quiet          no summary on stderr

exit code: CMD's, 128+N when CMD died of signal N, 124 on --timeout,
125 when cgbox failed before CMD ran, 126 when CMD could not be executed,
127 when CMD was not found.
";

const EXIT_FAILED: i32 = 125;
const EXIT_CANNOT_EXECUTE: i32 = 126;
const EXIT_NOT_FOUND: i32 = 127;
const EXIT_TIMED_OUT: i32 = 124;

struct RunArgs {
    limits: Limits,
    name: Option<String>,
    timeout: Option<Duration>,
    best_effort: bool,
    report: Option<PathBuf>,
    quiet: bool,
    command: Vec<OsString>,
}

enum Parsed {
    Run(Box<RunArgs>),
    Help,
}

fn parse(mut lex: Lexer) -> Result<Parsed, String> {
    let mut a = RunArgs {
        limits: Limits::default(),
        name: None,
        timeout: None,
        best_effort: false,
        report: None,
        quiet: false,
        command: Vec::new(),
    };
    let size = |lex: &mut Lexer, flag: &str| -> Result<Size, String> {
        let v = lex.value(flag)?;
        Size::parse(&v).map_err(|e| format!("{flag}: {e}"))
    };
    let number = |lex: &mut Lexer, flag: &str| -> Result<u64, String> {
        let v = lex.value(flag)?;
        cgbox::parse::value::parse_u64(&v)
            .ok_or_else(|| format!("{flag}: {v:?} is not a whole number"))
    };
    loop {
        let arg = lex.next_arg()?;
        match arg {
            None => return Err("no command given: cgbox run [LIMITS] -- CMD [ARGS...]".into()),
            Some(Arg::DashDash) => break,
            Some(Arg::Word(_)) => {
                return Err("put -- before the command: cgbox run [LIMITS] -- CMD".into());
            }
            Some(Arg::Short('h')) => return Ok(Parsed::Help),
            Some(Arg::Long(flag)) => match flag.as_str() {
                "help" => return Ok(Parsed::Help),
                "memory" => a.limits.memory_max = Some(size(&mut lex, "--memory")?),
                "memory-high" => a.limits.memory_high = Some(size(&mut lex, "--memory-high")?),
                "swap" => a.limits.memory_swap_max = Some(size(&mut lex, "--swap")?),
                "cpus" => {
                    let v = lex.value("--cpus")?;
                    let cpus: f64 = v
                        .parse()
                        .map_err(|_| format!("--cpus: {v:?} is not a number"))?;
                    a.limits.cpus = Some(cpus);
                }
                "cpu-weight" => a.limits.cpu_weight = Some(number(&mut lex, "--cpu-weight")?),
                "pids" => {
                    let v = lex.value("--pids")?;
                    a.limits.pids_max =
                        Some(if v == "max" {
                            None
                        } else {
                            Some(cgbox::parse::value::parse_u64(&v).ok_or_else(|| {
                                format!("--pids: {v:?} is not a whole number or max")
                            })?)
                        });
                }
                "cpuset" => a.limits.cpuset_cpus = Some(lex.value("--cpuset")?),
                "io-max" => {
                    let v = lex.value("--io-max")?;
                    a.limits
                        .io_max
                        .push(IoMax::parse(&v).map_err(|e| format!("--io-max: {e}"))?);
                }
                "io-weight" => a.limits.io_weight = Some(number(&mut lex, "--io-weight")?),
                "name" => a.name = Some(lex.value("--name")?),
                "timeout" => {
                    let v = lex.value("--timeout")?;
                    match v.parse::<f64>() {
                        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => {
                            a.timeout = Some(Duration::from_secs_f64(s))
                        }
                        _ => {
                            return Err(format!(
                                "--timeout: {v:?} is not a positive number of seconds"
                            ));
                        }
                    }
                }
                "best-effort" => a.best_effort = true,
                "report" => a.report = Some(PathBuf::from(lex.value("--report")?)),
                "quiet" => a.quiet = true,
                other => return Err(format!("unknown option --{other} (see cgbox run --help)")),
            },
            Some(other) => return Err(format!("unexpected {other:?} (see cgbox run --help)")),
        }
    }
    a.command = lex.rest();
    if a.command.is_empty() {
        return Err("no command after --".into());
    }
    Ok(Parsed::Run(Box::new(a)))
}

/// Look `program` up as `execvp` would, so that "not found" is told apart
/// from every other failure.
fn find_program(program: &OsString) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let path = Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return path.exists().then(|| path.to_path_buf());
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let found = std::env::split_paths(&search)
        .map(|dir| dir.join(program))
        .find(|p| is_exec(p));
    found.or_else(|| {
        std::env::split_paths(&search)
            .map(|dir| dir.join(program))
            .find(|p| p.exists())
    })
}

pub fn main(global: &Global, lex: Lexer) -> i32 {
    let args = match parse(lex) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return 0;
        }
        Err(e) => {
            eprintln!("cgbox: run: {e}");
            return EXIT_FAILED;
        }
    };
    // Bad limits are refused before anything is looked at or made.
    if let Err(e) = args.limits.writes() {
        report(&e);
        return EXIT_FAILED;
    }
    let Some((name, rest)) = args.command.split_first() else {
        eprintln!("cgbox: run: no command after --");
        return EXIT_FAILED;
    };
    let Some(program) = find_program(name) else {
        eprintln!("cgbox: {}: command not found", name.to_string_lossy());
        return EXIT_NOT_FOUND;
    };
    let ctx = match Context::new(global) {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            return EXIT_FAILED;
        }
    };
    let parent = match ctx.parent() {
        Ok(p) => p.to_path_buf(),
        Err(e) => {
            report(&e);
            return EXIT_FAILED;
        }
    };
    let mut builder = Builder::new()
        .app(&ctx.app)
        .parent(parent)
        .limits(args.limits.clone())
        .policy(if args.best_effort {
            Policy::BestEffort
        } else {
            Policy::Strict
        });
    if let Some(name) = &args.name {
        builder = builder.name(name);
    }
    let jb = match builder.create(ctx.fs.clone()) {
        Ok(b) => b,
        Err(e) => {
            report(&e);
            if e.kind() == cgbox::ErrorKind::ControllerUnavailable {
                for problem in &ctx.discovery.problems {
                    eprintln!("cgbox: on this host: {problem}");
                }
                eprintln!(
                    "cgbox: --best-effort runs the command without the limits that cannot be applied"
                );
            }
            return EXIT_FAILED;
        }
    };
    let guard = match SignalGuard::install() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cgbox: catch signals: {e}");
            return end_box(jb, EXIT_FAILED);
        }
    };

    let start = Instant::now();
    let mut command = BoxCommand::new(&program);
    command.arg0(name).args(rest);
    let mut child = match jb.start(&command) {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            use rustix::io::Errno;
            let code = match e.errno().map(Errno::from_raw_os_error) {
                Some(Errno::NOENT) => EXIT_NOT_FOUND,
                Some(
                    Errno::ACCESS | Errno::NOEXEC | Errno::ISDIR | Errno::PERM | Errno::TXTBSY,
                ) => EXIT_CANNOT_EXECUTE,
                _ => EXIT_FAILED,
            };
            return end_box(jb, code);
        }
    };
    let deadline = args.timeout.map(|t| start + t);
    let ended = wait(&mut child, deadline, &guard);
    let (status, timed_out, interrupted) = match ended {
        Ok(Ended::Exited(status)) => (Some(status), false, None),
        Ok(Ended::TimedOut) => (None, true, None),
        Ok(Ended::Interrupted(sig)) => (None, false, Some(sig)),
        Err(e) => {
            eprintln!("cgbox: wait for the command: {e}");
            (None, false, None)
        }
    };
    // Nothing outlives the command: kill what is left, then reap it.
    if let Err(e) = jb.kill() {
        report(&e);
    }
    let status = match status {
        Some(s) => Some(s),
        None => child.wait().ok(),
    };
    let wall = start.elapsed();
    let stats = jb.stats();
    drop(guard);

    let exit_code = status.and_then(|s| s.code());
    let signal = status.and_then(|s| s.signal());
    let code = if timed_out {
        EXIT_TIMED_OUT
    } else if let Some(sig) = interrupted {
        128 + sig
    } else if let Some(c) = exit_code {
        c
    } else if let Some(sig) = signal {
        128 + sig
    } else {
        EXIT_FAILED
    };
    let rel = ctx.relative(jb.path());
    match &stats {
        Ok(s) => {
            if !args.quiet {
                eprintln!(
                    "{}",
                    summary(jb.name(), exit_code, signal, timed_out, wall, s)
                );
            }
            if let Some(file) = &args.report {
                let json = report_json(jb.name(), &rel, exit_code, signal, timed_out, wall, s);
                if let Err(e) = std::fs::write(file, json.render() + "\n") {
                    eprintln!("cgbox: write report {}: {e}", file.display());
                }
            }
        }
        Err(e) if e.kind() == cgbox::ErrorKind::NotFound => {
            eprintln!(
                "cgbox: {}: the box was removed from outside; no statistics",
                jb.name()
            );
        }
        Err(e) => report(e),
    }
    end_box(jb, code)
}

/// Remove the box; a failure is reported but the command's code is kept.
fn end_box(jb: cgbox::JobBox<cgbox::fs::SysFs>, code: i32) -> i32 {
    if let Err(e) = jb.destroy() {
        report(&e);
    }
    code
}

fn summary(
    name: &str,
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    wall: Duration,
    s: &Stats,
) -> String {
    let ended = match (timed_out, code, signal) {
        (true, _, _) => "timed out".to_owned(),
        (_, Some(c), _) => format!("exit {c}"),
        (_, _, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".to_owned(),
    };
    let throttled = match (s.nr_throttled(), s.key("cpu.stat", "nr_periods")) {
        (Some(n), Some(p)) => format!("{n} of {p} periods ({})", or_dash(s.throttled_usec(), usec)),
        _ => "-".into(),
    };
    format!(
        "cgbox: {name}: {ended}, wall {}, cpu {} (user {}, system {}), peak memory {}, peak pids {}, oom kills {}, throttled {throttled}",
        usec(wall.as_micros().try_into().unwrap_or(u64::MAX)),
        or_dash(s.cpu_usage_usec(), usec),
        or_dash(s.key("cpu.stat", "user_usec"), usec),
        or_dash(s.key("cpu.stat", "system_usec"), usec),
        or_dash(s.memory_peak(), bytes),
        or_dash(s.pids_peak(), |v| v.to_string()),
        or_dash(s.oom_kills(), |v| v.to_string()),
    )
}

fn report_json(
    name: &str,
    rel: &str,
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    wall: Duration,
    s: &Stats,
) -> Json {
    Json::object()
        .with("name", name)
        .with("path", rel)
        .with("exit_code", code.map(i64::from))
        .with("signal", signal.map(i64::from))
        .with("timed_out", timed_out)
        .with(
            "wall_ms",
            u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
        )
        .with("stats", stats_json(rel, s))
}
