//! Where the time goes, step by step (timed, not counted): cgbox's
//! lifecycle and tree kill split at its public calls, next to the same
//! steps with raw system calls. Run by `count` after the counts (and in
//! the same VM boot); `phases` alone: `cgbox-peers phases --parent DIR
//! [--rounds N] [--quiet-ms MS]`. With `--quiet-ms`, each lifecycle comes
//! after that long with nothing to do (untimed), as an agent's jobs come
//! now and then: the CPUs have gone idle.
//!
//! - lifecycle: cgbox `Builder::create_in` | `JobBox::start` (clone3) |
//!   `JobBox::kill` (cgroup.kill, wait until empty) | `JobBox::destroy` of
//!   the empty box | `BoxChild::wait`; the floor: mkdir + open | clone3 +
//!   exec | cgroup.kill + waitpid | close + rmdir, each wait as cgbox
//!   waits (a short spin first); the floor with sleeping waits (asleep in
//!   clone3 until the exec, CLONE_VFORK as posix_spawn waits, and in
//!   waitpid at once); the floor as the peers start a job
//!   (std spawn, then its PID written to cgroup.procs, after the job
//!   already runs); and the floor whose job moves itself before exec
//!   (clone3 without CLONE_INTO_CGROUP): what being born inside the box,
//!   and each way of waiting for the exec, cost on this machine.
//! - tree (sh + 50 sleeps, timed from the kill): cgbox `JobBox::kill` |
//!   `destroy` | `wait`; the floor: write cgroup.kill | wait until
//!   `cgroup.events` says populated 0 (poll POLLPRI, re-read every 1 ms at
//!   most) | rmdir | waitpid of sh.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cgbox::Builder;
use rustix::fs::{Mode, OFlags};

use crate::floor::Floor;
use crate::peers::{self, Ctx, Job, Proc};
use crate::{Args, human, raise_fd_limit, sandbox};

const TREE: &str =
    "read go; i=0; while [ $i -lt 50 ]; do /bin/sleep 1000 & i=$((i+1)); done; echo ready; wait";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ns(t: Instant) -> f64 {
    t.elapsed().as_nanos() as f64
}

/// `phases --parent DIR [--rounds N]`: prints two markdown tables.
pub fn run(args: &Args, parent: &str) {
    let rounds = args.number("--rounds", 31).max(1);
    let quiet = Duration::from_millis(args.number("--quiet-ms", 0) as u64);
    raise_fd_limit(65_536);
    let sandbox = match sandbox::Sandbox::enter(Path::new(parent)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("phases: {e}");
            std::process::exit(1);
        }
    };
    let ctx = Ctx::new();
    let result = Floor::new(ctx.limits).and_then(|floor| {
        let life = lifecycle(&ctx, &floor, rounds, quiet)?;
        let tree = tree(&ctx, &floor, rounds)?;
        Ok((life, tree))
    });
    drop(ctx);
    drop(sandbox.leave());
    let ([cg, fl, vf, sp, sm], (tcg, tfl)) = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("phases: {e}");
            std::process::exit(1);
        }
    };
    let after = if quiet.is_zero() {
        String::new()
    } else {
        format!(", each after {} ms of quiet", quiet.as_millis())
    };
    println!(
        "\n### Where the time goes (timed, not counted): the lifecycle step by step, {rounds} rounds{after}, cgbox and the four floors interleaved, medians\n"
    );
    println!(
        "| step | cgbox | floor (raw syscalls) | cgbox / floor | floor with sleeping waits (CLONE_VFORK, waitpid) | floor, started the peers' way (std spawn + cgroup.procs) | floor, the job moves itself (clone3 without CLONE_INTO_CGROUP, cgroup.procs before exec) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let names = [
        "create (`Builder::create_in`) / mkdir + open",
        "start (`JobBox::start`, clone3) / clone3 + exec",
        "kill and wait until empty (`JobBox::kill`) / cgroup.kill + waitpid",
        "remove the empty box (`JobBox::destroy`) / close + rmdir",
        "reap (`BoxChild::wait`) / (in the kill step)",
        "**whole lifecycle**",
        "CPU time of the calling thread (spinning included)",
    ];
    let or_dash = |v: f64| if v > 0.0 { human(v) } else { "-".into() };
    for (i, name) in names.iter().enumerate() {
        let (c, f) = (cg[i], fl[i]);
        let ratio = if f > 0.0 {
            format!("{:.2}x", c / f)
        } else {
            "-".into()
        };
        println!(
            "| {name} | {} | {} | {ratio} | {} | {} | {} |",
            human(c),
            or_dash(f),
            or_dash(vf[i]),
            or_dash(sp[i]),
            or_dash(sm[i])
        );
    }
    println!(
        "\n### Where the time goes: killing a tree of 51 processes, {rounds} rounds, cgbox and the floor interleaved, medians\n"
    );
    println!("| step | cgbox | floor (raw syscalls) |");
    println!("|---|---|---|");
    let names = [
        "cgroup.kill and wait until empty (`JobBox::kill`) / write cgroup.kill",
        "(in the step above) / wait for populated 0 (poll POLLPRI, re-read each 1 ms)",
        "remove (`JobBox::destroy` of the empty box) / rmdir",
        "reap sh (`BoxChild::wait`) / waitpid",
        "**kill to removal, reap included**",
    ];
    for (i, name) in names.iter().enumerate() {
        let c = if tcg[i] > 0.0 {
            human(tcg[i])
        } else {
            "-".into()
        };
        println!("| {name} | {c} | {} |", human(tfl[i]));
    }
}

