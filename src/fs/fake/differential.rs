//! Fake versus kernel: every scenario of `scenarios.txt` (beside this file) runs against
//! `FakeFs` here and, where a writable cgroup2 with controllers exists (the
//! VM of `tests/vm/run.sh`), against the real kernel. Each step's outcome
//! must be the one the scenario states, on both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::KillMethod;
use crate::fs::fake::{FakeFs, Kernel};
use crate::fs::{Access, CgroupFs, SysFs, read_string};
use crate::testkit::skip;
use rustix::io::Errno;

struct Scenario {
    name: String,
    /// The kernels it applies to (all conditions hold); empty: every kernel.
    kernels: Vec<Cond>,
    steps: Vec<Step>,
}

struct Step {
    line: usize,
    /// The kernels this step applies to; empty: those of the scenario.
    kernels: Vec<Cond>,
    step: String,
    expected: String,
}

/// One condition of `[kernels >= 5.14, < 6.12]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cond {
    op: Op,
    version: (u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl Cond {
    fn holds(self, kernel: Kernel) -> bool {
        let v = kernel.version();
        match self.op {
            Op::Ge => v >= self.version,
            Op::Gt => v > self.version,
            Op::Le => v <= self.version,
            Op::Lt => v < self.version,
            Op::Eq => v == self.version,
        }
    }
}

fn applies(conds: &[Cond], kernel: Kernel) -> bool {
    conds.iter().all(|c| c.holds(kernel))
}

/// Parse the inside of `[kernels ...]`: `>= 5.14`, `< 6.12, >= 5.13`.
fn parse_conds(text: &str) -> Result<Vec<Cond>, String> {
    let body = text
        .strip_prefix("kernels")
        .ok_or_else(|| format!("[{text}]: a qualifier starts with `kernels`"))?;
    let mut out = Vec::new();
    for part in body.split(',') {
        let part = part.trim();
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ]
        .iter()
        .find_map(|(sym, op)| part.strip_prefix(sym).map(|r| (*op, r.trim())))
        .ok_or_else(|| format!("[{text}]: `{part}` is not OP MAJOR.MINOR"))?;
        let (major, minor) = rest
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| format!("[{text}]: `{rest}` is not MAJOR.MINOR"))?;
        out.push(Cond {
            op,
            version: (major, minor),
        });
    }
    Ok(out)
}

/// Split a leading or trailing `[kernels ...]` off `text`.
fn qualifier(text: &str, leading: bool) -> Result<(Vec<Cond>, &str), String> {
    let text = text.trim();
    if leading {
        if let Some(rest) = text.strip_prefix('[') {
            let (q, rest) = rest
                .split_once(']')
                .ok_or_else(|| "unclosed [".to_owned())?;
            return Ok((parse_conds(q.trim())?, rest.trim()));
        }
    } else if let Some(head) = text.strip_suffix(']') {
        let (rest, q) = head
            .rsplit_once('[')
            .ok_or_else(|| "unopened ]".to_owned())?;
        return Ok((parse_conds(q.trim())?, rest.trim()));
    }
    Ok((Vec::new(), text))
}

fn scenarios() -> Vec<Scenario> {
    parse_scenarios(include_str!("scenarios.txt")).unwrap_or_else(|e| panic!("scenarios.txt: {e}"))
}

fn parse_scenarios(text: &str) -> Result<Vec<Scenario>, String> {
    let mut out: Vec<Scenario> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        let at = |e: String| format!("line {}: {e}", i + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("scenario ") {
            let (kernels, name) = qualifier(name, false).map_err(at)?;
            out.push(Scenario {
                name: name.to_owned(),
                kernels,
                steps: Vec::new(),
            });
            continue;
        }
        let (kernels, line) = qualifier(line, true).map_err(at)?;
        let (step, expected) = line.split_once(" =>").ok_or_else(|| at("no =>".into()))?;
        let scenario = out
            .last_mut()
            .ok_or_else(|| at("step before any scenario".into()))?;
        scenario.steps.push(Step {
            line: i + 1,
            kernels,
            step: step.trim().to_owned(),
            expected: expected.trim().to_owned(),
        });
    }
    Ok(out)
}

