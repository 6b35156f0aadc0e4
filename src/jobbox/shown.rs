//! What a job sees of the limits above it.
//!
//! The kernel enforces every ancestor's `memory.max`, `cpu.max`,
//! `pids.max` ... on a cgroup, but shows each cgroup only its own. A
//! runtime that sizes itself from its own cgroup's files (the JVM's default
//! heap and processor count; Go's and .NET's runtimes likewise) sees no
//! limit in a box inside a limited box (`exec`'s sub-box, a nested run)
//! and plans for the whole machine. So every cgroup cgbox starts a job in
//! is given, in its own files, the tightest of its own limit and the ones
//! above it (the *shown* value): `memory.max`, `memory.high`,
//! `memory.swap.max`, `pids.max` (the smallest), `cpu.max` (the smallest
//! quota per period) and `cpuset.cpus` (its own list within its parent's
//! effective set, or that set), wherever the controller is enabled in it.
//!
//! A cgroup's *own* limit is what it was given (by [`Limits`](crate::Limits)
//! at creation or by `set_limits`): kept so that a limit above that is
//! lifted later gives the cgroup its own back. Where the shown value
//! differs from the own one, the own one is recorded in the xattr
//! `user.cgbox.limits` of the cgroup, one `file value` line each (`max`,
//! or an empty list for `cpuset.cpus`, for no limit of its own). A file
//! without a line there shows its own limit. Nothing is written (no
//! limit, no xattr) where nothing above is limited.
//!
//! Kernels keep `user.*` xattrs on cgroupfs since 5.7. Where one cannot be
//! written, the shown value is written all the same (the job then sizes
//! itself right) and is taken for the cgroup's own limit afterwards: a
//! limit above that is tightened reaches it, one that is lifted does not
//! loosen it again.

use crate::fs::{CgroupFs, Handle, read_optional};
use crate::layout::LIMITS_XATTR;
use crate::limits::LimitWrite;
use crate::parse::cpu_list;

/// The files whose shown value is the tightest along the way up, in the
/// order they are handled.
pub(crate) const SHOWN: [&str; 6] = [
    "memory.max",
    "memory.high",
    "memory.swap.max",
    "cpu.max",
    "pids.max",
    "cpuset.cpus",
];

/// The index of `cpuset.cpus` in [`SHOWN`].
const CPUSET: usize = 5;

/// One limit, as far as comparing and showing it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bound {
    /// No limit: `max`, or an empty `cpuset.cpus` (every CPU of the parent).
    Free,
    /// Bytes (`memory.*`) or processes (`pids.max`).
    Amount(u64),
    /// `cpu.max`: quota and period in microseconds.
    Cpu { quota: u64, period: u64 },
    /// CPU ids, sorted, without repeats.
    Cpus(Vec<u32>),
}

impl Bound {
    /// What the file `file` holds, or `None` when it cannot be read as one.
    pub(crate) fn parse(file: &str, text: &str) -> Option<Bound> {
        let t = text.trim();
        match file {
            "cpu.max" => {
                let mut words = t.split_ascii_whitespace();
                let quota = words.next()?;
                let period: u64 = words.next().map_or(Some(100_000), |p| p.parse().ok())?;
                if words.next().is_some() || period == 0 {
                    return None;
                }
                if quota == "max" {
                    return Some(Bound::Free);
                }
                Some(Bound::Cpu {
                    quota: quota.parse().ok()?,
                    period,
                })
            }
            "cpuset.cpus" | "cpuset.cpus.effective" => {
                if t.is_empty() {
                    Some(Bound::Free)
                } else {
                    cpu_list::parse(t, 65_536).ok().map(Bound::Cpus)
                }
            }
            _ if t == "max" => Some(Bound::Free),
            _ => t.parse().ok().map(Bound::Amount),
        }
    }

