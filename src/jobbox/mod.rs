//! [`JobBox`]: one box at `<home>/<app>/agents/<name>`, and its lifecycle.
//!
//! Made with a [`Builder`], all or nothing: limits are validated before
//! anything is touched, controllers are enabled level by level (home,
//! `<app>`, `agents`) with one write each and taken back if a later step
//! fails, and any failure after the directory was made removes it again.
//! The home is the cgroup delegated to this process
//! ([`crate::placement`]), never the parent of our own cgroup.
//!
//! Ownership follows `tempfile`: [`JobBox::destroy`] kills, waits and
//! removes and reports failure; `Drop` does the same on a best-effort basis
//! and logs what failed; [`JobBox::keep`] opts out and marks the box kept.
//! While a handle made by a builder lives, it holds the box's `flock`, so
//! that `reap` can tell a live box from an orphan (see [`App`]).
//!
//! # Examples
//!
//! The layout, and the boxes of an app listed without opening it:
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use cgbox::fs::FakeFs;
//! use cgbox::jobbox::{self, AGENTS, DEFAULT_TIMEOUT, KEPT_XATTR, LEFTOVER_AGE};
//! use cgbox::Builder;
//!
//! let fake = Arc::new(FakeFs::new());
//! let job = Builder::new().app("ci").name("step").create(fake.clone())?;
//! assert_eq!(job.path(), Path::new("/sys/fs/cgroup/ci").join(AGENTS).join("step"));
//! let listing = jobbox::list(fake.clone(), Path::new("/sys/fs/cgroup"), "ci")?;
//! assert_eq!(listing.boxes[0].name, "step");
//! assert_eq!(DEFAULT_TIMEOUT.as_secs(), 10); // what destroy and Drop give a box
//! let kept = job.keep();
//! assert_eq!(fake.xattr("ci/agents/step", KEPT_XATTR), Some(b"1".to_vec()));
//! assert!(LEFTOVER_AGE.as_secs() >= 1); // a younger empty box is never reaped
//! # let _ = kept;
//! # Ok::<(), cgbox::Error>(())
//! ```
//!
//! A whole lifecycle is on [`JobBox`], many boxes of one app on [`App`],
//! creation on [`Builder`]; [`LEAF`] is the leaf a home's own processes go to
//! (see [`prepare`](crate::prepare)).

mod app;
mod builder;
mod enable;
mod set;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::io::Errno;

pub use app::{App, BoxEntry, KEPT_XATTR, LEFTOVER_AGE, Listing, OddEntry, Owner, Reaped};
pub use builder::{Builder, Policy, Skipped};
pub use enable::LEAF;
pub use set::Changed;

use crate::Result;
use crate::fs::{Access, CgroupFs, Handle, deadline};
use crate::kill::{self, KillMethod};
use crate::placement::Placement;

/// The directory under `<home>/<app>/` that holds the boxes.
///
/// See the [example](crate::jobbox#examples).
pub const AGENTS: &str = "agents";

