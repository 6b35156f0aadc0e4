#!/bin/bash
# tests/vm/systemd/jvm-cases.sh: a real JVM (Debian's openjdk-17-jre-headless,
# in the systemd VM image) sizes itself to its box, however cgbox started it:
# `run`, `run --cgroupns`, `exec` (and `exec --cgroupns`), a `run` inside a
# limited box, each before and after `cgbox set NAME --memory 512M` (the
# JVM reads its limits when it starts: the second JVM is a new one in the
# same box, or in a new sub-box). Runs in the systemd VM as root from
# vmtest.service, with a static cgbox at /usr/local/bin/cgbox:
#   SYSVM_MEM=2G tests/vm/systemd/run.sh tests/vm/systemd/jvm-cases.sh CGBOX:/usr/local/bin/cgbox
# (2G as in issue 25's table: a JVM outside any box plans a 496 MiB heap).
# Every case runs in a unit with Delegate=yes whose own processes step
# into a leaf first (`cgbox prepare`), as a CI runner's would; each shows
# what it ran, one line per check, then PASS or FAIL. At the end, the table
# of what the JVM saw; the last line is `jvm: N passed, M failed`; the exit
# status is 1 when any case failed. No case is skipped: a case that cannot
# run fails.
#
# What the JVM sees is `java -XshowSettings:system -XX:+PrintFlagsFinal
# -version` in one start: "Memory Limit", "CPU Quota" and MaxHeapSize.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
CG=/sys/fs/cgroup
T0=$(date +%s%N)

# JVMs under TCG are slow: a run may take 300 s.
RUN_TIMEOUT=300
. "$(dirname "$0")/cases-lib.sh"
ROWS=()   # the table: "how | memory | quota | heap"
jvm() { value "${1:+$1 }jvm-$2"; }   # jvm PREFIX WHAT: what the JVM of PREFIX ("" for none) printed
mib() { echo $(( $1 / 1048576 )); }
# within PREFIX LIMIT_MIB: the JVM of PREFIX ("before", "after") saw a
# memory limit of LIMIT_MIB and planned a heap of at most half of it
within() {
    local heap
    heap=$(jvm "$1" heap)
    [ -n "$heap" ] && [ "$heap" -gt 0 ] && [ "$(mib "$heap")" -le $(( $2 / 2 )) ]
}
# row HOW PREFIX: a line of the table from what the JVM of PREFIX saw
row() {
    local heap
    heap=$(jvm "$2" heap)
    ROWS+=("| $1 | Memory Limit $(jvm "$2" memory), CPU Quota $(jvm "$2" quota) | ${heap:+$(mib "$heap") MiB} |")
}
# the checks of one JVM (PREFIX) in a box limited to MEMORY (256 or 512,
# MiB) with 1.5 CPUs
saw() {
    local prefix=$1 memory=$2
    check "$prefix: the JVM's memory limit is the box's, $memory.00M" eq "$(jvm "$prefix" memory)" "$memory.00M"
    check "$prefix: its CPU quota is the box's, 150000us" eq "$(jvm "$prefix" quota)" 150000us
    check "$prefix: its default heap is at most half of that ($(jvm "$prefix" heap) bytes)" within "$prefix" "$memory"
}

# ------------------------------------------------------- guest tools ----
# What the JVM sees, in one start: "jvm-memory 256.00M", "jvm-quota
# 150000us", "jvm-cpus 2", "jvm-heap BYTES".
cat >/tmp/jvm.sh <<'EOF'
#!/bin/sh
out=$(java -XshowSettings:system -XX:+PrintFlagsFinal -version 2>&1)
echo "$out" | sed -n 's/^ *Memory Limit: /jvm-memory /p; s/^ *CPU Quota: /jvm-quota /p; s/^ *Effective CPU Count: /jvm-cpus /p'
echo "$out" | awk '$2 == "MaxHeapSize" { print "jvm-heap " $4 }'
echo "jvm-cgroup $(cut -d: -f3 /proc/self/cgroup)"
EOF
# The job: the JVM's view, a handshake while the box is set, the JVM's
# view again (a new JVM: it reads its limits when it starts). With
# "nested", each JVM is started by a cgbox run inside the job's box.
cat >/tmp/job.sh <<'EOF'
#!/bin/sh
name=$1 mode=$2
# A box whose job runs beside its nested runs gives them controllers once
# its own processes are in a leaf (the no-internal-process rule).
[ "$mode" = nested ] && { cgbox prepare >/dev/null || exit 1; }
jvm() { if [ "$mode" = nested ]; then cgbox run --quiet -- /tmp/jvm.sh; else /tmp/jvm.sh; fi; }
jvm | sed 's/^/before /'
echo ready >"/tmp/$name.ready"
read -r _ <"/tmp/$name.go"
jvm | sed 's/^/after /'
EOF
# twice.sh NAME [nested] CGBOX-RUN-OPTIONS...: job.sh in the box NAME of a
# cgbox run, the box set to 512M between its two JVMs. Both handshakes
# are FIFOs: the job blocks until the box is set, the driver until the
# job's first JVM is done.
cat >/tmp/twice.sh <<'EOF'
#!/bin/sh
name=$1; shift
mode=; [ "$1" = nested ] && { mode=nested; shift; }
rm -f "/tmp/$name.ready" "/tmp/$name.go"
mkfifo "/tmp/$name.ready" "/tmp/$name.go"
cgbox run --quiet --name "$name" "$@" -- /tmp/job.sh "$name" $mode &
job=$!
read -r _ <"/tmp/$name.ready"
cgbox set "$name" --memory 512M >&2
echo go >"/tmp/$name.go"
wait $job
EOF
chmod 0755 /tmp/jvm.sh /tmp/job.sh /tmp/twice.sh
# Every case in a delegated unit, its own processes moved into a leaf.
unit() { echo "systemd-run -p Delegate=yes --wait --pipe --collect -q sh -c 'cgbox prepare >/dev/null && $1'"; }

