//! [`FakeFs`]: an in-memory model of the cgroup v2 kernel interface.
//!
//! It is not a map of files. It holds a cgroup tree, fake processes and a
//! virtual clock, and it answers reads and writes the way `kernel/cgroup`
//! does: controller files appear only where the parent enables the
//! controller, `cgroup.subtree_control` writes are all or nothing with the
//! kernel's errno for each failure, populated non-root cgroups cannot
//! enable controllers and cgroups with controllers cannot take processes,
//! `rmdir` fails with `EBUSY` while anything is inside, values are
//! validated as the kernel validates them. It imitates one kernel
//! ([`Kernel`]: 5.10, 6.1 by default, or 6.12; see [`FakeFs::with_kernel`]),
//! whose files, controllers and keys it shows. Faults can be injected by
//! operation and path, files can be hidden as an older kernel would, and
//! processes can fork while they are being killed or linger after `SIGKILL`.
//!
//! # Examples
//!
//! The kernel's rules, through the [`CgroupFs`] seam (more on
//! [`FakeFs`]):
//!
//! ```
//! use cgbox::fs::{CgroupFs, FakeFs};
//! use std::path::Path;
//!
//! let fake = FakeFs::new();
//! let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
//! fake.make_child(&root, "job").unwrap();
//! let job = fake.open_child(&root, "job").unwrap();
//! // memory is not enabled in the root's subtree_control yet
//! assert!(!fake.has_file(&job, "memory.max").unwrap());
//! fake.write_file(&root, "cgroup.subtree_control", b"+memory").unwrap();
//! assert_eq!(fake.file("job", "memory.max").unwrap(), "max\n");
//! ```

mod files;
mod procs;
mod profile;
mod threads;
mod values;

#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustix::io::Errno;

use super::{Access, CgroupFs, Handle, check_component};
use crate::{Error, ErrorKind, Result};

pub use procs::ProcState;
pub use profile::Kernel;

/// Every controller the model knows, in the kernel's order.
///
/// See the [example](crate::fs::FakeFs#examples).
pub const CONTROLLERS: [&str; 8] = [
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

/// The operations faults can be injected into.
///
/// See the [example](crate::fs::FakeFs#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `open_dir` / `open_child`.
    OpenDir,
    /// `make_child` (`mkdir`).
    Mkdir,
    /// `remove_child` (`rmdir`).
    Rmdir,
    /// Opening an interface file (also the open inside `read_file`/`write_file`).
    Open,
    /// Reading an interface file.
    Read,
    /// Writing an interface file.
    Write,
    /// `pidfd_open`.
    PidfdOpen,
}

/// Whether and how PSI files exist.
///
/// See the [example](crate::fs::FakeFs#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Psi {
    /// `*.pressure` files exist and read.
    Enabled,
    /// No PSI files (no `CONFIG_PSI`, or `psi=0`).
    Absent,
    /// The files exist but reads fail with `EOPNOTSUPP`.
    Unsupported,
}

#[derive(Debug)]
struct Fault {
    op: Op,
    path_suffix: String,
    errno: Errno,
    remaining: Option<u32>,
}

#[derive(Debug)]
struct Node {
    name: String,
    parent: Option<u64>,
    children: BTreeMap<String, u64>,
    subtree_control: BTreeSet<&'static str>,
    /// Values written to limit files, and stat contents set by tests.
    values: BTreeMap<String, String>,
    freeze: bool,
    /// `threaded` was written to `cgroup.type` (one-way).
    threaded: bool,
    /// Extended attributes (`user.delegate`, ...).
    xattrs: BTreeMap<String, Vec<u8>>,
    /// The fake descriptor holding this cgroup's `flock`, if any.
    lock: Option<u64>,
    /// When the directory last changed (mkdir, a child made or removed).
    changed: Duration,
}

