//! The limit options `run`, `create` and `set` share.

use cgbox::{IoMax, Limits, Size};

use crate::args::Lexer;

/// The help text of the limit options.
pub const LIMITS_HELP: &str = "\
limits:
  --memory SIZE        memory.max        (SIZE: bytes with K, M, G or T, or max; at least 1M)
  --memory-high SIZE   memory.high       (at least 1M)
  --swap SIZE          memory.swap.max
  --cpus FRACTION      cpu.max over a 100 ms period (1.5 = one and a half CPUs)
  --cpu-weight N       cpu.weight, 1 to 10000
  --pids N             pids.max (or max)
  --cpuset LIST        cpuset.cpus, such as 0-3,6
  --io-max 'MAJ:MIN rbps=N wbps=N riops=N wiops=N'   io.max (repeatable, one per device)
  --io-weight N        io.weight, 1 to 10000
  --oom-group          memory.oom.group = 1: an OOM kill takes every process of the box
";

/// The limit options, without their dashes.
pub const LIMIT_FLAGS: [&str; 10] = [
    "memory",
    "memory-high",
    "swap",
    "cpus",
    "cpu-weight",
    "pids",
    "cpuset",
    "io-max",
    "io-weight",
    "oom-group",
];

/// A decimal number written as the kernel writes one: digits only, no
/// sign, no leading zero.
pub fn decimal(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// A whole number as the kernel prints it, with what is wrong said.
pub fn whole(flag: &str, v: &str) -> Result<u64, String> {
    if let Some(n) = decimal(v) {
        return Ok(n);
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{flag}: {v} is too large"));
    }
    Err(format!("{flag}: {v:?} is not a whole number"))
}

/// Read the value of the limit option `flag` (one of [`LIMIT_FLAGS`])
/// into `limits`.
pub fn parse(flag: &str, lex: &mut Lexer, limits: &mut Limits) -> Result<(), String> {
    // The one limit that is a switch, not a value.
    if flag == "oom-group" {
        limits.memory_oom_group = Some(true);
        return Ok(());
    }
    let dashed = format!("--{flag}");
    let value = lex.value(&dashed)?;
    let size = |v: &str| Size::parse(v).map_err(|e| format!("{dashed}: {e}"));
    match flag {
        "memory" => limits.memory_max = Some(size(&value)?),
        "memory-high" => limits.memory_high = Some(size(&value)?),
        "swap" => limits.memory_swap_max = Some(size(&value)?),
        "cpus" => {
            let cpus: f64 = value
                .parse()
                .map_err(|_| format!("--cpus: {value:?} is not a number"))?;
            limits.cpus = Some(cpus);
        }
        "cpu-weight" => limits.cpu_weight = Some(whole(&dashed, &value)?),
        "pids" => {
            limits.pids_max = Some(if value == "max" {
                None
            } else {
                Some(whole(&dashed, &value).map_err(|e| format!("{e} (or max)"))?)
            });
        }
        "cpuset" => limits.cpuset_cpus = Some(value),
        "io-max" => {
            let io = IoMax::parse(&value).map_err(|e| format!("--io-max: {e}"))?;
            if limits
                .io_max
                .iter()
                .any(|o| (o.major, o.minor) == (io.major, io.minor))
            {
                return Err(format!(
                    "--io-max: device {}:{} is given twice",
                    io.major, io.minor
                ));
            }
            limits.io_max.push(io);
        }
        "io-weight" => limits.io_weight = Some(whole(&dashed, &value)?),
        other => return Err(format!("--{other} is not a limit")),
    }
    Ok(())
}
