//! `cgbox events NAME`: a box's events as lines, from the library's
//! watcher (`BoxRef::events`), until the box is gone or cgbox is
//! interrupted.

use std::io::Write;
use std::os::fd::AsFd;
use std::time::Duration;

use cgbox::{Event, Events, Trigger};
use rustix::event::{PollFd, PollFlags, poll};
use serde::Serialize;

use crate::args::{Arg, Lexer, Step};
use crate::context::{Context, report};
use crate::signals::{self, Signals};
use crate::stats::escape;
use crate::{Global, usage_error};

const HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] events NAME [--json] [--trigger SPEC]...

Stream what happens in the box, one line each, until the box is gone or cgbox
is interrupted. The first line is the state the watching starts from; then
each change as the kernel reports it: populated, empty, frozen, thawed, oom
kill (processes the OOM killer killed), oom group kill (the whole box, with
memory.oom.group; not counted by Linux 5.10), memory.high exceeded,
memory.max reached, forks refused at pids.max, pressure (a PSI trigger
fired), gone (the box was removed: the last line).

  --json          one JSON object a line: {\"event\": \"oom_kill\", \"count\": 1}
  --trigger SPEC  add a PSI trigger, in the kernel's words after the resource
                  (microseconds): 'memory some 150000 2000000' is 150 ms of
                  stall of some task on memory within any 2 s. RESOURCE is
                  cpu, memory or io; some or full; the window 500 ms to 10 s,
                  a multiple of 2 s without CAP_SYS_RESOURCE. Repeatable.

Exit code 0 when the box is gone, or when cgbox was interrupted (SIGINT,
SIGTERM, SIGHUP, SIGQUIT: a stream being stopped is its normal end; the
signal is named on stderr); 1 when the box does not exist or the watching
failed (the library's error); 2 for wrong usage.
";

pub fn main(global: &Global, mut lex: Lexer) -> i32 {
    let (mut name, mut json, mut triggers) = (None, false, Vec::<Trigger>::new());
    loop {
        match lex.step("events", HELP) {
            Step::End => break,
            Step::Exit(code) => return code,
            Step::Arg(Arg::Word(w)) if name.is_none() => {
                name = Some(w.to_string_lossy().into_owned());
            }
            Step::Arg(Arg::Long(l)) if l == "json" => json = true,
            Step::Arg(Arg::Long(l)) if l == "trigger" => {
                match lex
                    .value("--trigger")
                    .and_then(|v| v.parse().map_err(|e| format!("--trigger: {e}")))
                {
                    Ok(t) => triggers.push(t),
                    Err(e) => return usage_error(&format!("events: {e}")),
                }
            }
            Step::Arg(other) => {
                return usage_error(&format!("events: unexpected {}", other.describe()));
            }
        }
    }
    let Some(name) = name else {
        return usage_error("events: give the box NAME");
    };
    if let Err(e) = cgbox::fs::validate_name(&name) {
        return usage_error(&format!("events: {e}"));
    }
    // The stop signals are read from a descriptor in the same poll as the
    // watcher, blocked from now on so that none is lost meanwhile.
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => {
            errln!("cgbox: events: cannot block signals: {e}");
            return 1;
        }
    };
    let watched = Context::new(global)
        .and_then(|ctx| ctx.open_box(&name))
        .and_then(|b| {
            let mut events = b.events()?;
            for t in triggers {
                events.trigger(t)?;
            }
            Ok((b, events))
        });
    let (b, mut events) = match watched {
        Ok(w) => w,
        Err(e) => {
            report(&e);
            return 1;
        }
    };
    let start = if json {
        crate::json::render(&Watching {
            event: "watching",
            name: &name,
            path: b.path().to_string_lossy().into_owned(),
            populated: events.is_populated(),
            frozen: events.is_frozen(),
        })
    } else {
        let mut state = if events.is_populated() {
            "populated"
        } else {
            "empty"
        }
        .to_owned();
        if events.is_frozen() {
            state.push_str(", frozen");
        }
        format!(
            "watching {} ({}): {state}",
            escape(&name),
            b.path().display()
        )
    };
    drop(b);
    if !say(&start) {
        return 0;
    }
    stream(&mut events, &signals, &name, json)
}

/// Print events until the box is gone (0), a stop signal comes (0), the
/// reader of stdout leaves (0) or the watching fails (1).
fn stream(events: &mut Events, signals: &Signals, name: &str, json: bool) -> i32 {
    loop {
        loop {
            match events.next(Duration::ZERO) {
                Ok(Some(event)) => {
                    let line = if json {
                        crate::json::render(&Line::of(&event))
                    } else {
                        event.to_string()
                    };
                    if !say(&line) || event == Event::Gone {
                        return 0;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    report(&e);
                    return 1;
                }
            }
        }
        let mut fds = [
            PollFd::from_borrowed_fd(events.as_fd(), PollFlags::IN),
            PollFd::from_borrowed_fd(signals.fd(), PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                errln!("cgbox: events {}: poll: {e}", escape(name));
                return 1;
            }
        }
        if let Some(sig) = signals.take() {
            errln!(
                "cgbox: events {}: interrupted by {}",
                escape(name),
                signals::name(sig)
            );
            return 0;
        }
    }
}

/// Write one line to stdout; false when nobody reads it any more.
fn say(line: &str) -> bool {
    writeln!(std::io::stdout(), "{line}").is_ok()
}

/// The first line: the state the watching starts from.
#[derive(Serialize)]
struct Watching<'a> {
    event: &'static str,
    name: &'a str,
    path: String,
    populated: bool,
    frozen: bool,
}

/// One event, as a JSON line: its name, and what it carries.
#[derive(Serialize)]
struct Line {
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stall_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_us: Option<u64>,
    /// For an event of a newer library than this tool knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

impl Line {
    fn of(event: &Event) -> Line {
        let named = |event| Line {
            event,
            count: None,
            resource: None,
            kind: None,
            stall_us: None,
            window_us: None,
            text: None,
        };
        let counted = |event, count: u64| Line {
            count: Some(count),
            ..named(event)
        };
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        match event {
            Event::Populated => named("populated"),
            Event::Empty => named("empty"),
            Event::Frozen => named("frozen"),
            Event::Thawed => named("thawed"),
            Event::OomKill { count } => counted("oom_kill", *count),
            Event::OomGroupKill { count } => counted("oom_group_kill", *count),
            Event::MemoryHigh { count } => counted("memory_high", *count),
            Event::MemoryMax { count } => counted("memory_max", *count),
            Event::ForksRefused { count } => counted("forks_refused", *count),
            Event::Pressure(t) => Line {
                resource: Some(t.resource().name()),
                kind: Some(if t.is_full() { "full" } else { "some" }),
                stall_us: Some(micros(t.stall())),
                window_us: Some(micros(t.window())),
                ..named("pressure")
            },
            Event::Gone => named("gone"),
            other => Line {
                text: Some(other.to_string()),
                ..named("other")
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgbox::Resource;

    #[test]
    fn one_json_object_a_line() {
        let t = Trigger::full(
            Resource::Io,
            Duration::from_millis(50),
            Duration::from_secs(4),
        );
        let cases = [
            (Event::Empty, r#"{"event": "empty"}"#),
            (
                Event::OomKill { count: 2 },
                r#"{"event": "oom_kill", "count": 2}"#,
            ),
            (
                Event::ForksRefused { count: 1 },
                r#"{"event": "forks_refused", "count": 1}"#,
            ),
            (
                Event::Pressure(t),
                r#"{"event": "pressure", "resource": "io", "kind": "full", "stall_us": 50000, "window_us": 4000000}"#,
            ),
            (Event::Gone, r#"{"event": "gone"}"#),
        ];
        for (event, want) in cases {
            assert_eq!(crate::json::render(&Line::of(&event)), want);
        }
    }
}