impl Node {
    /// A cgroup just made: nothing enabled, written or held.
    fn new(name: &str, parent: Option<u64>, now: Duration) -> Node {
        Node {
            name: name.to_owned(),
            parent,
            children: BTreeMap::new(),
            subtree_control: BTreeSet::new(),
            values: BTreeMap::new(),
            freeze: false,
            threaded: false,
            xattrs: BTreeMap::new(),
            lock: None,
            changed: now,
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    mount: PathBuf,
    /// The cgroup the mount shows as its root: the real root, or the root
    /// of a cgroup namespace ([`FakeFs::enter_namespace`]).
    view_root: u64,
    available: BTreeSet<&'static str>,
    nodes: BTreeMap<u64, Node>,
    next_node: u64,
    procs: procs::Procs,
    host_files: BTreeMap<PathBuf, Vec<u8>>,
    clock: Duration,
    /// Bumped whenever any cgroup's `populated` or `frozen` may have changed;
    /// kept `cgroup.events` files compare against it, as kernfs's event counter.
    events_gen: u64,
    faults: Vec<Fault>,
    hidden: BTreeSet<String>,
    psi: Psi,
    realtime_outside_root: bool,
    euid: u32,
    devices: BTreeSet<(u32, u32)>,
    cpus: u32,
    mems: u32,
    kernel: Kernel,
}

/// The in-memory kernel model. See the [module docs](self).
///
/// # Examples
///
/// A host as a test needs it: processes, faults, older kernels, namespaces,
/// delegation marks and time.
///
/// ```
/// use std::path::Path;
/// use std::time::Duration;
/// use cgbox::fs::fake::{FakeFs, Kernel, Op, ProcState, Psi};
/// use cgbox::fs::CgroupFs;
/// use cgbox::ErrorKind;
/// use rustix::io::Errno;
///
/// let fake = FakeFs::new(); // Linux 6.1, every controller, cgroup2 at /sys/fs/cgroup
/// assert_eq!(fake.kernel(), Kernel::V6_1);
/// assert_eq!(fake.mount(), Path::new("/sys/fs/cgroup"));
/// fake.mkdir_p("jobs/a")?;
/// assert_eq!(fake.cgroups(), ["/", "/jobs", "/jobs/a"]);
///
/// // Processes: spawn, fork, exit, reap.
/// let pid = fake.spawn("jobs/a")?;
/// let child = fake.fork(pid)?;
/// assert_eq!(fake.cgroup_of(child).as_deref(), Some("/jobs/a"));
/// fake.exit(child)?;
/// assert_eq!(fake.state(child), Some(ProcState::Zombie));
/// fake.reap(child)?;
/// assert_eq!(fake.state(child), None);
/// assert_eq!(fake.live_pids(), [fake.self_pid(), pid]);
///
/// // Contents a test needs, and faults the kernel can give.
/// fake.set_file("jobs/a", "memory.current", "1048576\n")?;
/// let a = fake.open_dir(Path::new("/sys/fs/cgroup/jobs/a"))?;
/// assert_eq!(fake.file("jobs/a", "memory.current")?, "1048576\n");
/// fake.fail(Op::Rmdir, "/jobs/a", Errno::BUSY, Some(1));
/// let jobs = fake.open_dir(Path::new("/sys/fs/cgroup/jobs"))?;
/// fake.set_kill_linger(Duration::from_millis(5)); // killed processes take 5 ms to go
/// fake.exit(pid)?;
/// fake.reap(pid)?;
/// drop(a);
/// assert!(fake.remove_child(&jobs, "a").unwrap_err().is_busy()); // the injected EBUSY
/// fake.clear_faults();
/// fake.remove_child(&jobs, "a")?;
///
/// // What other kernels and settings look like.
/// fake.hide_file("memory.peak"); // as before 5.19
/// fake.set_psi(Psi::Unsupported); // pressure files fail with EOPNOTSUPP
/// fake.set_realtime_outside_root(true); // enabling cpu fails with EINVAL
/// let old = FakeFs::with_kernel(Kernel::V5_10);
/// assert!(!old.has_file(&old.open_dir(Path::new("/sys/fs/cgroup/"))?, "cgroup.kill")?);
/// let few = FakeFs::with_kernel_controllers(Kernel::V6_12, &["cpu", "pids"]);
/// assert_eq!(few.kernel(), Kernel::V6_12);
/// let only_memory = FakeFs::with_controllers(&["memory"]);
/// assert_eq!(only_memory.file("", "cgroup.controllers")?, "memory\n");
///
/// // Where this process is: a systemd unit, delegated or not; a container.
/// let host = FakeFs::new();
/// host.enter("system.slice/agent.service")?;
/// host.set_xattr("system.slice/agent.service", "user.delegate", b"1")?;
/// assert_eq!(host.xattr("system.slice/agent.service", "user.delegate"), Some(b"1".to_vec()));
/// host.set_host_file("/proc/self/cgroup", "0::/system.slice/agent.service\n");
/// host.set_euid(1000);
/// let container = FakeFs::new();
/// container.enter_namespace("containers/c1")?; // /proc/self/cgroup says 0::/
///
/// // Locks, descriptors and the virtual clock.
/// let d = host.open_dir(Path::new("/sys/fs/cgroup/system.slice"))?;
/// assert!(host.try_lock(&d)?);
/// assert!(host.is_locked("system.slice"));
/// host.release_lock("system.slice")?; // as the kernel does when the holder dies
/// assert!(host.open_fds() >= 1);
/// host.advance(Duration::from_secs(3));
/// assert_eq!(host.clock(), Duration::from_secs(3));
/// let forker = host.spawn_forker("system.slice", 2)?; // forks while being killed
/// assert_eq!(host.state(forker), Some(ProcState::Running));
/// assert_eq!(ErrorKind::from_errno(Errno::BUSY.raw_os_error()), ErrorKind::Busy);
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FakeFs {
    state: Arc<Mutex<State>>,
    open_fds: Arc<Fds>,
}

/// An open cgroup directory of the fake.
///
/// See the [example](crate::fs::FakeFs#examples).
#[derive(Debug)]
pub struct FakeDir {
    id: u64,
    path: PathBuf,
    _fd: FdCount,
}

/// A kept interface file of the fake.
///
/// See the [example](crate::fs::FakeFs#examples).
#[derive(Debug)]
pub struct FakeFile {
    node: u64,
    name: String,
    path: PathBuf,
    access: Access,
    seen_gen: AtomicU64,
    _fd: FdCount,
}

/// A fake pidfd: the PID and the serial of the process it was opened for.
///
/// See the [example](crate::fs::FakeFs#examples).
#[derive(Debug)]
pub struct FakePidfd {
    pid: u32,
    serial: u64,
    _fd: FdCount,
}

/// Counts open fake descriptors, so tests can prove nothing leaks, and
/// gives each one an identity, so that a `flock` ends with its descriptor.
#[derive(Debug)]
pub(crate) struct FdCount {
    id: u64,
    fds: Arc<Fds>,
}

/// The open fake descriptors.
#[derive(Debug, Default)]
pub(crate) struct Fds {
    open: AtomicUsize,
    next: AtomicU64,
    live: Mutex<BTreeSet<u64>>,
}

impl Fds {
    fn is_open(&self, id: u64) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }
}

impl FdCount {
    fn new(fds: &Arc<Fds>) -> FdCount {
        fds.open.fetch_add(1, Ordering::SeqCst);
        let id = fds.next.fetch_add(1, Ordering::SeqCst);
        fds.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        FdCount {
            id,
            fds: fds.clone(),
        }
    }
}

impl Drop for FdCount {
    fn drop(&mut self) {
        self.fds.open.fetch_sub(1, Ordering::SeqCst);
        self.fds
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl Handle for FakeDir {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Handle for FakeFile {
    fn path(&self) -> &Path {
        &self.path
    }
}

const ROOT: u64 = 0;

impl Default for FakeFs {
    fn default() -> Self {
        FakeFs::new()
    }
}

impl FakeFs {
    /// A unified host: cgroup2 at `/sys/fs/cgroup` with every controller,
    /// this process (PID 1 of the fake) in the root cgroup, 2 CPUs, one
    /// memory node, one block device `259:0`.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn new() -> FakeFs {
        FakeFs::with_controllers(&CONTROLLERS)
    }

    /// Like [`FakeFs::new`] but only `controllers` are available at the root.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn with_controllers(controllers: &[&str]) -> FakeFs {
        FakeFs::with_kernel_controllers(Kernel::default(), controllers)
    }

    /// Like [`FakeFs::new`] but as `kernel` would be: its files, keys and
    /// controllers (see [`Kernel`]).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn with_kernel(kernel: Kernel) -> FakeFs {
        FakeFs::with_kernel_controllers(kernel, &CONTROLLERS)
    }

