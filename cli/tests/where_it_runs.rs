//! `cgbox` where users run it, on a real kernel with every controller (the
//! VM of tests/vm/run.sh, as root at the real root): a rootless user with
//! systemd-style delegation and without it, a privileged container at the
//! root of its cgroup namespace with a sibling process there (before and
//! after `cgbox prepare`), a read-only cgroup2 mount, and a home that is
//! offered only memory and pids. For each: limited and unlimited runs, the
//! exit code and message a user gets, that nothing is left behind, and that
//! no level's `cgroup.subtree_control` changed on failure.
//!
//! Each layout is built by the test under the real root and removed at the
//! end, also when an assertion fails. Without a writable cgroup2 root with
//! every controller the tests say why and do nothing, unless
//! CGBOX_REQUIRE_REAL_CGROUP=1 (the VM), where that is a failure.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use cgbox::Discovery;
use cgbox::HomeKind;
use cgbox::fs::SysFs;
use rustix::fs::{Mode, OFlags};

const ROOT: &str = "/sys/fs/cgroup";
const USER: u32 = 1000;

/// Whether this is a real root with every controller (else said, or a
/// failure under CGBOX_REQUIRE_REAL_CGROUP=1).
fn real_root(test: &str) -> bool {
    let Ok(fs) = SysFs::new() else {
        common::skip(test, "cannot open /");
        return false;
    };
    let d = Discovery::probe(&fs, "x");
    let ready = d.usable()
        && d.home_kind() == Some(&HomeKind::RealRoot)
        && d.mount.as_deref() == Some(Path::new(ROOT))
        && ["cpu", "memory", "pids"]
            .iter()
            .all(|c| d.controllers.iter().any(|h| h == c));
    if ready && rustix::process::geteuid().is_root() {
        return true;
    }
    let why = format!(
        "needs root at a cgroup2 root with cpu, memory and pids at {ROOT} (the VM): {:?}",
        d.problems
    );
    common::skip(test, &why);
    false
}

/// A cgroup this test made under the real root: killed and removed with
/// everything below it when dropped.
struct Layout {
    name: String,
}

