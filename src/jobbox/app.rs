//! [`App`]: the long-lived `<home>/<app>/agents` directories (documented
//! on [`App`]: this module is private).

use std::path::Path;
use std::sync::Arc;

use super::shown::View;
use super::{AppOptions, BoxRef};
use crate::fs::{CgroupFs, Handle, validate_name};
use crate::home::Placement;
use crate::layout::AGENTS;
use crate::{Error, ErrorKind, Result};

/// `<home>`, `<home>/<app>` and `<home>/<app>/agents`, open.
#[derive(Debug)]
pub(crate) struct AppDirs<F: CgroupFs> {
    pub(crate) name: String,
    pub(crate) placement: Placement,
    pub(crate) home: F::Dir,
    pub(crate) app: F::Dir,
    pub(crate) agents: F::Dir,
    /// A box made through these handles has had its controllers enabled
    /// at every level (the statistics controllers included): later boxes
    /// only check that `agents` passes what their limits need.
    pub(crate) settled: std::sync::atomic::AtomicBool,
    /// What boxes made here are held to from above, read on first need.
    view: std::sync::OnceLock<View>,
}

impl<F: CgroupFs> AppDirs<F> {
    /// The limits above the boxes made here (`agents`, `<app>`, the home
    /// and every cgroup above it), read once per app handle: a box made
    /// from the handle shows them where they are tighter than its own.
    pub(crate) fn above(&self, fs: &F) -> &View {
        self.view.get_or_init(|| {
            View::read(
                fs,
                &[&self.agents, &self.app, &self.home],
                self.placement.kind.is_real_root(),
            )
        })
    }
}

/// The boxes of one app at one home: the long-lived `<home>/<app>/agents`
/// directories, opened once and shared by every box of the app, with
/// listing and reaping.
///
/// `<app>` and `agents` are made when missing and never removed by a box
/// ending, a run or a reap: an administrator's settings on them stay, and
/// concurrent runs never lose the directory under their feet. Only
/// [`App::remove`], an explicit request, removes an empty app tree.
///
/// A box is *owned* while the handle that made it lives: it holds the
/// `flock` of the box's directory, which the kernel releases when the
/// owner's process dies. A box given up on purpose ([`JobBox::keep`](crate::JobBox::keep)) is
/// *kept*, marked with the `user.cgbox.kept` xattr.
/// Everything else is a leftover (empty) or an orphan (its owner died with
/// processes inside), which is what [`App::reap`] cleans.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cgbox::fs::FakeFs;
/// use cgbox::{App, Builder};
///
/// let fake = Arc::new(FakeFs::new());
/// let app = App::open(fake.clone(), "sandbox")?; // discovery, once
/// assert_eq!(app.name(), "sandbox");
/// assert_eq!(app.agents_path().to_str(), Some("/sys/fs/cgroup/sandbox/agents"));
/// assert_eq!(app.placement().kind.as_str(), "root");
/// assert_eq!(app.placement().box_path("sandbox", "a").to_str(), Some("/sys/fs/cgroup/sandbox/agents/a"));
/// assert!(app.placement().kind.is_real_root() && app.placement().scope.is_none());
///
/// let a = Builder::new().name("a").create_in(&app)?;
/// let b = Builder::new().name("b").create_in(&app)?;
/// let _ = Builder::new().name("k").create_in(&app)?.keep();
/// let listing = app.list()?;
/// let who: Vec<(&str, &str, &str)> = listing
///     .boxes
///     .iter()
///     .map(|e| (e.name.as_str(), e.ownership(), e.activity()))
///     .collect();
/// assert_eq!(who, [("a", "owned", "empty"), ("b", "owned", "empty"), ("k", "kept", "empty")]);
///
/// // b's owner dies with b's job still running: the kernel drops its lock.
/// fake.spawn("sandbox/agents/b")?;
/// std::mem::forget(b);
/// fake.release_lock("sandbox/agents/b")?;
/// let reaped = app.reap(false, Duration::from_secs(5))?;
/// assert_eq!((reaped.orphans, reaped.owned, reaped.kept), (vec!["b".to_owned()], vec!["a".to_owned()], vec!["k".to_owned()]));
/// let reaped = app.reap(true, Duration::from_secs(5))?; // orphans too
/// assert_eq!(reaped.killed, ["b"]);
///
/// // Another handle on a box, by name, and the app tree gone on request.
/// let k = app.open_box("k")?;
/// drop(k); // a box opened by name is not killed by being dropped
/// assert_eq!(app.list()?.boxes.len(), 2);
/// app.open_box("k")?.destroy()?; // ended on request
/// drop(a);
/// app.remove()?;
/// assert_eq!(fake.cgroups(), ["/"]);
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug)]
pub struct App<F: CgroupFs> {
    pub(crate) fs: Arc<F>,
    pub(crate) dirs: Arc<AppDirs<F>>,
    /// Which of `<app>` and `agents` this handle made (for undoing a
    /// one-shot creation that failed).
    made: (bool, bool),
}

