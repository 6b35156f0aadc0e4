//! Boxes on this machine's real cgroup2 (core interface: cgroup.procs,
//! cgroup.kill, cgroup.freeze, cgroup.events). Each test works under its own
//! app directory at the cgroup2 parent and removes it, also on failure
//! (the box handle's Drop). Without root or a writable cgroup2 they say why
//! and do nothing, unless CGBOX_REQUIRE_REAL_CGROUP=1, where that is a failure.
//! On a kernel without `cgroup.kill` (before 5.14) the tests that force it
//! assert that it fails at once with a typed error, and end the box by the
//! signal path instead. A guard removes whatever a failed test left.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use cgbox::Discovery;
use cgbox::KillMethod;
use cgbox::fs::SysFs;
use cgbox::{Builder, JobBox};
use rustix::io::Errno;

/// The live backend and the parent for boxes, or `None` (with the reason
/// printed) when this machine cannot run real-cgroup tests.
fn host(test: &str) -> Option<(Arc<SysFs>, String, common::AppTree)> {
    let live = common::live("cgbox-test", test)?;
    Some((live.fs, live.app, live.tree))
}

/// The box for a kill test forcing `method`; `None` where the kernel has
/// no `cgroup.kill` and refused it, as `common::create_forcing` asserts.
fn boxed_forcing(fs: &Arc<SysFs>, app: &str, method: KillMethod) -> Option<JobBox<SysFs>> {
    let parent = Discovery::probe(&**fs, app).home().unwrap().to_path_buf();
    let agents = parent.join(app).join("agents");
    let b = common::create_forcing(fs, &agents, Builder::new().app(app), method)?;
    assert_eq!(
        b.path().join("cgroup.kill").exists(),
        common::kernel_at_least(5, 14),
        "cgroup.kill came in 5.14"
    );
    Some(b)
}

fn rel_cgroup(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("")
        .to_owned()
}

/// pidfds of `pids`, opened while they still run (one already gone and
/// reaped has none: it is dead).
fn pidfds(pids: &[u32]) -> Vec<(u32, OwnedFd)> {
    pids.iter()
        .filter_map(|&pid| {
            let raw = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
            match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
                Ok(fd) => Some((pid, fd)),
                Err(Errno::SRCH) => None,
                Err(e) => panic!("pidfd_open {pid}: {e}"),
            }
        })
        .collect()
}

/// Whether the process behind `pidfd` has exited, or does within 5 s. A
/// box is empty once its last task has left it in `do_exit`, a moment
/// before that task is a zombie: a task of a box just emptied may still be
/// finishing its exit (seen in the VM with the host loaded), and its pidfd
/// says when it has.
fn exits(pidfd: &OwnedFd) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        pidfd,
        rustix::event::PollFlags::IN,
    )];
    let limit = rustix::event::Timespec {
        tv_sec: 5,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&limit)) == Ok(1)
}

fn box_rel(b: &JobBox<SysFs>, mount: &Path) -> String {
    format!("/{}", b.path().strip_prefix(mount).unwrap().display())
}

fn mount_of(fs: &SysFs) -> PathBuf {
    Discovery::probe(fs, "x").mount.unwrap()
}

/// Wait for `child` and return the signal that ended it, if any.
fn signal_of(child: &mut Child) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    child.wait().unwrap().signal()
}

#[test]
fn spawned_program_starts_inside_the_box() {
    let Some((fs, app, _tree)) = host("spawn") else {
        return;
    };
    let b = Builder::new().app(&app).create(fs.clone()).unwrap();
    let out = b
        .spawn(
            Command::new("cat")
                .arg("/proc/self/cgroup")
                .stdout(Stdio::piped()),
        )
        .unwrap()
        .wait_with_output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let want = format!("0::{}\n", box_rel(&b, &mount_of(&fs)));
    assert!(
        text.lines().any(|l| format!("{l}\n") == want),
        "{text:?} lacks {want:?}"
    );
    let path = b.path().to_path_buf();
    b.destroy().unwrap();
    assert!(!path.exists());
    assert!(
        path.parent().unwrap().exists(),
        "agents stays for the next box"
    );
}

