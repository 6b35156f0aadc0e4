//! End to end against a real bus and a real systemd: the system manager
//! (`system_*`, as root) and the user's manager (`user_*`, as that user).
//!
//! Where there is no bus (CI containers, this project's development
//! machines), each test prints SKIPPED with the reason, unless
//! CGBOX_REQUIRE_REAL_BUS=1, where that is a failure. The systemd VM runs
//! them for real: `tests/vm/dbus-systemd.sh`.
//!
//! With CGBOX_DBUS_CAPTURE=DIR, each test writes the bytes it exchanged
//! with the bus to DIR/NAME.from-bus and DIR/NAME.to-bus: that is how
//! `fixtures/dbus/` was made.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ErrorKind;
use crate::dbus::{Address, BusKind, Scope, Systemd, Transport, Unit, UnixTransport};

const T: Duration = Duration::from_secs(30);

fn skip(test: &str, why: &str) {
    if std::env::var("CGBOX_REQUIRE_REAL_BUS").as_deref() == Ok("1") {
        panic!("CGBOX_REQUIRE_REAL_BUS=1 but {test} cannot run: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A Unix transport that keeps a copy of every byte, both ways.
struct Recording {
    inner: UnixTransport,
    from_bus: Vec<u8>,
    to_bus: Vec<u8>,
}

impl Transport for Recording {
    fn send(&mut self, bytes: &[u8], deadline: Instant) -> crate::Result<()> {
        self.to_bus.extend_from_slice(bytes);
        self.inner.send(bytes, deadline)
    }

    fn recv(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> crate::Result<usize> {
        let start = buf.len();
        let n = self.inner.recv(buf, deadline)?;
        self.from_bus.extend_from_slice(&buf[start..]);
        Ok(n)
    }

    fn socket(&self) -> &Path {
        self.inner.socket()
    }
}

/// Write what `s` exchanged, when CGBOX_DBUS_CAPTURE names a directory.
fn save(s: &Systemd<Recording>, name: &str) {
    let Some(dir) = std::env::var_os("CGBOX_DBUS_CAPTURE").filter(|d| !d.is_empty()) else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t = s.connection().transport();
    std::fs::write(dir.join(format!("{name}.from-bus")), &t.from_bus).unwrap();
    std::fs::write(dir.join(format!("{name}.to-bus")), &t.to_bus).unwrap();
}

/// Connect to `bus`, or say why this test cannot run.
fn connect(test: &str, bus: BusKind) -> Option<Systemd<Recording>> {
    let addresses = match Address::for_bus(bus, |n| std::env::var_os(n)) {
        Ok(a) => a,
        Err(e) => {
            skip(test, &e.to_string());
            return None;
        }
    };
    let inner = match UnixTransport::connect(&addresses[0], bus) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            skip(test, &e.to_string());
            return None;
        }
        Err(e) => panic!("{test}: {e}"),
    };
    let t = Recording {
        inner,
        from_bus: Vec::new(),
        to_bus: Vec::new(),
    };
    let uid = rustix::process::geteuid().as_raw();
    let t0 = Instant::now();
    let systemd = Systemd::over(t, uid, T).unwrap_or_else(|e| panic!("{test}: {e}"));
    eprintln!(
        "TIMING {test}: connect (SASL + Hello) {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    Some(systemd)
}

/// The manager this test talks to, or why it cannot run here.
fn manager(test: &str, bus: BusKind) -> Option<Systemd<Recording>> {
    if bus == BusKind::System && !is_root() {
        skip(
            test,
            "not root: the system manager starts scopes for root only",
        );
        return None;
    }
    connect(test, bus)
}

/// A `sleep` that is killed and reaped however the test ends.
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(Command::new("sleep").arg("300").spawn().unwrap())
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scope_name(tag: &str) -> String {
    format!("cgbox-test-{}-{tag}.scope", std::process::id())
}

/// The cgroup of `pid`, from /proc/PID/cgroup (`0::/...`), or what went wrong.
fn cgroup_of(pid: &str) -> String {
    match std::fs::read_to_string(format!("/proc/{pid}/cgroup")) {
        Ok(text) => match text.lines().find_map(|l| l.strip_prefix("0::")) {
            Some(path) => path.to_string(),
            None => format!("(no 0:: line in {text:?})"),
        },
        Err(e) => format!("(no /proc/{pid}/cgroup: {e})"),
    }
}

fn systemctl_delegate(bus: BusKind, unit: &str) -> String {
    let mut cmd = Command::new("systemctl");
    if bus == BusKind::User {
        cmd.arg("--user");
    }
    let out = cmd
        .args(["show", "-p", "Delegate", "--value", unit])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn xattr(dir: &Path, name: &str) -> Option<String> {
    let mut buf = [0u8; 64];
    rustix::fs::getxattr(dir, name, &mut buf[..])
        .ok()
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Wait (bounded) until `done` holds; false if it never did.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

/// A scope for a child: it appears with Delegate=yes, the child is in it,
/// unit_delegates says so, and the scope goes when the child does.
fn scope_for_a_child(test: &str, bus: BusKind) {
    let Some(mut systemd) = manager(test, bus) else {
        return;
    };
    let child = Sleeper::start();
    let name = scope_name("child");
    let scope = Scope::new(&name, child.pid())
        .unwrap()
        .description("cgbox dbus end-to-end test");
    let t0 = Instant::now();
    let started = systemd.start_delegated_scope(&scope, T).unwrap();
    eprintln!(
        "TIMING {test}: StartTransientUnit + JobRemoved {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(started.unit(), name);

    let cgroup = cgroup_of(&child.pid().to_string());
    assert!(cgroup.ends_with(&format!("/{name}")), "{cgroup}");
    let t0 = Instant::now();
    assert_eq!(systemd.unit_delegates(child.pid(), T).unwrap(), Some(true));
    eprintln!(
        "TIMING {test}: GetUnitByPID + Properties.Get {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(systemctl_delegate(bus, &name), "yes");
    let dir = Path::new("/sys/fs/cgroup").join(cgroup.trim_start_matches('/'));
    let (trusted, user) = (
        xattr(&dir, "trusted.delegate"),
        xattr(&dir, "user.delegate"),
    );
    eprintln!("{test}: {cgroup}: trusted.delegate={trusted:?} user.delegate={user:?}");
    if bus == BusKind::System {
        assert_eq!(
            trusted.as_deref(),
            Some("1"),
            "the system manager marks delegation"
        );
    }
    save(&systemd, &format!("{}-scope-session", bus.name()));

    drop(child);
    assert!(
        eventually(Duration::from_secs(20), || !dir.exists()),
        "{} is still there after its only process ended",
        dir.display()
    );
}

#[test]
fn system_scope_for_a_child() {
    scope_for_a_child("system_scope_for_a_child", BusKind::System);
}

#[test]
fn user_scope_for_a_child() {
    scope_for_a_child("user_scope_for_a_child", BusKind::User);
}

/// This very process moves into its own delegated scope (the scope ends
/// when the test binary exits; tests/vm/dbus-systemd.sh checks that).
fn this_process_moves_in(test: &str, bus: BusKind) {
    let Some(mut systemd) = manager(test, bus) else {
        return;
    };
    let name = scope_name("self");
    let me = std::process::id();
    systemd
        .start_delegated_scope(&Scope::new(&name, me).unwrap(), T)
        .unwrap();
    let cgroup = cgroup_of("self");
    assert!(cgroup.ends_with(&format!("/{name}")), "{cgroup}");
    assert_eq!(systemd.unit_delegates(me, T).unwrap(), Some(true));
    eprintln!("{test}: /proc/self/cgroup 0::{cgroup}");
}

#[test]
fn system_this_process_moves_in() {
    this_process_moves_in("system_this_process_moves_in", BusKind::System);
}

#[test]
fn user_this_process_moves_in() {
    this_process_moves_in("user_this_process_moves_in", BusKind::User);
}

/// Scopes made by systemd-run, with and without `-p Delegate=yes`.
fn systemd_run_scopes(test: &str, bus: BusKind) {
    let Some(mut systemd) = manager(test, bus) else {
        return;
    };
    let Some(systemd_run) = ["/usr/bin/systemd-run", "/bin/systemd-run"]
        .into_iter()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0))
    else {
        skip(test, "no systemd-run");
        return;
    };
    for (tag, delegate) in [("ref-delegated", true), ("ref-plain", false)] {
        let unit = scope_name(tag);
        let mut cmd = Command::new(systemd_run);
        if bus == BusKind::User {
            cmd.arg("--user");
        }
        cmd.args(["--scope", "-q", "--unit", &unit]);
        if delegate {
            cmd.args(["-p", "Delegate=yes"]);
        }
        // systemd-run --scope execs the command: the child becomes `sleep`
        // once it is in the scope.
        let child = Sleeper(
            cmd.args(["sleep", "300"])
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let pid = child.pid().to_string();
        assert!(
            eventually(T, || cgroup_of(&pid).ends_with(&format!("/{unit}"))),
            "{unit} never held {pid}: {}",
            cgroup_of(&pid)
        );
        assert_eq!(
            systemd.unit_delegates(child.pid(), T).unwrap(),
            Some(delegate),
            "{unit}"
        );
        let unit_of = systemd.unit_of_pid(child.pid(), T).unwrap();
        assert_eq!(unit_of.name(), unit);
        let by_name = Unit::named(&unit).unwrap();
        assert_eq!(by_name, unit_of);
        assert_eq!(systemd.delegate(&by_name, T).unwrap(), Some(delegate));
    }
}

#[test]
fn system_systemd_run_scopes() {
    systemd_run_scopes("system_systemd_run_scopes", BusKind::System);
}

#[test]
fn user_systemd_run_scopes() {
    systemd_run_scopes("user_systemd_run_scopes", BusKind::User);
}

/// The refusals a manager gives, as typed errors.
fn errors_are_typed(test: &str, bus: BusKind) {
    let Some(mut systemd) = manager(test, bus) else {
        return;
    };
    let child = Sleeper::start();
    let name = scope_name("exists");
    let scope = Scope::new(&name, child.pid()).unwrap();
    systemd.start_delegated_scope(&scope, T).unwrap();
    let e = systemd.start_delegated_scope(&scope, T).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    eprintln!("{test}: again: {e}");

    // a PID no process has (pid_max is at most 2^22)
    let nobody = 1 << 23;
    let e = systemd.unit_of_pid(nobody, T).unwrap_err();
    eprintln!("{test}: GetUnitByPID({nobody}): {e}");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let ghost = Scope::new(&scope_name("ghost"), nobody).unwrap();
    let e = systemd.start_delegated_scope(&ghost, T).unwrap_err();
    eprintln!("{test}: a scope for PID {nobody}: {e}");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    save(&systemd, &format!("{}-errors", bus.name()));
}

#[test]
fn system_errors_are_typed() {
    errors_are_typed("system_errors_are_typed", BusKind::System);
}

#[test]
fn user_errors_are_typed() {
    errors_are_typed("user_errors_are_typed", BusKind::User);
}

/// A user asking the system manager is refused, with a typed error.
#[test]
fn user_asking_pid1_is_refused() {
    let test = "user_asking_pid1_is_refused";
    if is_root() {
        skip(test, "root: this checks what a user is told");
        return;
    }
    let Some(mut systemd) = connect(test, BusKind::System) else {
        return;
    };
    let child = Sleeper::start();
    let scope = Scope::new(&scope_name("refused"), child.pid()).unwrap();
    let e = systemd.start_delegated_scope(&scope, T).unwrap_err();
    eprintln!("{test}: {e}");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.hint().is_some());
    save(&systemd, "system-refused-user");
}
