//! Giving a new box its controllers without breaking a level.
//!
//! Everything is decided from what the kernel shows before anything is
//! written: a controller the home is not offered, a home in thread mode, a
//! non-root home that holds other processes are refusals that change
//! nothing. Each level then gets one `cgroup.subtree_control` write (the
//! kernel applies it all or nothing), home first, then `<app>`, then
//! `agents`. If a later step fails, [`Enabled::undo`] takes back exactly
//! what was added, in reverse.
//!
//! The home gets only what the limits need (a controller enabled there pins
//! it in every ancestor: systemd could no longer turn it off). `<app>` and
//! `agents` hold no processes and are ours, so they also pass on the
//! statistics controllers the home already offers.

use rustix::io::Errno;

use super::{AppDirs, Policy, Skipped};
use crate::fs::{CgroupFs, Handle, read_string};
use crate::home::{HomeKind, HomeState, Obstacle};
use crate::layout::LEAF;
use crate::parse::value;
use crate::{Error, ErrorKind, Result, fixes};

/// Controllers worth enabling for statistics where they cost nothing.
const STATS_CONTROLLERS: [&str; 4] = ["cpu", "memory", "pids", "io"];

/// What [`enable`] changed, so that a failed creation can take it back.
#[must_use]
pub(crate) struct Enabled<'a, F: CgroupFs> {
    fs: &'a F,
    dirs: &'a AppDirs<F>,
    /// (level, controllers added there), in the order written.
    added: Vec<(Level, Vec<&'static str>)>,
    /// This process moved itself from the home into the leaf; `true` when
    /// the leaf was made for it.
    moved_self: Option<bool>,
    /// The boxes in `agents` when its controllers were enabled.
    boxes_before: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Level {
    Home,
    App,
    Agents,
}

impl<F: CgroupFs> AppDirs<F> {
    fn level(&self, level: Level) -> &F::Dir {
        match level {
            Level::Home => &self.home,
            Level::App => &self.app,
            Level::Agents => &self.agents,
        }
    }
}

/// True when nothing needs enabling for a box with `required`: a box
/// made through `dirs` settled every level before, and `agents` still
/// passes on `required` (one read; none when nothing is required). A
/// controller in `agents`' `cgroup.subtree_control` is, by the kernel's
/// rule, enabled at every level above it.
pub(crate) fn settled<F: CgroupFs>(
    fs: &F,
    dirs: &AppDirs<F>,
    required: &[&'static str],
) -> Result<bool> {
    if !dirs.settled.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(false);
    }
    if required.is_empty() {
        return Ok(true);
    }
    let enabled = read_string(fs, &dirs.agents, "cgroup.subtree_control")?;
    let enabled = words(&enabled);
    Ok(required.iter().all(|c| enabled.contains(c)))
}

fn words(text: &str) -> Vec<&str> {
    value::words(text).collect()
}

/// Enable what `required` needs at every level. Under
/// [`Policy::BestEffort`], a controller that cannot be had is recorded in
/// `skipped` and left out; under [`Policy::Strict`] it is an error, and
/// nothing has been written.
impl<'a, F: CgroupFs> Enabled<'a, F> {
    /// Nothing was enabled: undoing it does nothing.
    pub(crate) fn nothing(fs: &'a F, dirs: &'a AppDirs<F>) -> Enabled<'a, F> {
        Enabled {
            fs,
            dirs,
            added: Vec::new(),
            moved_self: None,
            boxes_before: Vec::new(),
        }
    }
}

