//! The raw-syscall floor's way to start a job: `clone3` straight into
//! `execve`, each wait as cgbox waits (a short spin first, see the
//! library's `src/spin.rs`) or asleep at once. One file for both floors:
//! the peer benchmark's (`mod raw`) and `cargo bench`'s
//! (`benches/cgbox.rs`, `#[path]`), x86_64 only.

use std::ffi::{CString, c_char};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::thread::futex;

/// `execve`'s arguments, prepared once.
pub struct Exec {
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

impl Exec {
    pub fn new(argv: &[&str]) -> Exec {
        let args: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(*a).expect("no NUL"))
            .collect();
        let vars: Vec<CString> = std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok()
            })
            .collect();
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain([std::ptr::null()])
                .collect::<Vec<_>>()
        };
        let (argv, envp) = (ptrs(&args), ptrs(&vars));
        Exec {
            _strings: args.into_iter().chain(vars).collect(),
            argv,
            envp,
        }
    }
}

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

#[repr(C, align(16))]
struct Chunk([u8; 16]);

/// What the child needs: the program, and a `cgroup.procs` to write
/// "0" to first (-1: none).
struct Child<'a> {
    exec: &'a Exec,
    procs: i32,
}

/// The child: the move if asked (exit_group(126) if it fails), execve,
/// else exit_group(127). Raw system calls only.
unsafe extern "C" fn child(ctx: *const Child<'_>) -> ! {
    // SAFETY: the parent keeps `ctx` alive until we exec or exit
    // (`wait_for_exec`); the arrays are NUL-terminated; `procs` is an open
    // fd of the parent's, shared until exec (CLONE_VM, not CLONE_FILES:
    // the child has a copy of the table).
    unsafe {
        let c = &*ctx;
        if c.procs >= 0 {
            let zero = b"0";
            let written: isize;
            std::arch::asm!("syscall", inlateout("rax") 1isize => written, in("rdi") c.procs,
                in("rsi") zero.as_ptr(), in("rdx") 1usize,
                lateout("rcx") _, lateout("r11") _, options(nostack));
            if written != 1 {
                std::arch::asm!("syscall", in("rax") 231, in("rdi") 126, options(noreturn, nostack));
            }
        }
        let e = c.exec;
        std::arch::asm!("syscall", inlateout("rax") 59isize => _, in("rdi") *e.argv.as_ptr(),
            in("rsi") e.argv.as_ptr(), in("rdx") e.envp.as_ptr(),
            lateout("rcx") _, lateout("r11") _, options(nostack));
        std::arch::asm!("syscall", in("rax") 231, in("rdi") 127, options(noreturn, nostack));
    }
}

/// Wait for a raw child, as cgbox waits (spinning first) or asleep at
/// once; its exit status 126 is the move that failed.
pub fn reap(pid: rustix::process::Pid, spinning: bool) -> Result<(), String> {
    let waited = if spinning {
        reap_spinning(pid)
    } else {
        rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
    };
    match waited {
        Ok(Some((_, s))) if s.exit_status() == Some(126) => {
            Err("the child could not move itself into its box".into())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("waitpid: {e}")),
    }
}

/// Start `exec` in the cgroup of `dir`; returns the PID once it has exec'd.
pub fn spawn(dir: BorrowedFd<'_>, exec: &Exec) -> Result<rustix::process::Pid, String> {
    // CLONE_INTO_CGROUP
    clone(0x2_0000_0000, dir.as_raw_fd(), &Child { exec, procs: -1 })
}

/// [`spawn`], the parent asleep in `clone3` until the exec
/// (`CLONE_VFORK`).
pub fn spawn_vfork(dir: BorrowedFd<'_>, exec: &Exec) -> Result<rustix::process::Pid, String> {
    // CLONE_VFORK | CLONE_INTO_CGROUP
    clone(
        0x4000 | 0x2_0000_0000,
        dir.as_raw_fd(),
        &Child { exec, procs: -1 },
    )
}

