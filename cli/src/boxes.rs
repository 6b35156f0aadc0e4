//! Long-lived boxes from the shell: `create`, `set`, `freeze`, `thaw`,
//! `move` (with `exec` in run/ and `kill` in kill.rs), the per-agent
//! pattern of the manager cgbox replaces.

use cgbox::fs::SysFs;
use cgbox::{BoxRef, Builder, DEFAULT_TIMEOUT, Limits, Policy};

use crate::args::{Arg, Lexer, Step};
use crate::context::{Context, report};
use crate::limit_args::{LIMIT_FLAGS, LIMITS_HELP};
use crate::stats::escape;
use crate::{Global, usage_error};

const CREATE_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] [--parent DIR] create NAME [LIMITS] [--best-effort]

Make a box that stays: no command runs in it yet, and it is kept (reap leaves
it alone) until cgbox kill NAME. Start commands in it with cgbox exec NAME,
move running processes in with cgbox move, change its limits with cgbox set.
Prints its path. Exit code 0 when it was made, 1 when not.
";

const SET_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] set NAME [LIMITS]

Change the limits of a live box. Limits not given stay as they are; max lifts
one. Everything is checked before anything is written; limits that loosen go
first, those that tighten last; if a write fails, what was changed is put
back. A limit below what the box uses now is said: memory.max under
memory.current (the kernel reclaims, and may OOM-kill), pids.max under
pids.current (no new process starts). Exit code 0 when set, 1 when not.
";

const FREEZE_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] freeze|thaw NAME [--timeout SECS]

Freeze every process of the box (or thaw it) and wait until the kernel says
it is done (cgroup.events). Exit code 0 when done, 1 when not (the timeout,
default 10 s, ran out: the error says what is still running).
";

const MOVE_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] move NAME PID...

Move running processes into the box (one write to its cgroup.procs each;
their threads follow). A box that passes controllers to the commands exec
started there may hold no process itself: they go to its leaf, NAME/init,
still under the box's limits. Exit code 0 when every one moved, 1 when not
(each failure is named).
";

/// Words, limit options and the given flags of a box command.
struct Parsed {
    words: Vec<String>,
    limits: Limits,
    flags: Vec<(String, Option<String>)>,
}

fn parse(
    mut lex: Lexer,
    command: &str,
    help: &str,
    flags: &[(&str, bool)],
    limits: bool,
) -> Result<Parsed, i32> {
    let mut out = Parsed {
        words: Vec::new(),
        limits: Limits::default(),
        flags: Vec::new(),
    };
    let full_help = if limits {
        format!("{help}\n{LIMITS_HELP}")
    } else {
        help.to_owned()
    };
    loop {
        match lex.step(command, &full_help) {
            Step::End => return Ok(out),
            Step::Exit(code) => return Err(code),
            Step::Arg(Arg::Word(w)) => out.words.push(w.to_string_lossy().into_owned()),
            Step::Arg(Arg::Long(l)) if limits && LIMIT_FLAGS.contains(&l.as_str()) => {
                if let Err(e) = crate::limit_args::parse(&l, &mut lex, &mut out.limits) {
                    return Err(usage_error(&format!("{command}: {e}")));
                }
            }
            Step::Arg(Arg::Long(l)) => match flags.iter().find(|(f, _)| *f == l) {
                Some((_, takes_value)) => {
                    let value = if *takes_value {
                        match lex.value(&format!("--{l}")) {
                            Ok(v) => Some(v),
                            Err(e) => return Err(usage_error(&format!("{command}: {e}"))),
                        }
                    } else {
                        None
                    };
                    out.flags.push((l, value));
                }
                None => return Err(usage_error(&format!("{command}: unexpected option --{l}"))),
            },
            Step::Arg(other) => {
                return Err(usage_error(&format!(
                    "{command}: unexpected {}",
                    other.describe()
                )));
            }
        }
    }
}

