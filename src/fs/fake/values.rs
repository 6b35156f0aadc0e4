//! Validation of written values, as the kernel's write handlers do it.

use rustix::io::Errno;

use super::State;
use crate::parse::cpu_list::ListError;

const PAGE: u64 = 4096;
/// `PIDS_MAX`: `PID_MAX_LIMIT + 1`.
const PIDS_MAX: u64 = 4 * 1024 * 1024 + 1;
/// `max_cfs_runtime` in microseconds (`MAX_BW` of kernel/sched/core.c).
const MAX_CFS_QUOTA_US: u64 = (1 << 44) - 1;

/// `kstrtoint(strstrip(buf), 0, &v)`, decimal only.
pub(super) fn kstrtoint(text: &str) -> Option<i64> {
    let t = text.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = t.parse().ok()?;
    i32::try_from(v).ok().map(i64::from)
}

/// `memparse`: a number with an optional K, M, G, T, P or E suffix.
fn memparse(text: &str) -> Option<u64> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, suffix) = text.split_at(end);
    let n: u64 = num.parse().ok()?;
    let shift = match suffix {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        "p" | "P" => 50,
        "e" | "E" => 60,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// A cpuset list (`0-2,4`) as sorted ids, as `bitmap_parselist`: bad
/// syntax or a reversed range is `EINVAL`, an id at or past `limit` is
/// `ERANGE`.
fn cpu_list(text: &str, limit: u32) -> Result<Vec<u32>, Errno> {
    crate::parse::cpu_list::parse(text, limit).map_err(|e| match e {
        ListError::Syntax => Errno::INVAL,
        ListError::OutOfRange => Errno::RANGE,
    })
}

pub(super) use crate::parse::cpu_list::render as render_list;

/// A stored cpuset list as ids; `None` when empty or damaged.
pub(super) fn parse_list(text: &str) -> Option<Vec<u32>> {
    cpu_list(text, u32::MAX).ok().filter(|ids| !ids.is_empty())
}

/// A weight of 1 to 10000; out of range is `out_of_range` (cpu.weight
/// says ERANGE, iocost's io.weight says EINVAL).
fn weight(text: &str, out_of_range: Errno) -> Result<u64, Errno> {
    let v: u64 = text.parse().map_err(|_| Errno::INVAL)?;
    if !(1..=10000).contains(&v) {
        return Err(out_of_range);
    }
    Ok(v)
}

fn device(text: &str, st: &State) -> Result<(u32, u32), Errno> {
    let (maj, min) = text.split_once(':').ok_or(Errno::INVAL)?;
    let dev = (
        maj.parse().map_err(|_| Errno::INVAL)?,
        min.parse().map_err(|_| Errno::INVAL)?,
    );
    if !st.devices.contains(&dev) {
        return Err(Errno::NODEV);
    }
    Ok(dev)
}

/// Check `text` for the file `name`; on success return what the file
/// reads back as afterwards (`None`: nothing to store).
pub(super) fn validate(
    st: &State,
    name: &str,
    text: &str,
    current: Option<&str>,
) -> Result<Option<String>, Errno> {
    let t = text.trim();
    match name {
        "memory.max" | "memory.high" | "memory.low" | "memory.min" | "memory.swap.max"
        | "memory.swap.high" => {
            if t == "max" {
                return Ok(Some("max\n".into()));
            }
            let bytes = memparse(t).ok_or(Errno::INVAL)?;
            Ok(Some(format!("{}\n", bytes / PAGE * PAGE)))
        }
        "memory.oom.group" | "cpu.idle" => match kstrtoint(t) {
            Some(v @ 0..=1) => Ok(Some(format!("{v}\n"))),
            Some(_) | None => Err(Errno::INVAL),
        },
        "pids.max" => {
            if t == "max" {
                return Ok(Some("max\n".into()));
            }
            let v: u64 = t.parse().map_err(|_| Errno::INVAL)?;
            if v >= PIDS_MAX {
                return Err(Errno::INVAL);
            }
            Ok(Some(format!("{v}\n")))
        }
        "cpu.max" => {
            let mut parts = t.split_ascii_whitespace();
            let quota = parts.next().ok_or(Errno::INVAL)?;
            let period = match parts.next() {
                Some(p) => p.parse::<u64>().map_err(|_| Errno::INVAL)?,
                None => current
                    .and_then(|c| c.split_ascii_whitespace().nth(1))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(100_000),
            };
            if parts.next().is_some() {
                return Err(Errno::INVAL);
            }
            if !(1000..=1_000_000).contains(&period) {
                return Err(Errno::INVAL);
            }
            if quota == "max" {
                return Ok(Some(format!("max {period}\n")));
            }
            let q: u64 = quota.parse().map_err(|_| Errno::INVAL)?;
            if !(1000..=MAX_CFS_QUOTA_US).contains(&q) {
                return Err(Errno::INVAL);
            }
            Ok(Some(format!("{q} {period}\n")))
        }
        "cpu.weight" => Ok(Some(format!("{}\n", weight(t, Errno::RANGE)?))),
        "cpu.weight.nice" => match kstrtoint(t) {
            Some(v @ -20..=19) => Ok(Some(format!("{v}\n"))),
            Some(_) => Err(Errno::RANGE),
            None => Err(Errno::INVAL),
        },
        "cpuset.cpus" | "cpuset.mems" => {
            let limit = if name == "cpuset.cpus" {
                st.cpus
            } else {
                st.mems
            };
            let ids = cpu_list(t, limit)?;
            Ok(Some(format!("{}\n", render_list(&ids))))
        }
        "io.max" => {
            let mut words = t.split_ascii_whitespace();
            let dev = device(words.next().ok_or(Errno::INVAL)?, st)?;
            let mut limits = [
                ("rbps", "max".to_string()),
                ("wbps", "max".into()),
                ("riops", "max".into()),
                ("wiops", "max".into()),
            ];
            for w in words {
                let (k, v) = w.split_once('=').ok_or(Errno::INVAL)?;
                if v != "max" && v.parse::<u64>().is_err() {
                    return Err(Errno::INVAL);
                }
                let slot = limits
                    .iter_mut()
                    .find(|(key, _)| *key == k)
                    .ok_or(Errno::INVAL)?;
                slot.1 = v.to_owned();
            }
            let line: Vec<String> = limits.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Ok(Some(format!("{}:{} {}\n", dev.0, dev.1, line.join(" "))))
        }
        "io.weight" => {
            let mut words = t.split_ascii_whitespace();
            let (first, second) = (words.next().ok_or(Errno::INVAL)?, words.next());
            if words.next().is_some() {
                return Err(Errno::INVAL);
            }
            match (first, second) {
                ("default", Some(w)) => Ok(Some(format!("default {}\n", weight(w, Errno::INVAL)?))),
                (w, None) => Ok(Some(format!("default {}\n", weight(w, Errno::INVAL)?))),
                (dev, Some(w)) => {
                    device(dev, st)?;
                    if w != "default" {
                        weight(w, Errno::INVAL)?;
                    }
                    Ok(None)
                }
            }
        }
        _ => Err(Errno::INVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(kstrtoint(" 1\n"), Some(1));
        assert_eq!(kstrtoint("-3"), Some(-3));
        assert_eq!(kstrtoint("x"), None);
        assert_eq!(kstrtoint("99999999999"), None);
        assert_eq!(memparse("32M"), Some(32 << 20));
        assert_eq!(memparse("7"), Some(7));
        assert_eq!(memparse("7X"), None);
        assert_eq!(memparse("99999999999E"), None);
        assert_eq!(cpu_list("0-1", 2), Ok(vec![0, 1]));
        assert_eq!(cpu_list("2", 2), Err(Errno::RANGE));
        assert_eq!(cpu_list("1-0", 2), Err(Errno::INVAL));
        assert_eq!(render_list(&[0, 1, 2, 4, 6, 7]), "0-2,4,6-7");
    }
}
