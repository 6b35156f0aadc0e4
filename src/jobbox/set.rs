//! Changing the limits of a live box ([`BoxRef::set_limits`]), as
//! `runc update` and `systemctl set-property` do.

use super::enable::enable;
use super::shown::{self, Bound, Inner, Record, SHOWN, View, read_bound};
use super::{BoxRef, Policy};
use crate::Result;
use crate::fs::{CgroupFs, Handle, read_optional, read_string};
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
    /// Limits now below what the box uses, and what follows from that;
    /// limits the box cannot show because a cgroup above holds it tighter.
    pub warnings: Vec<String>,
    /// Each file written in the cgroups inside the box that jobs run in,
    /// so that they show its new limits: `file` is the path from the box
    /// (`exec/agents/<id>/memory.max`).
    pub nested: Vec<Change>,
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
    /// What jobs see stays in step: the box's files show the tightest of
    /// its new limit and the limits above it (`memory.max`, `memory.high`,
    /// `memory.swap.max`, `cpu.max`, `pids.max`, `cpuset.cpus`; a warning
    /// says where a limit above is tighter than the one asked for, which
    /// is kept and applies once that one is lifted), and so do the boxes
    /// made inside it (`exec`'s, a nested run's, [`BoxRef::nested`]) and the
    /// leaf of its own processes, looser and tighter; those writes are in
    /// [`Changed::nested`] and are put back with the rest on failure.
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
    ///
    /// // A box inside it (what `cgbox exec` starts commands in) shows the
    /// // limit, and follows it.
    /// let inner = Builder::new().name("cmd").create_in(&job.nested("exec")?)?;
    /// assert_eq!(fake.file("cgbox/agents/agent/exec/agents/cmd", "memory.max")?, "268435456\n");
    /// let changed = job.set_limits(&Limits::new().memory_max(Size::parse("1G")?))?;
    /// assert_eq!(changed.nested[0].file, "exec/agents/cmd/memory.max");
    /// assert_eq!(fake.file("cgbox/agents/agent/exec/agents/cmd", "memory.max")?, "1073741824\n");
    /// # drop(inner);
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
        let result = self.set_enabled(fs, writes);
        if result.is_err() {
            enabled.undo();
        }
        result
    }

    /// [`BoxRef::set_limits`] once the controllers are there.
    fn set_enabled(&self, fs: &F, writes: Vec<LimitWrite>) -> Result<Changed> {
        // What the box uses before anything changes: a memory.max write
        // reclaims (and OOM-kills) at once, so afterwards is too late.
        let in_use = self.usage();
        let mut out = Changed::default();
        let shown_files: Vec<&'static str> = writes
            .iter()
            .map(|w| w.file)
            .filter(|f| SHOWN.contains(f))
            .collect();
        // What the box is held to from above, read now (not the app
        // handle's view, which may be old), and its own limits.
        let dirs = &self.app().dirs;
        let view = if shown_files.is_empty() {
            View::default()
        } else {
            View::read(
                fs,
                &[&dirs.agents, &dirs.app, &dirs.home],
                dirs.placement.kind.is_real_root(),
            )
        };
        let mut target = Target {
            dir: None,
            rel: String::new(),
            before: Record::default(),
            after: Record::default(),
            writes: Vec::new(),
        };
        if !shown_files.is_empty() {
            target.before = Record::read(fs, self.dir());
            target.after = target.before.clone();
        }
        let mut planned: Vec<(Direction, LimitWrite, String)> = Vec::new();
        let mut below = view.clone();
        for mut w in writes {
            let old = read_string(fs, self.dir(), w.file)
                .map_err(|e| e.with_detail(format!("reading {} before changing it", w.file)))?;
            if let Some(own) = SHOWN
                .contains(&w.file)
                .then(|| Bound::parse(w.file, &w.value))
                .flatten()
            {
                let shown = view.shown(w.file, &own);
                target.after.note(w.file, &own, &shown);
                if shown != own {
                    let value = shown.render(w.file);
                    out.warnings.push(format!(
                        "{} is {}, not {}: a cgroup above holds the box to that; its own limit is kept and applies once that one is lifted",
                        w.file,
                        value.trim(),
                        w.value
                    ));
                    w.value = value;
                }
                below = below.below(w.file, Some(&shown));
            }
            let restore = restore_value(w.file, &old, &w.value);
            planned.push((direction(w.file, &old, &w.value), w, restore));
        }
        // Looser first, tighter last; the order within each stays.
        planned.sort_by_key(|(d, _, _)| *d);
        // The boxes inside, and the leaf of the box's own processes, follow.
        let mut inside = Vec::new();
        if !shown_files.is_empty() {
            plan_inside(fs, self.dir(), "", &below, &shown_files, &mut inside)?;
        }

        let mut done = Done::default();
        let result = (|| {
            // Own limits that a file will no longer show are recorded
            // before the file changes; records that shrink, after.
            for (t, dir) in std::iter::once((&target, self.dir()))
                .chain(inside.iter().filter_map(|t| t.dir.as_ref().map(|d| (t, d))))
            {
                let during = t.after.merged(&t.before);
                if during != t.before {
                    during.write(fs, dir).map_err(|e| {
                        e.with_detail(format!(
                            "recording the own limits of {}",
                            dir.path().display()
                        ))
                    })?;
                    done.records.push((dir, t.before.clone()));
                }
            }
            // The cgroups inside first, deepest first: Linux 5.10 refuses
            // (EBUSY) a cpuset.cpus that leaves out a child's CPUs.
            for t in inside.iter().rev() {
                let Some(dir) = &t.dir else { continue };
                for (file, value, old) in &t.writes {
                    fs.write_file(dir, file, value.as_bytes()).map_err(|e| {
                        e.with_detail(format!(
                            "showing {:?} in {} of the box {} inside (the values already changed were put back)",
                            value.trim(),
                            file,
                            t.rel
                        ))
                    })?;
                    done.files.push((dir, file, old.clone()));
                    out.nested.push(Change {
                        file: format!("{}/{file}", t.rel),
                        before: old.trim().to_owned(),
                        after: value.trim().to_owned(),
                    });
                }
            }
            for (_, w, old) in &planned {
                fs.write_file(self.dir(), w.file, w.value.as_bytes())
                    .map_err(|e| {
                        e.with_detail(format!(
                            "writing {:?} to {} (the values already changed were put back)",
                            w.value, w.file
                        ))
                    })?;
                done.files.push((self.dir(), w.file, old.clone()));
                out.written.push(Change {
                    file: w.file.to_owned(),
                    before: old.trim().to_owned(),
                    after: w.value.clone(),
                });
            }
            Ok(())
        })();
        if let Err(e) = result {
            done.undo(fs, self.path());
            return Err(e);
        }
        for (t, dir) in std::iter::once((&target, self.dir()))
            .chain(inside.iter().filter_map(|t| t.dir.as_ref().map(|d| (t, d))))
        {
            if t.after != t.after.merged(&t.before)
                && let Err(e) = t.after.write(fs, dir)
            {
                log::warn!(
                    "{e}: a stale record of the own limits of {} stays",
                    dir.path().display()
                );
            }
        }
        out.warnings.extend(below_use(
            &in_use,
            &planned.iter().map(|(_, w, _)| w).collect::<Vec<_>>(),
        ));
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

/// A cgroup inside the box that jobs run in, and what `set_limits`
/// writes there.
struct Target<D> {
    /// `None` for the box itself.
    dir: Option<D>,
    /// Its path relative to the box.
    rel: String,
    before: Record,
    after: Record,
    /// (file, value, what it held).
    writes: Vec<(&'static str, String, String)>,
}

/// What has been changed so far, to put back on failure.
struct Done<'a, D> {
    files: Vec<(&'a D, &'static str, String)>,
    records: Vec<(&'a D, Record)>,
}

impl<D> Default for Done<'_, D> {
    fn default() -> Self {
        Done {
            files: Vec::new(),
            records: Vec::new(),
        }
    }
}

impl<'a, D: Handle> Done<'a, D> {
    fn undo<F: CgroupFs<Dir = D>>(self, fs: &F, box_path: &std::path::Path) {
        for (dir, file, value) in self.files.iter().rev() {
            if let Err(undo) = fs.write_file(dir, file, value.as_bytes()) {
                log::warn!(
                    "could not put {file} of {} back to {value:?}: {undo}",
                    dir.path().display()
                );
            }
        }
        for (dir, record) in self.records.iter().rev() {
            if let Err(undo) = record.write(fs, dir) {
                log::warn!(
                    "could not put the record of {} back (box {}): {undo}",
                    dir.path().display(),
                    box_path.display()
                );
            }
        }
    }
}

/// Plan what the cgroups inside `dir` (whose children are held to `view`)
/// show of `files`, parents before children.
fn plan_inside<F: CgroupFs + ?Sized>(
    fs: &F,
    dir: &F::Dir,
    rel: &str,
    view: &View,
    files: &[&'static str],
    out: &mut Vec<Target<F::Dir>>,
) -> Result<()> {
    let join = |name: &std::ffi::OsStr| {
        let name = name.to_string_lossy();
        if rel.is_empty() {
            name.into_owned()
        } else {
            format!("{rel}/{name}")
        }
    };
    for inner in shown::inner(fs, dir)? {
        match inner {
            Inner::Leaf(leaf) => {
                let rel = join(leaf.path().file_name().unwrap_or_default());
                plan_target(fs, leaf, rel, view, files, out)?;
            }
            Inner::App { app, agents, boxes } => {
                // `<app>` and `agents` pass on what they are held to, and
                // their own limits (an administrator's) if tighter.
                let mut held = view.clone();
                for level in [&app, &agents] {
                    for file in files {
                        let own = read_bound(fs, level, file);
                        held = held.below(file, own.as_ref());
                    }
                }
                let app_rel = join(app.path().file_name().unwrap_or_default());
                for b in boxes {
                    let name = b.path().file_name().unwrap_or_default().to_string_lossy();
                    let rel = format!("{app_rel}/{}/{name}", crate::layout::AGENTS);
                    plan_target(fs, b, rel, &held, files, out)?;
                }
            }
        }
    }
    Ok(())
}

/// Plan what one cgroup inside shows under `view`, then what the cgroups
/// inside it show.
fn plan_target<F: CgroupFs + ?Sized>(
    fs: &F,
    dir: F::Dir,
    rel: String,
    view: &View,
    files: &[&'static str],
    out: &mut Vec<Target<F::Dir>>,
) -> Result<()> {
    let before = Record::read(fs, &dir);
    let mut after = before.clone();
    let mut writes = Vec::new();
    let mut held = view.clone();
    for file in files {
        let text = match read_optional(fs, &dir, file) {
            Ok(Some(t)) => t,
            Ok(None) => continue, // its controller is not enabled there
            Err(e) if e.is_gone() => continue,
            Err(e) => return Err(e),
        };
        let Some(content) = Bound::parse(file, &text) else {
            continue;
        };
        let own = after.own(file, Some(&content)).unwrap_or(content.clone());
        let shown = view.shown(file, &own);
        after.note(file, &own, &shown);
        if shown != content {
            writes.push((*file, shown.render(file), text));
        }
        held = held.below(file, Some(&shown));
    }
    // Looser first, as for the box itself.
    writes.sort_by_key(|(file, value, old): &(&str, String, String)| direction(file, old, value));
    let mut sub = Vec::new();
    plan_inside(fs, &dir, &rel, &held, files, &mut sub)?;
    out.push(Target {
        dir: Some(dir),
        rel,
        before,
        after,
        writes,
    });
    out.extend(sub);
    Ok(())
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
