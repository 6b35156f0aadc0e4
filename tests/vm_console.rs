//! The crash check of the VM suites (tests/vm/guest-oops.sh) on guest
//! consoles (fixtures/consoles/): a guest kernel oops or panic is told apart
//! from a test that failed, so that tests/vm/boot.sh reruns the first and
//! never the second.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn check(log: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/guest-oops.sh");
    Command::new("sh").arg(script).arg(log).output().unwrap()
}

fn console(name: &str) -> Output {
    check(&common::fixtures().join("consoles").join(name))
}

/// The check on a console given as text.
fn text(console: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("console.log");
    std::fs::write(&log, console).unwrap();
    check(&log)
}

fn crash(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "a crash: {out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn no_crash(out: &Output) {
    assert_eq!(out.status.code(), Some(1), "no crash: {out:?}");
    assert!(out.stdout.is_empty(), "nothing printed: {out:?}");
}

#[test]
fn an_int3_oops_of_6_12_is_a_crash_and_its_lines_are_printed() {
    let shown = crash(&console("int3-oops-6.12.log"));
    assert!(
        shown.contains("Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"),
        "{shown}"
    );
    assert!(shown.contains("Call Trace:"), "{shown}");
    assert!(
        shown.contains("Kernel panic - not syncing: Fatal exception in interrupt"),
        "{shown}"
    );
    // A few lines before it (the tests that were running), no carriage returns.
    assert!(
        shown.contains("test a_hundred_sleepers_are_killed_and_removed ... ok"),
        "{shown}"
    );
    assert!(
        shown.contains("test freeze_thaw_and_move_pid ... "),
        "{shown}"
    );
    assert!(!shown.contains('\r'), "{shown:?}");
    assert!(shown.lines().count() <= 100);
}

#[test]
fn a_panic_is_a_crash() {
    let shown = crash(&console("panic-6.12.log"));
    assert!(
        shown.contains("Kernel panic - not syncing: sysrq triggered crash"),
        "{shown}"
    );
    assert!(shown.contains("sysrq_handle_crash"), "{shown}");
}

#[test]
fn a_panic_at_boot_on_a_loaded_host_is_a_crash() {
    // Before any test ran: the reason is the emulator's, and one rerun tells.
    let shown = crash(&console("timer-panic-6.1.log"));
    assert!(
        shown.starts_with(
            "[    0.056000] Kernel panic - not syncing: IO-APIC + timer doesn't work!"
        ),
        "{shown}"
    );
    assert!(shown.contains("setup_IO_APIC"), "{shown}");
}

#[test]
fn a_clean_run_is_no_crash() {
    no_crash(&console("clean-6.12.log"));
}

#[test]
fn a_failed_test_is_no_crash() {
    // A Rust panic and the word BUG in a test's message are the test's own.
    let failed =
        std::fs::read_to_string(common::fixtures().join("consoles/test-failure-6.12.log")).unwrap();
    assert!(failed.contains("test result: FAILED") && failed.contains("panicked at"));
    assert!(failed.contains("BUG:"));
    no_crash(&console("test-failure-6.12.log"));
}

#[test]
fn the_die_header_before_6_9_is_a_crash() {
    // Before 6.9, die() printed no "Oops: " prefix for traps (6.1, 5.10).
    let shown = crash(&text(
        "test x ... \r\n[   12.000001] int3: 0000 [#1] PREEMPT SMP NOPTI\r\n[   12.000002] CPU: 1 PID: 99 Comm: x Not tainted 6.1.0-57-cloud-amd64 #1 Debian\r\n",
    ));
    assert!(shown.contains("int3: 0000 [#1]"), "{shown}");
    let shown = crash(&text(
        "[    9.1] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI\n",
    ));
    assert!(shown.contains("general protection fault"), "{shown}");
    let shown = crash(&text(
        "[    3.2] BUG: kernel NULL pointer dereference, address: 0000000000000008\n[    3.3] Oops: 0000 [#1] SMP NOPTI\n",
    ));
    assert!(
        shown.starts_with("[    3.2] BUG: kernel NULL pointer dereference"),
        "{shown}"
    );
    let shown = crash(&text("[    7.0] kernel BUG at mm/slub.c:435!\n"));
    assert!(shown.contains("kernel BUG at"), "{shown}");
}

#[test]
fn warnings_that_do_not_kill_the_kernel_are_no_crash() {
    // A loaded host makes the guest slow: lockup and stall reports, warnings.
    no_crash(&text(concat!(
        "[   30.1] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [differential:171]\n",
        "[   31.2] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n",
        "[   32.3] WARNING: CPU: 0 PID: 1 at kernel/cgroup/cgroup.c:100 f+0x1/0x2\n",
        "test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.30s\n",
    )));
}

#[test]
fn an_unreadable_console_is_an_error_not_a_verdict() {
    let out = check(Path::new("/nonexistent/console.log"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
