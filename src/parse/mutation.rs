//! Deterministic mutation test: every parser gets 100,000+ corrupted
//! variants of real samples (truncations, flipped bits, huge numbers, lost
//! newlines, repeated lines, junk bytes, empty files). None may panic, and
//! whatever a parser accepts must be what the input says: each value it
//! returns appears in the input as that key's token.

use std::path::Path;

use super::stat_file::{self, FileStats, Layout, Number};
use super::{mountinfo, proc_cgroup, psi, value};
use crate::testkit::{Rng, fixtures, mutate};

const PER_PARSER: usize = 100_000;

/// Every sample of `names`, from every kernel's samples (5.10, 6.1, 6.12:
/// their keys, orders and lines differ).
fn samples(names: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut kernels = 0;
    for kernel in std::fs::read_dir(fixtures().join("samples")).unwrap() {
        let base = kernel.unwrap().path();
        kernels += 1;
        for scenario in std::fs::read_dir(&base).unwrap() {
            let dir = scenario.unwrap().path();
            for name in names {
                if let Ok(bytes) = std::fs::read(dir.join(name)) {
                    out.push(bytes);
                }
            }
        }
    }
    assert!(kernels >= 3, "samples of {kernels} kernels");
    assert!(!out.is_empty(), "no samples of {names:?}");
    out
}

#[test]
fn every_kernels_samples_are_mutated() {
    // 6.12's nice_usec and 5.10's short memory.stat are among the inputs.
    let cpu = samples(&["cpu.stat"]);
    assert!(
        cpu.iter()
            .any(|b| String::from_utf8_lossy(b).contains("nice_usec"))
    );
    assert!(
        cpu.iter()
            .any(|b| !String::from_utf8_lossy(b).contains("nr_bursts"))
    );
    let mem = samples(&["memory.stat"]);
    let lens: std::collections::BTreeSet<usize> = mem
        .iter()
        .map(|b| String::from_utf8_lossy(b).lines().count())
        .collect();
    assert!(
        lens.contains(&36) && lens.contains(&47) && lens.contains(&60),
        "{lens:?}"
    );
}

fn layouts_samples() -> Vec<Vec<u8>> {
    let base = fixtures().join("layouts");
    let mut out = Vec::new();
    for layout in std::fs::read_dir(&base).unwrap() {
        let dir = layout.unwrap().path();
        for f in ["proc/self/mountinfo", "proc/self/cgroup"] {
            if let Ok(b) = std::fs::read(dir.join(f)) {
                out.push(b);
            }
        }
    }
    out
}

/// Feed `PER_PARSER` mutants of `inputs` to `check`, which must not panic.
/// Returns how many were accepted, so that a test can prove both paths ran.
fn run(seed: u64, inputs: &[Vec<u8>], mut check: impl FnMut(&str) -> bool) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let (mut accepted, mut rejected) = (0, 0);
    for i in 0..PER_PARSER {
        let base = &inputs[i % inputs.len()];
        // one to three mutations stacked
        let mut m = mutate(base, &mut rng);
        for _ in 0..rng.below(3) {
            m = mutate(&m, &mut rng);
        }
        let text = String::from_utf8_lossy(&m);
        if check(&text) {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    assert!(
        accepted > 0 && rejected > 0,
        "seed {seed}: accepted {accepted}, rejected {rejected}"
    );
    (accepted, rejected)
}

fn token(n: Number) -> Option<String> {
    match n {
        Number::Uint(v) => Some(v.to_string()),
        Number::Int(v) => Some(v.to_string()),
        Number::Max => Some("max".into()),
        Number::Float(_) => None,
    }
}

/// True when `value` is what `raw` (a token from the input) says.
fn same(raw: &str, value: Number) -> bool {
    match (token(value), value) {
        (Some(t), _) => t == raw,
        (None, Number::Float(f)) => raw.parse::<f64>().ok() == Some(f),
        _ => false,
    }
}

/// Each accepted value must stand in the input, on its own key's line.
fn faithful(text: &str, parsed: &FileStats) -> bool {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_ascii_whitespace().collect())
        .collect();
    match parsed {
        FileStats::Single(n) => lines.iter().any(|l| l.len() == 1 && same(l[0], *n)),
        FileStats::Flat(pairs) => pairs.iter().all(|(k, v)| {
            lines
                .iter()
                .any(|l| l.len() == 2 && l[0] == k && same(l[1], *v))
        }),
        FileStats::Nested(entries) => entries.iter().all(|(key, fields)| {
            lines.iter().any(|l| {
                l.first() == Some(&&**key)
                    && fields.iter().all(|(sub, v)| {
                        l.iter().skip(1).any(|f| {
                            f.split_once('=')
                                .is_some_and(|(s, raw)| s == sub && same(raw, *v))
                        })
                    })
            })
        }),
    }
}

fn stat_parser(seed: u64, layout: Layout, files: &[&str]) {
    let inputs = samples(files);
    let (acc, rej) = run(seed, &inputs, |text| match stat_file::parse(layout, text) {
        Ok(parsed) => {
            assert!(
                faithful(text, &parsed),
                "{layout:?} invented a value from {text:?}: {parsed:?}"
            );
            true
        }
        Err(e) => {
            assert!(!e.message().is_empty());
            false
        }
    });
    eprintln!("{layout:?}: {acc} accepted, {rej} rejected");
}

#[test]
fn flat_unsigned_files() {
    stat_parser(
        1,
        Layout::FlatUnsigned,
        &[
            "cpu.stat",
            "memory.events",
            "cgroup.events",
            "cgroup.stat",
            "pids.events",
        ],
    );
}

#[test]
fn flat_signed_memory_stat() {
    stat_parser(2, Layout::FlatSigned, &["memory.stat"]);
}

