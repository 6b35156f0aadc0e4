//! [`BoxCommand`]: what to start in a box, in the words of
//! [`std::process::Command`], so that every setting can be read back.
//!
//! A `std::process::Command` cannot say how its stdio was configured, nor
//! whether it carries a `pre_exec` hook, a uid or a gid: the fast path could
//! not know whether it is being faithful. `BoxCommand` holds the same
//! settings in the open, runs them on the fast path when it can, and turns
//! itself into an exactly equivalent `Command` when it cannot.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A `sigset_t` of the C library (128 bytes on Linux in glibc and musl).
#[repr(C)]
struct SigSet([u64; 16]);
const SIG_SETMASK: i32 = 2;

unsafe extern "C" {
    // From the C library std links; async-signal-safe.
    fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
}

/// A hook run in the child between fork and exec (fallback path only).
type Hook = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// Where a child's stdin, stdout or stderr goes, as [`std::process::Stdio`].
///
/// See the [example](crate::BoxCommand#examples).
#[derive(Clone)]
pub struct Stdio(pub(crate) Io);

#[derive(Clone)]
pub(crate) enum Io {
    Inherit,
    Null,
    Piped,
    Fd(Arc<OwnedFd>),
}

impl Stdio {
    /// The child shares this process's descriptor.
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn inherit() -> Stdio {
        Stdio(Io::Inherit)
    }

    /// The child gets `/dev/null`.
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn null() -> Stdio {
        Stdio(Io::Null)
    }

    /// A new pipe; its other end is handed back in [`BoxChild`](super::BoxChild).
    ///
    /// See the [example](crate::BoxCommand#examples).
    pub fn piped() -> Stdio {
        Stdio(Io::Piped)
    }

    fn to_std(&self) -> io::Result<std::process::Stdio> {
        Ok(match &self.0 {
            Io::Inherit => std::process::Stdio::inherit(),
            Io::Null => std::process::Stdio::null(),
            Io::Piped => std::process::Stdio::piped(),
            Io::Fd(fd) => std::process::Stdio::from(fd.try_clone()?),
        })
    }
}

impl From<OwnedFd> for Stdio {
    /// The child gets a duplicate of `fd`, which the command keeps (so it
    /// can be started again).
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(Io::Fd(Arc::new(fd)))
    }
}

impl From<File> for Stdio {
    fn from(file: File) -> Stdio {
        Stdio::from(OwnedFd::from(file))
    }
}

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Io::Inherit => f.write_str("Inherit"),
            Io::Null => f.write_str("Null"),
            Io::Piped => f.write_str("Piped"),
            Io::Fd(fd) => write!(f, "Fd({fd:?})"),
        }
    }
}

