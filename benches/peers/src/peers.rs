//! The four contenders, each used the way its documentation shows.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use cgbox::fs::SysFs;
use cgbox::{BoxChild, BoxCommand, Builder, JobBox, Limits, Sampler, Size};
use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::{Cgroup, MaxValue, hierarchies};
use libcgroups::common::{CgroupManager, ControllerOpt};

use crate::sandbox::MOUNT;

pub const MEMORY_MAX: u64 = 512 << 20;
pub const CPU_MAX: &str = "150000 100000";
pub const PIDS_MAX: u64 = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    Cgbox,
    CgroupsRs,
    Libcgroups,
    Tokio,
}

pub const ALL: [Peer; 4] = [Peer::Cgbox, Peer::CgroupsRs, Peer::Libcgroups, Peer::Tokio];

impl Peer {
    pub fn label(self) -> &'static str {
        match self {
            Peer::Cgbox => "cgbox",
            Peer::CgroupsRs => "cgroups-rs 0.5.1",
            Peer::Libcgroups => "libcgroups 0.7.0",
            Peer::Tokio => "tokio::fs manager",
        }
    }

    /// The directory under the mount that holds this contender's boxes.
    fn home(self) -> &'static str {
        match self {
            Peer::Cgbox => "cgbox/agents",
            Peer::CgroupsRs => "cgrs",
            Peer::Libcgroups => "youki",
            Peer::Tokio => "tokio",
        }
    }

    pub fn path(self, name: &str) -> PathBuf {
        Path::new(MOUNT).join(self.home()).join(name)
    }
}

/// Everything the contenders share: cgbox's app handle, the tokio runtime,
/// whether limits can be applied here.
pub struct Ctx {
    /// cgbox's app handle, opened once, as a per-agent manager holds it:
    /// every cgbox box is made from it (`Builder::create_in`).
    pub app: cgbox::App<SysFs>,
    pub rt: tokio::runtime::Runtime,
    pub limits: bool,
}

impl Ctx {
    pub fn new() -> Ctx {
        let controllers = std::fs::read_to_string(Path::new(MOUNT).join("cgroup.controllers"))
            .unwrap_or_default();
        let limits = ["cpu", "memory", "pids"]
            .iter()
            .all(|c| controllers.split_whitespace().any(|w| w == *c));
        let fs = Arc::new(SysFs::new().expect("open /"));
        let app = cgbox::App::options("cgbox")
            .home(MOUNT)
            .open(fs.clone())
            .expect("open cgbox's app");
        Ctx {
            app,
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("tokio runtime"),
            limits,
        }
    }
}

/// A box of one contender.
#[allow(clippy::large_enum_variant)] // one per box, never copied
pub enum Made {
    Cgbox(JobBox<SysFs>),
    CgroupsRs(Cgroup),
    Libcgroups(libcgroups::v2::manager::Manager),
    Tokio(PathBuf),
}

/// A process a contender started (and put) in a box.
pub enum Proc {
    Cgbox(BoxChild),
    Std(Child),
}

impl Proc {
    pub fn wait(&mut self) -> Result<(), String> {
        match self {
            Proc::Cgbox(c) => c.wait().map(drop),
            Proc::Std(c) => c.wait().map(drop),
        }
        .map_err(|e| format!("wait: {e}"))
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

fn cgbox_limits(on: bool) -> Limits {
    if on {
        Limits::new()
            .memory_max(Size::Bytes(MEMORY_MAX))
            .cpus(1.5)
            .pids_max(PIDS_MAX)
    } else {
        Limits::new()
    }
}

fn libcgroups_resources() -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::*;
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(MEMORY_MAX as i64)
                .build()
                .expect("memory"),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .quota(150_000i64)
                .period(100_000u64)
                .build()
                .expect("cpu"),
        )
        .pids(
            LinuxPidsBuilder::default()
                .limit(PIDS_MAX as i64)
                .build()
                .expect("pids"),
        )
        .build()
        .expect("resources")
}

fn libcgroups_manager(name: &str) -> Result<libcgroups::v2::manager::Manager, String> {
    libcgroups::v2::manager::Manager::new(
        PathBuf::from(MOUNT),
        Path::new(Peer::Libcgroups.home()).join(name),
    )
    .map_err(|e| err("libcgroups manager", e))
}