    /// The value to write to `file` for this bound.
    pub(crate) fn render(&self, file: &str) -> String {
        match self {
            Bound::Free if file == "cpuset.cpus" => "\n".into(),
            Bound::Free => "max".into(),
            Bound::Amount(n) => n.to_string(),
            Bound::Cpu { quota, period } => format!("{quota} {period}"),
            Bound::Cpus(ids) => cpu_list::render(ids),
        }
    }

    /// The tighter of `own` and `above` for a limit that holds down the
    /// hierarchy (the smaller amount, the smaller quota per period); `own`
    /// on a tie.
    fn tighter(own: &Bound, above: &Bound) -> Bound {
        match (own, above) {
            (_, Bound::Free) => own.clone(),
            (Bound::Free, _) => above.clone(),
            (Bound::Amount(a), Bound::Amount(b)) => Bound::Amount(*a.min(b)),
            (
                Bound::Cpu {
                    quota: qa,
                    period: pa,
                },
                Bound::Cpu {
                    quota: qb,
                    period: pb,
                },
            ) => {
                // qa/pa against qb/pb, without rounding.
                if u128::from(*qb) * u128::from(*pa) < u128::from(*qa) * u128::from(*pb) {
                    above.clone()
                } else {
                    own.clone()
                }
            }
            _ => own.clone(),
        }
    }
}

/// What the children of one cgroup are held to: for each of [`SHOWN`], the
/// tightest limit on the way up (`Free` where there is none), and for
/// `cpuset.cpus` the cgroup's effective CPUs (`Free` when every CPU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    bounds: [Bound; 6],
    /// Every CPU (the topmost cgroup's effective set); empty when unknown.
    all_cpus: Vec<u32>,
}

impl Default for View {
    fn default() -> View {
        View {
            bounds: std::array::from_fn(|_| Bound::Free),
            all_cpus: Vec::new(),
        }
    }
}

impl View {
    /// What the children of the first of `open` are held to: `open` are
    /// open cgroups, each the parent of the one before; the walk goes on
    /// above the last by path while there are cgroups to open, unless the
    /// last is known to be the real root (`last_is_root`). Each level's
    /// `cgroup.controllers` says which limit files it has (one read); the
    /// real root has none. Best effort: a file that cannot be read is no
    /// limit.
    pub(crate) fn read<F: CgroupFs + ?Sized>(fs: &F, open: &[&F::Dir], last_is_root: bool) -> View {
        let mut view = View::default();
        let mut above: Vec<F::Dir> = Vec::new();
        if !last_is_root {
            let mut next = open.last().and_then(|d| d.path().parent());
            while let Some(path) = next {
                let Ok(dir) = fs.open_dir(path) else { break };
                above.push(dir);
                next = path.parent();
            }
        }
        let levels: Vec<&F::Dir> = open.iter().copied().chain(above.iter()).collect();
        let Some((&top, below_top)) = levels.split_last() else {
            return view;
        };
        // The topmost cgroup is the real root (no limits of its own) or the
        // root of a cgroup namespace, which has them like any other.
        let top_is_root = last_is_root || !fs.has_file(top, "cgroup.type").unwrap_or(false);
        let limited = if top_is_root {
            below_top
        } else {
            levels.as_slice()
        };
        let mut cpuset_below = false;
        for (depth, dir) in limited.iter().enumerate() {
            let controllers = read_optional(fs, *dir, "cgroup.controllers")
                .ok()
                .flatten()
                .unwrap_or_default();
            let has = |c: &str| controllers.split_ascii_whitespace().any(|w| w == c);
            for (i, file) in SHOWN.iter().enumerate().take(CPUSET) {
                if !has(controller_of(file)) {
                    continue;
                }
                if let (Some(slot), Some(b)) = (view.bounds.get_mut(i), read_bound(fs, *dir, file))
                {
                    *slot = Bound::tighter(&b, slot);
                }
            }
            cpuset_below |= depth == 0 && has("cpuset");
        }
        // cpuset.cpus: the effective CPUs of the first, where they are
        // fewer than the topmost cgroup's (every CPU there is).
        if cpuset_below && let Some(first) = levels.first() {
            let all = match read_bound(fs, top, "cpuset.cpus.effective") {
                Some(Bound::Cpus(ids)) => ids,
                _ => Vec::new(),
            };
            if let Some(Bound::Cpus(ids)) = read_bound(fs, first, "cpuset.cpus.effective")
                && ids != all
                && let Some(slot) = view.bounds.get_mut(CPUSET)
            {
                *slot = Bound::Cpus(ids);
            }
            view.all_cpus = all;
        }
        view
    }

