#!/bin/sh
# tests/vm/mirror.sh: print the Debian mirror this machine's apt uses (the
# first URI of its sources), so that no mirror's host is written into the
# repository. Exits 1, saying so, when apt names none.
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
if [ -z "$mirror" ]; then
    echo "mirror.sh: no Debian mirror in apt's sources (/etc/apt/sources.list{,.d/})" >&2
    exit 1
fi
echo "$mirror"
