#!/usr/bin/env bash
# tests/vm/systemd/run.sh TEST_SCRIPT [FILE[:GUEST_PATH]...]
#
# Boot the systemd VM (image from tests/vm/systemd/build.sh) and run
# TEST_SCRIPT in it as root, from vmtest.service: a plain service (cgroup
# /system.slice/vmtest.service, not delegated), cwd /vmtest, stdin
# /dev/null, once the system has finished starting up. The console (the
# script's stdout and stderr) is printed here; this script exits with the
# script's status. 124: the VM timed out; 125: the VM could not run it (no
# image, no status came back).
#
# cases-lib.sh (the case scripts' helpers) goes beside the script, in
# /vmtest. Each FILE (a host file or directory) goes into the per-run payload, at
# GUEST_PATH when given, else at the same absolute path; a static cgbox is
# given as target/x86_64-unknown-linux-musl/release/cgbox:/usr/local/bin/cgbox.
# The image is booted with snapshot=on: nothing persists between runs.
#
# One VM at a time on this machine: the boot holds /tmp/cgbox-vm.lock
# (CGBOX_VM_LOCK), as tests/vm/boot.sh does.
#
# A guest kernel crash (tests/vm/guest-oops.sh on the console: an oops or a
# panic; `oops=panic` makes every oops end the VM at once) is printed with
# the line `systemd-vm run: RERUN after a guest oops`, and the VM boots
# once more from the same image and payload, on single-threaded TCG: under
# TCG with several vCPU threads QEMU can race the kernel's live code
# patching (`Oops: int3`), the emulator's fault, not the test's. A second
# crash is a failure (125); a test that fails without one is never rerun.
# `no_timer_check`: see tests/vm/boot.sh (a loaded host can make the boot's
# timer check panic the guest).
#
# Environment:
#   SYSVM_TIMEOUT=900          seconds before the VM is killed
#   SYSVM_MEM=1G SYSVM_SMP=2   guest size
#   SYSVM_VERBOSE=1            kernel and systemd boot messages on the console
#   SYSVM_CMDLINE="..."        more kernel command line
#   SYSVM_LOG=FILE             also save the console to FILE (both runs, if rerun)
#   SYSVM_TCG_THREAD=multi     TCG threading of the first run (reruns: single)
#   CGBOX_VM_CRASH_DIR=/tmp    where the console of a crashed run is kept
#   CGBOX_SYSVM_CACHE=/var/cache/cgbox-vm/systemd   where build.sh put root.img
set -euo pipefail
fail() { echo "systemd-vm run: $*" >&2; exit 125; }
LOCK=${CGBOX_VM_LOCK:-/tmp/cgbox-vm.lock}
if [ "${CGBOX_VM_LOCKED:-}" != "$LOCK" ]; then
    CGBOX_VM_LOCKED=$LOCK CGBOX_VM_ASKED=$(date +%s%N) exec flock "$LOCK" "$0" "$@"
fi
if [ -n "${CGBOX_VM_ASKED:-}" ]; then
    waited=$(( ($(date +%s%N) - CGBOX_VM_ASKED) / 1000000000 ))
    [ "$waited" -ge 1 ] && echo "systemd-vm run: waited $waited s for $LOCK (another VM was running)" >&2
    unset CGBOX_VM_ASKED
