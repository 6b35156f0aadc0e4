//! System calls per operation and contender: counted, not timed, so the
//! machine's noise does not move them.
//!
//! `count` (the driver) runs, for each operation and contender, `strace -f
//! -o LOG` around a process of its own, `count-one`, which enters its own
//! sandbox (as the timing run does), makes a few uncounted warm-up
//! iterations and then K counted ones, each between two marker calls
//! (`access("/peers-mark-begin")`, `access("/peers-mark-end")`). The
//! driver reads the log (`strace.rs`): calls between the markers, by the
//! benchmark process and by the processes it started up to their
//! `execve`, divided by K. The markers replace a subtraction of "K
//! iterations of nothing" (which the `nothing` row checks: 0).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::floor::{self, Floor};
use crate::peers::{self, Ctx, Job, Made, Peer, StatsKind};
use crate::strace::{self, BEGIN, Counted, END};
use crate::{Args, clean, load_average, machine, raise_fd_limit, sandbox, utc_now};

/// A contender as counted: the peers, cgroups-rs's own stats API (the
/// full-stats table has both), and the raw-syscall floor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Peer(Peer),
    CgroupsRsApi,
    Floor,
}

const WHO: [Who; 6] = [
    Who::Peer(Peer::Cgbox),
    Who::Peer(Peer::CgroupsRs),
    Who::CgroupsRsApi,
    Who::Peer(Peer::Libcgroups),
    Who::Peer(Peer::Tokio),
    Who::Floor,
];

impl Who {
    fn key(self) -> &'static str {
        match self {
            Who::Peer(Peer::Cgbox) => "cgbox",
            Who::Peer(Peer::CgroupsRs) => "cgroups-rs",
            Who::Peer(Peer::Libcgroups) => "libcgroups",
            Who::Peer(Peer::Tokio) => "tokio",
            Who::CgroupsRsApi => "cgroups-rs-api",
            Who::Floor => "floor",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Who::Peer(p) => p.label(),
            Who::CgroupsRsApi => "cgroups-rs cpu() + memory_stat()",
            Who::Floor => "floor (raw syscalls)",
        }
    }

    fn parse(s: &str) -> Option<Who> {
        WHO.into_iter().find(|w| w.key() == s)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Nothing,
    Create,
    Remove,
    Stats,
    Sample,
    Lifecycle,
    Tree,
}

const OPS: [Op; 7] = [
    Op::Nothing,
    Op::Create,
    Op::Remove,
    Op::Stats,
    Op::Sample,
    Op::Lifecycle,
    Op::Tree,
];

impl Op {
    fn key(self) -> &'static str {
        match self {
            Op::Nothing => "nothing",
            Op::Create => "create",
            Op::Remove => "remove",
            Op::Stats => "stats",
            Op::Sample => "sample",
            Op::Lifecycle => "lifecycle",
            Op::Tree => "tree",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Op::Nothing => "nothing (two markers: the check that the count adds nothing)",
            Op::Create => "create an empty box (with the limits where the controllers exist)",
            Op::Remove => "remove an empty box",
            Op::Stats => "full stats of a live box (cgroups-rs: the same files)",
            Op::Sample => "hot-path sample (CPU usage, memory.current)",
            Op::Lifecycle => "lifecycle: create, start one sleep, kill, wait until empty, remove",
            Op::Tree => "kill a tree of 51 processes: kill, wait, remove",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        OPS.into_iter().find(|o| o.key() == s)
    }

    /// Who is counted for this operation.
    fn contenders(self) -> &'static [Who] {
        use Peer::*;
        match self {
            Op::Nothing => &[Who::Peer(Cgbox)],
            Op::Create | Op::Remove | Op::Lifecycle => &[
                Who::Peer(Cgbox),
                Who::Peer(CgroupsRs),
                Who::Peer(Libcgroups),
                Who::Peer(Tokio),
                Who::Floor,
            ],
            Op::Stats => &WHO,
            Op::Sample => &[
                Who::Peer(Cgbox),
                Who::CgroupsRsApi,
                Who::Peer(Libcgroups),
                Who::Peer(Tokio),
                Who::Floor,
            ],
            Op::Tree => &[
                Who::Peer(Cgbox),
                Who::Peer(CgroupsRs),
                Who::Peer(Libcgroups),
                Who::Peer(Tokio),
            ],
        }
    }
}

