//! cgbox next to the libraries users would pick instead: cgroups-rs,
//! libcgroups (youki, v2 only) and a tokio::fs manager in the async style
//! cgbox replaces. Same kernel, same run, contenders interleaved round by
//! round; medians, and a correctness column in every table.
//!
//! Safety: everything happens in a fresh cgroup2 directory that this
//! program makes under `--parent` and bind-mounts over `/sys/fs/cgroup` in
//! a private mount namespace (see `sandbox.rs`). It refuses to start unless
//! `--parent`, the new directory and then `/sys/fs/cgroup` are cgroup2, and
//! it removes the directory (killing what is left) when it ends.
//!
//! Usage (see run.sh):
//!
//! - `cgbox-peers --parent DIR --venue NAME [--runs N] [--quick]
//!   [--command TEXT] [--context TEXT]`: the timing protocol, N whole runs
//!   (default 5), medians per run, then per table the median of the run
//!   medians and their spread (`protocol.rs`).
//! - `cgbox-peers count --parent DIR --venue NAME [--iterations K]
//!   [--strace PATH] [--command TEXT]`: system calls per operation and
//!   contender, each counted under strace in a process of its own
//!   (`count.rs`).
//! - `cgbox-peers count-one ...`: one contender, one operation, K
//!   iterations between markers (what `count` runs under strace).
//! - `cgbox-peers phases --parent DIR [--rounds N]`: the lifecycle and
//!   the tree kill step by step, cgbox next to the raw floor, timed
//!   (`phases.rs`; `count` runs it after the counts).

mod count;
mod floor;
mod peers;
mod phases;
mod protocol;
#[cfg(target_arch = "x86_64")]
mod raw;
mod sandbox;
mod strace;

use std::collections::BTreeMap;

use std::path::Path;
use std::time::Instant;

use peers::{ALL, Ctx, Job, Made, Peer, StatsKind};

/// Per contender and operation: times and what went right or wrong.
#[derive(Default, Clone)]
pub struct Cell {
    pub times: Vec<f64>,
    pub gone: (usize, usize),
    pub limits: (usize, usize),
    pub errors: BTreeMap<String, usize>,
    pub cannot: Option<&'static str>,
}

impl Cell {
    fn error(&mut self, e: String) {
        // Keep the kind, not the box name.
        let key: String = e.chars().take(90).collect();
        *self.errors.entry(key).or_default() += 1;
    }

    pub fn median(&self) -> Option<f64> {
        let mut v = self.times.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }

    pub fn correctness(&self, limits_here: bool, track_gone: bool, track_limits: bool) -> String {
        if let Some(why) = self.cannot {
            return why.to_owned();
        }
        let mut parts = Vec::new();
        if track_gone {
            parts.push(format!("gone {}/{}", self.gone.0, self.gone.1));
        }
        if track_limits {
            parts.push(if limits_here {
                format!("limits {}/{}", self.limits.0, self.limits.1)
            } else {
                "limits n/a (no cpu, memory, pids controllers here)".into()
            });
        }
        let n: usize = self.errors.values().sum();
        if n == 0 {
            parts.push("no errors".into());
        } else {
            let (first, _) = self.errors.iter().max_by_key(|(_, c)| **c).expect("some");
            parts.push(format!("{n} errors (most: {first})"));
        }
        parts.join("; ")
    }
}

pub fn human(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} us", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

pub struct Table<'a> {
    pub title: String,
    pub rows: Vec<(&'a str, Cell)>,
    pub gone: bool,
    pub limits: bool,
}

