//! `cgbox`: a cgroup v2 box for every job, from the command line.
//!
//! See `cgbox --help`, and the contract in the README.

/// Like `println!`, but a closed stdout (a reader that left, as `| head`
/// does) is not a panic: the write fails quietly and the command goes on to
/// its own exit code.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Like `print!`, without the panic on a closed stdout.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// Like `eprintln!`, without the panic on a closed stderr.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod args;
mod boxes;
mod context;
mod events;
mod inspect;
mod json;
mod kill;
mod limit_args;
mod logger;
mod plot;
mod prepare;
mod run;
mod signals;
mod staged;
mod stats;
mod trace;
mod units;

use std::ffi::OsString;
use std::path::PathBuf;

use args::{Arg, Lexer};
use cgbox::fs::SysFs;

const USAGE: &str = "\
cgbox: a cgroup v2 box for every job

usage: cgbox [--root DIR] [--app NAME] [--parent DIR] [--no-systemd] <command> [options]

commands:
  inspect   where boxes would go here and why, and what they can be given
  prepare   move the processes of the home into a leaf so that boxes can get limits
  run       run a command in a new box with limits; nothing outlives it
  create    make a box that stays, for commands started later (exec, move)
  exec      start a command in a box that exists
  set       change the limits of a live box
  freeze    freeze a box's processes (thaw: let them go on)
  move      move running processes into a box
  stats     every statistic of a box or cgroup
  events    what happens in a box as it happens: OOM kills, limits hit, pressure
  list      the boxes of an app, and who holds them
  kill      kill a box's processes and remove it
  reap      remove boxes nobody holds (empty ones; with --orphans, orphans too)
  plot      draw a trace of run --trace as an SVG: memory, CPU, processes, pressure

global options:
  --root DIR     treat DIR as / (fixture trees; the cgroup2 check is off there)
  --app NAME     the subtree that holds the boxes: <home>/<app>/agents/<name> (default cgbox)
  --parent DIR   use the cgroup DIR as the home of the boxes (you vouch that it is
                 yours to manage); default: the cgroup delegated to this process
  --no-systemd   never talk to systemd over D-Bus: do not ask the user manager
                 whether a scope delegates, and do not ask for a scope of our own
  -h, --help   this help; `cgbox <command> --help` for a command's
  -V, --version
";

/// Exit code for wrong usage of commands other than `run`.
pub const EXIT_USAGE: i32 = 2;

/// What every command is given.
pub struct Global {
    pub root: Option<PathBuf>,
    pub app: String,
    pub parent: Option<PathBuf>,
    /// Ask systemd over D-Bus (the default on the live system).
    pub systemd: bool,
}

impl Global {
    /// Whether to talk to systemd: never under `--root` (a fixture tree).
    pub fn asks_systemd(&self) -> bool {
        self.systemd && self.root.is_none()
    }

    /// The backend: the live system, or a fixture tree under `--root`.
    pub fn fs(&self) -> cgbox::Result<SysFs> {
        match &self.root {
            Some(dir) => SysFs::rooted(dir),
            None => SysFs::new(),
        }
    }
}

fn main() {
    logger::init();
    std::process::exit(real_main(std::env::args_os().skip(1).collect()));
}

fn real_main(args: Vec<OsString>) -> i32 {
    // `run`'s contract: any failure before CMD runs is 125, global options
    // included.
    let usage_error = |message: &str| -> i32 {
        let code = usage_error(message);
        if args_name_run(&args) {
            EXIT_RUN_FAILED
        } else {
            code
        }
    };
    let mut lex = Lexer::new(args.clone());
    let mut global = Global {
        root: None,
        app: "cgbox".to_owned(),
        parent: None,
        systemd: true,
    };
    let command = loop {
        let arg = match lex.next_arg() {
            Ok(a) => a,
            Err(e) => return usage_error(&e),
        };
        match arg {
            Some(Arg::Long(l)) if l == "root" => match lex.value("--root") {
                Ok(v) => global.root = Some(PathBuf::from(v)),
                Err(e) => return usage_error(&e),
            },
            Some(Arg::Long(l)) if l == "app" => match lex.value("--app") {
                Ok(v) => {
                    if let Err(e) = cgbox::fs::validate_name(&v) {
                        return usage_error(&format!("--app: {e}"));
                    }
                    global.app = v;
                }
                Err(e) => return usage_error(&e),
            },
            Some(Arg::Long(l)) if l == "parent" => match lex.value("--parent") {
                Ok(v) if v.starts_with('/') => global.parent = Some(PathBuf::from(v)),
                Ok(v) => return usage_error(&format!("--parent: {v:?} is not an absolute path")),
                Err(e) => return usage_error(&e),
            },
            Some(Arg::Long(l)) if l == "no-systemd" => global.systemd = false,
            Some(Arg::Long(l)) if l == "help" => {
                out!("{USAGE}");
                return 0;
            }
            Some(Arg::Short('h')) => {
                out!("{USAGE}");
                return 0;
            }
            Some(Arg::Long(l)) if l == "version" => {
                outln!("cgbox {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            Some(Arg::Short('V')) => {
                outln!("cgbox {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            Some(Arg::Word(w)) => break w.to_string_lossy().into_owned(),
            Some(other) => {
                return usage_error(&format!(
                    "unexpected {} before the command",
                    other.describe()
                ));
            }
            None => return usage_error("no command given"),
        }
    };
    match command.as_str() {
        "inspect" => inspect::main(&global, lex),
        "create" => boxes::create_main(&global, lex),
        "exec" => run::exec_main(&global, lex),
        "set" => boxes::set_main(&global, lex),
        "freeze" => boxes::freeze_main(&global, lex, true),
        "thaw" => boxes::freeze_main(&global, lex, false),
        "move" => boxes::move_main(&global, lex),
        "prepare" => prepare::main(&global, lex),
        "run" => run::main(&global, lex),
        "stats" => stats::stats_main(&global, lex),
        "events" => events::main(&global, lex),
        "list" => stats::list_main(&global, lex),
        "kill" => kill::kill_main(&global, lex),
        "reap" => kill::reap_main(&global, lex),
        "plot" => plot::main(lex),
        other => usage_error(&format!("unknown command {other:?}")),
    }
}

/// `run`'s code for a failure before the command ran.
const EXIT_RUN_FAILED: i32 = 125;

/// Whether the command line names `run` (before any `--`).
fn args_name_run(args: &[OsString]) -> bool {
    args.iter()
        .take_while(|a| a.as_os_str() != "--")
        .any(|a| a.as_os_str() == "run" || a.as_os_str() == "exec")
}

/// Print a usage error and return the usage exit code.
pub fn usage_error(message: &str) -> i32 {
    errln!("cgbox: {message}\n(see cgbox --help)");
    EXIT_USAGE
}
