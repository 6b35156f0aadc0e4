#!/bin/sh
# tests/vm/setup.sh: install what the real-kernel suite needs (Debian, as root).
#   qemu-system-x86          the VM (TCG; KVM is used when it really works)
#   linux-image-cloud-amd64  Debian's cloud kernel (6.1 on bookworm): every cgroup
#                            controller and PSI built in
#   busybox-static           the guest's userland
#   cpio                     to pack the initramfs
#   rust target x86_64-unknown-linux-musl   static test binaries
# and fetches the other kernels of the suite into a cache, never installing
# them on the host (a separate sources list and apt state, `apt-get
# download`, `dpkg-deb -x`):
#   5.10  bullseye                      linux-image-5.10.0-N-cloud-amd64
#   6.12  trixie, bookworm-backports    linux-image-6.12.N+debM-cloud-amd64
# Each is a pinned package name, falling back to the newest of its series
# when the archive no longer has the pinned one. Their vmlinuz land at
#   $CGBOX_VM_CACHE/kernels/SERIES/vmlinuz   (default /var/cache/cgbox-vm)
# Debian's cloud kernels have NVMe, the 8250 serial console, devtmpfs and
# every cgroup controller built in, so tests/vm/boot.sh boots them with no
# module (proven for 5.10, 6.1 and 6.12).
# `tests/vm/setup.sh kernel-path SERIES` prints the vmlinuz of SERIES.
# Host side effects: the kernel package pulls in initramfs-tools and udev; on
# images that carry a backported qemu-utils, that package is replaced by
# bookworm's (qemu-system-x86 7.2 cannot coexist with qemu-utils 10).
set -eu
export DEBIAN_FRONTEND=noninteractive
CACHE=${CGBOX_VM_CACHE:-/var/cache/cgbox-vm}
KERNELS=$CACHE/kernels

# SERIES SUITES PINNED PATTERN (an extended regex for package names)
KERNEL_TABLE='
5.10 bullseye linux-image-5.10.0-32-cloud-amd64 ^linux-image-5\.10\.0-[0-9]+-cloud-amd64$
6.12 trixie,bookworm-backports linux-image-6.12.117+deb13-cloud-amd64 ^linux-image-6\.12\.[0-9]+\+deb[0-9]+(\.[0-9]+)?-cloud-amd64$
'

kernel_path() {   # the vmlinuz of a series, or nothing
    case $1 in
        6.1) ls -1 /boot/vmlinuz-6.1.*-cloud-amd64 2>/dev/null | sort -V | tail -n1 ;;
        *) [ -e "$KERNELS/$1/vmlinuz" ] && readlink -f "$KERNELS/$1/vmlinuz" || true ;;
    esac
}

if [ "${1:-}" = kernel-path ]; then
    kernel_path "${2:?series}"
    exit 0
fi

need=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
ls /boot/vmlinuz-6.1.*-cloud-amd64 >/dev/null 2>&1 || need="$need linux-image-cloud-amd64"
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || need="$need busybox-static"
command -v cpio >/dev/null 2>&1 || need="$need cpio"
if [ -n "$need" ]; then
    [ "$(id -u)" = 0 ] || { echo "setup: need root to install:$need" >&2; exit 1; }
    apt-get update -q
    extra=""
    # A backported qemu-utils blocks qemu-system-x86 from the base release.
    if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q bpo; then
        release=$(. /etc/os-release && echo "$VERSION_CODENAME")
        extra="--allow-downgrades qemu-utils/$release"
    fi
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $need $extra
fi
if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    rustup target add x86_64-unknown-linux-musl
fi

