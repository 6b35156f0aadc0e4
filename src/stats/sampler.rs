//! The hot path: the common snapshot with one `pread` per file and no
//! heap allocation.
//!

use std::sync::Arc;

use crate::fs::{Access, CgroupFs};
use crate::parse::keyed::{flat, nested};
use crate::parse::token::{complete, parse_u64};
use crate::parse::value::u64_file;

/// `cpu.stat` counters of a snapshot; each `None` when the kernel did not
/// report it (the throttling keys need the cpu controller).
///
/// See the [example](crate::stats::Sampler#examples).
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

/// `memory.events` counters (since the box was made); each `None` when
/// the file is not sampled, absent (no memory controller) or lacks the key.
///
/// See the [example](crate::stats::Sampler#examples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEvents {
    /// Times usage went under `memory.low` protection and was reclaimed anyway.
    pub low: Option<u64>,
    /// Times usage went over `memory.high` (the box was throttled and reclaimed).
    pub high: Option<u64>,
    /// Times usage was about to go over `memory.max`.
    pub max: Option<u64>,
    /// Times the OOM killer was invoked for the box.
    pub oom: Option<u64>,
    /// Processes of the box the OOM killer killed.
    pub oom_kill: Option<u64>,
}

/// The total stall times of one pressure file (`cpu.pressure` ...), in
/// microseconds since the box was made: the share of a time span in which
/// some (or all) of the box's tasks stalled is the growth of these totals
/// over the span's length.
///
/// See the [example](crate::stats::Sampler#examples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StallTotals {
    /// `some ... total=`: time in which at least one task stalled.
    pub some_usec: u64,
    /// `full ... total=`: time in which all non-idle tasks stalled at once
    /// (`None` where the kernel prints no `full` line).
    pub full_usec: Option<u64>,
}

/// The pressure files of a snapshot; each `None` when not sampled or
/// when the kernel has no PSI (absent files, or reads failing with
/// `EOPNOTSUPP`).
///
/// See the [example](crate::stats::Sampler#examples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    /// `cpu.pressure`.
    pub cpu: Option<StallTotals>,
    /// `memory.pressure`.
    pub memory: Option<StallTotals>,
    /// `io.pressure`.
    pub io: Option<StallTotals>,
}

/// The common numbers of a box at one moment.
///
/// See the [example](crate::stats::Sampler#examples).
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
    /// `memory.events` ([`Sampler::extended`] only).
    pub memory_events: MemoryEvents,
    /// `pids.events` max: forks refused by `pids.max` ([`Sampler::extended`] only).
    pub pids_events_max: Option<u64>,
    /// The pressure files ([`Sampler::extended`] only).
    pub pressure: Pressure,
    /// Bit `i` set: file `i` of [`Sampler::FILES`] followed by
    /// [`Sampler::EXTENDED_FILES`] exists but its content could not be read
    /// or parsed this time (its fields are `None`).
    pub damaged: u16,
}

/// The files a sampler can keep, in bit order of [`Snapshot::damaged`]:
/// the file list, the array of kept files, what each file fills in and the
/// damage bits are all defined by this one order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Events,
    CpuStat,
    MemoryCurrent,
    MemoryPeak,
    PidsCurrent,
    MemoryEvents,
    PidsEvents,
    CpuPressure,
    MemoryPressure,
    IoPressure,
}

/// How many files a sampler can keep.
const SLOTS: usize = Slot::ALL.len();

impl Slot {
    const ALL: [Slot; 10] = [
        Slot::Events,
        Slot::CpuStat,
        Slot::MemoryCurrent,
        Slot::MemoryPeak,
        Slot::PidsCurrent,
        Slot::MemoryEvents,
        Slot::PidsEvents,
        Slot::CpuPressure,
        Slot::MemoryPressure,
        Slot::IoPressure,
    ];