impl Layout {
    fn new(name: &str) -> Layout {
        let path = Path::new(ROOT).join(name);
        if path.exists() {
            // A leftover of an earlier failed run of this very test.
            drop(Layout {
                name: name.to_owned(),
            });
        }
        std::fs::create_dir(&path).unwrap();
        Layout {
            name: name.to_owned(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        let p = Path::new(ROOT).join(&self.name);
        if rel.is_empty() { p } else { p.join(rel) }
    }

    fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn read(&self, rel: &str, file: &str) -> String {
        std::fs::read_to_string(self.path(rel).join(file)).unwrap()
    }

    fn write(&self, rel: &str, file: &str, value: &str) {
        std::fs::write(self.path(rel).join(file), value).unwrap();
    }

    /// Every cgroup below the layout, as paths relative to it, sorted.
    fn tree(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.path("")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let p = e.path();
                    out.push(p.strip_prefix(self.path("")).unwrap().display().to_string());
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    /// The writable `cgroup.procs` of a cgroup of the layout, opened now
    /// (the child only writes to it).
    fn procs(&self, rel: &str) -> OwnedFd {
        rustix::fs::open(
            self.path(rel).join("cgroup.procs"),
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        common::kill_and_remove(&Path::new(ROOT).join(&self.name));
    }
}

/// How a child is placed before it execs.
#[derive(Default)]
struct Placing<'a> {
    /// Write `0` here first (as root): the cgroup it runs in.
    procs: Option<&'a OwnedFd>,
    /// Then drop to this uid and gid.
    user: Option<u32>,
    /// Then enter these namespaces (a container's cgroup and mount ns).
    namespaces: Option<&'a Container>,
    /// Or make a private mount namespace with cgroup2 read-only.
    read_only_cgroupfs: bool,
}

fn cgbox_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cgbox"));
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// Run `cmd` placed as `how` says; its output.
fn run(mut cmd: Command, how: Placing<'_>) -> Output {
    let procs = how.procs.map(|fd| fd.as_fd().try_clone_to_owned().unwrap());
    let ns = how.namespaces.map(|c| {
        (
            c.cgroup_ns.try_clone().unwrap(),
            c.mount_ns.try_clone().unwrap(),
        )
    });
    let user = how.user;
    let read_only = how.read_only_cgroupfs;
    // SAFETY: between fork and exec the closure makes raw system calls
    // through rustix (write, setgroups, setgid, setuid, unshare, mount,
    // setns, chdir) on descriptors opened before the fork, with paths that
    // fit rustix's stack buffer: no allocation, no lock, async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let io = |e: rustix::io::Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
            if let Some(fd) = &procs {
                rustix::io::write(fd, b"0").map_err(io)?;
            }
            if let Some((cgroup_ns, mount_ns)) = &ns {
                use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
                move_into_link_name_space(cgroup_ns.as_fd(), Some(LinkNameSpaceType::ControlGroup))
                    .map_err(io)?;
                move_into_link_name_space(mount_ns.as_fd(), Some(LinkNameSpaceType::Mount))
                    .map_err(io)?;
                rustix::process::chdir("/").map_err(io)?;
            }
            if read_only {
                use rustix::mount::{
                    MountFlags, MountPropagationFlags, mount_change, mount_remount,
                };
                rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS).map_err(io)?;
                mount_change(
                    "/",
                    MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
                )
                .map_err(io)?;
                mount_remount(ROOT, MountFlags::BIND | MountFlags::RDONLY, "").map_err(io)?;
            }
            if let Some(uid) = user {
                use rustix::process::{Gid, Uid};
                rustix::thread::set_thread_groups(&[]).map_err(io)?;
                rustix::thread::set_thread_gid(Gid::from_raw(uid)).map_err(io)?;
                rustix::thread::set_thread_uid(Uid::from_raw(uid)).map_err(io)?;
            }
            Ok(())
        });
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().unwrap().wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The job's view of its own box: its cgroup and a limit file.
const SHOW: &str = "cg=$(sed -n 's/^0:://p' /proc/self/cgroup); echo \"cg=$cg\"; \
                    cat /sys/fs/cgroup$cg/memory.max 2>/dev/null || echo no-memory.max";

fn chown(path: &Path, uid: u32) {
    rustix::fs::chown(
        path,
        Some(rustix::process::Uid::from_raw(uid)),
        Some(rustix::process::Gid::from_raw(uid)),
    )
    .unwrap();
}

#[test]
fn a_rootless_user_with_delegation_gets_boxes_and_limits() {
    if !real_root("rootless-delegated") {
        return;
    }
    let lay = Layout::new("cgbox-where-deleg");
    lay.write("", "cgroup.subtree_control", "+cpu +memory +pids");
    // What systemd does for Delegate=yes with User=: the directory and the
    // three delegated files belong to the user.
    let home = lay.mkdir("u1000");
    for f in [
        "",
        "cgroup.procs",
        "cgroup.subtree_control",
        "cgroup.threads",
    ] {
        chown(
            &if f.is_empty() {
                home.clone()
            } else {
                home.join(f)
            },
            USER,
        );
    }
    let procs = lay.procs("u1000");
    let as_user = |args: &[&str]| {
        run(
            cgbox_command(args),
            Placing {
                procs: Some(&procs),
                user: Some(USER),
                ..Placing::default()
            },
        )
    };
    let out = as_user(&[
        "run", "--memory", "64M", "--pids", "10", "--", "sh", "-c", SHOW,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("cg=/cgbox-where-deleg/u1000/cgbox/agents/"),
        "the box is inside the delegated cgroup: {shown}"
    );
    assert!(shown.contains("67108864"), "{shown}");
    // cgbox was alone there, so it stepped into a leaf to enable controllers.
    assert_eq!(lay.read("u1000", "cgroup.subtree_control"), "memory pids\n");
    // The user's next command starts where their processes now live: the leaf.
    let leaf = lay.procs("u1000/init");
    let out = run(
        cgbox_command(&["run", "--memory", "32M", "--", "true"]),
        Placing {
            procs: Some(&leaf),
            user: Some(USER),
            ..Placing::default()
        },
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        lay.tree(),
        ["u1000", "u1000/cgbox", "u1000/cgbox/agents", "u1000/init"],
        "no box left"
    );
    assert_eq!(
        lay.read("", "cgroup.subtree_control"),
        "cpu memory pids\n",
        "above: untouched"
    );
}

#[test]
fn a_rootless_user_without_delegation_is_told_how_to_get_it() {
    if !real_root("rootless-undelegated") {
        return;
    }
    let lay = Layout::new("cgbox-where-nodeleg");
    let procs = lay.procs("");
    for args in [
        &["run", "--", "true"][..],
        &["run", "--memory", "64M", "--", "true"][..],
    ] {
        let out = run(
            cgbox_command(args),
            Placing {
                procs: Some(&procs),
                user: Some(USER),
                ..Placing::default()
            },
        );
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("not delegated to this user"), "{err}");
        assert!(
            err.contains("systemd-run --user --scope -p Delegate=yes") && err.contains("chown"),
            "{err}"
        );
        assert!(lay.tree().is_empty(), "nothing made: {:?}", lay.tree());
    }
    let out = run(
        cgbox_command(&["inspect"]),
        Placing {
            procs: Some(&procs),
            user: Some(USER),
            ..Placing::default()
        },
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

/// A privileged container: a cgroup namespace rooted at `<layout>/ctr`, a
/// mount namespace with cgroup2 mounted fresh, and a process that lives
/// there (the container's own `sleep 300 &`).
struct Container {
    init: Child,
    cgroup_ns: OwnedFd,
    mount_ns: OwnedFd,
}

impl Container {
    fn start(lay: &Layout) -> Container {
        lay.mkdir("ctr");
        let procs = lay.procs("ctr");
        let mut cmd = Command::new("sleep");
        cmd.arg("1000").stdin(Stdio::null());
        // SAFETY: raw system calls through rustix on a descriptor opened
        // before the fork, constant paths: async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                use rustix::mount::{
                    MountFlags, MountPropagationFlags, UnmountFlags, mount, mount_change, unmount,
                };
                let io = |e: rustix::io::Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
                rustix::io::write(&procs, b"0").map_err(io)?;
                rustix::thread::unshare_unsafe(
                    rustix::thread::UnshareFlags::NEWCGROUP | rustix::thread::UnshareFlags::NEWNS,
                )
                .map_err(io)?;
                mount_change(
                    "/",
                    MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
                )
                .map_err(io)?;
                unmount(ROOT, UnmountFlags::DETACH).map_err(io)?;
                mount("none", ROOT, "cgroup2", MountFlags::empty(), None).map_err(io)?;
                Ok(())
            });
        }
        let init = cmd.spawn().unwrap();
        let ns = |kind: &str| {
            let path = format!("/proc/{}/ns/{kind}", init.id());
            // The namespace exists once the child has exec'd sleep: its
            // cgroup ns then differs from ours.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::fs::read_link(&path).ok()
                == std::fs::read_link(format!("/proc/self/ns/{kind}")).ok()
            {
                assert!(std::time::Instant::now() < deadline, "{path} never changed");
                std::thread::sleep(Duration::from_millis(1));
            }
            rustix::fs::open(
                path.as_str(),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap()
        };
        let cgroup_ns = ns("cgroup");
        let mount_ns = ns("mnt");
        Container {
            init,
            cgroup_ns,
            mount_ns,
        }
    }

