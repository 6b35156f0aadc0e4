#!/bin/bash
# tests/vm/systemd/cases.sh: cgbox on a systemd host, as assertions. Runs in
# the systemd VM as root from vmtest.service (a plain service: its cgroup
# /system.slice/vmtest.service is not delegated), with a static cgbox at
# /usr/local/bin/cgbox:
#   tests/vm/systemd/run.sh tests/vm/systemd/cases.sh CGBOX:/usr/local/bin/cgbox
# (tests/vm/systemd/check.sh does all of it). Every case shows what it ran
# (command, stdout, stderr, exit code), then one line per check, then PASS or
# FAIL. The last line is `systemd: N passed, M failed`; the exit status is 1
# when any case failed. No case is skipped: a case that cannot run fails.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
CG=/sys/fs/cgroup
U=u                     # uid 1000, lingering: user@1000.service runs from boot
UENV=(XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus)
UUID='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
UM=/user.slice/user-1000.slice/user@1000.service
ROOT_FIX='systemd-run --scope -p Delegate=yes'
USER_FIX='systemd-run --user --scope -p Delegate=yes'
T0=$(date +%s%N)

. "$(dirname "$0")/cases-lib.sh"

units() { systemctl list-units --all --no-legend --plain "$@" 2>&1; }
uctl() { runuser -u $U -- env "${UENV[@]}" systemctl --user "$@"; }
uunits() { uctl list-units --all --no-legend --plain "$@" 2>&1; }
no_units() { [ -z "$(units 'cgbox-*')" ]; }
no_user_units() { [ -z "$(uunits 'cgbox-*')" ]; }
no_unit() { ! systemctl is-active -q "$1" && [ -z "$(units "$1")" ] && [ ! -e "$CG$2" ]; }
no_proc() { ! pgrep -fx "$1" >/dev/null; }
a_proc() { pgrep -fx "$1" >/dev/null; }
gone() { [ ! -e "$CG$1" ]; }
slice_controllers_are() { [ "$(cat $CG/system.slice/cgroup.subtree_control)" = "$1" ]; }
ufailed_units() { uctl --failed --no-legend --plain 2>&1; }
# the line of /proc/self/cgroup that show.sh printed
cgline() { grep -m1 '^0::' <<<"$OUT" | cut -d: -f3; }

# What a box shows of itself: its cgroup and its limits.
cat >/tmp/show.sh <<'EOF'
#!/bin/sh
cat /proc/self/cgroup
d=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)
for f in memory.max pids.max cpu.max io.weight; do
    [ -e "$d/$f" ] && echo "$f $(cat "$d/$f")"
done
exit 0
EOF
chmod 0755 /tmp/show.sh

# ---------------------------------------------------------- the host ----
echo "##### the guest"
echo "kernel $(uname -r); $(systemctl --version | head -n1); PID 1 $(cat /proc/1/comm)"
echo "cgroup2: $(findmnt -n -o OPTIONS $CG)"
echo "cgbox: $(cgbox --version) $(sha256sum /usr/local/bin/cgbox | cut -c1-16)"
echo "system: $(systemctl is-system-running); $(systemd-analyze 2>&1 | head -n1)"
echo "this script: $(cat /proc/self/cgroup)"
echo "root subtree_control: $(cat $CG/cgroup.subtree_control); system.slice: $(cat $CG/system.slice/cgroup.subtree_control)"
if poll 60 systemctl is-active -q user@1000.service; then
    echo "user@1000.service active (waited ${WAITED} s); bus $(ls /run/user/1000/bus)"
else
    echo "user@1000.service NOT active after 60 s: the user cases will fail"
fi
echo "user manager delegates: $(systemctl show user@1000.service -p DelegateControllers --value)"
echo "failed units at the start: [$(failed_units)]"
echo "container runtime: $(podman --version) with $(crun --version | head -n1)"

# ======================================================= issue 17 ====
echo; echo "##### refused where systemd did not delegate (--no-systemd)"

begin root-service-refused "root in an undelegated service, --no-systemd: refused before anything is written"
before_sc=$(cat $CG/system.slice/cgroup.subtree_control)
before_dirs=$(find $CG -type d | sort)
run 'cgbox --no-systemd run --memory 64M --pids 32 -- /tmp/show.sh'
check "exit 125" eq "$RC" 125
check "the command did not run" eq "$OUT" ""
check "the refusal names Delegate=yes" has "$ERR" "Delegate=yes"
check "the fix for root: $ROOT_FIX" has "$ERR" "$ROOT_FIX"
check "no fix for a user (systemd-run --user) given to root" lacks "$ERR" "systemd-run --user"
check "no scope was asked for" lacks "$ERR" "running in"
run 'cgbox --no-systemd inspect'
check "inspect exits 1" eq "$RC" 1
check "inspect: home - (refused" has "$OUT" "home         - (refused"
check "inspect names the fix" has "$OUT" "$ROOT_FIX"
new_dirs=$(comm -13 <(echo "$before_dirs") <(find $CG -type d | sort))
echo "  cgroups made since: [${new_dirs}]"
check "no cgroup named cgbox anywhere" no_cgbox_cgroups
check "no cgroup made in vmtest.service" lacks "$new_dirs" "/system.slice/vmtest.service/"
after_sc=$(cat $CG/system.slice/cgroup.subtree_control)
echo "  system.slice/cgroup.subtree_control: before [$before_sc] after [$after_sc]"
check "system.slice/cgroup.subtree_control unchanged" eq "$before_sc" "$after_sc"
end

begin user-service-refused "user u (runuser) in the same undelegated service, --no-systemd: refused with the user's fix"
run "runuser -u $U -- cgbox --no-systemd run --memory 64M -- /tmp/show.sh"
check "exit 125" eq "$RC" 125
check "the fix for a user: $USER_FIX" has "$ERR" "$USER_FIX"
check "not root's fix" lacks "$ERR" "$ROOT_FIX"
check "no cgroup named cgbox anywhere" no_cgbox_cgroups
end

