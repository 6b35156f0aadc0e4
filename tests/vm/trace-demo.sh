#!/usr/bin/env bash
# tests/vm/trace-demo.sh: the picture in the README, from a real run.
#
# Boots Linux (tests/vm/boot.sh: Debian's cloud kernel, every controller,
# busybox, 2 vCPUs, 1 GiB) and runs a build-like job under
#   cgbox run --memory 192M --memory-high 176M --cpus 1.5 --pids 64 --trace ...
# The job configures (one process), compiles (six CPU-bound workers that
# each hold some memory: throttled by --cpus), links (one process that grows
# just past memory.high, so the kernel reclaims and slows it a little), and
# runs tests, one of which runs away: past memory.high, where the kernel
# slows it, to memory.max, where it is OOM-killed; like make -k, the job
# goes on and fails at the end. The trace comes back over the console; the
# host's cgbox draws it.
#
# memory.high sits close to memory.max on purpose: the kernel's delay for
# a box over memory.high grows with the square of the overshoot (2 s a
# fault at most), so a job held far above it crawls for minutes (the first
# version of this demo, with 160M, did: the picture showed exactly that).
#
# Writes fixtures/traces/vm-build.jsonl (the trace, also a plot fixture) and
# docs/run.svg (the picture). Prints the run's summary line.
#
#   tests/vm/trace-demo.sh [--release]   (needs what tests/vm/setup.sh installs)
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=x86_64-unknown-linux-musl
cargo build -q --release --target $TARGET --bin cgbox
cargo build -q --release --bin cgbox
GUEST_CGBOX=$PWD/target/$TARGET/release/cgbox
HOST_CGBOX=$PWD/target/release/cgbox

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cgbox-trace-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The job: busybox sh and awk only. Loop counts are sized for QEMU under
# TCG (no KVM on the development machines), where awk runs ~10x slower.
cat >"$WORK/build.sh" <<'JOB'
#!/bin/sh
# work N: N thousand loop rounds of arithmetic.
work() { awk -v n="$1" 'BEGIN { for (i = 0; i < n * 1000; i++) x += i * i }'; }
# hold MIB N: take MIB MiB, a MiB at a time with N thousand rounds of work
# in between, then keep it while N more thousand rounds run.
hold() {
    awk -v mib="$1" -v n="$2" 'BEGIN {
        s = sprintf("%1048576s", "")
        for (i = 0; i < mib; i++) { a[i] = s i; for (j = 0; j < n * 1000 / mib; j++) x += j }
        for (j = 0; j < n * 1000; j++) x += j
    }'
}
echo "configure"
work 150
echo "compile: 6 jobs"
for f in 1 2 3 4 5 6; do hold 14 400 & done
wait
echo "link"
hold 180 500
echo "test"
status=0
for t in 1 2 3; do
    if [ $t = 2 ]; then
        hold 400 300 || { echo "test $t: killed ($?)"; status=2; }
    else
        hold 40 150 & hold 40 150 & wait
    fi
done
echo "done ($status)"
exit $status
JOB
chmod +x "$WORK/build.sh"

cat >"$WORK/guest.sh" <<GUEST
#!/bin/sh
mkdir -p /src && cp "$WORK/build.sh" /src/build.sh && cd /src
"$GUEST_CGBOX" run --name build-42 --memory 192M --memory-high 176M --cpus 1.5 --pids 64 \\
    --trace /tmp/trace.jsonl -- sh build.sh
echo "exit \$?"
echo "==== trace ===="
cat /tmp/trace.jsonl
echo "==== end ===="
GUEST
chmod +x "$WORK/guest.sh"

CGBOX_VM_FILES="$GUEST_CGBOX $WORK/build.sh" CGBOX_VM_SMP=2 CGBOX_VM_MEM=1G \
    tests/vm/boot.sh "$WORK/guest.sh" >"$WORK/console" 2>&1 || {
    echo "trace-demo: the VM failed:" >&2
    tail -n 40 "$WORK/console" >&2
    exit 1
}
tr -d '\r' <"$WORK/console" | grep -a -e '^cgbox: ' -e '^exit ' -e '^test ' || true
tr -d '\r' <"$WORK/console" | sed -n '/^==== trace ====$/,/^==== end ====$/p' | sed '1d;$d' \
    >fixtures/traces/vm-build.jsonl
[ -s fixtures/traces/vm-build.jsonl ] || { echo "trace-demo: no trace came back" >&2; exit 1; }
mkdir -p docs
"$HOST_CGBOX" plot fixtures/traces/vm-build.jsonl -o docs/run.svg
echo "trace-demo: $(wc -l <fixtures/traces/vm-build.jsonl) lines in fixtures/traces/vm-build.jsonl; docs/run.svg"
