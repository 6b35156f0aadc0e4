//! Fake versus kernel: every scenario of `tests/scenarios.txt` runs against
//! `FakeFs` here and, where a writable cgroup2 with controllers exists (the
//! VM of `tests/vm/run.sh`), against the real kernel. Each step's outcome
//! must be the one the scenario states, on both.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cgbox::fs::fake::FakeFs;
use cgbox::fs::{Access, CgroupFs, SysFs, read_string};
use rustix::io::Errno;

struct Scenario {
    name: String,
    steps: Vec<(usize, String, String)>, // line, step, expected outcome
}

fn scenarios() -> Vec<Scenario> {
    let text = include_str!("scenarios.txt");
    let mut out: Vec<Scenario> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("scenario ") {
            out.push(Scenario {
                name: name.to_owned(),
                steps: Vec::new(),
            });
            continue;
        }
        let (step, expected) = line
            .split_once(" =>")
            .unwrap_or_else(|| panic!("line {}: no =>", i + 1));
        let scenario = out
            .last_mut()
            .unwrap_or_else(|| panic!("line {}: step before any scenario", i + 1));
        scenario
            .steps
            .push((i + 1, step.trim().to_owned(), expected.trim().to_owned()));
    }
    out
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
        let fd: OwnedFd = self.fs.pidfd_open(pid).map_err(|_| Errno::SRCH)?;
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

fn errno_name(e: &cgbox::Error) -> String {
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

fn outcome(r: cgbox::Result<()>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => errno_name(&e),
    }
}

fn escape(s: &str) -> String {
    s.replace('\n', "\\n")
}

/// Run one scenario under `base` (the scenario cgroup's absolute path);
/// return the first disagreement.
fn run<P: Procs>(p: &mut P, root: &Path, base: &Path, scenario: &Scenario) -> Result<(), String> {
    let abs = |rel: &str| -> PathBuf {
        match rel {
            "/" => root.to_path_buf(),
            "." => base.to_path_buf(),
            r => base.join(r),
        }
    };
    for (line, step, expected) in &scenario.steps {
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
            ["keys", rel, file] => {
                let text = read_string(fs, &fs.open_dir(&abs(rel)).unwrap(), file).unwrap();
                text.lines()
                    .filter_map(|l| l.split(' ').next())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            ["key", rel, file, key] => {
                let text = read_string(fs, &fs.open_dir(&abs(rel)).unwrap(), file).unwrap();
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key} ")))
                    .unwrap_or("<absent>")
                    .to_owned()
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
                let dir = fs.open_dir(&abs(rel)).unwrap();
                let r = fs.write_file(&dir, "cgroup.kill", b"1").and_then(|()| {
                    let events = fs.open_file(&dir, "cgroup.events", Access::Read)?;
                    cgbox::kill::wait_until_empty(
                        fs,
                        &events,
                        &mut Vec::new(),
                        fs.now() + Duration::from_secs(10),
                    )
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
            ["reap", label] => match p.reap(label) {
                Ok(()) => "ok".into(),
                Err(e) => format!("{e:?}"),
            },
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

const ALL: &str = "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc";

#[test]
fn scenarios_parse_and_are_enough() {
    let all = scenarios();
    assert!(all.len() >= 30, "{} scenarios", all.len());
    assert!(all.iter().all(|s| !s.steps.is_empty()));
}

#[test]
fn the_fake_agrees_with_every_scenario() {
    let mut failures = Vec::new();
    for s in scenarios() {
        let fake = FakeFs::new();
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        fake.write_file(&root, "cgroup.subtree_control", ALL.as_bytes())
            .unwrap();
        fake.make_child(&root, "s").unwrap();
        let mut p = Fake {
            fs: fake,
            pids: BTreeMap::new(),
        };
        if let Err(e) = run(
            &mut p,
            Path::new("/sys/fs/cgroup"),
            Path::new("/sys/fs/cgroup/s"),
            &s,
        ) {
            failures.push(format!("{}: {e}", s.name));
        }
    }
    assert!(
        failures.is_empty(),
        "fake disagrees:\n{}",
        failures.join("\n")
    );
}

/// The real kernel, where the root offers every controller (the VM).
#[test]
fn the_kernel_agrees_with_every_scenario() {
    let fs = Arc::new(SysFs::new().unwrap());
    let found = cgbox::discover::Discovery::probe(&*fs, "x");
    let ready = found.usable()
        && found.placement == Some(cgbox::placement::HomeKind::RealRoot)
        && ["cpu", "memory", "pids", "io", "cpuset"]
            .iter()
            .all(|c| found.controllers.iter().any(|h| h == c));
    if !ready {
        let why = format!(
            "needs the real root cgroup with every controller (the VM): {:?}",
            found.problems
        );
        if std::env::var("CGBOX_REQUIRE_REAL_CGROUP").as_deref() == Ok("1") {
            panic!("CGBOX_REQUIRE_REAL_CGROUP=1 but this test {why}");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }
    let root_path = found.parent.clone().unwrap();
    let root = fs.open_dir(&root_path).unwrap();
    let have = read_string(&*fs, &root, "cgroup.subtree_control").unwrap();
    assert_eq!(
        have, "cpuset cpu io memory hugetlb pids rdma misc\n",
        "the VM enables every controller at the root"
    );
    let mut failures = Vec::new();
    for (i, s) in scenarios().iter().enumerate() {
        let name = format!("cgbox-diff-{i}");
        fs.make_child(&root, &name).unwrap();
        let base = root_path.join(&name);
        let result = {
            let mut p = Real {
                fs: fs.clone(),
                children: BTreeMap::new(),
            };
            run(&mut p, &root_path, &base, s)
            // children killed and reaped here
        };
        if let Err(e) = result {
            failures.push(format!("{}: {e}", s.name));
        }
        // Anything left (processes moved out of the tree die with their handles).
        let dir = fs.open_dir(&base).unwrap();
        let _ = fs.write_file(&dir, "cgroup.kill", b"1");
        let events = fs.open_file(&dir, "cgroup.events", Access::Read).unwrap();
        cgbox::kill::wait_until_empty(
            &*fs,
            &events,
            &mut Vec::new(),
            fs.now() + Duration::from_secs(10),
        )
        .unwrap();
        cgbox::kill::remove_tree(&*fs, &root, &name, fs.now() + Duration::from_secs(10)).unwrap();
    }
    assert!(
        failures.is_empty(),
        "the kernel disagrees (fix the fake, the kernel is right):\n{}",
        failures.join("\n")
    );
}
