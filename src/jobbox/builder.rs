//! [`Builder`]: a box described, then made all or nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustix::io::Errno;

use super::enable::{self, Enabled};
use super::shown::{self, Record, ShownWrite};
use super::{App, BoxRef, DEFAULT_TIMEOUT, JobBox, Policy, Skipped};
use crate::fs::{CgroupFs, Handle, validate_name};
use crate::kill::KillMethod;
use crate::layout::DELEGATE_XATTRS;
use crate::limits::{LimitWrite, Limits, controllers_of};
use crate::{Error, ErrorKind, Result};

/// Describes a box to create, made all or nothing: limits are validated
/// before anything is touched, controllers are enabled level by level
/// (home, `<app>`, `agents`) with one write each and taken back if a later
/// step fails, and any failure after the directory was made removes it.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cgbox::fs::FakeFs;
/// use cgbox::KillMethod;
/// use cgbox::{Builder, Limits, Policy, Size};
///
/// let fake = Arc::new(FakeFs::with_controllers(&["cpu", "pids"])); // no memory
/// let builder = Builder::new()
///     .app("ci")
///     .name("step-1")
///     .limits(Limits::new().memory_max(Size::parse("1G")?).cpus(2.0).pids_max(512))
///     .kill_method(KillMethod::Auto)
///     .timeout(Duration::from_secs(30));
///
/// // Strict, the default: all or nothing.
/// assert!(builder.clone().create(fake.clone()).is_err());
/// assert_eq!(fake.cgroups(), ["/"]);
///
/// // Best effort: what can be applied is, the rest is said.
/// let job = builder.policy(Policy::BestEffort).create(fake.clone())?;
/// let skipped: Vec<&str> = job.skipped().iter().map(|s| s.what.as_str()).collect();
/// assert_eq!(skipped, ["memory"]);
/// assert_eq!(job.path(), Path::new("/sys/fs/cgroup/ci/agents/step-1"));
///
/// // A home named by the caller instead of the delegated one.
/// fake.mkdir_p("services/runner")?;
/// let job = Builder::new().parent("/sys/fs/cgroup/services/runner").create(fake.clone())?;
/// assert!(job.path().starts_with("/sys/fs/cgroup/services/runner/cgbox/agents"));
/// # Ok::<(), cgbox::Error>(())
/// ```
///
/// Many boxes of one app: [`Builder::create_in`] (see the [example](crate::App#examples) of [`App`]).
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

/// How many times creation starts over when a concurrent [`App::remove`]
/// or reap takes a directory away underneath it.
const ATTEMPTS: u32 = 5;

impl Builder {
    /// A box of app `cgbox`, named by a fresh UUID v4, without limits.
    ///
    /// See the [example](Builder#examples).
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

    /// The subtree under the home: boxes live at `<home>/<app>/agents/<name>`.
    ///
    /// See the [example](Builder#examples).
    pub fn app(mut self, app: impl Into<String>) -> Builder {
        self.app = app.into();
        self
    }

    /// The box's name (default: a UUID v4).
    ///
    /// See the [example](Builder#examples).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The limits to apply.
    ///
    /// See the [example](Builder#examples).
    pub fn limits(mut self, limits: Limits) -> Builder {
        self.limits = limits;
        self
    }

    /// Strict (the default) or best-effort.
    ///
    /// See the [example](Builder#examples).
    pub fn policy(mut self, policy: Policy) -> Builder {
        self.policy = policy;
        self
    }

    /// Use this absolute cgroup directory as the home of the boxes instead
    /// of finding the delegated one ([`AppOptions::home`](crate::AppOptions::home)).
    /// The caller vouches that it may manage it.
    ///
    /// See the [example](Builder#examples).
    pub fn parent(mut self, parent: impl Into<PathBuf>) -> Builder {
        self.parent = Some(parent.into());
        self
    }

    /// How the box is killed when it ends.
    ///
    /// See the [example](Builder#examples).
    pub fn kill_method(mut self, method: KillMethod) -> Builder {
        self.kill_method = method;
        self
    }