#[test]
fn single_value_files() {
    stat_parser(
        3,
        Layout::Counter,
        &["memory.current", "memory.peak", "pids.current", "pids.peak"],
    );
    stat_parser(
        4,
        Layout::Limit,
        &["memory.max", "pids.max", "memory.high", "memory.swap.max"],
    );
}

#[test]
fn io_stat() {
    let mut inputs = samples(&["io.stat"]);
    inputs.push(b"259:0 rbytes=8388608 wbytes=25165824 rios=16 wios=48 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=1530 cost.wait=0 cost.indebt=0 cost.indelay=0\n".to_vec());
    let (acc, _) = run(5, &inputs, |text| {
        match stat_file::parse(Layout::Devices, text) {
            Ok(parsed) => {
                assert!(
                    faithful(text, &parsed),
                    "io.stat invented a value from {text:?}: {parsed:?}"
                );
                true
            }
            Err(_) => false,
        }
    });
    assert!(acc > 0);
}

#[test]
fn pressure_files() {
    stat_parser(
        6,
        Layout::Pressure,
        &["cpu.pressure", "memory.pressure", "io.pressure"],
    );
    let inputs = samples(&["cpu.pressure", "io.pressure"]);
    run(7, &inputs, |text| match psi::parse(text) {
        Ok(p) => {
            let some = p.some.expect("accepted PSI has a some line");
            assert!((0.0..=100.0).contains(&some.avg10) && some.avg10.is_finite());
            true
        }
        Err(_) => false,
    });
}

#[test]
fn cpu_max() {
    let inputs = vec![b"50000 100000\n".to_vec(), b"max 100000\n".to_vec()];
    run(8, &inputs, |text| match value::cpu_max(text) {
        Ok(c) => {
            let words: Vec<&str> = text.split_ascii_whitespace().collect();
            assert_eq!(words.len(), 2, "{text:?}");
            assert_eq!(words[1], c.period_us.to_string(), "{text:?}");
            assert_eq!(
                words[0],
                c.quota_us
                    .map(|q| q.to_string())
                    .unwrap_or_else(|| "max".into()),
                "{text:?}"
            );
            true
        }
        Err(_) => false,
    });
}

#[test]
fn proc_self_cgroup() {
    let inputs = layouts_samples();
    run(9, &inputs, |text| match proc_cgroup::parse(text) {
        Ok(memberships) => {
            for m in &memberships {
                assert!(m.path.starts_with('/'));
                let line = format!("{}:{}:{}", m.hierarchy_id, m.controllers.join(","), m.path);
                assert!(
                    text.lines().any(|l| l.starts_with(&line)),
                    "{line:?} not in {text:?}"
                );
            }
            true
        }
        Err(_) => false,
    });
}

#[test]
fn mountinfo() {
    let inputs = layouts_samples();
    run(10, &inputs, |text| match mountinfo::parse(text) {
        Ok(mounts) => {
            for m in &mounts {
                let id = format!("{} {} ", m.mount_id, m.parent_id);
                assert!(
                    text.lines().any(|l| l.starts_with(&id)),
                    "{id:?} not in {text:?}"
                );
                assert!(
                    text.contains(&format!(" - {} ", m.fstype))
                        || text.contains(&format!(" - {}\n", m.fstype))
                );
            }
            true
        }
        Err(_) => false,
    });
}

/// The hot-path sampler agrees with the full parser on whatever it accepts.
#[test]
fn sampler_on_damaged_files() {
    use crate::Sampler;
    use crate::fs::{CgroupFs, SysFs};
    use std::sync::Arc;
    // tmpfs when there is one: 100,000 rewrites on a disk file system take seconds
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let sources = [
        ("cgroup.events", samples(&["cgroup.events"])),
        ("cpu.stat", samples(&["cpu.stat"])),
        ("memory.current", samples(&["memory.current"])),
        ("memory.peak", samples(&["memory.peak"])),
        ("pids.current", samples(&["pids.current"])),
    ];
    for (name, inputs) in &sources {
        std::fs::write(dir.path().join(name), &inputs[0]).unwrap();
    }
    let fs = Arc::new(SysFs::rooted(dir.path()).unwrap());
    // Kept open across rounds: each write replaces the content in place,
    // and the sampler's pread at offset 0 sees it, as with cgroupfs.
    let sampler = Sampler::new(fs.clone(), &fs.open_dir(Path::new("/")).unwrap()).unwrap();
    assert_eq!(sampler.open_files(), 5);
    let mut rng = Rng::new(11);
    let mut damaged = 0;
    for round in 0..20_000 {
        let mut written = Vec::new();
        for (name, inputs) in &sources {
            let m = mutate(&inputs[round % inputs.len()], &mut rng);
            std::fs::write(dir.path().join(name), &m).unwrap();
            written.push(String::from_utf8_lossy(&m).into_owned());
        }
        let snap = sampler.sample().unwrap();
        damaged += usize::from(snap.damaged != 0);
        let single = |i: usize| {
            stat_file::parse(Layout::Counter, &written[i])
                .ok()
                .and_then(|f| f.single())
                .and_then(|n| n.as_u64())
        };
        if snap.damaged & 0b100 == 0 {
            assert_eq!(snap.memory_current, single(2), "{:?}", written[2]);
        }
        if snap.damaged & 0b10000 == 0 {
            assert_eq!(snap.pids_current, single(4), "{:?}", written[4]);
        }
        if let Some(u) = snap.cpu.usage_usec {
            assert!(
                written[1]
                    .lines()
                    .any(|l| l.split_ascii_whitespace().collect::<Vec<_>>()
                        == ["usage_usec", &u.to_string()])
            );
        }
    }
    assert!(damaged > 0);
}
