//! The clone3 path: the child is created inside the box.
//!
//! One `clone3(CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_PIDFD |
//! CLONE_INTO_CGROUP | CLONE_CLEAR_SIGHAND)`, as glibc's `posix_spawn`
//! does it (with the cgroup added, and without `CLONE_VFORK`): the child
//! shares our memory on a stack of its own, so nothing is copied and the
//! cost does not grow with our size; the kernel charges it to the box from
//! its first instruction, so nothing is migrated and no `cgroup.procs` is
//! written; we wait until it has called `execve` (or died trying), spinning
//! briefly before we sleep (see [`exec_wait`](super::exec_wait) for why),
//! and get a pidfd for it.
//!
//! Between `clone3` and `execve` the child runs in our address space with
//! our thread's TLS, while our thread runs too. It may only make raw system
//! calls (rustix's, or `arch::syscall` here), read what the parent prepared
//! and store to two atomics: no allocation, no locks, no libc, no TLS, no
//! panics. Everything it needs is prepared beforehand ([`Plan`],
//! [`StdioSetup`]) and left alone until it has exec'd. No handler of
//! ours can run in it: `CLONE_CLEAR_SIGHAND` (5.5+) gives it only SIG_DFL
//! and SIG_IGN dispositions from birth, where glibc blocks every signal and
//! resets up to 64 handlers one system call at a time.

use std::ffi::c_char;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;
use rustix::process::Pid;

#[cfg(target_arch = "x86_64")]
use super::exec_wait;
use super::plan::{Plan, PlanError};
use super::{BoxChild, BoxCommand, Io};
use crate::fs::SysFs;
use crate::{BoxRef, Error, ErrorKind, Result};

/// What [`start`] did.
pub(crate) enum Outcome {
    /// The child runs, born in the box.
    Started(BoxChild),
    /// `clone3` cannot be used here; why (for the log). Nothing was started.
    Refused(String),
}

/// The errno that showed `clone3` into a cgroup to be unavailable in this
/// process for good (0: not seen).
static UNAVAILABLE: AtomicI32 = AtomicI32::new(0);

/// Why the child failed before `execve` succeeded (stored by the child).
const STEP_NONE: u8 = 0;
const STEP_STDIO: u8 = 1;
const STEP_CHDIR: u8 = 2;
const STEP_SETPGID: u8 = 3;
const STEP_EXEC: u8 = 4;
const STEP_CGROUPNS: u8 = 5;
const STEP_MOUNTNS: u8 = 6;
const STEP_REMOUNT: u8 = 7;

fn step_name(step: u8) -> &'static str {
    match step {
        STEP_STDIO => "set up stdio",
        STEP_CHDIR => "change directory",
        STEP_SETPGID => "set the process group",
        STEP_CGROUPNS => "make a cgroup namespace",
        STEP_MOUNTNS => "make its mounts slaves of ours",
        STEP_REMOUNT => "mount cgroup2 rooted at its box",
        _ => "exec",
    }
}

