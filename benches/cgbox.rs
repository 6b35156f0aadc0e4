//! `cargo bench`: cgbox next to the syscall floor and a naive baseline,
//! measured side by side in one run (absolute times on shared machines are
//! noise; the ratios are the result). No criterion: warm-up, repeated
//! samples, median, min and max, one table per group.
//!
//! Groups run on this host's real cgroup2 when it is writable (as root),
//! else on fixture files or the in-memory fake; each table says which.

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cgbox::fs::{CgroupFs, FakeFs, SysFs};
use cgbox::{BoxCommand, Builder, Discovery, JobBox, Sampler, Stats};

/// Median, min and max of per-operation times in nanoseconds.
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    min: f64,
    max: f64,
}

/// Time `f`: a warm-up, then `samples` batches sized to take ~`batch` each.
fn measure(samples: usize, batch: Duration, mut f: impl FnMut()) -> Timing {
    let warm = Instant::now();
    let mut n = 0u64;
    while warm.elapsed() < batch || n < 3 {
        f();
        n += 1;
    }
    let per_batch =
        ((batch.as_nanos() as f64 / (warm.elapsed().as_nanos() as f64 / n as f64)) as u64).max(1);
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Timing {
        median: times[times.len() / 2],
        min: times[0],
        max: times[times.len() - 1],
    }
}

