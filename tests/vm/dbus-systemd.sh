#!/usr/bin/env bash
# tests/vm/dbus-systemd.sh [--capture DIR]: the D-Bus client against a real
# systemd (252, Debian bookworm) in the project's systemd VM
# (tests/vm/systemd: build.sh makes the image, cached; run.sh boots it).
# Builds the library's unit tests (src/dbus/tests/real_bus.rs among them) as
# a static binary and runs the real-bus ones in one VM boot:
#   - as root on the system bus (system_* tests), from a plain service;
#   - as user u on the user bus (user_* tests), after `loginctl enable-linger u`;
# with CGBOX_REQUIRE_REAL_BUS=1, so that a test that cannot run fails. After
# each, no cgbox-test-* unit or cgroup may be left (the scopes of processes
# that ended, including the test binary's own, must be gone).
#
# --capture DIR: also record the bytes each test exchanged with the bus,
# and what systemd-run sends and gets (dbus-monitor --binary), and unpack
# them into DIR on this side: how fixtures/dbus/ was made.
#
# Environment: SYSVM_LOG, SYSVM_TIMEOUT, SYSVM_MEM as in tests/vm/systemd/run.sh.
# SYSVM_RIG=DIR runs on another rig with the same interface as the shared
# ../shared/sysvm (DIR/run.sh TEST_SCRIPT, more files in SYSVM_FILES) instead.
# Takes /tmp/cgbox-vm.lock (one VM at a time).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RIG=${SYSVM_RIG:-}
CAPTURE=""
if [ "${1:-}" = --capture ]; then CAPTURE=$(realpath -m "${2:?--capture DIR}"); fi
if [ -n "$RIG" ]; then
    [ -x "$RIG/run.sh" ] || { echo "dbus-systemd: no VM rig at $RIG (SYSVM_RIG)" >&2; exit 125; }
else
    tests/vm/systemd/build.sh || { echo "dbus-systemd: the systemd VM image could not be built" >&2; exit 125; }
fi