# ---------------------------------------------------------- the host ----
echo "##### the guest"
echo "kernel $(uname -r); $(systemctl --version | head -n1); memory $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
echo "cgroup2: $(findmnt -n -o OPTIONS $CG)"
echo "cgbox: $(cgbox --version)"
echo "java: $(java -version 2>&1 | head -n1)"
echo "failed units at the start: [$(failed_units)]"

# ========================================================== issue 25 ====
begin jvm-unboxed "a JVM outside any box plans for the whole VM (what the others are compared with)"
run /tmp/jvm.sh
check "memory: Unlimited" eq "$(jvm "" memory)" Unlimited
check "a heap of more than 128 MiB" test "$(mib "$(jvm "" heap)")" -gt 128
row "\`java ...\` outside any box" ""
end

begin jvm-run "cgbox run --memory 256M --cpus 1.5 -- java, then set to 512M and a new java in the same box"
run "$(unit '/tmp/twice.sh r1 --memory 256M --cpus 1.5')"
check "exit 0" eq "$RC" 0
saw before 256; saw after 512
row "\`cgbox run --memory 256M --cpus 1.5 -- java ...\`" before
row "the same box after \`cgbox set NAME --memory 512M\`, a new java" after
left_clean
end

begin jvm-run-cgroupns "cgbox run --cgroupns --memory 256M --cpus 1.5 -- java: the box is the JVM's whole cgroup tree"
run "$(unit '/tmp/twice.sh r2 --cgroupns --memory 256M --cpus 1.5')"
check "exit 0" eq "$RC" 0
check "the JVM's cgroup is / (the namespace root)" eq "$(jvm before cgroup)" /
saw before 256; saw after 512
row "\`cgbox run --cgroupns --memory 256M --cpus 1.5 -- java ...\`" before
row "the same box after \`cgbox set\`, a new java" after
left_clean
end

begin jvm-exec "cgbox create a1 --memory 256M --cpus 1.5; cgbox exec a1 -- java (and --cgroupns), before and after cgbox set a1 --memory 512M"
ex() { echo "cgbox exec a1 --quiet $2 -- /tmp/jvm.sh | sed \"s/^/$1 /\""; }
run "$(unit "cgbox create a1 --memory 256M --cpus 1.5 >/dev/null && $(ex before) && $(ex before-ns --cgroupns) && cgbox set a1 --memory 512M >&2 && $(ex after) && $(ex after-ns --cgroupns); cgbox kill a1")"
check "exit 0" eq "$RC" 0
check "exec: the JVM runs in a1/exec/agents/<id>" eq "$(jvm before cgroup | grep -c '/cgbox/agents/a1/exec/agents/')" 1
saw before 256; saw before-ns 256; saw after 512; saw after-ns 512
row "\`cgbox create a1 --memory 256M --cpus 1.5\`, then \`cgbox exec a1 -- java ...\`" before
row "\`cgbox exec a1 --cgroupns -- java ...\`" before-ns
row "\`cgbox set a1 --memory 512M\`, then \`cgbox exec a1 -- java ...\`" after
row "... and \`cgbox exec a1 --cgroupns -- java ...\`" after-ns
left_clean
end

begin jvm-nested "cgbox run --memory 256M --cpus 1.5 -- cgbox run -- java (the per-agent pattern inside a limited box)"
run "$(unit 'cgbox run --quiet --memory 256M --cpus 1.5 -- cgbox run --quiet -- /tmp/jvm.sh')"
check "exit 0" eq "$RC" 0
check "the JVM runs in a box inside the run's box" eq "$(jvm "" cgroup | grep -c '/cgbox/agents/.*/cgbox/agents/')" 1
saw "" 256
row "\`cgbox run --memory 256M --cpus 1.5 -- cgbox run -- java ...\` (nested)" ""
left_clean
end

begin jvm-nested-set "a job that starts JVMs by cgbox run inside its box, beside its own shell (cgbox prepare first), before and after the box is set to 512M"
run "$(unit '/tmp/twice.sh o1 nested --memory 256M --cpus 1.5')"
check "exit 0" eq "$RC" 0
check "the JVM runs in a box inside the box o1" eq "$(jvm before cgroup | grep -c '/agents/o1/cgbox/agents/')" 1
saw before 256; saw after 512
row "a job's \`cgbox run -- java ...\` inside its box (256M, 1.5 CPUs)" before
row "the same after \`cgbox set\` of the job's box to 512M" after
left_clean
end

# ========================================================= the end ====
echo; echo "##### end state"
begin end-state "nothing of cgbox left; no failed unit"
check "no cgroup of cgbox" no_cgbox_cgroups
fu=$(failed_units)
check "no failed unit [$fu]" eq "$fu" ""
end

echo
echo "##### what the JVM sees (Linux $(uname -r), $(java -version 2>&1 | head -n1), VM memory $(sed -n 's/^MemTotal: *//p' /proc/meminfo))"
echo "| how the JVM was started | what the JVM sees | default max heap |"
echo "|---|---|---|"
printf '%s\n' "${ROWS[@]}"
ms=$(( ($(date +%s%N) - T0) / 1000000 ))
echo
echo "jvm cases took $((ms / 1000)) s"
[ -z "$failures" ] || echo "failed:$failures"
echo "jvm: $passed passed, $failed failed"
[ "$failed" = 0 ]
