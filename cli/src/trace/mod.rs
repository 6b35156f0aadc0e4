//! `cgbox run --trace FILE`: a picture of the run, as JSON lines (the
//! format is in [`record`]).
//!
//! The box is sampled with the allocation-free extended [`Sampler`] at
//! every tick of the run's one `poll` (see `run/stop.rs`), and on the
//! kernel's wake of `memory.events` (an OOM kill, a `memory.high` hit)
//! between ticks.

pub mod record;

/// How the run ended, for the last line.
pub use record::End;

use crate::staged::Staged;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cgbox::fs::CgroupFs;
use cgbox::{Sampler, Snapshot, StallTotals};

use crate::json::{self, Floats};
use record::{EventKind, Limit};

/// `--trace-every`'s default.
pub const DEFAULT_EVERY: Duration = Duration::from_millis(100);

/// The shortest `--trace-every`: the kernel itself refreshes some counters
/// no faster, and a finer grain would cost the machine more than it shows.
pub const MIN_EVERY: Duration = Duration::from_millis(10);

/// The trace file, checked before CMD runs: a temporary file beside it is
/// made at once (an unwritable place is a 125 before anything ran) and
/// takes the target's name when CMD starts, so that a run that never
/// started leaves an older trace alone, and the trace can be followed
/// (`tail -f`) while the job runs.
pub struct TraceFile(Staged);

impl TraceFile {
    pub fn prepare(target: &Path) -> Result<TraceFile, String> {
        Staged::prepare("--trace", target).map(TraceFile)
    }
}

impl Write for TraceFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.file.flush()
    }
}

/// Where trace lines go: a [`TraceFile`], or a buffer in tests.
pub trait Sink: Write {
    /// CMD is starting: the trace becomes visible under its name.
    fn publish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

impl Sink for TraceFile {
    fn publish(&mut self) -> Result<(), String> {
        self.0.put_in_place()
    }
}

impl Sink for Vec<u8> {}

/// What the first line says about the run.
pub struct Header<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub command: &'a [std::ffi::OsString],
    pub every: Duration,
}

/// A counter of a snapshot.
type Counter = fn(&Snapshot) -> Option<u64>;

/// The kinds of events and their counters in a snapshot.
const EVENTS: [(EventKind, Counter); 5] = [
    (EventKind::OomKill, |s| s.memory_events.oom_kill),
    (EventKind::Oom, |s| s.memory_events.oom),
    (EventKind::MemoryMax, |s| s.memory_events.max),
    (EventKind::MemoryHigh, |s| s.memory_events.high),
    (EventKind::PidsMax, |s| s.pids_events_max),
];

/// Samples a box into a [`Sink`]. Between ticks nothing runs; a tick takes
/// one `pread` per kept file and writes one line from a reused buffer.
pub struct Tracer<F: CgroupFs, W: Sink> {
    fs: Arc<F>,
    sampler: Sampler<F>,
    out: W,
    every: Duration,
    /// `fs.now()` when CMD started (t = 0).
    start: Duration,
    /// `fs.now()` of the next tick.
    next: Duration,
    /// The counters events are measured from.
    last: Snapshot,
    line: Vec<u8>,
    samples: u64,
    /// Whether the kernel's wake of `memory.events` is wanted (at most one
    /// between two ticks, so that a box forever at `memory.high` does not
    /// wake cgbox a hundred times a second).
    watch_events: bool,
    /// A write failed: tracing stopped (the job goes on).
    broken: Option<String>,
}

