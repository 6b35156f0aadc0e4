#!/usr/bin/env bash
# benches/peers/run.sh host|vm [count] [OPTIONS]
#
# The peer benchmark (cgbox, cgroups-rs, libcgroups, a tokio::fs manager),
# built once as a static musl binary and run in one of two venues:
#
#   host  this machine, as root: the binary makes <cgroup2>/cgbox-peers-PID,
#         bind-mounts it over /sys/fs/cgroup in a private mount namespace
#         and works only in there. <cgroup2> is the cgroup2 mount
#         (/sys/fs/cgroup/unified on a hybrid host, else /sys/fs/cgroup;
#         PEERS_PARENT=DIR overrides).
#   vm    the same binary in a throw-away VM (tests/vm/boot.sh: Linux 6.1,
#         every controller enabled at the root), in /sys/fs/cgroup/cgbox-peers-PID.
#
# Two things it measures:
#
#   (default)  the timing protocol: the whole benchmark --runs N times
#              (default 5), contenders interleaved round by round in each
#              run; per table the median of the N run medians and their
#              spread. --quick: a few rounds per run, to see that it works.
#   count      system calls per operation and contender, each counted
#              under strace -f in a process of its own (--iterations K,
#              default 40 on the host, 20 in the VM). In the VM, the host's
#              strace is copied in with its libraries.
#
# The binary refuses to start unless that directory and then
# /sys/fs/cgroup are cgroup2 (statfs magic), and removes its directory,
# killing whatever is left, when it ends. Output: markdown on stdout, for
# RESULTS.md (readme.sh makes the README's tables from there); a copy is
# kept in target/results/.
set -euo pipefail
self=$(realpath "$0")
args=("$@")
cd "$(dirname "$self")"
usage() { echo "usage: $0 host|vm [count] [--runs N] [--quick] [--iterations K]" >&2; exit 2; }
venue=${1:-}; shift || true
case $venue in host|vm) ;; *) usage ;; esac
what=protocol
if [ "${1:-}" = count ]; then what=count; shift; fi
command="sudo ${PEERS_TARGET:+PEERS_TARGET=$PEERS_TARGET }${PEERS_PARENT:+PEERS_PARENT=$PEERS_PARENT }benches/peers/run.sh $venue"
[ $what = count ] && command="$command count"
[ $# -gt 0 ] && command="$command $*"

# A static binary by default (the VM has no C library); PEERS_TARGET
# picks another build for the host (x86_64-unknown-linux-gnu: glibc's
# allocator, whose mmap/munmap calls differ from musl's in the counts).
TARGET=${PEERS_TARGET:-x86_64-unknown-linux-musl}
cargo build -q --release --target $TARGET
BIN=$PWD/target/$TARGET/release/cgbox-peers

# The VM venue waits for the VM lock here, not in boot.sh, so that what is
# recorded about the host (load, other work) is from when the run starts.
LOCK=${CGBOX_VM_LOCK:-/tmp/cgbox-vm.lock}
if [ "$venue" = vm ] && [ "${CGBOX_VM_LOCKED:-}" != "$LOCK" ]; then
    echo "run.sh: waiting for the VM lock $LOCK" >&2
    CGBOX_VM_LOCKED=$LOCK exec flock "$LOCK" "$self" "${args[@]}"
fi

# What else uses the host's CPUs: the commands above 10% of a CPU over one
# second (top's second sample), "name NN%".
busy() {
    top -b -n 2 -d 1 -w 250 2>/dev/null | awk '
        /^top -/ { n++ }
        n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 10 && $12 != "top" { printf "%s %.0f%%\n", $12, $9 }'
}
host_context() {
    local b q
    b=$(busy | paste -sd, - | sed 's/,/, /g')
    q=$(pgrep -c qemu-system || true)
    echo "host load average $(cut -d' ' -f1-3 /proc/loadavg); busy over 1 s: ${b:-nothing above 10%}; QEMU VMs running: ${q:-0}"
}
# A sample of busy() every 10 s until killed, into $1.
sampler() {
    while :; do busy >>"$1"; echo "--" >>"$1"; sleep 10; done
}
summarize() {   # "name (in A of N samples, up to P%)", busiest first
    awk '
        /^--$/ { n++; delete seen; next }
        { name = $1; p = $2 + 0; if (!(name in seen)) { seen[name] = 1; count[name]++ } if (p > max[name]) max[name] = p }
        END {
            for (c in count) printf "%d\t%s (in %d of %d samples, up to %d%%)\n", count[c], c, count[c], n, max[c]
        }' "$1" | sort -rn | cut -f2 | paste -sd';' - | sed 's/;/; /g' | grep . ||
        echo "nothing above 10% of a CPU in any sample"
}

mkdir -p target/results
out=target/results/$venue-$what-$(date -u +%Y%m%dT%H%M%SZ).md
samples=$(mktemp)
sampler "$samples" &
sampler_pid=$!
trap 'kill "$sampler_pid" 2>/dev/null || true; rm -f "$samples"' EXIT
context="$(host_context) (before the run)"

set +e
case $venue in
host)
    parent=${PEERS_PARENT:-}
    if [ -z "$parent" ]; then
        parent=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
    fi
    [ -n "$parent" ] || { echo "run.sh: no cgroup2 mount here" >&2; exit 1; }
    if [ $what = count ]; then
        "$BIN" count --parent "$parent" --venue "host ($(uname -r))" \
            --command "$command" --context "$context" "$@"
    else
        "$BIN" --parent "$parent" --venue "host ($(uname -r))" \
            --command "$command" --context "$context" "$@"
    fi
    ;;
