//! `cgbox run`: a command in a new box; nothing outlives it.

mod args;
mod program;
mod report;
mod stop;

pub use args::seconds;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use cgbox::BoxCommand;
use cgbox::fs::{CgroupFs, SysFs};
use cgbox::{Builder, JobBox, Policy};

use crate::Global;
use crate::args::Lexer;
use crate::context::{Context, report};
use crate::signals::Signals;
use crate::trace::{self, TraceFile, Tracer};
use args::{EXEC_HELP, HELP_HEAD, HELP_TAIL, Mode, Parsed, RunArgs};
use program::{EXIT_FAILED, exec_failure, exec_message};
use report::{Facts, ReportFile};
use stop::{Outcome, Stopping, Trace};

/// `cgbox exec`: CMD in a box that exists.
pub fn exec_main(global: &Global, lex: Lexer) -> i32 {
    main_in(global, lex, Mode::Exec)
}

pub fn main(global: &Global, lex: Lexer) -> i32 {
    main_in(global, lex, Mode::Run)
}

fn main_in(global: &Global, lex: Lexer, mode: Mode) -> i32 {
    // First of all: from here until the box is gone, no terminating signal
    // can end cgbox with a box left behind.
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => {
            errln!("cgbox: block signals: {e}");
            return EXIT_FAILED;
        }
    };
    let args = match args::parse(lex, mode) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) if mode == Mode::Exec => {
            out!("{EXEC_HELP}");
            return 0;
        }
        Ok(Parsed::Help) => {
            out!("{HELP_HEAD}{}{HELP_TAIL}", crate::limit_args::LIMITS_HELP);
            return 0;
        }
        Err(e) => {
            errln!(
                "cgbox: {}: {e}",
                if mode == Mode::Exec { "exec" } else { "run" }
            );
            return EXIT_FAILED;
        }
    };
    let report = match args.report.as_deref().map(ReportFile::prepare).transpose() {
        Ok(r) => r,
        Err(e) => {
            errln!("cgbox: {e}");
            return EXIT_FAILED;
        }
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let (code, fatal) = run(global, &args, &signals, Reporter { name, report });
    drop(signals);
    if let Some(sig) = fatal {
        // The signal was taken from the signalfd: send it again, now that
        // the box is gone and the mask is back, and end of it as it would
        // have ended cgbox.
        let _ = rustix::process::kill_process(
            rustix::process::getpid(),
            rustix::process::Signal::from_named_raw(sig).unwrap_or(rustix::process::Signal::TERM),
        );
    }
    code
}

/// Writes the report, once, whatever the outcome.
struct Reporter {
    name: String,
    report: Option<ReportFile>,
}

impl Reporter {
    fn commit(&mut self, facts: Facts<'_>) {
        if let Some(file) = self.report.take()
            && let Err(e) = file.commit(&report::Report::of(&facts))
        {
            errln!("cgbox: {e}");
        }
    }

    /// End before CMD ran (or could): say why, report it, return `code`.
    fn fail(&mut self, code: i32, message: &str, path: Option<&str>) -> i32 {
        errln!("cgbox: {message}");
        let name = self.name.clone();
        self.commit(Facts {
            judged: None,
            oom_cgroup: None,
            name: &name,
            path,
            status: code,
            outcome: None,
            wall: Duration::ZERO,
            skipped: &[],
            error: Some(message.to_owned()),
            stats: None,
        });
        code
    }
}