/// How long `destroy` and `Drop` give a box to empty and go.
///
/// See the [example](crate::jobbox#examples).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One box. See the [module docs](self).
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cgbox::fs::FakeFs;
/// use cgbox::{Builder, JobBox, Limits, Size};
///
/// let fake = Arc::new(FakeFs::new());
/// let mut job = Builder::new()
///     .name("build-7")
///     .limits(Limits::new().memory_max(Size::parse("256M")?).pids_max(64))
///     .create(fake.clone())?;
/// assert_eq!(job.name(), "build-7");
/// assert_eq!(job.path(), Path::new("/sys/fs/cgroup/cgbox/agents/build-7"));
/// assert_eq!(job.app().name(), "cgbox");
/// assert!(job.skipped().is_empty());
/// job.set_timeout(Duration::from_secs(5)); // for kill, freeze, thaw and destroy
///
/// // Processes: started inside (JobBox::spawn on Linux), or moved in.
/// let started = fake.spawn("cgbox/agents/build-7")?;
/// let outside = fake.spawn("")?;
/// job.move_pid(outside)?;
/// assert!(job.is_populated()?);
/// let mut pids = job.pids()?;
/// pids.sort();
/// assert_eq!(pids, [started, outside]);
/// assert_eq!(job.stats()?.pids_current(), Some(2));
/// assert_eq!(job.sampler()?.sample()?.pids_current, Some(2));
///
/// job.freeze()?; // returns once the kernel says frozen
/// job.thaw()?;
/// job.kill()?; // every process, and returns once the box is empty
/// assert!(!job.is_populated()?);
///
/// // Another handle on the same box, by name: it does not own the box.
/// let again = JobBox::open(fake.clone(), "cgbox", "build-7")?;
/// assert_eq!(again.path(), job.path());
/// drop(again); // the box stays
/// job.destroy()?; // kill, wait, remove
/// assert_eq!(fake.cgroups(), ["/", "/cgbox", "/cgbox/agents"]);
///
/// // keep(): the box outlives its handle (marked kept: reaping leaves it).
/// let path = Builder::new().name("kept").create(fake.clone())?.keep();
/// assert_eq!(path, Path::new("/sys/fs/cgroup/cgbox/agents/kept"));
/// JobBox::open_in(fake.clone(), Path::new("/sys/fs/cgroup"), "cgbox", "kept")?.destroy()?;
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug)]
pub struct JobBox<F: CgroupFs> {
    app: App<F>,
    name: String,
    path: PathBuf,
    /// The box's directory; made by a builder, it holds the box's lock.
    dir: F::Dir,
    /// `cgroup.procs`, opened for writing the first time a PID is moved in
    /// (a box whose job is born inside it by clone3 never needs it).
    procs: std::sync::OnceLock<F::File>,
    events: F::File,
    skipped: Vec<Skipped>,
    pub(crate) kill_method: KillMethod,
    pub(crate) timeout: Duration,
    /// End the box when the handle is dropped (tempfile's cleanup).
    cleanup: bool,
    /// pidfds of the processes this handle spawned: their exit ends a
    /// kill's wait at once.
    children: Mutex<Vec<F::Pidfd>>,
}

impl<F: CgroupFs> JobBox<F> {
    pub(crate) fn from_parts(
        app: App<F>,
        name: String,
        dir: F::Dir,
        skipped: Vec<Skipped>,
        cleanup: bool,
    ) -> Result<JobBox<F>> {
        let fs = &*app.fs;
        let events = fs.open_file(&dir, "cgroup.events", Access::Read)?;
        Ok(JobBox {
            path: dir.path().to_path_buf(),
            app,
            name,
            dir,
            procs: std::sync::OnceLock::new(),
            events,
            skipped,
            kill_method: KillMethod::Auto,
            timeout: DEFAULT_TIMEOUT,
            cleanup,
            children: Mutex::new(Vec::new()),
        })
    }

