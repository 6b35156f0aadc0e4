//! [`BoxRef`]: a box, and every operation on it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustix::io::Errno;

use super::{App, DEFAULT_TIMEOUT, Skipped, listing};
use crate::Result;
use crate::fs::{Access, CgroupFs, Handle, deadline, validate_name};
use crate::home::{HomeKind, Placement};
use crate::jobbox::shown::{View, show_in};
use crate::kill::{self, KillMethod};
use crate::layout::LEAF;

/// A box: every operation on it. A `BoxRef` opened by name
/// ([`App::open_box`], [`BoxRef::open`]) does not own its box: dropping it
/// leaves the box as it is; [`BoxRef::destroy`] ends it on request. A box
/// made by a [`Builder`](crate::Builder) comes as a [`JobBox`](crate::JobBox), which owns it and derefs to
/// its `BoxRef`.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cgbox::fs::FakeFs;
/// use cgbox::{BoxRef, Builder, Limits, Size};
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
/// // Processes: started inside (BoxRef::start on Linux), or moved in.
/// let started = fake.spawn("cgbox/agents/build-7")?;
/// let outside = fake.spawn("")?;
/// job.move_pid(outside)?;
/// let tools = job.nested("tools")?; // boxes inside this box
/// assert_eq!(tools.agents_path(), job.path().join("tools/agents"));
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
/// let again = BoxRef::open(fake.clone(), "cgbox", "build-7")?;
/// assert_eq!(again.path(), job.path());
/// drop(again); // the box stays
/// assert!(fake.cgroups().contains(&"/cgbox/agents/build-7".to_owned()));
/// job.destroy()?; // kill, wait, remove
/// assert_eq!(fake.cgroups(), ["/", "/cgbox", "/cgbox/agents"]);
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug)]
pub struct BoxRef<F: CgroupFs> {
    app: App<F>,
    name: String,
    path: PathBuf,
    /// The box's directory; made by a builder, it holds the box's lock.
    dir: F::Dir,
    /// `cgroup.procs`, opened for writing the first time a PID is moved in
    /// (a box whose job is born inside it by clone3 never needs it).
    procs: OnceLock<F::File>,
    /// `cgroup.events`, opened the first time it is read (a box made and
    /// removed empty never needs it).
    events: OnceLock<F::File>,
    skipped: Vec<Skipped>,
    pub(crate) kill_method: KillMethod,
    pub(crate) timeout: Duration,
    /// pidfds of the processes this handle spawned: their exit ends a
    /// kill's wait at once.
    children: Mutex<Vec<F::Pidfd>>,
    /// One clone per started child that nobody has reaped yet (held by its
    /// [`BoxChild`](crate::BoxChild)): while there is one, the box is most
    /// likely busy, and a removal kills at once instead of trying `rmdir`.
    unreaped: OnceLock<Arc<()>>,
    /// How many times this handle killed the box (an outcome tells a job
    /// killed with its box from one killed by someone else).
    kills: AtomicU64,
}

impl<F: CgroupFs> BoxRef<F> {
    pub(crate) fn from_parts(
        app: App<F>,
        name: String,
        dir: F::Dir,
        skipped: Vec<Skipped>,
    ) -> BoxRef<F> {
        BoxRef {
            path: dir.path().to_path_buf(),
            app,
            name,
            dir,
            procs: OnceLock::new(),
            events: OnceLock::new(),
            skipped,
            kill_method: KillMethod::Auto,
            timeout: DEFAULT_TIMEOUT,
            children: Mutex::new(Vec::new()),
            unreaped: OnceLock::new(),
            kills: AtomicU64::new(0),
        }
    }

    /// Open an existing box of `app` by name, at the home this process's
    /// boxes go to ([`App::open`]), making nothing. The handle does not own
    /// the box: dropping it leaves the box alone.
    ///
    /// See the [example](BoxRef#examples).
    pub fn open(fs: Arc<F>, app: &str, name: &str) -> Result<BoxRef<F>> {
        validate_name(name)?;
        match App::options(app).existing(fs)? {
            Some(a) => a.open_box(name),
            None => Err(listing::no_such_box(name, app)),
        }
    }

    /// The boxes of `app` inside this box, `<box>/<app>/agents`, made where
    /// missing: a job started in one of them is counted apart from the
    /// rest of this box (its own CPU, memory, processes and OOM kills)
    /// while this box's limits hold over it. `cgbox exec` starts each
    /// command so (app `exec`). The box passes on the statistics
    /// controllers it has, while it holds no processes of its own.
    ///
    /// See the [example](BoxRef#examples).
    pub fn nested(&self, app: &str) -> Result<App<F>> {
        let home = Placement::of(self.path.clone(), HomeKind::Box(self.name.clone()));
        App::open_at(self.fs().clone(), home, app)
    }