fn mark(begin: bool) {
    let _ = rustix::fs::access(if begin { BEGIN } else { END }, rustix::fs::Access::EXISTS);
}

// ----------------------------------------------------------------------
// count-one: K iterations of one operation for one contender, in a
// sandbox of its own.

/// `count-one --parent DIR --op OP --who WHO --iterations K --warmup W`.
pub fn one(args: &Args, parent: &str) {
    let (Some(op), Some(who)) = (
        args.value("--op").as_deref().and_then(Op::parse),
        args.value("--who").as_deref().and_then(Who::parse),
    ) else {
        eprintln!("count-one: --op and --who, please");
        std::process::exit(2);
    };
    let k = args.number("--iterations", 20);
    let warm = args.number("--warmup", 3);
    raise_fd_limit(65_536);
    let sandbox = match sandbox::Sandbox::enter(Path::new(parent)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("count-one: {e}");
            std::process::exit(1);
        }
    };
    let ctx = Ctx::new();
    let mut errors = Errors::default();
    let result = run(&ctx, op, who, warm, k, &mut errors);
    drop(ctx);
    drop(sandbox.leave());
    if let Some((n, first)) = errors.first {
        eprintln!("peers-count: errors {n}: {first}");
    }
    if let Err(e) = result {
        eprintln!("count-one {} {}: {e}", op.key(), who.key());
        std::process::exit(1);
    }
}

/// Errors of counted operations (the peers that leak get EBUSY): they are
/// counted as they happen, and reported.
#[derive(Default)]
struct Errors {
    first: Option<(usize, String)>,
}

impl Errors {
    fn note<T>(&mut self, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                match &mut self.first {
                    Some((n, _)) => *n += 1,
                    None => self.first = Some((1, e)),
                }
                None
            }
        }
    }
}

fn peer_of(who: Who) -> Result<Peer, String> {
    match who {
        Who::Peer(p) => Ok(p),
        Who::CgroupsRsApi => Ok(Peer::CgroupsRs),
        Who::Floor => Err("the floor is no peer".into()),
    }
}