    /// As `kernel` would be, with only those of `controllers` available at
    /// the root that this kernel has.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn with_kernel_controllers(kernel: Kernel, controllers: &[&str]) -> FakeFs {
        let offered = kernel.controllers();
        let available = CONTROLLERS
            .iter()
            .copied()
            .filter(|c| controllers.contains(c) && offered.contains(c))
            .collect();
        let mut nodes = BTreeMap::new();
        nodes.insert(ROOT, Node::new("", None, Duration::ZERO));
        let mount = PathBuf::from("/sys/fs/cgroup");
        let mut host_files = BTreeMap::new();
        host_files.insert(PathBuf::from("/proc/self/cgroup"), b"0::/\n".to_vec());
        host_files.insert(
            PathBuf::from("/proc/self/mountinfo"),
            b"30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n".to_vec(),
        );
        host_files.insert(
            PathBuf::from("/proc/sys/kernel/osrelease"),
            format!("{}\n", kernel.release()).into_bytes(),
        );
        let state = State {
            mount,
            view_root: ROOT,
            available,
            nodes,
            next_node: 1,
            procs: procs::Procs::new(ROOT),
            host_files,
            clock: Duration::ZERO,
            events_gen: 0,
            faults: Vec::new(),
            hidden: BTreeSet::new(),
            psi: Psi::Enabled,
            realtime_outside_root: false,
            euid: 0,
            devices: [(259, 0)].into_iter().collect(),
            cpus: 2,
            mems: 1,
            kernel,
        };
        FakeFs {
            state: Arc::new(Mutex::new(state)),
            open_fds: Arc::new(Fds::default()),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (a failed assertion in a test) must
        // not hide the state from the rest of that test's cleanup.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kernel this fake imitates.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn kernel(&self) -> Kernel {
        self.lock().kernel
    }