/// The order of the contenders in a round: over n! rounds, every
/// permutation once, so that each contender runs in each place and right
/// after each other contender equally often. A rotation is not enough:
/// it keeps the cyclic order, so a contender always runs the same number
/// of places after libcgroups, whose removal sleeps 10 to 60 ms and lets
/// the CPUs go idle; on this project's host whatever runs two places after
/// it pays 50 to 100 us more per lifecycle (measured in Dec 2026: cgbox
/// and cgroups-rs alone, interleaved, 245 and 250 us; in the rotation of
/// four, 341 and 219 us). Consecutive rounds are `stride` permutations
/// apart: a prime (so no factor of n!: all n! come before a repeat) above
/// (n-1)!, the number of permutations with the same first contender, so
/// that who runs first changes from round to round. The balance holds over
/// n! rounds: 24 for the four contenders, which a table's 101 rounds cover
/// four times. Do not add rows to a table's rotation: with seven (the
/// contenders and three raw floors, tried in Dec 2026), 101 rounds are 101
/// of 5040 orders, the later places hardly move, and a row that keeps
/// following libcgroups paid for it (cgroups-rs's lifecycle went from
/// about 0.28 to 9.3 ms with eleven rows). Floors belong in `phases`.
pub fn order<T: Copy>(items: &[T], round: usize) -> Vec<(usize, T)> {
    let n = items.len();
    let count: usize = (1..=n).product();
    let above: usize = (1..n).product::<usize>().max(n);
    let stride = (above + 1..)
        .find(|&p| (2..p).all(|d| p % d != 0))
        .unwrap_or(1);
    // The permutation's number, written in the factorial number system,
    // picks from what is left place by place (the Lehmer code).
    let mut code = round.wrapping_mul(stride) % count.max(1);
    let mut left: Vec<usize> = (0..n).collect();
    let mut out = Vec::with_capacity(n);
    for place in (0..n).rev() {
        let step: usize = (1..=place).product();
        let i = left.remove(code / step);
        code %= step;
        out.push((i, items[i]));
    }
    out
}

/// Remove a box a contender left behind (not timed), and count it.
pub fn clean(path: &Path) {
    if path.exists() {
        let mut left = Vec::new();
        sandbox::remove_tree(path, path, &mut left);
    }
}

struct Rounds {
    create: usize,
    stats: usize,
    lifecycle: usize,
    quiet: usize,
    tree: usize,
}

/// How long nothing happens before each sample of the quiet lifecycle: an
/// agent's jobs come now and then, and the CPUs go idle in between.
const QUIET: std::time::Duration = std::time::Duration::from_millis(10);

fn op_create(ctx: &Ctx, r: usize) -> Table<'static> {
    let mut cells: Vec<Cell> = ALL.iter().map(|_| Cell::default()).collect();
    for round in 0..r {
        for (i, peer) in order(&ALL, round) {
            let name = format!("create-{round}");
            let cell = &mut cells[i];
            let t = Instant::now();
            let made = peers::create(ctx, peer, &name);
            let ns = t.elapsed().as_nanos() as f64;
            let Some(made) = made else {
                cell.cannot = Some(
                    "cannot: a libcgroups v2 cgroup is made only by add_task (with a process)",
                );
                continue;
            };
            match made {
                Ok(m) => {
                    cell.times.push(ns);
                    let path = peers::path_of(&m, peer, &name);
                    if ctx.limits {
                        cell.limits.1 += 1;
                        cell.limits.0 += usize::from(peers::limits_applied(&path));
                    }
                    if let Err(e) = peers::remove(ctx, m) {
                        cell.error(format!("(cleanup) {e}"));
                    }
                    clean(&path);
                }
                Err(e) => {
                    cell.error(e);
                    clean(&peer.path(&name));
                }
            }
        }
    }
    Table {
        title:
            "create an empty box (with memory.max, cpu.max, pids.max where the controllers exist)"
                .into(),
        rows: ALL.iter().map(|p| p.label()).zip(cells).collect(),
        gone: false,
        limits: true,
    }
}

fn op_remove(ctx: &Ctx, r: usize) -> Table<'static> {
    let mut cells: Vec<Cell> = ALL.iter().map(|_| Cell::default()).collect();
    for round in 0..r {
        for (i, peer) in order(&ALL, round) {
            let name = format!("remove-{round}");
            let cell = &mut cells[i];
            let made = match peers::create(ctx, peer, &name) {
                Some(m) => m,
                None => peers::premake(peer, &name),
            };
            let made = match made {
                Ok(m) => m,
                Err(e) => {
                    cell.error(format!("(setup) {e}"));
                    clean(&peer.path(&name));
                    continue;
                }
            };
            let path = peers::path_of(&made, peer, &name);
            let t = Instant::now();
            let r = peers::remove(ctx, made);
            let ns = t.elapsed().as_nanos() as f64;
            match r {
                Ok(()) => cell.times.push(ns),
                Err(e) => cell.error(e),
            }
            cell.gone.1 += 1;
            cell.gone.0 += usize::from(!path.exists());
            clean(&path);
        }
    }
    Table {
        title: "remove an empty box".into(),
        rows: ALL.iter().map(|p| p.label()).zip(cells).collect(),
        gone: true,
        limits: false,
    }
}

