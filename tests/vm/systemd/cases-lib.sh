# tests/vm/systemd/cases-lib.sh: the helpers of the systemd VM's case
# scripts (cases.sh, jvm-cases.sh), sourced by them. run.sh puts it beside
# the script it runs (/vmtest). A script sets CG and, for slow cases,
# RUN_TIMEOUT (seconds a `run` may take, 120 unless set) before using them.
passed=0; failed=0; failures=""; CASE=""; ok=1; CASE_T0=0

begin() {   # begin ID "what it shows"
    CASE=$1; ok=1; CASE_T0=$(date +%s%N)
    echo; echo "----- $1: $2"
}
end() {
    local ms=$(( ($(date +%s%N) - CASE_T0) / 1000000 ))
    local took="($((ms / 1000)).$((ms % 1000 / 100)) s)"
    if [ $ok = 1 ]; then passed=$((passed + 1)); echo "PASS $CASE $took"
    else failed=$((failed + 1)); failures="$failures $CASE"; echo "FAIL $CASE $took"; fi
}
# run CMD: run a bash command line (RUN_TIMEOUT s at most), show it all; sets OUT ERR RC
run() {
    timeout -k 5 "${RUN_TIMEOUT:-120}" bash -c "$1" >/tmp/case.out 2>/tmp/case.err </dev/null
    RC=$?
    OUT=$(cat /tmp/case.out); ERR=$(cat /tmp/case.err)
    echo "  \$ $1"
    sed 's/^/    out| /' /tmp/case.out | head -n 40
    sed 's/^/    err| /' /tmp/case.err | head -n 40
    echo "    rc | $RC"
}
# check "what" CMD...: one assertion
check() {
    local what=$1; shift
    if "$@"; then echo "  ok   | $what"
    else echo "  FAIL | $what"; ok=0; fi
}
has() { grep -qF -- "$2" <<<"$1"; }         # has TEXT NEEDLE
lacks() { ! grep -qF -- "$2" <<<"$1"; }     # lacks TEXT NEEDLE
matches() { grep -qE -- "$2" <<<"$1"; }     # matches TEXT REGEX
count() { grep -cF -- "$2" <<<"$1"; }       # count TEXT NEEDLE
eq() { [ "$1" = "$2" ]; }
value() { sed -n "s/^$1 //p" <<<"$OUT" | head -n1; }   # value KEY: from the output's "KEY VALUE"
# poll SECS CMD...: CMD until it succeeds, every 0.1 s, for SECS of wall time at most.
# Sets WAITED (seconds, to 0.1).
poll() {
    local secs=$1 t0 now; shift
    t0=$(date +%s%N)
    while :; do
        if "$@"; then
            now=$(( ($(date +%s%N) - t0) / 100000000 )); WAITED=$((now / 10)).$((now % 10)); return 0
        fi
        now=$(date +%s%N)
        [ $(( (now - t0) / 1000000000 )) -ge "$secs" ] && break
        sleep 0.1
    done
    WAITED="$secs (deadline)"; return 1
}
# The cgroups cgbox makes: an app dir named cgbox, agents/, its own scopes
# cgbox-*.scope; and leaves init/ only in a home it was given.
cgbox_cgroups() { find $CG -type d \( -name cgbox -o -name 'cgbox-*' -o -name agents \) 2>/dev/null | sed "s,^$CG,,"; }
no_cgbox_cgroups() { [ -z "$(cgbox_cgroups)" ]; }
failed_units() { systemctl --failed --no-legend --plain 2>&1; }
left_clean() {   # after a case: nothing of cgbox left, within 15 s
    if poll 15 no_cgbox_cgroups; then echo "  ok   | no cgroup of cgbox left (after ${WAITED} s)"
    else echo "  FAIL | cgroups of cgbox left: $(cgbox_cgroups | tr '\n' ' ')"; ok=0; fi
}