/// What differs between the fake and the kernel: how processes are made.
trait Procs {
    type Fs: CgroupFs;
    fn fs(&self) -> &Self::Fs;
    /// Start a sleeping process (in the caller's cgroup) and return its PID.
    fn start(&mut self, label: &str) -> u32;
    /// SIGKILL it without reaping: it becomes a zombie.
    fn zombie(&mut self, label: &str) -> Result<(), Errno>;
    fn pid(&self, label: &str) -> u32;
    /// Reap it (`waitpid`).
    fn reap(&mut self, label: &str) -> Result<(), Errno>;
    /// The step about to run (the kernel's runner tells its watchdog).
    fn note_step(&self, _what: String) {}
}

/// The kernel runner's current step and since when. A step that blocks in
/// the kernel would otherwise end only as the VM's timeout with nothing
/// said (seen once on 5.10 under a loaded host, Dec 2026): the watchdog
/// names it on the console after a minute.
static NOW_RUNNING: Mutex<Option<(String, Instant)>> = Mutex::new(None);

/// Name, on the console, a step of the kernel runner that has run for
/// over a minute (the test harness holds stderr until the test ends).
/// Polls every 5 s: a diagnostic, nothing waits on it.
fn watch_for_stuck_steps() {
    std::thread::spawn(|| {
        let mut told = String::new();
        loop {
            std::thread::sleep(Duration::from_secs(5));
            let current = NOW_RUNNING.lock().ok().and_then(|g| g.clone());
            let Some((what, since)) = current else {
                continue;
            };
            if since.elapsed() < Duration::from_secs(60) || what == told {
                continue;
            }
            if let Ok(mut console) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
                use std::io::Write;
                let secs = since.elapsed().as_secs();
                let _ = writeln!(console, "differential: stuck for {secs} s at {what}");
            }
            told = what;
        }
    });
}

struct Fake {
    fs: FakeFs,
    pids: BTreeMap<String, u32>,
}

impl Procs for Fake {
    type Fs = FakeFs;
    fn fs(&self) -> &FakeFs {
        &self.fs
    }
    fn start(&mut self, label: &str) -> u32 {
        let pid = self.fs.spawn("").unwrap();
        self.pids.insert(label.to_owned(), pid);
        pid
    }
    fn zombie(&mut self, label: &str) -> Result<(), Errno> {
        self.fs.exit(self.pid(label)).map_err(|_| Errno::SRCH)
    }
    fn pid(&self, label: &str) -> u32 {
        self.pids[label]
    }
    fn reap(&mut self, label: &str) -> Result<(), Errno> {
        self.fs.reap(self.pid(label)).map_err(|_| Errno::CHILD)
    }
}

struct Real {
    fs: Arc<SysFs>,
    children: BTreeMap<String, Child>,
}

impl Procs for Real {
    type Fs = SysFs;
    fn fs(&self) -> &SysFs {
        &self.fs
    }
    fn start(&mut self, label: &str) -> u32 {
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.insert(label.to_owned(), child);
        pid
    }
    fn zombie(&mut self, label: &str) -> Result<(), Errno> {
        let pid = self.pid(label);
        let fd = self.fs.pidfd_open(pid).map_err(|_| Errno::SRCH)?;
        self.fs.pidfd_kill(&fd).map_err(|_| Errno::SRCH)?;
        // Not reaped: wait until the kernel shows it as a zombie.
        wait_until(|| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
        });
        Ok(())
    }
    fn pid(&self, label: &str) -> u32 {
        self.children[label].id()
    }
    fn reap(&mut self, label: &str) -> Result<(), Errno> {
        let child = self.children.get_mut(label).ok_or(Errno::CHILD)?;
        child.wait().map(drop).map_err(|_| Errno::CHILD)
    }
    fn note_step(&self, what: String) {
        if let Ok(mut now) = NOW_RUNNING.lock() {
            *now = Some((what, Instant::now()));
        }
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Poll a condition with a bounded deadline (a state change, not a timer).
fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in 10 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn errno_name(e: &crate::Error) -> String {
    let n = e.errno().unwrap_or(0);
    let name = [
        (Errno::NOENT, "ENOENT"),
        (Errno::INVAL, "EINVAL"),
        (Errno::BUSY, "EBUSY"),
        (Errno::EXIST, "EEXIST"),
        (Errno::RANGE, "ERANGE"),
        (Errno::SRCH, "ESRCH"),
        (Errno::ACCESS, "EACCES"),
        (Errno::PERM, "EPERM"),
        (Errno::NODEV, "ENODEV"),
        (Errno::OPNOTSUPP, "EOPNOTSUPP"),
        (Errno::NOTEMPTY, "ENOTEMPTY"),
    ]
    .iter()
    .find(|(errno, _)| errno.raw_os_error() == n)
    .map(|(_, name)| (*name).to_owned());
    name.unwrap_or_else(|| format!("errno {n} ({e})"))
}

fn outcome(r: crate::Result<()>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => errno_name(&e),
    }
}

