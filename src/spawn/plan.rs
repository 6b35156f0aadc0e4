//! Everything the clone3 child needs, prepared in the parent: the program
//! found on `PATH`, and `argv`, `envp` and the working directory as
//! NUL-terminated C arrays. The child only reads them.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr, OsString, c_char};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Access, AtFlags, CWD, FileType};
use rustix::io::Errno;

use super::BoxCommand;

/// `execvp`'s search path when `PATH` is unset (glibc's `_CS_PATH`).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// Why a plan could not be made.
#[derive(Debug)]
pub(crate) enum PlanError {
    /// The program was not found on `PATH`.
    NotFound,
    /// An argument, variable, program or directory holds a NUL byte.
    Nul(&'static str),
}

/// The prepared `execve` arguments. The pointers in `argv` and `envp` point
/// into the owned strings beside them, which live as long as the plan.
pub(crate) struct Plan {
    path: CString,
    _args: Vec<CString>,
    argv: Vec<*const c_char>,
    _vars: Vec<CString>,
    envp: Envp,
    cwd: Option<CString>,
}

/// The child's environment as `execve` takes it.
enum Envp {
    /// Ours, unchanged: the C library's `environ`, passed as it is (as std
    /// does for a `Command` whose environment was not touched). Copying it
    /// took four allocations a variable: under musl's allocator, a third of
    /// a start.
    Inherited(*const *const c_char),
    /// Made for this command; points into `Plan::_vars`.
    Built(Vec<*const c_char>),
}

unsafe extern "C" {
    /// The C library's environment (glibc and musl both define it).
    static environ: *const *const c_char;
}

/// Our environment as the C library holds it, if it holds one.
fn inherited_environment() -> Option<*const *const c_char> {
    // SAFETY: reading the pointer the C library keeps. Nothing changes it
    // while we read: std's `set_var` and `remove_var` may not run while
    // another thread reads the environment, by their safety contract.
    let envp = unsafe { environ };
    (!envp.is_null()).then_some(envp)
}

impl Plan {
    pub(crate) fn new(cmd: &BoxCommand) -> Result<Plan, PlanError> {
        let path = find_program(cmd)?;
        let path = c_string(path.as_os_str().as_bytes(), "program")?;
        let arg0 = cmd.arg0.as_ref().unwrap_or(&cmd.program);
        let args = std::iter::once(arg0)
            .chain(&cmd.args)
            .map(|a| c_string(a.as_bytes(), "argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let inherited = match !cmd.env_clear && cmd.env.is_empty() {
            true => inherited_environment(),
            false => None,
        };
        let vars = environment(cmd, inherited.is_some())
            .map(|(k, v)| {
                let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
                kv.extend_from_slice(k.as_bytes());
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                c_string(&kv, "environment variable")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cwd = match &cmd.cwd {
            Some(dir) => Some(c_string(dir.as_os_str().as_bytes(), "working directory")?),
            None => None,
        };
        let argv = pointers(&args);
        let envp = match inherited {
            Some(envp) => Envp::Inherited(envp),
            None => Envp::Built(pointers(&vars)),
        };
        Ok(Plan {
            path,
            _args: args,
            argv,
            _vars: vars,
            envp,
            cwd,
        })
    }

    /// The program to `execve`.
    pub(crate) fn path(&self) -> &CStr {
        &self.path
    }

    /// `argv`, NUL-terminated.
    pub(crate) fn argv(&self) -> *const *const c_char {
        self.argv.as_ptr()
    }

    /// `envp`, NUL-terminated.
    pub(crate) fn envp(&self) -> *const *const c_char {
        match &self.envp {
            Envp::Inherited(envp) => *envp,
            Envp::Built(ptrs) => ptrs.as_ptr(),
        }
    }

    /// The directory to change to, if any.
    pub(crate) fn cwd(&self) -> Option<&CStr> {
        self.cwd.as_deref()
    }
}

fn c_string(bytes: &[u8], what: &'static str) -> Result<CString, PlanError> {
    CString::new(bytes).map_err(|_| PlanError::Nul(what))
}

fn pointers(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The child's environment: ours (unless cleared) with the command's
/// changes applied, as `std::process::Command` builds it. Without changes,
/// ours as it is; nothing when that is passed on as the C library holds it
/// (`inherited`).
fn environment(
    cmd: &BoxCommand,
    inherited: bool,
) -> Box<dyn Iterator<Item = (OsString, OsString)>> {
    if inherited {
        return Box::new(std::iter::empty());
    }
    if !cmd.env_clear && cmd.env.is_empty() {
        return Box::new(std::env::vars_os());
    }
    let mut vars: BTreeMap<OsString, OsString> = if cmd.env_clear {
        BTreeMap::new()
    } else {
        std::env::vars_os().collect()
    };
    for (k, v) in &cmd.env {
        match v {
            Some(v) => vars.insert(k.clone(), v.clone()),
            None => vars.remove(k),
        };
    }
    Box::new(vars.into_iter())
}

/// The child's `PATH`: the command's when it sets or removes one, else ours.
fn search_path(cmd: &BoxCommand) -> Option<OsString> {
    match cmd.env.get(OsStr::new("PATH")) {
        Some(v) => v.clone(),
        None if cmd.env_clear => None,
        None => std::env::var_os("PATH"),
    }
}

/// The program as `execvp` would run it: as given when it holds a `/`,
/// else the first executable regular file named so in a `PATH` directory.
/// A match that exists but may not be executed is kept, so that `execve`
/// reports `EACCES` (126) rather than "not found" (127).
pub(crate) fn find_program(cmd: &BoxCommand) -> Result<PathBuf, PlanError> {
    let program = cmd.program.as_os_str();
    if program.is_empty() {
        return Err(PlanError::NotFound);
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let search = search_path(cmd);
    let search = search.as_ref().map_or(DEFAULT_PATH, |s| s.as_bytes());
    let mut denied = None;
    for dir in search.split(|&b| b == b':') {
        let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
        let mut candidate = PathBuf::from(OsStr::from_bytes(dir));
        if candidate.is_relative()
            && let Some(cwd) = &cmd.cwd
        {
            candidate = cwd.join(candidate);
        }
        candidate.push(program);
        match rustix::fs::accessat(CWD, &candidate, Access::EXEC_OK, AtFlags::EACCESS) {
            Ok(()) if is_regular(&candidate) => return Ok(candidate),
            Ok(()) | Err(Errno::ACCESS | Errno::PERM) => {
                denied.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    denied.ok_or(PlanError::NotFound)
}

fn is_regular(path: &Path) -> bool {
    rustix::fs::stat(path)
        .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(ptrs: *const *const c_char) -> Vec<String> {
        let mut out = Vec::new();
        let mut p = ptrs;
        // SAFETY: `ptrs` is a NUL-terminated array of C strings owned by a
        // live plan.
        unsafe {
            while !(*p).is_null() {
                out.push(CStr::from_ptr(*p).to_string_lossy().into_owned());
                p = p.add(1);
            }
        }
        out
    }

    #[test]
    fn argv_envp_and_cwd_are_nul_terminated_and_complete() {
        let mut cmd = BoxCommand::new("/bin/echo");
        cmd.arg0("echo-zero")
            .args(["a b", ""])
            .env_clear()
            .env("K", "v=w")
            .env("GONE", "x")
            .env_remove("GONE")
            .current_dir("/tmp");
        let plan = Plan::new(&cmd).unwrap();
        assert_eq!(plan.path().to_str(), Ok("/bin/echo"));
        assert_eq!(strings(plan.argv()), ["echo-zero", "a b", ""]);
        assert_eq!(strings(plan.envp()), ["K=v=w"]);
        assert_eq!(plan.cwd().map(CStr::to_bytes), Some(&b"/tmp"[..]));
    }

    #[test]
    fn inherited_environment_gets_the_changes() {
        let mut cmd = BoxCommand::new("/bin/true");
        cmd.env("CGBOX_PLAN_TEST", "1").env_remove("PATH");
        let env = strings(Plan::new(&cmd).unwrap().envp());
        assert!(env.contains(&"CGBOX_PLAN_TEST=1".to_owned()), "{env:?}");
        assert!(!env.iter().any(|v| v.starts_with("PATH=")), "{env:?}");
        let ours = std::env::vars_os().filter(|(k, _)| k != "PATH").count();
        assert_eq!(env.len(), ours + 1, "{env:?}");
    }

    #[test]
    fn an_unchanged_environment_is_passed_on_as_it_is() {
        let plan = Plan::new(&BoxCommand::new("/bin/true")).unwrap();
        let ours: Vec<String> = std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        assert!(matches!(plan.envp, Envp::Inherited(_)));
        assert_eq!(strings(plan.envp()), ours);
        // Any change, even one that changes nothing, makes a copy.
        let mut cmd = BoxCommand::new("/bin/true");
        cmd.env_remove("CGBOX_NO_SUCH_VARIABLE");
        let plan = Plan::new(&cmd).unwrap();
        assert!(matches!(plan.envp, Envp::Built(_)));
        assert_eq!(strings(plan.envp()), ours);
    }

    #[test]
    fn nul_bytes_are_refused_before_anything_starts() {
        for cmd in [
            BoxCommand::new("/bin/tr\0ue"),
            {
                let mut c = BoxCommand::new("/bin/true");
                c.arg("a\0b");
                c
            },
            {
                let mut c = BoxCommand::new("/bin/true");
                c.env("K", "v\0");
                c
            },
            {
                let mut c = BoxCommand::new("/bin/true");
                c.current_dir("/t\0mp");
                c
            },
        ] {
            assert!(matches!(Plan::new(&cmd), Err(PlanError::Nul(_))), "{cmd:?}");
        }
    }

    #[test]
    fn lookup_follows_the_childs_path_and_tells_denied_from_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let write = |p: &Path, mode: u32| {
            std::fs::write(p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(&a.join("tool"), 0o644); // not executable
        write(&b.join("tool"), 0o755);
        std::fs::create_dir(a.join("dir-tool")).unwrap(); // a directory
        let path = format!("{}:{}", a.display(), b.display());

        let mut cmd = BoxCommand::new("tool");
        cmd.env("PATH", &path);
        assert_eq!(find_program(&cmd).unwrap(), b.join("tool"));

        // a/dir-tool passes access(X_OK) but is no file: kept as denied.
        let mut cmd = BoxCommand::new("dir-tool");
        cmd.env("PATH", &path);
        assert_eq!(
            find_program(&cmd).unwrap(),
            a.join("dir-tool"),
            "denied: kept"
        );

        let mut cmd = BoxCommand::new("no-such-tool");
        cmd.env("PATH", &path);
        assert!(matches!(find_program(&cmd), Err(PlanError::NotFound)));

        // A relative PATH entry is relative to the child's directory.
        let mut cmd = BoxCommand::new("tool");
        cmd.env("PATH", "b").current_dir(tmp.path());
        assert_eq!(find_program(&cmd).unwrap(), tmp.path().join("b/tool"));

        // A slash: as given, no lookup.
        let cmd = BoxCommand::new("./tool");
        assert_eq!(find_program(&cmd).unwrap(), Path::new("./tool"));
        assert!(matches!(
            find_program(&BoxCommand::new("")),
            Err(PlanError::NotFound)
        ));
    }
}