pub(crate) fn enable<'a, F: CgroupFs>(
    fs: &'a F,
    dirs: &'a AppDirs<F>,
    required: &[&'static str],
    policy: Policy,
    skipped: &mut Vec<Skipped>,
) -> Result<Enabled<'a, F>> {
    let mut done = Enabled::nothing(fs, dirs);
    let mut required: Vec<&'static str> = required.to_vec();
    let mut refuse =
        |e: Error, what: &[&'static str], required: &mut Vec<&'static str>| match policy {
            Policy::Strict => Err(e),
            Policy::BestEffort => {
                log::warn!("{e}");
                for c in what {
                    skipped.push(Skipped {
                        what: (*c).to_owned(),
                        error: e.clone(),
                    });
                }
                required.retain(|c| !what.contains(c));
                Ok(())
            }
        };

    // The home: what it is offered, and whether it can pass it on.
    let home = HomeState::read(fs, &dirs.home, dirs.placement.kind.is_real_root())?;
    let offered: Vec<&str> = home.controllers.iter().map(String::as_str).collect();
    let home_enabled: Vec<&str> = home.enabled.iter().map(String::as_str).collect();
    for c in required.clone() {
        if !home_enabled.contains(&c) && !offered.contains(&c) {
            refuse(not_delegated(c, dirs), &[c], &mut required)?;
        }
    }
    // A home that is a box of ours also passes on the statistics
    // controllers it is offered, so that a job started in a box inside it
    // (`exec`, a nested run) is counted apart and can be shown its limits.
    // Elsewhere the home gets only what the limits need: a controller
    // enabled there pins it in every ancestor, where systemd could no
    // longer turn it off.
    let ours = matches!(dirs.placement.kind, HomeKind::Box(_));
    let stats_at_home: Vec<&'static str> = STATS_CONTROLLERS
        .into_iter()
        .filter(|c| ours && offered.contains(c) && !required.contains(c))
        .collect();
    let mut need_home: Vec<&'static str> = required
        .iter()
        .copied()
        .chain(stats_at_home.iter().copied())
        .filter(|c| !home_enabled.contains(c))
        .collect();
    let mut move_self = false;
    if !need_home.is_empty() && !dirs.placement.kind.is_real_root() {
        match home.obstacle(fs.self_pid()) {
            Obstacle::None => {}
            Obstacle::OnlyUs => move_self = true,
            Obstacle::Refused(e) => {
                // Statistics are never worth a refusal: only what the
                // limits need is.
                need_home.retain(|c| required.contains(c));
                if !need_home.is_empty() {
                    refuse(e, &need_home, &mut required)?;
                }
            }
        }
    }
    let need_home: Vec<&'static str> = need_home
        .into_iter()
        .filter(|c| required.contains(c) || stats_at_home.contains(c))
        .collect();

    // <app> and agents: what the limits need, plus statistics controllers
    // their parent already passes on.
    let home_after: Vec<&str> = home_enabled
        .iter()
        .copied()
        .chain(need_home.iter().copied())
        .collect();
    let app_enabled = read_string(fs, &dirs.app, "cgroup.subtree_control")?;
    let app_enabled = words(&app_enabled);
    let need_app = wanted(&required, &home_after, &app_enabled);
    let app_after: Vec<&str> = app_enabled
        .iter()
        .copied()
        .chain(need_app.iter().copied())
        .collect();
    let agents_enabled = read_string(fs, &dirs.agents, "cgroup.subtree_control")?;
    let need_agents = wanted(&required, &app_after, &words(&agents_enabled));

    if move_self {
        done.moved_self = Some(move_self_to_leaf(fs, dirs)?);
    }
    if !need_agents.is_empty() {
        done.boxes_before = fs.child_names(&dirs.agents)?;
    }
    for (level, need) in [
        (Level::Home, need_home),
        (Level::App, need_app),
        (Level::Agents, need_agents),
    ] {
        if need.is_empty() {
            continue;
        }
        if let Err(e) = done.write(level, &need, &required) {
            let e = explain(e, dirs, level, &need);
            let lost: Vec<&'static str> = need
                .iter()
                .copied()
                .filter(|c| required.contains(c))
                .collect();
            if policy == Policy::Strict && !lost.is_empty() {
                done.undo();
                return Err(e);
            }
            refuse(e, &lost, &mut required)?;
        }
    }
    Ok(done)
}