/// Start `exec` in our own cgroup; before exec it moves itself through
/// `procs` (a `cgroup.procs` open for writing). Returns the PID once it
/// has exec'd.
pub fn spawn_moving_itself(
    procs: BorrowedFd<'_>,
    exec: &Exec,
) -> Result<rustix::process::Pid, String> {
    let ctx = Child {
        exec,
        procs: procs.as_raw_fd(),
    };
    clone(0, -1, &ctx)
}

/// Spin as cgbox spins before a short sleep (`src/spin.rs`): until
/// `ready`, asked every 5 us with the CPU offered to others, or 200 us.
fn spin_until(mut ready: impl FnMut() -> bool) -> bool {
    let began = Instant::now();
    let mut looked = began;
    loop {
        std::hint::spin_loop();
        let now = Instant::now();
        if now.duration_since(looked) < Duration::from_micros(5) {
            continue;
        }
        if ready() {
            return true;
        }
        if now.duration_since(began) >= Duration::from_micros(200) {
            return false;
        }
        rustix::thread::sched_yield();
        looked = Instant::now();
    }
}

/// Wait until the kernel clears `word` (the child exec'd or exited),
/// as cgbox waits (`src/spawn/exec_wait.rs`): spin, then sleep on the
/// futex.
fn wait_for_exec(word: &AtomicU32) {
    let cleared = || word.load(Ordering::Acquire) == 0;
    if cleared() || spin_until(cleared) {
        return;
    }
    while !cleared() {
        let _ = futex::wait(word, futex::Flags::empty(), 1, None);
    }
}

/// Reap `pid` as cgbox waits for a killed job: spin on a non-blocking
/// wait, then block.
fn reap_spinning(
    pid: rustix::process::Pid,
) -> rustix::io::Result<Option<(rustix::process::Pid, rustix::process::WaitStatus)>> {
    let mut got = None;
    spin_until(|| {
        got = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG).transpose();
        got.is_some()
    });
    match got {
        Some(r) => r.map(Some),
        None => rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()),
    }
}

/// `clone3` with `flags` added to `CLONE_VM | CLONE_CHILD_CLEARTID`;
/// returns once the child has exec'd or exited (with `CLONE_VFORK` in
/// `flags`, clone3 itself waits, and the word is clear when it returns).
fn clone(flags: u64, cgroup: i32, ctx: &Child<'_>) -> Result<rustix::process::Pid, String> {
    let mut stack: Vec<Chunk> = Vec::with_capacity(1024);
    let running = AtomicU32::new(1);
    let args = CloneArgs {
        flags: 0x100 | 0x20_0000 | flags, // CLONE_VM | CLONE_CHILD_CLEARTID
        child_tid: running.as_ptr() as u64,
        exit_signal: 17, // SIGCHLD
        stack: stack.as_mut_ptr() as u64,
        stack_size: (stack.capacity() * 16) as u64,
        cgroup: u64::try_from(cgroup).unwrap_or(0),
        ..CloneArgs::default()
    };
    let ret: isize;
    // SAFETY: as in cgbox's clone3 path: the child starts on the unused,
    // aligned capacity of `stack`, which with `running` and `ctx` stays
    // alive until `wait_for_exec` sees the child exec'd or exited, with
    // r12/r13 holding its argument and entry point.
    unsafe {
        std::arch::asm!(
            "syscall", "test rax, rax", "jnz 2f",
            "xor ebp, ebp", "mov rdi, r12", "call r13", "ud2", "2:",
            inlateout("rax") 435isize => ret,
            in("rdi") &args as *const CloneArgs, in("rsi") size_of::<CloneArgs>(),
            in("r12") ctx as *const Child<'_>, in("r13") child as unsafe extern "C" fn(*const Child<'_>) -> !,
            lateout("rcx") _, lateout("r11") _, options(nostack),
        );
    }
    if ret > 0 {
        wait_for_exec(&running);
    }
    drop(stack);
    if ret <= 0 {
        return Err(format!("clone3: errno {}", -ret));
    }
    rustix::process::Pid::from_raw(ret as i32).ok_or_else(|| "clone3: no pid".into())
}