fn escape(s: &str) -> String {
    s.replace('\n', "\\n")
}

/// Run one scenario under `base` (the scenario cgroup's absolute path) as
/// `kernel` should answer; return the first disagreement.
fn run<P: Procs>(
    p: &mut P,
    kernel: Kernel,
    root: &Path,
    base: &Path,
    scenario: &Scenario,
) -> Result<(), String> {
    let abs = |rel: &str| -> PathBuf {
        match rel {
            "/" => root.to_path_buf(),
            "." => base.to_path_buf(),
            r => base.join(r),
        }
    };
    for Step {
        line,
        kernels: _,
        step,
        expected,
    } in scenario
        .steps
        .iter()
        .filter(|s| applies(&s.kernels, kernel))
    {
        p.note_step(format!("{} (line {line}): {step}", scenario.name));
        let words: Vec<&str> = step.split(' ').collect();
        let fs = p.fs();
        let got = match words.as_slice() {
            ["mkdir", rel] => {
                let path = abs(rel);
                let parent = fs.open_dir(path.parent().unwrap()).unwrap();
                outcome(fs.make_child(&parent, path.file_name().unwrap().to_str().unwrap()))
            }
            ["rmdir", rel] => {
                let path = abs(rel);
                let parent = fs.open_dir(path.parent().unwrap()).unwrap();
                outcome(fs.remove_child(&parent, path.file_name().unwrap().to_str().unwrap()))
            }
            ["write", rel, file, value @ ..] => {
                let dir = fs.open_dir(&abs(rel)).unwrap();
                outcome(fs.write_file(&dir, file, value.join(" ").as_bytes()))
            }
            ["read", rel, file] => {
                let dir = fs.open_dir(&abs(rel)).unwrap();
                match read_string(fs, &dir, file) {
                    Ok(s) => escape(&s),
                    Err(e) => errno_name(&e),
                }
            }
            ["has", rel, file] => fs
                .has_file(&fs.open_dir(&abs(rel)).unwrap(), file)
                .unwrap()
                .to_string(),
            ["keys", rel, file] => match read_string(fs, &fs.open_dir(&abs(rel)).unwrap(), file) {
                Ok(text) => text
                    .lines()
                    .filter_map(|l| l.split(' ').next())
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(e) => errno_name(&e),
            },
            ["key", rel, file, key] => {
                match read_string(fs, &fs.open_dir(&abs(rel)).unwrap(), file) {
                    Ok(text) => text
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{key} ")))
                        .unwrap_or("<absent>")
                        .to_owned(),
                    Err(e) => errno_name(&e),
                }
            }
            ["spawn", label, rel] => {
                let pid = p.start(label);
                let fs = p.fs();
                outcome(fs.write_file(
                    &fs.open_dir(&abs(rel)).unwrap(),
                    "cgroup.procs",
                    pid.to_string().as_bytes(),
                ))
            }
            ["move", label, rel] => {
                let pid = p.pid(label);
                outcome(fs.write_file(
                    &fs.open_dir(&abs(rel)).unwrap(),
                    "cgroup.procs",
                    pid.to_string().as_bytes(),
                ))
            }
            ["thread", label, rel] => {
                let pid = p.pid(label);
                outcome(fs.write_file(
                    &fs.open_dir(&abs(rel)).unwrap(),
                    "cgroup.threads",
                    pid.to_string().as_bytes(),
                ))
            }
            ["lines", rel, file] => {
                let dir = fs.open_dir(&abs(rel)).unwrap();
                match read_string(fs, &dir, file) {
                    Ok(s) => s.lines().count().to_string(),
                    Err(e) => errno_name(&e),
                }
            }
            ["kill", rel] => {
                // cgroup.kill where the kernel has it, else the signal path
                let dir = fs.open_dir(&abs(rel)).unwrap();
                let deadline = fs.now() + Duration::from_secs(10);
                let r = crate::kill::kill(fs, &dir, KillMethod::Auto, deadline).and_then(|_| {
                    let events = fs.open_file(&dir, "cgroup.events", Access::Read)?;
                    crate::kill::wait_until_empty(fs, &events, &mut Vec::new(), deadline)
                });
                outcome(r)
            }
            ["wait-frozen", rel, state] => {
                let dir = fs.open_dir(&abs(rel)).unwrap();
                let want = format!("frozen {state}");
                let deadline = fs.now() + Duration::from_secs(10);
                loop {
                    let text = read_string(fs, &dir, "cgroup.events").unwrap();
                    if text.lines().any(|l| l == want) {
                        break "ok".to_owned();
                    }
                    if fs.now() > deadline {
                        break format!("still {}", escape(&text));
                    }
                    fs.sleep(Duration::from_millis(1));
                }
            }
            ["setxattr", rel, name, value @ ..] => {
                let dir = fs.open_dir(&abs(rel)).unwrap();
                outcome(fs.write_xattr(&dir, name, value.join(" ").as_bytes()))
            }
            ["getxattr", rel, name] => {
                let dir = fs.open_dir(&abs(rel)).unwrap();
                match fs.read_xattr(&dir, name) {
                    Ok(Some(v)) => escape(&String::from_utf8_lossy(&v)),
                    Ok(None) => "<absent>".into(),
                    Err(e) => errno_name(&e),
                }
            }
            ["reap", label] => match p.reap(label) {
                Ok(()) => "ok".into(),
                Err(e) => format!("{e:?}"),
            },
            ["exited", label] => {
                // Whether its pidfd says it ended, waiting a little for it.
                match fs.pidfd_open(p.pid(label)) {
                    Ok(fd) => {
                        let mut exits = vec![fd];
                        match fs.wait_for_exit(&mut exits, Duration::from_millis(50)) {
                            Ok(_) => exits.is_empty().to_string(),
                            Err(e) => errno_name(&e),
                        }
                    }
                    Err(e) => errno_name(&e),
                }
            }
            ["zombie", label] => match p.zombie(label) {
                Ok(()) => "ok".into(),
                Err(e) => format!("{e:?}"),
            },
            other => panic!("line {line}: unknown step {other:?}"),
        };
        if &got != expected {
            return Err(format!(
                "line {line}: `{step}` gave {got:?}, the scenario says {expected:?}"
            ));
        }
    }
    Ok(())
}

