//! A trace read back for drawing: what ran, the samples, the events and
//! the end, as numbers to scale (the format is in `trace/record.rs`).

use super::words;
use crate::trace::record::{self, Bad, EventKind, Line};

/// The first line.
#[derive(Debug, Default, Clone)]
pub struct Header {
    pub name: String,
    pub command: Vec<String>,
    pub started_unix_ms: Option<f64>,
    pub every_ms: Option<f64>,
    pub limits: Limits,
}

/// The limits the box had; `None`: not set (`max`) or not there.
#[derive(Debug, Default, Clone, Copy)]
pub struct Limits {
    pub memory_max: Option<f64>,
    pub memory_high: Option<f64>,
    pub pids_max: Option<f64>,
    /// CPUs: the `cpu.max` quota over its period.
    pub cpus: Option<f64>,
}

/// The total stall times of one pressure file.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Stall {
    pub some: f64,
    pub full: Option<f64>,
}

/// One sample line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sample {
    pub t: f64,
    pub memory_current: Option<f64>,
    pub memory_peak: Option<f64>,
    pub pids_current: Option<f64>,
    pub usage_usec: Option<f64>,
    pub nr_periods: Option<f64>,
    pub nr_throttled: Option<f64>,
    pub throttled_usec: Option<f64>,
    /// cpu, memory, io.
    pub pressure: [Option<Stall>; 3],
}

/// The pressure files, in [`Sample::pressure`] order.
pub const PRESSURE: [&str; 3] = ["cpu", "memory", "io"];

/// One event line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub t: f64,
    pub kind: EventKind,
    pub count: f64,
}

/// The last line.
#[derive(Debug, Default, Clone)]
pub struct End {
    pub t: f64,
    pub exit_code: Option<f64>,
    pub signal: Option<f64>,
    pub timed_out: bool,
    pub killed: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Trace {
    pub header: Header,
    pub samples: Vec<Sample>,
    pub events: Vec<Event>,
    pub end: Option<End>,
    /// Said on stderr: a cut last line, a line of an unknown kind.
    pub warnings: Vec<String>,
}

impl Trace {
    /// Read a trace. The first line must be a trace header; every line
    /// must be a JSON object, except a last line cut short (a cgbox that
    /// was killed mid-write), which is left out with a warning.
    pub fn parse(text: &str) -> Result<Trace, String> {
        let mut trace = Trace::default();
        let lines: Vec<&str> = text.lines().collect();
        let cut_last = !text.is_empty() && !text.ends_with('\n');
        for (i, line) in lines.iter().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let read = match Line::read(line, n == 1) {
                Ok(read) => read,
                // A cgbox killed mid-write leaves the last line cut.
                Err(Bad::Json(e))
                    if cut_last && n == lines.len() && (e.is_eof() || e.is_syntax()) =>
                {
                    let e = words::said(&e);
                    trace
                        .warnings
                        .push(format!("line {n} is cut short ({e}): left out"));
                    continue;
                }
                Err(Bad::Json(e)) => return Err(format!("line {n}: {}", words::said(&e))),
                Err(Bad::Format(e)) => return Err(format!("line {n}: {e}")),
            };
            match read {
                Line::Header(h) => trace.header = header(h),
                Line::End(e) => {
                    trace.end = Some(End {
                        t: e.t,
                        exit_code: e.end.exit_code.map(f64::from),
                        signal: e.end.signal.map(f64::from),
                        timed_out: e.end.timed_out,
                        killed: e.end.killed,
                    })
                }
                Line::Event(e) => trace.events.push(Event {
                    t: e.t,
                    kind: e.event,
                    count: e.count as f64,
                }),
                Line::Sample(s) => {
                    if trace.samples.last().is_some_and(|last| last.t > s.t) {
                        return Err(format!("line {n}: time goes backwards"));
                    }
                    trace.samples.push(sample(&s));
                }
            }
        }
        if lines.is_empty() {
            return Err("the trace is empty".into());
        }
        if trace.samples.is_empty() {
            return Err("no samples in the trace (the command ended before the first?)".into());
        }
        Ok(trace)
    }

    /// The length of the run, in seconds.
    pub fn duration(&self) -> f64 {
        let last = self.samples.last().map_or(0.0, |s| s.t);
        self.end.as_ref().map_or(last, |e| e.t.max(last))
    }
}

