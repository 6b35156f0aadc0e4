//! [`prepare`]: make the home of the boxes able to give them controllers.
//!
//! A non-root cgroup that holds processes cannot enable controllers for
//! its children (the no-internal-process rule). At the root of a cgroup
//! namespace (a container), or in a delegated unit shared with other
//! processes, that is the normal state. `prepare` does what container
//! entrypoints do by hand: it makes a leaf (`init`), moves every process of
//! the home into it (again and again, since processes fork while being
//! moved), then enables every controller the home is offered, in one write.
//! Run twice, the second run changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use rustix::io::Errno;

use crate::fs::{CgroupFs, Handle, read_string, validate_name};
use crate::home::{HomeState, Placement, procs};
use crate::jobbox::shown::{View, show_in};
use crate::{Error, ErrorKind, Result, fixes};

/// How many times the home's process list is emptied before giving up on a
/// home that keeps gaining processes.
const MAX_ROUNDS: u32 = 1000;

/// What [`prepare()`] did.
///
/// See the [example](prepare()#examples) of [`prepare()`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// The leaf the processes now live in.
    pub leaf: PathBuf,
    /// Whether the leaf was made by this call.
    pub made_leaf: bool,
    /// The processes moved, in order.
    pub moved: Vec<u32>,
    /// The controllers enabled at the home by this call.
    pub enabled: Vec<String>,
    /// The threaded controllers disabled first, where they had made the
    /// home a thread root (enabled while it held processes).
    pub disabled: Vec<String>,
    /// The limits written into the leaf so that its processes see the
    /// home's (`memory.max` of a container, say): the files, where the
    /// home or a cgroup above it is limited and the leaf did not show it.
    pub shown: Vec<String>,
}

impl Prepared {
    /// True when nothing had to be done.
    ///
    /// See the [example](prepare()#examples) of [`prepare()`].
    pub fn changed_nothing(&self) -> bool {
        !self.made_leaf
            && self.moved.is_empty()
            && self.enabled.is_empty()
            && self.disabled.is_empty()
            && self.shown.is_empty()
    }
}

/// Move every process of the home into `<home>/<leaf>` and enable every
/// offered controller at the home. Refused, changing nothing, on the real
/// root (it is exempt from the rule, so nothing is needed) and in a
/// thread-mode subtree it cannot repair.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cgbox::fs::{CgroupFs, FakeFs};
/// use cgbox::{App, Builder, LEAF, Limits, Size, prepare};
///
/// // A container: the runtime offers it controllers, and this process
/// // (and a sidecar) run in its namespace root.
/// let fake = Arc::new(FakeFs::new());
/// fake.mkdir_p("containers/c1")?;
/// for level in ["/sys/fs/cgroup", "/sys/fs/cgroup/containers"] {
///     let dir = fake.open_dir(Path::new(level))?;
///     fake.write_file(&dir, "cgroup.subtree_control", b"+cpu +memory +pids")?;
/// }
/// fake.enter_namespace("containers/c1")?;
/// let sidecar = fake.spawn("containers/c1")?;
/// let placement = App::options("cgbox").placement(&*fake)?;
/// // Limits cannot be given yet: the home holds processes.
/// let limits = Limits::new().memory_max(Size::parse("64M")?);
/// assert!(Builder::new().limits(limits.clone()).create(fake.clone()).is_err());
///
/// let done = prepare(&*fake, &placement, LEAF, Duration::from_secs(5))?;
/// assert!(done.made_leaf);
/// assert_eq!(done.leaf, Path::new("/sys/fs/cgroup/init"));
/// assert_eq!(done.moved.len(), 2); // this process and the sidecar
/// assert!(done.enabled.contains(&"memory".to_owned()));
/// assert_eq!(fake.cgroup_of(sidecar).as_deref(), Some("/containers/c1/init"));
/// Builder::new().limits(limits).create(fake.clone())?.destroy()?;
///
/// // Run again, it changes nothing.
/// assert!(prepare(&*fake, &placement, LEAF, Duration::from_secs(5))?.changed_nothing());
/// # Ok::<(), cgbox::Error>(())
/// ```
pub fn prepare<F: CgroupFs>(
    fs: &F,
    placement: &Placement,
    leaf: &str,
    timeout: Duration,
) -> Result<Prepared> {
    validate_name(leaf)?;
    let deadline = crate::fs::deadline(fs, timeout);
    if placement.kind.is_real_root() {
        return Err(Error::new(ErrorKind::InvalidInput, "prepare")
            .with_path(&placement.home)
            .with_detail("this is the real root cgroup: it may hold processes and give boxes controllers at once, so there is nothing to prepare"));
    }
    let home = fs.open_dir(&placement.home)?;
    let disabled = leave_thread_mode(fs, &home)?;
    let made_leaf = match fs.make_child(&home, leaf) {
        Ok(()) => true,
        Err(e) if e.is_exist() => false,
        Err(e) => return Err(e.with_detail("making the leaf for the home's processes")),
    };
    let leaf_dir = fs.open_child(&home, leaf)?;
    let mut out = Prepared {
        leaf: leaf_dir.path().to_path_buf(),
        made_leaf,
        disabled,
        ..Prepared::default()
    };
    if !read_string(fs, &leaf_dir, "cgroup.subtree_control")?
        .trim()
        .is_empty()
    {
        return Err(Error::new(ErrorKind::InvalidInput, "prepare")
            .with_path(leaf_dir.path())
            .with_detail(
                "the leaf gives controllers to children of its own, so it cannot hold processes",
            )
            .with_hint("pick another leaf (cgbox prepare --leaf NAME)"));
    }
    for _ in 0..MAX_ROUNDS {
        let procs = procs(fs, &home)?;
        if procs.is_empty() {
            // `None`: a process appeared since the list was read and the
            // write failed with EBUSY; move it too.
            if let Some(enabled) = enable_all(fs, &home)? {
                out.enabled = enabled;
                // The leaf's processes (the container's entrypoint, say)
                // size themselves from its files: it shows the home's
                // limits.
                let view = View::read(fs, &[&home], false);
                out.shown = show_in(fs, &leaf_dir, &view)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                return Ok(out);
            }
            continue;
        }
        for pid in procs {
            if move_one(fs, &leaf_dir, pid, deadline)? {
                out.moved.push(pid);
            }
        }
    }
    Err(Error::new(ErrorKind::TimedOut, "prepare")
        .with_path(home.path())
        .with_detail(format!(
            "processes kept appearing in the home after {MAX_ROUNDS} rounds ({} moved)",
            out.moved.len()
        )))
}