fi
[ $# -ge 1 ] || fail "usage: run.sh TEST_SCRIPT [FILE[:GUEST_PATH]...]"
CACHE=${CGBOX_SYSVM_CACHE:-/var/cache/cgbox-vm/systemd}
[ -r "$CACHE/root.img" ] || fail "no $CACHE/root.img (run tests/vm/systemd/build.sh)"
TEST=$(realpath "$1"); shift
[ -r "$TEST" ] || fail "no test script $TEST"
KERNEL=${SYSVM_KERNEL:-$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)}
[ -r "$KERNEL" ] || fail "no cloud kernel in /boot (run tests/vm/setup.sh)"
command -v qemu-system-x86_64 >/dev/null || fail "no qemu-system-x86_64 (run tests/vm/setup.sh)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cgbox-sysvm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
P=$WORK/payload
mkdir -p "$P/vmtest"
install -m 0755 "$TEST" "$P/vmtest/test.sh"
# The case scripts' shared helpers, sourced from beside the script.
install -m 0644 "$(dirname "$(realpath "$0")")/cases-lib.sh" "$P/vmtest/cases-lib.sh"
for spec in "$@"; do
    src=${spec%%:*}
    dst=${spec#*:}
    [ "$dst" = "$spec" ] && dst=$(realpath "$src")
    [ -e "$src" ] || fail "no file $src"
    case $dst in /*) ;; *) fail "$spec: the guest path must be absolute" ;; esac
    mkdir -p "$P$(dirname "$dst")"
    cp -a "$(realpath "$src")" "$P$dst"
done
# tar's output is a multiple of 10 KiB: a valid block device for the guest.
tar -C "$P" --owner=0 --group=0 -cf "$WORK/payload.tar" .

if [ "${SYSVM_VERBOSE:-0}" = 1 ]; then QUIET="loglevel=6 systemd.show_status=1"
else QUIET="quiet loglevel=1 systemd.show_status=error"; fi
THREAD=${SYSVM_TCG_THREAD:-multi}
case $THREAD in single|multi) ;; *) fail "SYSVM_TCG_THREAD: single or multi, not $THREAD" ;; esac
KVM=""
if [ -w /dev/kvm ] && grep -qE '^flags.*\b(vmx|svm)\b' /proc/cpuinfo; then KVM=1; fi
BIOS=(); [ -r /usr/share/qemu/qboot.rom ] && BIOS=(-bios /usr/share/qemu/qboot.rom)
OOPS=$(dirname "$0")/../guest-oops.sh
[ -r "$OOPS" ] || fail "no $OOPS"
[ -z "${SYSVM_LOG:-}" ] || : >"$SYSVM_LOG"

boot() {   # boot THREAD: one VM run; sets rc (qemu's), status (the script's, or empty)
    local accel=(-accel "tcg,thread=$1" -cpu max) t0 ms
    [ -z "$KVM" ] || accel=(-accel kvm -cpu host)
    : >"$WORK/status"
    t0=$(date +%s%N)
    set +e
    # The console goes to our stdout, to a file for the crash check, and to
    # SYSVM_LOG when asked.
    timeout --foreground -k 5 "${SYSVM_TIMEOUT:-900}" qemu-system-x86_64 \
        -M pc "${accel[@]}" -m "${SYSVM_MEM:-1G}" -smp "${SYSVM_SMP:-2}" \
        -nodefaults -nographic -no-reboot "${BIOS[@]}" \
        -chardev stdio,id=con,signal=on -serial chardev:con -serial file:"$WORK/status" \
        -drive file="$CACHE/root.img",if=none,format=raw,id=root,snapshot=on,cache=unsafe \
        -drive file="$WORK/payload.tar",if=none,format=raw,id=payload,cache=unsafe \
        -device nvme,id=nvme0,serial=vmtest0 \
        -device nvme-ns,drive=root,bus=nvme0,nsid=1 \
        -device nvme-ns,drive=payload,bus=nvme0,nsid=2 \
        -kernel "$KERNEL" \
        -append "console=ttyS0 root=/dev/nvme0n1 rootfstype=ext4 rw init=/lib/systemd/systemd systemd.unified_cgroup_hierarchy=1 panic=-1 oops=panic no_timer_check $QUIET ${SYSVM_CMDLINE:-}" \
        </dev/null | tee "$WORK/console" | { if [ -n "${SYSVM_LOG:-}" ]; then tee -a "$SYSVM_LOG"; else cat; fi; }
    rc=${PIPESTATUS[0]}
    set -e
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "systemd-vm run: the VM ran $((ms / 1000)).$(printf %03d $((ms % 1000))) s (qemu exit $rc$([ -n "$KVM" ] || echo ", TCG thread=$1"))" >&2
    status=$(tr -dc '0-9' <"$WORK/status")
}
crashed() {   # crashed: the console shows a guest kernel crash; print it and keep the console
    local crash kept
    crash=$(sh "$OOPS" "$WORK/console") || return 1
    kept=$(mktemp "${CGBOX_VM_CRASH_DIR:-${TMPDIR:-/tmp}}/cgbox-vm-crash.XXXXXX.log")
    cp "$WORK/console" "$kept"
    echo "systemd-vm run: the guest kernel crashed (qemu $rc, $(basename "$KERNEL")); whole console in $kept:" >&2
    printf '%s\n' "$crash" | sed 's/^/systemd-vm run: | /' >&2
}

boot "$THREAD"
if [ "$rc" != 124 ] && [ "$rc" != 137 ] && crashed; then
    echo "systemd-vm run: RERUN after a guest oops: the VM boots again$([ -n "$KVM" ] || echo ", single-threaded TCG")" >&2
    boot single
    if [ "$rc" != 124 ] && [ "$rc" != 137 ] && crashed; then
        fail "the guest kernel crashed again on the rerun: a failure, not the emulator's race"
    fi
fi
{ [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && { echo "systemd-vm run: the VM timed out" >&2; exit 124; }
[ -n "$status" ] || fail "the VM ended (qemu exit $rc) without reporting a status"
exit "$status"