/// Create an empty box (with the limits, where this host has the
/// controllers). `None`: the contender cannot.
pub fn create(ctx: &Ctx, peer: Peer, name: &str) -> Option<Result<Made, String>> {
    Some(match peer {
        Peer::Cgbox => Builder::new()
            .name(name)
            .limits(cgbox_limits(ctx.limits))
            .create_in(&ctx.app)
            .map(Made::Cgbox)
            .map_err(|e| err("create", e)),
        Peer::CgroupsRs => (|| {
            let cg = Cgroup::new(
                hierarchies::auto(),
                format!("{}/{name}", Peer::CgroupsRs.home()),
            )
            .map_err(|e| err("Cgroup::new", e))?;
            if ctx.limits {
                let mem: &MemController = cg.controller_of().ok_or("no memory controller")?;
                mem.set_limit(MEMORY_MAX as i64)
                    .map_err(|e| err("memory", e))?;
                let cpu: &CpuController = cg.controller_of().ok_or("no cpu controller")?;
                cpu.set_cfs_quota_and_period(Some(150_000), Some(100_000))
                    .map_err(|e| err("cpu", e))?;
                let pids: &PidController = cg.controller_of().ok_or("no pids controller")?;
                pids.set_pid_max(MaxValue::Value(PIDS_MAX as i64))
                    .map_err(|e| err("pids", e))?;
            }
            Ok(Made::CgroupsRs(cg))
        })(),
        // A libcgroups v2 cgroup is made by add_task only.
        Peer::Libcgroups => return None,
        Peer::Tokio => {
            let path = peer.path(name);
            let limits = ctx.limits;
            ctx.rt
                .block_on(async move {
                    tokio::fs::create_dir_all(&path).await?;
                    if limits {
                        let home = path.parent().unwrap_or(Path::new(MOUNT));
                        for level in [Path::new(MOUNT), home] {
                            tokio::fs::write(
                                level.join("cgroup.subtree_control"),
                                "+cpu +memory +pids",
                            )
                            .await?;
                        }
                        tokio::fs::write(path.join("memory.max"), MEMORY_MAX.to_string()).await?;
                        tokio::fs::write(path.join("cpu.max"), CPU_MAX).await?;
                        tokio::fs::write(path.join("pids.max"), PIDS_MAX.to_string()).await?;
                    }
                    Ok::<_, std::io::Error>(Made::Tokio(path))
                })
                .map_err(|e| err("tokio create", e))
        }
    })
}

/// Make an empty directory for a contender that cannot create one itself
/// (libcgroups), so that its remove can be timed.
pub fn premake(peer: Peer, name: &str) -> Result<Made, String> {
    std::fs::create_dir_all(peer.path(name)).map_err(|e| err("mkdir", e))?;
    libcgroups_manager(name).map(Made::Libcgroups)
}

/// Remove a box (kill included, where the contender's remove kills).
pub fn remove(ctx: &Ctx, made: Made) -> Result<(), String> {
    match made {
        Made::Cgbox(b) => b.destroy().map_err(|e| err("destroy", e)),
        Made::CgroupsRs(cg) => cg.delete().map_err(|e| err("delete", e)),
        Made::Libcgroups(m) => m.remove().map_err(|e| err("remove", e)),
        Made::Tokio(path) => ctx
            .rt
            .block_on(tokio::fs::remove_dir(&path))
            .map_err(|e| err("remove_dir", e)),
    }
}

/// Whether the limits are in the box's files.
pub fn limits_applied(path: &Path) -> bool {
    let read = |f: &str| std::fs::read_to_string(path.join(f)).unwrap_or_default();
    read("memory.max").trim() == MEMORY_MAX.to_string()
        && read("cpu.max").trim() == CPU_MAX
        && read("pids.max").trim() == PIDS_MAX.to_string()
}

/// The program a box gets: `sleep`, or a tree of `sh` and 50 sleepers
/// that forks only once it is in the box (it waits for a line on stdin)
/// and says `ready` when all are started.
#[derive(Clone, Copy)]
pub enum Job {
    Sleep,
    Tree,
}

const TREE: &str =
    "read go; i=0; while [ $i -lt 50 ]; do /bin/sleep 1000 & i=$((i+1)); done; echo ready; wait";

fn std_command(job: Job) -> Command {
    let mut cmd = match job {
        Job::Sleep => {
            let mut c = Command::new("/bin/sleep");
            c.arg("1000").stdin(Stdio::null());
            c
        }
        Job::Tree => {
            let mut c = Command::new("/bin/sh");
            c.args(["-c", TREE])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            c
        }
    };
    cmd.stderr(Stdio::inherit());
    cmd
}

fn box_command(job: Job) -> BoxCommand {
    use cgbox::Stdio;
    match job {
        Job::Sleep => {
            let mut c = BoxCommand::new("/bin/sleep");
            c.arg("1000").stdin(Stdio::null());
            c
        }
        Job::Tree => {
            let mut c = BoxCommand::new("/bin/sh");
            c.args(["-c", TREE])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            c
        }
    }
}