/// The controllers a level below the home should add: the required ones,
/// and the statistics controllers its parent passes on.
fn wanted(
    required: &[&'static str],
    parent_passes: &[&str],
    enabled: &[&str],
) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for c in required.iter().copied().chain(STATS_CONTROLLERS) {
        if parent_passes.contains(&c) && !enabled.contains(&c) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Move this process from the home into `<home>/init`. True when the leaf
/// was made for it.
fn move_self_to_leaf<F: CgroupFs>(fs: &F, dirs: &AppDirs<F>) -> Result<bool> {
    let made = match fs.make_child(&dirs.home, LEAF) {
        Ok(()) => true,
        Err(e) if e.is_exist() => false,
        Err(e) => return Err(e),
    };
    let moved = fs.open_child(&dirs.home, LEAF).and_then(|leaf| {
        fs.write_file(&leaf, "cgroup.procs", fs.self_pid().to_string().as_bytes())
    });
    match moved {
        Ok(()) => {
            log::info!(
                "moved this process into {}/{LEAF} so that {} can give boxes controllers",
                dirs.home.path().display(),
                dirs.home.path().display()
            );
            Ok(made)
        }
        Err(e) => {
            if made {
                let _ = fs.remove_child(&dirs.home, LEAF);
            }
            Err(e.with_detail("moving this process into a leaf of its home"))
        }
    }
}

impl<F: CgroupFs> Enabled<'_, F> {
    fn write(
        &mut self,
        level: Level,
        need: &[&'static str],
        required: &[&'static str],
    ) -> Result<()> {
        let dir = self.dirs.level(level);
        let line = |cs: &[&'static str]| {
            cs.iter()
                .map(|c| format!("+{c}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self
            .fs
            .write_file(dir, "cgroup.subtree_control", line(need).as_bytes())
        {
            Ok(()) => {
                self.added.push((level, need.to_vec()));
                Ok(())
            }
            Err(e) => {
                // A statistics controller is never worth a failure: try
                // again with what the limits need.
                let must: Vec<&'static str> = need
                    .iter()
                    .copied()
                    .filter(|c| required.contains(c))
                    .collect();
                if must.len() == need.len() || must.is_empty() {
                    return if must.is_empty() { Ok(()) } else { Err(e) };
                }
                log::debug!(
                    "statistics controllers not enabled at {}: {e}",
                    dir.path().display()
                );
                self.fs
                    .write_file(dir, "cgroup.subtree_control", line(&must).as_bytes())?;
                self.added.push((level, must));
                Ok(())
            }
        }
    }

    /// Take back what was enabled, deepest level first, and step back out
    /// of the leaf. Best effort: the kernel refuses to disable what a child
    /// uses (EBUSY), and that is then left as it is. At `agents`, nothing
    /// is disabled once a box made by someone else since is there: its
    /// limits may need it.
    pub(crate) fn undo(&mut self) {
        while let Some((level, added)) = self.added.pop() {
            let dir = self.dirs.level(level);
            if level == Level::Agents {
                let newcomers = match self.fs.child_names(dir) {
                    Ok(now) => now.iter().any(|n| !self.boxes_before.contains(n)),
                    Err(_) => true,
                };
                if newcomers {
                    continue;
                }
            }
            let line: Vec<String> = added.iter().map(|c| format!("-{c}")).collect();
            if let Err(e) =
                self.fs
                    .write_file(dir, "cgroup.subtree_control", line.join(" ").as_bytes())
            {
                log::warn!(
                    "could not take back {} at {}: {e}",
                    line.join(" "),
                    dir.path().display()
                );
            }
        }
        if let Some(made_leaf) = self.moved_self.take() {
            let me = self.fs.self_pid().to_string();
            match self
                .fs
                .write_file(&self.dirs.home, "cgroup.procs", me.as_bytes())
            {
                Ok(()) if made_leaf => {
                    let _ = self.fs.remove_child(&self.dirs.home, LEAF);
                }
                Ok(()) => {}
                Err(e) => log::warn!(
                    "could not move back out of {}/{LEAF}: {e}",
                    self.dirs.home.path().display()
                ),
            }
        }
    }
}

fn not_delegated<F: CgroupFs>(controller: &str, dirs: &AppDirs<F>) -> Error {
    let home = dirs.home.path();
    let in_user_manager = crate::layout::in_user_manager(home);
    let fix = if dirs.placement.kind.is_real_root() {
        format!(
            "{} (on a hybrid host cgroup v1 holds it), or run without the limit (--best-effort)",
            fixes::UNIFIED_BOOT
        )
    } else {
        fixes::controller_not_delegated(controller, in_user_manager)
    };
    Error::new(ErrorKind::ControllerUnavailable, format!("enable the {controller} controller"))
        .with_path(home)
        .with_detail(format!(
            "{controller} is not in cgroup.controllers of {}: it is not offered to the home of the boxes",
            home.display()
        ))
        .with_hint(fix)
}

/// Say what a failed `cgroup.subtree_control` write means.
fn explain<F: CgroupFs>(e: Error, dirs: &AppDirs<F>, level: Level, need: &[&str]) -> Error {
    let dir = dirs.level(level).path();
    if e.is_errno(Errno::BUSY) {
        let hint = if level == Level::Home {
            fixes::prepare(dir)
        } else {
            format!(
                "processes were put into {} by hand: move them into a box",
                dir.display()
            )
        };
        e.with_kind(ErrorKind::NoInternalProcesses)
            .with_detail(format!(
                "{} holds processes of its own, so it cannot give its children controllers (the no-internal-process rule)",
                dir.display()
            ))
            .with_hint(hint)
    } else if e.is_errno(Errno::OPNOTSUPP) {
        e.with_kind(ErrorKind::ThreadMode)
            .with_detail(format!("{} is in a thread-mode subtree", dir.display()))
            .with_hint(fixes::thread_mode(dir))
    } else if e.is_errno(Errno::INVAL) && need.contains(&"cpu") {
        e.with_kind(ErrorKind::RealtimeProcesses)
            .with_detail("the cpu controller cannot be enabled while real-time processes run outside the root cgroup")
            .with_hint("move real-time (SCHED_FIFO/SCHED_RR) processes to the root cgroup, or run without a cpu limit")
    } else if e.is_errno(Errno::NOENT) {
        e.with_kind(ErrorKind::ControllerUnavailable)
            .with_detail(format!("a controller is not offered to {}", dir.display()))
    } else if e.kind() == ErrorKind::PermissionDenied {
        e.with_hint(fixes::user_delegation(dir))
    } else {
        e
    }
}