/// A home made a thread root by threaded controllers enabled while it held
/// processes (what one-controller-at-a-time enabling does at a populated
/// namespace root) becomes a domain again when they are disabled, and its
/// children valid domains. A thread root with threaded children, or a
/// home inside a threaded subtree, is thread mode on purpose: refused.
fn leave_thread_mode<F: CgroupFs>(fs: &F, home: &F::Dir) -> Result<Vec<String>> {
    let refuse = |kind: &str| {
        Error::new(ErrorKind::ThreadMode, "prepare")
            .with_path(home.path())
            .with_detail(format!("cgroup.type is {kind:?}"))
            .with_hint(fixes::thread_mode(home.path()))
    };
    let state = HomeState::read(fs, home, false)?;
    let Some(kind) = state.kind.as_deref() else {
        return Ok(Vec::new());
    };
    match kind {
        "domain" => return Ok(Vec::new()),
        "domain threaded" => {}
        other => return Err(refuse(other)),
    }
    for name in fs.child_names(home)? {
        let child = fs.open_child(home, &name)?;
        if read_string(fs, &child, "cgroup.type")?.trim() == "threaded" {
            return Err(refuse("domain threaded").with_detail(format!(
                "cgroup.type is \"domain threaded\" and its child {name} is threaded: thread mode on purpose"
            )));
        }
    }
    let enabled = state.enabled;
    let line: Vec<String> = enabled.iter().map(|c| format!("-{c}")).collect();
    fs.write_file(home, "cgroup.subtree_control", line.join(" ").as_bytes())
        .map_err(|e| {
            e.with_detail("disabling the threaded controllers that made the home a thread root")
        })?;
    Ok(enabled)
}

/// Move one process; false when it is gone already.
fn move_one<F: CgroupFs>(fs: &F, leaf: &F::Dir, pid: u32, deadline: Duration) -> Result<bool> {
    let text = pid.to_string();
    loop {
        match fs.write_file(leaf, "cgroup.procs", text.as_bytes()) {
            Ok(()) => return Ok(true),
            Err(e) if e.is_errno(Errno::SRCH) => return Ok(false),
            // A task still being created: retried briefly.
            Err(e) if e.is_errno(Errno::INVAL) && fs.now() < deadline => {
                fs.sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e.with_detail(format!("moving process {pid} into the leaf"))),
        }
    }
}

/// Enable every controller the home is offered and does not enable yet,
/// in one write. `None` when processes appeared in the meantime.
fn enable_all<F: CgroupFs>(fs: &F, home: &F::Dir) -> Result<Option<Vec<String>>> {
    let state = HomeState::read(fs, home, false)?;
    let missing: Vec<String> = state
        .controllers
        .into_iter()
        .filter(|c| !state.enabled.contains(c))
        .collect();
    if missing.is_empty() {
        return Ok(Some(missing));
    }
    let line: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    match fs.write_file(home, "cgroup.subtree_control", line.join(" ").as_bytes()) {
        Ok(()) => Ok(Some(missing)),
        Err(e) if e.is_busy() => Ok(None),
        Err(e) => Err(e.with_detail(format!("enabling {}", missing.join(" ")))),
    }
}
