use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::fs::fake::{FakeFs, Op, Psi};
use crate::fs::{CgroupFs, SysFs};

/// The kernels whose interface files `fixtures/samples/` holds
/// (`tests/vm/capture-samples.sh` captures them).
const KERNELS: [&str; 3] = ["5.10", "6.1", "6.12"];

fn samples_of(kernel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/samples")
        .join(format!("kernel-{kernel}"))
}

fn sample_dir(scenario: &str) -> std::path::PathBuf {
    samples_of("6.1").join(scenario)
}

/// Read a fixture directory of real interface files from kernel 6.1.
fn sample(scenario: &str) -> Stats {
    sample_of("6.1", scenario)
}

/// Read a fixture directory of real interface files from `kernel`.
fn sample_of(kernel: &str, scenario: &str) -> Stats {
    let fs = SysFs::rooted(samples_of(kernel).join(scenario)).unwrap();
    Stats::read(&fs, &fs.open_dir(Path::new("/")).unwrap()).unwrap()
}

#[test]
fn oom_sample_value_by_value() {
    let s = sample("oom");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.memory_current(), Some(65536));
    assert_eq!(s.memory_peak(), Some(33554432));
    assert_eq!(
        s.file("memory.max").unwrap().single(),
        Some(Number::Uint(33554432))
    );
    assert_eq!(s.oom_kills(), Some(1));
    for (key, want) in [
        ("low", 0),
        ("high", 0),
        ("max", 36),
        ("oom", 1),
        ("oom_kill", 1),
        ("oom_group_kill", 0),
    ] {
        assert_eq!(s.key("memory.events", key), Some(want), "{key}");
        assert_eq!(s.key("memory.events.local", key), Some(want), "local {key}");
    }
    assert_eq!(s.memory_stat("kernel"), Some(Number::Uint(4096)));
    assert_eq!(s.memory_stat("slab_unreclaimable"), Some(Number::Uint(872)));
    assert_eq!(s.memory_stat("thp_fault_alloc"), Some(Number::Uint(16)));
    assert_eq!(s.memory_stat("pgfault"), Some(Number::Uint(2497)));
    let p = s.file("memory.pressure").unwrap();
    assert_eq!(p.get_nested("some", "total"), Some(Number::Uint(13790)));
    assert_eq!(p.get_nested("full", "avg10"), Some(Number::Float(0.0)));
    // what the sample does not have is absent, not zero
    assert_eq!(s.pids_current(), None);
    assert!(s.file("cpu.stat").is_none());
}

#[test]
fn live_sample_value_by_value() {
    let s = sample("live");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.populated(), Some(true));
    assert_eq!(s.key("cgroup.events", "frozen"), Some(0));
    assert_eq!(s.pids_current(), Some(4));
    assert_eq!(s.pids_peak(), Some(4));
    assert_eq!(s.memory_current(), Some(12984320));
    for (key, want) in [
        ("anon", 3706880),
        ("file", 8388608),
        ("shmem", 8388608),
        ("inactive_anon", 12058624),
        ("slab", 81616),
        ("pgfault", 1323),
    ] {
        assert_eq!(s.memory_stat(key), Some(Number::Uint(want)), "{key}");
    }
    let FileStats::Flat(all) = s.file("memory.stat").unwrap() else {
        panic!()
    };
    assert_eq!(all.len(), 47, "every key reachable, in the kernel's order");
    assert_eq!(all[0].0, "anon");
}

