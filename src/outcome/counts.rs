//! The counters a run is judged by: taken before ([`Tally`]) and after,
//! and their difference ([`Counts`]).

use std::path::{Path, PathBuf};

use crate::fs::{Access, CgroupFs, Handle, read_optional};
use crate::parse::value;
use crate::{Number, Result, Stats};

/// A box's counters before a job starts: what an
/// [`Outcome`](crate::Outcome) is measured from. Made by
/// [`BoxRef::tally`](crate::BoxRef::tally).
///
/// Where the kernel lets `memory.peak` be reset for one reader (Linux
/// 6.12 and later: a write to an open `memory.peak`), the tally keeps that
/// file open, reset, so that the outcome's peak is the run's own even in a
/// box that lived longer.
///
/// See the [example](crate::Outcome#examples) of [`Outcome`](crate::Outcome).
pub struct Tally<F: CgroupFs> {
    pub(crate) at: Stats,
    /// `memory.events` max of each cgroup above the box, innermost first,
    /// as far up as the memory controller goes.
    pub(crate) above: Vec<(PathBuf, u64)>,
    /// `memory.peak`, open with its view reset (6.12+).
    pub(crate) peak: Option<F::File>,
    /// The handle's kills when the tally was taken.
    pub(crate) kills: u64,
}

impl<F: CgroupFs> std::fmt::Debug for Tally<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("at", &self.at.path)
            .field("above", &self.above)
            .field("peak_reset", &self.peak.is_some())
            .finish()
    }
}

/// What the kernel counted over a run (each a difference of the box's
/// counters since the [`Tally`]); `None` where this kernel, or the box's
/// controllers, do not count it (never a zero that was not measured).
///
/// See the [example](crate::Outcome#examples) of [`Outcome`](crate::Outcome).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// CPU time, microseconds (`cpu.stat` usage_usec).
    pub cpu_usec: Option<u64>,
    /// User CPU time, microseconds.
    pub user_usec: Option<u64>,
    /// System CPU time, microseconds.
    pub system_usec: Option<u64>,
    /// `cpu.max` enforcement periods.
    pub nr_periods: Option<u64>,
    /// Periods in which the box was throttled by `cpu.max`.
    pub nr_throttled: Option<u64>,
    /// Time throttled by `cpu.max`, microseconds.
    pub throttled_usec: Option<u64>,
    /// The most memory the box used: over the run where
    /// [`Counts::memory_peak_is_the_run`], else over the box's life.
    pub memory_peak: Option<u64>,
    /// Whether [`Counts::memory_peak`] is the run's own: the box was new
    /// (nothing used before the tally), or the kernel reset the peak for
    /// the tally (6.12+).
    pub memory_peak_is_the_run: bool,
    /// The most processes in the box (`pids.peak`, 6.1+): over the run
    /// where [`Counts::pids_peak_is_the_run`], else over the box's life.
    pub pids_peak: Option<u64>,
    /// Whether [`Counts::pids_peak`] is the run's own (the box was new).
    pub pids_peak_is_the_run: bool,
    /// Processes the OOM killer killed (`memory.events` oom_kill).
    pub oom_kills: Option<u64>,
    /// OOM kills that took the whole box (`oom_group_kill`, 5.17+).
    pub oom_group_kills: Option<u64>,
    /// Times memory use hit `memory.max` (and the kernel reclaimed).
    pub memory_max_hits: Option<u64>,
    /// Times memory use went over `memory.high` (throttled and reclaimed).
    pub memory_high_hits: Option<u64>,
    /// Time some task of the box stalled on memory, microseconds
    /// (`memory.pressure` some total): reclaim at `memory.high` adds to it.
    pub memory_stall_usec: Option<u64>,
    /// Forks refused at `pids.max` (`pids.events` max).
    pub forks_refused: Option<u64>,
}

impl<F: CgroupFs> Tally<F> {
    /// The counters of the box at `dir` now, and above it.
    pub(crate) fn take(fs: &F, dir: &F::Dir, kills: u64) -> Result<Tally<F>> {
        let at = Stats::read(fs, dir)?;
        let mut above = Vec::new();
        if at.file("memory.events").is_some() {
            for path in dir.path().ancestors().skip(1).take(MAX_ABOVE) {
                match max_hits(fs, path) {
                    Some(n) => above.push((path.to_path_buf(), n)),
                    None => break,
                }
            }
        }
        let peak = if at.memory_peak().is_some_and(|p| p > 0) {
            reset_peak(fs, dir)
        } else {
            None
        };
        Ok(Tally {
            at,
            above,
            peak,
            kills,
        })
    }