/// The run itself: the exit code, and a signal to end of afterwards.
fn run(
    global: &Global,
    args: &RunArgs,
    signals: &Signals,
    mut rep: Reporter,
) -> (i32, Option<i32>) {
    // Bad limits are refused before anything is looked at or made.
    if let Err(e) = args.limits.files() {
        return (rep.fail(EXIT_FAILED, &e.to_string(), None), None);
    }
    let trace_file = match args.trace.as_deref().map(TraceFile::prepare).transpose() {
        Ok(t) => t,
        Err(e) => return (rep.fail(EXIT_FAILED, &e, None), None),
    };
    let Some((cmd, cmd_args)) = args.command.split_first() else {
        return (
            rep.fail(EXIT_FAILED, "run: no command after --", None),
            None,
        );
    };
    let program = match program::find(cmd) {
        Ok(p) => p,
        Err(e) => return (rep.fail(e.code, &e.message, None), None),
    };
    let ctx = match Context::new(global) {
        Ok(c) => c,
        Err(e) => return (rep.fail(EXIT_FAILED, &e.to_string(), None), None),
    };
    let app = match open_app(&ctx, args, &rep.name) {
        Ok(a) => a,
        Err(e) => return (rep.fail(EXIT_FAILED, &e.to_string(), None), None),
    };
    let builder = Builder::new()
        .name(&rep.name)
        .limits(args.limits.clone())
        .policy(if args.best_effort {
            Policy::BestEffort
        } else {
            Policy::Strict
        });
    let jb = match builder.create_in(&app) {
        Ok(b) => b,
        Err(e) => {
            let mut message = e.to_string();
            if e.kind() == cgbox::ErrorKind::ControllerUnavailable {
                message.push_str("\ncgbox: --best-effort runs the command without the limits that cannot be applied");
            }
            return (rep.fail(EXIT_FAILED, &message, None), None);
        }
    };
    let rel = ctx.relative(jb.path());
    // Asked to stop while the box was being made: CMD never starts.
    if let Some(sig) = signals.take() {
        let code = rep.fail(
            128 + sig,
            &format!(
                "interrupted by {} before the command started",
                crate::signals::name(sig)
            ),
            Some(&rel),
        );
        end_box(jb);
        return (
            code,
            (!crate::signals::STOP_SIGNALS.contains(&sig)).then_some(sig),
        );
    }

    let mut tracer = match trace_file.map(|f| start_trace(&ctx, &jb, &rel, args, f)) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            let code = rep.fail(EXIT_FAILED, &e, Some(&rel));
            end_box(jb);
            return (code, None);
        }
    };

    // The counters the outcome is measured from (a new box: all zero; a
    // box inside a long-lived one for exec: the same).
    let tally = jb
        .tally()
        .map_err(|e| log::debug!("no outcome for {}: {e}", jb.name()))
        .ok();
    let start = Instant::now();
    let mut command = BoxCommand::new(&program);
    // CMD must not inherit the signals cgbox blocks for itself.
    command.arg0(cmd).args(cmd_args).unblock_signals();
    if args.cgroupns {
        command.cgroup_namespace();
    }
    let mut child = match jb.start(&command) {
        Ok(c) => c,
        Err(e) => {
            // EPERM with --cgroupns: no CAP_SYS_ADMIN for the namespace;
            // CMD never ran, so it is cgbox's failure.
            let code = if args.cgroupns && e.errno() == Some(rustix::io::Errno::PERM.raw_os_error())
            {
                EXIT_FAILED
            } else {
                exec_failure(e.errno())
            };
            let message = exec_message(&program, e.errno()).unwrap_or_else(|| e.to_string());
            let code = rep.fail(code, &message, Some(&rel));
            end_box(jb);
            return (code, None);
        }
    };
    let how = Stopping {
        deadline: args.timeout.map(|t| start + t),
        signal: args.signal,
        kill_after: args.kill_after,
    };
    let outcome = match stop::wait(&mut child, &jb, signals, &how, tracer.as_mut()) {
        Ok(o) => o,
        Err(e) => {
            errln!("cgbox: wait for the command: {e}");
            let _ = jb.kill();
            Outcome {
                status: child.wait().ok(),
                ..Outcome::default()
            }
        }
    };
    if let Some(t) = tracer {
        let status = outcome.status;
        t.finish(&trace::End {
            status: report::exit_code(&outcome),
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            timed_out: outcome.timed_out,
            killed: outcome.killed,
        });
    }
    // Why it ended, read before anything else is killed.
    let judged = match (&tally, outcome.status) {
        (Some(t), Some(status)) => jb
            .outcome(t, status, stop::stop_of(&outcome, &how))
            .map_err(|e| log::debug!("no outcome for {}: {e}", jb.name()))
            .ok(),
        _ => None,
    };
    // Nothing outlives the command (exec: with --kill-rest): kill what is left.
    if (args.mode == Mode::Run || args.kill_rest)
        && let Err(e) = jb.kill()
    {
        report(&e);
    }
    let wall = start.elapsed();
    let stats = jb.stats();
    let stats = match &stats {
        Ok(s) => Some(s),
        Err(e) if e.kind() == cgbox::ErrorKind::NotFound => None,
        Err(e) => {
            report(e);
            None
        }
    };
    let code = report::exit_code(&outcome);
    if !args.quiet {
        let mut line = report::summary(jb.name(), &outcome, judged.as_ref(), wall, stats);
        if let Some(hint) = stats.and_then(|s| report::suggestion(&args.limits, s, wall)) {
            line.push_str("; ");
            line.push_str(&hint);
        }
        errln!("{line}");
    }
    let name = rep.name.clone();
    rep.commit(Facts {
        name: &name,
        path: Some(&rel),
        status: code,
        outcome: Some(&outcome),
        judged: judged.as_ref(),
        oom_cgroup: judged.as_ref().and_then(|j| match &j.cause {
            cgbox::Cause::OomKilled {
                cgroup: Some(c), ..
            } => Some(ctx.relative(c)),
            _ => None,
        }),
        wall,
        skipped: jb.skipped(),
        error: None,
        stats,
    });
    // exec leaves what CMD left running in the box, unless --kill-rest.
    let leftovers = args.mode == Mode::Exec && !args.kill_rest && outcome.stop_signal.is_none();
    if leftovers && jb.is_populated().unwrap_or(false) {
        errln!(
            "cgbox: {}: CMD left processes running; they stay in the box (--kill-rest ends them)",
            jb.name()
        );
        let _ = jb.keep();
    } else {
        end_box(jb);
    }
    (code, outcome.fatal)
}

