#!/usr/bin/env bash
# tests/vm/boot.sh BINARY [ARGS...]
#
# Boot Debian's kernel from /boot under QEMU with a throw-away initramfs
# (busybox + BINARY), mount cgroup2 at /sys/fs/cgroup with every controller
# enabled at the root, run BINARY ARGS as root, power off, and exit with
# BINARY's status (128+N for signal N). 124: the VM timed out; 125: the VM
# could not be built or died without reporting a status.
#
# A guest kernel crash (tests/vm/guest-oops.sh on the console: an oops or a
# panic) is printed, with the line `boot.sh: RERUN after a guest oops`, and
# BINARY runs once more in a new VM on single-threaded TCG. Under TCG with
# several vCPU threads QEMU can race the kernel's live code patching, and
# 6.12 then dies with `Oops: int3` in the middle of a test: the emulator's
# fault, not the test's; one thread runs the vCPUs in turn and leaves no
# such race. A second crash is a failure (125); so is any failure of
# BINARY without a crash (never rerun). A VM that runs out of time on
# multi-threaded TCG is rerun the same way, with the line `boot.sh: RERUN
# after a VM timeout` and the console's last lines (the test it hung in):
# twice (Dec 2026) QEMU was seen busy on both vCPUs with nothing more on
# the console, in tests that pass at once when run again; a second timeout
# is a failure (124). `no_timer_check`: on a loaded host
# the emulated vCPU can miss the timer interrupts the kernel waits for at
# boot, and 6.1 then panics with "IO-APIC + timer doesn't work!" before
# BINARY starts (seen with two busy loops beside tests/vm/run.sh); the
# check proves nothing about cgroups.
#
# BINARY is placed at the same absolute path inside the guest as on the
# host, so paths compiled into test binaries (CARGO_BIN_EXE_*) resolve.
#
# Environment:
#   CGBOX_VM_FILES="path ..."   more host files or directories, copied to the same paths
#   CGBOX_VM_ENV="K=V ..."      environment for BINARY (RUST_* pass through)
#   CGBOX_VM_SELF_CGROUP=/a/b   run BINARY in this cgroup, with controllers
#                               enabled down to it (a delegated-style leaf)
#   CGBOX_VM_WRAP="cmd args"    run BINARY through this command (such as
#                               "/path/cgbox run --name suite --": the suite
#                               then runs inside a box)
#   CGBOX_VM_TIMEOUT=600        seconds before the VM is killed
#   CGBOX_VM_MEM=1G CGBOX_VM_SMP=2  guest size; a 64 MiB scratch disk is /dev/nvme0n1
#   CGBOX_VM_KERNEL=/boot/vmlinuz-...  kernel (default: newest cloud kernel)
#   CGBOX_VM_LOCK=/tmp/cgbox-vm.lock    boots wait for each other on this lock
#   CGBOX_VM_TCG_THREAD=multi   TCG threading of the first run (single: one
#                               host thread for all vCPUs; reruns always are)
#   CGBOX_VM_CRASH_DIR=/tmp     where the console of a crashed run is kept
set -euo pipefail

fail() { echo "boot.sh: $*" >&2; exit 125; }
# One VM at a time on this machine (2 cores): every boot holds this lock.
# CGBOX_VM_LOCK=/path picks another lock file; the lock is taken once even
# when boot.sh runs boot.sh.
LOCK=${CGBOX_VM_LOCK:-/tmp/cgbox-vm.lock}
if [ "${CGBOX_VM_LOCKED:-}" != "$LOCK" ]; then
    CGBOX_VM_LOCKED=$LOCK exec flock "$LOCK" "$0" "$@"