begin user-session-refused "user u in a login session (su -l, session-*.scope), --no-systemd: refused with the user's fix"
run "su -l $U -c 'cat /proc/self/cgroup; cgbox --no-systemd run --memory 64M -- /tmp/show.sh'"
check "the shell runs in a session scope" matches "$OUT" '^0::/user.slice/user-1000.slice/session-[^/]+\.scope$'
check "exit 125" eq "$RC" 125
check "the fix for a user: $USER_FIX" has "$ERR" "$USER_FIX"
check "not root's fix" lacks "$ERR" "$ROOT_FIX"
check "no cgroup named cgbox anywhere" no_cgbox_cgroups
end

echo; echo "##### delegated by systemd: boxes inside the unit"

begin root-delegated-scope "systemd-run --scope -p Delegate=yes cgbox run as root: the box is inside the scope, limits applied"
run 'systemd-run --scope -q -p Delegate=yes cgbox run --memory 64M --pids 32 -- sh -c '\''cat /proc/self/cgroup; cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max; cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/pids.max'\'
check "exit 0" eq "$RC" 0
check "box at /system.slice/run-*.scope/cgbox/agents/<uuid>" matches "$OUT" "^0::/system.slice/run-[^/]+\.scope/cgbox/agents/$UUID\$"
check "memory.max 67108864" matches "$OUT" '^67108864$'
check "pids.max 32" matches "$OUT" '^32$'
check "no scope of its own asked for (already delegated)" lacks "$ERR" "running in"
run 'systemd-run --scope -q -p Delegate=yes cgbox inspect'
check "inspect: exit 0" eq "$RC" 0
check "inspect: home is the scope, delegated" matches "$OUT" '^home +/sys/fs/cgroup/system.slice/run-[^/]+\.scope \(run-[^ ]+\.scope, delegated to this process\)'
left_clean
end

begin root-delegated-service "a Delegate=yes service as root: box inside the service, limits applied"
run 'systemd-run -p Delegate=yes --wait --pipe --collect -q cgbox run --memory 64M --pids 32 -- /tmp/show.sh'
check "exit 0" eq "$RC" 0
check "box at /system.slice/run-*.service/cgbox/agents/<uuid>" matches "$(cgline)" "^/system.slice/run-[^/]+\.service/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "pids.max 32" eq "$(value pids.max)" 32
left_clean
end

begin user-delegated-service "a Delegate=yes service with User=u: box inside the service, limits applied"
run "systemd-run -p Delegate=yes -p User=$U --wait --pipe --collect -q cgbox run --memory 64M --pids 32 -- /tmp/show.sh"
check "exit 0" eq "$RC" 0
check "box at /system.slice/run-*.service/cgbox/agents/<uuid>" matches "$(cgline)" "^/system.slice/run-[^/]+\.service/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "pids.max 32" eq "$(value pids.max)" 32
left_clean
end

begin memorymax-oom "a Delegate=yes service with MemoryMax=32M MemorySwapMax=0: cgbox run -- dd bs=64M is OOM-killed by the unit's limit"
# OOMPolicy=continue: systemd leaves the unit running after the kill, so
# that the unit's memory.events can be read from inside it.
run 'systemd-run -p Delegate=yes -p MemoryMax=32M -p MemorySwapMax=0 -p OOMPolicy=continue --wait --pipe --collect -q sh -c '\''cgbox run -- dd if=/dev/zero of=/dev/null bs=64M count=1; echo "cgbox exit $?"; echo "unit $(cut -d: -f3 /proc/self/cgroup)"; grep oom_kill /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.events'\'
check "cgbox exits 137 (dd killed by SIGKILL)" has "$OUT" "cgbox exit 137"
check "dd did not copy 64 MiB" lacks "$ERR" "67108864 bytes"
check "cgbox's summary: killed (by the OOM killer where the box counts it)" matches "$ERR" "killed by (SIGKILL|the OOM killer)"
kills=$(sed -n 's/^oom_kill //p' <<<"$OUT")
check "the unit's memory.events: oom_kill >= 1 (is ${kills:-missing})" test "${kills:-0}" -ge 1
left_clean
end

begin sigkill-delegated-service "systemctl kill -s KILL of a Delegate=yes service with a live box: nothing left"
run 'systemd-run -q -p Delegate=yes --unit=killsvc cgbox run -- sleep 300'
check "started" eq "$RC" 0
check "the boxed sleep runs (within 30 s)" poll 30 a_proc 'sleep 300'
pid=$(pgrep -fx 'sleep 300' | head -n1)
echo "  sleep 300: pid ${pid:-none}, cgroup $(cut -d: -f3 /proc/${pid:-0}/cgroup 2>&1)"
check "the sleep is in a box inside killsvc.service" matches "$(cut -d: -f3 /proc/${pid:-0}/cgroup 2>&1)" "^/system.slice/killsvc.service/cgbox/agents/$UUID\$"
run 'systemctl kill -s KILL killsvc.service'
check "no sleep 300 left (within 15 s)" poll 15 no_proc 'sleep 300'
echo "  waited ${WAITED} s"
check "no cgroup of killsvc.service left (within 15 s)" poll 15 gone /system.slice/killsvc.service
echo "  waited ${WAITED} s; the unit: [$(units killsvc.service)]"
check "killsvc.service is not active" eval '! systemctl is-active -q killsvc.service'
systemctl reset-failed killsvc.service 2>/dev/null
left_clean
end

echo; echo "##### the user manager"

