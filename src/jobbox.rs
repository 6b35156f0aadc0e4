//! [`JobBox`]: one box at `<parent>/<app>/agents/<name>`, and its lifecycle.
//!
//! Made with a [`Builder`], all or nothing: limits are validated before
//! anything is touched, controllers are enabled level by level (parent,
//! app, agents) one write each, and any failure after the directory was
//! made removes it again. Ownership follows `tempfile`: [`JobBox::destroy`]
//! kills, waits and removes and reports failure; `Drop` does the same on a
//! best-effort basis and logs what failed; [`JobBox::keep`] opts out.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::io::Errno;

use crate::discover::Discovery;
use crate::fs::{Access, CgroupFs, Handle, read_string, validate_name};
use crate::kill::{self, KillMethod};
use crate::limits::Limits;
use crate::parse::value;
use crate::{Error, ErrorKind, Result};

/// The directory under `<parent>/<app>/` that holds the boxes.
pub const AGENTS: &str = "agents";

/// Controllers enabled for statistics when available; never required.
const STATS_CONTROLLERS: [&str; 4] = ["cpu", "memory", "pids", "io"];

/// How long `destroy` and `Drop` give a box to empty and go.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to do with a limit that cannot be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Fail box creation, leaving nothing behind.
    #[default]
    Strict,
    /// Apply what can be applied, log a warning for the rest and report it
    /// in [`JobBox::skipped`].
    BestEffort,
}

/// A limit (or controller) that was not applied under [`Policy::BestEffort`].
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The interface file, or the controller, that was skipped.
    pub what: String,
    /// Why.
    pub error: Error,
}