#[test]
fn throttled_and_pids_and_io_samples() {
    let s = sample("throttled");
    assert_eq!(s.cpu_usage_usec(), Some(4569656));
    assert_eq!(s.key("cpu.stat", "user_usec"), Some(2043758));
    assert_eq!(s.key("cpu.stat", "system_usec"), Some(2525897));
    assert_eq!(s.key("cpu.stat", "nr_periods"), Some(25));
    assert_eq!(s.nr_throttled(), Some(23));
    assert_eq!(s.throttled_usec(), Some(3262179));
    let p = s.file("cpu.pressure").unwrap();
    assert_eq!(p.get_nested("some", "avg10"), Some(Number::Float(12.93)));
    assert_eq!(p.get_nested("full", "total"), Some(Number::Uint(1704215)));

    let s = sample("pids-max");
    assert_eq!(s.file("pids.max").unwrap().single(), Some(Number::Uint(5)));
    assert_eq!(s.pids_max_events(), Some(1));
    assert_eq!(s.pids_current(), Some(4));

    let s = sample("io");
    let io = s.file("io.stat").unwrap();
    for (key, want) in [
        ("rbytes", 8388608),
        ("wbytes", 25165824),
        ("rios", 16),
        ("wios", 48),
        ("dbytes", 0),
        ("dios", 0),
    ] {
        assert_eq!(
            io.get_nested("259:0", key),
            Some(Number::Uint(want)),
            "{key}"
        );
    }
    assert_eq!(
        s.file("io.pressure").unwrap().get_nested("some", "avg10"),
        Some(Number::Float(4.52))
    );

    let s = sample("root");
    assert_eq!(s.key("cgroup.stat", "nr_dying_descendants"), Some(1));
    assert_eq!(s.cpu_usage_usec(), Some(20232000));
}

#[test]
fn a_damaged_file_is_named_and_the_rest_still_read() {
    let s = Stats::from_contents(
        Path::new("/x"),
        [
            ("memory.current", "12\n"),
            ("memory.stat", "anon 1\nfile\n"),
            ("pids.current", "lots\n"),
        ],
    );
    assert_eq!(s.memory_current(), Some(12));
    assert_eq!(s.errors.len(), 2);
    assert_eq!(s.errors[0].0, "memory.stat");
    assert!(s.errors[0].1.starts_with("line 2:"), "{}", s.errors[0].1);
    assert!(
        s.file("memory.stat").is_none(),
        "no half-parsed file passed off as whole"
    );
}

#[test]
fn fake_box_stats_leave_out_what_is_missing() {
    let fake = Arc::new(FakeFs::with_controllers(&["pids"]));
    fake.set_psi(Psi::Unsupported);
    fake.mkdir_p("b").unwrap();
    fake.write_file(
        &fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap(),
        "cgroup.subtree_control",
        b"+pids",
    )
    .unwrap();
    fake.spawn("b").unwrap();
    let dir = fake.open_dir(Path::new("/sys/fs/cgroup/b")).unwrap();
    let s = Stats::read(&*fake, &dir).unwrap();
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.pids_current(), Some(1));
    assert_eq!(s.memory_current(), None);
    assert!(s.file("cpu.pressure").is_none(), "EOPNOTSUPP is absent");
    assert_eq!(s.cpu_usage_usec(), Some(0));
    assert_eq!(
        s.nr_throttled(),
        None,
        "no cpu controller: no throttling keys"
    );
    let names: Vec<&str> = s.files.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        vec![
            "cgroup.events",
            "cgroup.stat",
            "cpu.stat",
            "pids.current",
            "pids.peak",
            "pids.max",
            "pids.events"
        ]
    );

    fake.fail(Op::Read, "/b/pids.current", rustix::io::Errno::IO, Some(1));
    let s = Stats::read(&*fake, &dir).unwrap();
    assert_eq!(
        s.errors,
        vec![("pids.current", "Input/output error (os error 5)".to_owned())]
    );
}

#[test]
fn sampler_reads_the_hot_files() {
    let fs = Arc::new(SysFs::rooted(sample_dir("live")).unwrap());
    let dir = fs.open_dir(Path::new("/")).unwrap();
    let sampler = Sampler::new(fs.clone(), &dir).unwrap();
    assert_eq!(
        sampler.open_files(),
        3,
        "cgroup.events, memory.current, pids.current"
    );
    let snap = sampler.sample().unwrap();
    assert_eq!(snap.populated, Some(true));
    assert_eq!(snap.frozen, Some(false));
    assert_eq!(snap.memory_current, Some(12984320));
    assert_eq!(snap.pids_current, Some(4));
    assert_eq!(snap.memory_peak, None);
    assert_eq!(snap.cpu.usage_usec, None);
    assert_eq!(snap.damaged, 0);
    assert_eq!(
        sampler.sample().unwrap(),
        snap,
        "pread at 0 reads the same again"
    );

    let fs = Arc::new(SysFs::rooted(sample_dir("throttled")).unwrap());
    let snap = Sampler::new(fs.clone(), &fs.open_dir(Path::new("/")).unwrap())
        .unwrap()
        .sample()
        .unwrap();
    assert_eq!(snap.cpu.usage_usec, Some(4569656));
    assert_eq!(snap.cpu.nr_throttled, Some(23));
    assert_eq!(snap.cpu.throttled_usec, Some(3262179));
}

