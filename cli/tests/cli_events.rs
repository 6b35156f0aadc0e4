//! `cgbox events NAME`: a box's events streamed as lines, from the shell.
//! The box is made with `cgbox create`, a command runs in it with `cgbox
//! exec`, it is frozen, thawed and killed, and the stream says each, in
//! order, and ends with `gone` (exit 0). An interrupted stream ends with
//! exit 0 and the signal named; a box that does not exist is exit 1 with
//! the library's error; bad options are exit 2. Runs on any writable
//! cgroup2 (the core interface); says SKIPPED elsewhere.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CGBOX: &str = env!("CARGO_BIN_EXE_cgbox");

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Shell {
    app: String,
    _tree: common::AppTree,
}

fn shell(test: &str) -> Option<Shell> {
    let live = common::live("cgbox-cli-ev", test)?;
    Some(Shell {
        app: live.app,
        _tree: live.tree,
    })
}

impl Shell {
    fn cgbox(&self, args: &[&str]) -> Output {
        common::cgbox_in(CGBOX, &self.app, args)
    }

    fn ok(&self, args: &[&str]) {
        let out = self.cgbox(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    /// `cgbox exec NAME -- sh -c 'read x'`: a command in the box that runs
    /// until the test closes its stdin.
    fn exec_until_released(&self, name: &str) -> Child {
        Command::new(CGBOX)
            .args([
                "--app",
                &self.app,
                "exec",
                name,
                "--",
                "sh",
                "-c",
                "read x || :",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// `cgbox events` in the background, its lines read as they come.
    fn events(&self, args: &[&str]) -> Stream {
        let mut child = Command::new(CGBOX)
            .args(["--app", &self.app, "events"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines() {
                if tx.send(l.unwrap()).is_err() {
                    return;
                }
            }
        });
        Stream { child, lines }
    }
}

/// A running `cgbox events`, killed if the test ends before it does.
struct Stream {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Stream {
    /// The next line; `None` when the stream ended. A line that does not
    /// come in 30 s fails the test.
    fn line(&self) -> Option<String> {
        match self.lines.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => Some(l),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no line from cgbox events in 30 s"),
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_boxs_life_streams_as_json_lines_until_it_is_gone() {
    let Some(sh) = shell("life") else { return };
    sh.ok(&["create", "b1"]);
    let mut stream = sh.events(&["b1", "--json"]);
    // The first line is the state the watching starts from: once it is
    // there, every change after it is streamed.
    let first = stream.line().unwrap();
    assert!(
        first.starts_with(r#"{"event": "watching", "name": "b1", "path": ""#)
            && first.ends_with(r#"/agents/b1", "populated": false, "frozen": false}"#),
        "{first}"
    );
    // A command that runs until the test lets it go, so that the box is
    // seen populated (a command that starts and ends between two reads of
    // cgroup.events, within the kernel's notification interval, is not).
    let mut exec = sh.exec_until_released("b1");
    assert_eq!(stream.line().unwrap(), r#"{"event": "populated"}"#);
    drop(exec.stdin.take());
    assert_eq!(exec.wait().unwrap().code(), Some(0));
    assert_eq!(stream.line().unwrap(), r#"{"event": "empty"}"#);
    sh.ok(&["freeze", "b1"]);
    assert_eq!(stream.line().unwrap(), r#"{"event": "frozen"}"#);
    sh.ok(&["thaw", "b1"]);
    assert_eq!(stream.line().unwrap(), r#"{"event": "thawed"}"#);
    sh.ok(&["kill", "b1"]);
    assert_eq!(stream.line().unwrap(), r#"{"event": "gone"}"#);
    assert_eq!(stream.line(), None, "gone is the last line");
    let status = stream.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", stream.stderr());
}

#[test]
fn text_lines_and_an_interrupt_end_the_stream_with_exit_0() {
    let Some(sh) = shell("interrupt") else { return };
    sh.ok(&["create", "b2"]);
    let mut stream = sh.events(&["b2"]);
    let first = stream.line().unwrap();
    assert!(
        first.starts_with("watching b2 (/") && first.ends_with("/agents/b2): empty"),
        "{first}"
    );
    let mut exec = sh.exec_until_released("b2");
    assert_eq!(stream.line().unwrap(), "populated");
    drop(exec.stdin.take());
    assert_eq!(exec.wait().unwrap().code(), Some(0));
    assert_eq!(stream.line().unwrap(), "empty");
    let pid = rustix::process::Pid::from_child(&stream.child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = stream.child.wait().unwrap();
    let err = stream.stderr();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("events b2: interrupted by SIGINT"), "{err}");
    assert_eq!(stream.line(), None, "nothing after the interrupt");
    sh.ok(&["kill", "b2"]);
}

#[test]
fn a_box_that_does_not_exist_is_exit_1_with_the_librarys_error() {
    let Some(sh) = shell("missing") else { return };
    let out = sh.cgbox(&["events", "nosuch"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(r#"no box named "nosuch""#), "{err}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn bad_usage_is_exit_2_with_the_rule() {
    // Checked before anything is opened: no cgroup needed.
    for (args, said) in [
        (&["events"][..], "give the box NAME"),
        (
            &["events", "b", "--trigger", "memory some 100 10"],
            "500 ms to 10 s",
        ),
        (
            &["events", "b", "--trigger", "memory some 3000000 2000000"],
            "at most the window",
        ),
        (
            &["events", "b", "--trigger", "swap some 1 2000000"],
            "cpu, memory or io",
        ),
        (&["events", "b", "--jsn"], "unexpected option --jsn"),
        (&["events", "../b"], "events:"),
    ] {
        let out = Command::new(CGBOX)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(said), "{args:?}: {err}");
    }
    let out = Command::new(CGBOX)
        .args(["events", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--trigger SPEC"));
}
