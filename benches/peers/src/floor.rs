//! The raw-syscall floor, counted beside the contenders (not timed here:
//! `cargo bench` times it): what the kernel needs at least for an
//! operation, with nothing a library adds. The lifecycle is the floor of
//! `benches/cgbox.rs`: `mkdir`, open the directory, `clone3(CLONE_VM |
//! CLONE_CHILD_CLEARTID | CLONE_INTO_CGROUP)` straight into `execve`
//! (nothing else in the child), `cgroup.kill`, `waitpid`, `rmdir`, each
//! wait (for the exec, for the exit) as cgbox waits: a short spin first.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::peers::{CPU_MAX, MEMORY_MAX, PIDS_MAX};
use crate::sandbox::MOUNT;

/// The floor's home, `/sys/fs/cgroup/floor`, open, with the controllers
/// its boxes need enabled on the way (as the tokio manager does).
pub struct Floor {
    home: OwnedFd,
    limits: bool,
    #[cfg(target_arch = "x86_64")]
    exec: raw::Exec,
}

fn open_dir(base: impl AsFd, name: &str) -> Result<OwnedFd, String> {
    rustix::fs::openat(
        base,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open {name}: {e}"))
}

fn write_at(dir: impl AsFd, file: &str, value: &[u8]) -> Result<(), String> {
    let fd = rustix::fs::openat(dir, file, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| format!("open {file}: {e}"))?;
    rustix::io::write(&fd, value).map_err(|e| format!("write {file}: {e}"))?;
    Ok(())
}

impl Floor {
    pub fn new(limits: bool) -> Result<Floor, String> {
        let home = Path::new(MOUNT).join("floor");
        std::fs::create_dir_all(&home).map_err(|e| format!("mkdir floor: {e}"))?;
        if limits {
            for dir in [Path::new(MOUNT), &home] {
                std::fs::write(dir.join("cgroup.subtree_control"), "+cpu +memory +pids")
                    .map_err(|e| format!("enable controllers: {e}"))?;
            }
        }
        Ok(Floor {
            home: open_dir(rustix::fs::CWD, &home.display().to_string())?,
            limits,
            #[cfg(target_arch = "x86_64")]
            exec: raw::Exec::new(&["/bin/sleep", "1000"]),
        })
    }

    /// `mkdir`, then each limit as open (relative to the home, through
    /// the new directory's name), write, close.
    pub fn create(&self, name: &str) -> Result<(), String> {
        rustix::fs::mkdirat(&self.home, name, Mode::from_raw_mode(0o755))
            .map_err(|e| format!("mkdir: {e}"))?;
        if self.limits {
            let limit =
                |file: &str, value: &[u8]| write_at(&self.home, &format!("{name}/{file}"), value);
            limit("memory.max", MEMORY_MAX.to_string().as_bytes())?;
            limit("cpu.max", CPU_MAX.as_bytes())?;
            limit("pids.max", PIDS_MAX.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// One `rmdir`.
    pub fn remove(&self, name: &str) -> Result<(), String> {
        rustix::fs::unlinkat(&self.home, name, AtFlags::REMOVEDIR)
            .map_err(|e| format!("rmdir: {e}"))
    }

    /// mkdir and open a box.
    pub fn make(&self, name: &str) -> Result<OwnedFd, String> {
        rustix::fs::mkdirat(&self.home, name, Mode::from_raw_mode(0o755))
            .map_err(|e| format!("mkdir: {e}"))?;
        open_dir(&self.home, name)
    }

    /// The lifecycle, each step timed (ns): mkdir + open, clone3 + exec,
    /// cgroup.kill + waitpid, close + rmdir, 0 (no separate reap), all.
    #[cfg(target_arch = "x86_64")]
    pub fn lifecycle_steps(&self, name: &str) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t = Instant::now();
        let dir = self.make(name)?;
        let t1 = Instant::now();
        let pid = raw::spawn(dir.as_fd(), &self.exec)?;
        self.kill_and_remove(name, dir, [t, t1], || raw::reap(pid, true))
    }

    /// [`Floor::lifecycle_steps`] with sleeping waits, as cgbox waited
    /// until Dec 2026: the parent asleep in `clone3` until the exec
    /// (`CLONE_VFORK`, as `posix_spawn` waits) and in `waitpid` at once.
    #[cfg(target_arch = "x86_64")]
    pub fn lifecycle_steps_vfork(&self, name: &str) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t = Instant::now();
        let dir = self.make(name)?;
        let t1 = Instant::now();
        let pid = raw::spawn_vfork(dir.as_fd(), &self.exec)?;
        self.kill_and_remove(name, dir, [t, t1], || raw::reap(pid, false))
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn lifecycle_steps_vfork(&self, _name: &str) -> Result<[f64; 6], String> {
        Err("the clone3 floor is x86_64 only".into())
    }

    /// The lifecycle with the job moving itself: mkdir + open (and open
    /// cgroup.procs) | clone3 without CLONE_INTO_CGROUP, the child writes
    /// "0" to cgroup.procs, then exec | cgroup.kill + waitpid | close +
    /// rmdir. The other way to keep a job from ever running outside its
    /// box, shown beside the two others.
    #[cfg(target_arch = "x86_64")]
    pub fn lifecycle_steps_self_moved(&self, name: &str) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t = Instant::now();
        let dir = self.make(name)?;
        let procs = rustix::fs::openat(
            &dir,
            "cgroup.procs",
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("open cgroup.procs: {e}"))?;
        let t1 = Instant::now();
        let pid = raw::spawn_moving_itself(procs.as_fd(), &self.exec)?;
        drop(procs);
        self.kill_and_remove(name, dir, [t, t1], || raw::reap(pid, true))
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn lifecycle_steps_self_moved(&self, _name: &str) -> Result<[f64; 6], String> {
        Err("the clone3 floor is x86_64 only".into())
    }

    /// The lifecycle as the peers start a job: mkdir + open | std spawn
    /// (posix_spawn) + the PID written to cgroup.procs | cgroup.kill +
    /// waitpid | close + rmdir.
    pub fn lifecycle_steps_spawned(&self, name: &str) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t = Instant::now();
        let dir = self.make(name)?;
        let t1 = Instant::now();
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("1000")
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        write_at(&dir, "cgroup.procs", child.id().to_string().as_bytes())?;
        self.kill_and_remove(name, dir, [t, t1], || {
            child.wait().map(drop).map_err(|e| format!("waitpid: {e}"))
        })
    }

    /// The lifecycle's end, once the job runs in `dir`: cgroup.kill, `reap`,
    /// close + rmdir; the six timings from `t` (start) and `t1` (made).
    fn kill_and_remove(
        &self,
        name: &str,
        dir: OwnedFd,
        [t, t1]: [std::time::Instant; 2],
        reap: impl FnOnce() -> Result<(), String>,
    ) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t2 = Instant::now();
        write_at(&dir, "cgroup.kill", b"1")?;
        reap()?;
        let t3 = Instant::now();
        drop(dir);
        self.remove(name)?;
        let t4 = Instant::now();
        let d = |a: Instant, b: Instant| (b - a).as_nanos() as f64;
        Ok([d(t, t1), d(t1, t2), d(t2, t3), d(t3, t4), 0.0, d(t, t4)])
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn lifecycle_steps(&self, _name: &str) -> Result<[f64; 6], String> {
        Err("the clone3 floor is x86_64 only".into())
    }

    /// mkdir, open, clone3 into it + exec, cgroup.kill, waitpid, rmdir.
    #[cfg(target_arch = "x86_64")]
    pub fn lifecycle(&self, name: &str) -> Result<(), String> {
        rustix::fs::mkdirat(&self.home, name, Mode::from_raw_mode(0o755))
            .map_err(|e| format!("mkdir: {e}"))?;
        let dir = open_dir(&self.home, name)?;
        let pid = raw::spawn(dir.as_fd(), &self.exec)?;
        write_at(&dir, "cgroup.kill", b"1")?;
        // We are the parent: once waitpid returns, the cgroup is empty.
        raw::reap(pid, true)?;
        drop(dir);
        self.remove(name)
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn lifecycle(&self, _name: &str) -> Result<(), String> {
        Err("the clone3 floor is x86_64 only".into())
    }
}

/// Full stats at the floor: open, one read, close, for each file of
/// cgbox's list that exists in `dir` (found before the count starts).
pub fn read_files(dir: &OwnedFd, files: &[&str], buf: &mut [u8]) -> u64 {
    let mut n = 0;
    for f in files {
        if let Ok(fd) = rustix::fs::openat(dir, *f, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        {
            n += rustix::io::read(&fd, &mut *buf).unwrap_or(0) as u64;
        }
    }
    n
}

/// The hot sample at the floor: one `pread` per kept file.
pub fn pread_all(files: &[OwnedFd], buf: &mut [u8]) -> u64 {
    files
        .iter()
        .map(|fd| rustix::io::pread(fd, &mut *buf, 0).unwrap_or(0) as u64)
        .sum()
}

/// Open `dir`'s files among `names` that exist.
pub fn open_existing(dir: &Path, names: &[&'static str]) -> (OwnedFd, Vec<&'static str>) {
    let fd = open_dir(rustix::fs::CWD, &dir.display().to_string()).expect("open the box");
    let there = names
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect();
    (fd, there)
}

#[cfg(target_arch = "x86_64")]
mod raw {
    //! `clone3` straight into `execve`, as in `benches/cgbox.rs`.

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
            std::arch::asm!("syscall", inlateout("rax") 59isize => _, in("rdi") e.argv[0],
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
    pub fn spin_until(mut ready: impl FnMut() -> bool) -> bool {
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
    pub fn reap_spinning(
        pid: rustix::process::Pid,
    ) -> rustix::io::Result<Option<(rustix::process::Pid, rustix::process::WaitStatus)>> {
        let mut got = None;
        spin_until(|| {
            got = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG)
                .transpose();
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
}

/// The files `Stats::read` reads, in its order: what the floor reads with
/// one `openat`, `read` and `close` each.
pub const STATS_FILES: [&str; 22] = [
    "cgroup.events",
    "cgroup.stat",
    "cpu.stat",
    "memory.current",
    "memory.peak",
    "memory.max",
    "memory.high",
    "memory.events",
    "memory.events.local",
    "memory.stat",
    "memory.swap.current",
    "memory.swap.peak",
    "memory.swap.max",
    "pids.current",
    "pids.peak",
    "pids.max",
    "pids.events",
    "io.stat",
    "cpu.pressure",
    "memory.pressure",
    "io.pressure",
    "irq.pressure",
];