begin user-manager-scope "systemd-run --user --scope -p Delegate=yes cgbox run as u: box inside that scope, not in app.slice"
run "runuser -u $U -- env ${UENV[*]} systemd-run --user --scope -q -p Delegate=yes cgbox run --memory 64M -- /tmp/show.sh"
check "exit 0" eq "$RC" 0
check "box at $UM/app.slice/run-*.scope/cgbox/agents/<uuid>" matches "$(cgline)" "^$UM/app.slice/run-[^/]+\.scope/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "no scope of its own asked for" lacks "$ERR" "running in"
# --no-systemd does not ask the user manager whether its scope delegates
# (main.rs: "never talk to systemd over D-Bus"), so it refuses even here;
# the fix must then say what to change (--no-systemd), not only tell the
# user to do what they already did.
run "runuser -u $U -- env ${UENV[*]} systemd-run --user --scope -q -p Delegate=yes cgbox --no-systemd run --memory 64M -- /tmp/show.sh"
check "--no-systemd in the same scope: exit 125" eq "$RC" 125
check "--no-systemd: says the manager was not asked" has "$ERR" "could not be asked"
check "--no-systemd: the fix names --no-systemd (not only the scope the user is already in)" has "$ERR" "--no-systemd"
left_clean
end

begin user-manager-scope-undelegated "systemd-run --user --scope without Delegate=yes, --no-systemd: refused"
run "runuser -u $U -- env ${UENV[*]} systemd-run --user --scope -q cgbox --no-systemd run --memory 64M -- /tmp/show.sh"
check "exit 125" eq "$RC" 125
check "the command did not run" eq "$OUT" ""
check "the fix for a user: $USER_FIX" has "$ERR" "$USER_FIX"
check "no cgroup named cgbox anywhere" no_cgbox_cgroups
end

begin user-service "a user service with Delegate=yes (systemd-run --user -p Delegate=yes): box inside it"
run "runuser -u $U -- env ${UENV[*]} systemd-run --user -p Delegate=yes --wait --pipe --collect -q cgbox run --memory 64M -- /tmp/show.sh"
check "exit 0" eq "$RC" 0
check "box at $UM/app.slice/run-*.service/cgbox/agents/<uuid>" matches "$(cgline)" "^$UM/app.slice/run-[^/]+\.service/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
left_clean
end

begin user-io-weight "--io-weight as u: the user manager is not given io; the fix is the administrator's drop-in"
run "su -l $U -c 'cgbox run --io-weight 100 -- /tmp/show.sh'"
check "exit 125" eq "$RC" 125
check "the command did not run" eq "$OUT" ""
check "names the drop-in: Delegate=cpu cpuset io memory pids" has "$ERR" "Delegate=cpu cpuset io memory pids"
check "names user@.service" has "$ERR" "user@.service"
run "runuser -u $U -- env ${UENV[*]} systemd-run --user --scope -q -p Delegate=yes cgbox run --io-weight 100 -- /tmp/show.sh"
check "in a delegated user scope too: exit 125" eq "$RC" 125
check "in a delegated user scope too: the drop-in" has "$ERR" "Delegate=cpu cpuset io memory pids"
check "no cgbox-* unit left in the user manager (within 15 s)" poll 15 no_user_units
left_clean
end

begin user-io-dropin "the administrator's fix for io works: user@.service.d drop-in Delegate=cpu cpuset io memory pids, the user manager restarted: --io-weight 100 as u applies"
mkdir -p /etc/systemd/system/user@.service.d
printf '[Service]\nDelegate=cpu cpuset io memory pids\n' >/etc/systemd/system/user@.service.d/delegate.conf
systemctl daemon-reload
systemctl restart user@1000.service
check "user@1000.service active again (within 30 s)" poll 30 systemctl is-active -q user@1000.service
echo "  user@1000.service: DelegateControllers=$(systemctl show user@1000.service -p DelegateControllers --value); controllers $(cat $CG$UM/cgroup.controllers)"
run "su -l $U -c 'cgbox run --io-weight 100 -- /tmp/show.sh'"
check "exit 0" eq "$RC" 0
check "box in a cgbox-*.scope of the user manager" matches "$(cgline)" "^$UM/([^/]+/)*cgbox-$UUID\.scope/cgbox/agents/$UUID\$"
check "io.weight: default 100" eq "$(value io.weight)" "default 100"
rm -rf /etc/systemd/system/user@.service.d
systemctl daemon-reload
systemctl restart user@1000.service
check "back to Debian's delegation (cpu memory pids, within 30 s)" poll 30 eval '[ "$(cat $CG$UM/cgroup.controllers 2>/dev/null)" = "cpu memory pids" ]'
left_clean
end

# ======================================================= issue 18 ====
echo; echo "##### no prefix: cgbox asks systemd for a delegated scope of its own"

begin session-own-scope "u in a login session, no prefix: the box is in a cgbox-*.scope of the user manager"
run "su -l $U -c 'cgbox run --memory 64M -- /tmp/show.sh'"
check "exit 0" eq "$RC" 0
check "says: running in cgbox-<uuid>.scope" matches "$ERR" "^cgbox: running in cgbox-$UUID\.scope"
check "box at $UM/.../cgbox-<uuid>.scope/cgbox/agents/<uuid>" matches "$(cgline)" "^$UM/([^/]+/)*cgbox-$UUID\.scope/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "the scope is gone afterwards (within 15 s)" poll 15 no_user_units
echo "  waited ${WAITED} s: [$(uunits 'cgbox-*')]"
left_clean
end

begin root-service-own-scope "root in an undelegated service, no prefix: the box is in system.slice/cgbox-*.scope"
run 'cgbox run --memory 64M --pids 32 -- /tmp/show.sh'
check "exit 0" eq "$RC" 0
check "says: running in cgbox-<uuid>.scope" matches "$ERR" "^cgbox: running in cgbox-$UUID\.scope"
check "box at /system.slice/cgbox-<uuid>.scope/cgbox/agents/<uuid>" matches "$(cgline)" "^/system.slice/cgbox-$UUID\.scope/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "pids.max 32" eq "$(value pids.max)" 32
check "the scope is gone afterwards (within 15 s)" poll 15 no_units
echo "  waited ${WAITED} s: [$(units 'cgbox-*')]"
check "nothing made in vmtest.service" eq "$(find $CG/system.slice/vmtest.service -mindepth 1 -type d)" ""
left_clean
end

