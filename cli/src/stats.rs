//! `cgbox stats` and `cgbox list`.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use cgbox::fs::CgroupFs;
use cgbox::{BoxEntry, Listing};
use cgbox::{FileStats, Number, Stats};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::args::{Arg, Lexer, Step};
use crate::context::{Context, report};
use crate::json;
use crate::units::{bytes, or_dash, usec};
use crate::{Global, usage_error};

const STATS_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] stats PATH|NAME [--json] [--watch SECS]

Every statistic of a cgroup: PATH is relative to the cgroup2 mount, as in
/proc/self/cgroup (/cgbox/agents/x); a NAME is a box of --app.
A file that does not exist is left out; one that cannot be parsed is named
under errors and the rest is still shown.

  --json         one JSON object: {\"path\", \"cgroup.events\": {...}, \"cpu.stat\": {...},
                 \"memory.current\": N, \"memory.max\": N or \"max\", ..., \"errors\": {...}}
  --watch SECS   print again every SECS seconds until the cgroup is gone
";

/// The shortest `--watch` period: faster is a busy loop, not a picture.
const MIN_WATCH: f64 = 0.1;

const LIST_HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] list [--json]

The boxes of --app: who holds each (owned: a live cgbox or program holds it;
kept: left on purpose; orphaned: its owner died with processes inside;
leftover: nobody holds it and it is empty), what runs in it (running,
frozen, empty), pids, memory and CPU time. Entries of agents/ that are not
boxes are named apart.

  --json   {\"boxes\": [{\"name\", \"path\", \"owner\", \"state\", \"populated\",
            \"pids.current\", \"memory.current\", \"cpu.stat\": {\"usage_usec\"}}],
            \"odd\": [{\"name\", \"why\"}]}
";

/// The `stats --json` object: `{"path", then each file as the kernel
/// names it: a number, "max", {key: number} or {line: {key: number}},
/// then "errors": {file: why}}`.
pub struct StatsJson<'a> {
    pub path: &'a str,
    pub stats: &'a Stats,
}

impl Serialize for StatsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("path", self.path)?;
        for (name, file) in &self.stats.files {
            map.serialize_entry(name, &File(file))?;
        }
        map.serialize_entry("errors", &Errors(&self.stats.errors))?;
        map.end()
    }
}

/// A statistics file's values.
struct File<'a>(&'a FileStats);

impl Serialize for File<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            FileStats::Single(n) => Num(*n).serialize(s),
            FileStats::Flat(p) => Pairs(p).serialize(s),
            FileStats::Nested(lines) => s.collect_map(lines.iter().map(|(k, p)| (k, Pairs(p)))),
        }
    }
}

/// `key value` pairs of a line or a file.
struct Pairs<'a>(&'a [(Cow<'static, str>, Number)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, Num(*v))))
    }
}

/// A number as the kernel wrote it; `max` as the string `"max"`.
struct Num(Number);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Number::Uint(v) => s.serialize_u64(v),
            Number::Int(v) => s.serialize_i64(v),
            Number::Float(v) => s.serialize_f64(v),
            Number::Max => s.serialize_str("max"),
        }
    }
}

struct Errors<'a>(&'a [(&'static str, String)]);

impl Serialize for Errors<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(f, e)| (f, e)))
    }
}