#[test]
fn a_hundred_sleepers_are_killed_and_removed() {
    let Some((fs, app, _tree)) = host("hundred") else {
        return;
    };
    let b = Builder::new().app(&app).create(fs.clone()).unwrap();
    let mut children: Vec<Child> = (0..100)
        .map(|_| b.spawn(Command::new("sleep").arg("1000")).unwrap())
        .collect();
    assert_eq!(b.pids().unwrap().len(), 100);
    let path = b.path().to_path_buf();
    b.destroy().unwrap();
    for c in &mut children {
        assert_eq!(signal_of(c), Some(9));
    }
    assert!(!path.exists());
}

/// A job that builds nested cgroups with processes at several depths,
/// killed from the top, through both kill paths.
#[test]
fn nested_cgroups_are_killed_from_the_top() {
    for method in [KillMethod::CgroupKill, KillMethod::Signal] {
        let Some((fs, app, _tree)) = host("nested") else {
            return;
        };
        let Some(b) = boxed_forcing(&fs, &app, method) else {
            continue;
        };
        let script = r#"
            cg=$1
            for d in a a/b a/b/c; do mkdir "$cg/$d"; done
            for d in a a/b a/b/c; do
                sh -c 'echo 0 > "$1/cgroup.procs"; exec sleep 1000' _ "$cg/$d" &
            done
            sh -c 'echo 0 > "$1/cgroup.freeze"' _ "$cg/a/b"
            # wait until each sleeper has moved itself
            for d in a a/b a/b/c; do
                while [ -z "$(cat "$cg/$d/cgroup.procs")" ]; do :; done
            done
            echo ready
            wait
        "#;
        let mut child = b
            .spawn(
                Command::new("sh")
                    .args(["-c", script, "sh"])
                    .arg(b.path())
                    .stdout(Stdio::piped()),
            )
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        let pids = b.pids().unwrap();
        assert!(pids.len() >= 4, "{method:?}: {pids:?}");
        let watched = pidfds(&pids);
        let path = b.path().to_path_buf();
        b.destroy().unwrap();
        assert_eq!(signal_of(&mut child), Some(9), "{method:?}");
        for (pid, pidfd) in &watched {
            assert!(exits(pidfd), "{method:?}: {pid} survived");
        }
        assert!(!path.exists(), "{method:?}");
    }
}

#[test]
fn kill_right_after_spawn_leaves_nothing() {
    let Some((fs, app, _tree)) = host("quick") else {
        return;
    };
    for method in [KillMethod::CgroupKill, KillMethod::Signal] {
        let Some(b) = boxed_forcing(&fs, &app, method) else {
            continue;
        };
        let mut child = b
            .spawn(Command::new("sh").args(["-c", "sleep 1000 & sleep 1000 & wait"]))
            .unwrap();
        let path = b.path().to_path_buf();
        b.destroy().unwrap();
        assert_eq!(signal_of(&mut child), Some(9));
        assert!(!path.exists());
    }
}

/// A job that keeps forking (a bounded number of times) while being killed
/// by the signal path.
#[test]
fn signal_path_catches_a_job_forking_while_killed() {
    let Some((fs, app, _tree)) = host("forking") else {
        return;
    };
    let b = Builder::new()
        .app(&app)
        .kill_method(KillMethod::Signal)
        .create(fs.clone())
        .unwrap();
    let mut child = b
        .spawn(
            Command::new("sh")
                .args([
                    "-c",
                    "echo go; i=0; while [ $i -lt 300 ]; do sleep 1000 & i=$((i+1)); done; wait",
                ])
                .stdout(Stdio::piped()),
        )
        .unwrap();
    let mut go = [0u8; 3];
    child.stdout.take().unwrap().read_exact(&mut go).unwrap();
    let path = b.path().to_path_buf();
    b.destroy().unwrap();
    assert_eq!(signal_of(&mut child), Some(9));
    assert!(!path.exists());
}

#[test]
fn freeze_thaw_and_move_pid() {
    let Some((fs, app, _tree)) = host("freeze") else {
        return;
    };
    let b = Builder::new().app(&app).create(fs.clone()).unwrap();
    let mut outside = Command::new("sleep").arg("1000").spawn().unwrap();
    b.move_pid(outside.id()).unwrap();
    assert_eq!(rel_cgroup(outside.id()), box_rel(&b, &mount_of(&fs)));
    b.freeze().unwrap();
    let state = std::fs::read_to_string(b.path().join("cgroup.events")).unwrap();
    assert!(state.contains("frozen 1"), "{state}");
    b.thaw().unwrap();
    b.destroy().unwrap();
    assert_eq!(signal_of(&mut outside), Some(9));
}