/// Full stats and the hot-path sample of a live box (one `sleep` in it).
fn op_stats(ctx: &Ctx, r: usize) -> (Table<'static>, Table<'static>) {
    let mut live: Vec<Option<(Made, peers::Proc)>> = Vec::new();
    let mut setup_errors: Vec<Option<String>> = Vec::new();
    for peer in ALL {
        match peers::create_with(ctx, peer, "stats", Job::Sleep) {
            Ok(v) => {
                live.push(Some(v));
                setup_errors.push(None);
            }
            Err(e) => {
                live.push(None);
                setup_errors.push(Some(e));
            }
        }
    }
    let sampler = match &live[0] {
        Some((Made::Cgbox(b), _)) => b.sampler().ok(),
        _ => None,
    };
    // Full: cgbox, cgroups-rs (same files), cgroups-rs (cpu()+memory_stat()),
    // libcgroups, tokio.
    let full_labels = [
        "cgbox Stats::read (every file there is)",
        "cgroups-rs, the same files (API + std::fs)",
        "cgroups-rs cpu() + memory_stat()",
        "libcgroups stats()",
        "tokio::fs manager (cpu.stat, memory.current)",
    ];
    let full_src = [0usize, 1, 1, 2, 3];
    let mut full: Vec<Cell> = full_labels.iter().map(|_| Cell::default()).collect();
    let sample_labels = [
        "cgbox Sampler::sample (kept fds)",
        "cgroups-rs cpu() + memory_stat()",
        "libcgroups stats() (its only read)",
        "tokio::fs manager (cpu.stat, memory.current)",
    ];
    let mut sample: Vec<Cell> = sample_labels.iter().map(|_| Cell::default()).collect();
    let ids: Vec<usize> = (0..full_labels.len()).collect();
    let sids: Vec<usize> = (0..sample_labels.len()).collect();
    let mut sink = 0u64;
    for round in 0..r {
        for (_, k) in order(&ids, round) {
            let cell = &mut full[k];
            let Some((made, _)) = &live[full_src[k]] else {
                if let Some(e) = &setup_errors[full_src[k]] {
                    cell.error(format!("(setup) {e}"));
                }
                continue;
            };
            let t = Instant::now();
            let got = match (k, made) {
                (1, Made::CgroupsRs(cg)) => Ok(peers::cgroups_rs_same_files(cg)),
                (2, Made::CgroupsRs(cg)) => Ok(peers::cgroups_rs_api(cg)),
                _ => peers::stats(ctx, made, &StatsKind::Full, None),
            };
            let ns = t.elapsed().as_nanos() as f64;
            match got {
                Ok(v) => {
                    sink = sink.wrapping_add(v);
                    cell.times.push(ns);
                }
                Err(e) => cell.error(e),
            }
        }
        for (_, k) in order(&sids, round) {
            let cell = &mut sample[k];
            let Some((made, _)) = &live[k] else {
                continue;
            };
            let t = Instant::now();
            let got = peers::stats(ctx, made, &StatsKind::Sample, sampler.as_ref());
            let ns = t.elapsed().as_nanos() as f64;
            match got {
                Ok(v) => {
                    sink = sink.wrapping_add(v);
                    cell.times.push(ns);
                }
                Err(e) => cell.error(e),
            }
        }
    }
    std::hint::black_box(sink);
    drop(sampler);
    for (k, v) in live.into_iter().enumerate() {
        if let Some((made, mut proc)) = v {
            let path = peers::path_of(&made, ALL[k], "stats");
            if let Err(e) = peers::end(ctx, made, &mut proc) {
                eprintln!("peers: stats cleanup of {}: {e}", ALL[k].label());
            }
            clean(&path);
        }
    }
    (
        Table {
            title: "full stats of a live box (one sleep in it)".into(),
            rows: full_labels.into_iter().zip(full).collect(),
            gone: false,
            limits: false,
        },
        Table {
            title: "hot-path sample of a live box (CPU usage and memory.current)".into(),
            rows: sample_labels.into_iter().zip(sample).collect(),
            gone: false,
            limits: false,
        },
    )
}