/// The one box NAME a command names.
fn one_name(p: &Parsed, command: &str) -> Result<String, i32> {
    match p.words.as_slice() {
        [name] => cgbox::fs::validate_name(name)
            .map(|()| name.clone())
            .map_err(|e| usage_error(&format!("{command}: {e}"))),
        _ => Err(usage_error(&format!(
            "{command}: give exactly one box NAME"
        ))),
    }
}

fn open(global: &Global, name: &str) -> cgbox::Result<BoxRef<SysFs>> {
    Context::new(global)?.open_box(name)
}

pub fn create_main(global: &Global, lex: Lexer) -> i32 {
    let p = match parse(lex, "create", CREATE_HELP, &[("best-effort", false)], true) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let name = match one_name(&p, "create") {
        Ok(n) => n,
        Err(code) => return code,
    };
    let policy = if p.flags.is_empty() {
        Policy::Strict
    } else {
        Policy::BestEffort
    };
    let made = Context::new(global).and_then(|ctx| {
        let app = ctx.app()?;
        Builder::new()
            .name(&name)
            .limits(p.limits.clone())
            .policy(policy)
            .create_in(&app)
    });
    match made {
        Ok(b) => {
            let path = b.keep();
            outln!("{}", path.display());
            0
        }
        Err(e) => {
            report(&e);
            1
        }
    }
}

pub fn set_main(global: &Global, lex: Lexer) -> i32 {
    let p = match parse(lex, "set", SET_HELP, &[], true) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let name = match one_name(&p, "set") {
        Ok(n) => n,
        Err(code) => return code,
    };
    if p.limits == Limits::default() {
        return usage_error("set: give the limits to change (see cgbox set --help)");
    }
    match open(global, &name).and_then(|b| b.set_limits(&p.limits)) {
        Ok(changed) => {
            for c in &changed.written {
                outln!("{}: {} -> {}", c.file, c.before, c.after);
            }
            for w in &changed.warnings {
                errln!("cgbox: warning: {}: {w}", escape(&name));
            }
            0
        }
        Err(e) => {
            report(&e);
            1
        }
    }
}

pub fn freeze_main(global: &Global, lex: Lexer, frozen: bool) -> i32 {
    let command = if frozen { "freeze" } else { "thaw" };
    let p = match parse(lex, command, FREEZE_HELP, &[("timeout", true)], false) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let name = match one_name(&p, command) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let timeout = match p.flags.first().and_then(|(_, v)| v.as_deref()) {
        None => DEFAULT_TIMEOUT,
        Some(v) => match crate::run::seconds("--timeout", v, true) {
            Ok(t) => t,
            Err(e) => return usage_error(&format!("{command}: {e}")),
        },
    };
    let done = open(global, &name).and_then(|mut b| {
        b.set_timeout(timeout);
        if frozen { b.freeze() } else { b.thaw() }
    });
    match done {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            1
        }
    }
}

pub fn move_main(global: &Global, lex: Lexer) -> i32 {
    let p = match parse(lex, "move", MOVE_HELP, &[], false) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some((name, pids)) = p.words.split_first() else {
        return usage_error("move: give a box NAME and the PIDs to move");
    };
    if pids.is_empty() {
        return usage_error("move: give the PIDs to move");
    }
    let mut parsed = Vec::new();
    for pid in pids {
        match crate::limit_args::whole("move", pid)
            .ok()
            .and_then(|p| u32::try_from(p).ok())
        {
            Some(p) if p > 0 => parsed.push(p),
            _ => return usage_error(&format!("move: {pid:?} is not a PID")),
        }
    }
    let b = match open(global, name) {
        Ok(b) => b,
        Err(e) => {
            report(&e);
            return 1;
        }
    };
    let mut code = 0;
    for pid in parsed {
        if let Err(e) = b.move_pid(pid) {
            report(&e);
            code = 1;
        }
    }
    code
}
