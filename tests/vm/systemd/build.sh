#!/usr/bin/env bash
# tests/vm/systemd/build.sh: the disk image of the systemd VM (Debian
# bookworm, systemd 252 as PID 1, cgroup2 unified, logind, a user manager),
# for tests/vm/systemd/run.sh. Run as root.
#
# Cached in $CGBOX_SYSVM_CACHE (default /var/cache/cgbox-vm/systemd), never
# in the checkout:
#   base-<key>/    debootstrap --variant=minbase of $SUITE with $PKGS; <key>
#                  is a hash of the suite and the package list, so it is made
#                  again only when they change (about 40 s)
#   root.img       ext4 image of a copy of base-<key>/, configured below
#   root.stamp     hash of this script: the image is made again only when
#                  this script changed (or root.img is missing)
# cgbox is not in the image: it travels with each run (run.sh FILES).
#
# Installs what it needs on the host with apt (tests/vm/setup.sh for QEMU,
# the cloud kernel and the musl target; debootstrap and e2fsprogs here).
# CGBOX_SYSVM_REBUILD=1 starts over, debootstrap included.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SELF=$HERE/$(basename "$0")
CACHE=${CGBOX_SYSVM_CACHE:-/var/cache/cgbox-vm/systemd}
SUITE=bookworm
PKGS=systemd,systemd-sysv,dbus,dbus-user-session,util-linux,procps,libpam-systemd
# Container runtimes for the container cases (Debian's own: podman 4.3 with
# crun 1.8, docker.io 20.10 with containerd and runc), uidmap for rootless
# podman's newuidmap/newgidmap. debootstrap does not resolve virtual
# packages: podman's container-network-stack is named here as
# containernetworking-plugins. The JVM is for a later issue's case;
# installed now so that the image is not debootstrapped again for it.
PKGS=$PKGS,podman,crun,conmon,containernetworking-plugins,uidmap,docker.io,openjdk-17-jre-headless
log() { echo "systemd-vm build: $*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (apt-get, debootstrap, chroot)"
t0=$(date +%s)
mkdir -p "$CACHE"
# One build at a time (check.sh of several engineers may race here).
exec 9>"$CACHE/.build.lock"
flock 9

if [ "${CGBOX_SYSVM_REBUILD:-0}" = 1 ]; then
    rm -rf "$CACHE"/base-* "$CACHE/root" "$CACHE/root.img" "$CACHE/root.stamp"
fi

stamp=$(sha256sum "$SELF" | cut -c1-16)
if [ -r "$CACHE/root.img" ] && [ "$(cat "$CACHE/root.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "$CACHE/root.img is up to date (stamp $stamp)"
    exit 0
fi

# ---------------------------------------------------------- host needs ----
sh "$HERE/../setup.sh" >&2 || die "tests/vm/setup.sh failed"
missing=""
command -v debootstrap >/dev/null || missing="$missing debootstrap"
command -v mkfs.ext4 >/dev/null || missing="$missing e2fsprogs"
if [ -n "$missing" ]; then
    log "apt-get install$missing"
    apt-get update -q >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
fi

# --------------------------------------------------------- debootstrap ----
key=$(echo "$SUITE $PKGS" | sha256sum | cut -c1-12)
BASE=$CACHE/base-$key
if [ ! -e "$BASE/.debootstrap-ok" ]; then
    rm -rf "$CACHE"/base-* 
    MIRROR=$(sh "$HERE/../mirror.sh") || die "no Debian mirror in apt's sources"
    log "debootstrap $SUITE (minbase + $PKGS) from $MIRROR -> $BASE"
    t1=$(date +%s)
    debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$BASE.new" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    rm -rf "$BASE.new/var/cache/apt/archives"/*.deb
    touch "$BASE.new/.debootstrap-ok"
    mv "$BASE.new" "$BASE"
    log "debootstrap took $(( $(date +%s) - t1 )) s"
fi

# ----------------------------------------------------------- configure ----
# Always on a fresh copy of the base: nothing from an older recipe survives.
R=$CACHE/root
rm -rf "$R"
cp -a "$BASE" "$R"
log "configuring $R"
echo sysvm >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 sysvm\n' >"$R/etc/hosts"
: >"$R/etc/fstab"                        # the kernel mounts root rw (root=... rw)
# A fixed machine-id: not a first boot, no systemd-firstboot questions.
echo 5ca1ab1e0c9b0c9b0c9b0c9b0c9b0c9b >"$R/etc/machine-id"
chroot "$R" useradd -m -u 1000 -U -s /bin/bash u
chroot "$R" passwd -d root >/dev/null
# u's user manager (user@1000.service) starts at boot, as after a first login.
mkdir -p "$R/var/lib/systemd/linger"
touch "$R/var/lib/systemd/linger/u"
# No login prompts, nothing periodic, no first-boot wizard; no module
# loading (the guest has no modules) and no e2scrub (a second per boot).
for unit in getty@.service serial-getty@.service console-getty.service autovt@.service \
    systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-tmpfiles-clean.timer \
    modprobe@.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$unit"
done
ln -sf /lib/systemd/system/multi-user.target "$R/etc/systemd/system/default.target"
# The container engines start only when a case starts them: nothing of them
# at boot (their units would fail or slow the boot, and the cases count
# failed units).
for want in sockets.target.wants/docker.socket sockets.target.wants/podman.socket \
    default.target.wants/podman.service default.target.wants/podman-auto-update.service \
    default.target.wants/podman-restart.service timers.target.wants/podman-auto-update.timer \
    multi-user.target.wants/docker.service multi-user.target.wants/containerd.service; do
    rm -f "$R/etc/systemd/system/$want"
done
# The guest runs the host's kernel without its modules: no overlayfs, no
# bridge, no netfilter. Containers store images as plain directories (vfs:
# the image is a few empty directories, the VM's /usr is bind-mounted) and
# run with --network none; docker makes no bridge and no iptables rules.
printf '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' \
    >"$R/etc/containers/storage.conf"
mkdir -p "$R/etc/docker"
printf '{"storage-driver": "vfs", "bridge": "none", "iptables": false, "ip6tables": false, "ip-masq": false}\n' \
    >"$R/etc/docker/daemon.json"
# Rootless podman as u: subordinate ids for its user namespace.
echo "u:100000:65536" >"$R/etc/subuid"
echo "u:100000:65536" >"$R/etc/subgid"
mkdir -p "$R/etc/systemd/journald.conf.d" "$R/etc/systemd/system/multi-user.target.wants"
printf '[Journal]\nStorage=volatile\n' >"$R/etc/systemd/journald.conf.d/vmtest.conf"

# The runner: unpacks the per-run payload (a raw tar on the second NVMe
# namespace) to /, runs /vmtest/test.sh with its output on the console
# (ttyS0), writes its status on ttyS1 and powers off.
mkdir -p "$R/usr/local/sbin" "$R/usr/local/bin"
cat >"$R/usr/local/sbin/vmtest-runner" <<'RUNNER'
#!/bin/bash
exec </dev/null >/dev/ttyS0 2>&1
stty -F /dev/ttyS0 -onlcr 2>/dev/null || true
report() { echo "$1" >/dev/ttyS1; sync; systemctl poweroff --no-block; exit 0; }
if [ -b /dev/nvme0n2 ]; then
    tar -xf /dev/nvme0n2 -C / || { echo "vmtest: cannot unpack the payload"; report 125; }
fi
[ -x /vmtest/test.sh ] || { echo "vmtest: no /vmtest/test.sh in the payload"; report 125; }
state=$(timeout 120 systemctl is-system-running --wait 2>&1)
echo "=== vmtest: system $state; test.sh starts (uptime $(cut -d' ' -f1 /proc/uptime) s) ==="
cd /vmtest
/vmtest/test.sh
rc=$?
echo "=== vmtest: test.sh exit $rc (uptime $(cut -d' ' -f1 /proc/uptime) s) ==="
report $rc
RUNNER
chmod 0755 "$R/usr/local/sbin/vmtest-runner"
# A plain service: not delegated, like most services on a systemd host.
cat >"$R/etc/systemd/system/vmtest.service" <<'UNIT'
[Unit]
Description=the VM's test script (/vmtest/test.sh)
After=systemd-logind.service dbus.service systemd-user-sessions.service
Wants=systemd-logind.service dbus.service

[Service]
Type=simple
ExecStart=/usr/local/sbin/vmtest-runner
StandardInput=null
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/vmtest.service "$R/etc/systemd/system/multi-user.target.wants/vmtest.service"

# --------------------------------------------------------------- image ----
log "making $CACHE/root.img"
rm -f "$CACHE/root.img.new"
truncate -s 2G "$CACHE/root.img.new"
mkfs.ext4 -q -F -L vmtest-root -E root_owner=0:0 -d "$R" "$CACHE/root.img.new"
mv "$CACHE/root.img.new" "$CACHE/root.img"
rm -rf "$R"                              # the image holds it; the base stays
echo "$stamp" >"$CACHE/root.stamp"
log "done in $(( $(date +%s) - t0 )) s: $CACHE/root.img (stamp $stamp)"