/// Lifecycle (create, start one sleep, kill, wait until empty, remove) or
/// the kill of a 51-process tree (timed from the kill to the removal);
/// with `quiet`, each sample comes after that long with nothing to do.
fn op_jobs(ctx: &Ctx, r: usize, job: Job, quiet: Option<std::time::Duration>) -> Table<'static> {
    let mut cells: Vec<Cell> = ALL.iter().map(|_| Cell::default()).collect();
    let tag = match job {
        Job::Sleep => "life",
        Job::Tree => "tree",
    };
    for round in 0..r {
        for (i, peer) in order(&ALL, round) {
            let name = format!("{tag}-{round}");
            let cell = &mut cells[i];
            if let Some(q) = quiet {
                std::thread::sleep(q);
            }
            let t = Instant::now();
            let made = peers::create_with(ctx, peer, &name, job);
            let (made, mut proc) = match made {
                Ok(v) => v,
                Err(e) => {
                    cell.error(e);
                    clean(&peer.path(&name));
                    continue;
                }
            };
            let path = peers::path_of(&made, peer, &name);
            let t = match job {
                Job::Sleep => t,
                Job::Tree => {
                    if let Err(e) = peers::release_tree(&mut proc) {
                        cell.error(format!("(setup) {e}"));
                    }
                    Instant::now()
                }
            };
            let ended = peers::end(ctx, made, &mut proc);
            let ns = t.elapsed().as_nanos() as f64;
            let gone = !path.exists();
            match ended {
                Ok(()) => cell.times.push(ns),
                // A failed removal still took that long; the box is counted
                // as not gone below.
                Err(e) => {
                    cell.times.push(ns);
                    cell.error(e);
                }
            }
            cell.gone.1 += 1;
            cell.gone.0 += usize::from(gone);
            clean(&path);
        }
    }
    let title = match (job, quiet) {
        (Job::Sleep, None) => {
            "lifecycle: create, start one sleep, kill, wait until empty, remove".to_owned()
        }
        (Job::Sleep, Some(q)) => format!(
            "lifecycle after {} ms of quiet (jobs that come now and then): create, start one sleep, kill, wait until empty, remove",
            q.as_millis()
        ),
        (Job::Tree, _) => "kill a tree of 51 processes (sh + 50 sleeps): kill, wait, remove".into(),
    };
    Table {
        title,
        rows: ALL.iter().map(|p| p.label()).zip(cells).collect(),
        gone: true,
        limits: false,
    }
}

