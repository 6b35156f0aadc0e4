//! Deterministic mutation test of the D-Bus client on real bytes
//! (`fixtures/dbus/`, captured from systemd 252 and dbus-daemon 1.14.10):
//! 100,000+ damaged messages (truncated, bits flipped, lengths set to
//! boundary values, bytes inserted, deleted or repeated, type codes
//! swapped, byte order changed), 100,000+ damaged whole sessions played
//! through the client, and 100,000+ damaged SASL lines. Nothing may panic;
//! whatever is accepted must stand in the input: an accepted message
//! re-encodes to exactly the damaged bytes, so every value it yields is
//! where the input has it, and a session that succeeds names a job that is
//! in the input. A refusal is a typed error that says what was wrong. A
//! counting allocator checks that parsing never allocates more than a small
//! multiple of the bytes really there, whatever lengths the damage claims.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use crate::ErrorKind;
use crate::dbus::{
    JobRemoved, Message, Scope, ScriptedTransport, Systemd, Type, Value, frame_len, sasl,
};
use crate::testkit::Rng;

const CASES: usize = 100_000;

struct Counting;

thread_local! {
    // Per thread: the tests run in parallel and must not count each other.
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(by: usize) {
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + by);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

fn shrank(by: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(by)));
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counting beside it allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's layout, as GlobalAlloc::alloc received it.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: `ptr` came from this allocator (System) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        shrank(layout.size());
        grew(new_size);
        // SAFETY: `ptr` came from System with `layout`; the caller's new size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The most heap `f` held at once beyond what was live before it, and its result.
fn peak_of<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    (PEAK.with(Cell::get) - base, r)
}

/// What parsing `len` bytes may allocate: a few dozen bytes per byte of
/// input (a value per byte of an `ay` is the worst) and a little more.
fn allocation_bound(len: usize) -> usize {
    64 * len + 4096
}
const T: Duration = Duration::from_secs(5);

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(crate::testkit::fixtures().join("dbus").join(path)).unwrap()
}

/// What follows the first `\r\n`.
fn after_line(bytes: &[u8]) -> &[u8] {
    let end = bytes.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    &bytes[end..]
}

fn split(mut stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(Some(len)) = frame_len(stream) {
        out.push(stream[..len].to_vec());
        stream = &stream[len..];
    }
    assert!(stream.is_empty());
    out
}

/// Every message the buses sent (replies, errors, signals), and sd-bus's
/// calls as dbus-monitor saw them.
fn real_messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in [
        "system/scope-session.from-bus",
        "system/errors.from-bus",
        "system/refused-user.from-bus",
        "user/scope-session.from-bus",
        "user/errors.from-bus",
    ] {
        out.extend(split(after_line(&fixture(f))));
    }
    out.extend(split(&fixture("system/busctl.monitor")));
    out.extend(split(&fixture("user/busctl.monitor")));
    assert!(out.len() >= 40, "{} messages", out.len());
    out
}

const INTERESTING: [u32; 12] = [
    0,
    1,
    2,
    3,
    7,
    8,
    0x7f,
    0xff,
    0xffff,
    1 << 26,
    0x7fff_ffff,
    0xffff_ffff,
];

/// Damage `input` one way, binary-aware.
fn damage(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    let len = v.len();
    match rng.below(10) {
        0 => return crate::testkit::mutate(input, rng),
        1 if len > 0 => {
            let i = rng.below(len);
            v[i] ^= 1 << rng.below(8);
        }
        2 if len > 0 => {
            let i = rng.below(len);
            v[i] = rng.next() as u8;
        }
        3 if len >= 4 => {
            // a length or number set to a boundary, or nudged by one
            let i = rng.below(len / 4) * 4;
            let old = u32::from_le_bytes(v[i..i + 4].try_into().unwrap());
            let new = match rng.below(3) {
                0 => INTERESTING[rng.below(INTERESTING.len())],
                1 => old.wrapping_add(1),
                _ => old.wrapping_sub(1),
            };
            v[i..i + 4].copy_from_slice(&new.to_le_bytes());
        }
        4 => v.truncate(rng.below(len + 1)),
        5 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(8);
            for _ in 0..n {
                v.insert(i, rng.next() as u8);
            }
        }
        6 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(16));
            v.drain(i..i + n);
        }
        7 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(16));
            let copy = v[i..i + n].to_vec();
            v.splice(i..i, copy);
        }
        8 if len > 0 => v[0] = if v[0] == b'l' { b'B' } else { b'l' },
        _ => {
            // a type code swapped for another, wherever one stands
            let codes = b"ybnqiuxtdsogha(){}v";
            let at: Vec<usize> = (0..len).filter(|&i| codes.contains(&v[i])).collect();
            if !at.is_empty() {
                v[at[rng.below(at.len())]] = codes[rng.below(codes.len())];
            }
        }
    }
    v
}

