//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A small deterministic PRNG (xorshift64*), so that every "random" test
/// is reproducible from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Corrupt `input` one of several ways: truncate, flip a byte, insert a
/// huge number, drop the newlines, duplicate a line, insert junk bytes.
pub fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    match rng.below(8) {
        0 => v.truncate(rng.below(v.len() + 1)),
        1 => {
            if !v.is_empty() {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let i = rng.below(v.len() + 1);
            v.splice(i..i, b"184467440737095516159999".iter().copied());
        }
        3 => v.retain(|&b| b != b'\n'),
        4 => {
            let text = String::from_utf8_lossy(&v).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let l = lines[rng.below(lines.len())];
                v.extend_from_slice(l.as_bytes());
                v.push(b'\n');
            }
        }
        5 => v.clear(),
        6 => {
            let i = rng.below(v.len() + 1);
            let junk = [0u8, 0xff, b'=', b' ', b':', b'-', b'\\', b'/'];
            v.insert(i, junk[rng.below(junk.len())]);
        }
        _ => {
            if !v.is_empty() {
                let i = rng.below(v.len());
                let alphabet = b"0123456789 \n=:";
                v[i] = alphabet[rng.below(alphabet.len())];
            }
        }
    }
    v
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The running kernel's release (`/proc/sys/kernel/osrelease`), trimmed.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The running kernel's `(major, minor)`; `(0, 0)` when unreadable.
pub fn kernel_version() -> (u32, u32) {
    let release = kernel_release();
    let mut parts = release.split(['.', '-', '+']);
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next())
}

/// True when the running kernel is `major.minor` or newer.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    kernel_version() >= (major, minor)
}

/// The app tree (`<home>/<app>/agents`) outlives the boxes by design: a test
/// that makes boxes of its own app removes the tree when it ends, also when
/// an assertion fails, with whatever the test left in it: processes are
/// killed the way this kernel allows (`KillMethod::Auto`: a box made with
/// a forced `cgroup.kill` on 5.10 is still full), then every cgroup is
/// removed. So a failed test leaves nothing for the next one to trip over.
pub struct AppTree {
    pub fs: std::sync::Arc<cgbox::fs::SysFs>,
    pub app: String,
}

impl Drop for AppTree {
    fn drop(&mut self) {
        use cgbox::fs::{Access, CgroupFs};
        use std::time::Duration;
        let fs = &*self.fs;
        let Ok(placement) = cgbox::discover::Discovery::probe(fs, &self.app).require_placement()
        else {
            return;
        };
        let Ok(home) = fs.open_dir(&placement.home) else {
            return;
        };
        let Ok(dir) = fs.open_child(&home, &self.app) else {
            return; // nothing left
        };
        let deadline = fs.now() + Duration::from_secs(20);
        if let Err(e) = cgbox::kill::kill(fs, &dir, cgbox::kill::KillMethod::Auto, deadline) {
            eprintln!("cleanup: kill {}: {e}", self.app);
        }
        if let Ok(events) = fs.open_file(&dir, "cgroup.events", Access::Read)
            && let Err(e) = cgbox::kill::wait_until_empty(fs, &events, &mut Vec::new(), deadline)
        {
            eprintln!("cleanup: wait {}: {e}", self.app);
        }
        if let Err(e) = cgbox::kill::remove_tree(fs, &home, &self.app, deadline) {
            eprintln!("cleanup: remove {}: {e}", self.app);
        }
    }
}
