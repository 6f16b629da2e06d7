#!/usr/bin/env bash
# Installs the Debian packages pxebootd's tests and demo use: the real daemons (dnsmasq, tftpd-hpa,
# rsyslog, NFS-Ganesha, rpcbind, ISC dhcpd, Kea), the real clients (udhcpc, dhclient, tftp, libnfs)
# and QEMU with the iPXE ROM for the end-to-end boot; gcc builds the mount(2) addon. Needs root. Safe to re-run: it only calls
# apt-get when something is missing. Services are not started (tests start what they need).
set -euo pipefail
PKGS=(
  dnsmasq busybox-static isc-dhcp-client tftp-hpa tftpd-hpa atftp rsyslog tcpdump
  nfs-kernel-server nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils
  qemu-system-x86 ipxe-qemu pxelinux syslinux-common qemu-utils kmod cpio
  iproute2 procps util-linux systemd isc-dhcp-server kea-dhcp4-server
  gcc libc6-dev
  # UEFI e2e: OVMF (Secure Boot build + MS keys), Debian's iPXE EFI builds, a stock HTTP server. The signed
  # shim and GRUB are fetched with apt-get download by the test, never installed (their postinst touches the ESP).
  ovmf ipxe nginx-light
  rsync attr umoci skopeo xz-utils zstd libcap2-bin
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The end-to-end test fetches the guest kernel with `apt-get download`, which needs package lists.
have_lists() { apt-cache policy linux-image-amd64 2>/dev/null | grep -q 'Candidate: [0-9]'; }
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