    const fn file(self) -> &'static str {
        match self {
            Slot::Events => "cgroup.events",
            Slot::CpuStat => "cpu.stat",
            Slot::MemoryCurrent => "memory.current",
            Slot::MemoryPeak => "memory.peak",
            Slot::PidsCurrent => "pids.current",
            Slot::MemoryEvents => "memory.events",
            Slot::PidsEvents => "pids.events",
            Slot::CpuPressure => "cpu.pressure",
            Slot::MemoryPressure => "memory.pressure",
            Slot::IoPressure => "io.pressure",
        }
    }

    /// Kept only by [`Sampler::extended`].
    const fn extended(self) -> bool {
        self as usize >= Slot::MemoryEvents as usize
    }

    /// A PSI file, which reads can refuse with `EOPNOTSUPP`.
    fn is_pressure(self) -> bool {
        matches!(
            self,
            Slot::CpuPressure | Slot::MemoryPressure | Slot::IoPressure
        )
    }

    /// The file names of the slots from `first`, `N` of them. Used only
    /// in constants, so an index out of range fails the build, not a run.
    #[allow(clippy::indexing_slicing)]
    const fn files<const N: usize>(first: usize) -> [&'static str; N] {
        let mut out = [""; N];
        let mut i = 0;
        while i < N {
            out[i] = Slot::ALL[first + i].file();
            i += 1;
        }
        out
    }
}

/// Keeps a box's hot files open and re-reads them with `pread` at offset 0
/// into a stack buffer: one system call per file, no heap allocation.
///
/// [`Sampler::new`] (or [`BoxRef::sampler`](crate::BoxRef::sampler)) keeps
/// the five files every snapshot needs ([`Sampler::FILES`]);
/// [`Sampler::extended`] also keeps
/// `memory.events`, `pids.events` and the pressure files
/// ([`Sampler::EXTENDED_FILES`]), for a trace of a whole run (what `cgbox
/// run --trace` records), still with one `pread` per file and no
/// allocation. A file the kernel lacks is not kept, and its fields are
/// `None`, never 0.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use cgbox::fs::{CgroupFs, FakeFs};
/// use cgbox::{Builder, Limits, Sampler, Size};
///
/// let fake = Arc::new(FakeFs::new());
/// let limits = Limits::new().memory_max(Size::parse("64M")?).pids_max(16);
/// let job = Builder::new().name("traced").limits(limits).create(fake.clone())?;
///
/// let hot = job.sampler()?;
/// assert!(hot.samples("memory.current") && !hot.samples("memory.events"));
/// let sampler = Sampler::extended(fake.clone(), &fake.open_dir(job.path())?)?;
/// assert_eq!(sampler.open_files(), 10);
/// assert!(sampler.memory_events_file().is_some()); // to poll for POLLPRI
///
/// fake.spawn("cgbox/agents/traced")?;
/// fake.set_file("cgbox/agents/traced", "memory.events",
///     "low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n")?;
/// let snap = sampler.sample()?;
/// assert_eq!(snap.populated, Some(true));
/// assert_eq!(snap.pids_current, Some(1));
/// assert_eq!(snap.cpu.usage_usec, Some(0));
/// assert_eq!(snap.memory_events.high, Some(12));
/// assert_eq!(snap.memory_events.oom_kill, Some(1));
/// assert_eq!(snap.pids_events_max, Some(0));
/// assert_eq!(snap.pressure.memory.map(|p| p.some_usec), Some(0));
/// assert_eq!(snap.damaged, 0);
///
/// // A damaged file: its bit is set and its fields are None.
/// fake.set_file("cgbox/agents/traced", "cpu.stat", "usage_usec 1\nusage_usec 2\n")?;
/// let snap = sampler.sample()?;
/// let bit = Sampler::<FakeFs>::FILES.iter().position(|f| *f == "cpu.stat").unwrap();
/// assert_eq!(snap.damaged, 1 << bit);
/// assert_eq!(snap.cpu.usage_usec, None);
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug)]
pub struct Sampler<F: CgroupFs> {
    fs: Arc<F>,
    files: [Option<F::File>; SLOTS],
}