impl<F: CgroupFs, W: Sink> Tracer<F, W> {
    /// Open the box's files and write the first line (nothing is sampled
    /// yet). `dir` is the box's directory.
    pub fn new(
        fs: Arc<F>,
        dir: &F::Dir,
        mut out: W,
        header: &Header<'_>,
    ) -> Result<Tracer<F, W>, String> {
        let sampler = Sampler::extended(fs.clone(), dir).map_err(|e| e.to_string())?;
        let mut limits = record::Limits::default();
        for (file, slot) in [
            ("memory.max", &mut limits.memory_max),
            ("memory.high", &mut limits.memory_high),
            ("memory.swap.max", &mut limits.memory_swap_max),
            ("pids.max", &mut limits.pids_max),
        ] {
            *slot = read_limit(&*fs, dir, file)?
                .as_deref()
                .and_then(Limit::parse);
        }
        limits.cpu_max = read_limit(&*fs, dir, "cpu.max")?;
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let first = record::Header {
            cgbox_trace: record::FORMAT,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            name: header.name.to_owned(),
            path: header.path.to_owned(),
            command: header
                .command
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            started_unix_ms: Some(started),
            every_ms: Some(u64::try_from(header.every.as_millis()).unwrap_or(u64::MAX)),
            cpus: Some(std::thread::available_parallelism().map_or(1, |n| n.get() as u64)),
            limits,
        };
        let mut text = Vec::new();
        json::write(&mut text, &first, Floats::Micros);
        text.push(b'\n');
        out.write_all(&text).map_err(|e| format!("--trace: {e}"))?;
        let now = fs.now();
        Ok(Tracer {
            fs,
            sampler,
            out,
            every: header.every,
            start: now,
            next: now,
            last: Snapshot::default(),
            line: Vec::with_capacity(1024),
            samples: 0,
            watch_events: true,
            broken: None,
        })
    }

    /// CMD is starting: t = 0, and the first sample (the baseline events
    /// are counted from).
    pub fn begin(&mut self) -> Result<(), String> {
        self.out.publish()?;
        self.start = self.fs.now();
        self.next = self.start;
        self.tick();
        Ok(())
    }

    /// How long until the next tick.
    pub fn due_in(&self) -> Duration {
        self.next.saturating_sub(self.fs.now())
    }

    /// The kept `memory.events`, when the poll should wake on it now.
    pub fn events_file(&self) -> Option<&F::File> {
        if self.watch_events && self.broken.is_none() {
            self.sampler.memory_events_file()
        } else {
            None
        }
    }

    /// Sample now if a tick is due.
    pub fn tick_if_due(&mut self) {
        if self.fs.now() >= self.next {
            self.tick();
        }
    }

    /// The kernel woke us on `memory.events`: write the events now (the
    /// read re-arms the wake, which is left off until the next tick).
    pub fn events_woke(&mut self) {
        self.watch_events = false;
        if let Some(snap) = self.snapshot() {
            self.events(&snap);
        }
    }

    /// A sample line, and the events since the last line.
    fn tick(&mut self) {
        let now = self.fs.now();
        // The next tick keeps the rhythm; ticks missed (a stopped cgbox)
        // are skipped, never caught up in a burst.
        while self.next <= now {
            self.next += self.every;
        }
        self.watch_events = true;
        let Some(snap) = self.snapshot() else { return };
        self.events(&snap);
        self.emit(&sample(now.saturating_sub(self.start), &snap));
        if self.broken.is_none() {
            self.samples += 1;
        }
    }

    fn snapshot(&mut self) -> Option<Snapshot> {
        if self.broken.is_some() {
            return None;
        }
        // The box gone (ENODEV) or unreadable: nothing to draw this time.
        self.sampler.sample().ok()
    }

    fn events(&mut self, snap: &Snapshot) {
        let t = self.fs.now().saturating_sub(self.start);
        for (kind, counter) in EVENTS {
            let (Some(now), before) = (counter(snap), counter(&self.last)) else {
                continue;
            };
            let count = now.saturating_sub(before.unwrap_or(0));
            // The first sample is the baseline: counts from before CMD
            // started (a box that is reused) are not events of this run.
            if count > 0 && self.samples > 0 {
                let event = record::Event {
                    t: record::seconds(t),
                    event: kind,
                    count,
                    total: now,
                };
                self.emit(&event);
            }
        }
        // Keep what the kernel reported; a file damaged this time keeps
        // the counters it had.
        let keep = |new: Option<u64>, old: Option<u64>| new.or(old);
        let ev = &mut self.last.memory_events;
        ev.oom_kill = keep(snap.memory_events.oom_kill, ev.oom_kill);
        ev.oom = keep(snap.memory_events.oom, ev.oom);
        ev.max = keep(snap.memory_events.max, ev.max);
        ev.high = keep(snap.memory_events.high, ev.high);
        self.last.pids_events_max = keep(snap.pids_events_max, self.last.pids_events_max);
    }

