//! Changing the limits of a live box ([`BoxRef::set_limits`]), as
//! `runc update` and `systemctl set-property` do.

use super::enable::enable;
use super::{BoxRef, Policy};
use crate::Result;
use crate::fs::{CgroupFs, read_optional, read_string};
use crate::limits::{LimitWrite, Limits, controllers_of};
use crate::parse::value::{self, MaxOr};

/// One interface file [`BoxRef::set_limits`] wrote.
///
/// See the [example](crate::BoxRef::set_limits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file (`memory.max`).
    pub file: String,
    /// What it read before.
    pub before: String,
    /// What was written.
    pub after: String,
}

/// What [`BoxRef::set_limits`] changed, and what the caller should know.
///
/// See the [example](crate::BoxRef::set_limits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// Each file written, in the order written.
    pub written: Vec<Change>,
    /// Limits now below what the box uses, and what follows from that.
    pub warnings: Vec<String>,
}

/// Whether a new value leaves the box more room than the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    Looser,
    Neither,
    Tighter,
}

impl<F: CgroupFs> BoxRef<F> {
    /// Change the box's limits while it runs. Fields left `None` stay as
    /// they are; give `Size::Max` (or [`Limits::pids_unlimited`]) to lift a
    /// limit.
    ///
    /// Everything is validated before anything is written. A controller the
    /// box does not have yet is enabled (home, `<app>`, `agents`), where the
    /// home can give it. Writes that loosen a limit go first and writes that
    /// tighten one last, so that the box is never stricter than both the old
    /// and the new limits on the way: lowering `memory.max` while raising
    /// `memory.high` writes `memory.high` first, since the other order
    /// would pass through the old, lower `memory.high` under the new, lower
    /// `memory.max`. If a write fails, the values already changed are put
    /// back and the error names the file that failed.
    ///
    /// The result warns of a limit set below what the box uses now:
    /// `memory.max` under `memory.current` (the kernel reclaims, and may
    /// OOM-kill), `pids.max` under `pids.current` (no new process starts;
    /// the running ones live on).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cgbox::fs::FakeFs;
    /// use cgbox::{Builder, Limits, Size};
    ///
    /// let fake = Arc::new(FakeFs::new());
    /// let job = Builder::new()
    ///     .name("agent")
    ///     .limits(Limits::new().memory_max(Size::parse("512M")?))
    ///     .create(fake.clone())?;
    /// fake.set_file("cgbox/agents/agent", "memory.current", "314572800\n")?; // 300 MiB in use
    ///
    /// // pids has no controller yet: it is enabled on the way.
    /// let changed = job.set_limits(&Limits::new().memory_max(Size::parse("256M")?).pids_max(100))?;
    /// let files: Vec<(&str, &str, &str)> = changed
    ///     .written
    ///     .iter()
    ///     .map(|c| (c.file.as_str(), c.before.as_str(), c.after.as_str()))
    ///     .collect();
    /// assert_eq!(files, [("memory.max", "536870912", "268435456"), ("pids.max", "max", "100")]);
    /// assert!(changed.warnings[0].starts_with("memory.max is now 268435456, below memory.current 314572800"));
    /// # Ok::<(), cgbox::Error>(())
    /// ```
    pub fn set_limits(&self, limits: &Limits) -> Result<Changed> {
        let writes = limits.writes()?;
        let fs = &**self.fs();
        let mut skipped = Vec::new();
        let mut enabled = enable(
            fs,
            &self.app().dirs,
            &controllers_of(&writes),
            Policy::Strict,
            &mut skipped,
        )?;
        // What the box uses before anything changes: a memory.max write
        // reclaims (and OOM-kills) at once, so afterwards is too late.
        let in_use = self.usage();
        let mut planned: Vec<(Direction, LimitWrite, String)> = Vec::new();
        for w in writes {
            let old = match read_string(fs, self.dir(), w.file) {
                Ok(old) => old,
                Err(e) => {
                    enabled.undo();
                    return Err(e.with_detail(format!("reading {} before changing it", w.file)));
                }
            };
            let restore = restore_value(w.file, &old, &w.value);
            planned.push((direction(w.file, &old, &w.value), w, restore));
        }
        // Looser first, tighter last; the order within each stays.
        planned.sort_by_key(|(d, _, _)| *d);
        let mut done: Vec<(&'static str, String)> = Vec::new();
        let mut out = Changed::default();
        for (_, w, old) in &planned {
            if let Err(e) = fs.write_file(self.dir(), w.file, w.value.as_bytes()) {
                for (file, value) in done.iter().rev() {
                    if let Err(undo) = fs.write_file(self.dir(), file, value.as_bytes()) {
                        log::warn!(
                            "could not put {file} of {} back to {value:?}: {undo}",
                            self.path().display()
                        );
                    }
                }
                enabled.undo();
                return Err(e.with_detail(format!(
                    "writing {:?} to {} (the values already changed were put back)",
                    w.value, w.file
                )));
            }
            done.push((w.file, old.clone()));
            out.written.push(Change {
                file: w.file.to_owned(),
                before: old.trim().to_owned(),
                after: w.value.clone(),
            });
        }
        out.warnings = below_use(
            &in_use,
            &planned.iter().map(|(_, w, _)| w).collect::<Vec<_>>(),
        );
        Ok(out)
    }

    /// `memory.current` and `pids.current`, where the box has them.
    fn usage(&self) -> [(&'static str, Option<u64>); 2] {
        let fs = &**self.fs();
        let current = |file: &str| {
            read_optional(fs, self.dir(), file)
                .ok()
                .flatten()
                .and_then(|t| value::u64_file(&t).ok())
        };
        [
            ("memory.current", current("memory.current")),
            ("pids.current", current("pids.current")),
        ]
    }
}

/// Limits set below what the box used when they were set.
fn below_use(in_use: &[(&'static str, Option<u64>); 2], writes: &[&LimitWrite]) -> Vec<String> {
    let mut out = Vec::new();
    for w in writes {
        let (now_file, what) = match w.file {
            "memory.max" => (
                "memory.current",
                "the kernel reclaims memory and may OOM-kill processes of the box",
            ),
            "pids.max" => (
                "pids.current",
                "no new process can start in the box; the running ones live on",
            ),
            _ => continue,
        };
        let Some(MaxOr::Value(limit)) = value::max_or(&w.value) else {
            continue;
        };
        let used = in_use
            .iter()
            .find(|(f, _)| *f == now_file)
            .and_then(|(_, v)| *v);
        if let Some(used) = used
            && used > limit
        {
            out.push(format!(
                "{} is now {limit}, below {now_file} {used}: {what}",
                w.file
            ));
        }
    }
    out
}

/// Compare the old and new value of a limit file.
fn direction(file: &str, old: &str, new: &str) -> Direction {
    let limit = |v: &str| -> Option<f64> {
        match file {
            "memory.max" | "memory.high" | "memory.swap.max" | "pids.max" => {
                match value::max_or(v.trim())? {
                    MaxOr::Max => Some(f64::INFINITY),
                    MaxOr::Value(n) => Some(n as f64),
                }
            }
            "cpu.max" => {
                let mut words = v.split_whitespace();
                let quota = words.next()?;
                let period: f64 = words.next()?.parse().ok()?;
                if quota == "max" {
                    Some(f64::INFINITY)
                } else {
                    Some(quota.parse::<f64>().ok()? / period)
                }
            }
            _ => None,
        }
    };
    match (limit(old), limit(new)) {
        (Some(o), Some(n)) if n > o => Direction::Looser,
        (Some(o), Some(n)) if n < o => Direction::Tighter,
        _ => Direction::Neither,
    }
}

/// What to write to put `file` back as it read (`old`), given what is
/// about to be written (`new`): `io.max` holds a line per device, and a
/// device without one had no limit.
fn restore_value(file: &str, old: &str, new: &str) -> String {
    if file != "io.max" {
        return old.trim().to_owned();
    }
    let device = new.split_whitespace().next().unwrap_or("");
    old.lines()
        .find(|l| l.split_whitespace().next() == Some(device))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{device} rbps=max wbps=max riops=max wiops=max"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions() {
        assert_eq!(
            direction("memory.max", "1048576\n", "max"),
            Direction::Looser
        );
        assert_eq!(
            direction("memory.max", "max\n", "1048576"),
            Direction::Tighter
        );
        assert_eq!(
            direction("cpu.max", "50000 100000\n", "100000 100000"),
            Direction::Looser
        );
        assert_eq!(
            direction("cpu.max", "max 100000\n", "50000 100000"),
            Direction::Tighter
        );
        assert_eq!(direction("cpu.weight", "100\n", "50"), Direction::Neither);
        assert_eq!(
            restore_value("io.max", "", "8:0 rbps=1"),
            "8:0 rbps=max wbps=max riops=max wiops=max"
        );
        assert_eq!(
            restore_value(
                "io.max",
                "8:0 rbps=5 wbps=max riops=max wiops=max\n",
                "8:0 rbps=1"
            ),
            "8:0 rbps=5 wbps=max riops=max wiops=max"
        );
    }
}