/// Room for any of the sampled files (`cpu.stat` is ~250 bytes today).
const BUF: usize = 4096;

impl<F: CgroupFs> Sampler<F> {
    /// The sampled files, in bit order of [`Snapshot::damaged`].
    ///
    /// See the [example](crate::Stats#examples).
    pub const FILES: [&'static str; 5] = Slot::files(0);

    /// The files [`Sampler::extended`] keeps as well, in bit order of
    /// [`Snapshot::damaged`] after [`Sampler::FILES`].
    ///
    /// See the [example](crate::Stats#examples).
    pub const EXTENDED_FILES: [&'static str; 5] = Slot::files(Slot::MemoryEvents as usize);

    /// Open the hot files of `dir` that exist ([`Sampler::FILES`]).
    ///
    /// See the [example](crate::Stats#examples).
    pub fn new(fs: Arc<F>, dir: &F::Dir) -> crate::Result<Sampler<F>> {
        Sampler::open(fs, dir, false)
    }

    /// Open the hot files and the [`Sampler::EXTENDED_FILES`] of `dir`
    /// that exist. A pressure file whose reads fail with `EOPNOTSUPP`
    /// (`cgroup.pressure` off, or PSI disabled at boot) counts as absent.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn extended(fs: Arc<F>, dir: &F::Dir) -> crate::Result<Sampler<F>> {
        Sampler::open(fs, dir, true)
    }

    fn open(fs: Arc<F>, dir: &F::Dir, extended: bool) -> crate::Result<Sampler<F>> {
        let mut files: [Option<F::File>; SLOTS] = Default::default();
        let mut buf = [0u8; BUF];
        for (kept, slot) in files.iter_mut().zip(Slot::ALL) {
            if slot.extended() && !extended {
                continue;
            }
            let file = match fs.open_file(dir, slot.file(), Access::Read) {
                Ok(f) => f,
                Err(e) if e.is_absent() => continue,
                Err(e) => return Err(e),
            };
            if slot.is_pressure() {
                match fs.read_kept(&file, &mut buf) {
                    Err(e) if e.is_errno(rustix::io::Errno::OPNOTSUPP) => continue,
                    Err(e) if e.is_absent() => continue,
                    _ => {}
                }
            }
            *kept = Some(file);
        }
        Ok(Sampler { fs, files })
    }

    /// How many files are kept open.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn open_files(&self) -> usize {
        self.files.iter().filter(|f| f.is_some()).count()
    }

    /// Whether the file `name` ([`Sampler::FILES`] or
    /// [`Sampler::EXTENDED_FILES`]) is kept open: it exists, and its
    /// fields are `Some` unless damaged.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn samples(&self, name: &str) -> bool {
        Slot::ALL
            .iter()
            .zip(self.files.iter())
            .any(|(slot, f)| slot.file() == name && f.is_some())
    }

    /// The kept `memory.events` file, when sampled: the kernel wakes a
    /// `poll` for `POLLPRI` on it when a counter changes (rate-limited to
    /// one wake per 10 ms or so), and a sample re-arms it.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn memory_events_file(&self) -> Option<&F::File> {
        self.files
            .get(Slot::MemoryEvents as usize)
            .and_then(Option::as_ref)
    }

    /// Take a snapshot. Fails only when the cgroup is gone (`ENODEV`).
    ///
    /// See the [example](crate::Stats#examples).
    pub fn sample(&self) -> crate::Result<Snapshot> {
        let mut snap = Snapshot::default();
        let mut buf = [0u8; BUF];
        for (i, (file, slot)) in self.files.iter().zip(Slot::ALL).enumerate() {
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
            if !apply(slot, text, &mut snap) {
                snap.damaged |= 1 << i;
            }
        }
        Ok(snap)
    }
}

