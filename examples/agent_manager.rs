//! A per-agent cgroup manager in the shape of the async `CgroupV2Manager`
//! that cgbox replaces (one manager per agent id: create a box with memory,
//! CPU and PID limits, start or move the agent's process in, read CPU usage
//! and current memory, change limits, kill everything, destroy), on cgbox's
//! blocking API: the app tree is opened once with [`App::open`], and each
//! agent's box is made in it with [`Builder::create_in`].
//!
//! One method is new, `outcome`: how the agent ended and why, judged by the
//! library from the box's counters ([`BoxRef::tally`](cgbox::BoxRef::tally)
//! when the box is made, [`BoxRef::outcome`](cgbox::BoxRef::outcome) once
//! the agent's process has been waited for). The [`Outcome`]'s
//! [`Cause`](cgbox::Cause) tells an OOM kill at a `memory.max` from
//! `kill_all` and from a signal sent from elsewhere, and
//! [`Outcome::describe`] says it in words. On this machine (`--real`) the
//! example also watches the first agent's box with
//! [`BoxRef::events`](cgbox::BoxRef::events): an [`Events`] watcher is one
//! file descriptor, for tokio's `AsyncFd`.
//!
//! ```text
//! cargo run --example agent_manager                  # on cgbox's fake kernel: no root, no cgroups
//! sudo cargo run --example agent_manager -- --real   # on this machine's cgroup2
//! sudo cargo run --example agent_manager -- --real --best-effort   # limits it cannot apply are skipped
//! ```
//!
//! From async code, call these methods through `tokio::task::spawn_blocking`
//! (see `docs/adopting.md`): each is a handful of system calls, and `kill_all`
//! waits for the box to be empty.

use std::error::Error;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::Duration;

use cgbox::fs::{CgroupFs, FakeFs, SysFs};
use cgbox::{
    App, BoxChild, BoxCommand, Builder, Changed, Events, JobBox, Limits, Outcome, Policy, Sampler,
    Size, Stop, Tally,
};

/// The app subtree the example's boxes live in: `<home>/agent-manager-example/agents/<agent id>`.
const APP: &str = "agent-manager-example";

/// What an agent may use.
#[derive(Debug, Clone, Copy)]
struct AgentLimits {
    memory: Size,
    cpus: f64,
    pids: u64,
}

impl AgentLimits {
    fn to_limits(self) -> Limits {
        Limits::new()
            .memory_max(self.memory)
            .cpus(self.cpus)
            .pids_max(self.pids)
    }
}

/// What `read_stats` returns: each `None` where the kernel does not say
/// (a controller the box was not given), never a made-up zero.
#[derive(Debug, Clone, Copy)]
struct AgentStats {
    cpu_usage_usec: Option<u64>,
    memory_current: Option<u64>,
    pids_current: Option<u64>,
}

/// One agent's box. Was: `CgroupV2Manager::new(agent_id)` and `create()`.
struct AgentCgroup<F: CgroupFs> {
    agent_id: String,
    job: JobBox<F>,
    /// Keeps `cpu.stat`, `memory.current` and `pids.current` open:
    /// `read_stats` is one `pread` per file and no allocation.
    sampler: Sampler<F>,
    /// The box's counters before the agent started: what `outcome`
    /// judges its end by.
    since: Tally<F>,
}

impl<F: CgroupFs> AgentCgroup<F> {
    /// Create the agent's box with its limits, all or nothing: limits are
    /// checked first, controllers are enabled where missing, and on any
    /// failure nothing of the box is left.
    fn create(
        app: &App<F>,
        agent_id: &str,
        limits: AgentLimits,
        policy: Policy,
    ) -> cgbox::Result<AgentCgroup<F>> {
        let job = Builder::new()
            .name(agent_id)
            .limits(limits.to_limits())
            .policy(policy)
            .create_in(app)?;
        let sampler = job.sampler()?;
        let since = job.tally()?;
        Ok(AgentCgroup {
            agent_id: agent_id.to_owned(),
            job,
            sampler,
            since,
        })
    }

    /// Move a running process into the box (one `write(2)` to `cgroup.procs`).
    fn move_pid(&self, pid: u32) -> cgbox::Result<()> {
        self.job.move_pid(pid)
    }

    /// CPU usage, current memory and processes, from the kept files.
    fn read_stats(&self) -> cgbox::Result<AgentStats> {
        let s = self.sampler.sample()?;
        Ok(AgentStats {
            cpu_usage_usec: s.cpu.usage_usec,
            memory_current: s.memory_current,
            pids_current: s.pids_current,
        })
    }

    /// Change the limits of the live box: only those `limits` names
    /// (looser writes first, all put back on failure); the answer says what
    /// changed and warns of limits set below what the box uses.
    fn set_limits(&self, limits: &Limits) -> cgbox::Result<Changed> {
        self.job.set_limits(limits)
    }

    /// Kill every process of the box, and wait until it is empty.
    fn kill_all(&self) -> cgbox::Result<()> {
        self.job.kill()
    }

