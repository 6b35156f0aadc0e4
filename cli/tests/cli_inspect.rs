//! `cgbox inspect` as users and scripts see it: JSON keys, exit codes, help.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

fn cgbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cgbox"))
        .args(args)
        .output()
        .unwrap()
}

/// A copy of `fixtures/layouts/NAME` owned by the runner: probed in place, a
/// checkout owned by another user reads as not delegated and not writable
/// (see `common::fixture_copy`). `--root` takes `.as_str()`.
fn layout(name: &str) -> common::FixtureCopy {
    common::fixture_copy(&format!("layouts/{name}"))
}

#[test]
fn hybrid_host_json_follows_the_contract() {
    let out = cgbox(&[
        "--root",
        layout("hybrid-host").as_str(),
        "inspect",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json = String::from_utf8(out.stdout).unwrap();
    let head = r#"{"mode": "hybrid", "mount": "/sys/fs/cgroup/unified", "cgroup": "/", "parent": "/sys/fs/cgroup/unified", "placement": "root", "unit": null, "type": null, "home_processes": [], "controllers": ["hugetlb"], "writable": true, "features": {"kill": true, "freeze": true, "memory_peak": false, "psi": true}, "problems": ["#;
    assert!(json.starts_with(head), "{json}");
    assert!(json.contains("memory"), "{json}");
    assert_eq!(json.lines().count(), 1, "one JSON object on one line");
}

#[test]
fn exit_code_one_when_boxes_cannot_be_made() {
    for name in [
        "legacy-v1",
        "no-cgroupfs",
        "container-readonly",
        "outside-namespace",
    ] {
        let out = cgbox(&["--root", layout(name).as_str(), "inspect", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let json = String::from_utf8(out.stdout).unwrap();
        assert!(!json.contains(r#""problems": []"#), "{name}: {json}");
    }
}

#[test]
fn text_output_names_where_boxes_go_and_why() {
    let out = cgbox(&[
        "--root",
        layout("escaped-mountpoint").as_str(),
        "--app",
        "ci",
        "inspect",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    // The tree was taken from root on a host without a cgroup manager: root's
    // home is the mount's root. A user never gets the root: in a copy it owns
    // whole, its home is the topmost cgroup it may write on the way up (as in
    // tests/layouts.rs, AS_A_USER).
    let (boxes, why) = if rustix::process::geteuid().is_root() {
        (
            "/run/my cgroup/ci/agents/<name>",
            "the root of a host without a cgroup manager",
        )
    } else {
        (
            "/run/my cgroup/jobs/ci/agents/<name>",
            "/run/my cgroup/jobs (jobs, delegated to this process)",
        )
    };
    assert!(text.contains(boxes), "{text}");
    assert!(text.contains(why), "{text}");
}

#[test]
fn an_undelegated_systemd_scope_exits_one_with_the_fix() {
    let out = cgbox(&[
        "--root",
        layout("unified-systemd-user").as_str(),
        "--app",
        "ci",
        "inspect",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("refused"), "{text}");
    assert!(
        text.contains("systemd-run --user --scope -p Delegate=yes"),
        "{text}"
    );
    assert!(
        !text.contains("app.slice/ci/agents"),
        "never beside the scope: {text}"
    );
    // The caller may name a home it vouches for.
    let out = cgbox(&[
        "--root",
        layout("unified-systemd-user").as_str(),
        "--parent",
        "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice",
        "--app",
        "ci",
        "inspect",
        "--json",
    ]);
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(json.contains(r#""placement": "explicit""#), "{json}");
    assert_eq!(out.status.code(), Some(0), "{json}");
}

#[test]
fn help_and_usage_errors() {
    for args in [&["--help"][..], &["inspect", "--help"][..], &["-h"][..]] {
        let out = cgbox(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8(out.stdout)
                .unwrap()
                .contains("usage: cgbox")
        );
    }
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["inspect", "--bogus"][..],
        &["--app", "../x", "inspect"][..],
        &["--root"][..],
    ] {
        let out = cgbox(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn a_missing_root_is_an_error_not_a_panic() {
    let out = cgbox(&["--root", "/nonexistent/cgbox-test", "inspect"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/nonexistent/cgbox-test"), "{err}");
}
