//! `cgbox kill NAME` and `cgbox reap`.

use cgbox::JobBox;

use crate::args::{Arg, Lexer, Step};
use crate::context::{Context, report};
use crate::{Global, usage_error};

const KILL_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] kill NAME

Kill every process in the box NAME (and in cgroups below it), wait until it
is empty, and remove it. Exit code 0 when the box is gone, 1 when not.
";

const REAP_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] reap

Remove the empty boxes of --app left by runs that crashed; boxes that still
hold processes are listed and left alone (end them with cgbox kill NAME).
";

/// Parse a command that takes only `--help` and up to one word.
fn words(mut lex: Lexer, command: &str, help: &str) -> Result<Vec<String>, i32> {
    let mut out = Vec::new();
    loop {
        match lex.step(command, help) {
            Step::End => return Ok(out),
            Step::Exit(code) => return Err(code),
            Step::Arg(Arg::Word(w)) => out.push(w.to_string_lossy().into_owned()),
            Step::Arg(other) => {
                return Err(usage_error(&format!("{command}: unexpected {other:?}")));
            }
        }
    }
}

pub fn kill_main(global: &Global, lex: Lexer) -> i32 {
    let names = match words(lex, "kill", KILL_HELP) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let [name] = names.as_slice() else {
        return usage_error("kill: give exactly one box NAME");
    };
    let result = Context::new(global).and_then(|ctx| {
        let parent = ctx.parent()?.to_path_buf();
        JobBox::open_in(ctx.fs.clone(), &parent, &ctx.app, name)?.destroy()
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            1
        }
    }
}

pub fn reap_main(global: &Global, lex: Lexer) -> i32 {
    match words(lex, "reap", REAP_HELP) {
        Ok(w) if w.is_empty() => {}
        Ok(_) => return usage_error("reap takes no arguments"),
        Err(code) => return code,
    }
    let result = Context::new(global).and_then(|ctx| {
        let parent = ctx.parent()?.to_path_buf();
        cgbox::jobbox::reap(&*ctx.fs, &parent, &ctx.app, cgbox::jobbox::DEFAULT_TIMEOUT)
    });
    match result {
        Ok(r) => {
            for name in &r.removed {
                println!("removed {name}");
            }
            for name in &r.busy {
                println!("left {name}: processes still run in it (cgbox kill {name})");
            }
            if r.removed.is_empty() && r.busy.is_empty() {
                println!("nothing to reap");
            }
            0
        }
        Err(e) => {
            report(&e);
            1
        }
    }
}