    /// New: how the agent ended and why, once its process was waited for
    /// (`status`), read before the box is removed. Its `cause` tells an
    /// OOM kill (and at which `memory.max`) from `kill_all` and from a
    /// signal sent from elsewhere; `counts` are the kernel's over the run.
    fn outcome(&self, status: ExitStatus) -> cgbox::Result<Outcome> {
        self.job.outcome(&self.since, status, Stop::Nothing)
    }

    /// Kill, wait and remove. (Dropping the manager does the same,
    /// best-effort, and logs what failed.)
    fn destroy(self) -> cgbox::Result<()> {
        self.job.destroy()
    }
}

impl AgentCgroup<SysFs> {
    /// Start the agent's program already inside the box: born there by
    /// `clone3(CLONE_INTO_CGROUP)` (forked and moved in before `exec` where
    /// the kernel refuses that), it never runs outside it.
    fn start(&self, command: &BoxCommand) -> cgbox::Result<BoxChild> {
        self.job.start(command)
    }
}

fn show_stats(agent: &str, s: &AgentStats) {
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
    println!(
        "read_stats {agent}: cpu {}, memory {}, {} process(es)",
        s.cpu_usage_usec
            .map_or("-".into(), |u| format!("{} ms", u / 1000)),
        s.memory_current
            .map_or("- (no memory controller)".into(), mib),
        s.pids_current.map_or("-".into(), |n| n.to_string())
    );
}

fn show_changed(agent: &str, changed: &Changed) {
    for c in &changed.written {
        println!("set_limits {agent}: {} {} -> {}", c.file, c.before, c.after);
    }
    for w in &changed.warnings {
        println!("set_limits {agent}: warning: {w}");
    }
}

/// What the box's watcher saw since the last look.
fn show_events(agent: &str, events: &mut Events) -> cgbox::Result<()> {
    while let Some(event) = events.next(Duration::ZERO)? {
        println!("events {agent}: {event}");
    }
    Ok(())
}