    /// True when nothing above is limited: nothing needs showing.
    pub(crate) fn is_free(&self) -> bool {
        self.bounds.iter().all(|b| *b == Bound::Free)
    }

    /// The bound above for `file`, if it is one of [`SHOWN`].
    fn bound(&self, file: &str) -> Option<&Bound> {
        SHOWN
            .iter()
            .position(|f| *f == file)
            .and_then(|i| self.bounds.get(i))
    }

    /// What a child whose own limit for `file` is `own` shows.
    pub(crate) fn shown(&self, file: &str, own: &Bound) -> Bound {
        match (file, self.bound(file)) {
            (_, None) => own.clone(),
            ("cpuset.cpus", Some(Bound::Cpus(parent))) => match own {
                Bound::Cpus(mine) => {
                    let both: Vec<u32> = mine
                        .iter()
                        .copied()
                        .filter(|c| parent.contains(c))
                        .collect();
                    // The kernel gives a cgroup whose list misses its
                    // parent's CPUs altogether the parent's.
                    Bound::Cpus(if both.is_empty() {
                        parent.clone()
                    } else {
                        both
                    })
                }
                _ => Bound::Cpus(parent.clone()),
            },
            (_, Some(above)) => Bound::tighter(own, above),
        }
    }

    /// What the children of a child are held to, when the child's `file`
    /// holds `value` (`None`: the file is not there).
    pub(crate) fn below(&self, file: &str, value: Option<&Bound>) -> View {
        let mut out = self.clone();
        let Some(i) = SHOWN.iter().position(|f| *f == file) else {
            return out;
        };
        let Some(value) = value else {
            return out;
        };
        let now = if i == CPUSET {
            // The child's effective CPUs: its list within the parent's.
            match self.shown(file, value) {
                Bound::Cpus(ids) if !self.all_cpus.is_empty() => {
                    let within: Vec<u32> = ids
                        .into_iter()
                        .filter(|c| self.all_cpus.contains(c))
                        .collect();
                    if within.is_empty() || within == self.all_cpus {
                        self.bounds.get(i).cloned().unwrap_or(Bound::Free)
                    } else {
                        Bound::Cpus(within)
                    }
                }
                other => other,
            }
        } else {
            self.shown(file, value)
        };
        if let Some(slot) = out.bounds.get_mut(i) {
            *slot = now;
        }
        out
    }
}

/// One write of a cgroup being made, as [`at_creation`] plans it.
#[derive(Debug, Clone)]
pub(crate) struct ShownWrite {
    pub(crate) write: LimitWrite,
    /// The cgroup's own limit, for the files of [`SHOWN`].
    pub(crate) own: Option<Bound>,
    /// The limits asked for this cgroup (`false`: a limit it only has
    /// from above, best effort).
    pub(crate) given: bool,
}

impl ShownWrite {
    /// Note what this write, once made, means for the record.
    pub(crate) fn note(&self, record: &mut Record) {
        if let (Some(own), Some(shown)) =
            (&self.own, Bound::parse(self.write.file, &self.write.value))
        {
            record.note(self.write.file, own, &shown);
        }
    }
}