    /// Open an existing box of `app` by name, at the home this process's
    /// boxes go to. The handle does not own the box: dropping it leaves the
    /// box alone; [`JobBox::destroy`] still ends it.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn open(fs: Arc<F>, app: &str, name: &str) -> Result<JobBox<F>> {
        crate::fs::validate_name(name)?;
        crate::fs::validate_name(app)?;
        let placement = crate::discover::Discovery::probe(&*fs, app).require_placement()?;
        JobBox::open_at(fs, placement, app, name)
    }

    /// Open an existing box under an explicit home.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn open_in(fs: Arc<F>, home: &Path, app: &str, name: &str) -> Result<JobBox<F>> {
        JobBox::open_at(fs, Placement::explicit(home), app, name)
    }

    /// Open an existing box at a home already found.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn open_at(fs: Arc<F>, placement: Placement, app: &str, name: &str) -> Result<JobBox<F>> {
        crate::fs::validate_name(name)?;
        match App::existing(fs, placement, app)? {
            Some(a) => a.open_box(name),
            None => Err(app::no_such_box(name, app)),
        }
    }

    /// The box's name.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The absolute path of the box directory.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The app the box belongs to.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn app(&self) -> &App<F> {
        &self.app
    }

    /// The backend.
    pub(crate) fn fs(&self) -> &Arc<F> {
        &self.app.fs
    }

    /// The open box directory.
    pub(crate) fn dir(&self) -> &F::Dir {
        &self.dir
    }

    /// The kept, writable `cgroup.procs`, opened on first use.
    pub(crate) fn procs_file(&self) -> Result<&F::File> {
        if let Some(file) = self.procs.get() {
            return Ok(file);
        }
        let file = self
            .fs()
            .open_file(&self.dir, "cgroup.procs", Access::Write)?;
        // A racing thread may have set it first: either file will do.
        Ok(self.procs.get_or_init(|| file))
    }

    /// How long kill, freeze, thaw and destroy may take from now on.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// What best-effort creation did not apply.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Move a process into the box (one `write(2)`). `EINVAL`, which a
    /// task still being created can give, is retried briefly.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn move_pid(&self, pid: u32) -> Result<()> {
        let fs = self.fs();
        let text = pid.to_string();
        let mut tries = 0;
        loop {
            match fs.write_kept(self.procs_file()?, text.as_bytes()) {
                Err(e) if e.is_errno(Errno::INVAL) && tries < 10 => {
                    tries += 1;
                    fs.sleep(Duration::from_millis(1));
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
                .fs()
                .wait_for_change(&self.events, &mut children, Duration::ZERO);
        }
        children.push(pidfd);
    }

    /// Whether any process is in the box or below it (one `pread`). A
    /// damaged `cgroup.events` is an error, never "empty".
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn is_populated(&self) -> Result<bool> {
        Ok(kill::read_events(&**self.fs(), &self.events)?.populated)
    }

    /// Every PID in the box and in cgroups below it.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn pids(&self) -> Result<Vec<u32>> {
        Ok(kill::subtree_pids(&**self.fs(), &self.dir)?
            .into_iter()
            .collect())
    }

    /// Every statistic of the box (see [`Stats`](crate::stats::Stats)).
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn stats(&self) -> Result<crate::stats::Stats> {
        crate::stats::Stats::read(&**self.fs(), &self.dir)
    }

    /// A sampler that keeps the box's hot files open.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn sampler(&self) -> Result<crate::stats::Sampler<F>> {
        crate::stats::Sampler::new(self.fs().clone(), &self.dir)
    }

    /// Kill every process in the box (and below) and wait until it is empty.
    /// A box removed from outside counts as killed.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn kill(&self) -> Result<()> {
        let fs = &**self.fs();
        let deadline = deadline(fs, self.timeout);
        let result = self.is_populated().and_then(|populated| {
            if !populated {
                return Ok(());
            }
            kill::kill(fs, &self.dir, self.kill_method, deadline)?;
            let mut exits = std::mem::take(&mut *self.lock_children());
            kill::wait_until_empty(fs, &self.events, &mut exits, deadline)
        });
        match result {
            // Removed from outside: nothing is left to kill. Any other
            // "not found" (a file this kernel lacks) is an error.
            Err(e) if e.is_gone() && !fs.has_file(&self.dir, "cgroup.procs").unwrap_or(false) => {
                Ok(())
            }
            other => other,
        }
    }

    /// Freeze the box and wait until the kernel reports it frozen.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaw the box and wait until the kernel reports it thawed.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let fs = &**self.fs();
        kill::set_frozen(
            fs,
            &self.dir,
            &self.events,
            frozen,
            deadline(fs, self.timeout),
        )
    }

    /// Kill, wait until empty, and remove the box with any cgroups the job
    /// made inside it. `<app>` and `agents` stay (see [`App::remove`]).
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn destroy(mut self) -> Result<()> {
        self.cleanup = false;
        self.end_box()
    }

    /// Stop owning the box: it stays after the handle is dropped, marked
    /// kept so that reaping leaves it alone. Returns its path.
    ///
    /// See the [example](crate::jobbox::JobBox#examples).
    pub fn keep(mut self) -> PathBuf {
        self.cleanup = false;
        if let Err(e) = self.fs().write_xattr(&self.dir, KEPT_XATTR, b"1") {
            log::warn!(
                "could not mark {} kept ({e}): `cgbox reap` will treat it as left over",
                self.path.display()
            );
        }
        self.path.clone()
    }

    fn end_box(&self) -> Result<()> {
        let fs = &**self.fs();
        let deadline = deadline(fs, self.timeout);
        self.kill()?;
        kill::remove_tree(fs, &self.app.dirs.agents, &self.name, deadline)
    }
}

impl<F: CgroupFs> Drop for JobBox<F> {
    fn drop(&mut self) {
        if self.cleanup
            && let Err(e) = self.end_box()
        {
            log::error!("could not remove box {}: {e}", self.path.display());
        }
    }
}

/// The boxes of `app` at `home`; none when the app does not exist there.
///
/// See the [example](crate::jobbox#examples).
pub fn list<F: CgroupFs>(fs: Arc<F>, home: &Path, app: &str) -> Result<Listing> {
    match App::existing(fs, Placement::explicit(home), app)? {
        Some(a) => a.list(),
        None => Ok(Listing::default()),
    }
}