begin root-session-own-scope "root in a login session (su -l root, session-*.scope of user-0.slice), no prefix: the box is in a cgbox-*.scope in the session's slice (user-0.slice), bound to the session"
run "su -l root -c 'cat /proc/self/cgroup; cgbox run --memory 64M -- /tmp/show.sh'"
check "the shell runs in a session scope" matches "$OUT" '^0::/user.slice/user-0.slice/session-[^/]+\.scope$'
check "exit 0" eq "$RC" 0
check "says: running in cgbox-<uuid>.scope" matches "$ERR" "^cgbox: running in cgbox-$UUID\.scope"
check "box at /user.slice/user-0.slice/cgbox-<uuid>.scope/cgbox/agents/<uuid>" matches "$OUT" "^0::/user.slice/user-0.slice/cgbox-$UUID\.scope/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "the scope is gone afterwards (within 15 s)" poll 15 no_units
left_clean
end

begin quiet-own-scope "--quiet: the scope is still asked for, nothing said"
run 'cgbox run --quiet -- /tmp/show.sh'
check "exit 0" eq "$RC" 0
check "box in a cgbox-*.scope" matches "$(cgline)" "^/system.slice/cgbox-$UUID\.scope/cgbox/agents/$UUID\$"
check "nothing on stderr" eq "$ERR" ""
left_clean
end

# Since the library's one-shape change (main 1b52bfa) the failed ask for a
# scope is part of the refusal's one line ("... asking systemd for a
# delegated scope failed: connect to ...; (fix: ...)"), no longer a line of
# its own before it.
begin bus-absent-root "root, the system bus absent (DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent): one line, the refusal, 125"
run 'DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent cgbox run --memory 64M -- /tmp/show.sh'
check "exit 125" eq "$RC" 125
check "the command did not run" eq "$OUT" ""
check "the failed ask said once: asking systemd for a delegated scope failed" eq "$(count "$ERR" "asking systemd for a delegated scope failed")" 1
check "it names the socket" has "$ERR" "/nonexistent"
check "with the refusal and root's fix" has "$ERR" "$ROOT_FIX"
check "one line in all" eq "$(wc -l <<<"$ERR")" 1
check "no cgroup named cgbox anywhere" no_cgbox_cgroups
end

begin bus-absent-user "u, no user bus (XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS point nowhere): one line, the refusal, 125"
run "runuser -u $U -- env XDG_RUNTIME_DIR=/nonexistent DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus cgbox run --memory 64M -- /tmp/show.sh"
check "exit 125" eq "$RC" 125
check "the command did not run" eq "$OUT" ""
check "the failed ask said once: asking systemd for a delegated scope failed" eq "$(count "$ERR" "asking systemd for a delegated scope failed")" 1
check "with the refusal and the user's fix" has "$ERR" "$USER_FIX"
check "one line in all" eq "$(wc -l <<<"$ERR")" 1
run "runuser -u $U -- env -u XDG_RUNTIME_DIR -u DBUS_SESSION_BUS_ADDRESS cgbox run -- /tmp/show.sh"
check "neither variable set: exit 125" eq "$RC" 125
check "neither variable set: the failed ask said once" eq "$(count "$ERR" "asking systemd for a delegated scope failed")" 1
check "no cgroup named cgbox anywhere" no_cgbox_cgroups
end

begin bus-refused-user "u asks the system manager (its bus address is the system bus): systemd refuses; one line, the refusal, 125"
run "runuser -u $U -- env DBUS_SESSION_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket cgbox run -- /tmp/show.sh"
check "exit 125" eq "$RC" 125
check "the command did not run" eq "$OUT" ""
check "the failed ask said once: asking systemd for a delegated scope failed" eq "$(count "$ERR" "asking systemd for a delegated scope failed")" 1
check "with the refusal and the user's fix" has "$ERR" "$USER_FIX"
check "no cgbox-* unit in the system manager" no_units
check "no cgroup named cgbox anywhere" no_cgbox_cgroups
end

begin user-in-service-user-bus "u (runuser) in the undelegated system service, with its user bus, no prefix: the user manager takes cgbox into a cgbox-*.scope of its own; no unit left"
run "runuser -u $U -- env ${UENV[*]} cgbox run --memory 64M -- /tmp/show.sh"
check "exit 0" eq "$RC" 0
check "says: running in cgbox-<uuid>.scope" matches "$ERR" "^cgbox: running in cgbox-$UUID\.scope"
check "box in a cgbox-*.scope of the user manager" matches "$(cgline)" "^$UM/([^/]+/)*cgbox-$UUID\.scope/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "no cgbox-* unit left in the user manager (within 15 s)" poll 15 no_user_units
echo "  waited ${WAITED} s: [$(uunits 'cgbox-*')]"
check "no failed unit in the user manager" eq "$(ufailed_units)" ""
left_clean
end

begin hundred-runs "100 runs in a row, root, no prefix: no cgbox-* unit and no failed unit left"
ran=0; bad=0; said=0
t1=$(date +%s%N)
for i in $(seq 100); do
    timeout 60 cgbox run --memory 64M --pids 32 -- true >/tmp/run.out 2>/tmp/run.err </dev/null
    rc=$?
    ran=$((ran + 1))
    grep -q '^cgbox: running in cgbox-' /tmp/run.err && said=$((said + 1))
    if [ $rc != 0 ]; then
        bad=$((bad + 1))
        [ $bad -le 3 ] && { echo "  run $i: exit $rc"; sed 's/^/    err| /' /tmp/run.err; }
    fi
done
ms=$(( ($(date +%s%N) - t1) / 1000000 ))
echo "  100 runs took $((ms / 1000)).$(printf %03d $((ms % 1000))) s ($((ms / 100)) ms a run, scope and box made and removed each time)"
check "all 100 exited 0 ($bad did not)" eq "$bad" 0
check "all 100 ran in a scope of their own ($said said so)" eq "$said" 100
check "no cgbox-* unit left (within 30 s)" poll 30 no_units
echo "  waited ${WAITED} s: [$(units 'cgbox-*')]"
fu=$(failed_units)
echo "  systemctl --failed: [$fu]"
check "no failed unit" eq "$fu" ""
left_clean
end