    /// The box's name.
    ///
    /// See the [example](BoxRef#examples).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The absolute path of the box directory.
    ///
    /// See the [example](BoxRef#examples).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The app the box belongs to.
    ///
    /// See the [example](BoxRef#examples).
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

    /// The kept `cgroup.events`, opened on first use.
    pub(crate) fn events_file(&self) -> Result<&F::File> {
        if let Some(file) = self.events.get() {
            return Ok(file);
        }
        let file = self
            .fs()
            .open_file(&self.dir, "cgroup.events", Access::Read)?;
        // A racing thread may have set it first: either file will do.
        Ok(self.events.get_or_init(|| file))
    }

    /// How many times this handle killed the box.
    pub(crate) fn kills(&self) -> u64 {
        self.kills.load(Ordering::Relaxed)
    }

    /// How long kill, freeze, thaw and destroy may take from now on.
    ///
    /// See the [example](BoxRef#examples).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// What best-effort creation did not apply.
    ///
    /// See the [example](BoxRef#examples).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Move a process into the box (one `write(2)`). `EINVAL`, which a
    /// task still being created can give, is retried briefly. A box that
    /// passes controllers to boxes inside it (those of
    /// [`BoxRef::nested`], where `cgbox exec` counts each command apart)
    /// may hold no process itself (the no-internal-process rule): the
    /// process then goes to the box's leaf [`LEAF`](crate::LEAF), made
    /// where missing and shown the box's limits. Either way it is in the
    /// box: its limits, statistics and kill.
    ///
    /// See the [example](BoxRef#examples).
    pub fn move_pid(&self, pid: u32) -> Result<()> {
        match self.write_pid(self.procs_file()?, pid) {
            Err(e) if e.is_busy() => self.move_into_leaf(pid),
            other => other,
        }
    }