    /// Where the fake cgroup2 is mounted.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn mount(&self) -> PathBuf {
        self.lock().mount.clone()
    }

    /// Set the contents of a host file such as `/proc/self/cgroup`.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn set_host_file(&self, path: impl Into<PathBuf>, content: impl Into<Vec<u8>>) {
        self.lock().host_files.insert(path.into(), content.into());
    }

    /// Create a cgroup and its missing parents, as an administrator would
    /// (rules apply: an existing name is left alone).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn mkdir_p(&self, path: &str) -> Result<()> {
        let mut st = self.lock();
        let mut id = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            id = match st.node(id)?.children.get(part) {
                Some(&child) => child,
                None => st.mkdir(id, part)?,
            };
        }
        Ok(())
    }

    /// Set what a file of the cgroup at `path` (relative to the mount)
    /// reads as, such as a real `memory.stat` sample. A file that the
    /// rules would not show is made to exist.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn set_file(&self, path: &str, file: &str, content: &str) -> Result<()> {
        let mut st = self.lock();
        let id = st.lookup(path)?;
        st.node_mut(id)?
            .values
            .insert(file.to_owned(), content.to_owned());
        Ok(())
    }

    /// What a file of the cgroup at `path` (relative to the mount) reads
    /// as, as a process would read it (through the same rules and faults).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn file(&self, path: &str, file: &str) -> Result<String> {
        let dir = self.open_dir(&self.mount().join(path))?;
        crate::fs::read_string(self, &dir, file)
    }

    /// Fail `op` on paths ending in `path_suffix` with `errno`, `times`
    /// times (`None`: always). The empty suffix matches every path.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn fail(&self, op: Op, path_suffix: &str, errno: Errno, times: Option<u32>) {
        self.lock().faults.push(Fault {
            op,
            path_suffix: path_suffix.to_owned(),
            errno,
            remaining: times,
        });
    }

    /// Remove all injected faults.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Hide an interface file everywhere, as a kernel that lacks it would
    /// (`memory.peak` before 5.19, `cgroup.kill` before 5.14).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn hide_file(&self, name: &str) {
        self.lock().hidden.insert(name.to_owned());
    }

    /// Choose how PSI files behave.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn set_psi(&self, psi: Psi) {
        self.lock().psi = psi;
    }

    /// Model real-time processes outside the root: enabling `cpu` fails with `EINVAL`.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn set_realtime_outside_root(&self, on: bool) {
        self.lock().realtime_outside_root = on;
    }

    /// Be a process in a private cgroup namespace rooted at the cgroup at
    /// `path` (relative to the real root), as a container is: the mount
    /// shows that cgroup as its root, `/proc/self/cgroup` says `0::/`, and
    /// this process moves into it. Paths given to the other test helpers
    /// stay relative to the real root.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn enter_namespace(&self, path: &str) -> Result<()> {
        self.mkdir_p(path)?;
        let mut st = self.lock();
        let id = st.lookup(path)?;
        st.view_root = id;
        let me = st.procs.self_pid;
        st.procs.move_to(me, id);
        st.events_gen += 1;
        st.host_files
            .insert(PathBuf::from("/proc/self/cgroup"), b"0::/\n".to_vec());
        Ok(())
    }

    /// Move this process into the cgroup at `path` and say so in
    /// `/proc/self/cgroup`, as a service manager starting us there would.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn enter(&self, path: &str) -> Result<()> {
        self.mkdir_p(path)?;
        let mut st = self.lock();
        let id = st.lookup(path)?;
        let me = st.procs.self_pid;
        st.procs.move_to(me, id);
        st.events_gen += 1;
        let shown = st.rel_path(id)?;
        st.host_files.insert(
            PathBuf::from("/proc/self/cgroup"),
            format!("0::{shown}\n").into_bytes(),
        );
        Ok(())
    }

    /// Set an extended attribute of the cgroup at `path` (relative to the
    /// mount), as systemd marks a delegated unit with `user.delegate`.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn set_xattr(&self, path: &str, name: &str, value: &[u8]) -> Result<()> {
        let mut st = self.lock();
        let id = st.lookup(path)?;
        st.node_mut(id)?
            .xattrs
            .insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    /// An extended attribute of the cgroup at `path`, if set.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn xattr(&self, path: &str, name: &str) -> Option<Vec<u8>> {
        let st = self.lock();
        let id = st.lookup(path).ok()?;
        st.node(id).ok()?.xattrs.get(name).cloned()
    }

    /// Run as this effective user ID (0, root, by default).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn set_euid(&self, euid: u32) {
        self.lock().euid = euid;
    }

    /// Whether a live descriptor holds the `flock` of the cgroup at `path`.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn is_locked(&self, path: &str) -> bool {
        let st = self.lock();
        let Ok(id) = st.lookup(path) else {
            return false;
        };
        st.node(id)
            .ok()
            .and_then(|n| n.lock)
            .is_some_and(|fd| self.open_fds.is_open(fd))
    }

    /// Drop the `flock` of the cgroup at `path`, as the kernel does when
    /// the process holding it dies.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn release_lock(&self, path: &str) -> Result<()> {
        let mut st = self.lock();
        let id = st.lookup(path)?;
        st.node_mut(id)?.lock = None;
        Ok(())
    }

    /// How many fake descriptors (dirs, files, pidfds) are open.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn open_fds(&self) -> usize {
        self.open_fds.open.load(Ordering::SeqCst)
    }

    /// The virtual clock.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn clock(&self) -> Duration {
        self.lock().clock
    }

    /// Advance the virtual clock (killed processes finish dying).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn advance(&self, by: Duration) {
        self.lock().advance(by);
    }

    /// Paths (relative to the mount, `/`-separated) of every cgroup, sorted.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn cgroups(&self) -> Vec<String> {
        let st = self.lock();
        let mut out: Vec<String> = st
            .nodes
            .keys()
            .filter_map(|&id| st.rel_path(id).ok())
            .collect();
        out.sort();
        out
    }

    pub(crate) fn new_fd(&self) -> FdCount {
        FdCount::new(&self.open_fds)
    }
}

