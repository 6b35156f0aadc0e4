#!/bin/sh
# tests/vm/guest-oops.sh CONSOLE_LOG: did the guest kernel crash?
#
# Exit 0 and print the crash (from a few lines before its first line to the
# end of the panic, at most 100 lines, carriage returns removed) when the
# console shows a kernel oops or panic; exit 1, printing nothing, when it
# shows none; exit 2 when the log cannot be read.
#
# Why: under TCG with several vCPU threads, QEMU can race the kernel's live
# code patching (text_poke: an int3 is written over an instruction while
# another vCPU runs a stale translation of it), and the guest dies with
# `Oops: int3` in the middle of a test. That is the emulator's fault, not
# the test's, so tests/vm/boot.sh and tests/vm/systemd/run.sh boot such a
# run once more (single-threaded TCG) instead of failing it; a test that
# fails without a crash on the console is a failure, never retried.
#
# What counts (the kernel's own words, x86):
#   Oops: ...                       die() since 6.9: "Oops: int3: 0000 [#1] ..."
#   <what>: NNNN [#N]               die() before 6.9: "int3: 0000 [#1] SMP NOPTI",
#                                   "general protection fault, ...: 0000 [#1] ..."
#   Kernel panic - not syncing      panic(), also after an oops with oops=panic
#   kernel BUG at FILE:LINE!        BUG()
#   BUG: kernel NULL pointer dereference, BUG: unable to handle ...  (page faults)
#   general protection fault
# Not counted: a user program's words ("thread 'x' panicked at", a test's
# own "BUG"), and the kernel's warnings that do not kill it (WARNING:,
# "BUG: soft lockup", RCU stall reports: a slow, loaded host shows them).
# tests/vm_console.rs runs this on the consoles in fixtures/consoles/.
set -eu
[ $# = 1 ] || { echo "usage: guest-oops.sh CONSOLE_LOG" >&2; exit 2; }
[ -r "$1" ] || { echo "guest-oops.sh: cannot read $1" >&2; exit 2; }
LC_ALL=C awk '
    { sub(/\r+$/, ""); line[NR] = $0 }
    !first && (/Oops: / || /: [0-9a-f][0-9a-f][0-9a-f][0-9a-f] \[#[0-9]+\]/ ||
               /Kernel panic - not syncing/ || /kernel BUG at / ||
               /BUG: kernel NULL pointer dereference/ || /BUG: unable to handle / ||
               /general protection fault/) { first = NR }
    first && !last && /---\[ end Kernel panic/ { last = NR }
    END {
        if (!first) exit 1
        from = first - 3; if (from < 1) from = 1
        to = last ? last : NR; if (to > from + 99) to = from + 99
        for (i = from; i <= to; i++) print line[i]
    }
' "$1"