impl<F: CgroupFs> Clone for App<F> {
    fn clone(&self) -> Self {
        App {
            fs: self.fs.clone(),
            dirs: self.dirs.clone(),
            made: (false, false),
        }
    }
}

impl App<crate::fs::SysFs> {
    /// How to open an app named `app`: where its boxes go, found with or
    /// without asking systemd, or named by the caller. The options work
    /// for every backend.
    ///
    /// See the [example](AppOptions#examples) of [`AppOptions`].
    pub fn options<'a>(app: &str) -> AppOptions<'a> {
        AppOptions::new(app)
    }
}

impl<F: CgroupFs> App<F> {
    /// Find the home of this process's boxes (the cgroup delegated to it,
    /// without asking systemd) and open `<home>/<app>/agents`, making what
    /// is missing. The home is found once here; boxes made from the handle
    /// cost no more probing. [`App::options`] takes more options.
    ///
    /// See the [example](App#examples).
    pub fn open(fs: Arc<F>, app: &str) -> Result<App<F>> {
        App::options(app).open(fs)
    }

    /// Open `<home>/<app>/agents` at a home already found, making what is
    /// missing.
    pub(crate) fn open_at(fs: Arc<F>, placement: Placement, app: &str) -> Result<App<F>> {
        validate_name(app)?;
        let home = fs.open_dir(&placement.home)?;
        let made_app = make_dir(&*fs, &home, app)?;
        let undo_app = |e: Error| {
            if made_app {
                let _ = fs.remove_child(&home, app);
            }
            e
        };
        let app_dir = fs.open_child(&home, app).map_err(undo_app)?;
        let made_agents = make_dir(&*fs, &app_dir, AGENTS).map_err(undo_app)?;
        let agents = match fs.open_child(&app_dir, AGENTS) {
            Ok(d) => d,
            Err(e) => {
                if made_agents {
                    let _ = fs.remove_child(&app_dir, AGENTS);
                }
                return Err(undo_app(e));
            }
        };
        Ok(App::from_dirs(fs, app, placement, [home, app_dir, agents])
            .made((made_app, made_agents)))
    }

    /// The handle over `<home>`, `<app>` and `agents`, open.
    fn from_dirs(fs: Arc<F>, app: &str, placement: Placement, dirs: [F::Dir; 3]) -> App<F> {
        let [home, app_dir, agents] = dirs;
        App {
            dirs: Arc::new(AppDirs {
                name: app.to_owned(),
                placement,
                home,
                app: app_dir,
                agents,
                settled: Default::default(),
                view: Default::default(),
            }),
            fs,
            made: (false, false),
        }
    }

    fn made(mut self, made: (bool, bool)) -> App<F> {
        self.made = made;
        self
    }

    /// Open `<home>/<app>/agents` at a home already found if it exists,
    /// making nothing.
    pub(crate) fn existing_at(
        fs: Arc<F>,
        placement: Placement,
        app: &str,
    ) -> Result<Option<App<F>>> {
        validate_name(app)?;
        let home = fs.open_dir(&placement.home)?;
        let app_dir = match fs.open_child(&home, app) {
            Ok(d) => d,
            Err(e) if e.is_gone() => return Ok(None),
            Err(e) => return Err(e),
        };
        let agents = match fs.open_child(&app_dir, AGENTS) {
            Ok(d) => d,
            Err(e) if e.is_gone() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(App::from_dirs(
            fs,
            app,
            placement,
            [home, app_dir, agents],
        )))
    }

