//! Helpers for tests, shared by the crate's own unit tests and (through a
//! `#[path]` include) by its integration tests: a reproducible PRNG and the
//! ways an interface file gets damaged.
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

/// The workspace's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    // The library's tests run from the top, the CLI's from cli/.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|p| p.join("fixtures"))
        .find(|p| p.join("layouts").is_dir())
        .unwrap_or_else(|| here.join("fixtures"))
}

/// True when this run must prove things on a real cgroup2
/// (`CGBOX_REQUIRE_REAL_CGROUP=1`, as the VM suite sets it).
pub fn required() -> bool {
    std::env::var("CGBOX_REQUIRE_REAL_CGROUP").as_deref() == Ok("1")
}

/// Say why `test` cannot run here; under `CGBOX_REQUIRE_REAL_CGROUP=1` that
/// is a failure.
pub fn skip(test: &str, why: &str) {
    assert!(!required(), "CGBOX_REQUIRE_REAL_CGROUP=1 but {test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
}