impl State {
    fn node(&self, id: u64) -> Result<&Node> {
        self.nodes.get(&id).ok_or_else(|| gone(id))
    }

    fn node_mut(&mut self, id: u64) -> Result<&mut Node> {
        self.nodes.get_mut(&id).ok_or_else(|| gone(id))
    }

    fn rel_path(&self, id: u64) -> Result<String> {
        let mut parts = Vec::new();
        let mut cur = id;
        while let Some(parent) = self.node(cur)?.parent {
            parts.push(self.node(cur)?.name.clone());
            cur = parent;
        }
        parts.reverse();
        Ok(format!("/{}", parts.join("/")))
    }

    fn lookup(&self, rel: &str) -> Result<u64> {
        let mut id = ROOT;
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            id = *self.node(id)?.children.get(part).ok_or_else(|| {
                Error::from_errno("lookup", Path::new(rel), Errno::NOENT.raw_os_error())
            })?;
        }
        Ok(id)
    }

    fn mkdir(&mut self, parent: u64, name: &str) -> Result<u64> {
        let id = self.next_node;
        self.next_node += 1;
        let now = self.clock;
        let p = self.node_mut(parent)?;
        p.children.insert(name.to_owned(), id);
        p.changed = now;
        self.nodes.insert(id, Node::new(name, Some(parent), now));
        Ok(id)
    }

    /// The controllers listed in `cgroup.controllers` of `id`.
    fn controllers(&self, id: u64) -> Result<BTreeSet<&'static str>> {
        match self.node(id)?.parent {
            None => Ok(self.available.clone()),
            Some(p) => Ok(self.filter_threaded(id, self.node(p)?.subtree_control.clone())),
        }
    }

    fn is_ancestor_or_self(&self, ancestor: u64, mut id: u64) -> bool {
        loop {
            if id == ancestor {
                return true;
            }
            match self.nodes.get(&id).and_then(|n| n.parent) {
                Some(p) => id = p,
                None => return false,
            }
        }
    }

    fn frozen(&self, id: u64) -> bool {
        let mut cur = Some(id);
        while let Some(c) = cur {
            match self.nodes.get(&c) {
                Some(n) if n.freeze => return true,
                Some(n) => cur = n.parent,
                None => return false,
            }
        }
        false
    }

    fn populated(&self, id: u64) -> bool {
        self.procs
            .live()
            .any(|(_, p)| self.is_ancestor_or_self(id, p.cgroup))
    }

    /// Drop from `exits` the pidfds of processes that ended (readable at
    /// once, as the kernel's are); whether there were any.
    fn drop_ended(&self, exits: &mut Vec<FakePidfd>) -> bool {
        let before = exits.len();
        exits.retain(|p| {
            self.procs.serial(p.pid) == Some(p.serial)
                && matches!(
                    self.procs.state(p.pid),
                    Some(ProcState::Running | ProcState::Dying)
                )
        });
        exits.len() != before
    }

    fn advance(&mut self, by: Duration) {
        self.clock += by;
        if self.procs.finish_dying(self.clock) {
            self.events_gen += 1;
        }
    }

    fn take_fault(&mut self, op: Op, path: &Path) -> Option<Errno> {
        let text = path.to_string_lossy();
        let idx = self.faults.iter().position(|f| {
            f.op == op && text.ends_with(f.path_suffix.as_str()) && f.remaining != Some(0)
        })?;
        let fault = self.faults.get_mut(idx)?;
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        Some(fault.errno)
    }

    fn peek_fault(&self, op: Op, path: &Path) -> Option<Errno> {
        let text = path.to_string_lossy();
        self.faults
            .iter()
            .find(|f| {
                f.op == op && text.ends_with(f.path_suffix.as_str()) && f.remaining != Some(0)
            })
            .map(|f| f.errno)
    }

    fn check_fault(&mut self, op: Op, what: &str, path: &Path) -> Result<()> {
        match self.take_fault(op, path) {
            Some(errno) => Err(Error::from_rustix(what, path, errno)),
            None => Ok(()),
        }
    }

    fn resolve(&self, path: &Path) -> Result<u64> {
        let rel = path.strip_prefix(&self.mount).map_err(|_| {
            Error::new(ErrorKind::NotCgroup2, "open cgroup directory")
                .with_path(path)
                .with_detail(format!(
                    "not under the fake cgroup2 mount {}",
                    self.mount.display()
                ))
        })?;
        let mut id = self.view_root;
        for c in rel.components() {
            match c {
                Component::Normal(n) => {
                    let n = n.to_string_lossy();
                    id = *self.node(id)?.children.get(n.as_ref()).ok_or_else(|| {
                        Error::from_rustix("open cgroup directory", path, Errno::NOENT)
                    })?;
                }
                Component::CurDir => {}
                _ => {
                    return Err(Error::new(ErrorKind::InvalidName, "open cgroup directory")
                        .with_path(path)
                        .with_detail("the path contains '..'"));
                }
            }
        }
        Ok(id)
    }
}