/// N boxes at once: create N, then remove N; per box.
fn op_many(ctx: &Ctx, n: usize, r: usize) -> (Table<'static>, Table<'static>) {
    let mut create: Vec<Cell> = ALL.iter().map(|_| Cell::default()).collect();
    let mut remove: Vec<Cell> = ALL.iter().map(|_| Cell::default()).collect();
    for round in 0..r {
        for (i, peer) in order(&ALL, round) {
            let names: Vec<String> = (0..n).map(|j| format!("n{n}-{round}-{j}")).collect();
            if peer == Peer::Libcgroups {
                create[i].cannot = Some("cannot: made only by add_task (with a process)");
                remove[i].cannot = create[i].cannot;
                continue;
            }
            let t = Instant::now();
            let made: Vec<Result<Made, String>> = names
                .iter()
                .map(|name| peers::create(ctx, peer, name).unwrap_or_else(|| Err("cannot".into())))
                .collect();
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            create[i].times.push(ns);
            let mut ok = Vec::new();
            for (name, m) in names.iter().zip(made) {
                match m {
                    Ok(m) => {
                        if ctx.limits {
                            create[i].limits.1 += 1;
                            create[i].limits.0 +=
                                usize::from(peers::limits_applied(&peers::path_of(&m, peer, name)));
                        }
                        ok.push((peers::path_of(&m, peer, name), m));
                    }
                    Err(e) => create[i].error(e),
                }
            }
            let paths: Vec<_> = ok.iter().map(|(p, _)| p.clone()).collect();
            let t = Instant::now();
            for (_, m) in ok {
                if let Err(e) = peers::remove(ctx, m) {
                    remove[i].error(e);
                }
            }
            remove[i]
                .times
                .push(t.elapsed().as_nanos() as f64 / n as f64);
            for p in &paths {
                remove[i].gone.1 += 1;
                remove[i].gone.0 += usize::from(!p.exists());
                clean(p);
            }
        }
    }
    (
        Table {
            title: format!("N = {n} boxes at once: create, per box"),
            rows: ALL.iter().map(|p| p.label()).zip(create).collect(),
            gone: false,
            limits: true,
        },
        Table {
            title: format!("N = {n} boxes at once: remove, per box"),
            rows: ALL.iter().map(|p| p.label()).zip(remove).collect(),
            gone: true,
            limits: false,
        },
    )
}

/// The whole benchmark once: every table, contenders interleaved round by
/// round within each.
fn one_run(ctx: &Ctx, quick: bool) -> Vec<Table<'static>> {
    let rounds = if quick {
        Rounds {
            create: 5,
            stats: 5,
            lifecycle: 5,
            quiet: 4,
            tree: 2,
        }
    } else {
        Rounds {
            create: 101,
            stats: 201,
            lifecycle: 101,
            // One full turn of the orders of four contenders (see `order`).
            quiet: 24,
            tree: 21,
        }
    };
    let mut tables = vec![op_create(ctx, rounds.create), op_remove(ctx, rounds.create)];
    let (full, sample) = op_stats(ctx, rounds.stats);
    tables.push(full);
    tables.push(sample);
    tables.push(op_jobs(ctx, rounds.lifecycle, Job::Sleep, None));
    tables.push(op_jobs(ctx, rounds.tree, Job::Tree, None));
    tables.push(op_jobs(ctx, rounds.quiet, Job::Sleep, Some(QUIET)));
    for (n, r) in [
        (1, if quick { 3 } else { 51 }),
        (100, if quick { 1 } else { 5 }),
        (1000, 1),
    ] {
        let (c, d) = op_many(ctx, n, r);
        tables.push(c);
        tables.push(d);
    }
    tables
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

/// Which C library the binary was built with: its allocator makes the
/// `mmap`/`munmap` calls the counts show, and glibc's makes fewer.
pub fn build() -> &'static str {
    if cfg!(target_env = "musl") {
        "static binary, musl libc (its allocator maps and unmaps blocks of a few KiB with mmap/munmap)"
    } else if cfg!(target_env = "gnu") {
        "glibc"
    } else {
        "other libc"
    }
}

/// The first three fields of /proc/loadavg (1, 5 and 15 minutes).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Now, in UTC, as `2026-12-06T04:30:00Z` (no date crate: days to civil
/// date by Howard Hinnant's algorithm).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Raise RLIMIT_NOFILE to `want` (or the most we may); returns the soft limit.
pub fn raise_fd_limit(want: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let wanted = Rlimit {
        current: Some(want),
        maximum: Some(want.max(now.maximum.unwrap_or(want))),
    };
    if setrlimit(Resource::Nofile, wanted).is_err() {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: now.maximum,
                maximum: now.maximum,
            },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The command-line flags every mode shares.
pub struct Args(Vec<String>);

impl Args {
    pub fn value(&self, flag: &str) -> Option<String> {
        self.0
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.0.get(i + 1))
            .cloned()
    }

    pub fn flag(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == flag)
    }

    pub fn number(&self, flag: &str, default: usize) -> usize {
        match self.value(flag) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("cgbox-peers: {flag} wants a number, not {v:?}");
                std::process::exit(2)
            }),
        }
    }
}

