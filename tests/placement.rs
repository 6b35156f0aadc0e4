//! Where boxes go, on the fake, in the layouts users run in: systemd hosts
//! (delegated units and not, the user manager, login sessions), containers
//! at the root of a cgroup namespace, a cgbox inside a box, rootless users
//! with and without delegation. Each case checks the placement, what a
//! limited and an unlimited box do, and that a refusal changes nothing.

use std::path::Path;
use std::sync::Arc;

use cgbox::Discovery;
use cgbox::fs::CgroupFs;
use cgbox::fs::fake::{FakeFs, Op};
use cgbox::{App, HomeKind, ScopeRequest, ServiceManager};

/// A whole interface file of the fake, as text.
fn read_string(
    fake: &FakeFs,
    dir: &<FakeFs as CgroupFs>::Dir,
    file: &str,
) -> cgbox::Result<String> {
    let mut buf = Vec::new();
    fake.read_file(dir, file, &mut buf)?;
    Ok(String::from_utf8(buf).unwrap())
}
use cgbox::prepare;
use cgbox::{Builder, ErrorKind, Limits, Size};
use rustix::io::Errno;

const MOUNT: &str = "/sys/fs/cgroup";

/// A systemd host as systemd 252 lays it out: memory and pids enabled down
/// the slices, this process in `cgroup`, every `delegated` cgroup marked
/// `user.delegate=1` with every controller enabled above it.
fn systemd_host(cgroup: &str, delegated: &[&str]) -> Arc<FakeFs> {
    let fake = Arc::new(FakeFs::new());
    fake.enter(cgroup).unwrap();
    let mut path = String::new();
    let parts: Vec<&str> = cgroup.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let dir = fake.open_dir(&Path::new(MOUNT).join(&path)).unwrap();
        let wants = if delegated
            .iter()
            .any(|d| d.starts_with(&format!("{path}/{part}").trim_start_matches('/').to_owned()))
        {
            "+cpu +io +memory +pids"
        } else {
            "+memory +pids"
        };
        fake.write_file(&dir, "cgroup.subtree_control", wants.as_bytes())
            .unwrap();
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        let _ = i;
    }
    for d in delegated {
        fake.set_xattr(d, "user.delegate", b"1").unwrap();
    }
    fake
}

fn control(fake: &FakeFs, rel: &str) -> String {
    read_string(
        fake,
        &fake.open_dir(&Path::new(MOUNT).join(rel)).unwrap(),
        "cgroup.subtree_control",
    )
    .unwrap()
}

fn memory_limit() -> Limits {
    Limits::new().memory_max(Size::Bytes(64 << 20)).pids_max(10)
}

#[test]
fn an_undelegated_service_is_refused_before_anything_is_written() {
    let fake = systemd_host("system.slice/x.service", &[]);
    let before = (fake.cgroups(), control(&fake, "system.slice"));
    for limits in [Limits::new(), memory_limit()] {
        let e = Builder::new()
            .limits(limits)
            .create(fake.clone())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotDelegated, "{e}");
        let hint = e.hint().unwrap();
        assert!(
            hint.contains("Delegate=yes") && hint.contains("systemctl edit x.service"),
            "{hint}"
        );
        assert!(
            hint.contains("systemd-run --scope -p Delegate=yes"),
            "root gets the system scope: {hint}"
        );
        assert_eq!((fake.cgroups(), control(&fake, "system.slice")), before);
    }
    let d = Discovery::probe(&*fake, "cgbox");
    assert!(!d.usable());
    assert!(
        d.problems
            .iter()
            .any(|p| p.to_string().contains("did not delegate")),
        "{:?}",
        d.problems
    );
}