fi
[ $# -ge 1 ] || fail "usage: boot.sh BINARY [ARGS...]"
BIN=$(realpath "$1"); shift
[ -x "$BIN" ] || fail "not executable: $BIN"

KERNEL=${CGBOX_VM_KERNEL:-$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)}
[ -r "$KERNEL" ] || fail "no cloud kernel in /boot (run tests/vm/setup.sh)"
command -v qemu-system-x86_64 >/dev/null || fail "no qemu-system-x86_64 (run tests/vm/setup.sh)"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || fail "no static busybox (run tests/vm/setup.sh)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cgbox-vm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc}
cp "$BUSYBOX" "$ROOT/bin/busybox"
echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOT/etc/passwd"
echo 'root:x:0:' >"$ROOT/etc/group"

place() {   # copy a host file or directory to the same path in the guest, with libraries
    mkdir -p "$ROOT$(dirname "$1")"
    if [ -d "$1" ]; then cp -rL "$1" "$ROOT$1"; return; fi
    cp -L "$1" "$ROOT$1"
    if out=$(ldd "$1" 2>/dev/null); then
        for lib in $(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out"); do
            [ -e "$ROOT$lib" ] || { mkdir -p "$ROOT$(dirname "$lib")"; cp -L "$lib" "$ROOT$lib"; }
        done
    fi
}
place "$BIN"
for f in ${CGBOX_VM_FILES:-}; do
    [ -e "$f" ] || fail "CGBOX_VM_FILES: no $f"
    place "$(realpath "$f")"
done

q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
    for v in RUST_BACKTRACE RUST_LOG RUST_TEST_THREADS CGBOX_LOG; do
        [ -n "${!v:-}" ] && echo "export $v=$(q "${!v}")"
    done
    for kv in ${CGBOX_VM_ENV:-}; do echo "export ${kv%%=*}=$(q "${kv#*=}")"; done
    [ -n "${CGBOX_VM_SELF_CGROUP:-}" ] && echo "enter_cgroup $(q "$CGBOX_VM_SELF_CGROUP")"
    echo "cd /tmp"
    printf 'exec'
    for w in ${CGBOX_VM_WRAP:-}; do printf ' %s' "$(q "$w")"; done
    printf ' %s' "$(q "$BIN")"
    for a in "$@"; do printf ' %s' "$(q "$a")"; done
    echo
} >"$ROOT/cmd.sh"

cat >"$ROOT/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
stty -onlcr 2>/dev/null
report() { echo "$1" >/dev/ttyS1; sync; poweroff -f; }
CG=/sys/fs/cgroup
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $CG || { echo "boot: no cgroup2"; report 125; }
for c in $(cat $CG/cgroup.controllers); do echo "+$c" >$CG/cgroup.subtree_control; done
enter_cgroup() {   # a delegated-style leaf: controllers enabled on the way down
    path=$CG
    for part in $(echo "$1" | tr / ' '); do
        path=$path/$part
        mkdir -p "$path"
        case $1 in */"$part"|"$part") ;; *) for c in $(cat "$path/cgroup.controllers"); do echo "+$c" >"$path/cgroup.subtree_control"; done ;; esac
    done
    echo 0 >"$path/cgroup.procs"
}
(. /cmd.sh) </dev/null
report $?
INIT
chmod 0755 "$ROOT/init"
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) >"$WORK/initrd"

THREAD=${CGBOX_VM_TCG_THREAD:-multi}
case $THREAD in single|multi) ;; *) fail "CGBOX_VM_TCG_THREAD: single or multi, not $THREAD" ;; esac
KVM=""
if [ -w /dev/kvm ] && grep -qE '^flags.*\b(vmx|svm)\b' /proc/cpuinfo; then KVM=1; fi
BIOS=(); [ -r /usr/share/qemu/qboot.rom ] && BIOS=(-bios /usr/share/qemu/qboot.rom)
OOPS=$(dirname "$0")/guest-oops.sh
[ -r "$OOPS" ] || fail "no $OOPS"

