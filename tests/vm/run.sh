#!/usr/bin/env bash
# tests/vm/run.sh: the real-kernel suite. Builds the test binaries as static
# musl executables and runs each in a throw-away VM (tests/vm/boot.sh, one
# boot per binary) with every cgroup controller, where
# CGBOX_REQUIRE_REAL_CGROUP=1 turns a missing cgroup into a failure.
#
# Kernels: Debian's cloud kernels 5.10, 6.1 and 6.12 (tests/vm/setup.sh
# fetches them). Layouts: `root` (our process in the root cgroup) and
# `nested` (inside a box made by `cgbox run`: the suite's boxes must go
# inside that box, and cgbox steps into a leaf of it for limits).
#
# A test that cannot run on a kernel prints a line starting with SKIPPED
# and the reason; it is counted as skipped, not passed. Output: a line per
# binary as it ends, then one summary line per kernel and layout, then
# `vm: N passed, M failed, K skipped, R rerun after a guest oops or a VM
# timeout`; the exit status is non-zero on any failure. Each VM has 180 s
# (CGBOX_VM_TIMEOUT; the slowest binary takes about 20 s).
#
# A binary whose VM died of a guest kernel crash (an oops or a panic on the
# console: tests/vm/guest-oops.sh) is run once more by boot.sh, on
# single-threaded TCG: under TCG with several vCPU threads the emulator can
# race the kernel's live code patching (`Oops: int3`, seen on 6.12). The
# crash is printed and counted in R; only the rerun's results count. A
# second crash fails the binary, and so does any failure without a crash.
#
# Iterating: CGBOX_VM_KERNELS="5.10", CGBOX_VM_LAYOUTS="root" and
# CGBOX_VM_TESTS="real_kernel" run a part of the matrix. Each boot waits for
# the shared VM lock, so a binary's time includes other users' VMs; to time
# the suite alone, hold the lock for all of it:
#   CGBOX_VM_LOCKED=/tmp/cgbox-vm.lock flock /tmp/cgbox-vm.lock tests/vm/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)

# ---------------------------------------------------------------------------
# What runs where. Each addition is one line.
#
TARGET=x86_64-unknown-linux-musl
CGBOX=$PWD/target/$TARGET/debug/cgbox
# Test binaries (cargo test targets) that a cell runs unless it names its own;
# `lib:FILTER` is the library's own unit tests whose names hold FILTER (the
# fake-versus-kernel scenarios live inside the crate, beside the fake):
TESTS=(
    real_kernel
    lib:differential
    host_kernel
    cli_run
    cli_kernel
    no_alloc
    where_it_runs
    long_lived
    spawn_fast
    trace
    outcome
    events
    cli_events
    job_sees
)
# Layouts: one boot.sh setting (VAR=value) each, empty for none.
declare -A LAYOUT=(
    [root]=""
    # A box passes on the controllers it was given: the suite's box gets a
    # cpuset so that its own boxes can be given one.
    [nested]="CGBOX_VM_WRAP=$CGBOX run --quiet --cpuset 0-1 --name suite --"
)
# Cells, in the order they run: KERNEL LAYOUT [TEST ...].
CELLS=(
    "6.1 root"
    "6.1 nested real_kernel host_kernel cli_run cli_kernel"
    "5.10 root"
    "6.12 root"
)
# ---------------------------------------------------------------------------

sh tests/vm/setup.sh || { echo "vm: setup failed (see above)" >&2; exit 1; }

cargo build -q --target $TARGET --bin cgbox || exit 1
cargo test -q --target $TARGET --no-run || exit 1
declare -A BIN   # test target name -> executable; the library's unit tests are "lib"
while read -r kind name exe; do
    [ "$kind" = lib ] && name=lib
    BIN[$name]=$exe
done < <(cargo test -q --target $TARGET --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"target":{"kind":\["\([a-z-]*\)"\][^}]*"name":"\([a-z_0-9-]*\)".*"executable":"\([^"]*\)".*/\1 \2 \3/p')

wanted() {   # wanted LIST ITEM: ITEM is in the space-separated LIST, or LIST is empty
    [ -z "$1" ] || [[ " $1 " == *" $2 "* ]]
}

