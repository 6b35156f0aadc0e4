//! [`App`]: the long-lived `<home>/<app>/agents` directories (documented
//! on [`App`]: this module is private).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{AGENTS, JobBox};
use crate::discover::Discovery;
use crate::fs::{Access, CgroupFs, Handle, read_string, validate_name};
use crate::kill::{self, KillMethod};
use crate::placement::Placement;
use crate::{Error, ErrorKind, Result};

/// The xattr that marks a box kept on purpose: reap leaves it alone.
///
/// See the [example](crate::jobbox#examples).
pub const KEPT_XATTR: &str = "user.cgbox.kept";

/// An empty box nobody holds is a leftover only once it is this old: a box
/// made a moment ago may not be locked by its maker yet.
///
/// See the [example](crate::jobbox#examples).
pub const LEFTOVER_AGE: Duration = Duration::from_secs(2);

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
/// owner's process dies. A box given up on purpose ([`JobBox::keep`]) is
/// *kept*, marked with the `user.cgbox.kept` xattr ([`KEPT_XATTR`]).
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
///
/// let a = Builder::new().name("a").create_in(&app)?;
/// let b = Builder::new().name("b").create_in(&app)?;
/// Builder::new().name("k").create_in(&app)?.keep();
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
/// app.open_box("k")?.destroy()?;
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