vm)
    # One VM at a time: boot.sh takes /tmp/cgbox-vm.lock. The guest has
    # /bin/sleep and /bin/sh from busybox; for counting, the host's strace
    # (boot.sh copies it with the libraries ldd lists).
    export CGBOX_VM_TIMEOUT=${CGBOX_VM_TIMEOUT:-3600} CGBOX_VM_MEM=${CGBOX_VM_MEM:-2G}
    venue_name="VM (QEMU TCG, Debian cloud kernel)"
    if [ $what = count ]; then
        strace_bin=$(command -v strace) || { echo "run.sh: count needs strace (apt-get install strace)" >&2; exit 1; }
        iterations=(--iterations 20)   # under TCG and strace: fewer
        [[ " $* " == *" --iterations "* ]] && iterations=()
        CGBOX_VM_FILES="${CGBOX_VM_FILES:-} $strace_bin" ../../tests/vm/boot.sh "$BIN" count \
            --parent /sys/fs/cgroup --venue "$venue_name" --strace "$strace_bin" \
            "${iterations[@]}" --command "$command" --context "$context" "$@"
    else
        ../../tests/vm/boot.sh "$BIN" --parent /sys/fs/cgroup --venue "$venue_name" \
            --command "$command" --context "$context" "$@"
    fi
    ;;
esac | awk '
    # Progress lines (in the VM they share the console with the output)
    # go to stderr; the rest is the result.
    /^peers: (run|counting|timing) / { print > "/dev/stderr"; fflush("/dev/stderr"); next }
    # Lines of the guest kernel on the console ("[  305.5] reboot: Power down").
    /^\[ *[0-9]+\.[0-9]+\] / { print > "/dev/stderr"; fflush("/dev/stderr"); next }
    { print; fflush() }' | tee "$out"
rc=${PIPESTATUS[0]}
set -e
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
{
    echo "- also running on the host during the run (top, sampled every 10 s; cgbox-peers and, in the vm venue, qemu-system-x86 are this benchmark): $(summarize "$samples")"
    echo "- $(host_context) (after the run)"
} | tee -a "$out"
echo "run.sh: output kept in benches/peers/$out" >&2
exit "$rc"