#[test]
fn a_delegated_service_holds_its_boxes_and_cgbox_steps_into_a_leaf() {
    let fake = systemd_host("system.slice/x.service", &["system.slice/x.service"]);
    // No limits: nothing is enabled, nobody moves.
    let plain = Builder::new().name("plain").create(fake.clone()).unwrap();
    assert_eq!(
        plain.path(),
        Path::new("/sys/fs/cgroup/system.slice/x.service/cgbox/agents/plain")
    );
    assert_eq!(control(&fake, "system.slice/x.service"), "");
    assert_eq!(
        fake.cgroup_of(fake.self_pid()).unwrap(),
        "/system.slice/x.service"
    );
    plain.destroy().unwrap();
    // A limit: cgbox is alone in the unit, so it moves itself into a leaf
    // and enables only what the limit needs, inside the unit.
    let b = Builder::new()
        .name("limited")
        .limits(memory_limit())
        .create(fake.clone())
        .unwrap();
    assert_eq!(
        fake.cgroup_of(fake.self_pid()).unwrap(),
        "/system.slice/x.service/init"
    );
    assert_eq!(control(&fake, "system.slice/x.service"), "memory pids\n");
    assert_eq!(
        control(&fake, "system.slice"),
        "cpu io memory pids\n",
        "above the unit: untouched"
    );
    let max = read_string(&fake, &fake.open_dir(b.path()).unwrap(), "memory.max").unwrap();
    assert_eq!(max, "67108864\n");
    let d = Discovery::probe(&*fake, "cgbox");
    assert_eq!(
        d.home_kind(),
        Some(&HomeKind::Delegated("x.service".into()))
    );
    assert!(d.usable(), "{:?}", d.problems);
    b.destroy().unwrap();
}

#[test]
fn a_delegated_unit_shared_with_other_processes_needs_prepare_for_limits() {
    let fake = systemd_host("system.slice/x.service", &["system.slice/x.service"]);
    fake.spawn("system.slice/x.service").unwrap();
    let e = Builder::new()
        .limits(memory_limit())
        .create(fake.clone())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoInternalProcesses, "{e}");
    assert!(e.hint().unwrap().contains("cgbox prepare"), "{e}");
    assert_eq!(
        control(&fake, "system.slice/x.service"),
        "",
        "not even +pids was written"
    );
    assert_eq!(
        fake.cgroup_of(fake.self_pid()).unwrap(),
        "/system.slice/x.service",
        "nobody moved"
    );
    // Without limits the box works.
    Builder::new()
        .create(fake.clone())
        .unwrap()
        .destroy()
        .unwrap();
    // prepare moves everyone into the leaf and enables what the unit is offered.
    let place = Discovery::probe(&*fake, "cgbox")
        .require_placement()
        .unwrap();
    let done = prepare(&*fake, &place, "init", std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(done.moved.len(), 2);
    assert_eq!(done.enabled, vec!["cpu", "io", "memory", "pids"]);
    Builder::new()
        .limits(memory_limit())
        .create(fake.clone())
        .unwrap()
        .destroy()
        .unwrap();
    let again = prepare(&*fake, &place, "init", std::time::Duration::from_secs(5)).unwrap();
    assert!(again.changed_nothing(), "{again:?}");
}

/// A user manager that answers yes or no, and starts no scope.
struct Oracle(bool);

impl ServiceManager for Oracle {
    fn delegates(&self, unit: &str) -> cgbox::Result<bool> {
        assert!(unit.ends_with(".scope"), "{unit}");
        Ok(self.0)
    }

    fn start_scope(&self, scope: &ScopeRequest) -> cgbox::Result<String> {
        panic!("not asked for: {scope:?}")
    }
}

#[test]
fn the_user_manager_is_asked_about_its_unmarked_scopes() {
    let scope = "user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope";
    let fake = systemd_host(scope, &["user.slice/user-1000.slice/user@1000.service"]);
    fake.set_euid(1000);
    let d = Discovery::probe(&*fake, "cgbox");
    assert_eq!(d.placement, None, "no service manager to ask: refused");
    let e = d.require_placement().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotDelegated);
    assert!(
        e.hint()
            .unwrap()
            .contains("systemd-run --user --scope -p Delegate=yes"),
        "{e}"
    );
    assert!(
        !e.to_string().contains("app.slice/cgbox"),
        "never the manager's slice: {e}"
    );
    let no = App::options("cgbox")
        .ask_systemd(&Oracle(false))
        .inspect(&*fake);
    assert_eq!(no.placement, None);
    let yes = App::options("cgbox")
        .ask_systemd(&Oracle(true))
        .inspect(&*fake);
    assert_eq!(
        yes.home_kind(),
        Some(&HomeKind::Delegated("run-r1.scope".into()))
    );
    assert_eq!(yes.home(), Some(Path::new(MOUNT).join(scope).as_path()));
}

