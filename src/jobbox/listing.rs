//! Listing and reaping the boxes of an app: who holds each, and what is
//! left over.

use std::path::PathBuf;
use std::time::Duration;

use super::App;
use crate::fs::{Access, CgroupFs, Handle, read_string, validate_name};
use crate::kill::{self, KillMethod};
use crate::layout::KEPT_XATTR;
use crate::{Error, ErrorKind, Result};

/// An empty box nobody holds is a leftover only once it is this old: a box
/// made a moment ago may not be locked by its maker yet.
const LEFTOVER_AGE: Duration = Duration::from_secs(2);

impl<F: CgroupFs> App<F> {
    /// Every box of the app, sorted by name, with its state; entries that
    /// are not boxes cgbox can address are listed apart, never skipped
    /// silently.
    ///
    /// See the [example](crate::App#examples).
    pub fn list(&self) -> Result<Listing> {
        let mut out = Listing::default();
        for name in self.fs.child_names(&self.dirs.agents)? {
            match self.look(&name) {
                Ok(Some(entry)) => out.boxes.push(entry),
                Ok(None) => {} // removed while we looked
                Err(why) => out.odd.push(why.entry(name)),
            }
        }
        Ok(out)
    }

    /// Look at one entry of `agents` without keeping its lock.
    fn look(&self, name: &str) -> std::result::Result<Option<BoxEntry>, Odd> {
        let dir = match self.open_entry(name)? {
            Some(d) => d,
            None => return Ok(None),
        };
        let owner = self.owner(&dir).map_err(Odd::Failed)?;
        Ok(Some(self.entry(name, &dir, owner)))
    }

    fn open_entry(&self, name: &str) -> std::result::Result<Option<F::Dir>, Odd> {
        if name.contains(char::REPLACEMENT_CHARACTER) {
            return Err(Odd::NotUtf8);
        }
        validate_name(name).map_err(Odd::BadName)?;
        match self.fs.open_child(&self.dirs.agents, name) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.is_gone() => Ok(None),
            Err(e) => Err(Odd::Failed(e)),
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
    /// See the [example](crate::App#examples).
    pub fn reap(&self, orphans: bool, timeout: Duration) -> Result<Reaped> {
        let fs = &*self.fs;
        let mut out = Reaped::default();
        for name in fs.child_names(&self.dirs.agents)? {
            let dir = match self.open_entry(&name) {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(why) => {
                    out.odd.push(why.entry(name));
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
                    Err(e) => out.odd.push(Odd::Failed(e).entry(name)),
                },
                Err(e) => out.odd.push(Odd::Failed(e).entry(name)),
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
}

/// Why an entry of `agents` is passed over.
enum Odd {
    NotUtf8,
    BadName(Error),
    Failed(Error),
}

impl Odd {
    fn entry(self, name: String) -> OddEntry {
        let why = match self {
            Odd::NotUtf8 => "its name is not valid UTF-8".to_owned(),
            Odd::BadName(e) => e.detail().unwrap_or("not a valid box name").to_owned(),
            Odd::Failed(e) => e.to_string(),
        };
        OddEntry { name, why }
    }
}

/// Who holds a box.
///
/// See the [example](crate::App#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A live handle holds its lock (a running `cgbox run`, a library user).
    Owned,
    /// Given up on purpose ([`JobBox::keep`](crate::JobBox::keep), `cgbox create`): reap leaves it.
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
    /// Empty boxes nobody holds yet, made less than two seconds ago
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