/// A program to start in a box with [`BoxRef::start`](crate::BoxRef::start):
/// the settings of [`std::process::Command`] that a job needs, each of them
/// readable, so that the clone3 path can honour them all or step aside.
///
/// Program, `arg0`, arguments, environment, working directory, stdio,
/// process group, [`BoxCommand::unblock_signals`] and
/// [`BoxCommand::cgroup_namespace`] run on the fast path.
/// As with std, the program inherits ignored signals and the signal mask
/// and gets SIGPIPE at its default, and a command whose environment is left
/// alone passes ours on as the C library holds it (`environ`, not copied:
/// so, as `std::env::set_var`'s safety rules say, no thread may change the
/// environment while another starts a job); `execve` fails with `ENOEXEC` for a
/// file without `#!` (as `posix_spawn`, which std uses where it can; std's
/// fork path, like `execvp`, would run it with `/bin/sh`). A uid, a gid or a `pre_exec` hook
/// make [`BoxRef::start`](crate::BoxRef::start) use the fork path (logged at
/// debug level), with an equivalent `std::process::Command`.
///
/// Two ways in:
///
/// - [`BoxRef::start`](crate::BoxRef::start) with a [`BoxCommand`]: on Linux 5.7+ (x86_64) the
///   child is created inside the box by one `clone3` with
///   `CLONE_INTO_CGROUP`, `CLONE_PIDFD` and shared memory on a stack of its
///   own, as `posix_spawn` does: nothing is migrated, no `cgroup.procs` is
///   written, and the cost does not grow with the size of this process.
///   `start` returns once the child has called `execve`; it spins for up to
///   200 us before it sleeps on that, which on virtual machines whose idle
///   CPUs halt saves 50 us to 1 ms of wake-up per start, for 30 to 60 us
///   of CPU time. Where `clone3` is missing or refused (`ENOSYS`, as
///   Docker's default seccomp profile answers; `EPERM`; `E2BIG` or `EINVAL`
///   from kernels before 5.7), or the command asks for a uid, a gid or a
///   `pre_exec` hook, it takes the fork path below instead, and says why at
///   debug level. Either way a [`BoxChild`](crate::BoxChild) comes back, with the pipes and
///   a pidfd.
/// - [`BoxRef::spawn`](crate::BoxRef::spawn) with a `std::process::Command` (the fork path): the
///   child of `fork` writes `0` to a duplicate of the box's `cgroup.procs`
///   in a `pre_exec` hook and only then `exec`s, so the program never runs
///   outside the box. The hook makes std fork the whole process instead of
///   using `posix_spawn`, and the move takes the cgroup lock: slower.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use cgbox::Builder;
/// use cgbox::fs::SysFs;
/// use cgbox::{BoxCommand, Stdio};
///
/// let job = Builder::new().create(Arc::new(SysFs::new()?))?;
/// let mut cmd = BoxCommand::new("cat");
/// cmd.arg("/proc/self/cgroup").stdout(Stdio::piped());
/// let child = job.start(&cmd)?;
/// assert!(child.born_inside()); // on Linux 5.7+, x86_64
/// let out = child.wait_with_output()?;
/// assert!(String::from_utf8_lossy(&out.stdout).contains(job.name()));
/// job.destroy()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The fork path, with a `std::process::Command`:
///
/// ```no_run
/// use std::process::Command;
/// use std::sync::Arc;
/// use cgbox::fs::SysFs;
/// use cgbox::{Builder, Limits, Size};
///
/// let job = Builder::new()
///     .limits(Limits::new().memory_max(Size::parse("1G")?).cpus(2.0))
///     .create(Arc::new(SysFs::new()?))?;
/// let mut child = job.spawn(Command::new("make").arg("-j4"))?; // born in the box
/// let status = child.wait()?;
/// job.destroy()?; // and whatever make left running goes with the box
/// println!("make: {status}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A command's settings, as std's `Command` has them:
///
/// ```
/// use cgbox::{BoxCommand, Stdio};
///
/// let mut cmd = BoxCommand::new("make");
/// cmd.args(["-j4", "all"]).env("LANG", "C").current_dir("/tmp").stdout(Stdio::piped());
/// assert_eq!(cmd.get_program(), "make");
/// assert_eq!(cmd.get_args().count(), 2);
/// ```
#[derive(Clone)]
pub struct BoxCommand {
    pub(crate) program: OsString,
    pub(crate) arg0: Option<OsString>,
    pub(crate) args: Vec<OsString>,
    pub(crate) env_clear: bool,
    pub(crate) env: BTreeMap<OsString, Option<OsString>>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    pub(crate) pgroup: Option<i32>,
    pub(crate) unblock_signals: bool,
    pub(crate) cgroup_namespace: bool,
    uid: Option<u32>,
    gid: Option<u32>,
    hooks: Vec<Hook>,
    pub(crate) force_fallback: bool,
}

