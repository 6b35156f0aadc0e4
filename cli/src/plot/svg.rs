//! The picture: one self-contained SVG, plain text.
//!
//! Every drawn statistic carries what it is for tools and tests:
//! `class="series" data-series="memory.current"`, `class="limit"
//! data-limit="memory.max"`, `class="event" data-event="oom_kill"`,
//! `class="band" data-event="throttled"`; panels are `class="panel"
//! data-panel="Memory"`. Markers carry a `<title>` that a browser shows on
//! hover.

use std::fmt::Write;

use super::model::Trace;
use super::panels::{Band, Limit, Marker, Panel, RED, Series, Shape, Unit};
use super::scale::{self, Clock, byte_unit, number};

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 70.0;
const HEADER: f64 = 96.0;
/// The title row of a panel, above its plot.
const PANEL_TITLE: f64 = 24.0;
const PLOT: f64 = 150.0;
/// Below a plot: the time labels.
const TIME_LABELS: f64 = 22.0;
/// One row of a legend.
const LEGEND_ROW: f64 = 18.0;
/// Air between a panel's legend and the next panel's title.
const PANEL_AIR: f64 = 16.0;
const GRID: &str = "#e3e3e3";

/// A limit more than this many times above everything drawn is named at
/// the top of its panel instead of flattening the data under it.
const OFF_SCALE: f64 = 4.0;

pub fn render(trace: &Trace, panels: &[Panel]) -> String {
    let legends: Vec<Vec<Vec<(f64, Item)>>> =
        panels.iter().map(|p| legend_rows(items(p))).collect();
    let panel_height =
        |rows: usize| PANEL_TITLE + PLOT + TIME_LABELS + rows as f64 * LEGEND_ROW + PANEL_AIR;
    let height = HEADER + legends.iter().map(|l| panel_height(l.len())).sum::<f64>() + 4.0;
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif">"#
    );
    s.push('\n');
    s.push_str(
        "<style>text{fill:#222;font-size:12px}.muted{fill:#666}.title{font-size:19px;font-weight:600}\
         .sub{font-size:12.5px;fill:#555}.ptitle{font-size:14px;font-weight:600}.axis{font-size:11px;fill:#666}\
         .lim{font-size:11px;font-weight:600}</style>\n",
    );
    let _ = writeln!(
        s,
        r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#
    );
    header(&mut s, trace);
    let total = trace.duration().max(1e-3);
    let clock = Clock::for_run(total);
    let (t_step, t_top) = clock.ticks(total, 8);
    // The time axis ends at the run's end, not at a round number past it.
    let t_end = if t_top - total > t_step * 0.3 {
        total
    } else {
        t_top
    };
    let x = |t: f64| LEFT + (t / t_end).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT);
    let mut top = HEADER;
    for (p, legend) in panels.iter().zip(&legends) {
        panel(
            &mut s,
            p,
            legend,
            top + PANEL_TITLE,
            &x,
            clock,
            t_step,
            t_end,
        );
        top += panel_height(legend.len());
    }
    s.push_str("</svg>\n");
    s
}

/// Text for XML: `&`, `<`, `>` and quotes escaped, control characters
/// dropped.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A command line as a person would type it, cut at `max` characters.
fn command_line(words: &[String], max: usize) -> String {
    let shown: Vec<String> = words
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect();
    let line = shown.join(" ");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line
    }
}