/// One to three damages stacked.
fn damaged(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = damage(input, rng);
    for _ in 0..rng.below(3) {
        m = damage(&m, rng);
    }
    m
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn damaged_messages_are_refused_or_faithful() {
    let inputs = real_messages();
    let mut rng = Rng::new(18);
    let (mut accepted, mut rejected, mut signals, mut max_ratio) = (0, 0, 0, 0f64);
    for i in 0..CASES {
        let m = damaged(&inputs[i % inputs.len()], &mut rng);
        let framed = frame_len(&m);
        let (peak, parsed) = peak_of(|| Message::parse(&m));
        assert!(
            peak <= allocation_bound(m.len()),
            "case {i}: parsing {} bytes held {peak} bytes",
            m.len()
        );
        max_ratio = max_ratio.max(peak as f64 / m.len().max(1) as f64);
        match parsed {
            Ok(msg) => {
                accepted += 1;
                assert_eq!(framed, Ok(Some(m.len())), "case {i}");
                let back = msg
                    .encode()
                    .unwrap_or_else(|e| panic!("case {i}: {e}: {msg:?}"));
                assert_eq!(
                    back, m,
                    "case {i}: accepted {msg:?} does not stand in the input"
                );
                if let Ok(Some(j)) = JobRemoved::from_signal(&msg) {
                    signals += 1;
                    assert!(contains(&m, j.job.as_bytes()) && contains(&m, j.result.as_bytes()));
                }
            }
            Err(e) => {
                rejected += 1;
                assert!(!e.message().is_empty(), "case {i}");
                assert!(e.offset().is_none_or(|o| o <= m.len()), "case {i}: {e}");
            }
        }
    }
    eprintln!(
        "messages: {accepted} accepted, {rejected} rejected, {signals} JobRemoved read; \
         parsing held at most {max_ratio:.1} bytes per input byte"
    );
    assert!(
        accepted > CASES / 20 && rejected > CASES / 2,
        "{accepted} / {rejected}"
    );
    assert!(signals > 0);
}

#[test]
fn damaged_sessions_end_in_a_result_from_the_input_or_a_typed_error() {
    // (from-bus stream, the scope the client asks for, the PID it asks about)
    let mut sessions = Vec::new();
    for bus in ["system", "user"] {
        let to_bus = fixture(&format!("{bus}/scope-session.to-bus"));
        let calls: Vec<Message> = split(after_line(after_line(&to_bus)))
            .iter()
            .map(|b| Message::parse(b).unwrap())
            .collect();
        let name = calls[2].body()[0].as_str().unwrap().to_owned();
        let pid = calls[3].body()[0].as_u32().unwrap();
        let scope = Scope::new(&name, pid)
            .unwrap()
            .description("cgbox dbus end-to-end test");
        sessions.push((
            fixture(&format!("{bus}/scope-session.from-bus")),
            scope,
            pid,
        ));
    }
    let mut rng = Rng::new(1818);
    let (mut ok, mut none, mut kinds) = (0, 0, std::collections::BTreeMap::new());
    for i in 0..CASES {
        let (stream, scope, pid) = &sessions[i % sessions.len()];
        let input = damaged(stream, &mut rng);
        let t = ScriptedTransport::new()
            .bytes(input.clone())
            .in_chunks_of(1 + rng.below(64));
        let t = if rng.below(2) == 0 { t.hanging_up() } else { t };
        let outcome = Systemd::over(t, 0, T).and_then(|mut s| {
            let started = s.start_delegated_scope(scope, T)?;
            let delegates = s.unit_delegates(*pid, T)?;
            Ok((started, delegates))
        });
        match outcome {
            Ok((started, delegates)) => {
                ok += 1;
                assert!(contains(&input, started.job().as_bytes()), "case {i}");
                // None only when damage renamed the unit to a type without the property
                if delegates.is_none() {
                    none += 1;
                }
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::Parse
                            | ErrorKind::TimedOut
                            | ErrorKind::Bus
                            | ErrorKind::PermissionDenied
                            | ErrorKind::NotFound
                            | ErrorKind::AlreadyExists
                            | ErrorKind::Unsupported
                            | ErrorKind::InvalidInput
                    ),
                    "case {i}: {e:?}"
                );
                assert!(
                    !e.operation().is_empty() && e.detail().is_some(),
                    "case {i}: {e:?}"
                );
                *kinds.entry(format!("{:?}", e.kind())).or_insert(0) += 1;
            }
        }
    }
    eprintln!(
        "sessions: {ok} succeeded ({none} on a unit without Delegate); errors by kind {kinds:?}"
    );
    assert!(
        ok > 0 && kinds.get("Parse").is_some_and(|&n| n > 0),
        "{ok} {kinds:?}"
    );
}