fn run(
    ctx: &Ctx,
    op: Op,
    who: Who,
    warm: usize,
    k: usize,
    errors: &mut Errors,
) -> Result<(), String> {
    let floor = match who {
        Who::Floor => Some(Floor::new(ctx.limits)?),
        _ => None,
    };
    let counted = |i: usize| i >= warm;
    let each = |i: usize, f: &mut dyn FnMut()| {
        if counted(i) {
            mark(true);
        }
        f();
        if counted(i) {
            mark(false);
        }
    };
    match op {
        Op::Nothing => {
            for i in 0..warm + k {
                each(i, &mut || {});
            }
        }
        Op::Create => {
            for i in 0..warm + k {
                let name = format!("count-{i}");
                if let Some(fl) = &floor {
                    let mut r = Ok(());
                    each(i, &mut || r = fl.create(&name));
                    r?;
                    fl.remove(&name)?;
                    continue;
                }
                let peer = peer_of(who)?;
                let mut made = None;
                each(i, &mut || made = peers::create(ctx, peer, &name));
                let made = made.ok_or("cannot: this contender makes no empty box")??;
                let path = peers::path_of(&made, peer, &name);
                peers::remove(ctx, made)?;
                clean(&path);
            }
        }
        Op::Remove => {
            for i in 0..warm + k {
                let name = format!("count-{i}");
                if let Some(fl) = &floor {
                    fl.create(&name)?;
                    let mut r = Ok(());
                    each(i, &mut || r = fl.remove(&name));
                    r?;
                    continue;
                }
                let peer = peer_of(who)?;
                let made = match peers::create(ctx, peer, &name) {
                    Some(m) => m,
                    None => peers::premake(peer, &name),
                }?;
                let path = peers::path_of(&made, peer, &name);
                let mut made = Some(made);
                let mut r = Ok(());
                each(i, &mut || {
                    if let Some(m) = made.take() {
                        r = peers::remove(ctx, m);
                    }
                });
                errors.note(r);
                clean(&path);
            }
        }
        Op::Stats | Op::Sample => stats(ctx, op, who, warm, k, errors)?,
        Op::Lifecycle => {
            for i in 0..warm + k {
                let name = format!("count-{i}");
                if let Some(fl) = &floor {
                    let mut r = Ok(());
                    each(i, &mut || r = fl.lifecycle(&name));
                    r?;
                    continue;
                }
                let peer = peer_of(who)?;
                let mut r = Ok(());
                let mut path = None;
                each(i, &mut || {
                    r = peers::create_with(ctx, peer, &name, Job::Sleep).and_then(
                        |(made, mut proc)| {
                            path = Some(peers::path_of(&made, peer, &name));
                            peers::end(ctx, made, &mut proc)
                        },
                    );
                });
                errors.note(r);
                clean(&path.unwrap_or_else(|| peer.path(&name)));
            }
        }
        Op::Tree => {
            let peer = peer_of(who)?;
            for i in 0..warm + k {
                let name = format!("count-{i}");
                let (made, mut proc) = peers::create_with(ctx, peer, &name, Job::Tree)?;
                let path = peers::path_of(&made, peer, &name);
                peers::release_tree(&mut proc)?;
                let mut made = Some(made);
                let mut r = Ok(());
                each(i, &mut || {
                    if let Some(m) = made.take() {
                        r = peers::end(ctx, m, &mut proc);
                    }
                });
                errors.note(r);
                clean(&path);
            }
        }
    }
    Ok(())
}

/// Full stats or the hot sample of one live box (one sleep in it), read
/// K times.
fn stats(
    ctx: &Ctx,
    op: Op,
    who: Who,
    warm: usize,
    k: usize,
    errors: &mut Errors,
) -> Result<(), String> {
    // The floor reads cgbox's box, with raw calls.
    let peer = match who {
        Who::Floor => Peer::Cgbox,
        w => peer_of(w)?,
    };
    let (made, mut proc) = peers::create_with(ctx, peer, "stats", Job::Sleep)?;
    let path = peers::path_of(&made, peer, "stats");
    let sampler = match (&made, op) {
        (Made::Cgbox(b), Op::Sample) if who != Who::Floor => {
            Some(b.sampler().map_err(|e| format!("sampler: {e}"))?)
        }
        _ => None,
    };
    let (dir_fd, full_files) = floor::open_existing(&path, &floor::STATS_FILES);
    let kept: Vec<std::os::fd::OwnedFd> = cgbox::Sampler::<cgbox::fs::SysFs>::FILES
        .iter()
        .filter(|f| path.join(f).exists())
        .filter_map(|f| {
            rustix::fs::openat(
                &dir_fd,
                *f,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ok()
        })
        .collect();
    let mut buf = vec![0u8; 64 << 10];
    let mut sink = 0u64;
    for i in 0..warm + k {
        let counted = i >= warm;
        if counted {
            mark(true);
        }
        let got: Result<u64, String> = match (who, op) {
            (Who::Floor, Op::Stats) => Ok(floor::read_files(&dir_fd, &full_files, &mut buf)),
            (Who::Floor, _) => Ok(floor::pread_all(&kept, &mut buf)),
            (Who::CgroupsRsApi, _) => match &made {
                Made::CgroupsRs(cg) => Ok(peers::cgroups_rs_api(cg)),
                _ => Err("no cgroups-rs box".into()),
            },
            (Who::Peer(Peer::CgroupsRs), Op::Stats) => match &made {
                Made::CgroupsRs(cg) => Ok(peers::cgroups_rs_same_files(cg)),
                _ => Err("no cgroups-rs box".into()),
            },
            (_, Op::Stats) => peers::stats(ctx, &made, &StatsKind::Full, None),
            _ => peers::stats(ctx, &made, &StatsKind::Sample, sampler.as_ref()),
        };
        if counted {
            mark(false);
        }
        if let Some(v) = errors.note(got) {
            sink = sink.wrapping_add(v);
        }
    }
    std::hint::black_box(sink);
    drop((sampler, kept, dir_fd));
    errors.note(peers::end(ctx, made, &mut proc));
    clean(&path);
    Ok(())
}

// ----------------------------------------------------------------------
// The driver.

/// One cell: the counts, or why there are none.
struct Result1 {
    who: Who,
    counted: Result<Counted, String>,
    /// Errors the operation itself reported while counted.
    op_errors: Option<String>,
}

fn fmt_mean(x: f64) -> String {
    if (x - x.round()).abs() < 0.005 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.1}")
    }
}