/// The writes of a cgroup being made under `view` with its own limits
/// `writes`: each own limit replaced by what the cgroup shows, then the
/// limits it has only from above.
pub(crate) fn at_creation(writes: &[LimitWrite], view: &View) -> Vec<ShownWrite> {
    let mut out: Vec<ShownWrite> = writes
        .iter()
        .map(|w| {
            let own = SHOWN
                .contains(&w.file)
                .then(|| Bound::parse(w.file, &w.value))
                .flatten();
            let mut write = w.clone();
            if let Some(own) = &own {
                let shown = view.shown(w.file, own);
                if shown != *own {
                    write.value = shown.render(w.file);
                }
            }
            ShownWrite {
                write,
                own,
                given: true,
            }
        })
        .collect();
    for (file, above) in SHOWN.iter().zip(&view.bounds) {
        if *above == Bound::Free || writes.iter().any(|w| w.file == *file) {
            continue;
        }
        let shown = view.shown(file, &Bound::Free);
        out.push(ShownWrite {
            write: LimitWrite {
                controller: controller_of(file),
                file,
                value: shown.render(file),
            },
            own: Some(Bound::Free),
            given: false,
        });
    }
    out
}

/// The controller of one of [`SHOWN`].
fn controller_of(file: &str) -> &'static str {
    match file.split('.').next() {
        Some("memory") => "memory",
        Some("cpu") => "cpu",
        Some("pids") => "pids",
        _ => "cpuset",
    }
}

/// Make the existing cgroup `dir`, whose parent holds its children to
/// `view`, show what it is held to, its own limits kept (the leaf a
/// home's processes move to). Best effort: what cannot be written is
/// logged. Returns the files written.
pub(crate) fn show_in<F: CgroupFs + ?Sized>(
    fs: &F,
    dir: &F::Dir,
    view: &View,
) -> Vec<&'static str> {
    let before = Record::read(fs, dir);
    let mut after = before.clone();
    let mut writes = Vec::new();
    for file in SHOWN {
        let Some(content) = read_bound(fs, dir, file) else {
            continue;
        };
        let own = after.own(file, Some(&content)).unwrap_or(content.clone());
        let shown = view.shown(file, &own);
        after.note(file, &own, &shown);
        if shown != content {
            writes.push((file, shown));
        }
    }
    let during = after.merged(&before);
    if during != before
        && let Err(e) = during.write(fs, dir)
    {
        log::warn!(
            "{e}: the own limits of {} are not recorded",
            dir.path().display()
        );
    }
    let mut written = Vec::new();
    for (file, shown) in writes {
        match fs.write_file(dir, file, shown.render(file).as_bytes()) {
            Ok(()) => written.push(file),
            Err(e) => log::warn!(
                "{file} from above not shown in {}: {e}",
                dir.path().display()
            ),
        }
    }
    if after != during
        && let Err(e) = after.write(fs, dir)
    {
        log::warn!(
            "{e}: a stale record of the own limits of {} stays",
            dir.path().display()
        );
    }
    written
}

/// Read `file` of `dir` as a bound; `None` when absent or unreadable.
pub(crate) fn read_bound<F: CgroupFs + ?Sized>(fs: &F, dir: &F::Dir, file: &str) -> Option<Bound> {
    match read_optional(fs, dir, file) {
        Ok(Some(text)) => Bound::parse(file, &text),
        Ok(None) => None,
        Err(e) => {
            log::debug!("{} not read: {e}", dir.path().join(file).display());
            None
        }
    }
}

/// The own limits recorded on a cgroup where they differ from what it
/// shows (the `user.cgbox.limits` xattr): `(file, value)` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record(pub(crate) Vec<(String, String)>);

impl Record {
    /// The record of `dir`; empty when there is none (or no xattrs).
    pub(crate) fn read<F: CgroupFs + ?Sized>(fs: &F, dir: &F::Dir) -> Record {
        match fs.read_xattr(dir, LIMITS_XATTR) {
            Ok(Some(bytes)) => Record::decode(&String::from_utf8_lossy(&bytes)),
            Ok(None) => Record::default(),
            Err(e) => {
                log::debug!("{LIMITS_XATTR} of {} not read: {e}", dir.path().display());
                Record::default()
            }
        }
    }