boot() {   # boot THREAD: one VM run; sets rc (qemu's), status (BINARY's, or empty)
    local accel=(-accel "tcg,thread=$1" -cpu max)
    [ -z "$KVM" ] || accel=(-accel kvm -cpu host)
    rm -f "$WORK/disk.img"; truncate -s 64M "$WORK/disk.img"
    : >"$WORK/status"
    set +e
    # The console goes to our stdout as before, and to a file for the crash check.
    timeout --foreground -k 5 "${CGBOX_VM_TIMEOUT:-600}" qemu-system-x86_64 \
        -M pc "${accel[@]}" -m "${CGBOX_VM_MEM:-1G}" -smp "${CGBOX_VM_SMP:-2}" \
        -nodefaults -nographic -no-reboot "${BIOS[@]}" \
        -chardev stdio,id=con,signal=on -serial chardev:con -serial file:"$WORK/status" \
        -drive file="$WORK/disk.img",if=none,format=raw,id=scratch,cache=unsafe \
        -device nvme,drive=scratch,serial=cgbox0 \
        -kernel "$KERNEL" -initrd "$WORK/initrd" \
        -append "console=ttyS0 rdinit=/init panic=-1 oops=panic no_timer_check quiet loglevel=1" \
        </dev/null | tee "$WORK/console"
    rc=${PIPESTATUS[0]}
    set -e
    status=$(tr -dc '0-9' <"$WORK/status")
}
crashed() {   # crashed: the console shows a guest kernel crash; print it and keep the console
    local crash kept
    crash=$(sh "$OOPS" "$WORK/console") || return 1
    kept=$(mktemp "${CGBOX_VM_CRASH_DIR:-${TMPDIR:-/tmp}}/cgbox-vm-crash.XXXXXX.log")
    cp "$WORK/console" "$kept"
    echo "boot.sh: the guest kernel crashed (qemu $rc, $([ -n "$KVM" ] && echo KVM || echo "TCG thread=$THREAD"), $(basename "$KERNEL"), $(basename "$BIN")); whole console in $kept:" >&2
    printf '%s\n' "$crash" | sed 's/^/boot.sh: | /' >&2
}

timed_out() {   # timed_out: the VM ran out of time; print where (the console's end) and keep the console
    [ $rc = 124 ] || [ $rc = 137 ] || return 1
    local kept
    kept=$(mktemp "${CGBOX_VM_CRASH_DIR:-${TMPDIR:-/tmp}}/cgbox-vm-timeout.XXXXXX.log")
    cp "$WORK/console" "$kept"
    echo "boot.sh: the VM timed out after ${CGBOX_VM_TIMEOUT:-600} s ($([ -n "$KVM" ] && echo KVM || echo "TCG thread=$THREAD"), $(basename "$KERNEL"), $(basename "$BIN")); whole console in $kept; it ends:" >&2
    grep -a -v '^$' "$WORK/console" | tail -n 8 | sed 's/^/boot.sh: | /' >&2
}

boot "$THREAD"
why=""
if timed_out; then
    # Only the emulator's threads are suspected: a timeout on KVM or on
    # one thread is the test's.
    [ -z "$KVM" ] && [ "$THREAD" = multi ] && why="a VM timeout"
elif crashed; then
    why="a guest oops"
fi
if [ -n "$why" ]; then
    THREAD=single
    echo "boot.sh: RERUN after $why: $(basename "$BIN") boots again$([ -n "$KVM" ] || echo ", single-threaded TCG")" >&2
    boot single
    if timed_out; then
        echo "boot.sh: the VM timed out again on the rerun: a hang, not the emulator's race" >&2
        exit 124
    elif crashed; then
        fail "the guest kernel crashed again on the rerun: a failure, not the emulator's race"
    fi
fi
{ [ $rc = 124 ] || [ $rc = 137 ]; } && { echo "boot.sh: VM timed out" >&2; exit 124; }
[ -n "$status" ] || fail "the VM ended (qemu $rc) without reporting a status"
exit "$status"