/// Start `cmd` in `jb` with `clone3`, or say why that cannot be done here.
pub(crate) fn start(jb: &BoxRef<SysFs>, cmd: &BoxCommand) -> Result<Outcome> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(Outcome::Refused(
            "the clone3 path is built for x86_64 only".into(),
        ));
    }
    let unavailable = UNAVAILABLE.load(Ordering::Relaxed);
    if unavailable != 0 {
        let errno = Errno::from_raw_os_error(unavailable);
        return Ok(Outcome::Refused(format!(
            "clone3 into a cgroup was refused earlier in this process ({errno})"
        )));
    }
    let program = Path::new(cmd.get_program());
    let what = || format!("start {} in box {}", program.display(), jb.path().display());
    let plan = Plan::new(cmd).map_err(|e| match e {
        PlanError::NotFound => Error::from_errno(what(), program, Errno::NOENT.raw_os_error())
            .with_detail("no such program on PATH"),
        PlanError::Nul(part) => Error::new(ErrorKind::InvalidInput, what())
            .with_path(program)
            .with_detail(format!("the {part} holds a NUL byte")),
    })?;
    if let Some(pg) = cmd.pgroup
        && pg < 0
    {
        return Err(
            Error::from_errno(what(), program, Errno::INVAL.raw_os_error())
                .with_detail(format!("process group {pg} is negative")),
        );
    }
    // With a cgroup namespace, cgroup2 is mounted again for the job,
    // rooted at its box (prepared here: the child only passes it on).
    let remount = match cmd.cgroup_namespace {
        true => jb.remount()?,
        false => None,
    };
    let stdio = StdioSetup::new(cmd)
        .map_err(|e| Error::from_rustix(format!("{}: set up stdio", what()), program, e))?;
    let ctx = ChildCtx {
        path: plan.path().as_ptr(),
        argv: plan.argv(),
        envp: plan.envp(),
        cwd: plan.cwd().map_or(std::ptr::null(), |c| c.as_ptr()),
        stdio: stdio.child,
        pgroup: cmd.pgroup.map(Pid::from_raw),
        unblock_signals: cmd.unblock_signals,
        cgroup_namespace: cmd.cgroup_namespace,
        remount: remount
            .as_ref()
            .map_or(std::ptr::null(), |r| r.target.as_ptr()),
        remount_flags: remount.as_ref().map_or(0, |r| r.flags.bits()),
        failed: AtomicU8::new(STEP_NONE),
        errno: AtomicI32::new(0),
    };
    let ret = clone_into(jb.dir().fd().as_raw_fd(), &ctx);
    // The child has exec'd or exited: its copies are its own now.
    let StdioSetup { parent, held, .. } = stdio;
    drop(held);
    let (pid, pidfd) = match ret {
        Ok(v) => v,
        Err(errno) => return refused(errno, jb.path(), &what),
    };
    let step = ctx.failed.load(Ordering::Acquire);
    if step != STEP_NONE {
        let errno = ctx.errno.load(Ordering::Acquire);
        reap(pid);
        let e = Error::from_errno(format!("{}: {}", what(), step_name(step)), program, errno);
        return Err(match (step, &cmd.cwd) {
            (STEP_CHDIR, Some(dir)) => e.with_detail(format!("directory {}", dir.display())),
            (STEP_CGROUPNS | STEP_MOUNTNS | STEP_REMOUNT, _) => {
                let e = match &remount {
                    Some(r) if step == STEP_REMOUNT => {
                        e.with_detail(format!("at {}", r.target.to_string_lossy()))
                    }
                    _ => e,
                };
                crate::spawn::explain_cgroupns(e)
            }
            _ => e,
        });
    }
    let pidfd = Arc::new(pidfd);
    let unreaped = jb.watch_exit(Arc::clone(&pidfd));
    Ok(Outcome::Started(BoxChild::born(
        pid, pidfd, unreaped, parent,
    )))
}

/// A failed `clone3`: the kernel lacks it or a filter refuses it (fall
/// back), or it refused this box (an error: the fork path would not do
/// better, and could dodge `pids.max` of the box).
fn refused(errno: Errno, box_path: &Path, what: &dyn Fn() -> String) -> Result<Outcome> {
    if errno == Errno::NOSYS || errno == Errno::TOOBIG {
        // No clone3 (before 5.3, or a seccomp filter such as Docker's
        // default profile), or no CLONE_INTO_CGROUP (5.3 to 5.6): for good.
        UNAVAILABLE.store(errno.raw_os_error(), Ordering::Relaxed);
        return Ok(Outcome::Refused(format!("clone3 into a cgroup: {errno}")));
    }
    if errno == Errno::PERM || errno == Errno::INVAL {
        // A seccomp or LSM refusal, or a kernel that does not know a flag
        // (CLONE_CLEAR_SIGHAND before 5.5, CLONE_INTO_CGROUP before 5.7).
        return Ok(Outcome::Refused(format!("clone3 into a cgroup: {errno}")));
    }
    Err(Error::from_rustix(
        format!("{}: clone3 into the box", what()),
        box_path,
        errno,
    ))
}

