#!/bin/sh
# tests/vm/capture-guest.sh: runs INSIDE the VM (busybox sh, as root, cgroup2
# at /sys/fs/cgroup with every controller enabled at the root) for
# tests/vm/capture-samples.sh. Makes boxes busy (live memory, OOM, pids.max,
# cpu.max throttling, io.max on the scratch disk, freezing, a fork bomb) and
# prints their interface files as
#   @@@ SCENARIO/FILE
#   <base64 of the content>
#   @@@ end
# Files a kernel does not have are not printed. Exits non-zero if a
# scenario did not happen (no OOM kill, no throttling ...).
set -u
CG=/sys/fs/cgroup
FAILS=0
fail() { echo "capture: FAILED: $*"; FAILS=$((FAILS + 1)); }
kv() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
in_cg() { cg=$1; shift; sh -c 'echo 0 > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"; }
dump() {   # dump SCENARIO DIR FILE...
    scenario=$1 dir=$2; shift 2
    for f in "$@"; do
        [ -e "$dir/$f" ] || continue
        echo "@@@ $scenario/$f"
        base64 <"$dir/$f"
        echo "@@@ end"
    done
}
wait_for() {   # wait_for FILE KEY VALUE: up to 20 s
    i=0
    while [ "$(kv "$1" "$2")" != "$3" ]; do
        i=$((i + 1)); [ $i -gt 400 ] && return 1; sleep 0.05
    done
}
kill_all() {   # kill_all DIR: cgroup.kill where there is one, else freeze + SIGKILL rounds
    if [ -e "$1/cgroup.kill" ]; then
        echo 1 >"$1/cgroup.kill"
    else
        r=0
        while [ "$(kv "$1/cgroup.events" populated)" = 1 ] && [ $r -lt 100 ]; do
            r=$((r + 1))
            echo 1 >"$1/cgroup.freeze"
            kill -9 $(cat "$1/cgroup.procs") 2>/dev/null
            echo 0 >"$1/cgroup.freeze"
            sleep 0.05
        done
    fi
    wait_for "$1/cgroup.events" populated 0 || fail "$1 still populated"
}
echo "capture: kernel $(uname -r)"

# live: ~4M anon and 8M tmpfs (shmem) held by a shell and its children
mkdir -p $CG/live /mnt/scratch && mount -t tmpfs tmpfs /mnt/scratch
in_cg $CG/live sh -c 'dd if=/dev/zero of=/mnt/scratch/shm bs=1M count=8 2>/dev/null
    x=$(head -c 4000000 /dev/zero | tr "\0" a); sleep 1000 & sleep 1000 & echo ready >/tmp/live.ready; wait' &
i=0; while [ ! -e /tmp/live.ready ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
sleep 0.5
dump live $CG/live cgroup.events cgroup.procs memory.current memory.stat pids.current pids.peak
kill_all $CG/live
rm -f /mnt/scratch/shm

# oom: memory.max 32M without swap, 100M allocated
mkdir $CG/oom
echo 32M >$CG/oom/memory.max
echo 0 >$CG/oom/memory.swap.max
in_cg $CG/oom dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null
[ "$(kv $CG/oom/memory.events oom_kill)" -ge 1 ] || fail "no OOM kill"
dump oom $CG/oom memory.current memory.events memory.events.local memory.max memory.peak \
    memory.pressure memory.stat memory.swap.peak memory.swap.events

# pids-max: pids.max 5, a shell forking 6 sleepers
mkdir $CG/pids-max
echo 5 >$CG/pids-max/pids.max
in_cg $CG/pids-max sh -c 'for i in 1 2 3 4 5 6; do sleep 1000 & done' 2>/dev/null
[ "$(kv $CG/pids-max/pids.events max)" -ge 1 ] || fail "no fork refused"
dump pids-max $CG/pids-max pids.current pids.events pids.events.local pids.max pids.peak
kill_all $CG/pids-max

# throttled: cpu.max 50 ms per 100 ms, two busy loops for 2 s
mkdir $CG/throttled
echo "50000 100000" >$CG/throttled/cpu.max
in_cg $CG/throttled sh -c 'timeout 2 yes >/dev/null & timeout 2 yes >/dev/null; wait'
[ "$(kv $CG/throttled/cpu.stat nr_throttled)" -gt 0 ] || fail "not throttled"
dump throttled $CG/throttled cpu.max cpu.pressure cpu.stat cpu.stat.local cpu.weight

# io: 16M written and 8M read with O_DIRECT, then 8M written under wbps=4M
mkdir $CG/io
DEV=/dev/nvme0n1
if [ -b $DEV ]; then
    MM=$(cat /sys/block/nvme0n1/dev)
    in_cg $CG/io dd if=/dev/zero of=$DEV bs=1M count=16 oflag=direct 2>/dev/null
    in_cg $CG/io dd if=$DEV of=/dev/null bs=1M count=8 iflag=direct 2>/dev/null
    echo "$MM wbps=4194304" >$CG/io/io.max
    in_cg $CG/io dd if=/dev/zero of=$DEV bs=1M count=8 oflag=direct 2>/dev/null
    dump io $CG/io io.max io.pressure io.stat io.weight
else
    fail "no scratch disk $DEV"
fi

# frozen: three sleepers, frozen
mkdir $CG/frozen
for i in 1 2 3; do in_cg $CG/frozen sleep 1000 & done
i=0; while [ "$(cat $CG/frozen/pids.current)" != 3 ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
echo 1 >$CG/frozen/cgroup.freeze
wait_for $CG/frozen/cgroup.events frozen 1 || fail "not frozen"
dump frozen $CG/frozen cgroup.events cgroup.freeze
kill_all $CG/frozen

# fork-bomb: pids.max 300, a bomb until forks are refused, then killed
mkdir $CG/fork-bomb
echo 300 >$CG/fork-bomb/pids.max
echo 256M >$CG/fork-bomb/memory.max
in_cg $CG/fork-bomb sh -c 'bomb() { bomb | bomb & }; bomb' 2>/dev/null &
i=0
while [ "$(kv $CG/fork-bomb/pids.events max)" = 0 ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
[ "$(kv $CG/fork-bomb/pids.events max)" -ge 1 ] || fail "the bomb never hit pids.max"
kill_all $CG/fork-bomb
wait
dump fork-bomb $CG/fork-bomb cgroup.events cgroup.stat

# limits: the limit files of a box with a few limits set
mkdir $CG/limits
echo 0 >$CG/limits/memory.swap.max
echo 5 >$CG/limits/cpu.weight.nice
dump limits $CG/limits cgroup.freeze cgroup.max.depth cgroup.max.descendants cgroup.stat \
    cpu.idle cpu.max.burst cpu.weight.nice memory.high memory.low memory.min memory.oom.group \
    memory.swap.current memory.swap.max pids.current

# root: the root cgroup after all of the above
for d in live oom pids-max throttled io frozen fork-bomb limits; do rmdir $CG/$d || fail "rmdir $d"; done
dump root $CG cgroup.stat cpu.pressure cpu.stat io.pressure io.stat memory.pressure

echo "capture: $FAILS failed"
[ $FAILS = 0 ]