impl BoxCommand {
    /// A command for `program`: found on `PATH` (the child's, if the
    /// command sets one) unless it holds a `/`; stdio inherited.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn new(program: impl AsRef<OsStr>) -> BoxCommand {
        BoxCommand {
            program: program.as_ref().to_owned(),
            arg0: None,
            args: Vec::new(),
            env_clear: false,
            env: BTreeMap::new(),
            cwd: None,
            stdin: None,
            stdout: None,
            stderr: None,
            pgroup: None,
            unblock_signals: false,
            cgroup_namespace: false,
            uid: None,
            gid: None,
            hooks: Vec::new(),
            force_fallback: false,
        }
    }

    /// Add an argument.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut BoxCommand {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Add arguments.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn args<I, S>(&mut self, args: I) -> &mut BoxCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// The program's `argv[0]` (default: the program as given).
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut BoxCommand {
        self.arg0 = Some(arg0.as_ref().to_owned());
        self
    }

    /// Set an environment variable for the child.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut BoxCommand {
        self.env
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Set several environment variables for the child.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut BoxCommand
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Remove an environment variable from the child's environment.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut BoxCommand {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Start the child with an empty environment, plus what is set after this.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn env_clear(&mut self) -> &mut BoxCommand {
        self.env.clear();
        self.env_clear = true;
        self
    }

    /// The child's working directory (relative paths are relative to ours).
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut BoxCommand {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The child's stdin (default: inherited).
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn stdin(&mut self, io: Stdio) -> &mut BoxCommand {
        self.stdin = Some(io);
        self
    }

    /// The child's stdout (default: inherited).
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn stdout(&mut self, io: Stdio) -> &mut BoxCommand {
        self.stdout = Some(io);
        self
    }

    /// The child's stderr (default: inherited).
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn stderr(&mut self, io: Stdio) -> &mut BoxCommand {
        self.stderr = Some(io);
        self
    }

    /// Put the child in process group `pgroup` (0: a new group led by the
    /// child), as [`CommandExt::process_group`].
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn process_group(&mut self, pgroup: i32) -> &mut BoxCommand {
        self.pgroup = Some(pgroup);
        self
    }

    /// Start the program with no signal blocked. By default it inherits
    /// this thread's signal mask, as `std::process::Command`'s children do;
    /// a caller that blocks signals for itself (to read them from a
    /// signalfd, say) wants this.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn unblock_signals(&mut self) -> &mut BoxCommand {
        self.unblock_signals = true;
        self
    }

    /// Give the program a cgroup namespace rooted at the box, and the box
    /// as its whole cgroup tree, as container runtimes give a container:
    /// it sees the box as `/` in `/proc/self/cgroup`, and in a mount
    /// namespace of its own cgroup2 is mounted again where this process
    /// sees it (`/sys/fs/cgroup`), rooted at the box, so that
    /// `/sys/fs/cgroup/memory.max` is the box's. Its mounts are slaves of
    /// ours: nothing it mounts reaches this process's namespace. Where
    /// cgroup2 is mounted with `nsdelegate` (systemd does, and so does
    /// every container runtime) it cannot move itself, or anything, out of
    /// the box, even as root: the kernel answers `ENOENT` for a cgroup
    /// outside the namespace, and it cannot write the box's own limits.
    /// Making the namespaces and the mount needs `CAP_SYS_ADMIN`; without
    /// it the start fails with `EPERM` and nothing runs. They are made by
    /// the child once it is in the box, on both paths. In a fixture tree
    /// (no cgroup2) only the cgroup namespace is made.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn cgroup_namespace(&mut self) -> &mut BoxCommand {
        self.cgroup_namespace = true;
        self
    }

    /// Run the child as this user (fork path).
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn uid(&mut self, uid: u32) -> &mut BoxCommand {
        self.uid = Some(uid);
        self
    }

    /// Run the child as this group (fork path).
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn gid(&mut self, gid: u32) -> &mut BoxCommand {
        self.gid = Some(gid);
        self
    }

    /// Run `hook` in the child after the fork and before `exec`, as
    /// [`CommandExt::pre_exec`] (fork path).
    ///
    /// # Safety
    ///
    /// As for [`CommandExt::pre_exec`]: the hook runs in a forked child of
    /// a possibly multi-threaded process and may only do what is
    /// async-signal-safe.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub unsafe fn pre_exec<H>(&mut self, hook: H) -> &mut BoxCommand
    where
        H: Fn() -> io::Result<()> + Send + Sync + 'static,
    {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Always take the fork path (tests and benchmarks of the fallback).
    #[doc(hidden)]
    pub fn force_fallback(&mut self, yes: bool) -> &mut BoxCommand {
        self.force_fallback = yes;
        self
    }

    /// The program, as given.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments after `argv[0]`.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn get_args(&self) -> impl ExactSizeIterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The environment changes: `None` for a removed variable.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn get_envs(&self) -> impl ExactSizeIterator<Item = (&OsStr, Option<&OsStr>)> {
        self.env.iter().map(|(k, v)| (k.as_os_str(), v.as_deref()))
    }

    /// The working directory, if one is set.
    ///
    /// See the [example](crate::spawn::BoxCommand#examples).
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// Why this command cannot take the clone3 path, if it cannot.
    pub(crate) fn fork_only(&self) -> Option<&'static str> {
        if self.force_fallback {
            Some("the fork path was asked for (force_fallback)")
        } else if !self.hooks.is_empty() {
            Some("the command has a pre_exec hook")
        } else if self.uid.is_some() || self.gid.is_some() {
            Some("the command sets a uid or gid")
        } else {
            None
        }
    }

    /// An equivalent `std::process::Command` (the fork path).
    pub(crate) fn to_std(&self) -> io::Result<std::process::Command> {
        let mut cmd = std::process::Command::new(&self.program);
        if let Some(arg0) = &self.arg0 {
            cmd.arg0(arg0);
        }
        cmd.args(&self.args);
        if self.env_clear {
            cmd.env_clear();
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if let Some(io) = &self.stdin {
            cmd.stdin(io.to_std()?);
        }
        if let Some(io) = &self.stdout {
            cmd.stdout(io.to_std()?);
        }
        if let Some(io) = &self.stderr {
            cmd.stderr(io.to_std()?);
        }
        if let Some(pg) = self.pgroup {
            cmd.process_group(pg);
        }
        if let Some(uid) = self.uid {
            cmd.uid(uid);
        }
        if let Some(gid) = self.gid {
            cmd.gid(gid);
        }
        if self.unblock_signals {
            // SAFETY: between fork and exec the hook makes one sigprocmask
            // call on a zeroed set of its own: async-signal-safe, no
            // allocation.
            unsafe {
                cmd.pre_exec(|| {
                    let empty = SigSet([0; 16]);
                    if sigprocmask(SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        for hook in &self.hooks {
            let hook = hook.clone();
            // SAFETY: the caller of `BoxCommand::pre_exec` promised that the
            // hook is fit to run between fork and exec.
            unsafe {
                cmd.pre_exec(move || hook());
            }
        }
        Ok(cmd)
    }
}

impl fmt::Debug for BoxCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxCommand")
            .field("program", &self.program)
            .field("arg0", &self.arg0)
            .field("args", &self.args)
            .field("env_clear", &self.env_clear)
            .field("env", &self.env)
            .field("cwd", &self.cwd)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("pgroup", &self.pgroup)
            .field("unblock_signals", &self.unblock_signals)
            .field("cgroup_namespace", &self.cgroup_namespace)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("pre_exec hooks", &self.hooks.len())
            .finish()
    }
}