# ========================================= lifetime and limits of the unit ====
echo; echo "##### the unit that started cgbox keeps its job: limits and lifetime"

begin cpus-controllers-restored "--cpus 0.5 in a delegated scope: after the scope, system.slice/cgroup.subtree_control is what systemd had; no 'Failed to disable controller'"
systemd-analyze log-level debug
cursor=$(journalctl -n0 --show-cursor -q 2>/dev/null | sed -n 's/^-- cursor: //p')
# What systemd has once a delegated scope comes and goes without cgbox.
run 'systemd-run --scope -q -p Delegate=yes --unit=ctl-cpus sh -c "cat /sys/fs/cgroup/system.slice/cgroup.subtree_control"'
check "control: the scope is gone (within 15 s)" poll 15 no_unit ctl-cpus.scope /system.slice/ctl-cpus.scope
control=$(cat $CG/system.slice/cgroup.subtree_control)
echo "  control: the scope gone after ${WAITED} s; system.slice/cgroup.subtree_control [$control]"
run 'systemd-run --scope -q -p Delegate=yes --unit=box-cpus cgbox run --cpus 0.5 -- /tmp/show.sh'
check "exit 0" eq "$RC" 0
check "box inside box-cpus.scope" matches "$(cgline)" "^/system.slice/box-cpus.scope/cgbox/agents/$UUID\$"
check "cpu.max 50000 100000" eq "$(value cpu.max)" "50000 100000"
check "the scope is gone (within 15 s)" poll 15 no_unit box-cpus.scope /system.slice/box-cpus.scope
check "system.slice/cgroup.subtree_control back to [$control] (within 10 s)" poll 10 slice_controllers_are "$control"
echo "  now [$(cat $CG/system.slice/cgroup.subtree_control)]"
busy=$(journalctl --after-cursor="$cursor" --no-pager -o cat 2>&1 | grep 'Failed to disable controller')
systemd-analyze log-level info
echo "  journal lines 'Failed to disable controller': [${busy}]"
check "the journal has no 'Failed to disable controller'" eq "$busy" ""
check "the journal was read (cursor $cursor)" test -n "$cursor"
left_clean
end

begin undelegated-service-stop "an undelegated service, no prefix, a live box; systemctl stop: nothing of it left"
run 'systemd-run -q --unit=plainsvc cgbox run -- sleep 300'
check "started" eq "$RC" 0
check "the boxed sleep runs" poll 30 a_proc 'sleep 300'
pid=$(pgrep -fx 'sleep 300' | head -n1)
echo "  sleep 300: pid ${pid:-none}, cgroup $(cut -d: -f3 /proc/${pid:-0}/cgroup 2>&1)"
run 'systemctl stop plainsvc.service'
check "no sleep 300 left (within 15 s)" poll 15 no_proc 'sleep 300'
echo "  waited ${WAITED} s"
check "no cgbox-* unit left (within 15 s)" poll 15 no_units
systemctl reset-failed plainsvc.service 2>/dev/null
pkill -KILL -fx 'sleep 300'   # ours: whatever a failure left, so that later cases start clean
left_clean
end

begin undelegated-service-kill "an undelegated service, no prefix, a live box; systemctl kill -s KILL: nothing of it left"
run 'systemd-run -q --unit=plainkill cgbox run -- sleep 300'
check "started" eq "$RC" 0
check "the boxed sleep runs" poll 30 a_proc 'sleep 300'
pid=$(pgrep -fx 'sleep 300' | head -n1)
echo "  sleep 300: pid ${pid:-none}, cgroup $(cut -d: -f3 /proc/${pid:-0}/cgroup 2>&1)"
run 'systemctl kill -s KILL plainkill.service'
check "no sleep 300 left (within 10 s)" poll 10 no_proc 'sleep 300'
echo "  waited ${WAITED} s; sleep: [$(pgrep -afx 'sleep 300')]; units: [$(units 'cgbox-*')]"
check "no cgbox-* unit left (within 10 s)" poll 10 no_units
systemctl reset-failed plainkill.service 2>/dev/null
pkill -KILL -fx 'sleep 300'
poll 10 no_units
left_clean
end

begin undelegated-service-memorymax "an undelegated service with MemoryMax=32M, no prefix: cgbox does not leave the unit (that would escape its limit); refused with the fix, nothing run"
run 'systemd-run -p MemoryMax=32M -p MemorySwapMax=0 -p OOMPolicy=continue --wait --pipe --collect -q cgbox run -- dd if=/dev/zero of=/dev/null bs=64M count=1'
check "exit 125" eq "$RC" 125
check "dd did not run" lacks "$ERR" "records in"
check "says why: the job would escape the unit's limits" has "$ERR" "escape its limits (memory.max 33554432)"
check "the fix: give the unit Delegate=yes" has "$ERR" "give the unit Delegate=yes"
check "no own scope was asked for" lacks "$ERR" "running in"
check "no cgbox-* unit" no_units
left_clean
end

begin undelegated-service-slice "an undelegated service in agents.slice (MemoryMax=32M on the slice), no prefix: the scope cgbox asks for stays in that slice, so the slice's limit holds the boxed dd"
systemctl set-property --runtime agents.slice MemoryMax=32M MemorySwapMax=0
run 'systemd-run -p Slice=agents.slice -p OOMPolicy=continue --wait --pipe --collect -q cgbox run -- sh -c '\''cat /proc/self/cgroup; exec dd if=/dev/zero of=/dev/null bs=64M count=1'\'
check "the box is in agents.slice" matches "$(cgline)" "^/agents.slice/"
check "dd did not copy 64 MiB" lacks "$ERR" "67108864 bytes"
check "cgbox exits 137 (dd killed by SIGKILL)" eq "$RC" 137
left_clean
end

# ========================================== the README's other recipes ====
echo; echo "##### recipes: a CI runner's service, a container"

