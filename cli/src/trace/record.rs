//! The trace format: one type per kind of line. [`super::Tracer`] writes
//! these and `cgbox plot` reads them back, so a change to the format is a
//! change to these types, which both sides see when they compile.
//!
//! A trace is JSON lines:
//!
//! - first, a [`Header`]: what ran, and the limits the box had;
//! - a [`Sample`] at every tick; keys follow the kernel (a file, then its
//!   keys), a file the box lacks is left out, counters are as the kernel
//!   keeps them (the plot takes differences);
//! - an [`Event`] as soon as it is seen (an OOM kill, a `memory.high`
//!   hit ...);
//! - last, an [`EndLine`]: how the run ended.
//!
//! `t` is seconds since CMD started, written with microsecond digits
//! (`0.100000`). Reading is lenient where cgbox versions may differ: keys
//! it does not know are passed over, and what a picture can do without
//! may be missing.

use std::time::Duration;

use serde::de::{self, DeserializeOwned, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// `cgbox_trace`'s value in the first line: the version of the format.
pub const FORMAT: u64 = 1;

/// The first line: `{"cgbox_trace": 1, "version", "name", "path",
/// "command", "started_unix_ms", "every_ms", "cpus", "limits"}`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Header {
    pub cgbox_trace: u64,
    /// cgbox's version.
    pub version: String,
    pub name: String,
    /// The box, as in `/proc/self/cgroup`.
    pub path: String,
    pub command: Vec<String>,
    pub started_unix_ms: Option<u64>,
    pub every_ms: Option<u64>,
    /// CPUs of the machine.
    pub cpus: Option<u64>,
    pub limits: Limits,
}

/// The limit files of the box; one the box lacks is left out.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    #[serde(rename = "memory.max", skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<Limit>,
    #[serde(rename = "memory.high", skip_serializing_if = "Option::is_none")]
    pub memory_high: Option<Limit>,
    #[serde(rename = "memory.swap.max", skip_serializing_if = "Option::is_none")]
    pub memory_swap_max: Option<Limit>,
    #[serde(rename = "pids.max", skip_serializing_if = "Option::is_none")]
    pub pids_max: Option<Limit>,
    /// `QUOTA PERIOD`, as the file reads (`max 100000`: no limit).
    #[serde(rename = "cpu.max", skip_serializing_if = "Option::is_none")]
    pub cpu_max: Option<String>,
}

/// A limit: a number, or `"max"` (none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Value(u64),
    Max,
}

impl Limit {
    /// A limit file's content; `None` for what the kernel never writes.
    pub fn parse(text: &str) -> Option<Limit> {
        match text.trim() {
            "max" => Some(Limit::Max),
            n => n.parse().ok().map(Limit::Value),
        }
    }

    pub fn value(self) -> Option<u64> {
        match self {
            Limit::Value(n) => Some(n),
            Limit::Max => None,
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Limit::Value(n) => s.serialize_u64(*n),
            Limit::Max => s.serialize_str("max"),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Limit, D::Error> {
        struct Expect;
        impl Visitor<'_> for Expect {
            type Value = Limit;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or \"max\"")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Limit, E> {
                Ok(Limit::Value(n))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Limit, E> {
                match s {
                    "max" => Ok(Limit::Max),
                    _ => Err(E::invalid_value(Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(Expect)
    }
}

/// A sample line: `{"t", "memory.current", "memory.peak", "pids.current",
/// "cpu.stat": {...}, "memory.events": {...}, "pids.events": {"max"},
/// "cpu.pressure": {"some": {"total"}, "full": {"total"}},
/// "memory.pressure", "io.pressure"}`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    pub t: f64,
    #[serde(rename = "memory.current", skip_serializing_if = "Option::is_none")]
    pub memory_current: Option<u64>,
    #[serde(rename = "memory.peak", skip_serializing_if = "Option::is_none")]
    pub memory_peak: Option<u64>,
    #[serde(rename = "pids.current", skip_serializing_if = "Option::is_none")]
    pub pids_current: Option<u64>,
    #[serde(rename = "cpu.stat", skip_serializing_if = "is_empty")]
    pub cpu_stat: CpuStat,
    #[serde(rename = "memory.events", skip_serializing_if = "is_empty")]
    pub memory_events: MemoryEvents,
    #[serde(rename = "pids.events", skip_serializing_if = "is_empty")]
    pub pids_events: PidsEvents,
    #[serde(rename = "cpu.pressure", skip_serializing_if = "Option::is_none")]
    pub cpu_pressure: Option<Pressure>,
    #[serde(rename = "memory.pressure", skip_serializing_if = "Option::is_none")]
    pub memory_pressure: Option<Pressure>,
    #[serde(rename = "io.pressure", skip_serializing_if = "Option::is_none")]
    pub io_pressure: Option<Pressure>,
}

/// `cpu.stat`'s keys; left out of a sample when none is known.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nr_periods: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nr_throttled: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled_usec: Option<u64>,
}

/// `memory.events`' counters the trace keeps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEvents {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill: Option<u64>,
}

/// `pids.events`: forks refused at `pids.max`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsEvents {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

/// A file with no key known is left out of a sample.
fn is_empty<T: Default + PartialEq>(keys: &T) -> bool {
    *keys == T::default()
}

/// A pressure file's total stall times, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub some: Total,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<Total>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Total {
    pub total: u64,
}

/// An event line: `{"t", "event", "count" (new since the last line),
/// "total"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub t: f64,
    pub event: EventKind,
    pub count: u64,
    pub total: u64,
}

/// What an event line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `memory.events` oom_kill: the OOM killer killed a process of the box.
    OomKill,
    /// `memory.events` oom: the OOM killer was invoked.
    Oom,
    /// `memory.events` max: usage was about to go over `memory.max`.
    MemoryMax,
    /// `memory.events` high: usage went over `memory.high`.
    MemoryHigh,
    /// `pids.events` max: a fork refused at `pids.max`.
    PidsMax,
    /// A kind this cgbox does not know (a later one wrote the trace): read,
    /// not drawn.
    Other,
}

