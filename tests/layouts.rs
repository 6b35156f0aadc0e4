//! Discovery on every layout of the brief, each a fixture tree under
//! `fixtures/layouts/<name>/` with the expected facts in its `expect` file.

mod common;

use std::path::{Path, PathBuf};

use cgbox::Discovery;
use cgbox::fs::SysFs;

/// Every layout with an `expect` file, in a copy of `fixtures/layouts` owned
/// by the runner (see `common::fixture_copy`: probed in place, a checkout
/// owned by another user reads as not delegated and not writable).
fn layouts() -> (common::FixtureCopy, Vec<PathBuf>) {
    let copy = common::fixture_copy("layouts");
    let mut out: Vec<PathBuf> = std::fs::read_dir(copy.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expect").is_file())
        .collect();
    out.sort();
    (copy, out)
}

fn opt_path(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "-".into())
}

/// Where a runner that is not root sees a layout differently, (layout, key,
/// what it wants instead). The `expect` files hold the view of the process
/// each tree was taken from, root on `escaped-mountpoint` (a host without a
/// cgroup manager: the home is the mount's root). A user never gets the root:
/// in a copy it owns whole, its home is the topmost cgroup on the way up that
/// it may write (`placement::find`), here `jobs`, and the problem names it.
const AS_A_USER: &[(&str, &str, &str)] = &[
    ("escaped-mountpoint", "parent", "/run/my cgroup/jobs"),
    (
        "escaped-mountpoint",
        "problem",
        "io not delegated to /run/my cgroup/jobs",
    ),
];

fn check(layout: &Path) -> Vec<String> {
    let fs = SysFs::rooted(layout).unwrap();
    let d = Discovery::probe(&fs, "cgbox");
    let expect = std::fs::read_to_string(layout.join("expect")).unwrap();
    let name = layout.file_name().unwrap().to_string_lossy();
    let as_root = rustix::process::geteuid().is_root();
    let mut failures = Vec::new();
    for line in expect.lines().filter(|l| !l.trim().is_empty()) {
        let (key, want) = line.split_once(' ').unwrap_or((line, ""));
        let want = match AS_A_USER.iter().find(|(l, k, _)| *l == name && *k == key) {
            Some((_, _, user_view)) if !as_root => user_view,
            _ => want,
        };
        let got = match key {
            "mode" => d.mode.as_str().to_owned(),
            "mount" => opt_path(&d.mount),
            "cgroup" => d.cgroup.clone().unwrap_or_else(|| "-".into()),
            "parent" => opt_path(&d.home().map(Path::to_path_buf)),
            "controllers" => d.controllers.join(" "),
            "writable" => d.writable.to_string(),
            "usable" => d.usable().to_string(),
            "kill" => d.features.kill.to_string(),
            "memory_peak" => d.features.memory_peak.to_string(),
            "psi" => d.features.psi.to_string(),
            "problems" => d.problems.len().to_string(),
            "problem" => {
                if !d.problems.iter().any(|p| p.to_string().contains(want)) {
                    failures.push(format!("no problem mentions {want:?}: {:?}", d.problems));
                }
                continue;
            }
            other => panic!("{}: unknown key {other}", layout.display()),
        };
        if got != want {
            failures.push(format!(
                "{key}: want {want:?}, got {got:?} (problems: {:?})",
                d.problems
            ));
        }
    }
    failures
}

