#!/usr/bin/env bash
# TEST LAB ONLY, never a production install (that is the .deb: `npm run package`, README "Install
# as a service"). Installs the Debian packages pxebootd's tests, demo and packaging use: the real
# daemons (dnsmasq, tftpd-hpa, rsyslog, NFS-Ganesha, rpcbind, ISC dhcpd, Kea), the real clients
# (udhcpc, dhclient, tftp, libnfs), QEMU with the iPXE ROM, OVMF, nginx and memtest86+ for the end-to-end
# boots, umoci/skopeo/rsync/attr for images, gcc for the native addons, and the packaging tools
# (dpkg-dev, lintian, mmdebstrap and systemd-container for
# the .deb test). Needs root. Safe to re-run: it only calls apt-get when something is missing.
# It leaves no service running or enabled: a policy-rc.d keeps the packages' scripts from
# starting anything, and every unit the install enabled is disabled again (tests start their own
# copies; several DHCP and NFS servers enabled at boot would fight over the same ports).
set -euo pipefail
PKGS=(
  dnsmasq busybox-static isc-dhcp-client tftp-hpa tftpd-hpa atftp rsyslog tcpdump
  nfs-kernel-server nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils
  qemu-system-x86 ipxe-qemu pxelinux syslinux-common qemu-utils kmod cpio
  iproute2 procps util-linux systemd isc-dhcp-server kea-dhcp4-server
  gcc libc6-dev
  ovmf ipxe nginx-light memtest86+
  umoci skopeo rsync attr zstd xz-utils libcap2-bin
  dpkg-dev binutils lintian mmdebstrap systemd-container man-db init-system-helpers
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The end-to-end test fetches the guest kernel with `apt-get download`, which needs package lists.
have_lists() { apt-cache policy linux-image-amd64 2>/dev/null | grep -q 'Candidate: [0-9]'; }
# Units enabled at boot: the links in /etc/systemd/system/*.wants and *.requires, and the alias
# links next to them (rsyslog's syslog.service); not masks (links to /dev/null).
enabled_links() {
  find /etc/systemd/system -mindepth 1 -maxdepth 2 -type l \( -path '*.wants/*' -o -path '*.requires/*' -o ! -path '/etc/systemd/system/*/*' \) ! -lname /dev/null 2>/dev/null | sort
}
# Init scripts started at boot (tftpd-hpa and isc-dhcp-server ship no systemd unit: systemd runs
# /etc/init.d/NAME when /etc/rc[2-5].d/SNNNAME exists).
sysv_started() { find /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d -name 'S*' 2>/dev/null | sed 's|.*/S[0-9]*||' | sort -u; }
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} Debian packages present"
  if ! have_lists && [ "$(id -u)" -eq 0 ]; then apt-get update -qq; fi
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (apt-get install)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting the daemons we install: tests start their own copies.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
before=$(enabled_links)
before_sysv=$(sysv_started)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Disable what the install enabled. deb-systemd-helper records it, so that an upgrade of the
# package does not enable it again; it works without systemd as PID 1 (it only edits links).
added=$(comm -13 <(printf '%s\n' "$before") <(enabled_links))
for link in $added; do
  unit=$(basename "$link")
  deb-systemd-helper disable "$unit" >/dev/null 2>&1 || true
  [ -L "$link" ] && rm -f "$link"
  echo "install-deps: disabled $unit (enabled by its package; tests start their own copies)"
done
for name in $(comm -13 <(printf '%s\n' "$before_sysv") <(sysv_started)); do
  update-rc.d "$name" disable >/dev/null 2>&1 || true
  echo "install-deps: disabled init script $name (enabled by its package; tests start their own copies)"
done
left=$( (comm -13 <(printf '%s\n' "$before") <(enabled_links); comm -13 <(printf '%s\n' "$before_sysv") <(sysv_started)) | sed 's|.*/||')
if [ -n "$left" ]; then
  echo "install-deps: could not disable: $left" >&2
  exit 1
fi
echo "install-deps: done"