type Split = (Vec<f64>, Vec<f64>);

fn medians<const N: usize>(steps: [Vec<f64>; N]) -> Vec<f64> {
    steps
        .into_iter()
        .map(|v| if v.is_empty() { 0.0 } else { median(v) })
        .collect()
}

/// The lifecycle's steps (medians, see `run`'s table) of cgbox, the floor,
/// the floor waiting with CLONE_VFORK, the floor started the peers' way and
/// the floor whose job moves itself, in turn round by round.
fn lifecycle(
    ctx: &Ctx,
    floor: &Floor,
    rounds: usize,
    quiet: Duration,
) -> Result<[Vec<f64>; 5], String> {
    let mut steps: [[Vec<f64>; 7]; 5] = Default::default();
    let mut sleep = cgbox::BoxCommand::new("/bin/sleep");
    sleep.arg("1000").stdin(cgbox::Stdio::null());
    for round in 0..rounds {
        for which in (0..5).map(|k| (round + k) % 5) {
            if !quiet.is_zero() {
                std::thread::sleep(quiet);
            }
            let name = format!("ph{which}-{round}");
            let cpu = thread_cpu();
            let mut took = match which {
                0 => cgbox_lifecycle(ctx, &name, &sleep)?,
                1 => floor.lifecycle_steps(&name, false)?,
                2 => floor.lifecycle_steps(&name, true)?,
                3 => floor.lifecycle_steps_spawned(&name)?,
                _ => floor.lifecycle_steps_self_moved(&name)?,
            }
            .to_vec();
            took.push((thread_cpu() - cpu).as_nanos() as f64);
            if let Some(into) = steps.get_mut(which) {
                for (i, t) in took.iter().enumerate() {
                    if let Some(v) = into.get_mut(i) {
                        v.push(*t);
                    }
                }
            }
        }
    }
    Ok(steps.map(medians))
}

/// The CPU time this thread has used (user and system).
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// cgbox's lifecycle, split at its public calls (ns).
fn cgbox_lifecycle(ctx: &Ctx, name: &str, job: &cgbox::BoxCommand) -> Result<[f64; 6], String> {
    let t = Instant::now();
    let b = Builder::new()
        .name(name)
        .create_in(&ctx.app)
        .map_err(|e| format!("create: {e}"))?;
    let t1 = Instant::now();
    let mut child = b.start(job).map_err(|e| format!("start: {e}"))?;
    let t2 = Instant::now();
    b.kill().map_err(|e| format!("kill: {e}"))?;
    let t3 = Instant::now();
    b.destroy().map_err(|e| format!("destroy: {e}"))?;
    let t4 = Instant::now();
    child.wait().map_err(|e| format!("wait: {e}"))?;
    let t5 = Instant::now();
    let d = |a: Instant, z: Instant| (z - a).as_nanos() as f64;
    Ok([
        d(t, t1),
        d(t1, t2),
        d(t2, t3),
        d(t3, t4),
        d(t4, t5),
        d(t, t5),
    ])
}