begin ci-runner "a CI runner's service as u (User=u; the runner stays in its cgroup): refused with the unit's fix; Delegate=yes alone: the fix is cgbox prepare; Delegate=yes + 'cgbox prepare && exec runner': boxes inside the unit"
# The runner (a shell here) stays in the unit's cgroup while its job runs.
printf '%s\n' '#!/bin/sh' \
    'cgbox run --memory 64M --pids 32 -- /tmp/show.sh >/tmp/ci.out 2>/tmp/ci.err' \
    'echo "exit $?" >>/tmp/ci.err' >/tmp/ci-runner.sh
chmod 0755 /tmp/ci-runner.sh
ci_unit() {   # ci_unit EXECSTART [DELEGATE]: (re)write ci-runner.service, with a drop-in when asked
    printf '[Service]\nType=oneshot\nUser=%s\nExecStart=%s\n' $U "$1" >/etc/systemd/system/ci-runner.service
    rm -rf /etc/systemd/system/ci-runner.service.d
    if [ -n "${2:-}" ]; then
        mkdir -p /etc/systemd/system/ci-runner.service.d
        printf '[Service]\nDelegate=%s\n' "$2" >/etc/systemd/system/ci-runner.service.d/delegate.conf
    fi
    rm -f /tmp/ci.out /tmp/ci.err
    systemctl daemon-reload
}
ci_unit /tmp/ci-runner.sh
run 'systemctl start ci-runner.service; cat /tmp/ci.out; cat /tmp/ci.err >&2'
check "no delegation: exit 125" has "$ERR" "exit 125"
check "the fix names the unit: systemctl edit ci-runner.service" has "$ERR" "systemctl edit ci-runner.service"
check "the fix: [Service] Delegate=yes" has "$ERR" "[Service] Delegate=yes"
ci_unit /tmp/ci-runner.sh yes
run 'systemctl start ci-runner.service; cat /tmp/ci.out; cat /tmp/ci.err >&2'
check "Delegate=yes, the runner in the unit's cgroup: exit 125" has "$ERR" "exit 125"
check "the fix: cgbox prepare && exec" has "$ERR" "cgbox prepare && exec"
ci_unit "/bin/sh -c 'cgbox prepare && exec /tmp/ci-runner.sh'" yes
run 'systemctl start ci-runner.service; cat /tmp/ci.out; cat /tmp/ci.err >&2'
check "Delegate=yes + cgbox prepare && exec runner: exit 0" has "$ERR" "exit 0"
check "box at /system.slice/ci-runner.service/cgbox/agents/<uuid>" matches "$(cgline)" "^/system.slice/ci-runner.service/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "pids.max 32" eq "$(value pids.max)" 32
rm -rf /etc/systemd/system/ci-runner.service /etc/systemd/system/ci-runner.service.d
systemctl daemon-reload
left_clean
end

begin container-namespace "a container on a systemd host: a Delegate=yes unit + a private cgroup namespace; cgbox prepare, then boxes at the namespace root"
run 'systemd-run -p Delegate=yes --wait --pipe --collect -q unshare --cgroup --mount --propagation private sh -c '\''echo "host view: $(cat /proc/self/cgroup)" >&2; umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 99; cgbox inspect | grep "^home" >&2; cgbox prepare >&2 || echo "prepare exit $?" >&2; cgbox run --memory 64M --pids 32 -- /tmp/show.sh'\'
check "exit 0" eq "$RC" 0
check "inside: the home is the namespace root" has "$ERR" "the root of this cgroup namespace"
check "box at /cgbox/agents/<uuid> (namespace view)" matches "$(cgline)" "^/cgbox/agents/$UUID\$"
check "memory.max 67108864" eq "$(value memory.max)" 67108864
check "pids.max 32" eq "$(value pids.max)" 32
left_clean
end

# ============================================ real container runtimes ====
echo; echo "##### a real container runtime: podman (root and rootless)"
# (No awk in the containers: /usr/bin/awk is a link through the VM's
# /etc/alternatives, which the container's /etc does not have.)
# The image is made here, offline (no registry): a root of a few empty
# directories and the merged-/usr symlinks (/bin -> usr/bin ...), imported
# as it is (vfs storage, build.sh: the guest has no overlayfs module). Every
# container bind-mounts the VM's /usr read-only over it: its shell, procps
# and coreutils, and the cgbox under test (/usr/local/bin/cgbox), are the
# VM's. The scripts the containers run are in /tmp/ctr, at /ctr read-only.
# No network (--network none): the guest has no bridge or netfilter modules.
CTR=/tmp/ctr
CROOT=/tmp/ctr-root
mkdir -p $CTR $CROOT/usr $CROOT/etc $CROOT/tmp $CROOT/var/tmp $CROOT/root $CROOT/proc $CROOT/sys $CROOT/dev $CROOT/run
chmod 1777 $CROOT/tmp $CROOT/var/tmp
for l in bin sbin lib lib64; do ln -sfn usr/$l $CROOT/$l; done
echo 'root:x:0:0:root:/root:/bin/sh' >$CROOT/etc/passwd
echo 'root:x:0:' >$CROOT/etc/group
tar -C $CROOT -cf /tmp/ctr-root.tar .
chmod 0644 /tmp/ctr-root.tar
cp /tmp/show.sh $CTR/show.sh
# Before cgbox prepare: a box without limits at once; a limited one refused.
cat >$CTR/plain.sh <<'CTR_EOF'
#!/bin/sh
echo "container cgroup: $(cat /proc/self/cgroup)"
echo "cgroup2 mount: $(grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f6)"
cgbox run -- cat /proc/self/cgroup
echo "plain exit $?"
cgbox run --memory 32M -- echo LIMITED RAN
echo "limited exit $?"
CTR_EOF
# The README's entrypoint: cgbox prepare && exec the agent (here cgbox run).
cat >$CTR/limits.sh <<'CTR_EOF'
#!/bin/sh
cgbox prepare && exec cgbox run --memory 32M --pids 8 -- /ctr/show.sh
CTR_EOF
cat >$CTR/oom.sh <<'CTR_EOF'
#!/bin/sh
cgbox prepare >/dev/null && exec cgbox run --memory 32M --swap 0 -- dd if=/dev/zero of=/dev/null bs=64M count=1
CTR_EOF
cat >$CTR/pids.sh <<'CTR_EOF'
#!/bin/sh
cgbox prepare >/dev/null && exec cgbox run --pids 8 -- sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 & done; wait'
CTR_EOF
# The container's own --memory, no prepare: the box has no memory limit.
cat >$CTR/ctrmem.sh <<'CTR_EOF'
#!/bin/sh
echo "container memory.max $(cat /sys/fs/cgroup/memory.max)"
cgbox run -- sh -c 'f=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max; echo "box memory.max $(cat $f 2>/dev/null || echo absent)"'
cgbox run -- dd if=/dev/zero of=/dev/null bs=64M count=1
echo "hog exit $?"
echo "container $(grep oom_kill /sys/fs/cgroup/memory.events)"
CTR_EOF
# Two trees in sessions of their own (setsid), one deaf to SIGTERM; the job
# waits until both run, shows them, and waits for them.
cat >$CTR/timeout.sh <<'CTR_EOF'
#!/bin/sh
cgbox run --timeout 2 --kill-after 1 -- sh -c '
    setsid sh -c "trap \"\" TERM; exec sleep 300" &
    setsid sleep 301 &
    until [ "$(pgrep -c -fx "sleep 30[01]")" = 2 ]; do sleep 0.1; done
    ps -eo pid=,sid=,args= | while read -r pid sid cmd arg; do
        [ "$cmd $arg" = "sleep 300" ] || [ "$cmd $arg" = "sleep 301" ] || continue
        if [ "$pid" = "$sid" ]; then echo "tree $arg in a session of its own"; else echo "tree $arg in the job session"; fi
    done
    wait'
