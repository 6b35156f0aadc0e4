#!/bin/sh
# tests/vm/setup.sh: install what the real-kernel suite needs (Debian, as root).
#   qemu-system-x86          the VM (TCG; KVM is used when it really works)
#   linux-image-cloud-amd64  Debian's cloud kernel: every cgroup controller and PSI built in
#   busybox-static           the guest's userland
#   cpio                     to pack the initramfs
#   rust target x86_64-unknown-linux-musl   static test binaries
# Host side effects: the kernel package pulls in initramfs-tools and udev; on
# images that carry a backported qemu-utils, that package is replaced by
# bookworm's (qemu-system-x86 7.2 cannot coexist with qemu-utils 10).
set -eu
export DEBIAN_FRONTEND=noninteractive
need=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || need="$need linux-image-cloud-amd64"
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
echo "setup: ready"
