#!/usr/bin/env bash
# tests/vm/capture-samples.sh SERIES [DIR]: boot Debian's cloud kernel SERIES
# (5.10, 6.1 or 6.12; tests/vm/setup.sh fetches them) with
# tests/vm/capture-guest.sh, which makes boxes busy (live memory, OOM,
# pids.max, cpu.max throttling, io.max, freezing, a fork bomb) and prints
# their interface files; write them as DIR/SCENARIO/FILE (default
# fixtures/samples/kernel-SERIES). The stats, mutation and no-allocation
# tests read every kernel-*/ directory there.
set -euo pipefail
cd "$(dirname "$0")/../.."
series=${1:?usage: capture-samples.sh SERIES [DIR]}
out=${2:-fixtures/samples/kernel-$series}
sh tests/vm/setup.sh >/dev/null
image=$(sh tests/vm/setup.sh kernel-path "$series")
[ -n "$image" ] || { echo "capture: no kernel $series" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! CGBOX_VM_KERNEL=$image tests/vm/boot.sh tests/vm/capture-guest.sh >"$log" 2>&1; then
    grep -a -v '^@@@\|^[A-Za-z0-9+/=]*$' "$log" | tail -n 20 >&2
    echo "capture: the guest failed on $series" >&2
    exit 1
fi
grep -a '^capture: kernel' "$log"
tmp=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$tmp"' EXIT
name="" body=""
while IFS= read -r line; do
    line=${line%$'\r'}
    case $line in
        "@@@ end")
            mkdir -p "$tmp/$(dirname "$name")"
            printf '%s' "$body" | base64 -d >"$tmp/$name"
            name="" ;;
        "@@@ "*) name=${line#@@@ }; body="" ;;
        *) [ -n "$name" ] && body="$body$line" ;;
    esac
done <"$log"
[ -d "$tmp/root" ] || { echo "capture: no samples in the output" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$tmp" "$out"
chmod -R u=rwX,go=rX "$out"
echo "capture: $(find "$out" -type f | wc -l) files in $out"