fn gone(id: u64) -> Error {
    Error::from_rustix(
        "access cgroup",
        Path::new(&format!("<fake cgroup #{id}>")),
        Errno::NODEV,
    )
}

impl CgroupFs for FakeFs {
    type Dir = FakeDir;
    type File = FakeFile;
    type Pidfd = FakePidfd;

    fn read_host_file(&self, path: &Path) -> Result<Vec<u8>> {
        self.lock()
            .host_files
            .get(path)
            .cloned()
            .ok_or_else(|| Error::from_rustix("open", path, Errno::NOENT))
    }

    fn open_dir(&self, path: &Path) -> Result<FakeDir> {
        let mut st = self.lock();
        st.check_fault(Op::OpenDir, "open cgroup directory", path)?;
        let id = st.resolve(path)?;
        Ok(FakeDir {
            id,
            path: path.to_path_buf(),
            _fd: self.new_fd(),
        })
    }

    fn open_child(&self, dir: &FakeDir, name: &str) -> Result<FakeDir> {
        check_component(name, &dir.path)?;
        let path = dir.path.join(name);
        let mut st = self.lock();
        st.check_fault(Op::OpenDir, "open cgroup directory", &path)?;
        let id = *st
            .node(dir.id)
            .map_err(|_| Error::from_rustix("open cgroup directory", &path, Errno::NOENT))?
            .children
            .get(name)
            .ok_or_else(|| Error::from_rustix("open cgroup directory", &path, Errno::NOENT))?;
        Ok(FakeDir {
            id,
            path,
            _fd: self.new_fd(),
        })
    }