/// Create a box and start `job` in it, the contender's way: cgbox starts it
/// inside; the others spawn it with std and then add its PID. Returns the
/// box and the process.
pub fn create_with(ctx: &Ctx, peer: Peer, name: &str, job: Job) -> Result<(Made, Proc), String> {
    if peer == Peer::Libcgroups {
        let mut child = std_command(job).spawn().map_err(|e| err("spawn", e))?;
        let m = libcgroups_manager(name)?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        if let Err(e) = m.add_task(pid) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err("add_task", e));
        }
        if ctx.limits {
            let resources = libcgroups_resources();
            let opt = ControllerOpt {
                resources: &resources,
                disable_oom_killer: false,
                oom_score_adj: None,
                freezer_state: None,
            };
            m.apply(&opt).map_err(|e| err("apply", e))?;
        }
        return Ok((Made::Libcgroups(m), Proc::Std(child)));
    }
    let made = create(ctx, peer, name).unwrap_or_else(|| Err("cannot create".into()))?;
    let proc = match &made {
        Made::Cgbox(b) => b
            .start(&box_command(job))
            .map(Proc::Cgbox)
            .map_err(|e| err("start", e)),
        Made::CgroupsRs(cg) => {
            let mut child = std_command(job).spawn().map_err(|e| err("spawn", e))?;
            match cg.add_task_by_tgid((child.id() as u64).into()) {
                Ok(()) => Ok(Proc::Std(child)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(err("add_task_by_tgid", e))
                }
            }
        }
        Made::Tokio(path) => {
            let mut child = std_command(job).spawn().map_err(|e| err("spawn", e))?;
            let procs = path.join("cgroup.procs");
            let pid = child.id().to_string();
            match ctx.rt.block_on(tokio::fs::write(&procs, pid)) {
                Ok(()) => Ok(Proc::Std(child)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(err("write cgroup.procs", e))
                }
            }
        }
        Made::Libcgroups(_) => unreachable!("handled above"),
    };
    match proc {
        Ok(p) => Ok((made, p)),
        Err(e) => {
            let _ = remove(ctx, made);
            Err(e)
        }
    }
}

/// Let a tree job fork its sleepers and wait until it says they all run.
pub fn release_tree(proc: &mut Proc) -> Result<(), String> {
    let (stdin, stdout) = match proc {
        Proc::Cgbox(c) => (
            c.stdin.take().map(|s| Box::new(s) as Box<dyn Write>),
            c.stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read>),
        ),
        Proc::Std(c) => (
            c.stdin.take().map(|s| Box::new(s) as Box<dyn Write>),
            c.stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read>),
        ),
    };
    let (Some(mut stdin), Some(stdout)) = (stdin, stdout) else {
        return Err("tree job without pipes".into());
    };
    stdin.write_all(b"go\n").map_err(|e| err("write go", e))?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| err("read ready", e))?;
    if line != "ready\n" {
        return Err(format!("tree job said {line:?}"));
    }
    Ok(())
}

/// End a box with a job in it, the contender's way: cgbox's destroy (kill,
/// wait until empty, remove); cgroups-rs `kill()` + `delete()`; libcgroups
/// `remove()` (cgroup.kill, then 4 rmdir tries with sleeps of 10, 10, 20
/// and 60 ms after the failed ones); tokio
/// `write` of `1` to cgroup.kill and `remove_dir`. Each reaps its own child
/// before the removal, as a caller would.
pub fn end(ctx: &Ctx, made: Made, proc: &mut Proc) -> Result<(), String> {
    match made {
        Made::Cgbox(b) => {
            let r = b.destroy().map_err(|e| err("destroy", e));
            proc.wait()?;
            r
        }
        Made::CgroupsRs(cg) => {
            cg.kill().map_err(|e| err("kill", e))?;
            proc.wait()?;
            cg.delete().map_err(|e| err("delete", e))
        }
        Made::Libcgroups(m) => {
            let r = m.remove().map_err(|e| err("remove", e));
            proc.wait()?;
            r
        }
        Made::Tokio(path) => {
            ctx.rt
                .block_on(tokio::fs::write(path.join("cgroup.kill"), "1"))
                .map_err(|e| err("write cgroup.kill", e))?;
            proc.wait()?;
            ctx.rt
                .block_on(tokio::fs::remove_dir(&path))
                .map_err(|e| err("remove_dir", e))
        }
    }
}