#[test]
fn damaged_sasl_lines_are_refused_or_faithful() {
    let lines: Vec<Vec<u8>> = [
        &b"OK 3d6d1368af0e59cd44c3a7906b0d9c89"[..],
        b"REJECTED EXTERNAL",
        b"ERROR \"Unknown command\"",
        b"DATA",
        b"AGREE_UNIX_FD",
    ]
    .iter()
    .map(|l| l.to_vec())
    .collect();
    let mut rng = Rng::new(7);
    let (mut accepted, mut rejected) = (0, 0);
    for i in 0..CASES {
        let line = damaged(&lines[i % lines.len()], &mut rng);
        match sasl::parse_reply(&line) {
            Ok(sasl::ServerReply::Ok { guid }) => {
                accepted += 1;
                assert_eq!(line, format!("OK {guid}").as_bytes(), "case {i}");
            }
            Ok(sasl::ServerReply::Rejected { mechanisms }) => {
                accepted += 1;
                assert!(mechanisms.iter().all(|m| contains(&line, m.as_bytes())));
            }
            Ok(_) => accepted += 1,
            Err(why) => {
                rejected += 1;
                assert!(!why.message().is_empty());
            }
        }
    }
    eprintln!("SASL lines: {accepted} accepted, {rejected} rejected");
    assert!(accepted > 0 && rejected > 0);
}

#[test]
fn claimed_lengths_allocate_nothing_until_the_bytes_are_there() {
    // Header fields that claim up to 4 GiB, and a body array that claims
    // 64 MiB (the specification's limit) in a message of a few dozen bytes:
    // refused, with nothing allocated for the claim.
    let real = &real_messages()[0];
    let ay = Message::method_return(1)
        .with_body(vec![Value::array(Type::Byte, vec![Value::Byte(1); 4])])
        .with_serial(2)
        .encode()
        .unwrap();
    let body = ay.len() - 8; // u32 length, 4 bytes
    for claim in [u32::MAX, 1 << 26, (1 << 20) - 200, 5] {
        let mut fields = real.clone();
        fields[12..16].copy_from_slice(&claim.to_le_bytes());
        let mut array = ay.clone();
        array[body..body + 4].copy_from_slice(&claim.to_le_bytes());
        for m in [fields, array] {
            let (peak, r) = peak_of(|| Message::parse(&m));
            let e = r.unwrap_err();
            assert!(
                peak <= allocation_bound(m.len()),
                "{claim}: held {peak} bytes"
            );
            assert!(!e.message().is_empty());
        }
    }
}