fn print_human(path: &str, s: &Stats) {
    outln!("{path}");
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    outln!(
        "  populated      {}",
        or_dash(s.populated(), |b| yes_no(b).to_owned())
    );
    outln!(
        "  cpu            {} (user {}, system {})",
        or_dash(s.cpu_usage_usec(), usec),
        or_dash(s.key("cpu.stat", "user_usec"), usec),
        or_dash(s.key("cpu.stat", "system_usec"), usec)
    );
    if let (Some(n), Some(p)) = (s.nr_throttled(), s.key("cpu.stat", "nr_periods")) {
        let pct = if p == 0 {
            0.0
        } else {
            n as f64 * 100.0 / p as f64
        };
        outln!(
            "  throttled      {n} of {p} periods ({pct:.0}%), {}",
            or_dash(s.throttled_usec(), usec)
        );
    }
    let limit = |file: &str| match s.file(file).and_then(FileStats::single) {
        Some(Number::Max) => "max".to_owned(),
        Some(Number::Uint(v)) => bytes(v),
        _ => "-".to_owned(),
    };
    if s.memory_current().is_some() {
        outln!(
            "  memory         {} (peak {}, max {}, high {})",
            or_dash(s.memory_current(), bytes),
            or_dash(s.memory_peak(), bytes),
            limit("memory.max"),
            limit("memory.high")
        );
        outln!(
            "  memory events  oom {}, oom_kill {}, high {}, max {}",
            or_dash(s.key("memory.events", "oom"), |v| v.to_string()),
            or_dash(s.oom_kills(), |v| v.to_string()),
            or_dash(s.key("memory.events", "high"), |v| v.to_string()),
            or_dash(s.key("memory.events", "max"), |v| v.to_string())
        );
    }
    if s.pids_current().is_some() {
        let max = match s.file("pids.max").and_then(FileStats::single) {
            Some(Number::Uint(v)) => v.to_string(),
            Some(Number::Max) => "max".into(),
            _ => "-".into(),
        };
        outln!(
            "  pids           {} (peak {}, max {max}, refused forks {})",
            or_dash(s.pids_current(), |v| v.to_string()),
            or_dash(s.pids_peak(), |v| v.to_string()),
            or_dash(s.pids_max_events(), |v| v.to_string())
        );
    }
    if let Some(FileStats::Nested(devices)) = s.file("io.stat") {
        for (dev, fields) in devices {
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(n, _)| n == k)
                    .and_then(|(_, v)| v.as_u64())
            };
            outln!(
                "  io {dev:<10} read {} ({} ops), written {} ({} ops)",
                or_dash(get("rbytes"), bytes),
                or_dash(get("rios"), |v| v.to_string()),
                or_dash(get("wbytes"), bytes),
                or_dash(get("wios"), |v| v.to_string())
            );
        }
    }
    for file in [
        "cpu.pressure",
        "memory.pressure",
        "io.pressure",
        "irq.pressure",
    ] {
        if let Some(f) = s.file(file) {
            let avg = |line: &str| match f.get_nested(line, "avg10") {
                Some(Number::Float(v)) => format!("{v:.2}%"),
                _ => "-".into(),
            };
            outln!(
                "  {:<14} some {}, full {} (avg10)",
                file,
                avg("some"),
                avg("full")
            );
        }
    }
    for (file, e) in &s.errors {
        outln!("  error          {file}: {e}");
    }
}

pub fn stats_main(global: &Global, mut lex: Lexer) -> i32 {
    let (mut json, mut watch, mut target) = (false, None::<Duration>, None::<String>);
    loop {
        match lex.step("stats", STATS_HELP) {
            Step::End => break,
            Step::Exit(code) => return code,
            Step::Arg(Arg::Long(l)) if l == "json" => json = true,
            Step::Arg(Arg::Long(l)) if l == "watch" => {
                match lex.value("--watch").map(|v| v.parse::<f64>()) {
                    Ok(Ok(s)) if s.is_finite() && (MIN_WATCH..1e9).contains(&s) => {
                        watch = Some(Duration::from_secs_f64(s))
                    }
                    _ => {
                        return usage_error(&format!(
                            "stats: --watch takes a number of seconds, at least {MIN_WATCH}"
                        ));
                    }
                }
            }
            Step::Arg(Arg::Word(w)) if target.is_none() => {
                target = Some(w.to_string_lossy().into_owned())
            }
            Step::Arg(other) => {
                return usage_error(&format!("stats: unexpected {}", other.describe()));
            }
        }
    }
    let Some(target) = target else {
        return usage_error("stats: give a PATH (/cgbox/agents/x) or a box NAME");
    };
    let ctx = match Context::new(global) {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            return 1;
        }
    };
    let path = match ctx.resolve(&target) {
        Ok(p) => p,
        Err(e) => {
            report(&e);
            return 1;
        }
    };
    let rel = ctx.relative(&path);
    let mut first = true;
    loop {
        let stats = ctx
            .fs
            .open_dir(&path)
            .and_then(|dir| Stats::read(&*ctx.fs, &dir));
        match stats {
            Ok(s) if json => outln!(
                "{}",
                json::render(&StatsJson {
                    path: &rel,
                    stats: &s
                })
            ),
            Ok(s) => print_human(&rel, &s),
            Err(e) if !first && e.kind() == cgbox::ErrorKind::NotFound => {
                errln!("cgbox: {rel} is gone");
                return 0;
            }
            Err(e) if e.kind() == cgbox::ErrorKind::NotFound && !target.starts_with('/') => {
                report(
                    &e.with_hint(
                        "see `cgbox list` for the boxes of this app (--app picks another)",
                    ),
                );
                return 1;
            }
            Err(e) => {
                report(&e);
                return 1;
            }
        }
        // A reader that left (`| head`) ends the watch.
        if std::io::Write::flush(&mut std::io::stdout()).is_err() {
            return 0;
        }
        first = false;
        match watch {
            Some(every) => std::thread::sleep(every),
            None => return 0,
        }
    }
}

