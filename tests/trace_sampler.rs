//! The extended sampler (what `cgbox run --trace` samples with): no
//! allocation per sample, a pressure file failing with `EOPNOTSUPP` left
//! out, and on damaged `memory.events`, `pids.events` and PSI files it
//! agrees with the full parsers on whatever it accepts.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use cgbox::Sampler;
use cgbox::fs::fake::{FakeFs, Psi};
use cgbox::fs::{CgroupFs, SysFs};
use cgbox::{FileStats, Stats};
use common::{Rng, mutate};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counting beside it allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's layout, as GlobalAlloc::alloc received it.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (System) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: `ptr` came from System with `layout`; the caller's new size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const FILES: [(&str, &str); 10] = [
    ("cgroup.events", "populated 1\nfrozen 0\n"),
    (
        "cpu.stat",
        "usage_usec 4569656\nuser_usec 2043758\nsystem_usec 2525897\nnr_periods 25\nnr_throttled 23\nthrottled_usec 3262179\nnr_bursts 0\nburst_usec 0\n",
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
        "some avg10=12.93 avg60=2.55 avg300=0.54 total=2184784\nfull avg10=10.78 avg60=1.95 avg300=0.40 total=1704215\n",
    ),
    (
        "memory.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=13790\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=13790\n",
    ),
    (
        "io.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    ),
];

#[test]
fn extended_sampling_allocates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in FILES {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let fs = Arc::new(SysFs::rooted(dir.path()).unwrap());
    let sampler = Sampler::extended(fs.clone(), &fs.open_dir(Path::new("/")).unwrap()).unwrap();
    assert_eq!(sampler.open_files(), 10);
    assert!(sampler.memory_events_file().is_some());
    let mut last = None;
    sampler.sample().unwrap();
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..1000 {
        last = Some(sampler.sample().unwrap());
    }
    let n = ALLOCATIONS.with(Cell::get) - before;
    let snap = last.unwrap();
    assert_eq!(n, 0, "{n} allocations in 1000 samples");
    assert_eq!(snap.damaged, 0);
    assert_eq!(snap.memory_events.high, Some(17));
    assert_eq!(snap.memory_events.oom_kill, Some(1));
    assert_eq!(snap.pids_events_max, Some(3));
    let cpu = snap.pressure.cpu.unwrap();
    assert_eq!((cpu.some_usec, cpu.full_usec), (2184784, Some(1704215)));
    assert_eq!(snap.pressure.io.map(|p| p.some_usec), Some(0));

    // The plain sampler keeps only the hot five.
    let plain = Sampler::new(fs.clone(), &fs.open_dir(Path::new("/")).unwrap()).unwrap();
    assert_eq!(plain.open_files(), 5);
    let s = plain.sample().unwrap();
    assert_eq!((s.memory_events.high, s.pids_events_max), (None, None));
    assert!(plain.memory_events_file().is_none());
    assert!(plain.samples("cpu.stat") && !plain.samples("cpu.pressure"));
}

#[test]
fn pressure_that_fails_is_absent_not_damaged() {
    for (psi_mode, open) in [(Psi::Enabled, 10), (Psi::Unsupported, 7), (Psi::Absent, 7)] {
        let fake = Arc::new(FakeFs::new());
        fake.set_psi(psi_mode);
        let limits = cgbox::Limits::new()
            .memory_max(cgbox::Size::parse("64M").unwrap())
            .pids_max(8);
        let job = cgbox::Builder::new()
            .name("p")
            .limits(limits)
            .create(fake.clone())
            .unwrap();
        let sampler = Sampler::extended(fake.clone(), &fake.open_dir(job.path()).unwrap()).unwrap();
        assert_eq!(sampler.open_files(), open, "{psi_mode:?}");
        let snap = sampler.sample().unwrap();
        assert_eq!(snap.damaged, 0, "{psi_mode:?}");
        assert_eq!(snap.pressure.memory.is_some(), psi_mode == Psi::Enabled);
        assert_eq!(snap.memory_events.oom_kill, Some(0));
    }
}

fn samples(name: &str) -> Vec<Vec<u8>> {
    let base = common::fixtures().join("samples/kernel-6.1");
    let mut out: Vec<Vec<u8>> = Vec::new();
    for scenario in std::fs::read_dir(&base).unwrap() {
        if let Ok(bytes) = std::fs::read(scenario.unwrap().path().join(name)) {
            out.push(bytes);
        }
    }
    // The constant above too, so every file has at least one sample.
    if let Some((_, c)) = FILES.iter().find(|(n, _)| *n == name) {
        out.push(c.as_bytes().to_vec());
    }
    out
}

#[test]
fn extended_files_on_damage_agree_with_the_full_parsers() {
    /// What the full parsers (`Stats`) make of `text` as the file `name`.
    fn full_parse(name: &str, text: &str) -> Result<FileStats, String> {
        let stats = Stats::from_contents(Path::new("/"), [(name, text)]);
        match (stats.file(name), stats.errors.first()) {
            (Some(f), _) => Ok(f.clone()),
            (None, Some((_, why))) => Err(why.clone()),
            (None, None) => Err("not parsed".into()),
        }
    }
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    for (name, content) in FILES {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let fs = Arc::new(SysFs::rooted(dir.path()).unwrap());
    let sampler = Sampler::extended(fs.clone(), &fs.open_dir(Path::new("/")).unwrap()).unwrap();
    let names = [
        "memory.events",
        "pids.events",
        "cpu.pressure",
        "memory.pressure",
        "io.pressure",
    ];
    let sources: Vec<Vec<Vec<u8>>> = names.iter().map(|n| samples(n)).collect();
    let mut rng = Rng::new(15);
    let (mut accepted, mut damaged) = (0, 0);
    for round in 0..20_000 {
        let mut written = Vec::new();
        for (name, inputs) in names.iter().zip(&sources) {
            let m = mutate(&inputs[round % inputs.len()], &mut rng);
            std::fs::write(dir.path().join(name), &m).unwrap();
            written.push(String::from_utf8_lossy(&m).into_owned());
        }
        let snap = sampler.sample().unwrap();
        // Bits 5 to 9: the extended files, in `names` order.
        for (i, text) in written.iter().enumerate() {
            let bit = 1 << (5 + i);
            if snap.damaged & bit != 0 {
                damaged += 1;
                continue;
            }
            accepted += 1;
            match i {
                0 => {
                    let full = full_parse(names[i], text)
                        .unwrap_or_else(|e| panic!("accepted {text:?}, the parser says {e}"));
                    let key = |k: &str| full.get(k).and_then(|n| n.as_u64());
                    let ev = snap.memory_events;
                    assert_eq!(
                        (ev.low, ev.high, ev.max, ev.oom, ev.oom_kill),
                        (
                            key("low"),
                            key("high"),
                            key("max"),
                            key("oom"),
                            key("oom_kill")
                        ),
                        "{text:?}"
                    );
                }
                1 => {
                    let full = full_parse(names[i], text)
                        .unwrap_or_else(|e| panic!("accepted {text:?}, the parser says {e}"));
                    assert_eq!(
                        snap.pids_events_max,
                        full.get("max").and_then(|n| n.as_u64()),
                        "{text:?}"
                    );
                }
                _ => {
                    let p =
                        [snap.pressure.cpu, snap.pressure.memory, snap.pressure.io][i - 2].unwrap();
                    // The sampler reads only the totals: where the full
                    // parser accepts the file, they must agree.
                    if let Ok(full) = full_parse(names[i], text) {
                        let total = |line| full.get_nested(line, "total").and_then(|n| n.as_u64());
                        assert_eq!(Some(p.some_usec), total("some"), "{text:?}");
                        assert_eq!(p.full_usec, total("full"), "{text:?}");
                    } else {
                        assert!(text.contains(&format!("total={}", p.some_usec)), "{text:?}");
                    }
                }
            }
        }
    }
    assert!(
        accepted > 1000 && damaged > 1000,
        "{accepted} accepted, {damaged} damaged"
    );
}