/// `+c` for every controller `kernel` has.
fn enable_all(kernel: Kernel) -> String {
    let all: Vec<String> = kernel
        .controllers()
        .iter()
        .map(|c| format!("+{c}"))
        .collect();
    all.join(" ")
}

#[test]
fn scenarios_parse_and_are_enough() {
    let all = scenarios();
    assert!(all.len() >= 30, "{} scenarios", all.len());
    assert!(all.iter().all(|s| !s.steps.is_empty()));
    for k in Kernel::ALL {
        let n = all.iter().filter(|s| applies(&s.kernels, k)).count();
        assert!(n >= 30, "only {n} scenarios apply to {k:?}");
        let steps = all
            .iter()
            .filter(|s| applies(&s.kernels, k))
            .all(|s| s.steps.iter().any(|st| applies(&st.kernels, k)));
        assert!(steps, "a scenario for {k:?} has no step for it");
    }
    // Each kernel-specific fact is stated for every kernel: the suite
    // proves what a kernel lacks as well as what it has.
    let qualified = all
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|st| !st.kernels.is_empty())
        .count();
    assert!(qualified >= 20, "{qualified} kernel-qualified steps");
}

#[test]
fn the_kernels_qualifier_syntax() {
    let text = "scenario a [kernels >= 5.14]\n[kernels < 6.12, >= 5.13] has a x => true\nhas a y => false\nscenario b\n[kernels = 5.10] read a z => \n";
    let s = parse_scenarios(text).unwrap();
    assert_eq!(s[0].name, "a");
    assert_eq!(
        s[0].kernels,
        vec![Cond {
            op: Op::Ge,
            version: (5, 14)
        }]
    );
    assert_eq!(s[0].steps[0].step, "has a x");
    assert!(applies(&s[0].steps[0].kernels, Kernel::V6_1));
    assert!(!applies(&s[0].steps[0].kernels, Kernel::V6_12));
    assert!(!applies(&s[0].steps[0].kernels, Kernel::V5_10));
    assert!(s[0].steps[1].kernels.is_empty());
    assert!(!applies(&s[0].kernels, Kernel::V5_10));
    assert!(s[1].kernels.is_empty() && s[1].steps[0].expected.is_empty());
    assert!(applies(&s[1].steps[0].kernels, Kernel::V5_10));
    for bad in [
        "scenario x [kernel >= 5.1]\nhas a b => true\n",
        "scenario x\n[kernels ~ 5.1] has a b => true\n",
        "scenario x\n[kernels >= 5] has a b => true\n",
        "scenario x\n[kernels >= 5.1 has a b => true\n",
        "has a b => true\n",
    ] {
        assert!(parse_scenarios(bad).is_err(), "{bad:?} parsed");
    }
}