/// Reap a child that failed before `execve`.
fn reap(pid: Pid) {
    loop {
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
            Err(Errno::INTR) => continue,
            Ok(_) => return,
            Err(e) => {
                log::debug!("reap child {} that failed to start: {e}", pid.as_raw_pid());
                return;
            }
        }
    }
}

/// The child's fds 0, 1 and 2 as the command says, prepared in the parent.
struct StdioSetup {
    /// What the child `dup2`s onto 0, 1 and 2; -1 leaves it as it is.
    child: [RawFd; 3],
    /// Our ends of the pipes, for the [`BoxChild`].
    parent: [Option<OwnedFd>; 3],
    /// The child's ends and `/dev/null`, closed once the child has them.
    held: Vec<OwnedFd>,
}

/// `/dev/null`, opened once for every start that wants it (close-on-exec:
/// a child gets it only through its `dup2`).
fn dev_null() -> rustix::io::Result<&'static OwnedFd> {
    static NULL: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd);
    }
    let fd = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    // A racing start may have set it first: either will do.
    Ok(NULL.get_or_init(|| fd))
}

impl StdioSetup {
    fn new(cmd: &BoxCommand) -> rustix::io::Result<StdioSetup> {
        let mut setup = StdioSetup {
            child: [-1; 3],
            parent: [None, None, None],
            held: Vec::new(),
        };
        let mut null: Option<RawFd> = None;
        let wanted = [&cmd.stdin, &cmd.stdout, &cmd.stderr];
        for (i, io) in wanted.into_iter().enumerate() {
            let fd = match io.as_ref().map(|s| &s.0) {
                None | Some(Io::Inherit) => -1,
                Some(Io::Null) => match null {
                    Some(fd) => fd,
                    None => {
                        let raw = dev_null()?.as_raw_fd();
                        null = Some(raw);
                        raw
                    }
                },
                Some(Io::Piped) => {
                    let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
                    let (theirs, ours) = if i == 0 { (read, write) } else { (write, read) };
                    let raw = theirs.as_raw_fd();
                    setup.held.push(theirs);
                    if let Some(slot) = setup.parent.get_mut(i) {
                        *slot = Some(ours);
                    }
                    raw
                }
                // The command keeps the fd open while we run.
                Some(Io::Fd(fd)) => fd.as_raw_fd(),
            };
            if let Some(slot) = setup.child.get_mut(i) {
                *slot = fd;
            }
        }
        // A source among 0, 1, 2 could be overwritten by an earlier dup2
        // (and dup2 onto itself would keep CLOEXEC): move it up first.
        for slot in &mut setup.child {
            if (0..=2).contains(slot) {
                // SAFETY: `*slot` is open: one of ours, held above, or the
                // command's own fd, which it keeps while we run.
                let fd = unsafe { BorrowedFd::borrow_raw(*slot) };
                let moved = rustix::io::fcntl_dupfd_cloexec(fd, 3)?;
                *slot = moved.as_raw_fd();
                setup.held.push(moved);
            }
        }
        Ok(setup)
    }
}

/// What the child reads (prepared by the parent, alive and unchanged until
/// `clone_into` returns: the child has exec'd or ended) and the two atomics
/// it writes when it fails.
struct ChildCtx {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    stdio: [RawFd; 3],
    /// `Some(None)`: a new group led by the child (`setpgid(0, 0)`).
    pgroup: Option<Option<Pid>>,
    /// Empty the signal mask before exec (else it is inherited, as std does).
    unblock_signals: bool,
    /// `unshare(CLONE_NEWCGROUP)` first: the child, born in the box, makes
    /// it the root of its cgroup namespace.
    cgroup_namespace: bool,
    /// With it, where to mount cgroup2 again (NUL-terminated; null: not
    /// at all), in a mount namespace of its own, and the mount flags.
    remount: *const c_char,
    remount_flags: u32,
    failed: AtomicU8,
    errno: AtomicI32,
}

#[cfg(target_arch = "x86_64")]
mod arch {
    //! x86_64: system call numbers, the kernel's `struct sigaction`, a raw
    //! system call, and `clone3` with the child on its own stack.

