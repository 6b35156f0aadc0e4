//! What a job sees of its box's limits, found the way runtimes find them
//! (the JVM, Go's and .NET's runtimes): its own cgroup from
//! `/proc/self/cgroup`, the cgroup2 mount that holds it from
//! `/proc/self/mountinfo`, then that cgroup's `memory.max`, `cpu.max` and
//! `pids.max`. For every way cgbox starts a job: `run`, `run --cgroupns`,
//! `create` + `exec` (and `exec --cgroupns`), a `run` inside a limited
//! box (and with `--cgroupns` inside), and after `set` on the box: a new
//! `exec` sees the new limit, and a sub-box still running follows it.
//!
//! On a real kernel with the cpu, memory and pids controllers (the VM of
//! tests/vm/run.sh: Linux 5.10, 6.1, 6.12). Elsewhere each test says why
//! and does nothing, unless CGBOX_REQUIRE_REAL_CGROUP=1 (the VM), where
//! that is a failure.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use cgbox::Discovery;
use cgbox::fs::SysFs;

const NEEDED: [&str; 3] = ["cpu", "memory", "pids"];

/// The job: resolves its limits as runtimes do, and prints them. Busybox
/// sh, sed, awk and cat are enough (the VM has nothing more).
///
/// `dir` is how Go's runtime, systemd and container runtimes find the
/// cgroup: the cgroup2 mount whose root (mountinfo's fourth field) holds
/// the path of `/proc/self/cgroup`, plus the rest of the path. `jdk17` is
/// how JDK 17 does it: the first cgroup2 mount point, plus the whole path.
const PROBE: &str = r#"#!/bin/sh
cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
dir=$(awk -v cg="$cg" '
    { for (i = 7; i <= NF && $i != "-"; i++) {}
      if ($(i + 1) != "cgroup2") next
      root = $4; mp = $5
      if (root == "/") rel = cg
      else if (cg == root) rel = "/"
      else if (index(cg, root "/") == 1) rel = substr(cg, length(root) + 1)
      else next
      if (found == "" || length(root) > best) { found = mp (rel == "/" ? "" : rel); best = length(root) }
      if (first == "") first = mp }
    END { print found; print first }' /proc/self/mountinfo)
first=$(echo "$dir" | sed -n 2p)
dir=$(echo "$dir" | sed -n 1p)
[ "$cg" = / ] && jdk17=$first || jdk17=$first$cg
echo "cgroup $cg"
echo "dir $dir"
echo "jdk17 $jdk17"
for f in memory.max cpu.max pids.max; do
    if [ -e "$dir/$f" ]; then echo "$f $(cat "$dir/$f")"; else echo "$f absent"; fi
done
"#;

struct Vm {
    app: String,
    home: PathBuf,
    probe: PathBuf,
    _tree: common::AppTree,
}

/// The live system when it can prove limits, else `None` (said, or a
/// failure under CGBOX_REQUIRE_REAL_CGROUP=1).
fn vm(test: &str) -> Option<Vm> {
    let live = common::live("sees", test)?;
    let missing: Vec<&str> = NEEDED
        .iter()
        .copied()
        .filter(|c| !live.discovery.controllers.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        common::skip(test, &format!("needs {NEEDED:?}, missing {missing:?}"));
        return None;
    }
    let probe = std::env::temp_dir().join(format!("{}-probe.sh", live.app));
    std::fs::write(&probe, PROBE).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(Vm {
        home: live.discovery.home().unwrap().to_path_buf(),
        app: live.app,
        probe,
        _tree: live.tree,
    })
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.probe);
    }
}

impl Vm {
    /// `cgbox --app APP ARGS...`.
    fn cgbox(&self, args: &[&str]) -> Output {
        let out = common::cgbox_in(env!("CARGO_BIN_EXE_cgbox"), &self.app, args);
        eprintln!(
            "$ cgbox --app {} {}\n{}{}exit {:?}",
            self.app,
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        );
        out
    }

    /// Start the probe with `args` before `--` and read what it saw.
    fn sees(&self, args: &[&str]) -> Seen {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--", self.probe.to_str().unwrap()]);
        let out = self.cgbox(&all);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        Seen::parse(&String::from_utf8_lossy(&out.stdout))
    }

    fn boxes(&self) -> PathBuf {
        self.home.join(&self.app).join("agents")
    }
}

/// What the probe printed.
#[derive(Debug)]
struct Seen {
    cgroup: String,
    dir: String,
    jdk17: String,
    memory_max: String,
    cpu_max: String,
    pids_max: String,
}

impl Seen {
    fn parse(text: &str) -> Seen {
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key} ")))
                .unwrap_or_else(|| panic!("no {key} in {text:?}"))
                .to_owned()
        };
        Seen {
            cgroup: get("cgroup"),
            dir: get("dir"),
            jdk17: get("jdk17"),
            memory_max: get("memory.max"),
            cpu_max: get("cpu.max"),
            pids_max: get("pids.max"),
        }
    }

    /// The job found its own cgroup, the JDK 17 way too, and it shows
    /// `memory`, `cpu` and `pids`.
    fn shows(&self, how: &str, memory: &str, cpu: &str, pids: &str) {
        assert!(
            !self.dir.is_empty(),
            "{how}: no cgroup2 mount holds {self:?}"
        );
        assert_eq!(self.jdk17, self.dir, "{how}: JDK 17 reads elsewhere");
        assert_eq!(
            (
                self.memory_max.as_str(),
                self.cpu_max.as_str(),
                self.pids_max.as_str()
            ),
            (memory, cpu, pids),
            "{how}: {self:?}"
        );
        eprintln!(
            "{}: {how}: cgroup {} at {}: memory.max {memory}, cpu.max {cpu}, pids.max {pids}",
            common::kernel_release(),
            self.cgroup,
            self.dir
        );
    }
}