    fn make_child(&self, dir: &FakeDir, name: &str) -> Result<()> {
        check_component(name, &dir.path)?;
        let path = dir.path.join(name);
        let mut st = self.lock();
        st.check_fault(Op::Mkdir, "mkdir", &path)?;
        let node = st
            .node(dir.id)
            .map_err(|_| Error::from_rustix("mkdir", &path, Errno::NOENT))?;
        if node.children.contains_key(name) {
            return Err(Error::from_rustix("mkdir", &path, Errno::EXIST));
        }
        st.mkdir(dir.id, name)?;
        Ok(())
    }

    fn remove_child(&self, dir: &FakeDir, name: &str) -> Result<()> {
        check_component(name, &dir.path)?;
        let path = dir.path.join(name);
        let mut st = self.lock();
        st.check_fault(Op::Rmdir, "rmdir", &path)?;
        let err = |e: Errno| Error::from_rustix("rmdir", &path, e);
        let parent = st.node(dir.id).map_err(|_| err(Errno::NOENT))?;
        let id = *parent.children.get(name).ok_or_else(|| err(Errno::NOENT))?;
        let node = st.node(id)?;
        if !node.children.is_empty() || st.populated(id) {
            return Err(err(Errno::BUSY));
        }
        let now = st.clock;
        let p = st.node_mut(dir.id)?;
        p.children.remove(name);
        p.changed = now;
        st.nodes.remove(&id);
        Ok(())
    }

    fn child_names(&self, dir: &FakeDir) -> Result<Vec<String>> {
        let st = self.lock();
        let node = st
            .node(dir.id)
            .map_err(|_| Error::from_rustix("list", &dir.path, Errno::NOENT))?;
        Ok(node.children.keys().cloned().collect())
    }

    fn has_file(&self, dir: &FakeDir, name: &str) -> Result<bool> {
        check_component(name, &dir.path)?;
        let st = self.lock();
        st.node(dir.id)
            .map_err(|_| Error::from_rustix("stat", &dir.path.join(name), Errno::NOENT))?;
        Ok(st.file_exists(dir.id, name))
    }

    fn may_write(&self, dir: &FakeDir, name: Option<&str>) -> bool {
        let st = self.lock();
        let path = match name {
            Some(n) => dir.path.join(n),
            None => dir.path.clone(),
        };
        // access(W_OK) only looks: an injected EACCES/EPERM/EROFS for writes
        // there says no, and is left for the write itself.
        let denied = st
            .peek_fault(Op::Write, &path)
            .is_some_and(|e| e == Errno::ACCESS || e == Errno::PERM || e == Errno::ROFS);
        !denied && st.node(dir.id).is_ok()
    }

    fn read_file(&self, dir: &FakeDir, name: &str, buf: &mut Vec<u8>) -> Result<()> {
        let file = self.open_file(dir, name, Access::Read)?;
        let content = self.lock().read(&file)?;
        buf.clear();
        buf.extend_from_slice(content.as_bytes());
        Ok(())
    }

    fn write_file(&self, dir: &FakeDir, name: &str, data: &[u8]) -> Result<()> {
        let file = self.open_file(dir, name, Access::Write)?;
        self.lock().write(&file, data)
    }

    fn open_file(&self, dir: &FakeDir, name: &str, access: Access) -> Result<FakeFile> {
        check_component(name, &dir.path)?;
        let path = dir.path.join(name);
        let mut st = self.lock();
        st.check_fault(Op::Open, "open", &path)?;
        if st.node(dir.id).is_err() || !st.file_exists(dir.id, name) {
            return Err(Error::from_rustix("open", &path, Errno::NOENT));
        }

        Ok(FakeFile {
            node: dir.id,
            name: name.to_owned(),
            path,
            access,
            seen_gen: AtomicU64::new(st.events_gen),
            _fd: self.new_fd(),
        })
    }