/// `cgbox list --json`.
#[derive(Serialize)]
struct ListJson<'a> {
    boxes: Vec<ListEntry<'a>>,
    odd: Vec<OddJson<'a>>,
}

/// One entry of `cgbox list --json`; what is unknown is left out.
#[derive(Serialize)]
struct ListEntry<'a> {
    name: &'a str,
    path: String,
    owner: &'static str,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    populated: Option<bool>,
    #[serde(rename = "pids.current", skip_serializing_if = "Option::is_none")]
    pids_current: Option<u64>,
    #[serde(rename = "memory.current", skip_serializing_if = "Option::is_none")]
    memory_current: Option<u64>,
    #[serde(rename = "cpu.stat", skip_serializing_if = "Option::is_none")]
    cpu_stat: Option<Usage>,
}

#[derive(Serialize)]
struct Usage {
    usage_usec: u64,
}

#[derive(Serialize)]
struct OddJson<'a> {
    name: &'a str,
    why: &'a str,
}

fn list_entry<'a>(b: &'a BoxEntry, path: String, s: Option<&Stats>) -> ListEntry<'a> {
    ListEntry {
        name: &b.name,
        path,
        owner: b.ownership(),
        state: b.activity(),
        populated: s.and_then(Stats::populated),
        pids_current: s.and_then(Stats::pids_current),
        memory_current: s.and_then(Stats::memory_current),
        cpu_stat: s
            .and_then(Stats::cpu_usage_usec)
            .map(|usage_usec| Usage { usage_usec }),
    }
}

fn read_stats<F: CgroupFs>(fs: &F, path: &Path) -> Option<Stats> {
    fs.open_dir(path).and_then(|dir| Stats::read(fs, &dir)).ok()
}

pub fn list_main(global: &Global, mut lex: Lexer) -> i32 {
    let mut json = false;
    loop {
        match lex.step("list", LIST_HELP) {
            Step::End => break,
            Step::Exit(code) => return code,
            Step::Arg(Arg::Long(l)) if l == "json" => json = true,
            Step::Arg(other) => {
                return usage_error(&format!("list: unexpected {}", other.describe()));
            }
        }
    }
    let ctx = match Context::new(global) {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            return 1;
        }
    };
    let listing = match ctx.existing_app().and_then(|a| match a {
        Some(app) => app.list(),
        None => Ok(Listing::default()),
    }) {
        Ok(l) => l,
        Err(e) => {
            report(&e);
            return 1;
        }
    };
    let stats: Vec<Option<Stats>> = listing
        .boxes
        .iter()
        .map(|b| read_stats(&*ctx.fs, &b.path))
        .collect();
    if json {
        let list = ListJson {
            boxes: listing
                .boxes
                .iter()
                .zip(&stats)
                .map(|(b, s)| list_entry(b, ctx.relative(&b.path), s.as_ref()))
                .collect(),
            odd: listing
                .odd
                .iter()
                .map(|o| OddJson {
                    name: &o.name,
                    why: &o.why,
                })
                .collect(),
        };
        outln!("{}", json::render(&list));
        return 0;
    }
    if listing.boxes.is_empty() {
        outln!("no boxes of app {}", escape(&ctx.app));
    }
    for (b, s) in listing.boxes.iter().zip(&stats) {
        outln!(
            "{:<38} {:<9} {:<8} pids {:<5} memory {:<10} cpu {}",
            escape(&b.name),
            b.ownership(),
            b.activity(),
            or_dash(s.as_ref().and_then(Stats::pids_current), |v| v.to_string()),
            or_dash(s.as_ref().and_then(Stats::memory_current), bytes),
            or_dash(s.as_ref().and_then(Stats::cpu_usage_usec), usec)
        );
    }
    for o in &listing.odd {
        outln!("not a box: {}: {}", escape(&o.name), o.why);
    }
    0
}

/// A name as it can be shown on a terminal: control characters and other
/// odd bytes escaped, so that a hostile directory name cannot move the
/// cursor or fake output.
pub fn escape(name: &str) -> String {
    name.chars()
        .flat_map(char::escape_debug)
        .collect::<String>()
}