/// Fill `snap` from the content of `slot`'s file; false when it is
/// damaged (then nothing of it is kept).
fn apply(slot: Slot, text: &str, snap: &mut Snapshot) -> bool {
    match slot {
        Slot::Events => {
            let Some(events) = crate::parse::events::parse_quiet(text) else {
                return false;
            };
            snap.populated = Some(events.populated);
            snap.frozen = events.frozen;
            true
        }
        Slot::CpuStat => {
            let mut v = [None; 6];
            let keys = [
                "usage_usec",
                "user_usec",
                "system_usec",
                "nr_periods",
                "nr_throttled",
                "throttled_usec",
            ];
            if !counters(text, &keys, &mut v) || v[0].is_none() {
                return false;
            }
            let [
                usage_usec,
                user_usec,
                system_usec,
                nr_periods,
                nr_throttled,
                throttled_usec,
            ] = v;
            let cpu = CpuUsage {
                usage_usec,
                user_usec,
                system_usec,
                nr_periods,
                nr_throttled,
                throttled_usec,
            };
            snap.cpu = cpu;
            true
        }
        Slot::MemoryCurrent | Slot::MemoryPeak | Slot::PidsCurrent => {
            let Ok(v) = u64_file(text) else { return false };
            let field = match slot {
                Slot::MemoryCurrent => &mut snap.memory_current,
                Slot::MemoryPeak => &mut snap.memory_peak,
                _ => &mut snap.pids_current,
            };
            *field = Some(v);
            true
        }
        Slot::MemoryEvents => {
            let mut v = [None; 5];
            if !counters(text, &["low", "high", "max", "oom", "oom_kill"], &mut v) {
                return false;
            }
            let [low, high, max, oom, oom_kill] = v;
            snap.memory_events = MemoryEvents {
                low,
                high,
                max,
                oom,
                oom_kill,
            };
            true
        }
        Slot::PidsEvents => {
            let mut v = [None];
            if !counters(text, &["max"], &mut v) || v[0].is_none() {
                return false;
            }
            let [max] = v;
            snap.pids_events_max = max;
            true
        }
        Slot::CpuPressure | Slot::MemoryPressure | Slot::IoPressure => {
            let Some(totals) = stall_totals(text) else {
                return false;
            };
            let field = match slot {
                Slot::CpuPressure => &mut snap.pressure.cpu,
                Slot::MemoryPressure => &mut snap.pressure.memory,
                _ => &mut snap.pressure.io,
            };
            *field = Some(totals);
            true
        }
    }
}

/// Read a flat-keyed file of counters: the value of `keys[i]` goes to
/// `out[i]`, other keys are skipped; false for a bad line, a bad number or
/// a repeated key (any key).
fn counters(text: &str, keys: &[&str], out: &mut [Option<u64>]) -> bool {
    if complete(text).is_err() {
        return false;
    }
    // The kernel never repeats a key, known or not: a repeat is damage.
    // The keys seen so far, kept for files of up to 32 lines (ten or so
    // today): cheaper than a set, and no line parsed twice.
    let mut seen = [""; 32];
    for (i, item) in flat(text).enumerate() {
        let Ok((k, v)) = item else { return false };
        let Some(v) = parse_u64(v) else { return false };
        let repeated = match seen.get_mut(..=i) {
            Some([earlier @ .., this]) => {
                *this = k;
                earlier.contains(&k)
            }
            _ => flat(text).take(i).any(|p| p.is_ok_and(|(pk, _)| pk == k)),
        };
        if repeated {
            return false;
        }
        let slot = keys
            .iter()
            .position(|key| *key == k)
            .and_then(|i| out.get_mut(i));
        if let Some(slot) = slot {
            *slot = Some(v);
        }
    }
    true
}