/// Describes a box to create. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Builder {
    app: String,
    name: Option<String>,
    limits: Limits,
    policy: Policy,
    parent: Option<PathBuf>,
    kill_method: KillMethod,
    timeout: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A box of app `cgbox`, named by a fresh UUID v4, without limits.
    pub fn new() -> Builder {
        Builder {
            app: "cgbox".into(),
            name: None,
            limits: Limits::default(),
            policy: Policy::Strict,
            parent: None,
            kill_method: KillMethod::Auto,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The subtree under the parent: boxes live at `<parent>/<app>/agents/<name>`.
    pub fn app(mut self, app: impl Into<String>) -> Builder {
        self.app = app.into();
        self
    }

    /// The box's name (default: a UUID v4).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The limits to apply.
    pub fn limits(mut self, limits: Limits) -> Builder {
        self.limits = limits;
        self
    }

    /// Strict (the default) or best-effort.
    pub fn policy(mut self, policy: Policy) -> Builder {
        self.policy = policy;
        self
    }

    /// Use this absolute cgroup directory as the parent instead of
    /// discovering it from `/proc/self/cgroup`.
    pub fn parent(mut self, parent: impl Into<PathBuf>) -> Builder {
        self.parent = Some(parent.into());
        self
    }

    /// How the box is killed when it ends.
    pub fn kill_method(mut self, method: KillMethod) -> Builder {
        self.kill_method = method;
        self
    }

    /// How long ending the box may take.
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.timeout = timeout;
        self
    }

    /// Create the box. On error nothing is left behind: no box directory,
    /// and no `<app>` or `agents` directory that this call made.
    pub fn create<F: CgroupFs>(self, fs: Arc<F>) -> Result<JobBox<F>> {
        let name = match &self.name {
            Some(n) => n.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        validate_name(&name)?;
        validate_name(&self.app)?;
        let writes = self.limits.writes()?;
        let parent_path = match &self.parent {
            Some(p) => p.clone(),
            None => Discovery::probe(&*fs, &self.app)
                .require_parent()?
                .to_path_buf(),
        };
        let parent = fs.open_dir(&parent_path)?;

        let mut skipped = Vec::new();
        let required = crate::limits::controllers_of(&writes);
        let wanted = self.precheck_controllers(&*fs, &parent, &required, &mut skipped)?;

        // A concurrent destroy may remove an empty `agents` between our
        // mkdir and the box's: start over a few times.
        let mut parent = parent;
        let mut attempt = 0;
        let prechecked = skipped.len();
        let shared = loop {
            attempt += 1;
            if attempt > 1 {
                parent = fs.open_dir(&parent_path)?;
                // What a failed attempt skipped is decided again.
                skipped.truncate(prechecked);
            }
            let shared = Shared::ensure(&*fs, &parent, &self.app)?;
            let result = self
                .enable_controllers(&*fs, &parent, &shared, &wanted, &required, &mut skipped)
                .and_then(|()| fs.make_child(&shared.agents, &name));
            match result {
                Ok(()) => break shared,
                Err(e) if attempt < 3 && (e.is_gone()) => {
                    shared.cleanup(&*fs);
                }
                Err(e) => {
                    shared.cleanup(&*fs);
                    return Err(if e.is_errno(Errno::EXIST) {
                        e.with_kind(ErrorKind::AlreadyExists)
                            .with_detail(format!("a box named {name:?} exists already"))
                            .with_hint("pick another name, or end that box first (cgbox kill NAME)")
                    } else {
                        e
                    });
                }
            }
        };
        match self.fill(&*fs, &shared, &name, &writes, &mut skipped) {
            Ok((dir, procs, events)) => {
                let path = dir.path().to_path_buf();
                Ok(JobBox {
                    fs,
                    name,
                    path,
                    shared,
                    dir,
                    procs,
                    events,
                    skipped,
                    kill_method: self.kill_method,
                    timeout: self.timeout,
                    armed: true,
                    children: Mutex::new(Vec::new()),
                })
            }
            Err(e) => {
                if let Err(undo) = fs.remove_child(&shared.agents, &name) {
                    log::warn!("could not remove the half-made box {name}: {undo}");
                }
                shared.cleanup(&*fs);
                Err(e)
            }
        }
    }

    /// Check, before anything is written, that the parent offers what the
    /// limits require. Returns every controller worth enabling.
    fn precheck_controllers<F: CgroupFs>(
        &self,
        fs: &F,
        parent: &F::Dir,
        required: &[&'static str],
        skipped: &mut Vec<Skipped>,
    ) -> Result<Vec<&'static str>> {
        let available = read_string(fs, parent, "cgroup.controllers")?;
        let available: Vec<&str> = value::words(&available).collect();
        let mut wanted = Vec::new();
        for c in required {
            if available.contains(c) {
                wanted.push(*c);
                continue;
            }
            let e = not_delegated(c, parent.path());
            match self.policy {
                Policy::Strict => return Err(e),
                Policy::BestEffort => {
                    log::warn!("{e}");
                    skipped.push(Skipped {
                        what: (*c).to_owned(),
                        error: e,
                    });
                }
            }
        }
        for c in STATS_CONTROLLERS {
            if available.contains(&c) && !wanted.contains(&c) {
                wanted.push(c);
            }
        }
        Ok(wanted)
    }

    /// Enable `wanted` at the parent, the app and the agents directory,
    /// one controller per write, skipping what is enabled already.
    fn enable_controllers<F: CgroupFs>(
        &self,
        fs: &F,
        parent: &F::Dir,
        shared: &Shared<F>,
        wanted: &[&'static str],
        required: &[&'static str],
        skipped: &mut Vec<Skipped>,
    ) -> Result<()> {
        let mut usable: Vec<&'static str> = wanted.to_vec();
        for level in [parent, &shared.app, &shared.agents] {
            let current = read_string(fs, level, "cgroup.subtree_control")?;
            let current: Vec<&str> = value::words(&current).collect();
            let mut still = Vec::new();
            for c in usable {
                if current.contains(&c) {
                    still.push(c);
                    continue;
                }
                match fs.write_file(level, "cgroup.subtree_control", format!("+{c}").as_bytes()) {
                    Ok(()) => still.push(c),
                    Err(e) => {
                        let e = explain_enable_error(e, c, level.path());
                        if !required.contains(&c) {
                            log::debug!("statistics controller not enabled: {e}");
                        } else if self.policy == Policy::Strict {
                            return Err(e);
                        } else {
                            log::warn!("{e}");
                            skipped.push(Skipped {
                                what: c.to_owned(),
                                error: e,
                            });
                        }
                    }
                }
            }
            usable = still;
        }
        Ok(())
    }

    /// Open the new box and write its limits.
    fn fill<F: CgroupFs>(
        &self,
        fs: &F,
        shared: &Shared<F>,
        name: &str,
        writes: &[crate::limits::Write],
        skipped: &mut Vec<Skipped>,
    ) -> Result<(F::Dir, F::File, F::File)> {
        let dir = fs.open_child(&shared.agents, name)?;
        for w in writes {
            if skipped.iter().any(|s| s.what == w.controller) {
                continue;
            }
            if let Err(e) = fs.write_file(&dir, w.file, w.value.as_bytes()) {
                let e = explain_limit_error(e, w);
                match self.policy {
                    Policy::Strict => return Err(e),
                    Policy::BestEffort => {
                        log::warn!("{e}");
                        skipped.push(Skipped {
                            what: w.file.to_owned(),
                            error: e,
                        });
                    }
                }
            }
        }
        let procs = fs.open_file(&dir, "cgroup.procs", Access::Write)?;
        let events = fs.open_file(&dir, "cgroup.events", Access::Read)?;
        Ok((dir, procs, events))
    }
}

fn not_delegated(controller: &str, parent: &Path) -> Error {
    Error::new(ErrorKind::ControllerUnavailable, format!("enable the {controller} controller"))
        .with_path(parent)
        .with_detail(format!(
            "{controller} is not in cgroup.controllers of {}: it is not delegated to this cgroup (on a hybrid host, cgroup v1 holds it)",
            parent.display()
        ))
        .with_hint(
            "delegate it (systemd-run --user --scope -p Delegate=yes ..., or Delegate= in the unit), boot with systemd.unified_cgroup_hierarchy=1 on a hybrid host, or go on without the limit (best-effort); `cgbox inspect` names this host's fix",
        )
}

fn explain_enable_error(e: Error, controller: &str, level: &Path) -> Error {
    let e = e.with_detail(format!("enabling {controller}"));
    if e.is_errno(Errno::NOENT) {
        not_delegated(controller, level).with_errno(Errno::NOENT.raw_os_error())
    } else if e.is_errno(Errno::BUSY) {
        e.with_kind(ErrorKind::NoInternalProcesses)
            .with_detail(format!(
                "{} holds processes of its own, so it cannot enable {controller} for its children (the no-internal-process rule)",
                level.display()
            ))
            .with_hint("move those processes into a leaf cgroup first (for example <dir>/init), or create boxes from a cgroup whose parent holds no processes")
    } else if e.is_errno(Errno::INVAL) && controller == "cpu" {
        e.with_kind(ErrorKind::RealtimeProcesses)
            .with_detail("the cpu controller cannot be enabled while real-time processes run outside the root cgroup")
            .with_hint("move real-time (SCHED_FIFO/SCHED_RR) processes to the root cgroup, or run without a cpu limit")
    } else if e.kind() == ErrorKind::PermissionDenied {
        e.with_hint("run as the owner of that cgroup, or get a delegated subtree (systemd-run --user --scope -p Delegate=yes ...)")
    } else {
        e
    }
}

fn explain_limit_error(e: Error, w: &crate::limits::Write) -> Error {
    let detail = format!("writing {:?} to {}", w.value, w.file);
    if e.is_errno(Errno::NOENT) {
        e.with_kind(ErrorKind::Unsupported)
            .with_detail(format!("{detail}: this kernel has no {}", w.file))
    } else if e.is_errno(Errno::NODEV) {
        e.with_detail(format!("{detail}: no such block device"))
            .with_hint("check MAJ:MIN with lsblk")
    } else if e.is_errno(Errno::INVAL) || e.is_errno(Errno::RANGE) {
        e.with_kind(ErrorKind::InvalidInput)
            .with_detail(format!("{detail}: the kernel refused the value"))
    } else {
        e.with_detail(detail)
    }
}

/// `<parent>/<app>` and `<parent>/<app>/agents`, kept open by each box (the
/// parent itself is reopened by path in the rare case it is needed).
#[derive(Debug)]
struct Shared<F: CgroupFs> {
    app_name: String,
    parent_path: PathBuf,
    app: F::Dir,
    agents: F::Dir,
}

impl<F: CgroupFs> Shared<F> {
    fn ensure(fs: &F, parent: &F::Dir, app: &str) -> Result<Shared<F>> {
        let made_app = make_dir(fs, parent, app)?;
        // Undo only what this call made, and only if it is still empty.
        let undo_app = |e: Error| {
            if made_app {
                let _ = fs.remove_child(parent, app);
            }
            e
        };
        let app_dir = fs.open_child(parent, app).map_err(undo_app)?;
        let made_agents = make_dir(fs, &app_dir, AGENTS).map_err(undo_app)?;
        let agents = match fs.open_child(&app_dir, AGENTS) {
            Ok(d) => d,
            Err(e) => {
                if made_agents {
                    let _ = fs.remove_child(&app_dir, AGENTS);
                }
                return Err(undo_app(e));
            }
        };
        Ok(Shared {
            app_name: app.to_owned(),
            parent_path: parent.path().to_path_buf(),
            app: app_dir,
            agents,
        })
    }

    /// Remove `agents` and `<app>` if they are empty; leave them if other
    /// boxes (or another run's) are there.
    fn cleanup(&self, fs: &F) {
        // Other boxes in `agents` (the common case) end it at one EBUSY.
        let gone = |r: Result<()>, what: &Path| match r {
            Ok(()) => true,
            Err(e) => {
                if !(e.is_errno(Errno::BUSY)
                    || e.is_errno(Errno::NOENT)
                    || e.is_errno(Errno::NODEV))
                {
                    log::debug!("leave {}: {e}", what.display());
                }
                false
            }
        };
        if !gone(
            fs.remove_child(&self.app, AGENTS),
            &self.app.path().join(AGENTS),
        ) {
            return;
        }
        let app_path = self.parent_path.join(&self.app_name);
        match fs.open_dir(&self.parent_path) {
            Ok(parent) => {
                gone(fs.remove_child(&parent, &self.app_name), &app_path);
            }
            Err(e) => log::debug!("leave {}: {e}", app_path.display()),
        }
    }
}

/// `mkdir`, tolerating an existing directory. True when this call made it.
fn make_dir<F: CgroupFs>(fs: &F, parent: &F::Dir, name: &str) -> Result<bool> {
    match fs.make_child(parent, name) {
        Ok(()) => Ok(true),
        Err(e) if e.is_errno(Errno::EXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One box. See the [module docs](self).
#[derive(Debug)]
pub struct JobBox<F: CgroupFs> {
    fs: Arc<F>,
    name: String,
    path: PathBuf,
    shared: Shared<F>,
    dir: F::Dir,
    procs: F::File,
    events: F::File,
    skipped: Vec<Skipped>,
    kill_method: KillMethod,
    timeout: Duration,
    armed: bool,
    /// pidfds of the processes this handle spawned: their exit ends a
    /// kill's wait at once.
    children: Mutex<Vec<F::Pidfd>>,
}

impl<F: CgroupFs> JobBox<F> {
    /// Open an existing box by name. The handle does not own the box:
    /// dropping it leaves the box alone; [`JobBox::destroy`] still ends it.
    pub fn open(fs: Arc<F>, app: &str, name: &str) -> Result<JobBox<F>> {
        validate_name(name)?;
        validate_name(app)?;
        let parent_path = Discovery::probe(&*fs, app).require_parent()?.to_path_buf();
        JobBox::open_in(fs, &parent_path, app, name)
    }

    /// Open an existing box under an explicit parent directory.
    pub fn open_in(fs: Arc<F>, parent: &Path, app: &str, name: &str) -> Result<JobBox<F>> {
        validate_name(name)?;
        let parent_dir = fs.open_dir(parent)?;
        let no_such_box = |e: Error| {
            if e.is_errno(Errno::NOENT) {
                e.with_detail(format!("no box named {name:?} in app {app:?}"))
                    .with_hint("see `cgbox list`")
            } else {
                e
            }
        };
        let app_dir = fs.open_child(&parent_dir, app).map_err(no_such_box)?;
        let agents = fs.open_child(&app_dir, AGENTS).map_err(no_such_box)?;
        let dir = fs.open_child(&agents, name).map_err(no_such_box)?;
        let procs = fs.open_file(&dir, "cgroup.procs", Access::Write)?;
        let events = fs.open_file(&dir, "cgroup.events", Access::Read)?;
        let path = dir.path().to_path_buf();
        Ok(JobBox {
            fs,
            name: name.to_owned(),
            path,
            shared: Shared {
                app_name: app.to_owned(),
                parent_path: parent.to_path_buf(),
                app: app_dir,
                agents,
            },
            dir,
            procs,
            events,
            skipped: Vec::new(),
            kill_method: KillMethod::Auto,
            timeout: DEFAULT_TIMEOUT,
            armed: false,
            children: Mutex::new(Vec::new()),
        })
    }

    /// The box's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The absolute path of the box directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The backend.
    pub fn fs(&self) -> &Arc<F> {
        &self.fs
    }

    /// The open box directory.
    pub fn dir(&self) -> &F::Dir {
        &self.dir
    }

    /// The kept, writable `cgroup.procs`.
    pub fn procs_file(&self) -> &F::File {
        &self.procs
    }

    /// What best-effort creation did not apply.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Move a process into the box (one `write(2)`). `EINVAL`, which a
    /// task still being created can give, is retried briefly.
    pub fn move_pid(&self, pid: u32) -> Result<()> {
        let text = pid.to_string();
        let mut tries = 0;
        loop {
            match self.fs.write_kept(&self.procs, text.as_bytes()) {
                Err(e) if e.is_errno(Errno::INVAL) && tries < 10 => {
                    tries += 1;
                    self.fs.sleep(Duration::from_millis(1));
                }
                Err(e) if e.is_errno(Errno::SRCH) => {
                    return Err(e.with_detail(format!("no process {pid}")));
                }
                other => return other,
            }
        }
    }

    fn lock_children(&self) -> std::sync::MutexGuard<'_, Vec<F::Pidfd>> {
        self.children.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watch a process this handle started, so that a kill's wait ends as
    /// soon as it is gone. Ended ones are dropped now and then, so the list
    /// stays short in a long-lived box.
    pub(crate) fn watch_exit(&self, pidfd: F::Pidfd) {
        let mut children = self.lock_children();
        if children.len() >= 32 {
            let _ = self
                .fs
                .wait_for_change(&self.events, &mut children, Duration::ZERO);
        }
        children.push(pidfd);
    }

    /// Whether any process is in the box or below it (one `pread`).
    /// A damaged `cgroup.events` is an error, never "empty".
    pub fn is_populated(&self) -> Result<bool> {
        Ok(kill::read_events(&*self.fs, &self.events)?.populated)
    }

    /// Every PID in the box and in cgroups below it.
    pub fn pids(&self) -> Result<Vec<u32>> {
        Ok(kill::subtree_pids(&*self.fs, &self.dir)?
            .into_iter()
            .collect())
    }

    /// Every statistic of the box (see [`Stats`](crate::stats::Stats)).
    pub fn stats(&self) -> Result<crate::stats::Stats> {
        crate::stats::Stats::read(&*self.fs, &self.dir)
    }

    /// A sampler that keeps the box's hot files open.
    pub fn sampler(&self) -> Result<crate::stats::Sampler<F>> {
        crate::stats::Sampler::new(self.fs.clone(), &self.dir)
    }

    /// Kill every process in the box (and below) and wait until it is empty.
    /// A box removed from outside counts as killed.
    pub fn kill(&self) -> Result<()> {
        let deadline = crate::fs::deadline(&*self.fs, self.timeout);
        let result = self.is_populated().and_then(|populated| {
            if !populated {
                return Ok(());
            }
            kill::kill(&*self.fs, &self.dir, self.kill_method, deadline)?;
            let mut exits = std::mem::take(&mut *self.lock_children());
            kill::wait_until_empty(&*self.fs, &self.events, &mut exits, deadline)
        });
        match result {
            Err(e) if e.is_gone() => Ok(()),
            other => other,
        }
    }

    /// Freeze the box and wait until the kernel reports it frozen.
    pub fn freeze(&self) -> Result<()> {
        kill::set_frozen(
            &*self.fs,
            &self.dir,
            &self.events,
            true,
            crate::fs::deadline(&*self.fs, self.timeout),
        )
    }

    /// Thaw the box and wait until the kernel reports it thawed.
    pub fn thaw(&self) -> Result<()> {
        kill::set_frozen(
            &*self.fs,
            &self.dir,
            &self.events,
            false,
            crate::fs::deadline(&*self.fs, self.timeout),
        )
    }

    /// Kill, wait until empty, remove the box and any cgroups the job made
    /// inside it, and the `agents`/`<app>` directories if no box is left.
    pub fn destroy(mut self) -> Result<()> {
        self.armed = false;
        self.end()
    }

    /// Stop owning the box: it stays after the handle is dropped.
    /// Returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.armed = false;
        self.path.clone()
    }

    fn end(&self) -> Result<()> {
        let deadline = crate::fs::deadline(&*self.fs, self.timeout);
        self.kill()?;
        kill::remove_tree(&*self.fs, &self.shared.agents, &self.name, deadline)?;
        self.shared.cleanup(&*self.fs);
        Ok(())
    }
}

impl<F: CgroupFs> Drop for JobBox<F> {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = self.end()
        {
            log::error!("could not remove box {}: {e}", self.path.display());
        }
    }
}

/// One box as [`list`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxEntry {
    /// Its name.
    pub name: String,
    /// Its absolute path.
    pub path: PathBuf,
}

/// The boxes of `app` under `parent`, sorted by name; none when `<app>`
/// does not exist.
pub fn list<F: CgroupFs>(fs: &F, parent: &Path, app: &str) -> Result<Vec<BoxEntry>> {
    let parent_dir = fs.open_dir(parent)?;
    let agents = match fs
        .open_child(&parent_dir, app)
        .and_then(|a| fs.open_child(&a, AGENTS))
    {
        Ok(a) => a,
        Err(e) if e.is_errno(Errno::NOENT) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(fs
        .child_names(&agents)?
        .into_iter()
        .map(|name| BoxEntry {
            path: agents.path().join(&name),
            name,
        })
        .collect())
}

/// What [`reap`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// Boxes removed: empty, left by runs that crashed.
    pub removed: Vec<String>,
    /// Boxes left alone because processes still run in them.
    pub busy: Vec<String>,
}

/// Remove the empty boxes of `app` under `parent` (left by crashed runs);
/// leave populated ones. Then remove `agents` and `<app>` if nothing is left.
pub fn reap<F: CgroupFs>(fs: &F, parent: &Path, app: &str, timeout: Duration) -> Result<Reaped> {
    let mut out = Reaped::default();
    let parent_dir = fs.open_dir(parent)?;
    let app_dir = match fs.open_child(&parent_dir, app) {
        Ok(d) => d,
        Err(e) if e.is_errno(Errno::NOENT) => return Ok(out),
        Err(e) => return Err(e),
    };
    let agents = match fs.open_child(&app_dir, AGENTS) {
        Ok(d) => d,
        Err(e) if e.is_errno(Errno::NOENT) => return Ok(out),
        Err(e) => return Err(e),
    };
    for name in fs.child_names(&agents)? {
        let dir = match fs.open_child(&agents, &name) {
            Ok(d) => d,
            Err(e) if e.is_errno(Errno::NOENT) => continue,
            Err(e) => return Err(e),
        };
        let events = read_string(fs, &dir, "cgroup.events")?;
        let events = crate::parse::events::parse(&events)
            .map_err(|e| e.into_error(&dir.path().join("cgroup.events")))?;
        if events.populated {
            out.busy.push(name);
            continue;
        }
        kill::remove_tree(fs, &agents, &name, crate::fs::deadline(fs, timeout))?;
        out.removed.push(name);
    }
    let shared = Shared::<F> {
        app_name: app.to_owned(),
        parent_path: parent.to_path_buf(),
        app: app_dir,
        agents,
    };
    shared.cleanup(fs);
    Ok(out)
}

#[cfg(test)]
mod tests;