fn tree(ctx: &Ctx, floor: &Floor, rounds: usize) -> Result<Split, String> {
    let mut cg: [Vec<f64>; 5] = Default::default();
    let mut fl: [Vec<f64>; 5] = Default::default();
    for round in 0..rounds {
        for which in [round % 2, (round + 1) % 2] {
            let name = format!("pt-{round}");
            if which == 0 {
                let (made, mut proc) =
                    peers::create_with(ctx, peers::Peer::Cgbox, &name, Job::Tree)?;
                peers::release_tree(&mut proc)?;
                let peers::Made::Cgbox(b) = made else {
                    return Err("not a cgbox box".into());
                };
                let t = Instant::now();
                b.kill().map_err(|e| format!("kill: {e}"))?;
                let t1 = Instant::now();
                b.destroy().map_err(|e| format!("destroy: {e}"))?;
                let t2 = Instant::now();
                proc.wait()?;
                let t3 = Instant::now();
                cg[0].push((t1 - t).as_nanos() as f64);
                cg[2].push((t2 - t1).as_nanos() as f64);
                cg[3].push((t3 - t2).as_nanos() as f64);
                cg[4].push(ns(t));
            } else {
                let steps = floor_tree(floor, &name)?;
                for (i, s) in steps.iter().enumerate() {
                    fl[i].push(*s);
                }
            }
        }
    }
    Ok((medians(cg), medians(fl)))
}

/// The tree in a floor box: std spawn, the PID written to cgroup.procs,
/// released; then kill, wait until empty, rmdir, waitpid, each timed.
fn floor_tree(floor: &Floor, name: &str) -> Result<[f64; 5], String> {
    let dir = floor.make(name)?;
    let mut child = Command::new("/bin/sh")
        .args(["-c", TREE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn sh: {e}"))?;
    let procs = open(&dir, "cgroup.procs", OFlags::WRONLY)?;
    rustix::io::write(&procs, child.id().to_string().as_bytes())
        .map_err(|e| format!("move sh: {e}"))?;
    drop(procs);
    child
        .stdin
        .as_mut()
        .ok_or("no stdin")?
        .write_all(b"go\n")
        .map_err(|e| format!("go: {e}"))?;
    let mut proc = Proc::Std(child);
    // release_tree wants the pipes it has not taken yet: read "ready".
    if let Proc::Std(c) = &mut proc {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.take().ok_or("no stdout")?)
            .read_line(&mut line)
            .map_err(|e| format!("ready: {e}"))?;
    }
    let events = open(&dir, "cgroup.events", OFlags::RDONLY)?;
    let t = Instant::now();
    let kill = open(&dir, "cgroup.kill", OFlags::WRONLY)?;
    rustix::io::write(&kill, b"1").map_err(|e| format!("kill: {e}"))?;
    drop(kill);
    let t1 = Instant::now();
    let mut buf = [0u8; 128];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = rustix::io::pread(&events, &mut buf, 0).map_err(|e| format!("read: {e}"))?;
        if buf.get(..n).is_some_and(|b| b.starts_with(b"populated 0")) {
            break;
        }
        if Instant::now() > deadline {
            return Err("floor tree: still populated after 10 s".into());
        }
        let mut fds = [rustix::event::PollFd::new(
            &events,
            rustix::event::PollFlags::PRI,
        )];
        let ts = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        let _ = rustix::event::poll(&mut fds, Some(&ts));
    }
    let t2 = Instant::now();
    drop((events, dir));
    floor.remove(name)?;
    let t3 = Instant::now();
    proc.wait()?;
    let t4 = Instant::now();
    Ok([
        (t1 - t).as_nanos() as f64,
        (t2 - t1).as_nanos() as f64,
        (t3 - t2).as_nanos() as f64,
        (t4 - t3).as_nanos() as f64,
        (t4 - t).as_nanos() as f64,
    ])
}

fn open(dir: &OwnedFd, file: &str, mode: OFlags) -> Result<OwnedFd, String> {
    rustix::fs::openat(dir.as_fd(), file, mode | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| format!("open {file}: {e}"))
}