/// Each profile of the fake against every scenario that applies to it.
#[test]
fn the_fake_agrees_with_every_scenario_on_every_kernel() {
    let mut failures = Vec::new();
    for kernel in Kernel::ALL {
        for s in scenarios().iter().filter(|s| applies(&s.kernels, kernel)) {
            let fake = FakeFs::with_kernel(kernel);
            let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
            fake.write_file(
                &root,
                "cgroup.subtree_control",
                enable_all(kernel).as_bytes(),
            )
            .unwrap();
            fake.make_child(&root, "s").unwrap();
            let mut p = Fake {
                fs: fake,
                pids: BTreeMap::new(),
            };
            if let Err(e) = run(
                &mut p,
                kernel,
                Path::new("/sys/fs/cgroup"),
                Path::new("/sys/fs/cgroup/s"),
                s,
            ) {
                failures.push(format!("{kernel:?}: {}: {e}", s.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fake disagrees:\n{}",
        failures.join("\n")
    );
}

/// The real kernel, where the root offers every controller (the VM),
/// against the scenarios for its version, as its fake profile does.
#[test]
fn the_kernel_agrees_with_every_scenario() {
    let fs = Arc::new(SysFs::new().unwrap());
    let found = crate::Discovery::probe(&*fs, "x");
    let ready = found.usable()
        && found.placement.as_ref().map(|p| &p.kind) == Some(&crate::HomeKind::RealRoot)
        && ["cpu", "memory", "pids", "io", "cpuset"]
            .iter()
            .all(|c| found.controllers.iter().any(|h| h == c));
    if !ready {
        let why = format!(
            "needs the real root cgroup with every controller (the VM): {:?}",
            found.problems
        );
        skip("the_kernel_agrees_with_every_scenario", &why);
        return;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let kernel = Kernel::from_release(&release).unwrap_or_else(|| {
        panic!(
            "no fake profile for kernel {}: add one to src/fs/fake/profile.rs",
            release.trim()
        )
    });
    let root_path = found.home().unwrap().to_path_buf();
    let root = fs.open_dir(&root_path).unwrap();
    let have = read_string(&*fs, &root, "cgroup.subtree_control").unwrap();
    assert_eq!(
        have,
        format!("{}\n", kernel.controllers().join(" ")),
        "the VM enables every controller of {kernel:?} at the root"
    );
    watch_for_stuck_steps();
    let mut failures = Vec::new();
    let all = scenarios();
    let mine: Vec<&Scenario> = all.iter().filter(|s| applies(&s.kernels, kernel)).collect();
    eprintln!(
        "differential: {} ({kernel:?}): {} scenarios, {} for other kernels only",
        release.trim(),
        mine.len(),
        all.len() - mine.len()
    );
    for (i, s) in mine.into_iter().enumerate() {
        let name = format!("cgbox-diff-{i}");
        fs.make_child(&root, &name).unwrap();
        let base = root_path.join(&name);
        let result = {
            let mut p = Real {
                fs: fs.clone(),
                children: BTreeMap::new(),
            };
            let result = run(&mut p, kernel, &root_path, &base, s);
            p.note_step(format!("{}: cleaning up", s.name));
            result
            // children killed and reaped here
        };
        if let Err(e) = result {
            failures.push(format!("{}: {e}", s.name));
        }
        // Anything left (processes moved out of the tree die with their handles).
        let dir = fs.open_dir(&base).unwrap();
        let deadline = fs.now() + Duration::from_secs(10);
        crate::kill::kill(&*fs, &dir, KillMethod::Auto, deadline).unwrap();
        let events = fs.open_file(&dir, "cgroup.events", Access::Read).unwrap();
        crate::kill::wait_until_empty(&*fs, &events, &mut Vec::new(), deadline).unwrap();
        crate::kill::remove_tree(&*fs, &root, &name, fs.now() + Duration::from_secs(10)).unwrap();
    }
    assert!(
        failures.is_empty(),
        "{kernel:?}: the kernel disagrees (fix the fake, the kernel is right):\n{}",
        failures.join("\n")
    );
}