# ---- the other kernels: downloaded and unpacked into the cache ----
APT_DIR=$CACHE/apt
apt_opts() {
    echo "-o Dir::State=$APT_DIR/state -o Dir::State::status=$APT_DIR/state/status" \
        "-o Dir::Cache=$APT_DIR/cache -o Dir::Etc::SourceList=$APT_DIR/sources.list" \
        "-o Dir::Etc::SourceParts=$APT_DIR/sources.list.d -o Dir::Etc::Preferences=$APT_DIR/preferences" \
        "-o Dir::Etc::PreferencesParts=$APT_DIR/preferences.d -o APT::Architecture=amd64" \
        "-o Acquire::Languages=none -o APT::Sandbox::User=root -q"
}
apt_ready=""
apt_prepare() {   # the suites' indexes, in our own state directory (once per run)
    [ -n "$apt_ready" ] && return 0
    [ "$(id -u)" = 0 ] || { echo "setup: need root to fetch kernels into $CACHE" >&2; exit 1; }
    mkdir -p "$APT_DIR/state/lists/partial" "$APT_DIR/cache/archives/partial" \
        "$APT_DIR/sources.list.d" "$APT_DIR/preferences.d"
    : >"$APT_DIR/state/status"
    : >"$APT_DIR/preferences"
    # The mirror is the one this machine's apt already uses (no host name here).
    MIRROR=$(sh "$(dirname "$0")/mirror.sh") || exit 1
    suites=$(echo "$KERNEL_TABLE" | awk 'NF {print $2}' | tr ',' '\n' | sort -u)
    for s in $suites; do echo "deb $MIRROR $s main"; done >"$APT_DIR/sources.list"
    # shellcheck disable=SC2046
    apt-get $(apt_opts) update >"$APT_DIR/update.log" 2>&1 ||
        { cat "$APT_DIR/update.log" >&2; echo "setup: apt-get update of$(echo $suites | tr '\n' ' ') failed" >&2; exit 1; }
    apt_ready=1
}

fetch_kernel() {   # SERIES SUITES PINNED PATTERN
    series=$1 pinned=$3 pattern=$4
    [ -n "$(kernel_path "$series")" ] && return 0
    apt_prepare
    # shellcheck disable=SC2046
    if apt-cache $(apt_opts) show "$pinned" >/dev/null 2>&1; then
        pkg=$pinned
    else
        # shellcheck disable=SC2046
        pkg=$(apt-cache $(apt_opts) pkgnames linux-image- | grep -E "$pattern" | sort -V | tail -n1)
        [ -n "$pkg" ] || { echo "setup: no package of kernel $series in $2" >&2; exit 1; }
        echo "setup: $pinned is gone from the archive; taking $pkg, the newest of $series"
    fi
    tmp=$(mktemp -d "$CACHE/fetch.XXXXXX")
    # shellcheck disable=SC2046
    (cd "$tmp" && apt-get $(apt_opts) download "$pkg" >/dev/null) ||
        { rm -rf "$tmp"; echo "setup: apt-get download $pkg failed" >&2; exit 1; }
    dest=$KERNELS/$series/$pkg
    rm -rf "$dest"; mkdir -p "$dest"
    dpkg-deb -x "$tmp"/*.deb "$dest"
    rm -rf "$tmp"
    image=$(ls -1 "$dest"/boot/vmlinuz-* | head -n1)
    [ -r "$image" ] || { echo "setup: $pkg has no vmlinuz" >&2; exit 1; }
    ln -sfn "${image#"$KERNELS/$series/"}" "$KERNELS/$series/vmlinuz"
    echo "setup: kernel $series is $pkg ($image)"
}

echo "$KERNEL_TABLE" | while read -r series suites pinned pattern; do
    [ -n "$series" ] || continue
    fetch_kernel "$series" "$suites" "$pinned" "$pattern"
done
for series in 5.10 6.1 6.12; do
    [ -n "$(kernel_path $series)" ] || { echo "setup: no kernel $series" >&2; exit 1; }
done
echo "setup: ready (kernels: 5.10 $(basename "$(kernel_path 5.10)"), 6.1 $(basename "$(kernel_path 6.1)"), 6.12 $(basename "$(kernel_path 6.12)"))"