/// Open the trace of the box and write its first line; CMD starts next.
fn start_trace(
    ctx: &Context,
    jb: &JobBox<SysFs>,
    rel: &str,
    args: &RunArgs,
    file: TraceFile,
) -> Result<Trace, String> {
    let dir = ctx
        .fs
        .open_dir(jb.path())
        .map_err(|e| format!("--trace: {e}"))?;
    let header = trace::Header {
        name: jb.name(),
        path: rel,
        command: &args.command,
        every: args.trace_every.unwrap_or(trace::DEFAULT_EVERY),
    };
    let mut t = Tracer::new(ctx.fs.clone(), &dir, file, &header)?;
    t.begin()?;
    Ok(t)
}

/// The app the box for CMD goes into: for run, at the home of this
/// process's boxes (in a systemd unit that does not delegate, after moving
/// into a scope systemd delegates, unless `--no-systemd`); for exec, inside
/// the box named on the command line.
fn open_app(ctx: &Context, args: &RunArgs, box_name: &str) -> cgbox::Result<cgbox::App<SysFs>> {
    match (&args.mode, &args.target) {
        (Mode::Exec, Some(target)) => ctx.open_box(target)?.nested(EXEC_APP),
        _ => ctx.open_for_run(box_name, args.quiet),
    }
}

/// The app, inside a box, of the commands `exec` starts there.
const EXEC_APP: &str = "exec";

/// Remove the box; a failure is reported (the exit code stays CMD's).
fn end_box(jb: JobBox<SysFs>) {
    if let Err(e) = jb.destroy() {
        report(&e);
    }
}