fn header(s: &mut String, trace: &Trace) {
    let h = &trace.header;
    let command = if h.command.is_empty() {
        "(command not recorded)".to_owned()
    } else {
        command_line(&h.command, 90)
    };
    let _ = writeln!(
        s,
        r#"<text class="title" x="{LEFT}" y="32">cgbox run: {}</text>"#,
        esc(&command)
    );
    let mut outcome = match &trace.end {
        Some(end) if end.timed_out => "timed out".to_owned(),
        Some(end) => match (end.exit_code, end.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("killed by {}", crate::signals::name(sig as i32)),
            _ => "ended".to_owned(),
        },
        None => "no end recorded (cgbox stopped early?)".to_owned(),
    };
    outcome.push_str(&format!(" after {}", scale::duration(trace.duration())));
    if trace.end.as_ref().is_some_and(|e| e.killed) {
        outcome.push_str(", box killed");
    }
    let mut facts = vec![outcome];
    if !h.name.is_empty() {
        facts.push(format!("box {}", h.name));
    }
    if let Some(ms) = h.started_unix_ms {
        facts.push(scale::utc(ms));
    }
    if let Some(every) = h.every_ms {
        facts.push(format!("sampled every {} ms", number(every)));
    }
    let _ = writeln!(
        s,
        r#"<text class="sub" x="{LEFT}" y="56">{}</text>"#,
        esc(&facts.join("  ·  "))
    );
    let l = h.limits;
    let mut limits = Vec::new();
    if let Some(v) = l.memory_max {
        limits.push(format!("memory.max {}", scale::bytes(v)));
    }
    if let Some(v) = l.memory_high {
        limits.push(format!("memory.high {}", scale::bytes(v)));
    }
    if let Some(v) = l.cpus {
        limits.push(format!("cpu.max {} CPUs", number(v)));
    }
    if let Some(v) = l.pids_max {
        limits.push(format!("pids.max {v}"));
    }
    let limits = if limits.is_empty() {
        "limits: none".to_owned()
    } else {
        format!("limits: {}", limits.join("  ·  "))
    };
    let _ = writeln!(
        s,
        r#"<text class="sub" x="{LEFT}" y="75">{}</text>"#,
        esc(&limits)
    );
}

/// The axis top for a panel, and the limits drawn off the scale.
fn y_top(p: &Panel) -> f64 {
    let data = p.data_max();
    let mut top = data;
    for l in &p.limits {
        if data <= 0.0 || l.value <= data * OFF_SCALE {
            top = top.max(l.value);
        }
    }
    match p.unit {
        Unit::Percent => (top * 1.1).clamp(10.0, 100.0),
        Unit::Count => (top * 1.1).max(4.0),
        Unit::Cores => (top * 1.1).max(0.1),
        Unit::Bytes => (top * 1.1).max(1024.0 * 1024.0),
    }
}

fn y_label(unit: Unit, v: f64, bytes_unit: (f64, &str)) -> String {
    match unit {
        Unit::Bytes => format!("{} {}", number(v / bytes_unit.0), bytes_unit.1),
        Unit::Cores => number(v),
        Unit::Count => number(v),
        Unit::Percent => format!("{}%", number(v)),
    }
}