#[test]
fn a_login_session_is_refused_with_the_user_fix() {
    let fake = systemd_host("user.slice/user-1000.slice/session-c1.scope", &[]);
    fake.set_euid(1000);
    let e = Builder::new().create(fake.clone()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotDelegated, "{e}");
    assert!(
        e.hint().unwrap().contains("systemd-run --user --scope"),
        "{e}"
    );
    assert_eq!(
        fake.cgroups().len(),
        4,
        "nothing made: {:?}",
        fake.cgroups()
    );
}

#[test]
fn a_container_namespace_root_is_never_broken() {
    let fake = Arc::new(FakeFs::new());
    fake.write_file(
        &fake.open_dir(Path::new(MOUNT)).unwrap(),
        "cgroup.subtree_control",
        b"+cpu +io +memory +pids",
    )
    .unwrap();
    fake.enter_namespace("ctr").unwrap();
    let sleeper = fake.spawn("ctr").unwrap();
    let d = Discovery::probe(&*fake, "cgbox");
    assert_eq!(d.home_kind(), Some(&HomeKind::NamespaceRoot));
    assert_eq!(d.home_processes, vec![sleeper]);
    assert!(
        d.controllers.is_empty(),
        "limits cannot be given yet: {:?}",
        d.controllers
    );
    // A limited run is refused and writes nothing: not even the threaded
    // controllers the kernel would take one at a time.
    for limits in [memory_limit(), Limits::new().cpus(0.5).pids_max(3)] {
        let e = Builder::new()
            .limits(limits)
            .create(fake.clone())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoInternalProcesses, "{e}");
        assert!(e.hint().unwrap().contains("cgbox prepare"));
        assert_eq!(control(&fake, ""), "", "the namespace root is as it was");
        assert_eq!(
            read_string(
                &fake,
                &fake.open_dir(Path::new(MOUNT)).unwrap(),
                "cgroup.type"
            )
            .unwrap(),
            "domain\n"
        );
    }
    // A plain box works before prepare.
    let plain = Builder::new().create(fake.clone()).unwrap();
    let pid = fake
        .spawn(
            plain
                .path()
                .strip_prefix("/sys/fs/cgroup")
                .map(|p| format!("ctr/{}", p.display()))
                .unwrap()
                .as_str(),
        )
        .unwrap();
    assert!(plain.is_populated().unwrap());
    plain.destroy().unwrap();
    let _ = pid;
    let place = d.require_placement().unwrap();
    let done = prepare(&*fake, &place, "init", std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(done.moved.len(), 2, "the sleeper and this process");
    let b = Builder::new()
        .limits(memory_limit())
        .create(fake.clone())
        .unwrap();
    assert_eq!(
        read_string(&fake, &fake.open_dir(b.path()).unwrap(), "pids.max").unwrap(),
        "10\n"
    );
    b.destroy().unwrap();
    assert!(
        prepare(&*fake, &place, "init", std::time::Duration::from_secs(5))
            .unwrap()
            .changed_nothing()
    );
}