/// The `total=` of the `some` and `full` lines of a PSI file; `None` when
/// damaged or when `some` is missing.
fn stall_totals(text: &str) -> Option<StallTotals> {
    complete(text).ok()?;
    let (mut some, mut full) = (None, None);
    for line in nested(text) {
        let slot = match line.key {
            "some" => &mut some,
            "full" => &mut full,
            _ => continue,
        };
        let mut total = None;
        for field in line.fields() {
            let (k, v) = field.ok()?;
            if k == "total" && total.replace(parse_u64(v)?).is_some() {
                return None;
            }
        }
        if slot.replace(total?).is_some() {
            return None;
        }
    }
    Some(StallTotals {
        some_usec: some?,
        full_usec: full,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_refuse_any_repeated_key_in_short_and_long_files() {
        let keys = ["usage_usec"];
        let mut out = [None];
        assert!(counters("usage_usec 5\nother 1\n", &keys, &mut out));
        assert_eq!(out, [Some(5)]);
        assert!(!counters(
            "usage_usec 5\nother 1\nother 2\n",
            &keys,
            &mut [None]
        ));
        assert!(!counters(
            "usage_usec 5\nusage_usec 6\n",
            &keys,
            &mut [None]
        ));
        // Past the 32 keys kept, a repeat is still found.
        let long: String = (0..40).map(|i| format!("k{i} {i}\n")).collect();
        assert!(counters(&long, &keys, &mut [None]));
        assert!(!counters(&format!("{long}k35 1\n"), &keys, &mut [None]));
        assert!(!counters(&format!("{long}k3 1\n"), &keys, &mut [None]));
    }

    #[test]
    fn apply_rejects_damage_whole() {
        let mut s = Snapshot::default();
        assert!(apply(Slot::CpuStat, "usage_usec 5\nuser_usec 3\n", &mut s));
        assert_eq!(s.cpu.usage_usec, Some(5));
        let mut s = Snapshot::default();
        assert!(!apply(
            Slot::CpuStat,
            "usage_usec 5\nusage_usec 6\n",
            &mut s
        ));
        assert_eq!(s.cpu, CpuUsage::default(), "nothing of a damaged file kept");
        assert!(!apply(Slot::Events, "populated 2\n", &mut s));
        assert!(!apply(Slot::MemoryCurrent, "", &mut s));
        assert!(apply(Slot::PidsCurrent, "7\n", &mut s));
        assert_eq!(s.pids_current, Some(7));
    }

    #[test]
    fn events_and_pressure() {
        let mut s = Snapshot::default();
        let events = "low 0\nhigh 12\nmax 36\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert!(apply(Slot::MemoryEvents, events, &mut s));
        assert_eq!(
            s.memory_events,
            MemoryEvents {
                low: Some(0),
                high: Some(12),
                max: Some(36),
                oom: Some(1),
                oom_kill: Some(1)
            }
        );
        let mut s = Snapshot::default();
        for bad in [
            "low 0\nhigh 1\nhigh 2\n",
            "low 0\nhigh x\n",
            "low 0\nhigh 1",
            "high\n",
        ] {
            assert!(!apply(Slot::MemoryEvents, bad, &mut s), "{bad:?}");
        }
        assert_eq!(s.memory_events, MemoryEvents::default());
        assert!(apply(Slot::PidsEvents, "max 4\n", &mut s));
        assert_eq!(s.pids_events_max, Some(4));
        assert!(!apply(Slot::PidsEvents, "other 4\n", &mut s));

        let psi = "some avg10=1.00 avg60=0.50 avg300=0.10 total=13790\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=9000\n";
        assert!(apply(Slot::MemoryPressure, psi, &mut s));
        assert_eq!(
            s.pressure.memory,
            Some(StallTotals {
                some_usec: 13790,
                full_usec: Some(9000)
            })
        );
        assert!(apply(
            Slot::CpuPressure,
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n",
            &mut s
        ));
        assert_eq!(s.pressure.cpu.map(|p| p.full_usec), Some(None));
        for bad in [
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=5\n",
            "some avg10=0.00 total=5 total=6\n",
            "some avg10=0.00 total=x\n",
            "some total=5\nsome total=6\n",
            "some total=5",
        ] {
            assert!(!apply(Slot::IoPressure, bad, &mut s), "{bad:?}");
        }
        assert_eq!(s.pressure.io, None);
    }
}