fn timing(mut v: Vec<f64>) -> Timing {
    v.sort_by(f64::total_cmp);
    Timing {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn human(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn table(title: &str, rows: &[(&str, Timing)]) {
    println!("\n## {title}\n");
    println!(
        "| {:<44} | {:>10} | {:>10} | {:>10} |",
        "operation", "median", "min", "max"
    );
    println!("|{:-<46}|{:->12}|{:->12}|{:->12}|", "", "", "", "");
    for (name, t) in rows {
        println!(
            "| {:<44} | {:>10} | {:>10} | {:>10} |",
            name,
            human(t.median),
            human(t.min),
            human(t.max)
        );
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/samples/kernel-6.1")
}

fn parsers() {
    let read = |scenario: &str, file: &str| {
        std::fs::read_to_string(samples_dir().join(scenario).join(file)).unwrap()
    };
    let layouts =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/layouts/hybrid-host/proc/self");
    // Through the public API: Stats::from_contents runs the parser the
    // file's layout needs (what Stats::read does after its reads).
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "cpu.stat (8 keys)",
            "cpu.stat",
            read("throttled", "cpu.stat"),
        ),
        (
            "memory.stat (47 keys)",
            "memory.stat",
            read("live", "memory.stat"),
        ),
        (
            "memory.events (6 keys)",
            "memory.events",
            read("oom", "memory.events"),
        ),
        ("io.stat (1 device)", "io.stat", read("io", "io.stat")),
        (
            "cpu.pressure (PSI)",
            "cpu.pressure",
            read("throttled", "cpu.pressure"),
        ),
        (
            "memory.current (single)",
            "memory.current",
            read("live", "memory.current"),
        ),
    ];
    let here = Path::new("/");
    let mut rows: Vec<(String, Timing)> = cases
        .iter()
        .map(|(name, file, text)| {
            (
                name.to_string(),
                measure(15, Duration::from_millis(4), || {
                    drop(black_box(Stats::from_contents(
                        here,
                        [(*file, black_box(text.as_str()))],
                    )))
                }),
            )
        })
        .collect();
    // Discovery on a fixture tree: mountinfo (7 mounts) and
    // /proc/self/cgroup (6 lines) read and parsed, the home walked.
    let tree = layouts.ancestors().nth(2).unwrap().to_path_buf();
    let fixture = cgbox::fs::SysFs::rooted(&tree).unwrap();
    rows.push((
        "discovery, hybrid-host fixture".into(),
        measure(15, Duration::from_millis(4), || {
            drop(black_box(cgbox::Discovery::probe(&fixture, "cgbox")))
        }),
    ));
    let borrowed: Vec<(&str, Timing)> = rows.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    table(
        "parsers: ns per parse of real kernel 6.1 samples",
        &borrowed,
    );
    let worst = rows.iter().map(|(_, t)| t.median).fold(0.0, f64::max);
    println!(
        "\nparsers vs floor: the slowest parse takes {}, against a 400-700 ns pread floor per file: parsing is not the bottleneck",
        human(worst)
    );
}

/// Where the I/O groups run: a live box on this host, or fixture files.
enum Site {
    Live {
        fs: Arc<SysFs>,
        anchor: Box<JobBox<SysFs>>,
        app: String,
    },
    Fixture {
        _tmp: tempfile::TempDir,
        fs: Arc<SysFs>,
    },
}

fn site() -> Site {
    let app = format!("cgbox-bench-{}", std::process::id());
    if let Ok(fs) = SysFs::new() {
        let found = Discovery::probe(&fs, &app);
        if found.usable() {
            let fs = Arc::new(fs);
            // A box kept alive through the run, as in an agent host with
            // many boxes: the shared <app>/agents directories stay.
            let anchor = Builder::new()
                .app(&app)
                .name("anchor")
                .create(fs.clone())
                .unwrap();
            return Site::Live {
                fs,
                anchor: Box::new(anchor),
                app,
            };
        }
        println!(
            "\n(no writable cgroup2 here: {:?}; I/O groups use fixture files)",
            found.problems
        );
    }
    let tmp = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    for (name, content) in [
        ("cgroup.events", "populated 1\nfrozen 0\n"),
        (
            "cpu.stat",
            "usage_usec 4569656\nuser_usec 2043758\nsystem_usec 2525897\nnr_periods 25\nnr_throttled 23\nthrottled_usec 3262179\nnr_bursts 0\nburst_usec 0\n",
        ),
        ("memory.current", "12984320\n"),
        ("memory.peak", "33554432\n"),
        ("pids.current", "4\n"),
        ("memory.max", "max\n"),
    ] {
        std::fs::write(tmp.path().join(name), content).unwrap();
    }
    let fs = Arc::new(SysFs::rooted(tmp.path()).unwrap());
    Site::Fixture { _tmp: tmp, fs }
}

impl Site {
    fn describe(&self) -> String {
        match self {
            Site::Live { anchor, .. } => format!(
                "a live box on this host's cgroup2 ({})",
                anchor.path().display()
            ),
            Site::Fixture { _tmp, .. } => {
                "fixture files on tmpfs (no writable cgroup2 here)".into()
            }
        }
    }

    fn fs(&self) -> &Arc<SysFs> {
        match self {
            Site::Live { fs, .. } | Site::Fixture { fs, .. } => fs,
        }
    }

    fn dir_path(&self) -> PathBuf {
        match self {
            Site::Live { anchor, .. } => anchor.path().to_path_buf(),
            Site::Fixture { .. } => PathBuf::from("/"),
        }
    }

    /// The real path on this machine of a file in the site's cgroup.
    fn host_path(&self, file: &str) -> PathBuf {
        match self {
            Site::Live { anchor, .. } => anchor.path().join(file),
            Site::Fixture { _tmp, .. } => _tmp.path().join(file),
        }
    }
}

fn snapshot(site: &Site) {
    let fs = site.fs();
    let dir = fs.open_dir(&site.dir_path()).unwrap();
    let sampler = Sampler::new(fs.clone(), &dir).unwrap();
    let files: Vec<&str> = Sampler::<SysFs>::FILES
        .iter()
        .copied()
        .filter(|f| site.host_path(f).exists())
        .collect();
    let kept: Vec<File> = files
        .iter()
        .map(|f| File::open(site.host_path(f)).unwrap())
        .collect();
    let paths: Vec<PathBuf> = files.iter().map(|f| site.host_path(f)).collect();
    let cgbox = measure(21, Duration::from_millis(5), || {
        black_box(sampler.sample().unwrap());
    });
    let mut buf = [0u8; 4096];
    let floor = measure(21, Duration::from_millis(5), || {
        for f in &kept {
            black_box(f.read_at(&mut buf, 0).unwrap());
        }
    });
    let naive = measure(21, Duration::from_millis(5), || {
        for p in &paths {
            let text = std::fs::read_to_string(p).unwrap();
            let values: Vec<Option<u64>> = text
                .lines()
                .map(|l| l.split_whitespace().last().unwrap_or("").parse().ok())
                .collect();
            black_box(values);
        }
    });
    table(
        &format!(
            "one box's stats snapshot ({} files: {}) on {}",
            files.len(),
            files.join(", "),
            site.describe()
        ),
        &[
            ("cgbox Sampler::sample (pread + parse)", cgbox),
            ("floor: pread on kept fds, no parsing", floor),
            ("naive: std::fs::read_to_string per file", naive),
        ],
    );
    let over = cgbox.median / floor.median;
    let faster = naive.median / cgbox.median;
    println!(
        "\nsnapshot vs floor: cgbox/floor = {over:.2}x (target <= 1.3x: {}), naive/cgbox = {faster:.1}x (target >= 4x: {})",
        verdict(over <= 1.3),
        verdict(faster >= 4.0)
    );
}

fn limit_writes(site: &Site) {
    let fs = site.fs();
    let dir = fs.open_dir(&site.dir_path()).unwrap();
    // On a controller-less cgroup2 the writable core file stands in for a limit.
    let (file, value): (&str, &[u8]) = match site {
        Site::Live { .. } if !site.host_path("memory.max").exists() => ("cgroup.freeze", b"0"),
        _ => ("memory.max", b"max"),
    };
    let cgbox = measure(15, Duration::from_millis(5), || {
        fs.write_file(&dir, file, value).unwrap()
    });
    let kept = std::fs::OpenOptions::new()
        .write(true)
        .open(site.host_path(file))
        .unwrap();
    let floor = measure(15, Duration::from_millis(5), || {
        black_box(kept.write_at(value, 0).unwrap());
    });
    let path = site.host_path(file);
    let naive = measure(15, Duration::from_millis(5), || {
        std::fs::write(&path, value).unwrap()
    });
    table(
        &format!(
            "limit write ({file} <- {:?}) on {}",
            String::from_utf8_lossy(value),
            site.describe()
        ),
        &[
            ("cgbox write_file (openat on kept dir + write)", cgbox),
            ("floor: write on a kept fd", floor),
            ("naive: std::fs::write", naive),
        ],
    );
    println!(
        "\nlimit write vs floor: cgbox/floor = {:.2}x, naive/cgbox = {:.2}x (limits are written once per box; cgbox keeps no fd per limit file)",
        cgbox.median / floor.median,
        naive.median / cgbox.median
    );
}

/// The syscall floor of a lifecycle: `clone3(CLONE_VM | CLONE_CHILD_CLEARTID
/// | CLONE_INTO_CGROUP)` straight into `execve`, nothing else in the child
/// (no signal reset, no stdio, no pidfd), `cgroup.kill`, `waitpid`,
/// `rmdir`, each wait as cgbox waits (a short spin first): what the kernel
/// costs at least. The same file as the peer benchmark's floor, which also
/// uses the parts this one does not.
#[cfg(target_arch = "x86_64")]
#[path = "peers/src/raw.rs"]
#[allow(dead_code)]
mod floor;

fn lifecycle(site: &Site) {
    let Site::Live { fs, anchor, app } = site else {
        println!(
            "\n## lifecycle\n\nlifecycle vs floor: not measured: it needs a writable cgroup2 (run as root on a cgroup2 host)"
        );
        return;
    };
    if !cfg!(target_arch = "x86_64") {
        println!(
            "\n## lifecycle\n\nlifecycle vs floor: not measured: the clone3 floor is x86_64 only"
        );
        return;
    }
    let agents_path = anchor.path().parent().unwrap().to_path_buf();
    let parent_path = home_of(anchor);
    let agents = fs.open_dir(&agents_path).unwrap();
    let mut sleep = BoxCommand::new("/bin/sleep");
    sleep.arg("1000").stdin(cgbox::Stdio::null());
    let mut forked = sleep.clone();
    forked.force_fallback(true);
    let cgbox_cycle = |i: usize, cmd: &BoxCommand| {
        let b = Builder::new()
            .app(app)
            .parent(&parent_path)
            .name(format!("c{i}"))
            .create(fs.clone())
            .unwrap();
        let mut child = b.start(cmd).unwrap();
        b.destroy().unwrap();
        child.wait().unwrap();
    };
    // The per-agent pattern: one App handle, opened once, makes every box.
    let handle = cgbox::App::options(app)
        .home(&parent_path)
        .open(fs.clone())
        .unwrap();
    let handle_cycle = |i: usize, cmd: &BoxCommand| {
        let b = Builder::new()
            .name(format!("h{i}"))
            .create_in(&handle)
            .unwrap();
        let mut child = b.start(cmd).unwrap();
        b.destroy().unwrap();
        child.wait().unwrap();
    };
    #[cfg(target_arch = "x86_64")]
    let exec = floor::Exec::new(&["/bin/sleep", "1000"]);
    let floor_cycle = |i: usize| {
        #[cfg(target_arch = "x86_64")]
        {
            use rustix::fs::{AtFlags, Mode, OFlags};
            let name = format!("r{i}");
            let agents_fd = agents.fd();
            rustix::fs::mkdirat(agents_fd, &name, Mode::from_raw_mode(0o755)).unwrap();
            let dir = rustix::fs::openat(
                agents_fd,
                &name,
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            let pid = floor::spawn(std::os::fd::AsFd::as_fd(&dir), &exec).unwrap();
            let kill = rustix::fs::openat(
                &dir,
                "cgroup.kill",
                OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            rustix::io::write(&kill, b"1").unwrap();
            drop(kill);
            // We are the parent: waitpid returns once it is gone, and then
            // the cgroup is empty.
            floor::reap(pid, true).unwrap();
            drop(dir);
            rustix::fs::unlinkat(agents_fd, &name, AtFlags::REMOVEDIR).unwrap();
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    };
    // Interleaved, one cycle of each in turn (the order rotating), so that
    // all see the same kernel state, which drifts over a run.
    let mut times: [Vec<f64>; 4] = Default::default();
    for i in 0..301 {
        for k in 0..4 {
            let which = (i + k) % 4;
            let t = Instant::now();
            match which {
                0 => cgbox_cycle(i, &sleep),
                1 => cgbox_cycle(i + 100_000, &forked),
                2 => handle_cycle(i, &sleep),
                _ => floor_cycle(i),
            }
            times[which].push(t.elapsed().as_nanos() as f64);
        }
    }
    let [fast, fork, held, raw] = times.map(timing);
    table(
        &format!(
            "lifecycle: create, start /bin/sleep, kill, wait, remove, in {}",
            agents_path.display()
        ),
        &[
            ("cgbox create + start (clone3) + destroy", fast),
            ("cgbox create + start (fork path) + destroy", fork),
            (
                "cgbox create_in (one App handle) + start (clone3) + destroy",
                held,
            ),
            (
                "floor: mkdir, clone3 into it + exec, cgroup.kill, waitpid, rmdir",
                raw,
            ),
        ],
    );
    let over = fast.median / raw.median;
    let held_over = held.median / raw.median;
    // The per-agent pattern (one App handle) is held to 1.1x; a
    // Builder::create finds the home again on every call (discovery).
    println!(
        "\nlifecycle vs floor: with one App handle {held_over:.2}x (target <= 1.1x: {}); Builder::create each time {over:.2}x (target <= 1.2x: {}); fork path/floor = {:.2}x; fork path/clone3 = {:.2}x",
        verdict(held_over <= 1.1),
        verdict(over <= 1.2),
        fork.median / raw.median,
        fork.median / fast.median
    );
}

/// The three ways to make a box, interleaved: `Builder::create` as most
/// callers write it (discovery on every call), with `.parent(...)`
/// (discovery skipped, the app tree opened on every call), and
/// `Builder::create_in` on one `App` handle (the per-agent pattern:
/// discovery and the app tree once). Each box is destroyed untimed.
fn create_paths(site: &Site) {
    let Site::Live { fs, anchor, app } = site else {
        println!("\n## create paths\n\nnot measured: it needs a writable cgroup2");
        return;
    };
    let home = home_of(anchor);
    let handle = cgbox::App::open(fs.clone(), app).unwrap();
    let mut times: [Vec<f64>; 3] = Default::default();
    for i in 0..301 {
        for k in 0..3 {
            let which = (i + k) % 3;
            let name = format!("p{which}-{i}");
            let t = Instant::now();
            let b = match which {
                0 => Builder::new().app(app).name(name).create(fs.clone()),
                1 => Builder::new()
                    .app(app)
                    .parent(&home)
                    .name(name)
                    .create(fs.clone()),
                _ => Builder::new().name(name).create_in(&handle),
            }
            .unwrap();
            times[which].push(t.elapsed().as_nanos() as f64);
            b.destroy().unwrap();
        }
    }
    let [default, parent, held] = times.map(timing);
    table(
        "create paths: one empty box, three ways (interleaved)",
        &[
            ("Builder::create (discovery each call)", default),
            ("Builder::create with .parent(home)", parent),
            ("Builder::create_in on one App handle", held),
        ],
    );
    println!(
        "\ncreate paths: default/handle = {:.2}x, parent/handle = {:.2}x (target: the handle at or below .parent: {})",
        default.median / held.median,
        parent.median / held.median,
        verdict(held.median <= parent.median)
    );
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn scale(site: &Site) {
    let mut rows: Vec<(String, Timing)> = Vec::new();
    let mut notes = Vec::new();
    let mut per_box_sample: Vec<(usize, f64)> = Vec::new();
    for n in [1usize, 10, 100, 1000] {
        let rounds = match n {
            1 => 101,
            10 => 21,
            100 => 5,
            _ => 3,
        };
        let (mut create, mut sample, mut destroy) = (Vec::new(), Vec::new(), Vec::new());
        let mut fds = 0;
        for round in 0..rounds {
            let (c, s, d, f) = match site {
                Site::Live { fs, app, .. } => scale_round(fs.clone(), app, n, round),
                Site::Fixture { .. } => scale_round(Arc::new(FakeFs::new()), "cgbox", n, round),
            };
            create.push(c);
            sample.push(s);
            destroy.push(d);
            fds = fds.max(f);
        }
        let (c, s, d) = (timing(create), timing(sample), timing(destroy));
        per_box_sample.push((n, c.median + s.median + d.median));
        rows.push((format!("N={n}: create, per box"), c));
        rows.push((format!("N={n}: sample all (Sampler), per box"), s));
        rows.push((format!("N={n}: destroy, per box"), d));
        notes.push(format!(
            "N={n}: {fds} fds held at the peak ({:.1} per box)",
            fds as f64 / n as f64
        ));
    }
    let where_ = match site {
        Site::Live { .. } => "this host's cgroup2".to_owned(),
        Site::Fixture { .. } => {
            "the in-memory fake (no writable cgroup2 here; fds are the fake's)".to_owned()
        }
    };
    let borrowed: Vec<(&str, Timing)> = rows.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    table(
        &format!("scale: N boxes created, sampled, destroyed, on {where_}"),
        &borrowed,
    );
    for note in notes {
        println!("- {note}");
    }
    let at = |n: usize| {
        per_box_sample
            .iter()
            .find(|(m, _)| *m == n)
            .map(|(_, v)| *v)
            .unwrap_or(f64::NAN)
    };
    let ratio = at(1000) / at(10);
    println!(
        "\nscale vs floor: per-box cost at N=1000 / N=10 = {ratio:.2}x (target <= 1.5x: {})",
        verdict(ratio <= 1.5)
    );
}

/// One round at size `n`: per-box ns for create, sample, destroy, and the
/// fds held with every box and its sampler open.
fn scale_round<F: CgroupFs + 'static>(
    fs: Arc<F>,
    app: &str,
    n: usize,
    round: usize,
) -> (f64, f64, f64, usize) {
    let before = open_fds();
    let t = Instant::now();
    // The per-agent pattern: one App handle makes every box.
    let handle = cgbox::App::open(fs.clone(), app).unwrap();
    let boxes: Vec<JobBox<F>> = (0..n)
        .map(|i| {
            Builder::new()
                .name(format!("s{round}-{i}"))
                .create_in(&handle)
                .unwrap()
        })
        .collect();
    let create = t.elapsed().as_nanos() as f64 / n as f64;
    let samplers: Vec<Sampler<F>> = boxes.iter().map(|b| b.sampler().unwrap()).collect();
    let fds = open_fds() - before;
    let t = Instant::now();
    for s in &samplers {
        black_box(s.sample().unwrap());
    }
    let sample = t.elapsed().as_nanos() as f64 / n as f64;
    drop(samplers);
    let t = Instant::now();
    for b in boxes {
        b.destroy().unwrap();
    }
    let destroy = t.elapsed().as_nanos() as f64 / n as f64;
    (create, sample, destroy, fds)
}

/// The home a box lives under: `<home>/<app>/agents/<name>`.
fn home_of(b: &JobBox<SysFs>) -> PathBuf {
    b.path().ancestors().nth(3).unwrap().to_path_buf()
}

fn machine() -> String {
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

/// Each box with its sampler holds 4 fds: the scale group's 1000 boxes
/// need more than the common soft limit of 1024 (and a VM init's hard
/// limit of 4096). Raise it as far as we may.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let want = Some(now.maximum.unwrap_or(u64::MAX).max(65_536));
    if setrlimit(
        Resource::Nofile,
        Rlimit {
            current: want,
            maximum: want,
        },
    )
    .is_err()
    {
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

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this with no
    // such flag and expects a quick check only.
    let quick = !std::env::args().any(|a| a == "--bench");
    let start = Instant::now();
    let fds = raise_fd_limit();
    println!(
        "# cgbox benchmarks\n\nmachine: {}; open-file limit {fds}",
        machine()
    );
    if quick {
        println!("(not run with --bench: checking that every group starts)");
    }
    parsers();
    let site = site();
    snapshot(&site);
    limit_writes(&site);
    if !quick {
        create_paths(&site);
        lifecycle(&site);
        scale(&site);
    }
    if let Site::Live { fs, anchor, app } = site {
        let home = home_of(&anchor);
        anchor.destroy().unwrap();
        // The app tree outlives its boxes by design; the benchmark's own goes.
        cgbox::App::options(&app)
            .home(home)
            .open(fs)
            .and_then(cgbox::App::remove)
            .unwrap();
    }
    println!("\n(benchmarks took {:.1} s)", start.elapsed().as_secs_f64());
}