    fn decode(text: &str) -> Record {
        let mut out = Record::default();
        for line in text.lines() {
            let (file, value) = line.split_once(' ').unwrap_or((line, ""));
            if SHOWN.contains(&file) && !out.0.iter().any(|(f, _)| f == file) {
                out.0.push((file.to_owned(), value.trim().to_owned()));
            }
        }
        out
    }

    pub(crate) fn encode(&self) -> String {
        self.0.iter().map(|(f, v)| format!("{f} {v}\n")).collect()
    }

    /// The own limit of `file`: the recorded one, else what the file holds.
    pub(crate) fn own(&self, file: &str, content: Option<&Bound>) -> Option<Bound> {
        match self.0.iter().find(|(f, _)| f == file) {
            Some((_, v)) => Bound::parse(file, v),
            None => content.cloned(),
        }
    }

    /// Record `own` for `file` when the file shows something else, else
    /// forget it.
    pub(crate) fn note(&mut self, file: &str, own: &Bound, shown: &Bound) {
        self.0.retain(|(f, _)| f != file);
        if own != shown {
            let text = match own {
                Bound::Free if file == "cpuset.cpus" => String::new(),
                other => other.render(file),
            };
            self.0.push((file.to_owned(), text));
            let rank = |f: &str| SHOWN.iter().position(|s| *s == f);
            self.0.sort_by_key(|(f, _)| rank(f));
        }
    }

    /// This record with `other`'s lines added where it has none (what
    /// holds while a change is under way).
    pub(crate) fn merged(&self, other: &Record) -> Record {
        let mut out = self.clone();
        for (f, v) in &other.0 {
            if !out.0.iter().any(|(g, _)| g == f) {
                out.0.push((f.clone(), v.clone()));
            }
        }
        out
    }

    /// Write the record to `dir` (an empty one says: every file shows its
    /// own limit). A kernel without cgroupfs xattrs is logged, not an error.
    pub(crate) fn write<F: CgroupFs + ?Sized>(&self, fs: &F, dir: &F::Dir) -> crate::Result<()> {
        match fs.write_xattr(dir, LIMITS_XATTR, self.encode().as_bytes()) {
            Err(e) if e.is_errno(rustix::io::Errno::OPNOTSUPP) => {
                log::debug!(
                    "no xattrs on {}: its own limits are not recorded ({e})",
                    dir.path().display()
                );
                Ok(())
            }
            other => other,
        }
    }
}

/// A cgroup inside a box that jobs are started in.
pub(crate) enum Inner<D> {
    /// The leaf a home's own processes move to ([`LEAF`](crate::LEAF)).
    Leaf(D),
    /// The boxes of an app: `<app>`, `<app>/agents` and each box in it.
    App { app: D, agents: D, boxes: Vec<D> },
}

/// The cgroups inside the cgroup at `dir` that jobs are started in: the
/// boxes of every app made in it and the leaf of its own processes.
/// Cgroups the job made for itself are left alone.
pub(crate) fn inner<F: CgroupFs + ?Sized>(
    fs: &F,
    dir: &F::Dir,
) -> crate::Result<Vec<Inner<F::Dir>>> {
    let mut out = Vec::new();
    for name in fs.child_names(dir)? {
        let Ok(child) = fs.open_child(dir, &name) else {
            continue; // gone meanwhile
        };
        if name == crate::layout::LEAF {
            out.push(Inner::Leaf(child));
            continue;
        }
        let Ok(agents) = fs.open_child(&child, crate::layout::AGENTS) else {
            continue; // not an app: a cgroup of the job's own
        };
        let mut boxes = Vec::new();
        for name in fs.child_names(&agents)? {
            if let Ok(b) = fs.open_child(&agents, &name) {
                boxes.push(b);
            }
        }
        out.push(Inner::App {
            app: child,
            agents,
            boxes,
        });
    }
    Ok(out)
}