    /// The counts of the run, from the statistics `now`.
    pub(crate) fn counts(&self, fs: &F, now: &Stats) -> Counts {
        let at = &self.at;
        let delta = |file: &str, key: &str| {
            let end = now.key(file, key)?;
            Some(end.saturating_sub(at.key(file, key).unwrap_or(0)))
        };
        let stall = |s: &Stats| {
            s.file("memory.pressure")?
                .get_nested("some", "total")
                .and_then(Number::as_u64)
        };
        let reset_peak = self.peak.as_ref().and_then(|file| read_kept_u64(fs, file));
        let fresh_memory = at.memory_peak() == Some(0);
        Counts {
            cpu_usec: delta("cpu.stat", "usage_usec"),
            user_usec: delta("cpu.stat", "user_usec"),
            system_usec: delta("cpu.stat", "system_usec"),
            nr_periods: delta("cpu.stat", "nr_periods"),
            nr_throttled: delta("cpu.stat", "nr_throttled"),
            throttled_usec: delta("cpu.stat", "throttled_usec"),
            memory_peak: reset_peak.or(now.memory_peak()),
            memory_peak_is_the_run: reset_peak.is_some() || fresh_memory,
            pids_peak: now.pids_peak(),
            pids_peak_is_the_run: at.pids_peak() == Some(0),
            oom_kills: delta("memory.events", "oom_kill"),
            oom_group_kills: delta("memory.events", "oom_group_kill"),
            memory_max_hits: delta("memory.events", "max"),
            memory_high_hits: delta("memory.events", "high"),
            memory_stall_usec: stall(now).map(|end| end.saturating_sub(stall(at).unwrap_or(0))),
            forks_refused: delta("pids.events", "max"),
        }
    }

    /// The cgroup whose `memory.max` the run hit, and that limit: the box
    /// when its own count rose, else the innermost cgroup above it whose
    /// count rose.
    pub(crate) fn limit_hit(
        &self,
        fs: &F,
        now: &Stats,
        counts: &Counts,
    ) -> (Option<PathBuf>, Option<u64>) {
        if counts.memory_max_hits.unwrap_or(0) > 0 {
            return (Some(now.path.clone()), now.value("memory.max"));
        }
        for (path, before) in &self.above {
            if max_hits(fs, path).is_some_and(|n| n > *before) {
                let limit = fs
                    .open_dir(path)
                    .ok()
                    .and_then(|d| read_optional(fs, &d, "memory.max").ok().flatten())
                    .and_then(|t| value::u64_file(&t).ok());
                return (Some(path.clone()), limit);
            }
        }
        (None, None)
    }
}

/// How far up the tally looks for the limit a run hit.
const MAX_ABOVE: usize = 32;

/// `memory.events` max of the cgroup at `path`; `None` where there is none.
fn max_hits<F: CgroupFs>(fs: &F, path: &Path) -> Option<u64> {
    let dir = fs.open_dir(path).ok()?;
    let text = read_optional(fs, &dir, "memory.events").ok()??;
    let stats = Stats::from_contents(path, [("memory.events", text.as_str())]);
    stats.key("memory.events", "max")
}

/// `memory.peak` opened for reading and writing, its view reset by a
/// write (Linux 6.12+); `None` on kernels where it cannot be.
fn reset_peak<F: CgroupFs>(fs: &F, dir: &F::Dir) -> Option<F::File> {
    let file = fs.open_file(dir, "memory.peak", Access::ReadWrite).ok()?;
    match fs.write_kept(&file, b"reset\n") {
        Ok(()) => Some(file),
        Err(e) => {
            log::debug!(
                "memory.peak of {} cannot be reset here: {e}",
                dir.path().display()
            );
            None
        }
    }
}

fn read_kept_u64<F: CgroupFs>(fs: &F, file: &F::File) -> Option<u64> {
    let mut buf = [0u8; 32];
    let n = fs.read_kept(file, &mut buf).ok()?;
    let text = std::str::from_utf8(buf.get(..n)?).ok()?;
    value::u64_file(text).ok()
}
