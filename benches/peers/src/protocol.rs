//! The protocol that survives a rerun: the whole benchmark is run N times
//! (contenders interleaved round by round within each run, as before);
//! each table then reports, per contender, the median of the N run
//! medians and their spread (the lowest and highest run median), and the
//! correctness counts of all runs together.
//!
//! The output is markdown for RESULTS.md. Two marker comments make it
//! machine-readable for `readme.sh`, which generates the README's tables
//! from RESULTS.md: `<!-- peers:run venue="..." date="..." -->` opens a
//! run's block (its `- date:`, `- machine:`, `- command:`, `- load
//! average:` and `- also running:` lines follow), and the summary table
//! sits between `<!-- peers:summary -->` and `<!-- peers:summary-end -->`.

use crate::peers::ALL;
use crate::{Cell, Table, human};

/// What a protocol run says about itself.
pub struct Meta {
    pub venue: String,
    pub date: String,
    pub end: String,
    pub machine: String,
    pub command: Option<String>,
    pub context: Option<String>,
    pub load_start: String,
    pub load_end: String,
    pub fds: u64,
    pub dir: String,
    pub controllers: String,
    pub limits_here: bool,
    pub runs: usize,
    pub quick: bool,
    pub leftovers: Vec<String>,
    pub took: f64,
}

/// One contender of one table over all runs.
struct Row {
    label: &'static str,
    /// Each run's median (None: no time in that run).
    medians: Vec<Option<f64>>,
    /// Every run's correctness counts, added up.
    merged: Cell,
}