TARGET=x86_64-unknown-linux-musl
BIN=$(cargo test -q --target $TARGET -p cgbox --lib --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"target":{"kind":\["lib"\][^}]*"name":"cgbox".*"executable":"\([^"]*\)".*/\1/p' | tail -n1)
[ -x "$BIN" ] || { echo "dbus-systemd: could not build the test binary" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cgbox-dbus-vm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cp "$BIN" "$WORK/dbus_real_bus"
chmod 0755 "$WORK" "$WORK/dbus_real_bus"

cat >"$WORK/guest.sh" <<EOF
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
BIN=$WORK/dbus_real_bus
CAPTURE=${CAPTURE:+yes}
EOF
cat >>"$WORK/guest.sh" <<'EOF'
status=0
systemctl is-system-running --wait >/dev/null 2>&1
echo "guest: $(systemctl --version | head -1); $(uname -r); system $(systemctl is-system-running)"
install -d -m 0777 /tmp/cap
install -m 0755 "$BIN" /tmp/dbus_real_bus
CAP=(); [ -n "$CAPTURE" ] && CAP=(CGBOX_DBUS_CAPTURE=/tmp/cap)
left() {   # left LABEL [--user]: units and cgroups of the tests that remain, after a bounded wait
    local units cgroups i
    for i in $(seq 100); do
        if [ "${2:-}" = --user ]; then
            units=$(runuser -u u -- env $UENV systemctl --user list-units --all --no-legend 'cgbox-test-*' 2>&1)
        else
            units=$(systemctl list-units --all --no-legend 'cgbox-test-*' 2>&1)
        fi
        cgroups=$(find /sys/fs/cgroup -type d -name 'cgbox-test-*' 2>/dev/null)
        [ -z "$units$cgroups" ] && break
        sleep 0.1   # systemd removes a scope once it sees its cgroup empty
    done
    if [ -n "$units$cgroups" ]; then
        echo "LEFT after $1: units [$units] cgroups [$cgroups]"; status=1
    else
        echo "clean after $1: no cgbox-test-* unit or cgroup (checked $i times, 0.1 s apart)"
    fi
}

echo; echo "===== root, system bus ($(cut -d: -f3 /proc/self/cgroup))"
env CGBOX_REQUIRE_REAL_BUS=1 "${CAP[@]}" /tmp/dbus_real_bus dbus::tests::real_bus::system_ --test-threads=1 --nocapture 2>&1 || status=1
left "the system tests"

echo; echo "===== user u, user bus"
loginctl enable-linger u
for i in $(seq 60); do [ "$(systemctl is-active user@1000.service)" = active ] && break; sleep 1; done
echo "user@1000.service $(systemctl is-active user@1000.service) after ${i}s"
UENV="XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"
runuser -u u -- env $UENV CGBOX_REQUIRE_REAL_BUS=1 "${CAP[@]}" \
    /tmp/dbus_real_bus dbus::tests::real_bus::user_ --test-threads=1 --nocapture 2>&1 || status=1
left "the user tests" --user

if [ -n "$CAPTURE" ]; then
    # systemd-run talks to the manager's private socket, not through the bus;
    # busctl goes through the bus, and marshals with sd-bus, not with us.
    echo; echo "===== busctl StartTransientUnit under dbus-monitor --binary (reference bytes)"
    RULES=("type='method_call',member='StartTransientUnit'" "type='method_return'" "type='error'"
        "type='signal',member='JobRemoved'")
    MONITOR="stdbuf -o0 dbus-monitor --binary"   # unbuffered: it ends by SIGTERM
    reference() {   # reference system|user
        local bus=$1 as=() pid mon
        [ "$bus" = user ] && as=(runuser -u u -- env $UENV)
        # processes of the right user whose pids we know (runuser forks)
        pid=$("${as[@]}" sh -c 'sleep 60 >/dev/null 2>&1 & echo $!')
        "${as[@]}" sh -c 'echo $$ >/tmp/cap/mon.pid; exec '"$MONITOR"' --'"$([ "$bus" = user ] && echo session || echo system)"' "$@"' \
            sh "${RULES[@]}" >/tmp/cap/$bus-busctl.monitor 2>/dev/null &
        sleep 1   # dbus-monitor says nothing when it is ready; a second is ample here
        mon=$(cat /tmp/cap/mon.pid); rm /tmp/cap/mon.pid
        "${as[@]}" busctl --$bus call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
            org.freedesktop.systemd1.Manager StartTransientUnit 'ssa(sv)a(sa(sv))' \
            cgbox-ref-busctl.scope fail 3 Description s "busctl reference" PIDs au 1 "$pid" Delegate b true 0
        sleep 1   # for JobRemoved
        kill "$mon" "$pid"; wait
    }
    reference system
    reference user
    for f in /tmp/cap/*; do
        echo "CAPTURE-BEGIN $(basename "$f") $(stat -c %s "$f")"
        base64 -w 76 "$f"
        echo "CAPTURE-END"
    done
fi
echo; echo "guest: status $status"
exit $status
EOF

LOG=$WORK/console.log
set +e
if [ -n "$RIG" ]; then
    SYSVM_FILES="$WORK/dbus_real_bus" SYSVM_LOG=$LOG \
        flock /tmp/cgbox-vm.lock "$RIG/run.sh" "$WORK/guest.sh"
else   # run.sh takes the lock itself
    SYSVM_LOG=$LOG tests/vm/systemd/run.sh "$WORK/guest.sh" "$WORK/dbus_real_bus"
fi
rc=$?
set -e
if [ -n "$CAPTURE" ]; then
    mkdir -p "$CAPTURE"
    awk -v dir="$CAPTURE" '
        /^CAPTURE-BEGIN / { name = $2; file = dir "/" name ".b64"; printf "" > file; next }
        /^CAPTURE-END/ { close(file); file = ""; next }
        file != "" { sub(/\r$/, ""); print >> file }
    ' "$LOG"
    for f in "$CAPTURE"/*.b64; do
        base64 -d "$f" >"${f%.b64}" && rm "$f"
    done
    echo "dbus-systemd: captures in $CAPTURE: $(ls "$CAPTURE" | tr '\n' ' ')"
fi
echo "dbus-systemd: exit $rc"
exit $rc
