//! `cgbox kill NAME` and `cgbox reap`.

use crate::args::{Arg, Lexer, Step};
use crate::context::{Context, report};
use crate::stats::escape;
use crate::{Global, usage_error};

const KILL_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] kill NAME

Kill every process in the box NAME (and in cgroups below it), wait until it
is empty, and remove it. Exit code 0 when the box is gone, 1 when not.
";

const REAP_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] reap [--orphans]

Remove the boxes of --app that nobody holds and that are empty (left by runs
that crashed). Boxes a live cgbox or program holds, and boxes kept on
purpose, are never touched. Orphans (nobody holds them, processes still run
in them) are listed; with --orphans they are killed and removed too.
Entries of agents/ that are not boxes are named and passed over.
Exit code 0 when every entry could be handled, 1 when not.
";

/// Parse a command that takes words and the given flags.
fn words(
    mut lex: Lexer,
    command: &str,
    help: &str,
    flags: &[&str],
) -> Result<(Vec<String>, Vec<String>), i32> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    loop {
        match lex.step(command, help) {
            Step::End => return Ok((out, seen)),
            Step::Exit(code) => return Err(code),
            Step::Arg(Arg::Word(w)) => out.push(w.to_string_lossy().into_owned()),
            Step::Arg(Arg::Long(l)) if flags.contains(&l.as_str()) => seen.push(l),
            Step::Arg(other) => {
                return Err(usage_error(&format!(
                    "{command}: unexpected {}",
                    other.describe()
                )));
            }
        }
    }
}

pub fn kill_main(global: &Global, lex: Lexer) -> i32 {
    let names = match words(lex, "kill", KILL_HELP, &[]) {
        Ok((n, _)) => n,
        Err(code) => return code,
    };
    let [name] = names.as_slice() else {
        return usage_error("kill: give exactly one box NAME");
    };
    let result = Context::new(global).and_then(|ctx| ctx.open_box(name)?.destroy());
    match result {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            1
        }
    }
}

pub fn reap_main(global: &Global, lex: Lexer) -> i32 {
    let orphans = match words(lex, "reap", REAP_HELP, &["orphans"]) {
        Ok((w, _)) if !w.is_empty() => return usage_error("reap takes no arguments"),
        Ok((_, flags)) => !flags.is_empty(),
        Err(code) => return code,
    };
    let result = Context::new(global).and_then(|ctx| match ctx.existing_app()? {
        Some(app) => app.reap(orphans, cgbox::DEFAULT_TIMEOUT),
        None => Ok(cgbox::Reaped::default()),
    });
    match result {
        Ok(r) => {
            for name in &r.removed {
                outln!("removed {}", escape(name));
            }
            for name in &r.killed {
                outln!("killed and removed orphan {}", escape(name));
            }
            for name in &r.orphans {
                outln!(
                    "left orphan {}: processes still run in it and nobody holds it (cgbox reap --orphans, or cgbox kill {})",
                    escape(name),
                    escape(name)
                );
            }
            for name in &r.owned {
                outln!("left {}: a live process owns it", escape(name));
            }
            for name in &r.young {
                println_young(name);
            }
            for name in &r.kept {
                outln!(
                    "left {}: kept on purpose (cgbox kill {} ends it)",
                    escape(name),
                    escape(name)
                );
            }
            for o in &r.odd {
                outln!("could not handle {}: {}", escape(&o.name), o.why);
            }
            let quiet = [
                &r.removed, &r.killed, &r.orphans, &r.owned, &r.kept, &r.young,
            ]
            .iter()
            .all(|v| v.is_empty());
            if quiet && r.odd.is_empty() {
                outln!("nothing to reap");
            }
            if r.odd.is_empty() { 0 } else { 1 }
        }
        Err(e) => {
            report(&e);
            1
        }
    }
}

fn println_young(name: &str) {
    outln!(
        "left {}: empty and made a moment ago (its maker is taking hold of it)",
        escape(name)
    );
}