    /// Write one line (from the reused buffer).
    fn emit(&mut self, line: &impl serde::Serialize) {
        if self.broken.is_some() {
            return;
        }
        self.line.clear();
        json::write(&mut self.line, line, Floats::Micros);
        self.line.push(b'\n');
        if let Err(e) = self.out.write_all(&self.line) {
            errln!("cgbox: --trace: {e}; tracing stopped, the command goes on");
            self.broken = Some(e.to_string());
        }
    }

    /// A last sample (CMD ended; the box is not killed yet) and the line
    /// that says how the run ended. Returns the sink.
    pub fn finish(mut self, end: &End) -> W {
        self.tick();
        if self.broken.is_none() {
            let last = record::EndLine {
                t: record::seconds(self.fs.now().saturating_sub(self.start)),
                end: *end,
                samples: self.samples,
            };
            self.emit(&last);
        }
        let _ = self.out.flush();
        self.out
    }

    /// How many sample lines were written.
    #[cfg(test)]
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

/// A limit file's content, trimmed; `None` when the box lacks it.
fn read_limit<F: CgroupFs>(fs: &F, dir: &F::Dir, file: &str) -> Result<Option<String>, String> {
    let mut text = Vec::new();
    match fs.read_file(dir, file, &mut text) {
        Ok(()) => Ok(Some(String::from_utf8_lossy(&text).trim().to_owned())),
        Err(e) if e.is_absent() => Ok(None),
        Err(e) => Err(format!("--trace: {e}")),
    }
}

/// The sample line of a snapshot (nothing allocated).
fn sample(t: Duration, s: &Snapshot) -> record::Sample {
    let c = &s.cpu;
    let m = &s.memory_events;
    let pressure = |p: Option<StallTotals>| {
        p.map(|p| record::Pressure {
            some: record::Total { total: p.some_usec },
            full: p.full_usec.map(|total| record::Total { total }),
        })
    };
    record::Sample {
        t: record::seconds(t),
        memory_current: s.memory_current,
        memory_peak: s.memory_peak,
        pids_current: s.pids_current,
        cpu_stat: record::CpuStat {
            usage_usec: c.usage_usec,
            user_usec: c.user_usec,
            system_usec: c.system_usec,
            nr_periods: c.nr_periods,
            nr_throttled: c.nr_throttled,
            throttled_usec: c.throttled_usec,
        },
        memory_events: record::MemoryEvents {
            high: m.high,
            max: m.max,
            oom: m.oom,
            oom_kill: m.oom_kill,
        },
        pids_events: record::PidsEvents {
            max: s.pids_events_max,
        },
        cpu_pressure: pressure(s.pressure.cpu),
        memory_pressure: pressure(s.pressure.memory),
        io_pressure: pressure(s.pressure.io),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgbox::fs::FakeFs;
    use cgbox::fs::fake::Psi;
    use cgbox::{Builder, Limits, Size};

    const BOX: &str = "cgbox/agents/traced";

    fn header(every: Duration) -> Header<'static> {
        Header {
            name: "traced",
            path: "/cgbox/agents/traced",
            command: &[],
            every,
        }
    }

    fn lines(out: &[u8]) -> Vec<String> {
        String::from_utf8(out.to_vec())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn fake_box(limits: Limits) -> (Arc<FakeFs>, cgbox::JobBox<FakeFs>) {
        let fake = Arc::new(FakeFs::new());
        let jb = Builder::new()
            .name("traced")
            .limits(limits)
            .create(fake.clone())
            .unwrap();
        (fake, jb)
    }

    fn dir(fake: &FakeFs, jb: &cgbox::JobBox<FakeFs>) -> cgbox::fs::fake::FakeDir {
        fake.open_dir(jb.path()).unwrap()
    }

    #[test]
    fn ticks_on_the_virtual_clock_with_limits_events_and_an_end() {
        let (fake, jb) = fake_box(
            Limits::new()
                .memory_max(Size::parse("64M").unwrap())
                .memory_high(Size::parse("48M").unwrap())
                .cpus(0.5)
                .pids_max(16),
        );
        let every = Duration::from_millis(100);
        let mut t =
            Tracer::new(fake.clone(), &dir(&fake, &jb), Vec::new(), &header(every)).unwrap();
        t.begin().unwrap();
        assert_eq!(t.due_in(), every);
        t.tick_if_due();
        assert_eq!(t.samples(), 1, "not due yet: no second sample");

        fake.set_file(BOX, "memory.current", "1048576\n").unwrap();
        fake.set_file(BOX, "cpu.stat", "usage_usec 50000\nuser_usec 40000\nsystem_usec 10000\nnr_periods 1\nnr_throttled 1\nthrottled_usec 20000\n").unwrap();
        fake.advance(every);
        assert_eq!(t.due_in(), Duration::ZERO);
        t.tick_if_due();
        assert_eq!(t.samples(), 2);

        // An OOM kill between ticks, seen on the kernel's wake.
        fake.advance(Duration::from_millis(30));
        fake.set_file(
            BOX,
            "memory.events",
            "low 0\nhigh 5\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n",
        )
        .unwrap();
        assert!(t.events_file().is_some());
        t.events_woke();
        assert!(t.events_file().is_none(), "one wake between two ticks");
        assert_eq!(t.due_in(), Duration::from_millis(70), "the rhythm is kept");
        fake.advance(Duration::from_millis(70));
        t.tick_if_due();
        assert!(t.events_file().is_some(), "a tick re-arms the wake");
        // Missed ticks are skipped, not caught up.
        fake.advance(Duration::from_millis(350));
        t.tick_if_due();
        assert_eq!(t.samples(), 4);
        assert_eq!(t.due_in(), Duration::from_millis(50));
        let out = t.finish(&End {
            status: 137,
            exit_code: None,
            signal: Some(9),
            timed_out: false,
            killed: false,
        });
        let l = lines(&out);
        assert!(l[0].starts_with("{\"cgbox_trace\": 1, "), "{}", l[0]);
        assert!(
            l[0].contains(r#""limits": {"memory.max": 67108864, "memory.high": 50331648, "memory.swap.max": "max", "pids.max": 16, "cpu.max": "50000 100000"}"#),
            "{}",
            l[0]
        );
        assert!(l[0].contains("\"every_ms\": 100"));
        assert!(
            l[1].starts_with("{\"t\": 0.000000, \"memory.current\": 0, "),
            "{}",
            l[1]
        );
        assert!(
            l[1].contains("\"cpu.pressure\": {\"some\": {\"total\": 0}, \"full\": {\"total\": 0}}"),
            "{}",
            l[1]
        );
        assert!(l[1].contains("\"pids.events\": {\"max\": 0}"), "{}", l[1]);
        assert!(
            l[2].starts_with("{\"t\": 0.100000, \"memory.current\": 1048576, "),
            "{}",
            l[2]
        );
        assert!(l[2].contains("\"cpu.stat\": {\"usage_usec\": 50000, \"user_usec\": 40000, \"system_usec\": 10000, \"nr_periods\": 1, \"nr_throttled\": 1, \"throttled_usec\": 20000}"), "{}", l[2]);
        assert_eq!(
            &l[3..7],
            [
                r#"{"t": 0.130000, "event": "oom_kill", "count": 1, "total": 1}"#,
                r#"{"t": 0.130000, "event": "oom", "count": 1, "total": 1}"#,
                r#"{"t": 0.130000, "event": "memory.max", "count": 2, "total": 2}"#,
                r#"{"t": 0.130000, "event": "memory.high", "count": 5, "total": 5}"#,
            ]
        );
        assert!(l[7].starts_with("{\"t\": 0.200000, "), "{}", l[7]);
        assert!(l[8].starts_with("{\"t\": 0.550000, "), "{}", l[8]);
        assert!(
            l[9].starts_with("{\"t\": 0.550000, "),
            "the last sample at the end: {}",
            l[9]
        );
        assert_eq!(
            l[10],
            r#"{"t": 0.550000, "end": {"status": 137, "exit_code": null, "signal": 9, "timed_out": false, "killed": false}, "samples": 5}"#
        );
        assert_eq!(l.len(), 11);
        for line in &l {
            assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        }
    }

    #[test]
    fn counts_before_the_start_are_not_events_and_absent_files_are_left_out() {
        // A box without controllers: no memory, no pids, no throttling;
        // PSI off.
        let fake = Arc::new(FakeFs::with_controllers(&[]));
        fake.set_psi(Psi::Unsupported);
        let jb = Builder::new().name("bare").create(fake.clone()).unwrap();
        let mut t = Tracer::new(
            fake.clone(),
            &dir(&fake, &jb),
            Vec::new(),
            &header(Duration::from_millis(10)),
        )
        .unwrap();
        assert!(t.events_file().is_none(), "no memory.events to wake on");
        t.begin().unwrap();
        fake.advance(Duration::from_millis(10));
        t.tick_if_due();
        let out = t.finish(&End {
            status: 0,
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            killed: false,
        });
        let l = lines(&out);
        assert!(l[0].contains("\"limits\": {}"), "{}", l[0]);
        assert_eq!(
            l[1],
            r#"{"t": 0.000000, "cpu.stat": {"usage_usec": 0, "user_usec": 0, "system_usec": 0}}"#
        );
        assert_eq!(l.len(), 5);

        // A reused box with an OOM kill in its past: the baseline absorbs it.
        let (fake, jb) = fake_box(Limits::new());
        fake.set_file(
            BOX,
            "memory.events",
            "low 0\nhigh 0\nmax 0\noom 3\noom_kill 3\noom_group_kill 0\n",
        )
        .unwrap();
        let mut t = Tracer::new(
            fake.clone(),
            &dir(&fake, &jb),
            Vec::new(),
            &header(DEFAULT_EVERY),
        )
        .unwrap();
        t.begin().unwrap();
        fake.advance(DEFAULT_EVERY);
        t.tick_if_due();
        let out = t.finish(&End {
            status: 0,
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            killed: false,
        });
        assert!(!String::from_utf8(out).unwrap().contains("\"event\""));
    }

    #[test]
    fn a_box_gone_leaves_gaps_not_errors() {
        let (fake, jb) = fake_box(Limits::new());
        let mut t = Tracer::new(
            fake.clone(),
            &dir(&fake, &jb),
            Vec::new(),
            &header(DEFAULT_EVERY),
        )
        .unwrap();
        t.begin().unwrap();
        jb.destroy().unwrap();
        fake.advance(DEFAULT_EVERY);
        t.tick_if_due();
        assert_eq!(t.samples(), 1, "nothing sampled from a box that is gone");
        let l = lines(&t.finish(&End {
            status: 0,
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            killed: false,
        }));
        assert!(l.last().unwrap().contains("\"samples\": 1"));
    }

    #[test]
    fn a_failed_write_stops_tracing_only() {
        struct Full(usize);
        impl Write for Full {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("no space left"));
                }
                self.0 -= 1;
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl Sink for Full {}
        let (fake, jb) = fake_box(Limits::new());
        let mut t = Tracer::new(
            fake.clone(),
            &dir(&fake, &jb),
            Full(2),
            &header(DEFAULT_EVERY),
        )
        .unwrap();
        t.begin().unwrap();
        fake.advance(DEFAULT_EVERY);
        t.tick_if_due();
        assert!(t.broken.is_some());
        assert!(
            t.events_file().is_none(),
            "no more wakes for a broken trace"
        );
        fake.advance(DEFAULT_EVERY);
        t.tick_if_due();
        assert_eq!(t.samples(), 1, "only the lines written count");
        assert_eq!(
            t.finish(&End {
                status: 0,
                exit_code: Some(0),
                signal: None,
                timed_out: false,
                killed: false
            })
            .0,
            0
        );
    }

    /// Counts this thread's allocations (the tests run in parallel).
    struct Counting;

    thread_local! {
        static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    // SAFETY: every call is passed on to the system allocator unchanged;
    // the counting beside it allocates nothing.
    unsafe impl std::alloc::GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: the caller's layout, as GlobalAlloc::alloc received it.
            unsafe { std::alloc::System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
            // SAFETY: `ptr` came from this allocator (System) with `layout`.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(
            &self,
            ptr: *mut u8,
            layout: std::alloc::Layout,
            new_size: usize,
        ) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: `ptr` came from System with `layout`; the caller's new size.
            unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Discards what is written, without allocating.
    struct Discard(usize);
    impl Write for Discard {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Sink for Discard {}

    #[test]
    fn a_tick_allocates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, content) in [
            ("cgroup.events", "populated 1\nfrozen 0\n"),
            (
                "cpu.stat",
                "usage_usec 4569656\nuser_usec 2043758\nsystem_usec 2525897\nnr_periods 25\nnr_throttled 23\nthrottled_usec 3262179\n",
            ),
            ("memory.current", "12984320\n"),
            ("memory.peak", "33554432\n"),
            ("pids.current", "4\n"),
            (
                "memory.events",
                "low 0\nhigh 17\nmax 36\noom 1\noom_kill 1\noom_group_kill 0\n",
            ),
            ("pids.events", "max 3\n"),
            (
                "cpu.pressure",
                "some avg10=1.00 avg60=0.00 avg300=0.00 total=2184784\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1704215\n",
            ),
            (
                "memory.pressure",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=13790\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=13790\n",
            ),
            (
                "io.pressure",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            ),
            ("memory.max", "67108864\n"),
        ] {
            std::fs::write(tmp.path().join(name), content).unwrap();
        }
        let fs = Arc::new(cgbox::fs::SysFs::rooted(tmp.path()).unwrap());
        let dir = fs.open_dir(Path::new("/")).unwrap();
        let mut t = Tracer::new(fs.clone(), &dir, Discard(0), &header(MIN_EVERY)).unwrap();
        t.begin().unwrap();
        let high = tmp.path().join("memory.events");
        let before = ALLOCATIONS.with(|c| c.get());
        for _ in 0..1000 {
            t.tick();
            t.events_woke();
        }
        let n = ALLOCATIONS.with(|c| c.get()) - before;
        assert_eq!(n, 0, "{n} allocations in 1000 ticks and wakes");
        assert_eq!(t.samples(), 1001);
        // The lines were written: a sample is some 400 bytes.
        assert!(t.out.0 > 1000 * 300, "{} bytes", t.out.0);
        // An event seen between ticks is written without allocating too.
        std::fs::write(
            &high,
            "low 0\nhigh 18\nmax 36\noom 1\noom_kill 1\noom_group_kill 0\n",
        )
        .unwrap();
        let written = t.out.0;
        let before = ALLOCATIONS.with(|c| c.get());
        t.events_woke();
        assert_eq!(ALLOCATIONS.with(|c| c.get()) - before, 0);
        assert!(t.out.0 > written, "the memory.high event line");
    }

    #[test]
    fn the_trace_file_takes_its_name_when_the_command_starts() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("t.jsonl");
        std::fs::write(&target, "old\n").unwrap();
        let mut f = TraceFile::prepare(&target).unwrap();
        writeln!(f, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old\n");
        f.publish().unwrap();
        writeln!(f, "more").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\nmore\n");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

        // Never started: the old trace stays, no temporary is left.
        let f = TraceFile::prepare(&target).unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\nmore\n");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

        let e = TraceFile::prepare(tmp.path()).err().unwrap();
        assert!(e.contains("not a regular file"), "{e}");
        let e = TraceFile::prepare(&tmp.path().join("no/such/dir/t.jsonl"))
            .err()
            .unwrap();
        assert!(e.contains("cannot write beside it"), "{e}");
    }
}
