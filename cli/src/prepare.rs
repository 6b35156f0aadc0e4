//! `cgbox prepare`: make the home of the boxes able to give them limits.

use std::time::Duration;

use cgbox::LEAF;
use cgbox::prepare;

use crate::args::{Arg, Lexer, Step};
use crate::context::{Context, report};
use crate::{Global, usage_error};

const HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] [--parent DIR] prepare [--leaf NAME]

Make the cgroup boxes go to (see cgbox inspect) able to give them limits: a
non-root cgroup that holds processes cannot enable controllers for its
children. prepare makes a leaf in it (init, or --leaf NAME), moves every
process there into the leaf (itself included; again and again until none
is left, since processes fork while being moved), then enables every
controller the cgroup is offered. What container entrypoints do by hand:

  ENTRYPOINT [\"sh\", \"-c\", \"cgbox prepare && exec my-agent\"]

Run twice, the second run changes nothing. Refused on the real root cgroup
(it needs nothing) and where boxes may not go (cgbox inspect says why).
Exit code 0 when the home is ready, 1 when not.
";

pub fn main(global: &Global, mut lex: Lexer) -> i32 {
    let mut leaf = LEAF.to_owned();
    loop {
        match lex.step("prepare", HELP) {
            Step::End => break,
            Step::Exit(code) => return code,
            Step::Arg(Arg::Long(l)) if l == "leaf" => match lex.value("--leaf") {
                Ok(v) => leaf = v,
                Err(e) => return usage_error(&format!("prepare: {e}")),
            },
            Step::Arg(other) => {
                return usage_error(&format!("prepare: unexpected {}", other.describe()));
            }
        }
    }
    let result = Context::new(global).and_then(|ctx| {
        let placement = ctx.placement()?;
        prepare(&*ctx.fs, &placement, &leaf, Duration::from_secs(10)).map(|p| (p, placement))
    });
    match result {
        Ok((done, placement)) => {
            if done.changed_nothing() {
                outln!("{} is ready: nothing to do", placement.home.display());
                return 0;
            }
            if done.made_leaf {
                outln!("made {}", done.leaf.display());
            }
            if !done.moved.is_empty() {
                let pids: Vec<String> = done.moved.iter().map(u32::to_string).collect();
                outln!(
                    "moved {} process(es) into {}: {}",
                    pids.len(),
                    done.leaf.display(),
                    pids.join(" ")
                );
            }
            if !done.enabled.is_empty() {
                outln!("enabled for boxes: {}", done.enabled.join(" "));
            }
            if !done.shown.is_empty() {
                outln!(
                    "shown in {}: {} (the limits above it)",
                    done.leaf.display(),
                    done.shown.join(" ")
                );
            }
            0
        }
        Err(e) => {
            report(&e);
            1
        }
    }
}
