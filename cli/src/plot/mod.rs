//! `cgbox plot TRACE -o FILE.svg`: a trace of `cgbox run --trace` as one
//! self-contained SVG (no dependency: the SVG is plain text).
//!
//! Panels, top to bottom, each only where the trace has the statistic:
//! memory (`memory.current`, the `memory.peak` high-water mark, the
//! `memory.max` and `memory.high` limits, OOM kills and `memory.high`
//! hits), CPU (use as a share of one core, averaged over each interval,
//! the `cpu.max` line and a right axis in percent of it, throttled spans
//! shaded), processes (`pids.current` against `pids.max`, refused forks)
//! and pressure (the share of each interval in which some task stalled, for
//! CPU, memory and I/O).

mod model;
mod panels;
mod scale;
mod svg;
mod words;

use std::io::Write;
use std::path::PathBuf;

use crate::args::{Arg, Lexer, Step};
use crate::usage_error;

const HELP: &str = "\
usage: cgbox plot TRACE -o FILE.svg

Draw a trace written by cgbox run --trace TRACE as one self-contained SVG
that a browser shows: memory over time against memory.max and memory.high,
CPU use in CPUs and as a share of cpu.max with throttling shaded, processes
against pids.max, pressure, and markers for OOM kills, memory.high hits and
refused forks. The title says what ran and how it ended.

  -o, --output FILE   where the SVG goes (- for stdout)

exit code: 0 when drawn, 1 when the trace cannot be read (the line is named),
2 for wrong usage.
";

pub fn main(lex: Lexer) -> i32 {
    let (input, output) = match parse(lex) {
        Ok(Some(a)) => a,
        Ok(None) => return 0,
        Err(code) => return code,
    };
    let text = match std::fs::read(&input) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            errln!("cgbox: plot: {}: {e}", input.display());
            return 1;
        }
    };
    let trace = match model::Trace::parse(&text) {
        Ok(t) => t,
        Err(e) => {
            errln!("cgbox: plot: {}: {e}", input.display());
            return 1;
        }
    };
    for w in &trace.warnings {
        errln!("cgbox: plot: {}: {w}", input.display());
    }
    let svg = svg::render(&trace, &panels::panels(&trace));
    let written = if output.as_os_str() == "-" {
        std::io::stdout().write_all(svg.as_bytes())
    } else {
        std::fs::write(&output, svg.as_bytes())
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            errln!("cgbox: plot: write {}: {e}", output.display());
            1
        }
    }
}

/// The trace and the output; `None` when help was printed.
fn parse(mut lex: Lexer) -> Result<Option<(PathBuf, PathBuf)>, i32> {
    let (mut input, mut output) = (None, None);
    loop {
        match lex.step("plot", HELP) {
            Step::End => break,
            Step::Exit(0) => return Ok(None),
            Step::Exit(code) => return Err(code),
            Step::Arg(Arg::Short('o')) => output = Some(value(&mut lex, "-o")?),
            Step::Arg(Arg::Long(l)) if l == "output" => output = Some(value(&mut lex, "--output")?),
            Step::Arg(Arg::Word(w)) if input.is_none() => input = Some(PathBuf::from(w)),
            Step::Arg(other) => {
                return Err(usage_error(&format!(
                    "plot: unexpected {}",
                    other.describe()
                )));
            }
        }
    }
    match (input, output) {
        (Some(i), Some(o)) => Ok(Some((i, o))),
        (None, _) => Err(usage_error(
            "plot: give the TRACE file (cgbox plot TRACE -o FILE.svg)",
        )),
        (_, None) => Err(usage_error(
            "plot: give the output: -o FILE.svg (- for stdout)",
        )),
    }
}

fn value(lex: &mut Lexer, option: &str) -> Result<PathBuf, i32> {
    lex.file(option)
        .map(PathBuf::from)
        .map_err(|e| usage_error(&format!("plot: {e}")))
}