    /// One PID into a kept `cgroup.procs`.
    fn write_pid(&self, procs: &F::File, pid: u32) -> Result<()> {
        let fs = self.fs();
        let text = pid.to_string();
        let mut tries = 0;
        loop {
            match fs.write_kept(procs, text.as_bytes()) {
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

    /// `pid` into `<box>/init`, for a box that may hold no process itself.
    fn move_into_leaf(&self, pid: u32) -> Result<()> {
        let fs = &**self.fs();
        let made = match fs.make_child(&self.dir, LEAF) {
            Ok(()) => true,
            Err(e) if e.is_exist() => false,
            Err(e) => return Err(e),
        };
        let leaf = fs.open_child(&self.dir, LEAF)?;
        if made {
            // A runtime moved in sizes itself from its own cgroup's files.
            let view = View::read(fs, &[&self.dir], false);
            show_in(fs, &leaf, &view);
        }
        let procs = fs.open_file(&leaf, "cgroup.procs", Access::Write)?;
        self.write_pid(&procs, pid)
    }

    fn lock_children(&self) -> std::sync::MutexGuard<'_, Vec<F::Pidfd>> {
        self.children.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watch a process this handle started, so that a kill's wait ends as
    /// soon as it is gone. Ended ones are dropped now and then, so the list
    /// stays short in a long-lived box. The token returned is for its
    /// [`BoxChild`](crate::BoxChild) to hold until it reaps the process.
    pub(crate) fn watch_exit(&self, pidfd: F::Pidfd) -> Arc<()> {
        let mut children = self.lock_children();
        if children.len() >= 32
            && let Ok(events) = self.events_file()
        {
            let _ = self
                .fs()
                .wait_for_change(events, &mut children, Duration::ZERO);
        }
        children.push(pidfd);
        Arc::clone(self.unreaped.get_or_init(|| Arc::new(())))
    }

    /// Whether a process this handle started may still be running: its
    /// [`BoxChild`](crate::BoxChild) lives and has not reaped it.
    fn runs_unreaped(&self) -> bool {
        self.unreaped
            .get()
            .is_some_and(|t| Arc::strong_count(t) > 1)
    }

    /// Whether any process is in the box or below it (one `pread`). A
    /// damaged `cgroup.events` is an error, never "empty".
    ///
    /// See the [example](BoxRef#examples).
    pub fn is_populated(&self) -> Result<bool> {
        Ok(kill::read_events(&**self.fs(), self.events_file()?)?.populated)
    }

    /// Every PID in the box and in cgroups below it.
    ///
    /// See the [example](BoxRef#examples).
    pub fn pids(&self) -> Result<Vec<u32>> {
        Ok(kill::subtree_pids(&**self.fs(), &self.dir)?
            .into_iter()
            .collect())
    }

    /// Every statistic of the box (see [`Stats`](crate::stats::Stats)).
    ///
    /// See the [example](BoxRef#examples).
    pub fn stats(&self) -> Result<crate::stats::Stats> {
        crate::stats::Stats::read(&**self.fs(), &self.dir)
    }

    /// A sampler that keeps the box's hot files open.
    ///
    /// See the [example](BoxRef#examples).
    pub fn sampler(&self) -> Result<crate::stats::Sampler<F>> {
        crate::stats::Sampler::new(self.fs().clone(), &self.dir)
    }

    /// Kill every process in the box (and below) and wait until it is empty.
    /// A box removed from outside counts as killed. Empty is the kernel's
    /// word (`populated 0`): every task has left the box in its exit, with
    /// its memory and files released; one that is not our child may show
    /// in `/proc` for a moment more before it is a zombie.
    ///
    /// See the [example](BoxRef#examples).
    pub fn kill(&self) -> Result<()> {
        self.kill_then(false).map(drop)
    }

    /// Kill and wait until empty. With `remove`, the box is removed as soon
    /// as the processes this handle started are gone, if nothing else is
    /// inside (its `rmdir` tells); returns whether it was removed.
    fn kill_then(&self, remove: bool) -> Result<bool> {
        let fs = &**self.fs();
        let deadline = deadline(fs, self.timeout);
        let mut exits = std::mem::take(&mut *self.lock_children());
        let result = (|| {
            // Without a process of ours to wait for, look first: an empty
            // box needs no kill. With one, kill at once and let its pidfd
            // say when it is gone (sooner than the kernel's rate-limited
            // notification); then cgroup.events is read once (for a
            // removal, the rmdir answers first), and polled only while
            // something else is still inside.
            if exits.is_empty() && !self.is_populated()? {
                return Ok(false);
            }
            self.kills.fetch_add(1, Ordering::Relaxed);
            kill::kill(fs, &self.dir, self.kill_method, deadline)?;
            if kill::ours_ended(fs, &mut exits, deadline)?
                && remove
                && kill::remove_if_empty(fs, &self.app.dirs.agents, &self.name)?
            {
                return Ok(true);
            }
            // With ours gone, this reads cgroup.events before any wait.
            kill::wait_until_empty(fs, self.events_file()?, &mut exits, deadline).map(|()| false)
        })();
        match result {
            // Removed from outside: nothing is left to kill. Any other
            // "not found" (a file this kernel lacks) is an error.
            Err(e) if e.is_gone() && !fs.has_file(&self.dir, "cgroup.procs").unwrap_or(false) => {
                Ok(false)
            }
            other => other,
        }
    }

    /// Freeze the box and wait until the kernel reports it frozen.
    ///
    /// See the [example](BoxRef#examples).
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaw the box and wait until the kernel reports it thawed.
    ///
    /// See the [example](BoxRef#examples).
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let fs = &**self.fs();
        kill::set_frozen(
            fs,
            &self.dir,
            self.events_file()?,
            frozen,
            deadline(fs, self.timeout),
        )
    }

    /// Kill, wait until empty, and remove the box with any cgroups the job
    /// made inside it. `<app>` and `agents` stay (see [`App::remove`]).
    ///
    /// See the [example](BoxRef#examples).
    pub fn destroy(self) -> Result<()> {
        self.end_box()
    }

    pub(crate) fn end_box(&self) -> Result<()> {
        let fs = &**self.fs();
        let deadline = deadline(fs, self.timeout);
        // An empty box goes with one rmdir; a busy one (processes, or
        // cgroups the job made) is killed first, then removed deepest
        // first. A box running a job this handle started is busy: no rmdir
        // before the kill, and one right after its job is gone.
        let removed = if self.runs_unreaped() {
            self.kill_then(true)?
        } else if kill::remove_if_empty(fs, &self.app.dirs.agents, &self.name)? {
            true
        } else {
            self.kill_then(false)?
        };
        if removed {
            return Ok(());
        }
        kill::remove_tree(fs, &self.app.dirs.agents, &self.name, deadline)
    }
}