echo "timeout exit $?"
echo "left: [$(pgrep -fx 'sleep 30[01]' | tr '\n' ' ')]"
CTR_EOF
cat >$CTR/default.sh <<'CTR_EOF'
#!/bin/sh
echo "cgroup2 mount: $(grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f6)"
cgbox inspect
echo "inspect exit $?"
cgbox run -- echo PLAIN RAN
echo "plain exit $?"
cgbox run --memory 32M -- echo LIMITED RAN
echo "limited exit $?"
CTR_EOF
chmod 0755 $CTR $CTR/*.sh
CTR_OPTS="--network none -v /usr:/usr:ro -v $CTR:/ctr:ro"
PRIV="--privileged --cgroupns=private"
UPODMAN="runuser -u $U -- env ${UENV[*]} podman"

begin container-images "the image, offline: podman import (root, and u rootless); no registry"
run 'podman import -q /tmp/ctr-root.tar localhost/vmroot && podman image exists localhost/vmroot && echo root-image-ok'
check "podman (root): imported" has "$OUT" root-image-ok
run "$UPODMAN import -q /tmp/ctr-root.tar localhost/vmroot && $UPODMAN image exists localhost/vmroot && echo user-image-ok"
check "podman (u, rootless): imported" has "$OUT" user-image-ok
end

# The cases of a privileged container with a private cgroup namespace, for
# one runtime. Each takes NAME "RUNTIME COMMAND" IMAGE.
ctr_cases() {
    local n=$1 rt=$2 img=$3
    begin "$n-plain" "$n run $PRIV: cgbox run -- true works at once; a limited run is refused (125) naming cgbox prepare"
    run "$rt run --rm $CTR_OPTS $PRIV $img /ctr/plain.sh"
    check "the container is its cgroup namespace's root (0::/)" has "$OUT" "container cgroup: 0::/"
    check "cgroup2 is mounted read-write" has "$OUT" "cgroup2 mount: rw"
    check "plain run: exit 0" has "$OUT" "plain exit 0"
    check "plain run: box at /cgbox/agents/<uuid>" matches "$OUT" "^0::/cgbox/agents/$UUID\$"
    check "limited run: exit 125" has "$OUT" "limited exit 125"
    check "limited run: the command did not run" lacks "$OUT" "LIMITED RAN"
    check "the refusal names cgbox prepare" has "$ERR" "cgbox prepare"
    left_clean
    end

    begin "$n-prepare-limits" "$n run $PRIV, entrypoint 'cgbox prepare && exec cgbox run --memory 32M --pids 8': the limits are written"
    run "$rt run --rm $CTR_OPTS $PRIV $img /ctr/limits.sh"
    check "exit 0" eq "$RC" 0
    check "prepare moved the container's processes into /sys/fs/cgroup/init" matches "$OUT" "^moved [0-9]+ process\(es\) into /sys/fs/cgroup/init"
    check "box at /cgbox/agents/<uuid>" matches "$(cgline)" "^/cgbox/agents/$UUID\$"
    check "memory.max 33554432" eq "$(value memory.max)" 33554432
    check "pids.max 8" eq "$(value pids.max)" 8
    left_clean
    end

    begin "$n-prepare-oom" "$n, after prepare: dd bs=64M in a box with --memory 32M is OOM-killed at the box's limit"
    run "$rt run --rm $CTR_OPTS $PRIV $img /ctr/oom.sh"
    check "exit 137 (dd killed by SIGKILL)" eq "$RC" 137
    check "dd did not copy 64 MiB" lacks "$ERR" "67108864 bytes"
    check "cgbox's summary: an OOM kill at --memory 32M" has "$ERR" "OOM kill at --memory 32M"
    left_clean
    end
}
ctr_pids_case() {
    local n=$1 rt=$2 img=$3
    begin "$n-prepare-pids" "$n, after prepare: a box with --pids 8 refuses the forks past 8; nothing of it left"
    run "$rt run --rm $CTR_OPTS $PRIV $img /ctr/pids.sh"
    check "the job's shell could not fork" has "$ERR" "Cannot fork"
    check "exit 2 (the job's own status)" eq "$RC" 2
    check "cgbox's summary: forks refused at --pids 8" matches "$ERR" "forks? refused at --pids 8"
    check "no sleep 30 left (within 15 s)" poll 15 no_proc 'sleep 30'
    left_clean
    end
}
ctr_memory_case() {
    local n=$1 rt=$2 img=$3 kills
    begin "$n-container-memory" "$n run --memory 32M, no prepare: a boxed dd bs=64M is OOM-killed at the container's limit though its box has none"
    run "$rt run --rm $CTR_OPTS $PRIV --memory 32M --memory-swap 32M $img /ctr/ctrmem.sh"
    check "the container's memory.max is 33554432" has "$OUT" "container memory.max 33554432"
    check "the box has no memory limit of its own" has "$OUT" "box memory.max absent"
    check "the boxed dd: exit 137" has "$OUT" "hog exit 137"
    check "dd did not copy 64 MiB" lacks "$ERR" "67108864 bytes"
    kills=$(sed -n 's/^container oom_kill //p' <<<"$OUT")
    check "the container's memory.events: oom_kill >= 1 (is ${kills:-missing})" test "${kills:-0}" -ge 1
    left_clean
    end
}
ctr_timeout_case() {
    local n=$1 rt=$2 img=$3
    begin "$n-timeout-setsid" "$n: cgbox run --timeout 2 kills a job's setsid trees (one deaf to SIGTERM); nothing left in the container"
    run "$rt run --rm $CTR_OPTS $PRIV $img /ctr/timeout.sh"
    check "the trees ran in sessions of their own" eq "$(count "$OUT" "in a session of its own")" 2
    check "exit 124 (timed out)" has "$OUT" "timeout exit 124"
    check "cgbox says it timed out" has "$ERR" "timed out"
    check "no sleep 300/301 left in the container" has "$OUT" "left: []"
    check "none on the VM either" no_proc 'sleep 30[01]'
    left_clean
    end
}
ctr_stop_case() {
    local n=$1 rt=$2 img=$3 pid cg home
    begin "$n-stop" "$n stop of a container whose entrypoint is cgbox run -- sleep 302: no process, no box, no container cgroup left"
    run "$rt run -d --name cgbox-stop $CTR_OPTS $PRIV $img cgbox run -- sleep 302"
    check "started" eq "$RC" 0
    check "the boxed sleep runs (within 30 s)" poll 30 a_proc 'sleep 302'
    pid=$(pgrep -fx 'sleep 302' | head -n1)
    cg=$(cut -d: -f3 /proc/${pid:-0}/cgroup 2>&1)
    home=${cg%/cgbox/agents/*}
    echo "  sleep 302: pid ${pid:-none}, cgroup $cg"
    check "the sleep is in a box inside the container's cgroup" matches "$cg" "^/.*(libpod|docker)-[0-9a-f]+\.scope(/container)?/cgbox/agents/$UUID\$"
    run "$rt stop -t 10 cgbox-stop"
    check "stopped" eq "$RC" 0
    check "no sleep 302 left (within 15 s)" poll 15 no_proc 'sleep 302'
    check "the container's cgroup is gone (within 15 s)" poll 15 gone "$home"
    run "$rt inspect -f '{{.State.ExitCode}}' cgbox-stop"
    check "cgbox passed SIGTERM on and exited 143 (128+15), before the runtime's SIGKILL" eq "$OUT" 143
    run "$rt rm cgbox-stop"
    left_clean
    end
}
ctr_default_case() {   # ... [RUN OPTIONS]
    local n=$1 rt=$2 img=$3 opts=${4:-}
    begin "$n-default-readonly" "$n run without --privileged (cgroup2 read-only, as containers get it by default): every run 125, inspect 1, the fix named"
    run "$rt run --rm $CTR_OPTS $opts $img /ctr/default.sh"
    check "cgroup2 is mounted read-only" has "$OUT" "cgroup2 mount: ro"
    check "inspect exits 1" has "$OUT" "inspect exit 1"
    check "inspect names the read-only mount" has "$OUT" "cgroup2 is mounted read-only"
    check "a plain run: exit 125, nothing run" eval 'has "$OUT" "plain exit 125" && lacks "$OUT" "PLAIN RAN"'
    check "a limited run: exit 125, nothing run" eval 'has "$OUT" "limited exit 125" && lacks "$OUT" "LIMITED RAN"'
    check "the refusal names the fix: --cgroupns=private" has "$ERR" "--cgroupns=private"
    left_clean
    end
}

echo; echo "##### podman, root"
ctr_cases podman podman localhost/vmroot
ctr_pids_case podman podman localhost/vmroot
ctr_memory_case podman podman localhost/vmroot
ctr_timeout_case podman podman localhost/vmroot
ctr_stop_case podman podman localhost/vmroot
ctr_default_case podman podman localhost/vmroot

echo; echo "##### podman, rootless (u: subuids in /etc/subuid, its user manager)"
ctr_cases podman-rootless "$UPODMAN" localhost/vmroot
ctr_default_case podman-rootless "$UPODMAN" localhost/vmroot


# ========================================================= the end ====
echo; echo "##### end state"
begin end-state "nothing of cgbox left anywhere; no failed unit in either manager"
check "no cgroup of cgbox" no_cgbox_cgroups
check "no cgbox-* unit in the system manager" no_units
check "no cgbox-* unit in the user manager" no_user_units
fu=$(failed_units); ufu=$(ufailed_units)
echo "  failed: system [$fu] user [$ufu]"
check "no failed unit (system)" eq "$fu" ""
check "no failed unit (user)" eq "$ufu" ""
check "no sleep 300 left" no_proc 'sleep 300'
end

ms=$(( ($(date +%s%N) - T0) / 1000000 ))
echo
echo "cases took $((ms / 1000)) s"
[ -z "$failures" ] || echo "failed:$failures"
echo "systemd: $passed passed, $failed failed"
[ "$failed" = 0 ]