    /// Run cgbox in the container, in the cgroup `rel` of the layout.
    fn cgbox(&self, lay: &Layout, rel: &str, args: &[&str]) -> Output {
        let procs = lay.procs(rel);
        run(
            cgbox_command(args),
            Placing {
                procs: Some(&procs),
                namespaces: Some(self),
                ..Placing::default()
            },
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.init.kill();
        let _ = self.init.wait();
    }
}

#[test]
fn a_container_namespace_root_is_never_broken_and_prepare_fixes_it() {
    if !real_root("container") {
        return;
    }
    let lay = Layout::new("cgbox-where-ctr");
    // The container runtime hands the container's cgroup every controller.
    lay.write("", "cgroup.subtree_control", "+cpu +memory +pids");
    let ctr = Container::start(&lay);
    let unchanged = |lay: &Layout| {
        assert_eq!(
            lay.read("ctr", "cgroup.subtree_control"),
            "",
            "the namespace root's controllers"
        );
        assert_eq!(
            lay.read("ctr", "cgroup.type"),
            "domain\n",
            "never a thread root"
        );
    };
    // Limited runs before prepare: refused with the fix, nothing written,
    // also best-effort and with threaded controllers only.
    for args in [
        &["run", "--memory", "64M", "--pids", "10", "--", "true"][..],
        &["run", "--cpus", "0.5", "--pids", "10", "--", "true"][..],
    ] {
        let out = ctr.cgbox(&lay, "ctr", args);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("cgbox prepare"),
            "{}",
            text(&out.stderr)
        );
        unchanged(&lay);
    }
    let out = ctr.cgbox(
        &lay,
        "ctr",
        &["run", "--best-effort", "--pids", "10", "--", "true"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    unchanged(&lay);
    // A plain run works before prepare, in a box inside the namespace.
    let out = ctr.cgbox(&lay, "ctr", &["run", "--", "sh", "-c", SHOW]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("cg=/cgbox/agents/"),
        "{}",
        text(&out.stdout)
    );
    unchanged(&lay);
    let out = ctr.cgbox(&lay, "ctr", &["inspect", "--json"]);
    let json = text(&out.stdout);
    assert!(json.contains(r#""placement": "namespace-root""#), "{json}");
    assert!(
        json.contains(r#""controllers": []"#),
        "nothing can be given before prepare: {json}"
    );

    // prepare moves every process out of the namespace root.
    let out = ctr.cgbox(&lay, "ctr", &["prepare"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("moved 2 process(es)"),
        "the sleeper and prepare itself: {}",
        text(&out.stdout)
    );
    assert_eq!(lay.read("ctr", "cgroup.procs"), "");
    assert!(
        lay.read("ctr/init", "cgroup.procs")
            .contains(&ctr.init.id().to_string())
    );
    let out = ctr.cgbox(
        &lay,
        "ctr/init",
        &[
            "run", "--memory", "64M", "--pids", "10", "--", "sh", "-c", SHOW,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("67108864"),
        "{}",
        text(&out.stdout)
    );
    let out = ctr.cgbox(&lay, "ctr/init", &["prepare"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        lay.tree(),
        ["ctr", "ctr/cgbox", "ctr/cgbox/agents", "ctr/init"]
    );
}

#[test]
fn a_read_only_mount_is_named_and_nothing_is_made() {
    if !real_root("read-only") {
        return;
    }
    let lay = Layout::new("cgbox-where-ro");
    let procs = lay.procs("");
    let before = std::fs::read_to_string(Path::new(ROOT).join("cgroup.subtree_control")).unwrap();
    for args in [
        &["run", "--", "true"][..],
        &["run", "--memory", "64M", "--", "true"][..],
    ] {
        let out = run(
            cgbox_command(args),
            Placing {
                procs: Some(&procs),
                read_only_cgroupfs: true,
                ..Placing::default()
            },
        );
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert!(
            text(&out.stderr).contains("read-only"),
            "{}",
            text(&out.stderr)
        );
    }
    let out = run(
        cgbox_command(&["inspect"]),
        Placing {
            procs: Some(&procs),
            read_only_cgroupfs: true,
            ..Placing::default()
        },
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("read-only"),
        "{}",
        text(&out.stdout)
    );
    assert!(lay.tree().is_empty());
    assert_eq!(
        std::fs::read_to_string(Path::new(ROOT).join("cgroup.subtree_control")).unwrap(),
        before
    );
}

#[test]
fn a_home_offered_only_memory_and_pids_refuses_cpu_and_changes_nothing() {
    if !real_root("partial") {
        return;
    }
    let lay = Layout::new("cgbox-where-partial");
    lay.write("", "cgroup.subtree_control", "+memory +pids");
    let svc = lay.mkdir("svc");
    // A unit with Delegate=yes, as systemd marks it.
    rustix::fs::setxattr(&svc, "user.delegate", b"1", rustix::fs::XattrFlags::empty()).unwrap();
    lay.mkdir("svc/init");
    let procs = lay.procs("svc/init");
    let cgbox = |args: &[&str]| {
        run(
            cgbox_command(args),
            Placing {
                procs: Some(&procs),
                ..Placing::default()
            },
        )
    };
    let out = cgbox(&["run", "--cpus", "0.5", "--memory", "64M", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("cpu") && err.contains("--best-effort"),
        "{err}"
    );
    assert_eq!(
        lay.read("svc", "cgroup.subtree_control"),
        "",
        "memory was not enabled either"
    );
    let out = cgbox(&["run", "--memory", "64M", "--", "sh", "-c", SHOW]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("cg=/cgbox-where-partial/svc/cgbox/agents/"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("67108864"),
        "{}",
        text(&out.stdout)
    );
    let out = cgbox(&["run", "--cpus", "0.5", "--best-effort", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning"));
    assert_eq!(
        lay.tree(),
        ["svc", "svc/cgbox", "svc/cgbox/agents", "svc/init"]
    );
}