#[allow(clippy::too_many_arguments)]
fn panel(
    s: &mut String,
    p: &Panel,
    legend: &[Vec<(f64, Item)>],
    top: f64,
    x: &dyn Fn(f64) -> f64,
    clock: Clock,
    t_step: f64,
    t_end: f64,
) {
    let right = WIDTH - RIGHT;
    let bottom = top + PLOT;
    let _ = writeln!(s, r#"<g class="panel" data-panel="{}">"#, esc(p.title));
    // Title, summary and legend.
    let _ = writeln!(
        s,
        r#"<text class="ptitle" x="{LEFT}" y="{:.1}">{}</text>"#,
        top - 8.0,
        esc(p.title)
    );
    let _ = writeln!(
        s,
        r#"<text class="muted" x="{right}" y="{:.1}" text-anchor="end">{}</text>"#,
        top - 8.0,
        esc(&p.summary)
    );
    // The scale.
    let bytes_unit = byte_unit(y_top(p));
    let in_unit = if p.unit == Unit::Bytes {
        bytes_unit.0
    } else {
        1.0
    };
    let (step, y_max) = scale::ticks(y_top(p) / in_unit, 5);
    let (step, y_max) = if p.unit == Unit::Count {
        (step.max(1.0), y_max.max(step.max(1.0)))
    } else {
        (step, y_max)
    };
    let (step, y_max) = (step * in_unit, y_max * in_unit);
    let y = |v: f64| bottom - (v / y_max).clamp(0.0, 1.0) * PLOT;
    let _ = writeln!(
        s,
        "<rect x=\"{LEFT}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{PLOT}\" fill=\"#fcfcfc\" stroke=\"#cfcfcf\"/>",
        right - LEFT
    );
    for v in scale::values(step, y_max) {
        let yy = y(v);
        if v > 0.0 && v < y_max {
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" y1="{yy:.1}" x2="{right}" y2="{yy:.1}" stroke="{GRID}"/>"#
            );
        }
        let _ = writeln!(
            s,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 7.0,
            yy + 4.0,
            esc(&y_label(p.unit, v, bytes_unit))
        );
        if let Some((of, _)) = p.share_of {
            let _ = writeln!(
                s,
                r#"<text class="axis" x="{:.1}" y="{:.1}">{:.0}%</text>"#,
                right + 7.0,
                yy + 4.0,
                v / of * 100.0
            );
        }
    }
    if let Some((_, what)) = p.share_of {
        let _ = writeln!(
            s,
            r#"<text class="axis" x="{:.1}" y="{:.1}" transform="rotate(90 {:.1} {:.1})" text-anchor="middle">{}</text>"#,
            right + 52.0,
            top + PLOT / 2.0,
            right + 52.0,
            top + PLOT / 2.0,
            esc(what)
        );
    }
    let axis_name = match p.unit {
        Unit::Cores => "CPUs",
        Unit::Count => "processes",
        Unit::Bytes | Unit::Percent => "",
    };
    if !axis_name.is_empty() {
        let (cx, cy) = (LEFT - 58.0, top + PLOT / 2.0);
        let _ = writeln!(
            s,
            r#"<text class="axis" x="{cx:.1}" y="{cy:.1}" transform="rotate(-90 {cx:.1} {cy:.1})" text-anchor="middle">{axis_name}</text>"#
        );
    }
    // Time grid and labels.
    for t in scale::values(t_step, t_end + t_step * 1e-6) {
        if t > t_end + 1e-9 {
            break;
        }
        let xx = x(t);
        let _ = writeln!(
            s,
            r#"<line x1="{xx:.1}" y1="{top:.1}" x2="{xx:.1}" y2="{bottom:.1}" stroke="{GRID}"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text class="axis" x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 16.0,
            esc(&clock.label(t))
        );
    }
    for b in &p.bands {
        band(s, b, x, top);
    }
    for series in &p.series {
        draw_series(s, series, x, &y, bottom);
    }
    // Limit labels sit above their lines, or below where the line is at
    // the top or another label is already there.
    let mut order: Vec<&Limit> = p.limits.iter().collect();
    order.sort_by(|a, b| b.value.total_cmp(&a.value));
    let mut taken: Vec<f64> = Vec::new();
    let mut boxes: Vec<(f64, f64, f64, f64)> = Vec::new();
    for l in order {
        let yy = y(l.value);
        let above = yy - 5.0;
        let clash = |at: f64| taken.iter().any(|t| (t - at).abs() < 13.0);
        let label_y = if yy - top < 16.0 || clash(above) {
            yy + 13.0
        } else {
            above
        };
        taken.push(label_y);
        limit(s, l, yy, label_y, y_max, top);
        // What the label covers, for the markers' labels to keep clear of.
        let width = text_width(&l.label, 11.0);
        let at = if l.value > y_max * 1.0001 {
            top + 24.0
        } else {
            label_y
        };
        boxes.push((right - 6.0 - width, at - 11.0, right - 6.0, at + 3.0));
    }
    for m in &p.markers {
        marker(s, m, x, top, bottom, &mut boxes);
    }
    draw_legend(s, legend, bottom + TIME_LABELS + 14.0);
    s.push_str("</g>\n");
}

