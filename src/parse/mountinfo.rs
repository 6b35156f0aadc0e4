//! `/proc/<pid>/mountinfo` (proc(5)): one mount a line.
//!
//! `36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue`

use std::path::PathBuf;

use super::ParseError;
use super::token::lines;

/// One mount.
///
/// See the [example](crate::parse::mountinfo#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Unique mount ID.
    pub mount_id: u64,
    /// ID of the parent mount.
    pub parent_id: u64,
    /// The root of the mount within its filesystem (`/` unless bind-mounted
    /// from a sub-tree, as in a container without a cgroup namespace).
    pub root: PathBuf,
    /// Where it is mounted, as this process sees it, octal escapes decoded.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw`, `ro`, `nosuid` ...).
    pub mount_options: Vec<String>,
    /// Filesystem type: `cgroup2`, `cgroup`, `tmpfs` ...
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Per-superblock options; for cgroup v1 these name the controllers.
    pub super_options: Vec<String>,
}

impl Mount {
    /// Read-only, per mount or per superblock.
    ///
    /// See the [example](crate::parse::mountinfo#examples).
    pub fn is_read_only(&self) -> bool {
        self.mount_options.iter().any(|o| o == "ro") || self.super_options.iter().any(|o| o == "ro")
    }
}

/// Parse the whole file. A malformed line fails it: a skipped line could
/// hide the very mount discovery is looking for.
///
/// See the [example](crate::parse::mountinfo#examples).
pub fn parse(content: &str) -> Result<Vec<Mount>, ParseError> {
    super::token::complete(content)?;
    let mut out = Vec::new();
    for (n, line) in lines(content) {
        out.push(parse_line(n, line)?);
    }
    Ok(out)
}

fn parse_line(n: usize, line: &str) -> Result<Mount, ParseError> {
    let bad = |msg: String| ParseError::new(n, msg);
    let fields: Vec<&str> = line.split(' ').collect();
    if fields.iter().any(|f| f.is_empty()) {
        return Err(bad(format!("empty field (doubled space) in {line:?}")));
    }
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or_else(|| bad(format!("no \" - \" separator in {line:?}")))?;
    // Six fields before the optional ones, three after the separator.
    let (Some(before), Some(after)) = (fields.get(..sep), fields.get(sep + 1..)) else {
        return Err(bad(format!("truncated line {line:?}")));
    };
    let ([mount_id, parent_id, dev, root, mount_point, options, ..], [fstype, source, rest @ ..]) =
        (before, after)
    else {
        return Err(bad(format!("too few fields in {line:?}")));
    };
    let number = |s: &str, what: &str| {
        super::token::parse_u64(s).ok_or_else(|| bad(format!("bad {what} {s:?}")))
    };
    let (major, minor) = dev
        .split_once(':')
        .ok_or_else(|| bad(format!("bad device {dev:?}")))?;
    number(major, "major")?;
    number(minor, "minor")?;
    let super_options = rest.first().map(|s| split_options(s)).unwrap_or_default();
    Ok(Mount {
        mount_id: number(mount_id, "mount id")?,
        parent_id: number(parent_id, "parent id")?,
        root: PathBuf::from(unescape(root)),
        mount_point: PathBuf::from(unescape(mount_point)),
        mount_options: split_options(options),
        fstype: unescape(fstype),
        source: unescape(source),
        super_options,
    })
}

fn split_options(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Decode the kernel's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash). A backslash not followed by three octal
/// digits is kept as it is.
///
/// See the [example](crate::parse::mountinfo#examples).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        if b == b'\\'
            && let Some(v) = octal3(bytes.get(i + 1..i + 4))
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn octal3(digits: Option<&[u8]>) -> Option<u8> {
    let d = digits?;
    let mut v: u32 = 0;
    for &c in d {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v * 8 + u32::from(c - b'0');
    }
    u8::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_mounts() {
        let m = parse(HYBRID).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[2].fstype, "cgroup2");
        assert_eq!(m[2].mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m[1].super_options, vec!["rw", "memory"]);
        assert_eq!(m[0].mount_id, 31);
        assert_eq!(m[0].parent_id, 23);
    }

    #[test]
    fn optional_fields_escapes_and_bind_root() {
        let line = "1052 1051 0:29 /docker/abc /sys/fs/cgroup ro,nosuid shared:9 master:2 - cgroup2 cgroup rw,nsdelegate\n";
        let m = parse(line).unwrap();
        assert_eq!(m[0].root, PathBuf::from("/docker/abc"));
        assert!(m[0].is_read_only());
        assert_eq!(m[0].super_options, vec!["rw", "nsdelegate"]);
        let m = parse("1 0 0:1 / /mnt/my\\040cgroup\\134x rw - cgroup2 none rw\n").unwrap();
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt/my cgroup\\x"));
        assert_eq!(unescape("a\\04"), "a\\04");
        assert_eq!(unescape("a\\999"), "a\\999");
        assert_eq!(unescape("\\"), "\\");
    }

    #[test]
    fn malformed() {
        assert!(parse("31 23 0:28 / /sys rw tmpfs tmpfs rw\n").is_err());
        assert!(parse("31 23 0:28 / - tmpfs tmpfs rw\n").is_err());
        assert!(parse("x 23 0:28 / /a rw - tmpfs t rw\n").is_err());
        assert!(parse("31 23 028 / /a rw - tmpfs t rw\n").is_err());
        assert!(parse("31 23 0:28 / /a rw -\n").is_err());
        assert!(parse("").unwrap().is_empty());
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::mountinfo::{parse, unescape};
        use std::path::Path;

        let mounts = parse(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n\
             41 31 0:38 / /run/my\\040cgroup ro - cgroup2 cgroup2 rw\n",
        )?;
        assert_eq!(mounts[0].fstype, "cgroup2");
        assert_eq!(mounts[0].mount_point, Path::new("/sys/fs/cgroup"));
        assert!(!mounts[0].is_read_only());
        assert_eq!(mounts[1].mount_point, Path::new("/run/my cgroup"));
        assert!(mounts[1].is_read_only());
        assert_eq!(unescape("a\\011b"), "a\tb");
        Ok(())
    }
}