#[test]
fn sampler_marks_damage_and_fails_only_when_the_cgroup_is_gone() {
    let fake = Arc::new(FakeFs::new());
    fake.mkdir_p("b").unwrap();
    fake.set_file("b", "cpu.stat", "usage_usec 5\nusage_usec 9\n")
        .unwrap();
    let dir = fake.open_dir(Path::new("/sys/fs/cgroup/b")).unwrap();
    let sampler = Sampler::new(fake.clone(), &dir).unwrap();
    let snap = sampler.sample().unwrap();
    assert_eq!(snap.damaged, 0b10, "cpu.stat damaged");
    assert_eq!(snap.cpu.usage_usec, None);
    assert_eq!(snap.populated, Some(false));
    fake.remove_child(&fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap(), "b")
        .unwrap();
    assert_eq!(
        sampler.sample().unwrap_err().kind(),
        crate::ErrorKind::NotFound
    );
}

#[test]
fn every_sample_of_every_kernel_reads_whole_and_leaves_out_what_is_missing() {
    let mut seen = 0;
    for kernel in KERNELS {
        let base = samples_of(kernel);
        for scenario in [
            "fork-bomb",
            "frozen",
            "io",
            "limits",
            "live",
            "oom",
            "pids-max",
            "root",
            "throttled",
        ] {
            let dir = base.join(scenario);
            assert!(dir.is_dir(), "{} missing", dir.display());
            let s = sample_of(kernel, scenario);
            assert!(s.errors.is_empty(), "{kernel} {scenario}: {:?}", s.errors);
            for (name, _) in FILES {
                assert_eq!(
                    s.file(name).is_some(),
                    dir.join(name).exists(),
                    "{kernel} {scenario} {name}: read exactly the files that exist"
                );
            }
            seen += s.files.len();
        }
    }
    assert!(seen >= 80, "{seen} files read");
}

#[test]
fn kernel_5_10_samples_value_by_value() {
    let s = sample_of("5.10", "oom");
    assert_eq!(s.memory_current(), Some(65536));
    assert_eq!(s.oom_kills(), Some(1));
    assert_eq!(s.key("memory.events", "max"), Some(35));
    assert_eq!(
        s.memory_peak(),
        None,
        "5.10 has no memory.peak: absent, not 0"
    );
    assert_eq!(
        s.key("memory.events", "oom_group_kill"),
        None,
        "5.10 has no oom_group_kill"
    );
    let m = s.memory().unwrap();
    assert_eq!(m.anon, Some(0), "the OOM-killed process is gone");
    assert_eq!(m.kernel, None, "no `kernel` key before 5.18");
    assert_eq!(m.pagetables, None);

    let s = sample_of("5.10", "live");
    assert_eq!(s.populated(), Some(true));
    assert_eq!(s.pids_current(), Some(3));
    assert_eq!(s.pids_peak(), None, "5.10 has no pids.peak");
    assert_eq!(s.memory_current(), Some(13471744));
    for (key, want) in [
        ("anon", 4239360),
        ("file", 8380416),
        ("shmem", 8380416),
        ("pgfault", 1650),
    ] {
        assert_eq!(s.memory_stat(key), Some(Number::Uint(want)), "{key}");
    }
    let FileStats::Flat(all) = s.file("memory.stat").unwrap() else {
        panic!()
    };
    assert_eq!(all.len(), 36, "5.10's memory.stat keys");

    let s = sample_of("5.10", "throttled");
    assert_eq!(s.cpu_usage_usec(), Some(1106203));
    assert_eq!(s.nr_throttled(), Some(22));
    assert_eq!(s.throttled_usec(), Some(2953594));
    assert_eq!(
        s.key("cpu.stat", "nr_bursts"),
        None,
        "burst keys came in 5.14"
    );
    let p = s.file("cpu.pressure").unwrap();
    assert_eq!(p.get_nested("some", "avg10"), Some(Number::Float(13.22)));
    assert_eq!(
        p.get_nested("full", "avg10"),
        None,
        "cpu full pressure came in 5.13"
    );

    let s = sample_of("5.10", "pids-max");
    assert_eq!(s.pids_max_events(), Some(1));
    assert_eq!(s.pids_current(), Some(4));
    assert_eq!(s.pids_peak(), None);

    let s = sample_of("5.10", "io");
    assert_eq!(
        s.file("io.stat").unwrap().get_nested("259:0", "wbytes"),
        Some(Number::Uint(25165824))
    );
    let s = sample_of("5.10", "root");
    assert_eq!(s.key("cgroup.stat", "nr_dying_descendants"), Some(5));
}