    pub(super) const SYS_RT_SIGACTION: usize = 13;
    pub(super) const SYS_RT_SIGPROCMASK: usize = 14;
    pub(super) const SYS_DUP2: usize = 33;
    pub(super) const SYS_CHDIR: usize = 80;
    pub(super) const SYS_SETPGID: usize = 109;
    pub(super) const SYS_EXECVE: usize = 59;
    pub(super) const SYS_UNSHARE: usize = 272;
    pub(super) const SYS_MOUNT: usize = 165;
    pub(super) const SYS_UMOUNT2: usize = 166;
    pub(super) const SYS_EXIT_GROUP: usize = 231;
    pub(super) const SYS_CLONE3: usize = 435;

    /// The kernel's `struct sigaction` on x86_64 (`arch/x86/include/uapi`).
    #[repr(C)]
    #[derive(Default)]
    pub(super) struct KernelSigaction {
        pub(super) handler: usize,
        pub(super) flags: u64,
        pub(super) restorer: usize,
        pub(super) mask: u64,
    }

    /// One system call of up to four arguments; returns `-errno` on failure.
    ///
    /// # Safety
    ///
    /// The arguments must be valid for system call `nr`.
    #[inline(always)]
    pub(super) unsafe fn syscall(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
        // SAFETY: the caller vouches for the arguments; a fifth (r8) that
        // the call does not take is ignored by the kernel.
        unsafe { syscall5(nr, [a1, a2, a3, a4, 0]) }
    }