impl Row {
    fn some(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.medians.iter().flatten().copied().collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median of the run medians (the upper middle one for an even
    /// count, as the per-run medians are).
    fn center(&self) -> Option<f64> {
        let v = self.some();
        v.get(v.len() / 2).copied()
    }

    fn spread(&self) -> Option<(f64, f64)> {
        let v = self.some();
        Some((*v.first()?, *v.last()?))
    }
}

struct Aggregate {
    title: String,
    gone: bool,
    limits: bool,
    rows: Vec<Row>,
}

fn merge(into: &mut Cell, c: &Cell) {
    into.times.extend_from_slice(&c.times);
    into.gone.0 += c.gone.0;
    into.gone.1 += c.gone.1;
    into.limits.0 += c.limits.0;
    into.limits.1 += c.limits.1;
    for (k, n) in &c.errors {
        *into.errors.entry(k.clone()).or_default() += n;
    }
    if into.cannot.is_none() {
        into.cannot = c.cannot;
    }
}

fn aggregate(all: &[Vec<Table<'static>>]) -> Vec<Aggregate> {
    let Some(first) = all.first() else {
        return Vec::new();
    };
    first
        .iter()
        .enumerate()
        .map(|(t, table)| Aggregate {
            title: table.title.clone(),
            gone: table.gone,
            limits: table.limits,
            rows: table
                .rows
                .iter()
                .enumerate()
                .map(|(r, (label, _))| {
                    let mut merged = Cell::default();
                    let mut medians = Vec::new();
                    for run in all {
                        let cell = &run[t].rows[r].1;
                        medians.push(cell.median());
                        merge(&mut merged, cell);
                    }
                    Row {
                        label,
                        medians,
                        merged,
                    }
                })
                .collect(),
        })
        .collect()
}

fn spread_text(row: &Row) -> String {
    match row.spread() {
        Some((lo, hi)) => range(lo, hi),
        None => "-".into(),
    }
}

/// `21.6–23.1 us`, or `880.1 us–1.02 ms` across units.
fn range(lo: f64, hi: f64) -> String {
    let (a, b) = (human(lo), human(hi));
    match (a.rsplit_once(' '), b.rsplit_once(' ')) {
        (Some((x, ua)), Some((_, ub))) if ua == ub => format!("{x}–{b}"),
        _ => format!("{a}–{b}"),
    }
}

/// A summary cell: median of the run medians (spread), and what went
/// wrong when something did.
fn summary_cell(agg: &Aggregate, row: &Row) -> String {
    let c = &row.merged;
    let Some(center) = row.center() else {
        return match c.cannot {
            Some(_) => "cannot".into(),
            None => "errors".into(),
        };
    };
    let mut s = format!("{} ({})", human(center), spread_text(row));
    if agg.gone && c.gone.0 < c.gone.1 {
        s.push_str(&format!("; gone {}/{}", c.gone.0, c.gone.1));
    }
    s
}

/// The README's operations: (label, table index, row per contender of
/// `ALL`; None: not in this table).
const SUMMARY: [(&str, usize, [Option<usize>; 4]); 9] = [
    (
        "create an empty box",
        0,
        [Some(0), Some(1), Some(2), Some(3)],
    ),
    (
        "remove an empty box",
        1,
        [Some(0), Some(1), Some(2), Some(3)],
    ),
    (
        "full stats (cgroups-rs: the same files; tokio: 2 files)",
        2,
        [Some(0), Some(1), Some(3), Some(4)],
    ),
    (
        "hot-path sample (CPU, memory)",
        3,
        [Some(0), Some(1), Some(2), Some(3)],
    ),
    (
        "lifecycle: create, one sleep, kill, wait, remove",
        4,
        [Some(0), Some(1), Some(2), Some(3)],
    ),
    (
        "kill a 51-process tree",
        5,
        [Some(0), Some(1), Some(2), Some(3)],
    ),
    (
        "lifecycle after 10 ms of quiet",
        6,
        [Some(0), Some(1), Some(2), Some(3)],
    ),
    (
        "1000 boxes at once: create, per box",
        11,
        [Some(0), Some(1), Some(2), Some(3)],
    ),
    (
        "1000 boxes at once: remove, per box",
        12,
        [Some(0), Some(1), Some(2), Some(3)],
    ),
];

pub fn print(meta: &Meta, all: &[Vec<Table<'static>>]) {
    let aggs = aggregate(all);
    println!("## Peer benchmark, venue: {}\n", meta.venue);
    println!(
        "<!-- peers:run venue=\"{}\" date=\"{}\" -->",
        venue_key(&meta.venue),
        meta.date
    );
    println!("- date: {} to {} (UTC)", meta.date, meta.end);
    println!("- machine: {}", meta.machine);
    println!("- build: {}", crate::build());
    if let Some(c) = &meta.command {
        println!("- command: `{c}`");
    }
    println!(
        "- load average (1, 5, 15 min, this kernel's /proc/loadavg): {} at the start, {} at the end",
        meta.load_start, meta.load_end
    );
    if let Some(c) = &meta.context {
        println!("- also running: {c}");
    }
    println!(
        "- protocol: the whole benchmark {} time{}{}, contenders interleaved round by round in each (every order in turn: each contender runs in each place and right after each other one equally often); per table the median of the {} run medians, and the spread (lowest and highest run median)",
        meta.runs,
        if meta.runs == 1 { "" } else { "s" },
        if meta.quick {
            " (--quick: a few rounds)"
        } else {
            ""
        },
        meta.runs
    );
    println!("- open-file limit raised to {} (RLIMIT_NOFILE)", meta.fds);
    println!(
        "- cgroup2 subtree: {} bind-mounted over /sys/fs/cgroup in a private mount namespace; controllers there: {:?}",
        meta.dir, meta.controllers
    );
    println!(
        "- {}",
        if meta.limits_here {
            "limits: memory.max 512M, cpu.max 150000 100000, pids.max 256"
        } else {
            "no limits (this cgroup2 has no cpu, memory or pids controller)"
        }
    );
    println!("\n### Summary: median of the run medians (spread)\n");
    println!("<!-- peers:summary -->");
    let labels: Vec<&str> = ALL.iter().map(|p| p.label()).collect();
    println!("| operation | {} |", labels.join(" | "));
    println!("|---|{}", "---|".repeat(labels.len()));
    for (label, t, rows) in SUMMARY {
        let Some(agg) = aggs.get(t) else { continue };
        let cells: Vec<String> = rows
            .iter()
            .map(|r| match r.and_then(|r| agg.rows.get(r)) {
                Some(row) => summary_cell(agg, row),
                None => "-".into(),
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!("<!-- peers:summary-end -->");
    for agg in &aggs {
        print_aggregate(agg, meta.limits_here);
    }
    println!(
        "\n- leftovers removed by the harness at the end: {}",
        if meta.leftovers.is_empty() {
            "none".to_owned()
        } else {
            meta.leftovers.join(", ")
        }
    );
    println!("- took {:.1} s", meta.took);
}

/// `host` or `vm`: the first word of the venue, lower case; `-glibc`
/// added for a glibc build, so that readme.sh (which shows the default
/// static musl build, the one both venues run) tells them apart.
pub fn venue_key(venue: &str) -> String {
    let key = venue
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_ascii_lowercase();
    if cfg!(target_env = "gnu") {
        format!("{key}-glibc")
    } else {
        key
    }
}

fn print_aggregate(agg: &Aggregate, limits_here: bool) {
    println!("\n### {}\n", agg.title);
    println!(
        "| contender | median of run medians | spread | run medians | samples | vs cgbox | correctness (all runs) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let base = agg.rows.first().and_then(Row::center);
    for row in &agg.rows {
        let center = row.center();
        let ratio = match (center, base) {
            (Some(m), Some(b)) if b > 0.0 => format!("{:.2}x", m / b),
            _ => "-".into(),
        };
        let per_run: Vec<String> = row
            .medians
            .iter()
            .map(|m| m.map_or("-".into(), human))
            .collect();
        println!(
            "| {} | {} | {} | {} | {} | {ratio} | {} |",
            row.label,
            center.map_or("-".into(), human),
            spread_text(row),
            per_run.join(", "),
            row.merged.times.len(),
            row.merged.correctness(limits_here, agg.gone, agg.limits)
        );
    }
}