#[test]
fn kernel_6_12_samples_value_by_value() {
    let s = sample_of("6.12", "oom");
    assert_eq!(s.memory_peak(), Some(33554432));
    assert_eq!(
        s.value("memory.swap.peak"),
        Some(0),
        "memory.swap.peak came in 6.5"
    );
    assert_eq!(s.oom_kills(), Some(1));
    assert_eq!(s.key("memory.events", "oom"), Some(2));
    assert_eq!(s.key("memory.events", "oom_group_kill"), Some(0));

    let s = sample_of("6.12", "throttled");
    assert_eq!(s.cpu_usage_usec(), Some(1114432));
    assert_eq!(
        s.key("cpu.stat", "nice_usec"),
        Some(0),
        "6.12 adds nice_usec"
    );
    assert_eq!(s.nr_throttled(), Some(22));
    assert_eq!(s.throttled_usec(), Some(3235018));
    assert_eq!(s.key("cpu.stat", "nr_bursts"), Some(0));

    let s = sample_of("6.12", "pids-max");
    assert_eq!(s.pids_peak(), Some(5));
    assert_eq!(s.pids_max_events(), Some(1));

    let s = sample_of("6.12", "live");
    assert_eq!(s.pids_peak(), Some(4));
    assert_eq!(s.memory_stat("shmem"), Some(Number::Uint(8392704)));
    assert_eq!(
        s.memory_stat("numa_hint_faults"),
        Some(Number::Uint(0)),
        "a 6.12-only key"
    );
    let FileStats::Flat(all) = s.file("memory.stat").unwrap() else {
        panic!()
    };
    assert_eq!(all.len(), 60, "6.12's memory.stat keys");

    let s = sample_of("6.12", "root");
    assert_eq!(
        s.key("cgroup.stat", "nr_subsys_memory"),
        Some(1),
        "6.12 counts csses"
    );
    assert_eq!(s.key("cgroup.stat", "nr_dying_subsys_memory"), Some(3));
    assert_eq!(s.key("cgroup.stat", "nr_dying_descendants"), Some(6));
}

#[test]
fn the_sampler_reads_every_kernels_samples() {
    for kernel in KERNELS {
        let fs = Arc::new(SysFs::rooted(samples_of(kernel).join("throttled")).unwrap());
        let snap = Sampler::new(fs.clone(), &fs.open_dir(Path::new("/")).unwrap())
            .unwrap()
            .sample()
            .unwrap();
        let full = sample_of(kernel, "throttled");
        assert_eq!(snap.damaged, 0, "{kernel}");
        assert_eq!(snap.cpu.usage_usec, full.cpu_usage_usec(), "{kernel}");
        assert_eq!(snap.cpu.nr_throttled, full.nr_throttled(), "{kernel}");
        assert!(snap.cpu.nr_throttled.unwrap() > 0, "{kernel}");

        let fs = Arc::new(SysFs::rooted(samples_of(kernel).join("oom")).unwrap());
        let sampler = Sampler::new(fs.clone(), &fs.open_dir(Path::new("/")).unwrap()).unwrap();
        let snap = sampler.sample().unwrap();
        let full = sample_of(kernel, "oom");
        assert_eq!(snap.memory_current, full.memory_current(), "{kernel}");
        assert_eq!(
            snap.memory_peak,
            full.memory_peak(),
            "{kernel}: absent stays None"
        );
        assert_eq!(snap.memory_peak.is_some(), kernel != "5.10", "{kernel}");
    }
}