    fn read_kept(&self, file: &FakeFile, buf: &mut [u8]) -> Result<usize> {
        let content = self.lock().read(file)?;
        let bytes = content.as_bytes();
        let n = bytes.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn write_kept(&self, file: &FakeFile, data: &[u8]) -> Result<()> {
        self.lock().write(file, data)
    }

    fn wait_for_change(
        &self,
        file: &FakeFile,
        exits: &mut Vec<FakePidfd>,
        timeout: Duration,
    ) -> Result<bool> {
        let mut st = self.lock();
        if st.drop_ended(exits) {
            return Ok(true);
        }
        st.node(file.node)
            .map_err(|_| Error::from_rustix("poll", &file.path, Errno::NODEV))?;
        if st.events_gen != file.seen_gen.load(Ordering::SeqCst) {
            return Ok(true);
        }
        let deadline = st.clock + timeout;
        match st.procs.next_death() {
            Some(at) if at <= deadline => {
                let by = at.saturating_sub(st.clock);
                st.advance(by);
                Ok(st.events_gen != file.seen_gen.load(Ordering::SeqCst))
            }
            _ => {
                st.advance(timeout);
                Ok(false)
            }
        }
    }

    fn wait_for_exit(&self, exits: &mut Vec<FakePidfd>, timeout: Duration) -> Result<bool> {
        let mut st = self.lock();
        let deadline = st.clock + timeout;
        loop {
            if st.drop_ended(exits) {
                return Ok(true);
            }
            // Time moves to the next death (ours or not) within the wait.
            match st.procs.next_death() {
                Some(at) if at <= deadline => {
                    let by = at.saturating_sub(st.clock);
                    st.advance(by);
                }
                _ => {
                    let by = deadline.saturating_sub(st.clock);
                    st.advance(by);
                    return Ok(st.drop_ended(exits));
                }
            }
        }
    }

    fn pidfd_open(&self, pid: u32) -> Result<FakePidfd> {
        let path = PathBuf::from(format!("/proc/{pid}"));
        let mut st = self.lock();
        st.check_fault(Op::PidfdOpen, "pidfd_open", &path)?;
        let serial = st
            .procs
            .serial(pid)
            .ok_or_else(|| Error::from_rustix("pidfd_open", &path, Errno::SRCH))?;
        Ok(FakePidfd {
            pid,
            serial,
            _fd: self.new_fd(),
        })
    }

    fn pidfd_kill(&self, pidfd: &FakePidfd) -> Result<()> {
        let mut st = self.lock();
        if st.procs.serial(pidfd.pid) != Some(pidfd.serial) {
            return Err(Error::from_rustix(
                "pidfd_send_signal",
                Path::new("pidfd"),
                Errno::SRCH,
            ));
        }
        let linger_until = st.clock + st.procs.kill_linger;
        if st.procs.kill(pidfd.pid, linger_until) {
            st.events_gen += 1;
        }
        Ok(())
    }

    fn read_xattr(&self, dir: &FakeDir, name: &str) -> Result<Option<Vec<u8>>> {
        let st = self.lock();
        let node = st
            .node(dir.id)
            .map_err(|_| Error::from_rustix("getxattr", &dir.path, Errno::NODEV))?;
        Ok(node.xattrs.get(name).cloned())
    }

    fn write_xattr(&self, dir: &FakeDir, name: &str, value: &[u8]) -> Result<()> {
        let mut st = self.lock();
        st.check_fault(Op::Write, "setxattr", &dir.path.join(name))?;
        let node = st
            .node_mut(dir.id)
            .map_err(|_| Error::from_rustix("setxattr", &dir.path, Errno::NODEV))?;
        node.xattrs.insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    fn try_lock(&self, dir: &FakeDir) -> Result<bool> {
        let mut st = self.lock();
        let fds = self.open_fds.clone();
        let node = st
            .node_mut(dir.id)
            .map_err(|_| Error::from_rustix("flock", &dir.path, Errno::NODEV))?;
        match node.lock {
            Some(fd) if fd != dir._fd.id && fds.is_open(fd) => Ok(false),
            _ => {
                node.lock = Some(dir._fd.id);
                Ok(true)
            }
        }
    }

    fn age(&self, dir: &FakeDir) -> Result<Duration> {
        let st = self.lock();
        let node = st
            .node(dir.id)
            .map_err(|_| Error::from_rustix("fstat", &dir.path, Errno::NODEV))?;
        Ok(st.clock.saturating_sub(node.changed))
    }

    fn self_pid(&self) -> u32 {
        self.lock().procs.self_pid
    }

    fn euid(&self) -> u32 {
        self.lock().euid
    }

    fn now(&self) -> Duration {
        self.lock().clock
    }

    fn sleep(&self, duration: Duration) {
        self.lock().advance(duration);
    }
}