impl<F: CgroupFs> App<F> {
    /// Find the home of this process's boxes ([`crate::placement`]) and
    /// open `<home>/<app>/agents`, making what is missing. Discovery runs
    /// once here; boxes made from the handle cost no more probing.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn open(fs: Arc<F>, app: &str) -> Result<App<F>> {
        validate_name(app)?;
        let placement = Discovery::probe(&*fs, app).require_placement()?;
        App::open_at(fs, placement, app)
    }

    /// Like [`App::open`]; where systemd's rule refuses boxes (a unit that
    /// does not delegate), ask systemd for a scope of our own with
    /// `Delegate=yes` that holds this process (`cgbox-<app>-<pid>.scope`,
    /// from the user manager for a user, the system manager for root), and
    /// open the app there. The scope ends by itself when the process's last
    /// box and the process itself are gone. Where no manager answers, the
    /// refusal is returned with what the manager said in its detail.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn open_asking_systemd(fs: Arc<F>, app: &str, timeout: Duration) -> Result<App<F>> {
        use crate::systemd_scope::{ManagerOracle, enter_delegated_scope, manager_for, scope_name};
        validate_name(app)?;
        let oracle = ManagerOracle::new(timeout);
        let found = crate::discover::Probe::new(app).oracle(&oracle).run(&*fs);
        let refusal = match found.require_placement() {
            Ok(placement) => return App::open_at(fs, placement, app),
            Err(e) if e.kind() == ErrorKind::NotDelegated => e,
            Err(e) => return Err(e),
        };
        let bus = manager_for(refusal.path(), fs.euid());
        let name = scope_name(&format!("{app}-{}", fs.self_pid()))?;
        let refused = refusal.path().and_then(crate::systemd_scope::Refused::at);
        crate::systemd_scope::may_leave(&*fs, &refusal)?;
        let unit = enter_delegated_scope(
            bus,
            &name,
            &format!("cgbox boxes of {app}"),
            refused.as_ref(),
            timeout,
        )
        .map_err(|e| {
            let why = format!("asking systemd for a delegated scope failed: {e}");
            let detail = match refusal.detail() {
                Some(d) => format!("{d}; {why}"),
                None => why,
            };
            refusal.clone().with_detail(detail)
        })?;
        let oracle = ManagerOracle::new(timeout).trusting(unit);
        let placement = crate::discover::Probe::new(app)
            .oracle(&oracle)
            .run(&*fs)
            .require_placement()?;
        App::open_at(fs, placement, app)
    }

    /// Open `<home>/<app>/agents` at a home already found (or named by the
    /// caller: [`Placement::explicit`]), making what is missing.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn open_at(fs: Arc<F>, placement: Placement, app: &str) -> Result<App<F>> {
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
            }),
            fs,
            made: (false, false),
        }
    }

    fn made(mut self, made: (bool, bool)) -> App<F> {
        self.made = made;
        self
    }

    /// Open `<home>/<app>/agents` if it exists, making nothing.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn existing(fs: Arc<F>, placement: Placement, app: &str) -> Result<Option<App<F>>> {
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
    /// See the [example](crate::jobbox::App#examples).
    pub fn name(&self) -> &str {
        &self.dirs.name
    }

    /// Where the boxes go, and why.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn placement(&self) -> &Placement {
        &self.dirs.placement
    }

    /// `<home>/<app>/agents`: the directory that holds the boxes.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn agents_path(&self) -> &Path {
        self.dirs.agents.path()
    }

    /// The backend.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn fs(&self) -> &Arc<F> {
        &self.fs
    }

    /// Open an existing box by name. The handle does not own the box:
    /// dropping it leaves the box alone; [`JobBox::destroy`] still ends it.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn open_box(&self, name: &str) -> Result<JobBox<F>> {
        validate_name(name)?;
        let dir = self.fs.open_child(&self.dirs.agents, name).map_err(|e| {
            if e.is_gone() {
                e.with_detail(format!("no box named {name:?} in app {:?}", self.dirs.name))
                    .with_hint("see `cgbox list`")
            } else {
                e
            }
        })?;
        JobBox::from_parts(self.clone(), name.to_owned(), dir, Vec::new(), false)
    }

    /// Every box of the app, sorted by name, with its state; entries that
    /// are not boxes cgbox can address are listed apart, never skipped
    /// silently.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn list(&self) -> Result<Listing> {
        let mut out = Listing::default();
        for name in self.fs.child_names(&self.dirs.agents)? {
            match self.look(&name) {
                Ok(Some(entry)) => out.boxes.push(entry),
                Ok(None) => {} // removed while we looked
                Err(why) => out.odd.push(OddEntry { name, why }),
            }
        }
        Ok(out)
    }

    /// Look at one entry of `agents` without keeping its lock.
    fn look(&self, name: &str) -> std::result::Result<Option<BoxEntry>, String> {
        let dir = match self.open_entry(name)? {
            Some(d) => d,
            None => return Ok(None),
        };
        let owner = self.owner(&dir).map_err(|e| e.to_string())?;
        Ok(Some(self.entry(name, &dir, owner)))
    }

    fn open_entry(&self, name: &str) -> std::result::Result<Option<F::Dir>, String> {
        if name.contains(char::REPLACEMENT_CHARACTER) {
            return Err("its name is not valid UTF-8".into());
        }
        if let Err(e) = validate_name(name) {
            return Err(e.detail().unwrap_or("not a valid box name").to_owned());
        }
        match self.fs.open_child(&self.dirs.agents, name) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.is_gone() => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Who holds the box. Taking the lock to find out releases it again
    /// when `dir` is dropped.
    fn owner(&self, dir: &F::Dir) -> Result<Owner> {
        if !self.fs.try_lock(dir)? {
            return Ok(Owner::Owned);
        }
        if matches!(self.fs.read_xattr(dir, KEPT_XATTR), Ok(Some(v)) if v.as_slice() == b"1") {
            return Ok(Owner::Kept);
        }
        Ok(Owner::Nobody)
    }

    fn entry(&self, name: &str, dir: &F::Dir, owner: Owner) -> BoxEntry {
        let events = read_string(&*self.fs, dir, "cgroup.events")
            .ok()
            .and_then(|t| crate::parse::events::parse(&t).ok());
        BoxEntry {
            name: name.to_owned(),
            path: dir.path().to_path_buf(),
            owner,
            populated: events.map(|e| e.populated),
            frozen: events.and_then(|e| e.frozen),
        }
    }

    /// Remove the boxes nobody owns: empty ones (left by crashed runs), and
    /// with `orphans`, the boxes whose owner died with processes inside
    /// (killed first). Owned and kept boxes are never touched. Goes on past
    /// entries it cannot handle and names them.
    ///
    /// See the [example](crate::jobbox::App#examples).
    pub fn reap(&self, orphans: bool, timeout: Duration) -> Result<Reaped> {
        let fs = &*self.fs;
        let mut out = Reaped::default();
        for name in fs.child_names(&self.dirs.agents)? {
            let dir = match self.open_entry(&name) {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(why) => {
                    out.odd.push(OddEntry { name, why });
                    continue;
                }
            };
            // While `dir` is open we hold its lock: a creator that made this
            // box a moment ago waits for it, then finds the box gone and
            // makes it again.
            match self.owner(&dir) {
                Ok(Owner::Owned) => out.owned.push(name),
                Ok(Owner::Kept) => out.kept.push(name),
                Ok(Owner::Nobody) => match self.reap_one(&name, &dir, orphans, timeout) {
                    Ok(Reap::Removed) => out.removed.push(name),
                    Ok(Reap::Killed) => out.killed.push(name),
                    Ok(Reap::Orphan) => out.orphans.push(name),
                    Ok(Reap::Young) => out.young.push(name),
                    Err(e) => out.odd.push(OddEntry {
                        name,
                        why: e.to_string(),
                    }),
                },
                Err(e) => out.odd.push(OddEntry {
                    name,
                    why: e.to_string(),
                }),
            }
        }
        Ok(out)
    }

    fn reap_one(&self, name: &str, dir: &F::Dir, orphans: bool, timeout: Duration) -> Result<Reap> {
        let fs = &*self.fs;
        let deadline = crate::fs::deadline(fs, timeout);
        let events = fs.open_file(dir, "cgroup.events", Access::Read)?;
        if kill::read_events(fs, &events)?.populated {
            if !orphans {
                return Ok(Reap::Orphan);
            }
            kill::kill(fs, dir, KillMethod::Auto, deadline)?;
            kill::wait_until_empty(fs, &events, &mut Vec::new(), deadline)?;
            kill::remove_tree(fs, &self.dirs.agents, name, deadline)?;
            return Ok(Reap::Killed);
        }
        if fs.age(dir)? < LEFTOVER_AGE {
            return Ok(Reap::Young);
        }
        kill::remove_tree(fs, &self.dirs.agents, name, deadline)?;
        Ok(Reap::Removed)
    }

    /// Remove the app tree, `agents` and `<app>`, when no box is left in it.
    ///
    /// See the [example](crate::jobbox::App#examples).
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

/// Who holds a box.
///
/// See the [example](crate::App#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A live handle holds its lock (a running `cgbox run`, a library user).
    Owned,
    /// Given up on purpose ([`JobBox::keep`], `cgbox create`): reap leaves it.
    Kept,
    /// Nobody: a leftover when empty, an orphan when processes run in it.
    Nobody,
}