    /// One system call of five arguments; returns `-errno` on failure.
    ///
    /// # Safety
    ///
    /// The arguments must be valid for system call `nr`.
    #[inline(always)]
    pub(super) unsafe fn syscall5(nr: usize, args: [usize; 5]) -> isize {
        let ret: isize;
        let [a1, a2, a3, a4, a5] = args;
        // SAFETY: the `syscall` instruction clobbers only rax (the result),
        // rcx and r11; the caller vouches for the arguments.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") a1,
                in("rsi") a2,
                in("rdx") a3,
                in("r10") a4,
                in("r8") a5,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// `clone3(args, size)`. In the child, which starts on the stack that
    /// `args` names, calls `child(ctx)`, which must never return. In the
    /// parent, returns the child's PID or `-errno`.
    ///
    /// # Safety
    ///
    /// `args` must be a valid `struct clone_args` of `size` bytes whose
    /// stack is 16-byte aligned, writable and unused, and stays so until
    /// the child has exec'd or exited (the caller waits for that after
    /// this call returns); `child` must be fit to run there (see the module
    /// docs) and `ctx` valid for it until then.
    pub(super) unsafe fn clone3(
        args: *const u64,
        size: usize,
        child: unsafe extern "C" fn(*const super::ChildCtx) -> !,
        ctx: *const super::ChildCtx,
    ) -> isize {
        let ret: isize;
        // SAFETY: in the parent, `syscall` clobbers rax, rcx and r11 only.
        // In the child (rax = 0) the kernel has set rsp to the top of the
        // new stack (16-byte aligned, so the `call` leaves it as the ABI
        // wants at entry) and the other registers as ours, so r12 and r13
        // still hold `ctx` and `child`; rbp is cleared to end backtraces
        // there. `child` never returns; `ud2` stops it if it ever did.
        unsafe {
            std::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "xor ebp, ebp",
                "mov rdi, r12",
                "call r13",
                "ud2",
                "2:",
                inlateout("rax") SYS_CLONE3 as isize => ret,
                in("rdi") args,
                in("rsi") size,
                in("r12") ctx,
                in("r13") child,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }
}

/// `struct clone_args` (`linux/sched.h`, `CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_VM: u64 = 0x100;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
const SIGCHLD: u64 = 17;
const SIGPIPE: usize = 13;
const SIG_SETMASK: usize = 2;
/// `CLONE_NEWCGROUP` and `CLONE_NEWNS` (`include/uapi/linux/sched.h`).
const CLONE_NEWCGROUP: usize = 0x0200_0000;
const CLONE_NEWNS: usize = 0x0002_0000;
/// `MS_REC | MS_SLAVE` and `MNT_DETACH` (`include/uapi/linux/mount.h`).
const MS_REC_SLAVE: usize = 0x4000 | 0x8_0000;
const MNT_DETACH: usize = 2;
/// The child's stack: it makes a few raw system calls, nothing deeper.
const STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct StackChunk([u8; 16]);

/// A child's stack, used only until the child has exec'd or exited (the
/// parent waits for that): one kept for the next start, so that a
/// start allocates none. A second start at the same moment gets one of
/// its own.
#[cfg(target_arch = "x86_64")]
struct Stack(Vec<StackChunk>);

#[cfg(target_arch = "x86_64")]
static SPARE_STACK: std::sync::Mutex<Option<Vec<StackChunk>>> = std::sync::Mutex::new(None);

#[cfg(target_arch = "x86_64")]
impl Stack {
    fn take() -> Stack {
        let spare = SPARE_STACK.lock().ok().and_then(|mut s| s.take());
        Stack(spare.unwrap_or_else(|| Vec::with_capacity(STACK_SIZE / size_of::<StackChunk>())))
    }

    fn as_mut_ptr(&mut self) -> *mut StackChunk {
        self.0.as_mut_ptr()
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }

    fn give_back(self) {
        if let Ok(mut spare) = SPARE_STACK.lock() {
            spare.get_or_insert(self.0);
        }
    }
}

/// Clone the child into the cgroup of `cgroup_fd`; returns its PID and
/// pidfd once it has exec'd or exited, or the errno of `clone3`. Returns
/// only once the child no longer uses the stack or `ctx`.
#[cfg(target_arch = "x86_64")]
fn clone_into(cgroup_fd: RawFd, ctx: &ChildCtx) -> std::result::Result<(Pid, OwnedFd), Errno> {
    use arch::clone3;
    let mut stack = Stack::take();
    let mut pidfd: RawFd = -1;
    // Cleared by the kernel when the child execs or exits.
    let running = AtomicU32::new(exec_wait::RUNNING);
    let args = CloneArgs {
        flags: CLONE_VM
            | CLONE_CHILD_CLEARTID
            | CLONE_PIDFD
            | CLONE_INTO_CGROUP
            | CLONE_CLEAR_SIGHAND,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        child_tid: running.as_ptr() as u64,
        exit_signal: SIGCHLD,
        stack: stack.as_mut_ptr() as u64,
        stack_size: (stack.capacity() * size_of::<StackChunk>()) as u64,
        cgroup: u64::try_from(cgroup_fd).map_err(|_| Errno::BADF)?,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a complete clone_args whose stack is the unused,
    // 16-byte aligned capacity of `stack`, and whose child_tid points at
    // `running`; both outlive the child's use of them: `wait_for_exec`
    // below returns only once the child has exec'd or exited, before
    // `stack` is given back and before `running`, `pidfd` and `ctx` (which
    // the caller keeps until we return) go. `child_main` follows the rules
    // of the module docs.
    let ret = unsafe {
        clone3(
            std::ptr::addr_of!(args).cast::<u64>(),
            size_of::<CloneArgs>(),
            child_main,
            ctx,
        )
    };
    if ret < 0 {
        stack.give_back();
        return Err(Errno::from_raw_os_error(ret.unsigned_abs() as i32));
    }
    // The kernel stored the pidfd through the pointer in `args` before
    // clone3 returned.
    // SAFETY: reading a local that is initialised; the child never writes it.
    let pidfd = unsafe { std::ptr::read_volatile(std::ptr::addr_of!(pidfd)) };
    // SAFETY: CLONE_PIDFD gave us this new fd, owned by nobody else (a
    // negative one cannot come with a child: clone3 would have failed).
    let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    exec_wait::wait_for_exec(&running, pidfd.as_ref().map(|fd| fd.as_fd()));
    stack.give_back();
    // Neither can fail once clone3 has made a child; if one did, the error
    // must not be one that sends the caller to the fork path (a second
    // start): ESRCH and EBADF are not.
    let pid = i32::try_from(ret)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or(Errno::SRCH)?;
    Ok((pid, pidfd.ok_or(Errno::BADF)?))
}

#[cfg(not(target_arch = "x86_64"))]
fn clone_into(_cgroup_fd: RawFd, _ctx: &ChildCtx) -> std::result::Result<(Pid, OwnedFd), Errno> {
    Err(Errno::NOSYS)
}

/// The child, from `clone3` to `execve`: SIGPIPE back to SIG_DFL, stdio,
/// directory, process group and signal mask as asked, exec. On failure
/// it stores the step and errno where the parent reads them, and exits 127.
///
/// # Safety
///
/// Only as the entry point of a `clone3` child (see the module docs), with
/// `ctx` valid until it execs or exits.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn child_main(ctx: *const ChildCtx) -> ! {
    use arch::{
        KernelSigaction, SYS_CHDIR, SYS_DUP2, SYS_EXECVE, SYS_EXIT_GROUP, SYS_MOUNT,
        SYS_RT_SIGACTION, SYS_RT_SIGPROCMASK, SYS_SETPGID, SYS_UMOUNT2, SYS_UNSHARE, syscall,
        syscall5,
    };
    // SAFETY: the parent keeps `ctx` alive and unchanged until we exec or
    // exit; we only write to its atomics.
    let ctx = unsafe { &*ctx };
    let fail = |step: u8, errno: i32| -> ! {
        ctx.errno.store(errno, Ordering::Release);
        ctx.failed.store(step, Ordering::Release);
        // SAFETY: exit_group takes a plain integer and does not return.
        unsafe { syscall(SYS_EXIT_GROUP, 127, 0, 0, 0) };
        // exit_group does not return; spin rather than touch anything.
        #[allow(clippy::empty_loop)]
        loop {}
    };
    if ctx.cgroup_namespace {
        let remount = !ctx.remount.is_null();
        let flags = CLONE_NEWCGROUP | if remount { CLONE_NEWNS } else { 0 };
        // SAFETY: unshare takes a flag word and touches only this task
        // (it has a fs_struct of its own: no CLONE_FS).
        let ret = unsafe { syscall(SYS_UNSHARE, flags, 0, 0, 0) };
        if ret < 0 {
            fail(STEP_CGROUPNS, ret.unsigned_abs() as i32);
        }
        if remount {
            // As `Remount::mount` does on the fork path: every mount a
            // slave (nothing the job mounts reaches the host), the old
            // cgroup2 mount out of the job's view (best effort: the new
            // one hides it anyway), cgroup2 mounted there from inside the
            // new cgroup namespace, so rooted at the box and with the
            // superblock's flags (nsdelegate) left alone.
            // SAFETY: mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) with
            // a static string.
            let ret =
                unsafe { syscall5(SYS_MOUNT, [0, c"/".as_ptr() as usize, 0, MS_REC_SLAVE, 0]) };
            if ret < 0 {
                fail(STEP_MOUNTNS, ret.unsigned_abs() as i32);
            }
            // SAFETY: umount2 of the parent's NUL-terminated mount point.
            unsafe { syscall(SYS_UMOUNT2, ctx.remount as usize, MNT_DETACH, 0, 0) };
            // SAFETY: mount("cgroup2", target, "cgroup2", flags, NULL)
            // with static strings and the parent's mount point.
            let ret = unsafe {
                syscall5(
                    SYS_MOUNT,
                    [
                        c"cgroup2".as_ptr() as usize,
                        ctx.remount as usize,
                        c"cgroup2".as_ptr() as usize,
                        ctx.remount_flags as usize,
                        0,
                    ],
                )
            };
            if ret < 0 {
                fail(STEP_REMOUNT, ret.unsigned_abs() as i32);
            }
        }
    }
    // SIGPIPE to SIG_DFL, as std gives its children (std ignores it in
    // itself); other ignored signals stay ignored across exec, as always.
    let default = KernelSigaction::default();
    // SAFETY: rt_sigaction installing SIG_DFL from a local of the kernel's
    // layout. It cannot fail for SIGPIPE; if it did, the program would
    // merely start with SIGPIPE ignored.
    unsafe {
        syscall(
            SYS_RT_SIGACTION,
            SIGPIPE,
            std::ptr::addr_of!(default) as usize,
            0,
            8,
        )
    };
    // Stdio: every source fd is 3 or above (see StdioSetup), so the
    // dup2s cannot disturb each other, and dup2 clears CLOEXEC. Raw calls
    // here and below, not rustix's: built on libc (its `use-libc` feature,
    // which any crate in a program can turn on), those would store errno
    // in the TLS our parent's thread is using meanwhile.
    for (target, &fd) in ctx.stdio.iter().enumerate() {
        if fd >= 0 {
            // SAFETY: dup2 of two plain integers; `fd` (not -1) is open in
            // our copy of the fd table.
            let ret = unsafe { syscall(SYS_DUP2, fd as usize, target, 0, 0) };
            if ret < 0 {
                fail(STEP_STDIO, ret.unsigned_abs() as i32);
            }
        }
    }
    if !ctx.cwd.is_null() {
        // SAFETY: chdir of a NUL-terminated string of the parent's plan.
        let ret = unsafe { syscall(SYS_CHDIR, ctx.cwd as usize, 0, 0, 0) };
        if ret < 0 {
            fail(STEP_CHDIR, ret.unsigned_abs() as i32);
        }
    }
    if let Some(pgroup) = ctx.pgroup {
        // `None`: a new group led by the child (0 there, as setpgid(0, 0)).
        let pgid = pgroup.map_or(0, |p| p.as_raw_pid() as usize);
        // SAFETY: setpgid of plain integers, for ourselves (0).
        let ret = unsafe { syscall(SYS_SETPGID, 0, pgid, 0, 0) };
        if ret < 0 {
            fail(STEP_SETPGID, ret.unsigned_abs() as i32);
        }
    }
    if ctx.unblock_signals {
        let empty: u64 = 0;
        // SAFETY: rt_sigprocmask from a local set of the kernel's size.
        unsafe {
            syscall(
                SYS_RT_SIGPROCMASK,
                SIG_SETMASK,
                std::ptr::addr_of!(empty) as usize,
                0,
                8,
            )
        };
    }
    // SAFETY: path, argv and envp are the plan's NUL-terminated arrays.
    let ret = unsafe {
        syscall(
            SYS_EXECVE,
            ctx.path as usize,
            ctx.argv as usize,
            ctx.envp as usize,
            0,
        )
    };
    fail(STEP_EXEC, ret.unsigned_abs() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_clone3_falls_back_for_good_and_a_refusing_box_is_an_error() {
        let path = Path::new("/sys/fs/cgroup/b");
        let what = || "start x".to_owned();
        for errno in [Errno::PERM, Errno::INVAL] {
            let out = refused(errno, path, &what).unwrap();
            assert!(matches!(out, Outcome::Refused(_)), "{errno}");
            assert_eq!(
                UNAVAILABLE.load(Ordering::Relaxed),
                0,
                "{errno}: not for good"
            );
        }
        // The box's own refusals: the fork path would not do better (and
        // would dodge pids.max, which counts at fork only).
        for errno in [
            Errno::AGAIN,
            Errno::BUSY,
            Errno::OPNOTSUPP,
            Errno::NODEV,
            Errno::ACCESS,
        ] {
            let e = match refused(errno, path, &what) {
                Err(e) => e,
                Ok(_) => panic!("{errno} fell back"),
            };
            assert_eq!(e.errno(), Some(errno.raw_os_error()));
            assert_eq!(e.path(), Some(path));
        }
        for errno in [Errno::NOSYS, Errno::TOOBIG] {
            let Outcome::Refused(reason) = refused(errno, path, &what).unwrap() else {
                panic!("{errno} did not fall back");
            };
            assert!(reason.contains(&errno.to_string()), "{reason}");
            assert_eq!(UNAVAILABLE.load(Ordering::Relaxed), errno.raw_os_error());
            UNAVAILABLE.store(0, Ordering::Relaxed);
        }
    }
}