fn band(s: &mut String, b: &Band, x: &dyn Fn(f64) -> f64, top: f64) {
    let (x0, x1) = (x(b.t0), x(b.t1));
    let w = (x1 - x0).max(1.0);
    // A faint tint over the span, and a strip along the top that says how
    // strongly: no colour mixes into the series drawn over it.
    let _ = writeln!(
        s,
        r#"<g class="band" data-event="{}"><title>{}</title><rect x="{x0:.1}" y="{top:.1}" width="{w:.1}" height="{PLOT}" fill="{RED}" fill-opacity="{:.2}"/><rect x="{x0:.1}" y="{top:.1}" width="{w:.1}" height="7" fill="{RED}" fill-opacity="{:.2}"/></g>"#,
        b.kind,
        esc(&format!(
            "throttled in {:.0}% of periods from {} to {}",
            b.strength * 100.0,
            scale::duration(b.t0),
            scale::duration(b.t1)
        )),
        0.03 + 0.05 * b.strength,
        0.3 + 0.5 * b.strength,
    );
}

/// At most two points per pixel column (the lowest and the highest, in
/// time order): a long trace draws as fast as a short one and keeps its
/// spikes.
fn thin(points: &[(f64, f64)], x: &dyn Fn(f64) -> f64) -> Vec<(f64, f64)> {
    if points.len() <= 2000 {
        return points.to_vec();
    }
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut column = f64::NAN;
    let mut bucket: Vec<(f64, f64)> = Vec::new();
    let flush = |bucket: &mut Vec<(f64, f64)>, out: &mut Vec<(f64, f64)>| {
        let lo = bucket.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = bucket.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo.0 <= hi.0 {
                out.extend([lo, hi]);
            } else {
                out.extend([hi, lo]);
            }
        }
        bucket.clear();
    };
    for &p in points {
        let c = x(p.0).floor();
        if c != column {
            flush(&mut bucket, &mut out);
            column = c;
        }
        bucket.push(p);
    }
    flush(&mut bucket, &mut out);
    out
}