/// `count --parent DIR --venue NAME [--iterations K] [--strace PATH]
/// [--command TEXT] [--context TEXT] [--sequences all]`.
pub fn drive(args: &Args, parent: &str) {
    let venue = args.value("--venue").unwrap_or_else(|| "?".into());
    let k = args.number("--iterations", 40).max(1);
    let strace_bin = args.value("--strace").unwrap_or_else(|| "strace".into());
    let all_sequences = args.value("--sequences").as_deref() == Some("all");
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("count: where am I? {e}");
            std::process::exit(1);
        }
    };
    let version = Command::new(&strace_bin)
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned));
    let Some(version) = version else {
        eprintln!("count: cannot run {strace_bin} (install strace, or pass --strace PATH)");
        std::process::exit(1);
    };
    let date = utc_now();
    let load_start = load_average();
    let mut results: Vec<(Op, usize, Vec<Result1>)> = Vec::new();
    for op in OPS {
        let iterations = match op {
            Op::Tree => (k / 4).max(3),
            _ => k,
        };
        let warm = if op == Op::Tree { 1 } else { 3 };
        let mut row = Vec::new();
        for &who in op.contenders() {
            if op == Op::Create && who == Who::Peer(Peer::Libcgroups) {
                row.push(Result1 {
                    who,
                    counted: Err("cannot".into()),
                    op_errors: None,
                });
                continue;
            }
            eprintln!(
                "peers: counting {} of {} ({iterations} iterations)",
                op.key(),
                who.key()
            );
            row.push(count_under_strace(
                &strace_bin,
                &exe,
                parent,
                op,
                who,
                iterations,
                warm,
            ));
        }
        results.push((op, iterations, row));
    }
    let phases = run_phases(&exe, parent, args.number("--rounds", 31));
    print_counts(
        &CountMeta {
            venue,
            date,
            end: utc_now(),
            machine: machine(),
            command: args.value("--command"),
            context: args.value("--context"),
            load_start,
            load_end: load_average(),
            version,
            k,
            all_sequences,
            phases,
        },
        &results,
    );
}