const USAGE: &str = "usage: cgbox-peers [count|count-one|phases] --parent CGROUP2_DIR --venue NAME [--runs N] [--quick] [--iterations K] [--strace PATH] [--command TEXT] [--context TEXT]";

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mode = argv.first().cloned().unwrap_or_default();
    let args = Args(argv);
    let Some(parent) = args.value("--parent") else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    match mode.as_str() {
        "count" => count::drive(&args, &parent),
        "count-one" => count::one(&args, &parent),
        "phases" => phases::run(&args, &parent),
        _ => protocol_main(&args, &parent),
    }
}

/// The timing protocol: `--runs N` whole runs in one sandbox, then the
/// aggregate (see protocol.rs).
fn protocol_main(args: &Args, parent: &str) {
    let venue = args.value("--venue").unwrap_or_else(|| "?".into());
    let quick = args.flag("--quick");
    let runs = args.number("--runs", 5).max(1);
    // cgbox keeps a few fds per box (directory, cgroup.procs,
    // cgroup.events, <app>, agents): 1000 boxes at once need more than
    // the usual soft limit of 1024 (and the 4096 hard limit of a VM's
    // init). Raise both, as root may; say what we have.
    let fds = raise_fd_limit(65_536);
    let load_start = load_average();
    let date = utc_now();
    let sandbox = match sandbox::Sandbox::enter(Path::new(parent)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cgbox-peers: {e}");
            std::process::exit(1);
        }
    };
    let controllers = std::fs::read_to_string(Path::new(sandbox::MOUNT).join("cgroup.controllers"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let ctx = Ctx::new();
    let start = Instant::now();
    let mut all: Vec<Vec<Table<'static>>> = Vec::new();
    for run in 0..runs {
        eprintln!("peers: run {} of {runs}", run + 1);
        all.push(one_run(&ctx, quick));
    }
    let limits_here = ctx.limits;
    drop(ctx);
    // The contenders' home directories (cgrs, youki, tokio; cgbox's app
    // and agents) are long-lived by design: not leaks.
    let homes = ["cgrs", "youki", "tokio", "cgbox", "cgbox/agents"];
    let dir = sandbox.dir.display().to_string();
    let left: Vec<String> = sandbox
        .leave()
        .into_iter()
        .filter(|p| !homes.contains(&p.as_str()))
        .collect();
    let meta = protocol::Meta {
        venue,
        date,
        end: utc_now(),
        machine: machine(),
        command: args.value("--command"),
        context: args.value("--context"),
        load_start,
        load_end: load_average(),
        fds,
        dir,
        controllers,
        limits_here,
        runs,
        quick,
        leftovers: left,
        took: start.elapsed().as_secs_f64(),
    };
    protocol::print(&meta, &all);
}

#[cfg(test)]
mod tests {
    use super::order;

    #[test]
    fn every_contender_runs_after_every_other_equally_often() {
        let items = ['a', 'b', 'c', 'd'];
        let mut seen = std::collections::HashSet::new();
        let mut after = std::collections::HashMap::new();
        let mut first = std::collections::HashMap::new();
        for round in 0..24 {
            let o: Vec<char> = order(&items, round).into_iter().map(|(_, c)| c).collect();
            assert_eq!(o.len(), 4);
            assert!(seen.insert(o.clone()), "round {round} repeats {o:?}");
            for w in o.windows(2) {
                *after.entry((w[0], w[1])).or_insert(0) += 1;
            }
            *first.entry(o[0]).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 24, "every permutation once in 24 rounds");
        assert_eq!(after.len(), 12, "every ordered pair is adjacent somewhere");
        assert!(after.values().all(|&n| n == 6), "{after:?}");
        assert!(first.values().all(|&n| n == 6), "{first:?}");
        // The index given back is the item's own.
        for (i, c) in order(&items, 5) {
            assert_eq!(items[i], c);
        }
        let firsts: Vec<char> = (0..4).map(|r| order(&items, r)[0].1).collect();
        assert_eq!(
            firsts,
            ['a', 'b', 'c', 'd'],
            "who runs first changes each round"
        );
    }
}