fn header(h: record::Header) -> Header {
    let limit = |l: Option<record::Limit>| l.and_then(record::Limit::value).map(|v| v as f64);
    let cpus = h.limits.cpu_max.as_deref().and_then(|s| {
        let (quota, period) = s.split_once(' ')?;
        let quota: f64 = quota.parse().ok()?;
        let period: f64 = period.trim().parse().ok()?;
        (period > 0.0).then_some(quota / period)
    });
    Header {
        name: h.name,
        command: h.command,
        started_unix_ms: h.started_unix_ms.map(|v| v as f64),
        every_ms: h.every_ms.map(|v| v as f64),
        limits: Limits {
            memory_max: limit(h.limits.memory_max),
            memory_high: limit(h.limits.memory_high),
            pids_max: limit(h.limits.pids_max),
            cpus,
        },
    }
}

fn sample(s: &record::Sample) -> Sample {
    let num = |v: Option<u64>| v.map(|v| v as f64);
    let stall = |p: Option<record::Pressure>| {
        p.map(|p| Stall {
            some: p.some.total as f64,
            full: p.full.map(|f| f.total as f64),
        })
    };
    Sample {
        t: s.t,
        memory_current: num(s.memory_current),
        memory_peak: num(s.memory_peak),
        pids_current: num(s.pids_current),
        usage_usec: num(s.cpu_stat.usage_usec),
        nr_periods: num(s.cpu_stat.nr_periods),
        nr_throttled: num(s.cpu_stat.nr_throttled),
        throttled_usec: num(s.cpu_stat.throttled_usec),
        pressure: [
            stall(s.cpu_pressure),
            stall(s.memory_pressure),
            stall(s.io_pressure),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"{"cgbox_trace": 1, "name": "b", "command": ["make", "-j4"], "every_ms": 100, "limits": {"memory.max": 536870912, "memory.high": "max", "pids.max": 64, "cpu.max": "150000 100000"}}"#;

    #[test]
    fn reads_every_kind_of_line() {
        let text = format!(
            "{HEAD}\n{}\n{}\n{}\n{}\n",
            r#"{"t": 0.0, "memory.current": 10, "cpu.stat": {"usage_usec": 0}, "memory.pressure": {"some": {"total": 5}, "full": {"total": 2}}}"#,
            r#"{"t": 0.1, "event": "oom_kill", "count": 1, "total": 1}"#,
            r#"{"t": 0.2, "memory.current": 20, "pids.current": 3, "cpu.stat": {"usage_usec": 150000, "nr_periods": 2, "nr_throttled": 1}}"#,
            r#"{"t": 0.25, "end": {"status": 137, "exit_code": null, "signal": 9, "timed_out": false, "killed": true}, "samples": 2}"#,
        );
        let t = Trace::parse(&text).unwrap();
        assert_eq!(t.header.command, ["make", "-j4"]);
        assert_eq!(t.header.limits.memory_max, Some(536870912.0));
        assert_eq!(t.header.limits.memory_high, None, "max is no limit");
        assert_eq!(t.header.limits.cpus, Some(1.5));
        assert_eq!(t.samples.len(), 2);
        assert_eq!(
            t.samples[0].pressure[1],
            Some(Stall {
                some: 5.0,
                full: Some(2.0)
            })
        );
        assert_eq!(t.samples[1].nr_throttled, Some(1.0));
        assert_eq!(t.events[0].kind, EventKind::OomKill);
        let end = t.end.as_ref().unwrap();
        assert_eq!((end.signal, end.killed), (Some(9.0), true));
        assert_eq!(t.duration(), 0.25);
    }

    #[test]
    fn names_the_bad_line() {
        let s = r#"{"t": 0.0, "cpu.stat": {"usage_usec": 0}}"#;
        let cases = [
            ("", "empty"),
            ("{\"t\": 0}\n", "line 1: not a cgbox trace"),
            (&format!("{HEAD}\n"), "no samples"),
            (&format!("{HEAD}\n[1]\n"), "line 2: not a JSON object"),
            (&format!("{HEAD}\n{s}\n{{\"x\": 1}}\n"), "line 3: no time"),
            (&format!("{HEAD}\n{{\"t\": 1,\n{s}\n"), "line 2: column"),
            (
                &format!("{HEAD}\n{{\"t\": 2}}\n{{\"t\": 1}}\n"),
                "line 3: time goes backwards",
            ),
            (
                &format!("{HEAD}\n{s}\n{{\"t\": 1, \"memory.current\": \"x\"}}\n"),
                "line 3: column 30: invalid type: string \"x\", expected u64",
            ),
        ];
        for (text, want) in cases {
            let e = Trace::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        // A last line cut short is left out, with a warning.
        let t = Trace::parse(&format!("{HEAD}\n{s}\n{{\"t\": 0.1, \"memo")).unwrap();
        assert_eq!(t.samples.len(), 1);
        assert!(t.warnings[0].contains("line 3 is cut short"));
    }
}