const LIMITS: [&str; 6] = ["--memory", "256M", "--cpus", "1.5", "--pids", "64"];
const M256: &str = "268435456";
const M512: &str = "536870912";
const CPU: &str = "150000 100000";

fn with_limits<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = args.to_vec();
    out.extend(LIMITS);
    out
}

#[test]
fn run_shows_the_box_in_its_own_cgroup() {
    let Some(vm) = vm("run") else { return };
    let seen = vm.sees(&with_limits(&["run", "--quiet"]));
    assert!(
        seen.cgroup.contains(&format!("/{}/agents/", vm.app)),
        "{seen:?}"
    );
    seen.shows("run", M256, CPU, "64");
}

#[test]
fn run_cgroupns_shows_the_box_as_the_whole_tree() {
    let Some(vm) = vm("run_cgroupns") else { return };
    let seen = vm.sees(&with_limits(&["run", "--quiet", "--cgroupns"]));
    assert_eq!(seen.cgroup, "/");
    let mount = Discovery::probe(&SysFs::new().unwrap(), &vm.app)
        .mount
        .unwrap();
    assert_eq!(Path::new(&seen.dir), mount, "the box at the mount point");
    seen.shows("run --cgroupns", M256, CPU, "64");
}

#[test]
fn exec_shows_the_box_and_follows_set() {
    let Some(vm) = vm("exec") else { return };
    let made = vm.cgbox(&with_limits(&["create", "a1"]));
    assert_eq!(made.status.code(), Some(0));
    let seen = vm.sees(&["exec", "a1", "--quiet"]);
    assert!(seen.cgroup.contains("/agents/a1/exec/agents/"), "{seen:?}");
    seen.shows("exec", M256, CPU, "64");
    vm.sees(&["exec", "a1", "--quiet", "--cgroupns"])
        .shows("exec --cgroupns", M256, CPU, "64");

    // A sub-box that stays: its command leaves a process running.
    let left = vm.cgbox(&[
        "exec",
        "a1",
        "--quiet",
        "--",
        "sh",
        "-c",
        "sleep 300 </dev/null >/dev/null 2>&1 &",
    ]);
    assert_eq!(left.status.code(), Some(0));
    let exec_boxes = vm.boxes().join("a1/exec/agents");
    let kept: Vec<PathBuf> = std::fs::read_dir(&exec_boxes)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let kept = &kept[0];
    let read = |f: &str| {
        std::fs::read_to_string(kept.join(f))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(read("memory.max"), M256);
    // Its own limits (none) are recorded where it shows the box's.
    let record = rustix::fs::getxattr(kept, "user.cgbox.limits", &mut [0u8; 256][..]).map(|_| ());
    assert!(record.is_ok(), "{record:?}");

    let set = vm.cgbox(&["set", "a1", "--memory", "512M"]);
    assert_eq!(set.status.code(), Some(0));
    assert_eq!(read("memory.max"), M512, "the running sub-box follows");
    assert_eq!(read("pids.max"), "64");
    vm.sees(&["exec", "a1", "--quiet"])
        .shows("exec after set --memory 512M", M512, CPU, "64");
    vm.sees(&["exec", "a1", "--quiet", "--cgroupns"]).shows(
        "exec --cgroupns after set",
        M512,
        CPU,
        "64",
    );
    let set = vm.cgbox(&["set", "a1", "--memory", "128M", "--cpus", "0.5"]);
    assert_eq!(set.status.code(), Some(0));
    assert_eq!(read("memory.max"), "134217728", "tighter too");
    assert_eq!(read("cpu.max"), "50000 100000");
    let killed = vm.cgbox(&["kill", "a1"]);
    assert_eq!(killed.status.code(), Some(0));
}

#[test]
fn a_run_inside_a_limited_box_shows_the_box_above() {
    let Some(vm) = vm("nested") else { return };
    let cgbox = env!("CARGO_BIN_EXE_cgbox");
    for inner in [&["run", "--quiet"][..], &["run", "--quiet", "--cgroupns"]] {
        let mut args = with_limits(&["run", "--quiet"]);
        args.extend(["--", cgbox, "--app", &vm.app]);
        args.extend(inner);
        let seen = vm.sees(&args);
        let how = format!("a run inside a limited run ({})", inner.join(" "));
        if inner.len() == 2 {
            assert!(
                seen.cgroup.matches("/agents/").count() == 2,
                "a box inside a box: {seen:?}"
            );
        }
        seen.shows(&how, M256, CPU, "64");
    }
    // Inside a --cgroupns job the box is the namespace root, which a
    // nested cgbox does not take for a box of its own: an unlimited run
    // there gets no controllers, so its job sees no limit files at all.
    // `cgbox prepare` first gives them.
    let nested = |prepare: &str| {
        let mut args = with_limits(&["run", "--quiet", "--cgroupns"]);
        let script = format!(
            "{prepare}exec {cgbox} --app {} run --quiet -- {}",
            vm.app,
            vm.probe.display()
        );
        args.extend(["--", "sh", "-c"]);
        let out = vm.cgbox(&[&args[..], &[script.as_str()]].concat());
        assert_eq!(out.status.code(), Some(0));
        Seen::parse(&String::from_utf8_lossy(&out.stdout))
    };
    let bare = nested("");
    assert_eq!(
        (
            bare.memory_max.as_str(),
            bare.cpu_max.as_str(),
            bare.pids_max.as_str()
        ),
        ("absent", "absent", "absent"),
        "{bare:?}"
    );
    nested(&format!("{cgbox} --app {} prepare >/dev/null && ", vm.app)).shows(
        "a run inside a --cgroupns run, after cgbox prepare",
        M256,
        CPU,
        "64",
    );
}