/// What one stats read gave: how many files' worth of data.
pub enum StatsKind {
    /// Every statistic the contender offers.
    Full,
    /// The hot few: CPU usage and memory.current.
    Sample,
}

/// Read statistics, the contender's way. Returns a number that depends on
/// what was read (so nothing is optimised away).
pub fn stats(
    ctx: &Ctx,
    made: &Made,
    kind: &StatsKind,
    sampler: Option<&Sampler<SysFs>>,
) -> Result<u64, String> {
    match (made, kind) {
        (Made::Cgbox(b), StatsKind::Full) => b
            .stats()
            .map(|s| s.cpu_usage_usec().unwrap_or(0) + s.memory_current().unwrap_or(0))
            .map_err(|e| err("stats", e)),
        (Made::Cgbox(_), StatsKind::Sample) => sampler
            .ok_or("no sampler")?
            .sample()
            .map(|s| s.cpu.usage_usec.unwrap_or(0) + s.memory_current.unwrap_or(0))
            .map_err(|e| err("sample", e)),
        (Made::CgroupsRs(cg), StatsKind::Full) => Ok(cgroups_rs_same_files(cg)),
        (Made::CgroupsRs(cg), StatsKind::Sample) => {
            let cpu: &CpuController = cg.controller_of().ok_or("no cpu controller")?;
            let mem: &MemController = cg.controller_of().ok_or("no memory controller")?;
            Ok(cpu.cpu().stat.len() as u64 + mem.memory_stat().usage_in_bytes)
        }
        (Made::Libcgroups(m), _) => m
            .stats()
            .map(|s| s.cpu.usage.usage_total + s.memory.memory.usage)
            .map_err(|e| err("stats", e)),
        (Made::Tokio(path), _) => ctx
            .rt
            .block_on(async {
                let cpu = tokio::fs::read_to_string(path.join("cpu.stat")).await?;
                let mem = tokio::fs::read_to_string(path.join("memory.current")).await;
                let usage = cpu
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                // memory.current is absent without the memory controller.
                let mem = mem
                    .ok()
                    .and_then(|m| m.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                Ok::<_, std::io::Error>(usage + mem)
            })
            .map_err(|e| err("read", e)),
    }
}

/// cgroups-rs, as the issue measured it: `cpu()` and `memory_stat()`.
pub fn cgroups_rs_api(cg: &Cgroup) -> u64 {
    let cpu = cg
        .controller_of::<CpuController>()
        .map(|c| c.cpu().stat.len() as u64);
    let mem = cg
        .controller_of::<MemController>()
        .map(|m| m.memory_stat().usage_in_bytes);
    cpu.unwrap_or(0) + mem.unwrap_or(0)
}

/// cgroups-rs reading the same files as cgbox's full `Stats::read`: its
/// API where it has one (cpu, memory, swap, pids, io), `std::fs` for the
/// rest (cgroup.events, cgroup.stat, memory.high, memory.events(.local),
/// pids.peak and the PSI files).
pub fn cgroups_rs_same_files(cg: &Cgroup) -> u64 {
    let mut n = cgroups_rs_api(cg);
    if let Some(m) = cg.controller_of::<MemController>() {
        n += m.memswap_v2().usage_in_bytes;
    }
    if let Some(p) = cg.controller_of::<PidController>() {
        n += p.get_pid_current().unwrap_or(0);
        n += p.get_pid_events().unwrap_or(0);
        n += matches!(p.get_pid_max(), Ok(MaxValue::Max)) as u64;
    }
    if let Some(io) = cg.controller_of::<cgroups_rs::fs::blkio::BlkIoController>() {
        n += io.blkio().io_stat.len() as u64;
    }
    let dir = Path::new(MOUNT).join(cg.path());
    // cpu.stat is in the core of cgroup2: cgbox reads it with or without
    // the cpu controller, cgroups-rs only through its cpu controller.
    if cg.controller_of::<CpuController>().is_none() {
        n += std::fs::read_to_string(dir.join("cpu.stat")).map_or(0, |s| s.len() as u64);
    }
    for f in [
        "cgroup.events",
        "cgroup.stat",
        "memory.high",
        "memory.events",
        "memory.events.local",
        "pids.peak",
        "cpu.pressure",
        "memory.pressure",
        "io.pressure",
        "irq.pressure",
    ] {
        n += std::fs::read_to_string(dir.join(f))
            .map(|t| t.len() as u64)
            .unwrap_or(0);
    }
    n
}

/// The box's directory.
pub fn path_of(made: &Made, peer: Peer, name: &str) -> PathBuf {
    match made {
        Made::Cgbox(b) => b.path().to_path_buf(),
        _ => peer.path(name),
    }
}