impl EventKind {
    /// The kinds cgbox writes.
    pub const WRITTEN: [EventKind; 5] = [
        EventKind::OomKill,
        EventKind::Oom,
        EventKind::MemoryMax,
        EventKind::MemoryHigh,
        EventKind::PidsMax,
    ];

    /// The name in the trace (and in the SVG's `data-event`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::OomKill => "oom_kill",
            EventKind::Oom => "oom",
            EventKind::MemoryMax => "memory.max",
            EventKind::MemoryHigh => "memory.high",
            EventKind::PidsMax => "pids.max",
            EventKind::Other => "other",
        }
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(EventKind::WRITTEN
            .into_iter()
            .find(|k| k.name() == name)
            .unwrap_or(EventKind::Other))
    }
}

/// The last line: `{"t", "end": {...}, "samples": N}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndLine {
    pub t: f64,
    pub end: End,
    /// How many sample lines were written.
    pub samples: u64,
}

/// How the run ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct End {
    /// cgbox's exit code.
    pub status: i32,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// The box was killed with processes still in it.
    pub killed: bool,
}

/// `t` for a time since CMD started: cut to the microseconds a trace
/// keeps (written with six decimals, it reads back as those digits).
pub fn seconds(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// One line of a trace, read back.
#[derive(Debug)]
pub enum Line {
    Header(Header),
    Sample(Sample),
    Event(Event),
    End(EndLine),
}

/// Why a line cannot be read.
#[derive(Debug)]
pub enum Bad {
    /// Not JSON, or a value of the wrong type (serde_json says where).
    Json(serde_json::Error),
    /// JSON, but not a line of a trace.
    Format(&'static str),
}

impl Line {
    /// Tell a line's kind and read it: the first line is the header;
    /// after it, a line with `end` is the end, one with `event` an event,
    /// any other a sample. Every line after the first has a time. The
    /// text is parsed twice, to tell the kind and then as that type, so
    /// that a value of the wrong type is named by its column.
    pub fn read(text: &str, first: bool) -> Result<Line, Bad> {
        let v: Value = serde_json::from_str(text).map_err(Bad::Json)?;
        if !v.is_object() {
            return Err(Bad::Format("not a JSON object"));
        }
        if first {
            if v.get("cgbox_trace").and_then(Value::as_u64) != Some(FORMAT) {
                return Err(Bad::Format(
                    "not a cgbox trace (cgbox run --trace FILE writes one)",
                ));
            }
            return typed(text).map(Line::Header);
        }
        if !v.get("t").and_then(Value::as_f64).is_some_and(|t| t >= 0.0) {
            return Err(Bad::Format("no time \"t\""));
        }
        if v.get("end").is_some() {
            typed(text).map(Line::End)
        } else if v.get("event").is_some() {
            typed(text).map(Line::Event)
        } else {
            typed(text).map(Line::Sample)
        }
    }
}

fn typed<T: DeserializeOwned>(text: &str) -> Result<T, Bad> {
    serde_json::from_str(text).map_err(Bad::Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{self, Floats};

    fn line<T: Serialize>(value: &T) -> String {
        let mut out = Vec::new();
        json::write(&mut out, value, Floats::Micros);
        String::from_utf8(out).unwrap()
    }

    fn read(text: &str, first: bool) -> Result<Line, String> {
        Line::read(text, first).map_err(|e| match e {
            Bad::Json(e) => e.to_string(),
            Bad::Format(e) => e.to_owned(),
        })
    }

    #[test]
    fn every_kind_of_line_reads_back_as_written() {
        let sample = Sample {
            t: seconds(Duration::from_nanos(1_234_567_890)),
            memory_current: Some(10),
            cpu_stat: CpuStat {
                usage_usec: Some(5),
                nr_throttled: Some(0),
                ..CpuStat::default()
            },
            memory_pressure: Some(Pressure {
                some: Total { total: 7 },
                full: None,
            }),
            ..Sample::default()
        };
        let text = line(&sample);
        assert_eq!(
            text,
            r#"{"t": 1.234567, "memory.current": 10, "cpu.stat": {"usage_usec": 5, "nr_throttled": 0}, "memory.pressure": {"some": {"total": 7}}}"#
        );
        assert!(matches!(read(&text, false), Ok(Line::Sample(s)) if s == sample));

        let event = Event {
            t: 2.0,
            event: EventKind::MemoryHigh,
            count: 3,
            total: 5,
        };
        let text = line(&event);
        assert_eq!(
            text,
            r#"{"t": 2.000000, "event": "memory.high", "count": 3, "total": 5}"#
        );
        assert!(matches!(read(&text, false), Ok(Line::Event(e)) if e == event));

        let end = EndLine {
            t: 3.5,
            end: End {
                status: 137,
                exit_code: None,
                signal: Some(9),
                timed_out: false,
                killed: true,
            },
            samples: 2,
        };
        let text = line(&end);
        assert_eq!(
            text,
            r#"{"t": 3.500000, "end": {"status": 137, "exit_code": null, "signal": 9, "timed_out": false, "killed": true}, "samples": 2}"#
        );
        assert!(matches!(read(&text, false), Ok(Line::End(e)) if e == end));

        let limits = Limits {
            memory_max: Limit::parse("67108864\n"),
            memory_swap_max: Limit::parse("max\n"),
            cpu_max: Some("max 100000".into()),
            ..Limits::default()
        };
        let text = line(&limits);
        assert_eq!(
            text,
            r#"{"memory.max": 67108864, "memory.swap.max": "max", "cpu.max": "max 100000"}"#
        );
        assert_eq!(serde_json::from_str::<Limits>(&text).unwrap(), limits);
    }

    #[test]
    fn lenient_where_versions_differ_strict_where_it_matters() {
        // A header with only its mark; keys of a later cgbox; a kind of
        // event this one does not know.
        let Ok(Line::Header(h)) = read(r#"{"cgbox_trace": 1, "later": [1]}"#, true) else {
            panic!()
        };
        assert_eq!((h.name.as_str(), h.every_ms), ("", None));
        let Ok(Line::Event(e)) = read(
            r#"{"t": 1, "event": "cpu.idle", "count": 1, "total": 1}"#,
            false,
        ) else {
            panic!()
        };
        assert_eq!(e.event, EventKind::Other);
        for kind in EventKind::WRITTEN {
            let back: EventKind = serde_json::from_str(&line(&kind)).unwrap();
            assert_eq!(back, kind);
        }
        for (text, first, want) in [
            ("[1]", false, "not a JSON object"),
            (r#"{"t": 0}"#, true, "not a cgbox trace"),
            (r#"{"cgbox_trace": 2}"#, true, "not a cgbox trace"),
            (r#"{"x": 1}"#, false, "no time \"t\""),
            (r#"{"t": -1}"#, false, "no time \"t\""),
            (
                r#"{"t": 1, "memory.current": "x"}"#,
                false,
                "expected u64 at line 1 column 30",
            ),
            (
                r#"{"cgbox_trace": 1, "limits": {"pids.max": "lots"}}"#,
                true,
                "a number or \"max\"",
            ),
            (
                r#"{"t": 1, "event": "oom"}"#,
                false,
                "missing field `count`",
            ),
        ] {
            let e = read(text, first).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
