#!/usr/bin/env bash
# tests/vm/run.sh: the real-kernel suite. Builds the test binaries as static
# musl executables and runs each in a throw-away VM (tests/vm/boot.sh) with
# every cgroup controller, where CGBOX_REQUIRE_REAL_CGROUP=1 turns any skip
# into a failure. Two layouts: our process in the root cgroup, and inside a
# box made by `cgbox run` (nested: the suite's boxes must go inside that
# box, and cgbox steps into a leaf of it for limits). Exits non-zero if
# anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)

sh tests/vm/setup.sh || { echo "vm: setup failed (see above)" >&2; exit 1; }

TARGET=x86_64-unknown-linux-musl
cargo build -q --target $TARGET --bin cgbox || exit 1
CGBOX=$PWD/target/$TARGET/debug/cgbox
cargo test -q --target $TARGET --no-run || exit 1
declare -A BIN
while read -r name exe; do
    BIN[$name]=$exe
done < <(cargo test -q --target $TARGET --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"target":{[^}]*"name":"\([a-z_]*\)".*"executable":"\([^"]*\)".*/\1 \2/p')
for t in real_kernel differential host_kernel cli_run no_alloc where_it_runs long_lived; do
    [ -x "${BIN[$t]:-}" ] || { echo "vm: no test binary for $t" >&2; exit 1; }
done

passed=0; failed=0; failures=""
run() {   # run LAYOUT TEST
    local layout=$1 test=$2 log
    log=$(mktemp)
    local wrap=""
    # A box passes on the controllers it was given: the suite's box gets a
    # cpuset so that its own boxes can be given one.
    [ "$layout" = nested ] && wrap="$CGBOX run --quiet --cpuset 0-1 --name suite --"
    CGBOX_VM_WRAP=$wrap CGBOX_VM_FILES="$CGBOX $PWD/fixtures" \
        CGBOX_VM_ENV="CGBOX_REQUIRE_REAL_CGROUP=1 CGBOX_VM_LAYOUT=$layout" \
        tests/vm/boot.sh "${BIN[$test]}" --test-threads=1 >"$log" 2>&1
    local rc=$?
    local line
    line=$(grep -a '^test result:' "$log" | tail -n1)
    local p f
    p=$(sed -n 's/.* \([0-9]*\) passed.*/\1/p' <<<"$line"); f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ]; then
        [ -n "$f" ] && [ "$f" != 0 ] || failed=$((failed + 1))
        failures="$failures $layout/$test"
        echo "vm: $layout/$test FAILED (exit $rc):"
        grep -a -v '^\[ *[0-9.]*\]' "$log" | tail -n 60
    else
        echo "vm: $layout/$test: ${line#test result: }"
    fi
    rm -f "$log"
}

for test in real_kernel differential host_kernel cli_run no_alloc where_it_runs long_lived spawn_fast; do run root "$test"; done
for test in real_kernel host_kernel cli_run; do run nested "$test"; done

echo "vm: $(( $(date +%s) - start )) s in all"
[ -z "$failures" ] || echo "vm: failed:$failures"
echo "vm: $passed passed, $failed failed"
[ -z "$failures" ]