/// One box as [`App::list`] sees it.
///
/// See the [example](crate::App#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxEntry {
    /// Its name.
    pub name: String,
    /// Its absolute path.
    pub path: PathBuf,
    /// Who holds it.
    pub owner: Owner,
    /// Whether a process runs in it; `None` when `cgroup.events` could not be read.
    pub populated: Option<bool>,
    /// Whether it is frozen.
    pub frozen: Option<bool>,
}

impl BoxEntry {
    /// One word for the box: `owned`, `kept`, `orphaned` (nobody holds it
    /// and processes run in it) or `leftover` (nobody holds it, empty).
    ///
    /// See the [example](crate::App#examples).
    pub fn ownership(&self) -> &'static str {
        match (self.owner, self.populated) {
            (Owner::Owned, _) => "owned",
            (Owner::Kept, _) => "kept",
            (Owner::Nobody, Some(false)) => "leftover",
            (Owner::Nobody, _) => "orphaned",
        }
    }

    /// One word for what runs in it: `frozen`, `running` or `empty`.
    ///
    /// See the [example](crate::App#examples).
    pub fn activity(&self) -> &'static str {
        match (self.frozen, self.populated) {
            (Some(true), _) => "frozen",
            (_, Some(true)) => "running",
            (_, Some(false)) => "empty",
            _ => "unknown",
        }
    }
}

/// An entry of `agents` that cgbox cannot treat as a box, and why.
///
/// See the [example](crate::App#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OddEntry {
    /// The entry's name, as the directory reads.
    pub name: String,
    /// Why it was passed over.
    pub why: String,
}

/// What [`App::list`] found.
///
/// See the [example](crate::App#examples).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The boxes, sorted by name.
    pub boxes: Vec<BoxEntry>,
    /// Entries passed over.
    pub odd: Vec<OddEntry>,
}

/// What [`App::reap`] did.
///
/// See the [example](crate::App#examples).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// Empty boxes nobody owned, removed.
    pub removed: Vec<String>,
    /// Orphans (processes inside, owner gone) killed and removed (`orphans`).
    pub killed: Vec<String>,
    /// Orphans left alone (reap without `orphans`).
    pub orphans: Vec<String>,
    /// Boxes a live owner holds: untouched.
    pub owned: Vec<String>,
    /// Boxes kept on purpose: untouched.
    pub kept: Vec<String>,
    /// Empty boxes nobody holds yet, made less than [`LEFTOVER_AGE`] ago
    /// (their maker takes hold of them in a moment): untouched.
    pub young: Vec<String>,
    /// Entries that could not be handled, and why.
    pub odd: Vec<OddEntry>,
}

enum Reap {
    Removed,
    Killed,
    Orphan,
    Young,
}

/// The error for a box that is not where it should be.
pub(crate) fn no_such_box(name: &str, app: &str) -> Error {
    Error::new(ErrorKind::NotFound, "open box")
        .with_detail(format!("no box named {name:?} in app {app:?}"))
        .with_hint("see `cgbox list`")
}
