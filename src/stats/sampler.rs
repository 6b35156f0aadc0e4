//! The hot path: the common snapshot with one `pread` per file and no
//! heap allocation.

use std::sync::Arc;

use crate::fs::{Access, CgroupFs};
use crate::parse::keyed::flat;
use crate::parse::token::parse_u64;
use crate::parse::value::u64_file;

/// `cpu.stat` counters of a snapshot; each `None` when the kernel did not
/// report it (the throttling keys need the cpu controller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuUsage {
    /// Total CPU time, microseconds.
    pub usage_usec: Option<u64>,
    /// User CPU time, microseconds.
    pub user_usec: Option<u64>,
    /// System CPU time, microseconds.
    pub system_usec: Option<u64>,
    /// Enforcement periods elapsed.
    pub nr_periods: Option<u64>,
    /// Periods in which the box was throttled.
    pub nr_throttled: Option<u64>,
    /// Time spent throttled, microseconds.
    pub throttled_usec: Option<u64>,
}

/// The common numbers of a box at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `cgroup.events` populated.
    pub populated: Option<bool>,
    /// `cgroup.events` frozen.
    pub frozen: Option<bool>,
    /// `cpu.stat`.
    pub cpu: CpuUsage,
    /// `memory.current`.
    pub memory_current: Option<u64>,
    /// `memory.peak`.
    pub memory_peak: Option<u64>,
    /// `pids.current`.
    pub pids_current: Option<u64>,
    /// Bit `i` set: file `i` of [`Sampler::FILES`] exists but its content
    /// could not be read or parsed this time (its fields are `None`).
    pub damaged: u8,
}

/// Keeps a box's hot files open and re-reads them with `pread` at offset 0
/// into a stack buffer: one system call per file, no heap allocation.
#[derive(Debug)]
pub struct Sampler<F: CgroupFs> {
    fs: Arc<F>,
    files: [Option<F::File>; 5],
}

/// Room for any of the sampled files (`cpu.stat` is ~250 bytes today).
const BUF: usize = 4096;

impl<F: CgroupFs> Sampler<F> {
    /// The sampled files, in bit order of [`Snapshot::damaged`].
    pub const FILES: [&'static str; 5] = [
        "cgroup.events",
        "cpu.stat",
        "memory.current",
        "memory.peak",
        "pids.current",
    ];

    /// Open the hot files of `dir` that exist.
    pub fn new(fs: Arc<F>, dir: &F::Dir) -> crate::Result<Sampler<F>> {
        let mut files: [Option<F::File>; 5] = Default::default();
        for (slot, name) in files.iter_mut().zip(Self::FILES) {
            *slot = match fs.open_file(dir, name, Access::Read) {
                Ok(f) => Some(f),
                Err(e) if e.is_absent() => None,
                Err(e) => return Err(e),
            };
        }
        Ok(Sampler { fs, files })
    }

    /// How many files are kept open.
    pub fn open_files(&self) -> usize {
        self.files.iter().filter(|f| f.is_some()).count()
    }

    /// Take a snapshot. Fails only when the cgroup is gone (`ENODEV`).
    pub fn sample(&self) -> crate::Result<Snapshot> {
        let mut snap = Snapshot::default();
        let mut buf = [0u8; BUF];
        for (i, file) in self.files.iter().enumerate() {
            let Some(file) = file else { continue };
            let n = match self.fs.read_kept(file, &mut buf) {
                Ok(n) => n,
                Err(e) if e.is_errno(rustix::io::Errno::NODEV) => return Err(e),
                Err(_) => {
                    snap.damaged |= 1 << i;
                    continue;
                }
            };
            let text = match buf.get(..n).map(std::str::from_utf8) {
                Some(Ok(t)) if n < BUF => t,
                _ => {
                    snap.damaged |= 1 << i;
                    continue;
                }
            };
            if !apply(i, text, &mut snap) {
                snap.damaged |= 1 << i;
            }
        }
        Ok(snap)
    }
}

/// Fill `snap` from file `i`'s content; false when it is damaged (then
/// nothing of it is kept).
fn apply(i: usize, text: &str, snap: &mut Snapshot) -> bool {
    match i {
        0 => {
            let Some(events) = crate::parse::events::parse_quiet(text) else {
                return false;
            };
            snap.populated = Some(events.populated);
            snap.frozen = events.frozen;
            true
        }
        1 => {
            let mut cpu = CpuUsage::default();
            for item in flat(text) {
                let Ok((k, v)) = item else { return false };
                let Some(v) = parse_u64(v) else { return false };
                let slot = match k {
                    "usage_usec" => &mut cpu.usage_usec,
                    "user_usec" => &mut cpu.user_usec,
                    "system_usec" => &mut cpu.system_usec,
                    "nr_periods" => &mut cpu.nr_periods,
                    "nr_throttled" => &mut cpu.nr_throttled,
                    "throttled_usec" => &mut cpu.throttled_usec,
                    _ => continue,
                };
                if slot.replace(v).is_some() {
                    return false; // a repeated key: damaged
                }
            }
            snap.cpu = cpu;
            cpu.usage_usec.is_some()
        }
        _ => {
            let Ok(v) = u64_file(text) else { return false };
            let slot = match i {
                2 => &mut snap.memory_current,
                3 => &mut snap.memory_peak,
                _ => &mut snap.pids_current,
            };
            *slot = Some(v);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_rejects_damage_whole() {
        let mut s = Snapshot::default();
        assert!(apply(1, "usage_usec 5\nuser_usec 3\n", &mut s));
        assert_eq!(s.cpu.usage_usec, Some(5));
        let mut s = Snapshot::default();
        assert!(!apply(1, "usage_usec 5\nusage_usec 6\n", &mut s));
        assert_eq!(s.cpu, CpuUsage::default(), "nothing of a damaged file kept");
        assert!(!apply(0, "populated 2\n", &mut s));
        assert!(!apply(2, "", &mut s));
        assert!(apply(4, "7\n", &mut s));
        assert_eq!(s.pids_current, Some(7));
    }
}
