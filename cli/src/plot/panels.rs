//! What the picture shows, worked out from a trace before anything is
//! drawn: one panel per statistic present, its series, limits and events.

use super::model::{PRESSURE, Sample, Trace};
use super::scale::{bytes, number};
use crate::trace::record::EventKind;

/// How a panel's values read on its axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Bytes,
    Cores,
    Count,
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Values at instants, joined by lines.
    Line,
    /// Averages over intervals: flat from one sample to the next.
    Steps,
}

#[derive(Debug, Clone)]
pub struct Series {
    /// The statistic (`memory.current`, `cpu.stat usage`, ...), for the
    /// SVG's `data-series`.
    pub id: String,
    pub label: String,
    pub color: &'static str,
    pub shape: Shape,
    /// Filled down to zero.
    pub area: bool,
    pub dashed: bool,
    /// `(t, value)`; for [`Shape::Steps`], the value holds from the
    /// previous point's time to this one's.
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct Limit {
    /// The limit file (`memory.max`), for `data-limit`.
    pub id: &'static str,
    pub label: String,
    pub value: f64,
    pub color: &'static str,
}

/// Events of one kind close in time, drawn as one marker.
#[derive(Debug, Clone)]
pub struct Marker {
    /// The event (its name is the SVG's `data-event`).
    pub kind: EventKind,
    pub t: f64,
    pub count: f64,
    pub color: &'static str,
    /// Drawn as a line across the panel (an OOM kill), not a tick.
    pub strong: bool,
    pub label: &'static str,
}

/// A time span shaded (throttling), its strength 0 to 1.
#[derive(Debug, Clone)]
pub struct Band {
    pub kind: &'static str,
    pub t0: f64,
    pub t1: f64,
    pub strength: f64,
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub title: &'static str,
    pub summary: String,
    pub unit: Unit,
    pub series: Vec<Series>,
    pub limits: Vec<Limit>,
    pub markers: Vec<Marker>,
    pub bands: Vec<Band>,
    /// The right axis reads as a share of this value (`cpu.max`).
    pub share_of: Option<(f64, &'static str)>,
    pub legend_extra: Vec<(&'static str, &'static str, &'static str)>,
}

impl Panel {
    fn new(title: &'static str, unit: Unit) -> Panel {
        Panel {
            title,
            summary: String::new(),
            unit,
            series: Vec::new(),
            limits: Vec::new(),
            markers: Vec::new(),
            bands: Vec::new(),
            share_of: None,
            legend_extra: Vec::new(),
        }
    }

    /// The largest value drawn.
    pub fn data_max(&self) -> f64 {
        self.series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max)
    }
}

pub const BLUE: &str = "#1f6fb4";
pub const RED: &str = "#d62728";
pub const ORANGE: &str = "#e8800c";
pub const GREEN: &str = "#2a9d3a";
pub const PURPLE: &str = "#8a5cc2";
pub const BROWN: &str = "#8c564b";
pub const DARK_RED: &str = "#8b1a1a";

/// Every panel the trace has data for, top to bottom: memory, CPU, PIDs,
/// pressure.
pub fn panels(trace: &Trace) -> Vec<Panel> {
    [memory(trace), cpu(trace), pids(trace), pressure(trace)]
        .into_iter()
        .flatten()
        .collect()
}

fn points(samples: &[Sample], f: impl Fn(&Sample) -> Option<f64>) -> Vec<(f64, f64)> {
    samples
        .iter()
        .filter_map(|s| f(s).map(|v| (s.t, v)))
        .collect()
}

/// Rates over each interval between two samples that both have the
/// counter: `(end of interval, growth per second)`.
fn rates(samples: &[Sample], f: impl Fn(&Sample) -> Option<f64>) -> Vec<(f64, f64, f64)> {
    let known: Vec<(f64, f64)> = points(samples, f);
    known
        .windows(2)
        .filter_map(|w| {
            let ((t0, v0), (t1, v1)) = (w[0], w[1]);
            let dt = t1 - t0;
            (dt > 0.0).then(|| (t0, t1, (v1 - v0).max(0.0) / dt))
        })
        .collect()
}

fn markers(trace: &Trace, kinds: &[(EventKind, &'static str, &'static str, bool)]) -> Vec<Marker> {
    let mut out: Vec<Marker> = Vec::new();
    // Events closer than this share a marker (the picture is ~900 px wide).
    let near = trace.duration() / 300.0;
    for e in &trace.events {
        let Some((_, color, label, strong)) = kinds.iter().find(|k| k.0 == e.kind) else {
            continue;
        };
        match out
            .iter_mut()
            .rev()
            .find(|m| m.kind == e.kind && e.t - m.t <= near)
        {
            Some(m) if !strong => m.count += e.count,
            _ => out.push(Marker {
                kind: e.kind,
                t: e.t,
                count: e.count,
                color,
                strong: *strong,
                label,
            }),
        }
    }
    out
}

fn total(trace: &Trace, kind: EventKind) -> f64 {
    trace
        .events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.count)
        .sum()
}

fn memory(trace: &Trace) -> Option<Panel> {
    let current = points(&trace.samples, |s| s.memory_current);
    if current.is_empty() {
        return None;
    }
    let mut p = Panel::new("Memory", Unit::Bytes);
    let high_water = points(&trace.samples, |s| s.memory_peak);
    // memory.peak catches what happened between two samples.
    let peak = current
        .iter()
        .chain(&high_water)
        .map(|p| p.1)
        .fold(0.0, f64::max);
    let lim = trace.header.limits;
    p.summary = format!("peak {}", bytes(peak));
    if let Some(max) = lim.memory_max.filter(|m| *m > 0.0) {
        p.summary
            .push_str(&format!(" ({:.0}% of memory.max)", peak / max * 100.0));
    }
    let kills = total(trace, EventKind::OomKill);
    if kills > 0.0 {
        p.summary.push_str(&format!(
            ", {kills} OOM kill{}",
            if kills == 1.0 { "" } else { "s" }
        ));
    }
    let high = total(trace, EventKind::MemoryHigh);
    if high > 0.0 {
        p.summary
            .push_str(&format!(", memory.high hit {high} times"));
    }
    p.series.push(Series {
        id: "memory.current".into(),
        label: "memory.current".into(),
        color: BLUE,
        shape: Shape::Line,
        area: true,
        dashed: false,
        points: current,
    });
    if !high_water.is_empty() {
        p.series.push(Series {
            id: "memory.peak".into(),
            label: "memory.peak".into(),
            color: BLUE,
            shape: Shape::Line,
            area: false,
            dashed: true,
            points: high_water,
        });
    }
    if let Some(v) = lim.memory_max {
        p.limits.push(Limit {
            id: "memory.max",
            label: format!("memory.max {}", bytes(v)),
            value: v,
            color: RED,
        });
    }
    if let Some(v) = lim.memory_high {
        p.limits.push(Limit {
            id: "memory.high",
            label: format!("memory.high {}", bytes(v)),
            value: v,
            color: ORANGE,
        });
    }
    p.markers = markers(
        trace,
        &[
            (EventKind::OomKill, RED, "OOM kill", true),
            (EventKind::MemoryHigh, ORANGE, "memory.high hit", false),
            (EventKind::MemoryMax, DARK_RED, "at memory.max", false),
        ],
    );
    Some(p)
}

fn cpu(trace: &Trace) -> Option<Panel> {
    let used = rates(&trace.samples, |s| s.usage_usec);
    if used.is_empty() {
        return None;
    }
    let mut p = Panel::new("CPU", Unit::Cores);
    let points: Vec<(f64, f64)> = std::iter::once((used[0].0, 0.0))
        .chain(used.iter().map(|(_, t1, r)| (*t1, r / 1e6)))
        .collect();
    let first = trace
        .samples
        .iter()
        .find_map(|s| s.usage_usec.map(|u| (s.t, u)));
    let last = trace
        .samples
        .iter()
        .rev()
        .find_map(|s| s.usage_usec.map(|u| (s.t, u)));
    let (cpu_time, span) = match (first, last) {
        (Some((t0, u0)), Some((t1, u1))) => ((u1 - u0) / 1e6, t1 - t0),
        _ => (0.0, 0.0),
    };
    let avg = if span > 0.0 { cpu_time / span } else { 0.0 };
    let busiest = points.iter().map(|p| p.1).fold(0.0, f64::max);
    p.summary = format!(
        "CPU time {}, average {} CPUs",
        super::scale::duration(cpu_time),
        number((avg * 100.0).round() / 100.0)
    );
    if let Some(cpus) = trace.header.limits.cpus {
        p.summary
            .push_str(&format!(" ({:.0}% of cpu.max)", avg / cpus * 100.0));
        p.share_of = Some((cpus, "share of cpu.max"));
        p.limits.push(Limit {
            id: "cpu.max",
            label: format!("cpu.max {} CPUs", number(cpus)),
            value: cpus,
            color: RED,
        });
    }
    p.summary.push_str(&format!(
        ", peak {} CPUs",
        number((busiest * 100.0).round() / 100.0)
    ));
    p.series.push(Series {
        id: "cpu.stat usage_usec".into(),
        label: "CPU in use (1 = one core)".into(),
        color: GREEN,
        shape: Shape::Steps,
        area: true,
        dashed: false,
        points,
    });
    // Throttling: intervals in which the box was throttled, by share of
    // enforcement periods; neighbours merge.
    let periods = rates(&trace.samples, |s| s.nr_periods);
    let throttled = rates(&trace.samples, |s| s.nr_throttled);
    let (mut n_throttled, mut n_periods) = (0.0, 0.0);
    for ((t0, t1, per), (_, _, thr)) in periods.iter().zip(&throttled) {
        n_throttled += thr * (t1 - t0);
        n_periods += per * (t1 - t0);
        if *thr <= 0.0 {
            continue;
        }
        let strength = if *per > 0.0 {
            (thr / per).min(1.0)
        } else {
            1.0
        };
        match p.bands.last_mut() {
            Some(b) if (b.t1 - t0).abs() < 1e-9 => {
                let (w0, w1) = (b.t1 - b.t0, t1 - t0);
                b.strength = (b.strength * w0 + strength * w1) / (w0 + w1);
                b.t1 = *t1;
            }
            _ => p.bands.push(Band {
                kind: "throttled",
                t0: *t0,
                t1: *t1,
                strength,
            }),
        }
    }
    if n_periods > 0.0 && n_throttled > 0.0 {
        p.summary.push_str(&format!(
            ", throttled in {:.0}% of periods",
            n_throttled / n_periods * 100.0
        ));
        p.legend_extra
            .push(("throttled", RED, "throttled (cpu.max)"));
    }
    Some(p)
}

fn pids(trace: &Trace) -> Option<Panel> {
    let current = points(&trace.samples, |s| s.pids_current);
    if current.is_empty() {
        return None;
    }
    let mut p = Panel::new("Processes", Unit::Count);
    let peak = current.iter().map(|p| p.1).fold(0.0, f64::max);
    p.summary = format!("peak {peak}");
    if let Some(max) = trace.header.limits.pids_max {
        p.summary.push_str(&format!(" of pids.max {max}"));
        p.limits.push(Limit {
            id: "pids.max",
            label: format!("pids.max {max}"),
            value: max,
            color: RED,
        });
    }
    let refused = total(trace, EventKind::PidsMax);
    if refused > 0.0 {
        p.summary.push_str(&format!(", {refused} forks refused"));
    }
    p.series.push(Series {
        id: "pids.current".into(),
        label: "pids.current".into(),
        color: PURPLE,
        shape: Shape::Line,
        area: true,
        dashed: false,
        points: current,
    });
    p.markers = markers(trace, &[(EventKind::PidsMax, RED, "fork refused", false)]);
    Some(p)
}

fn pressure(trace: &Trace) -> Option<Panel> {
    let mut p = Panel::new("Pressure (share of time stalled)", Unit::Percent);
    let colors = [GREEN, BLUE, BROWN];
    let mut worst: Vec<String> = Vec::new();
    for (i, (name, color)) in PRESSURE.iter().zip(colors).enumerate() {
        let some = rates(&trace.samples, |s| s.pressure[i].map(|p| p.some));
        if some.is_empty() {
            continue;
        }
        let points: Vec<(f64, f64)> = std::iter::once((some[0].0, 0.0))
            .chain(some.iter().map(|(_, t1, r)| (*t1, (r / 1e4).min(100.0))))
            .collect();
        let max = points.iter().map(|p| p.1).fold(0.0, f64::max);
        worst.push(format!("{name} {max:.0}%"));
        p.series.push(Series {
            id: format!("{name}.pressure some"),
            label: format!("{name} (some)"),
            color,
            shape: Shape::Steps,
            area: false,
            dashed: false,
            points,
        });
    }
    if p.series.is_empty() {
        return None;
    }
    p.summary = format!("worst interval: {}", worst.join(", "));
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(lines: &[&str]) -> Trace {
        let head = r#"{"cgbox_trace": 1, "name": "b", "command": ["x"], "limits": {"memory.max": 1048576000, "cpu.max": "50000 100000", "pids.max": 8}}"#;
        let mut text = format!("{head}\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        Trace::parse(&text).unwrap()
    }

    #[test]
    fn derived_series() {
        let t = trace(&[
            r#"{"t": 0.0, "memory.current": 100, "pids.current": 1, "cpu.stat": {"usage_usec": 0, "nr_periods": 0, "nr_throttled": 0}, "cpu.pressure": {"some": {"total": 0}}}"#,
            r#"{"t": 1.0, "memory.current": 300, "pids.current": 3, "cpu.stat": {"usage_usec": 500000, "nr_periods": 10, "nr_throttled": 5}, "cpu.pressure": {"some": {"total": 250000}}}"#,
            r#"{"t": 2.0, "memory.current": 200, "pids.current": 2, "cpu.stat": {"usage_usec": 1000000, "nr_periods": 20, "nr_throttled": 15}, "cpu.pressure": {"some": {"total": 250000}}}"#,
            r#"{"t": 2.5, "event": "oom_kill", "count": 1, "total": 1}"#,
            r#"{"t": 2.6, "event": "memory.high", "count": 3, "total": 3}"#,
            r#"{"t": 2.6001, "event": "memory.high", "count": 2, "total": 5}"#,
            r#"{"t": 3.0, "memory.current": 200, "pids.current": 2, "cpu.stat": {"usage_usec": 1000000, "nr_periods": 20, "nr_throttled": 15}, "cpu.pressure": {"some": {"total": 250000}}}"#,
        ]);
        let p = panels(&t);
        let titles: Vec<&str> = p.iter().map(|p| p.title).collect();
        assert_eq!(
            titles,
            [
                "Memory",
                "CPU",
                "Processes",
                "Pressure (share of time stalled)"
            ]
        );
        assert_eq!(p[0].series[0].points[1], (1.0, 300.0));
        assert_eq!(p[0].limits[0].id, "memory.max");
        assert_eq!(p[0].markers.len(), 2, "the close memory.high events merge");
        assert_eq!(p[0].markers[1].count, 5.0);
        assert!(p[0].markers[0].strong);
        assert!(p[0].summary.contains("1 OOM kill,"), "{}", p[0].summary);
        // CPU: half a core in each of the first two seconds, none after.
        assert_eq!(
            p[1].series[0].points,
            [(0.0, 0.0), (1.0, 0.5), (2.0, 0.5), (3.0, 0.0)]
        );
        assert_eq!(p[1].share_of, Some((0.5, "share of cpu.max")));
        assert_eq!(p[1].bands.len(), 1, "two throttled intervals merge");
        assert_eq!((p[1].bands[0].t0, p[1].bands[0].t1), (0.0, 2.0));
        assert!((p[1].bands[0].strength - 0.75).abs() < 1e-9);
        assert!(
            p[1].summary.contains("throttled in 75% of periods"),
            "{}",
            p[1].summary
        );
        assert!(
            p[1].summary.contains("(67% of cpu.max)"),
            "{}",
            p[1].summary
        );
        assert_eq!(p[2].limits[0].value, 8.0);
        // Pressure: 25% of the first second stalled.
        assert_eq!(p[3].series[0].points[1], (1.0, 25.0));
        assert_eq!(p[3].series.len(), 1, "only the files present");
    }

    #[test]
    fn panels_only_for_what_is_there() {
        let t = trace(&[
            r#"{"t": 0.0, "cpu.stat": {"usage_usec": 0}}"#,
            r#"{"t": 0.1, "cpu.stat": {"usage_usec": 100}}"#,
        ]);
        let p = panels(&t);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].title, "CPU");
        assert!(p[0].bands.is_empty());
        let t = trace(&[r#"{"t": 0.0, "cpu.stat": {"usage_usec": 0}}"#]);
        assert!(panels(&t).is_empty(), "one sample: no rate to draw");
    }
}