#[test]
fn prepare_refuses_the_real_root_and_repairs_a_thread_root() {
    let fake = Arc::new(FakeFs::new());
    let root = Discovery::probe(&*fake, "cgbox")
        .require_placement()
        .unwrap();
    let e = prepare(&*fake, &root, "init", std::time::Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(fake.cgroups(), vec!["/"]);
    // The broken state one-at-a-time enabling leaves: +cpu went through at
    // a populated namespace root, which made it a thread root.
    fake.write_file(
        &fake.open_dir(Path::new(MOUNT)).unwrap(),
        "cgroup.subtree_control",
        b"+cpu +memory +pids",
    )
    .unwrap();
    fake.enter_namespace("ctr").unwrap();
    fake.mkdir_p("ctr/old").unwrap();
    let ns = fake.open_dir(Path::new(MOUNT)).unwrap();
    fake.write_file(&ns, "cgroup.subtree_control", b"+cpu")
        .unwrap();
    assert_eq!(
        read_string(&fake, &ns, "cgroup.type").unwrap(),
        "domain threaded\n"
    );
    let d = Discovery::probe(&*fake, "cgbox");
    assert!(
        !d.usable(),
        "boxes below a thread root cannot hold processes"
    );
    let place = d.require_placement().unwrap();
    let done = prepare(&*fake, &place, "init", std::time::Duration::from_secs(1)).unwrap();
    assert_eq!(done.disabled, vec!["cpu"]);
    assert_eq!(read_string(&fake, &ns, "cgroup.type").unwrap(), "domain\n");
    assert!(Discovery::probe(&*fake, "cgbox").usable());
}

#[test]
fn a_cgbox_inside_a_box_makes_its_boxes_inside_that_box() {
    let fake = Arc::new(FakeFs::new());
    let outer = Builder::new().name("outer").create(fake.clone()).unwrap();
    assert_eq!(
        fake.xattr("cgbox/agents/outer", "user.delegate").as_deref(),
        Some(&b"1"[..])
    );
    // The inner cgbox runs in the outer box.
    fake.enter("cgbox/agents/outer").unwrap();
    let inner = Builder::new()
        .app("inner")
        .name("job")
        .create(fake.clone())
        .unwrap();
    assert_eq!(
        inner.path(),
        Path::new("/sys/fs/cgroup/cgbox/agents/outer/inner/agents/job")
    );
    let pid = fake.spawn("cgbox/agents/outer/inner/agents/job").unwrap();
    let _ = inner.keep();
    // The outer kill reaches it.
    outer.kill().unwrap();
    assert_eq!(fake.state(pid), Some(cgbox::fs::fake::ProcState::Zombie));
}

#[test]
fn a_rootless_user_uses_the_cgroup_chowned_to_them_and_nothing_else() {
    let fake = Arc::new(FakeFs::new());
    fake.write_file(
        &fake.open_dir(Path::new(MOUNT)).unwrap(),
        "cgroup.subtree_control",
        b"+memory +pids",
    )
    .unwrap();
    fake.mkdir_p("deleg/u1000").unwrap();
    fake.write_file(
        &fake.open_dir(Path::new("/sys/fs/cgroup/deleg")).unwrap(),
        "cgroup.subtree_control",
        b"+memory +pids",
    )
    .unwrap();
    fake.enter("deleg/u1000").unwrap();
    fake.set_euid(1000);
    // The user may write u1000 (chowned), not /deleg.
    fake.fail(Op::Write, "/deleg", Errno::ACCESS, None);
    let d = Discovery::probe(&*fake, "cgbox");
    assert_eq!(
        d.home_kind(),
        Some(&HomeKind::Delegated("u1000".into())),
        "{:?}",
        d.problems
    );
    let b = Builder::new()
        .limits(memory_limit())
        .create(fake.clone())
        .unwrap();
    assert!(
        b.path()
            .starts_with("/sys/fs/cgroup/deleg/u1000/cgbox/agents")
    );
    b.destroy().unwrap();
    // Without delegation: refused, with the fix.
    fake.clear_faults();
    fake.fail(Op::Write, "/u1000", Errno::ACCESS, None);
    fake.fail(Op::Write, "/u1000/cgroup.procs", Errno::ACCESS, None);
    let e = Builder::new().create(fake.clone()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.hint().unwrap().contains("chown"), "{e}");
}