fn draw_series(
    s: &mut String,
    series: &Series,
    x: &dyn Fn(f64) -> f64,
    y: &dyn Fn(f64) -> f64,
    bottom: f64,
) {
    let mut coords: Vec<(f64, f64)> = Vec::new();
    let points = thin(&series.points, x);
    for (i, &(t, v)) in points.iter().enumerate() {
        if series.shape == Shape::Steps
            && let Some(prev) = i.checked_sub(1).and_then(|j| points.get(j))
        {
            coords.push((x(prev.0), y(v)));
        }
        coords.push((x(t), y(v)));
    }
    let path: String = coords
        .iter()
        .map(|(a, b)| format!("{a:.1},{b:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = write!(s, r#"<g class="series" data-series="{}">"#, esc(&series.id));
    if series.area
        && let (Some(first), Some(last)) = (coords.first(), coords.last())
    {
        let _ = write!(
            s,
            r#"<polygon points="{:.1},{bottom:.1} {path} {:.1},{bottom:.1}" fill="{}" fill-opacity="0.16" stroke="none"/>"#,
            first.0, last.0, series.color
        );
    }
    let dash = if series.dashed {
        r#" stroke-dasharray="5 4""#
    } else {
        ""
    };
    let width = if series.dashed { 1.3 } else { 1.8 };
    let _ = writeln!(
        s,
        r#"<polyline points="{path}" fill="none" stroke="{}" stroke-width="{width}" stroke-linejoin="round"{dash}/></g>"#,
        series.color
    );
}

fn limit(s: &mut String, l: &Limit, yy: f64, label_y: f64, y_max: f64, top: f64) {
    let right = WIDTH - RIGHT;
    if l.value > y_max * 1.0001 {
        // Off the scale: named at the top, with an arrow up.
        let _ = writeln!(
            s,
            r#"<g class="limit" data-limit="{}" data-offscale="1"><text class="lim" x="{:.1}" y="{:.1}" text-anchor="end" fill="{}">↑ {} (above the scale)</text></g>"#,
            l.id,
            right - 6.0,
            top + 24.0,
            l.color,
            esc(&l.label)
        );
        return;
    }
    let _ = writeln!(
        s,
        r#"<g class="limit" data-limit="{}"><line x1="{LEFT}" y1="{yy:.1}" x2="{right}" y2="{yy:.1}" stroke="{}" stroke-width="1.6" stroke-dasharray="7 4"/><text class="lim" x="{:.1}" y="{label_y:.1}" text-anchor="end" fill="{}" stroke="white" stroke-width="3" paint-order="stroke">{}</text></g>"#,
        l.id,
        l.color,
        right - 6.0,
        l.color,
        esc(&l.label)
    );
}

/// About how wide `text` is in the picture's sans-serif at `size` px.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// Where a label of `width` can go next to the line at `xx`: below the
/// limit labels and other marker labels already placed (`boxes`), right of
/// the line, or left of it near the right edge.
fn free_spot(
    boxes: &[(f64, f64, f64, f64)],
    xx: f64,
    width: f64,
    top: f64,
    bottom: f64,
) -> (f64, f64, &'static str) {
    let (x0, anchor) = if xx + 5.0 + width > WIDTH - RIGHT {
        (xx - 5.0 - width, "end")
    } else {
        (xx + 5.0, "start")
    };
    let mut y = top + 26.0;
    while y < bottom - 4.0 {
        let clear = boxes
            .iter()
            .all(|b| x0 + width < b.0 || x0 > b.2 || y + 3.0 < b.1 || y - 11.0 > b.3);
        if clear {
            break;
        }
        y += 14.0;
    }
    let lx = if anchor == "end" { xx - 5.0 } else { xx + 5.0 };
    (lx, y.min(bottom - 4.0), anchor)
}

fn marker(
    s: &mut String,
    m: &Marker,
    x: &dyn Fn(f64) -> f64,
    top: f64,
    bottom: f64,
    boxes: &mut Vec<(f64, f64, f64, f64)>,
) {
    let xx = x(m.t);
    let what = if m.count > 1.0 && !m.strong {
        format!(
            "{} ×{} at {}",
            m.label,
            number(m.count),
            scale::duration(m.t)
        )
    } else {
        format!("{} at {}", m.label, scale::duration(m.t))
    };
    if m.strong {
        let width = text_width(m.label, 11.0);
        let (lx, ly, anchor) = free_spot(boxes, xx, width, top, bottom);
        let x0 = if anchor == "end" { lx - width } else { lx };
        boxes.push((x0, ly - 11.0, x0 + width, ly + 3.0));
        let _ = writeln!(
            s,
            r#"<g class="event" data-event="{}"><title>{}</title><line x1="{xx:.1}" y1="{top:.1}" x2="{xx:.1}" y2="{bottom:.1}" stroke="{}" stroke-width="1.6"/><path d="M{:.1},{:.1} l5,5 m0,-5 l-5,5" stroke="{}" stroke-width="2"/><text class="lim" x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}" fill="{}" stroke="white" stroke-width="3" paint-order="stroke">{}</text></g>"#,
            esc(m.kind.name()),
            esc(&what),
            m.color,
            xx - 2.5,
            top + 4.0,
            m.color,
            m.color,
            esc(m.label)
        );
    } else {
        let _ = writeln!(
            s,
            r#"<g class="event" data-event="{}" data-count="{}"><title>{}</title><path d="M{:.1},{:.1} l4,-7 l-8,0 z" fill="{}"/></g>"#,
            esc(m.kind.name()),
            number(m.count),
            esc(&what),
            xx,
            top - 1.0 + 8.0,
            m.color
        );
    }
}

/// One entry of a legend: its text, colour and swatch.
type Item = (String, &'static str, Swatch);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Swatch {
    Area,
    Line,
    Dashed,
    Tick,
    Cross,
    Band,
}

/// A swatch and a name for every series, limit and kind of marker.
fn items(p: &Panel) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    for series in &p.series {
        let kind = if series.dashed {
            Swatch::Dashed
        } else if series.area {
            Swatch::Area
        } else {
            Swatch::Line
        };
        items.push((series.label.clone(), series.color, kind));
    }
    for l in &p.limits {
        items.push((l.id.to_owned(), l.color, Swatch::Dashed));
    }
    for m in &p.markers {
        if !items.iter().any(|i| i.0 == m.label) {
            let swatch = if m.strong {
                Swatch::Cross
            } else {
                Swatch::Tick
            };
            items.push((m.label.to_owned(), m.color, swatch));
        }
    }
    for (_, color, label) in &p.legend_extra {
        items.push(((*label).to_owned(), color, Swatch::Band));
    }
    items
}

/// The items laid out in rows that fit the plot's width: each with its x.
fn legend_rows(items: Vec<Item>) -> Vec<Vec<(f64, Item)>> {
    let mut rows: Vec<Vec<(f64, Item)>> = Vec::new();
    let mut xx = LEFT;
    for item in items {
        // Roughly 6.6 px a character at 12 px.
        let width = 24.0 + item.0.chars().count() as f64 * 6.6;
        if rows.is_empty() || xx + width > WIDTH - RIGHT {
            rows.push(Vec::new());
            xx = LEFT;
        }
        if let Some(row) = rows.last_mut() {
            row.push((xx, item));
        }
        xx += width + 22.0;
    }
    rows
}

fn draw_legend(s: &mut String, rows: &[Vec<(f64, Item)>], y0: f64) {
    let _ = write!(s, r#"<g class="legend">"#);
    for (r, row) in rows.iter().enumerate() {
        let y = y0 + r as f64 * LEGEND_ROW;
        let sy = y - 4.0;
        for (xx, (label, color, kind)) in row {
            let xx = *xx;
            let _ = match kind {
                Swatch::Area => write!(
                    s,
                    r#"<rect x="{xx:.1}" y="{:.1}" width="18" height="8" fill="{color}" fill-opacity="0.25" stroke="{color}" stroke-width="1.5"/>"#,
                    sy - 4.0
                ),
                Swatch::Band => write!(
                    s,
                    r#"<rect x="{xx:.1}" y="{:.1}" width="18" height="10" fill="{color}" fill-opacity="0.15"/><rect x="{xx:.1}" y="{:.1}" width="18" height="3" fill="{color}" fill-opacity="0.6"/>"#,
                    sy - 5.0,
                    sy - 5.0
                ),
                Swatch::Tick => write!(
                    s,
                    r#"<path d="M{:.1},{:.1} l4,-7 l-8,0 z" fill="{color}"/>"#,
                    xx + 9.0,
                    sy + 4.0
                ),
                Swatch::Cross => write!(
                    s,
                    r#"<path d="M{:.1},{:.1} l6,6 m0,-6 l-6,6" stroke="{color}" stroke-width="2"/>"#,
                    xx + 6.0,
                    sy - 3.0
                ),
                Swatch::Dashed => write!(
                    s,
                    r#"<line x1="{xx:.1}" y1="{sy:.1}" x2="{:.1}" y2="{sy:.1}" stroke="{color}" stroke-width="1.8" stroke-dasharray="5 3"/>"#,
                    xx + 18.0
                ),
                Swatch::Line => write!(
                    s,
                    r#"<line x1="{xx:.1}" y1="{sy:.1}" x2="{:.1}" y2="{sy:.1}" stroke="{color}" stroke-width="2"/>"#,
                    xx + 18.0
                ),
            };
            let _ = write!(
                s,
                r#"<text class="muted" x="{:.1}" y="{y:.1}">{}</text>"#,
                xx + 24.0,
                esc(label)
            );
        }
    }
    s.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_command_lines() {
        assert_eq!(
            esc("a<b & \"c\" 'd'\n"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos; "
        );
        let words: Vec<String> = ["sh", "-c", "make -j4 && echo 'ok'"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            command_line(&words, 100),
            r#"sh -c 'make -j4 && echo '\''ok'\'''"#
        );
        assert_eq!(command_line(&words, 10), "sh -c 'ma…");
    }
}