/// `phases` in a process of its own (its own sandbox), not traced.
fn run_phases(exe: &Path, parent: &str, rounds: usize) -> String {
    eprintln!("peers: timing the phases ({rounds} rounds)");
    match Command::new(exe)
        .args([
            "phases",
            "--parent",
            parent,
            "--rounds",
            &rounds.to_string(),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => format!("\n(phases failed: {})\n", o.status),
        Err(e) => format!("\n(phases could not run: {e})\n"),
    }
}

fn count_under_strace(
    strace_bin: &str,
    exe: &Path,
    parent: &str,
    op: Op,
    who: Who,
    iterations: usize,
    warm: usize,
) -> Result1 {
    let log = std::env::temp_dir().join(format!(
        "peers-strace-{}-{}-{}.log",
        std::process::id(),
        op.key(),
        who.key()
    ));
    let out = Command::new(strace_bin)
        .args(["-f", "-qq", "-y", "-s", "48", "-e", "signal=none", "-o"])
        .arg(&log)
        .arg("--")
        .arg(exe)
        .args([
            "count-one",
            "--parent",
            parent,
            "--op",
            op.key(),
            "--who",
            who.key(),
        ])
        .args([
            "--iterations",
            &iterations.to_string(),
            "--warmup",
            &warm.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let text = std::fs::read_to_string(&log);
    let _ = std::fs::remove_file(&log);
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return Result1 {
                who,
                counted: Err(format!("strace: {e}")),
                op_errors: None,
            };
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let op_errors = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peers-count: "))
        .map(str::to_owned);
    if !out.status.success() {
        let why = stderr.lines().last().unwrap_or("failed").to_owned();
        return Result1 {
            who,
            counted: Err(why),
            op_errors,
        };
    }
    let counted = match text {
        Ok(t) => {
            let iterations_seen = strace::parse(&t);
            if iterations_seen.len() != iterations {
                Err(format!(
                    "{} iterations in the log, not {iterations}",
                    iterations_seen.len()
                ))
            } else {
                Ok(Counted {
                    iterations: iterations_seen,
                })
            }
        }
        Err(e) => Err(format!("read the strace log: {e}")),
    };
    Result1 {
        who,
        counted,
        op_errors,
    }
}

struct CountMeta {
    venue: String,
    date: String,
    end: String,
    machine: String,
    command: Option<String>,
    context: Option<String>,
    load_start: String,
    load_end: String,
    version: String,
    k: usize,
    all_sequences: bool,
    /// The `phases` tables (markdown), or why there are none.
    phases: String,
}

fn cell(r: &Result1) -> String {
    let mut s = match &r.counted {
        Err(e) if e == "cannot" => "cannot".to_owned(),
        Err(e) => format!("failed: {e}"),
        Ok(c) => {
            let (lo, hi) = c.min_max();
            let mut s = fmt_mean(c.mean_total());
            if lo != hi {
                s.push_str(&format!(" ({lo}–{hi})"));
            }
            let child = c.mean_child();
            if child > 0.0 {
                s.push_str(&format!("; {} in the child", fmt_mean(child)));
            }
            s
        }
    };
    if r.op_errors.is_some() {
        s.push_str("; errors");
    }
    s
}

/// Summary columns: the peers and the floor.
const COLUMNS: [Who; 5] = [
    Who::Peer(Peer::Cgbox),
    Who::Peer(Peer::CgroupsRs),
    Who::Peer(Peer::Libcgroups),
    Who::Peer(Peer::Tokio),
    Who::Floor,
];

fn print_counts(meta: &CountMeta, results: &[(Op, usize, Vec<Result1>)]) {
    println!("## System calls per operation, venue: {}\n", meta.venue);
    println!(
        "<!-- peers:counts venue=\"{}\" date=\"{}\" -->",
        crate::protocol::venue_key(&meta.venue),
        meta.date
    );
    println!("- date: {} to {} (UTC)", meta.date, meta.end);
    println!("- machine: {}", meta.machine);
    println!("- build: {}", crate::build());
    if let Some(c) = &meta.command {
        println!("- command: `{c}`");
    }
    println!(
        "- load average (1, 5, 15 min): {} at the start, {} at the end (counts do not depend on it; the number of `poll` wake-ups in a wait can)",
        meta.load_start, meta.load_end
    );
    if let Some(c) = &meta.context {
        println!("- also running: {c}");
    }
    println!(
        "- method: {}; `strace -f -o LOG` around a process of its own per operation and contender (`count-one`, in a sandbox of its own), 3 uncounted warm-up iterations (tree: 1), then K = {} counted (tree: {}), each between two marker calls; the calls of the benchmark process (all its threads) and of the processes it started up to and including their `execve`; not what the started program does after `execve`",
        meta.version,
        meta.k,
        (meta.k / 4).max(3)
    );
    println!(
        "- cells: mean system calls per operation (lowest–highest of one iteration when they differ); \"in the child\": the part made by a started process before its program ran"
    );
    println!("\n### Summary: system calls per operation\n");
    println!("<!-- peers:summary -->");
    let labels: Vec<&str> = COLUMNS.iter().map(|w| w.label()).collect();
    println!("| operation | {} |", labels.join(" | "));
    println!("|---|{}", "---|".repeat(labels.len()));
    for (op, _, row) in results {
        if *op == Op::Nothing {
            continue;
        }
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|w| row.iter().find(|r| r.who == *w).map_or("-".into(), cell))
            .collect();
        println!("| {} | {} |", op.title(), cells.join(" | "));
    }
    println!("<!-- peers:summary-end -->");
    if let Some((_, _, row)) = results.iter().find(|(op, _, _)| *op == Op::Nothing) {
        let c: Vec<String> = row.iter().map(cell).collect();
        println!(
            "\nCheck, two markers with nothing between them: {}",
            c.join(", ")
        );
    }
    for (op, k, row) in results {
        if *op == Op::Nothing {
            continue;
        }
        print_breakdown(*op, *k, row);
    }
    print!("{}", meta.phases);
    println!("\n### One iteration, call by call\n");
    println!(
        "The iteration with the median count of each contender, as strace printed it (`-y`: paths of fds; `[child]`: a started process before its program runs; `[thread]`: another thread of the benchmark process; long lines cut)."
    );
    for (op, _, row) in results {
        if *op == Op::Nothing {
            continue;
        }
        for r in row {
            let wanted = meta.all_sequences
                || matches!(
                    r.who,
                    Who::Peer(Peer::Cgbox) | Who::Peer(Peer::CgroupsRs) | Who::Floor
                );
            let (true, Ok(c)) = (wanted, &r.counted) else {
                continue;
            };
            let Some(it) = c.typical() else { continue };
            println!(
                "\n<details><summary>{}: {} ({} calls)</summary>\n\n```",
                op.key(),
                r.who.label(),
                it.total()
            );
            for l in &it.lines {
                println!("{l}");
            }
            println!("```\n</details>");
        }
    }
}

fn print_breakdown(op: Op, k: usize, row: &[Result1]) {
    println!("\n### {} (K = {k})\n", op.title());
    let cols: Vec<(&Result1, &Counted)> = row
        .iter()
        .filter_map(|r| r.counted.as_ref().ok().map(|c| (r, c)))
        .collect();
    if cols.is_empty() {
        println!("(nothing counted)");
        return;
    }
    let mut main = std::collections::BTreeSet::new();
    let mut child = std::collections::BTreeSet::new();
    for (_, c) in &cols {
        let (m, ch) = c.names();
        main.extend(m);
        child.extend(ch);
    }
    // cgbox's most frequent calls first, then the rest by name.
    let by_first = |names: std::collections::BTreeSet<String>, is_child: bool| {
        let mut v: Vec<String> = names.into_iter().collect();
        v.sort_by(|a, b| {
            let ca = cols[0].1.mean_of(a, is_child);
            let cb = cols[0].1.mean_of(b, is_child);
            cb.total_cmp(&ca).then(a.cmp(b))
        });
        v
    };
    let heads: Vec<String> = cols
        .iter()
        .map(|(r, _)| {
            format!(
                "{}{}",
                r.who.label(),
                if r.op_errors.is_some() {
                    " (errors)"
                } else {
                    ""
                }
            )
        })
        .collect();
    println!("| system call | {} |", heads.join(" | "));
    println!("|---|{}", "---|".repeat(cols.len()));
    for (names, is_child) in [
        (by_first(main, false), false),
        (by_first(child, true), true),
    ] {
        for name in names {
            let cells: Vec<String> = cols
                .iter()
                .map(|(_, c)| {
                    let m = c.mean_of(&name, is_child);
                    if m == 0.0 { "".into() } else { fmt_mean(m) }
                })
                .collect();
            let label = if is_child {
                format!("child: `{name}`")
            } else {
                format!("`{name}`")
            };
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
    let totals: Vec<String> = cols
        .iter()
        .map(|(_, c)| format!("**{}**", fmt_mean(c.mean_total())))
        .collect();
    println!("| total | {} |", totals.join(" | "));
    for r in row {
        if let Some(e) = &r.op_errors {
            println!("\n{}: {e}", r.who.label());
        }
    }
}
