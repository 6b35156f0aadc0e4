#!/usr/bin/env bash
# benches/peers/run.sh host|vm [--quick]
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
# The binary refuses to start unless that directory and then
# /sys/fs/cgroup are cgroup2 (statfs magic), and removes its directory,
# killing whatever is left, when it ends. Output: markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-}; shift || true
TARGET=x86_64-unknown-linux-musl
cargo build -q --release --target $TARGET
BIN=$PWD/target/$TARGET/release/cgbox-peers
case $mode in
host)
    parent=${PEERS_PARENT:-}
    if [ -z "$parent" ]; then
        parent=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
    fi
    [ -n "$parent" ] || { echo "run.sh: no cgroup2 mount here" >&2; exit 1; }
    exec "$BIN" --parent "$parent" --venue "host ($(uname -r))" "$@"
    ;;
vm)
    # One VM at a time: boot.sh takes /tmp/cgbox-vm.lock. The guest has
    # /bin/sleep and /bin/sh from busybox.
    CGBOX_VM_TIMEOUT=${CGBOX_VM_TIMEOUT:-1800} CGBOX_VM_MEM=${CGBOX_VM_MEM:-2G} \
        ../../tests/vm/boot.sh "$BIN" --parent /sys/fs/cgroup --venue "VM (QEMU TCG, Debian cloud kernel)" "$@"
    ;;
*)
    echo "usage: $0 host|vm [--quick]" >&2
    exit 2
    ;;
esac