    /// How long ending the box may take.
    ///
    /// See the [example](Builder#examples).
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.timeout = timeout;
        self
    }

    /// Create the box: find its home (or take [`Builder::parent`]), open the
    /// app, make the box. On error nothing is left behind: no box, no
    /// changed `cgroup.subtree_control`, and no `<app>` or `agents` that
    /// this call made. To make many boxes, open an [`App`] once and use
    /// [`Builder::create_in`].
    ///
    /// See the [example](Builder#examples).
    pub fn create<F: CgroupFs>(self, fs: Arc<F>) -> Result<JobBox<F>> {
        // Bad input is refused before anything is looked at.
        let (name, writes) = self.checked()?;
        let mut options = App::options(&self.app);
        if let Some(home) = &self.parent {
            options = options.home(home);
        }
        let app = options.open(fs)?;
        let result = self.create_checked(&app, name, &writes);
        if result.is_err() {
            app.undo_made();
        }
        result
    }

    /// Create the box in an app already open (the builder's
    /// [`app`](Builder::app) and [`parent`](Builder::parent) are not used).
    /// On error nothing of the box is left and no level's
    /// `cgroup.subtree_control` is changed; `<app>` and `agents` stay: they
    /// are long-lived.
    ///
    /// See the [example](Builder#examples).
    pub fn create_in<F: CgroupFs>(&self, app: &App<F>) -> Result<JobBox<F>> {
        let (name, writes) = self.checked()?;
        self.create_checked(app, name, &writes)
    }

    fn create_checked<F: CgroupFs>(
        &self,
        app: &App<F>,
        name: String,
        writes: &[LimitWrite],
    ) -> Result<JobBox<F>> {
        let required = controllers_of(writes);
        let mut app = app.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_create(&app, &name, writes, &required) {
                Err(e) if e.is_gone() && attempt < ATTEMPTS => {
                    // `agents` went away underneath (an explicit removal):
                    // open it again and start over.
                    app = app.reopened()?;
                }
                Err(Retry::Again) if attempt < ATTEMPTS => {}
                other => return other.map_err(Into::into),
            }
        }
    }

    /// Validate the name, the app and the limits; nothing is touched.
    fn checked(&self) -> Result<(String, Vec<LimitWrite>)> {
        let name = match &self.name {
            Some(n) => n.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        validate_name(&name)?;
        validate_name(&self.app)?;
        let writes = self.limits.writes()?;
        Ok((name, writes))
    }

    fn try_create<F: CgroupFs>(
        &self,
        app: &App<F>,
        name: &str,
        writes: &[LimitWrite],
        required: &[&'static str],
    ) -> std::result::Result<JobBox<F>, Retry> {
        let fs = &*app.fs;
        let dirs = &*app.dirs;
        let mut skipped = Vec::new();
        let mut enabled = if enable::settled(fs, dirs, required)? {
            // Nothing to enable, so nothing to take back: mkdir's EEXIST
            // is the only check a taken name needs.
            Enabled::nothing(fs, dirs)
        } else {
            // Look before enabling, so that a taken name changes nothing.
            match fs.open_child(&dirs.agents, name) {
                Ok(_) => return Err(Retry::Fail(taken(name, dirs.agents.path()))),
                Err(e) if e.is_gone() => {}
                Err(e) => return Err(Retry::Fail(e)),
            }
            enable::enable(fs, dirs, required, self.policy, &mut skipped)?
        };
        let made = fs.make_child(&dirs.agents, name).map_err(|e| {
            if e.is_exist() {
                taken(name, dirs.agents.path())
            } else {
                super::app::explain_mkdir(e)
            }
        });
        if let Err(e) = made {
            enabled.undo();
            return Err(Retry::from(e));
        }
        match self.fill(app, name, writes, &mut skipped) {
            Ok(Some(jb)) => {
                if jb.skipped().is_empty() {
                    dirs.settled
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(jb)
            }
            Ok(None) => {
                // A reaper removed the empty box between our mkdir and our
                // lock: make it again.
                enabled.undo();
                Err(Retry::Again)
            }
            Err(e) => {
                if let Err(undo) = crate::kill::remove_tree(
                    fs,
                    &dirs.agents,
                    name,
                    crate::fs::deadline(fs, self.timeout),
                ) {
                    log::warn!("could not remove the half-made box {name}: {undo}");
                }
                enabled.undo();
                Err(Retry::Fail(e))
            }
        }
    }

    /// Open the new box, own it, mark it delegated to its job, write its
    /// limits. `None` when it vanished before we held it.
    fn fill<F: CgroupFs>(
        &self,
        app: &App<F>,
        name: &str,
        writes: &[LimitWrite],
        skipped: &mut Vec<Skipped>,
    ) -> Result<Option<JobBox<F>>> {
        let fs = &*app.fs;
        let dir = match fs.open_child(&app.dirs.agents, name) {
            Ok(d) => d,
            Err(e) if e.is_gone() => return Ok(None),
            Err(e) => return Err(e),
        };
        if !own(fs, &dir, crate::fs::deadline(fs, self.timeout))? {
            return Ok(None);
        }
        crate::kill::check_method(fs, &dir, self.kill_method)?;
        // The job may nest cgroups and cgboxes of its own inside: mark the
        // box delegated the way systemd marks a Delegate=yes unit. Best
        // effort: kernels without cgroupfs xattrs fall back on the
        // `agents` name.
        if let Err(e) = fs.write_xattr(&dir, DELEGATE_XATTRS[0], b"1") {
            log::debug!("could not mark {} delegated: {e}", dir.path().display());
        }
        // Where something above is limited, the box shows it in its own
        // files (see shown.rs); else its own limits are written as given.
        let view = app.dirs.above(fs);
        let planned = if view.is_free() {
            writes
                .iter()
                .map(|w| ShownWrite {
                    write: w.clone(),
                    own: None,
                    given: true,
                })
                .collect()
        } else {
            shown::at_creation(writes, view)
        };
        let mut record = Record::default();
        for sw in &planned {
            let w = &sw.write;
            if skipped.iter().any(|s| s.what == w.controller) {
                continue;
            }
            match fs.write_file(&dir, w.file, w.value.as_bytes()) {
                Ok(()) => sw.note(&mut record),
                Err(e) if !sw.given => {
                    // A limit from above that cannot be shown here (its
                    // controller is not enabled in the box) holds all the
                    // same.
                    if e.is_gone() {
                        log::debug!("{} not shown in {}: {e}", w.file, dir.path().display());
                    } else {
                        log::warn!(
                            "{} from above not shown in {}: {e}",
                            w.file,
                            dir.path().display()
                        );
                    }
                }
                Err(e) => {
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
        }
        if !record.0.is_empty()
            && let Err(e) = record.write(fs, &dir)
        {
            log::warn!(
                "{e}: the box's own limits are not recorded, a limit lifted above will not loosen it"
            );
        }
        let mut jb = BoxRef::from_parts(app.clone(), name.to_owned(), dir, std::mem::take(skipped));
        jb.kill_method = self.kill_method;
        jb.timeout = self.timeout;
        Ok(Some(JobBox::own(jb)))
    }
}

/// Take the lock of a box just made. A reaper may hold it for a moment
/// (it looks at every box nobody owns): wait for it, then check that the
/// box is still there. `false`: it is gone. Taken at once, nobody held
/// it: a reaper leaves a box this young alone (`LEFTOVER_AGE`), so there
/// is nothing to check.
fn own<F: CgroupFs>(fs: &F, dir: &F::Dir, deadline: Duration) -> Result<bool> {
    if fs.try_lock(dir)? {
        return Ok(true);
    }
    let mut backoff = Duration::from_micros(100);
    while !fs.try_lock(dir)? {
        if fs.now() >= deadline {
            return Err(Error::new(ErrorKind::TimedOut, "lock new box")
                .with_path(dir.path())
                .with_detail("another process held the new box's lock until the time ran out"));
        }
        fs.sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(10));
    }
    match fs.has_file(dir, "cgroup.procs") {
        Ok(there) => Ok(there),
        Err(e) if e.is_gone() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Why one attempt at creating a box did not give one.
enum Retry {
    /// A concurrent reap removed the box before we held it.
    Again,
    Fail(Error),
}

impl From<Error> for Retry {
    fn from(e: Error) -> Retry {
        Retry::Fail(e)
    }
}

impl From<Retry> for Error {
    fn from(r: Retry) -> Error {
        match r {
            Retry::Fail(e) => e,
            Retry::Again => Error::new(ErrorKind::Busy, "create box").with_detail(
                "the new box was removed underneath it again and again (a reap loop?)",
            ),
        }
    }
}

impl Retry {
    fn is_gone(&self) -> bool {
        matches!(self, Retry::Fail(e) if e.is_gone())
    }
}

fn taken(name: &str, agents: &std::path::Path) -> Error {
    Error::from_errno("mkdir", &agents.join(name), Errno::EXIST.raw_os_error())
        .with_kind(ErrorKind::AlreadyExists)
        .with_detail(format!("a box named {name:?} exists already"))
        .with_hint("pick another name, or end that box first (cgbox kill NAME)")
}

fn explain_limit_error(e: Error, w: &LimitWrite) -> Error {
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