/// How a run failed: the error (cgbox's say what failed, where, and the fix).
fn fail(what: &str, e: &(dyn Error + 'static)) -> ! {
    eprintln!("agent_manager: {what}: {e}");
    if let Some(e) = e.downcast_ref::<cgbox::Error>()
        && e.kind() == cgbox::ErrorKind::ControllerUnavailable
    {
        eprintln!("agent_manager: --best-effort runs without the limits this machine cannot apply");
    }
    std::process::exit(1);
}

const LIMITS: AgentLimits = AgentLimits {
    memory: Size::Bytes(256 << 20),
    cpus: 0.5,
    pids: 64,
};

/// The two agents' lifecycle on the fake kernel: processes are fake, and
/// their work is written into the box's files as the kernel would show it.
/// Returns how the first agent ended, and the cgroups left.
fn on_the_fake() -> cgbox::Result<(Outcome, Vec<String>)> {
    let fake = Arc::new(FakeFs::new());
    let app = App::open(fake.clone(), APP)?;
    println!(
        "App::open: boxes go to {} (home: {})",
        app.agents_path().display(),
        app.placement().kind.as_str()
    );
    let rel = |job: &JobBox<FakeFs>| -> String {
        job.path()
            .strip_prefix(fake.mount())
            .unwrap_or(job.path())
            .to_string_lossy()
            .into_owned()
    };

    let a = AgentCgroup::create(&app, "agent-7f3a", LIMITS, Policy::Strict)?;
    println!("create {}: {}", a.agent_id, a.job.path().display());
    let pid = fake.spawn(&rel(&a.job))?;
    println!("start {}: pid {pid}, born in the box", a.agent_id);

    let b = AgentCgroup::create(&app, "agent-b21c", LIMITS, Policy::Strict)?;
    println!("create {}: {}", b.agent_id, b.job.path().display());
    let outside = fake.spawn("")?;
    b.move_pid(outside)?;
    println!("move_pid {}: pid {outside} moved in", b.agent_id);

    // The agent works: what the kernel would now show.
    fake.set_file(
        &rel(&a.job),
        "cpu.stat",
        "usage_usec 182000\nuser_usec 150000\nsystem_usec 32000\nnr_periods 4\nnr_throttled 1\nthrottled_usec 9000\n",
    )?;
    fake.set_file(&rel(&a.job), "memory.current", "201326592\n")?;
    show_stats(&a.agent_id, &a.read_stats()?);
    show_stats(&b.agent_id, &b.read_stats()?);

    let tighter = Limits::new().memory_max(Size::Bytes(128 << 20));
    show_changed(&a.agent_id, &a.set_limits(&tighter)?);

    a.kill_all()?;
    println!(
        "kill_all {}: every process killed, box empty: {}",
        a.agent_id,
        !a.job.is_populated()?
    );
    // The manager reaps its agent. A fake process has no exit status: the
    // kernel's for a process killed by SIGKILL stands in for it.
    fake.reap(pid)?;
    let ended = a.outcome(ExitStatus::from_raw(9))?;
    println!("outcome {}: {}", a.agent_id, ended.describe());
    a.destroy()?;
    println!("destroy agent-7f3a: removed");
    drop(b);
    println!("drop agent-b21c: killed and removed by Drop");
    let left = fake.cgroups();
    println!("left: {left:?} (the app tree is long-lived)");
    Ok((ended, left))
}

/// The same on this machine's cgroup2, with real processes.
fn on_this_machine(policy: Policy) -> Result<(), Box<dyn Error>> {
    let fs = Arc::new(SysFs::new()?);
    let app = App::open(fs, APP)?;
    println!(
        "App::open: boxes go to {} (home: {})",
        app.agents_path().display(),
        app.placement().kind.as_str()
    );
    let result = agents_on_this_machine(&app, policy);
    // The example leaves nothing behind: not even the app tree (a real
    // manager keeps it for its next boxes).
    if let Err(e) = app.remove() {
        eprintln!("agent_manager: could not remove the app tree: {e}");
    }
    result
}

fn agents_on_this_machine(app: &App<SysFs>, policy: Policy) -> Result<(), Box<dyn Error>> {
    let a = AgentCgroup::create(app, "agent-7f3a", LIMITS, policy)?;
    println!("create {}: {}", a.agent_id, a.job.path().display());
    for s in a.job.skipped() {
        println!("create {}: skipped {}: {}", a.agent_id, s.what, s.error);
    }
    // What happens in the box from now on: one descriptor (under tokio,
    // wrap it in `AsyncFd`), looked at here without waiting.
    let mut events = a.job.events()?;
    let mut program = BoxCommand::new("sh");
    program.args([
        "-c",
        "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; sleep 30",
    ]);
    let mut child = a.start(&program)?;
    println!(
        "start {}: pid {}, {}",
        a.agent_id,
        child.id(),
        if child.born_inside() {
            "born in the box (clone3)"
        } else {
            "moved in before exec (fork path)"
        }
    );

    let b = AgentCgroup::create(app, "agent-b21c", LIMITS, policy)?;
    println!("create {}: {}", b.agent_id, b.job.path().display());
    let mut outside = Command::new("sleep").arg("30").spawn()?;
    b.move_pid(outside.id())?;
    println!("move_pid {}: pid {} moved in", b.agent_id, outside.id());

    std::thread::sleep(Duration::from_millis(300));
    show_stats(&a.agent_id, &a.read_stats()?);
    show_stats(&b.agent_id, &b.read_stats()?);
    show_events(&a.agent_id, &mut events)?;

    let tighter = Limits::new().memory_max(Size::Bytes(128 << 20));
    match a.set_limits(&tighter) {
        Ok(changed) => show_changed(&a.agent_id, &changed),
        Err(e) => println!("set_limits {}: not here: {e}", a.agent_id),
    }

    a.kill_all()?;
    let status = child.wait()?;
    println!(
        "kill_all {}: every process killed ({status}), box empty: {}",
        a.agent_id,
        !a.job.is_populated()?
    );
    show_events(&a.agent_id, &mut events)?;
    println!("outcome {}: {}", a.agent_id, a.outcome(status)?.describe());
    a.destroy()?;
    println!("destroy agent-7f3a: removed");
    drop(b);
    // The moved process is our child, killed with its box: reap it.
    let status = outside.wait()?;
    println!("drop agent-b21c: killed ({status}) and removed by Drop");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let known = ["--real", "--best-effort"];
    if let Some(bad) = args.iter().find(|a| !known.contains(&a.as_str())) {
        eprintln!("agent_manager: unknown argument {bad:?} (--real, --best-effort)");
        std::process::exit(2);
    }
    let real = args.iter().any(|a| a == "--real");
    let policy = if args.iter().any(|a| a == "--best-effort") {
        Policy::BestEffort
    } else {
        Policy::Strict
    };
    if real {
        println!("agent_manager on this machine's cgroup2");
        if let Err(e) = on_this_machine(policy) {
            fail("on this machine", e.as_ref());
        }
    } else {
        println!("agent_manager on cgbox's fake kernel (--real: this machine's cgroup2)");
        if let Err(e) = on_the_fake() {
            fail("on the fake", &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use cgbox::Cause;

    /// `cargo test` runs the example's fake path: every step succeeds, the
    /// agent killed by `kill_all` is said to be (not a SIGKILL from
    /// elsewhere), and nothing but the long-lived app tree is left.
    #[test]
    fn runs_on_the_fake_and_leaves_only_the_app_tree() {
        let (ended, left) = super::on_the_fake().unwrap();
        assert_eq!(ended.cause, Cause::KilledWithBox);
        assert_eq!(ended.describe(), "killed with its box");
        // Counted over the run: the CPU time the fake's kernel was given.
        assert_eq!(ended.counts.cpu_usec, Some(182_000));
        assert_eq!(
            left,
            [
                "/",
                "/agent-manager-example",
                "/agent-manager-example/agents"
            ]
        );
    }
}