#[test]
fn every_layout_is_discovered_as_expected() {
    let (_copy, all) = layouts();
    assert!(all.len() >= 12, "fixture layouts missing: {all:?}");
    let mut report = String::new();
    for layout in &all {
        for f in check(layout) {
            report.push_str(&format!(
                "{}: {f}\n",
                layout.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(report.is_empty(), "\n{report}");
}

#[test]
fn unusable_layouts_give_a_typed_error() {
    use cgbox::ErrorKind;
    let copy = common::fixture_copy("layouts");
    let dir = copy.path();
    for (name, kind) in [
        ("legacy-v1", ErrorKind::NoCgroup2),
        ("no-cgroupfs", ErrorKind::NoCgroup2),
        ("outside-namespace", ErrorKind::OutsideNamespace),
        ("bad-mountinfo", ErrorKind::Parse),
        ("no-proc-cgroup", ErrorKind::NotFound),
    ] {
        let fs = SysFs::rooted(dir.join(name)).unwrap();
        let e = Discovery::probe(&fs, "cgbox")
            .require_placement()
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{name}: {e}");
        assert!(
            e.hint().is_some() || e.detail().is_some(),
            "{name}: {e} says nothing useful"
        );
    }
}

#[test]
fn damaged_proc_files_never_panic_discovery() {
    use cgbox::fs::FakeFs;
    let dir = common::fixtures().join("layouts");
    let mut rng = common::Rng::new(0x5eed);
    let mut outcomes = [0usize; 2];
    for layout in [
        "unified-systemd-user",
        "hybrid-host",
        "container-host-cgroupns",
        "escaped-mountpoint",
    ] {
        let mountinfo = std::fs::read(dir.join(layout).join("proc/self/mountinfo")).unwrap();
        let cgroup = std::fs::read(dir.join(layout).join("proc/self/cgroup")).unwrap();
        for _ in 0..2000 {
            let fake = FakeFs::new();
            fake.set_host_file("/proc/self/mountinfo", common::mutate(&mountinfo, &mut rng));
            fake.set_host_file("/proc/self/cgroup", common::mutate(&cgroup, &mut rng));
            let d = Discovery::probe(&fake, "cgbox");
            // Either usable with a parent, or an explained error; never both, never neither.
            assert_eq!(d.require_placement().is_ok(), d.home().is_some());
            if d.require_placement().is_err() {
                assert!(!d.problems.is_empty());
            }
            outcomes[usize::from(d.require_placement().is_ok())] += 1;
        }
    }
    assert!(
        outcomes[0] > 0 && outcomes[1] > 0,
        "mutations should both break and spare discovery: {outcomes:?}"
    );
}

#[test]
fn discovery_on_the_fake_puts_boxes_inside_a_delegated_scope() {
    use cgbox::HomeKind;
    use cgbox::fs::FakeFs;
    let fake = FakeFs::new();
    fake.enter("/user.slice/app.slice/term.scope").unwrap();
    fake.set_xattr("/user.slice/app.slice/term.scope", "user.delegate", b"1")
        .unwrap();
    let d = Discovery::probe(&fake, "cgbox");
    assert_eq!(
        d.home(),
        Some(Path::new("/sys/fs/cgroup/user.slice/app.slice/term.scope")),
        "inside the scope, never beside it in app.slice"
    );
    assert_eq!(
        d.home_kind(),
        Some(&HomeKind::Delegated("term.scope".into()))
    );
    assert_eq!(d.mode, cgbox::Mode::Unified);
    assert!(
        d.controllers.is_empty(),
        "nothing enabled on the way down yet"
    );
    assert!(
        d.problems
            .iter()
            .any(|p| p.to_string().contains("not delegated")),
        "{:?}",
        d.problems
    );
}

#[test]
fn an_unwritable_home_is_a_problem_with_its_fix() {
    use cgbox::fs::fake::{FakeFs, Op};
    let fake = FakeFs::new();
    fake.enter("/user.slice/app.slice/term.scope").unwrap();
    fake.set_xattr("/user.slice/app.slice/term.scope", "user.delegate", b"1")
        .unwrap();
    fake.fail(Op::Write, "/term.scope", rustix::io::Errno::ACCESS, None);
    let d = Discovery::probe(&fake, "cgbox");
    assert!(!d.writable);
    assert!(!d.usable());
    assert!(
        d.problems
            .iter()
            .map(ToString::to_string)
            .any(|p| p.contains("no write permission") && p.contains("Delegate=yes")),
        "{:?}",
        d.problems
    );
}