    /// The app's name.
    ///
    /// See the [example](App#examples).
    pub fn name(&self) -> &str {
        &self.dirs.name
    }

    /// Where the boxes go, and why.
    ///
    /// See the [example](App#examples).
    pub fn placement(&self) -> &Placement {
        &self.dirs.placement
    }

    /// `<home>/<app>/agents`: the directory that holds the boxes.
    ///
    /// See the [example](App#examples).
    pub fn agents_path(&self) -> &Path {
        self.dirs.agents.path()
    }

    /// The backend.
    ///
    /// See the [example](App#examples).
    pub fn fs(&self) -> &Arc<F> {
        &self.fs
    }

    /// Open an existing box by name. The handle does not own the box:
    /// dropping it leaves the box alone; [`BoxRef::destroy`] ends it.
    ///
    /// See the [example](App#examples).
    pub fn open_box(&self, name: &str) -> Result<BoxRef<F>> {
        validate_name(name)?;
        let dir = self.fs.open_child(&self.dirs.agents, name).map_err(|e| {
            if e.is_gone() {
                e.with_detail(format!("no box named {name:?} in app {:?}", self.dirs.name))
                    .with_hint("see `cgbox list`")
            } else {
                e
            }
        })?;
        Ok(BoxRef::from_parts(
            self.clone(),
            name.to_owned(),
            dir,
            Vec::new(),
        ))
    }

    /// Remove the app tree, `agents` and `<app>`, when no box is left in it.
    ///
    /// See the [example](App#examples).
    pub fn remove(self) -> Result<()> {
        let fs = &*self.fs;
        let busy = |e: Error| {
            if e.is_busy() {
                e.with_detail("boxes remain in it")
                    .with_hint("end them first (cgbox kill NAME, cgbox reap --orphans)")
            } else {
                e
            }
        };
        match fs.remove_child(&self.dirs.app, AGENTS) {
            Ok(()) => {}
            Err(e) if e.is_gone() => {}
            Err(e) => return Err(busy(e)),
        }
        match fs.remove_child(&self.dirs.home, &self.dirs.name) {
            Ok(()) => Ok(()),
            Err(e) if e.is_gone() => Ok(()),
            Err(e) => Err(busy(e)),
        }
    }

    /// Undo what [`App::open_at`] made, if it is still empty: for a
    /// one-shot creation that failed.
    pub(crate) fn undo_made(&self) {
        let fs = &*self.fs;
        if self.made.1 && fs.remove_child(&self.dirs.app, AGENTS).is_ok() && self.made.0 {
            let _ = fs.remove_child(&self.dirs.home, &self.dirs.name);
        }
    }

    /// The directories again, for a retry after `agents` was removed by an
    /// explicit [`App::remove`] elsewhere.
    pub(crate) fn reopened(&self) -> Result<App<F>> {
        App::open_at(
            self.fs.clone(),
            self.dirs.placement.clone(),
            &self.dirs.name,
        )
    }
}

/// `mkdir`, tolerating an existing directory. True when this call made it.
fn make_dir<F: CgroupFs>(fs: &F, parent: &F::Dir, name: &str) -> Result<bool> {
    match fs.make_child(parent, name) {
        Ok(()) => Ok(true),
        Err(e) if e.is_exist() => Ok(false),
        Err(e) => Err(explain_mkdir(e)),
    }
}

/// Say what a failed `mkdir` in the home means, and what to do.
pub(crate) fn explain_mkdir(e: Error) -> Error {
    if e.is_errno(rustix::io::Errno::ROFS) {
        e.with_detail("the cgroup2 mount is read-only")
            .with_hint(crate::fixes::READ_ONLY_MOUNT)
    } else if e.kind() == ErrorKind::PermissionDenied {
        let dir = e
            .path()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        e.with_hint(crate::fixes::user_delegation(&dir))
    } else {
        e
    }
}