declare -A P F S T R   # per cell: passed, failed, skipped, seconds, reruns
cell_order=()
failures=""
run_one() {   # run_one KERNEL LAYOUT TEST (TEST: a binary, or lib:FILTER)
    local kernel=$1 layout=$2 test=$3 cell="$1 $2" log t0 rc image
    local bin=${test%%:*} filter=()
    [ "$bin" = "$test" ] || filter=("${test#*:}")
    log=$(mktemp)
    t0=$(date +%s)
    image=$(sh tests/vm/setup.sh kernel-path "$kernel")
    if [ -z "${BIN[$bin]:-}" ] || [ ! -x "${BIN[$bin]}" ]; then
        echo "no test binary for $test" >"$log"; rc=125
    elif [ -z "$image" ]; then
        echo "no kernel $kernel (tests/vm/setup.sh fetches it)" >"$log"; rc=125
    elif [ -z "${LAYOUT[$layout]+set}" ]; then
        echo "no layout $layout" >"$log"; rc=125
    else
        local setting=()
        [ -z "${LAYOUT[$layout]}" ] || setting=("${LAYOUT[$layout]}")
        env "${setting[@]}" CGBOX_VM_KERNEL="$image" CGBOX_VM_TIMEOUT="${CGBOX_VM_TIMEOUT:-180}" \
            CGBOX_VM_FILES="$CGBOX $PWD/fixtures" \
            CGBOX_VM_ENV="CGBOX_REQUIRE_REAL_CGROUP=1 CGBOX_VM_LAYOUT=$layout" \
            tests/vm/boot.sh "${BIN[$bin]}" "${filter[@]}" --test-threads=1 --show-output >"$log" 2>&1
        rc=$?
    fi
    local line p f s secs r crash
    # A rerun after a guest crash (boot.sh says so): the crashed run's part
    # of the log is shown, and only what follows the last rerun is counted.
    r=$(grep -ac '^boot.sh: RERUN after ' "$log")
    crash=$(grep -a '^boot.sh: \(the guest kernel crashed\|the VM timed out\|| \|RERUN after \)' "$log")
    if [ "$r" -gt 0 ]; then
        awk '/^boot.sh: RERUN after / {n++} n == '"$r"' && !/^boot.sh: RERUN/' "$log" >"$log.rerun"
        mv "$log.rerun" "$log"
    fi
    line=$(grep -a '^test result:' "$log" | tail -n1)
    p=$(sed -n 's/.* \([0-9]*\) passed.*/\1/p' <<<"$line")
    f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
    # A passing test whose output starts a line with SKIPPED did not run.
    s=$(awk '/^---- .* stdout ----$/ {t = $2} /^SKIPPED/ && t != "" && !seen[t]++ {n++} END {print n + 0}' "$log")
    p=${p:-0}; f=${f:-0}
    p=$((p > s ? p - s : 0))
    if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
    secs=$(( $(date +%s) - t0 ))
    P[$cell]=$(( ${P[$cell]:-0} + p )); F[$cell]=$(( ${F[$cell]:-0} + f ))
    S[$cell]=$(( ${S[$cell]:-0} + s )); T[$cell]=$(( ${T[$cell]:-0} + secs ))
    R[$cell]=$(( ${R[$cell]:-0} + r ))
    if [ -n "$crash" ]; then
        echo "vm: $kernel $layout $test: the guest kernel crashed or the VM timed out; rerun $r time(s):"
        sed 's/^/vm:   /' <<<"$crash"
    fi
    if [ $rc -ne 0 ]; then
        failures="$failures $kernel/$layout/$test"
        echo "vm: $kernel $layout $test: FAILED (exit $rc, ${secs} s):"
        grep -a -v '^\[ *[0-9.]*\]' "$log" | grep -a -v '^$' | tail -n 60
    else
        echo "vm: $kernel $layout $test: $p passed, $f failed, $s skipped (${secs} s)"
        grep -a '^SKIPPED' "$log" | sed 's/^/vm:     /'
    fi
    rm -f "$log"
}

for cell in "${CELLS[@]}"; do
    read -r kernel layout tests <<<"$cell"
    wanted "${CGBOX_VM_KERNELS:-}" "$kernel" && wanted "${CGBOX_VM_LAYOUTS:-}" "$layout" || continue
    ran=""
    for test in ${tests:-${TESTS[*]}}; do
        wanted "${CGBOX_VM_TESTS:-}" "$test" || continue
        run_one "$kernel" "$layout" "$test"
        ran=1
    done
    [ -z "$ran" ] || cell_order+=("$kernel $layout")
done

passed=0; failed=0; skipped=0; reruns=0
for cell in "${cell_order[@]}"; do
    echo "vm: Linux $cell: ${P[$cell]:-0} passed, ${F[$cell]:-0} failed, ${S[$cell]:-0} skipped, ${R[$cell]:-0} rerun after a guest oops or a VM timeout (${T[$cell]:-0} s)"
    passed=$((passed + ${P[$cell]:-0})); failed=$((failed + ${F[$cell]:-0})); skipped=$((skipped + ${S[$cell]:-0}))
    reruns=$((reruns + ${R[$cell]:-0}))
done
echo "vm: $(( $(date +%s) - start )) s in all"
[ -z "$failures" ] || echo "vm: failed:$failures"
echo "vm: $passed passed, $failed failed, $skipped skipped, $reruns rerun after a guest oops or a VM timeout"
[ -z "$failures" ] && [ ${#cell_order[@]} -gt 0 ]
