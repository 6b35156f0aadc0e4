//! The hot path allocates nothing: a counting global allocator watches
//! `Sampler::sample` on kept fds, on fixture files and, where this machine
//! has a writable cgroup2, on a live box.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use cgbox::Sampler;
use cgbox::fs::{CgroupFs, SysFs};

struct Counting;

thread_local! {
    // Per thread: the tests run in parallel and must not count each other.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counting beside it allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's layout, as GlobalAlloc::alloc received it.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (System) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` came from System with `layout`; the caller's new size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f`, run 1000 times after one warm-up call.
fn allocations_in(mut f: impl FnMut()) -> usize {
    f();
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..1000 {
        f();
    }
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn sampling_allocates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("cgroup.events", "populated 1\nfrozen 0\n"),
        (
            "cpu.stat",
            "usage_usec 4569656\nuser_usec 2043758\nsystem_usec 2525897\nnr_periods 25\nnr_throttled 23\nthrottled_usec 3262179\nnr_bursts 0\nburst_usec 0\n",
        ),
        ("memory.current", "12984320\n"),
        ("memory.peak", "33554432\n"),
        ("pids.current", "4\n"),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let fs = Arc::new(SysFs::rooted(dir.path()).unwrap());
    let sampler = Sampler::new(fs.clone(), &fs.open_dir(Path::new("/")).unwrap()).unwrap();
    assert_eq!(sampler.open_files(), 5);
    let mut last = None;
    let n = allocations_in(|| last = Some(sampler.sample().unwrap()));
    let snap = last.unwrap();
    assert_eq!(snap.cpu.nr_throttled, Some(23));
    assert_eq!(snap.memory_peak, Some(33554432));
    assert_eq!(n, 0, "{n} allocations in 1000 samples");
}

/// The hot files of one kernel's samples: `cgroup.events` and
/// `pids.current` of a live box, `cpu.stat` of a throttled one,
/// `memory.current` and `memory.peak` (where the kernel has it) of an
/// OOM-killed one.
fn kernel_sample_box(kernel: &str) -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/samples")
        .join(format!("kernel-{kernel}"));
    let dir = tempfile::tempdir().unwrap();
    for (scenario, name) in [
        ("live", "cgroup.events"),
        ("live", "pids.current"),
        ("throttled", "cpu.stat"),
        ("oom", "memory.current"),
        ("oom", "memory.peak"),
    ] {
        let from = base.join(scenario).join(name);
        if from.exists() {
            std::fs::copy(&from, dir.path().join(name)).unwrap();
        }
    }
    dir
}

#[test]
fn sampling_every_kernels_samples_allocates_nothing() {
    for (kernel, files, peak) in [
        ("5.10", 4, None),
        ("6.1", 5, Some(33554432)),
        ("6.12", 5, Some(33554432)),
    ] {
        let dir = kernel_sample_box(kernel);
        let fs = Arc::new(SysFs::rooted(dir.path()).unwrap());
        let sampler = Sampler::new(fs.clone(), &fs.open_dir(Path::new("/")).unwrap()).unwrap();
        assert_eq!(sampler.open_files(), files, "{kernel}");
        let mut last = None;
        let n = allocations_in(|| last = Some(sampler.sample().unwrap()));
        let snap = last.unwrap();
        assert_eq!(n, 0, "{kernel}: {n} allocations in 1000 samples");
        assert_eq!(snap.damaged, 0, "{kernel}");
        assert_eq!(snap.populated, Some(true), "{kernel}");
        assert!(snap.cpu.nr_throttled.unwrap() > 0, "{kernel}");
        assert!(snap.pids_current.unwrap() > 0, "{kernel}");
        assert_eq!(snap.memory_peak, peak, "{kernel}: absent stays None");
    }
}

#[test]
fn sampling_a_live_box_allocates_nothing() {
    let app = format!("cgbox-test-noalloc-{}", std::process::id());
    let fs = Arc::new(SysFs::new().unwrap());
    let found = cgbox::Discovery::probe(&*fs, &app);
    if !found.usable() {
        common::skip(
            "sampling a live box",
            &format!("no writable cgroup2 here: {:?}", found.problems),
        );
        return;
    }
    let _tree = common::AppTree {
        fs: fs.clone(),
        app: app.clone(),
    };
    let b = cgbox::Builder::new().app(&app).create(fs.clone()).unwrap();
    let sampler = b.sampler().unwrap();
    let mut last = None;
    let n = allocations_in(|| last = Some(sampler.sample().unwrap()));
    assert_eq!(last.unwrap().populated, Some(false));
    assert_eq!(last.unwrap().cpu.usage_usec, Some(0));
    assert_eq!(
        n,
        0,
        "{n} allocations in 1000 samples of {}",
        b.path().display()
    );
    b.destroy().unwrap();
}

#[test]
fn the_counter_counts() {
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(n, 1000);
}
