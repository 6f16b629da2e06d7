#!/bin/sh
# The do-it-yourself way pxebootd replaces, used as the baseline of the lease-to-ready benchmark:
# a dnsmasq --dhcp-script that, for each new lease, makes the node's overlay, mounts it, appends an
# export line, runs `exportfs -r` and writes the pxelinux config. dnsmasq calls it as
#   diy-dhcp-script.sh add|old|del MAC IP [HOSTNAME]
# Settings come from the environment (dnsmasq passes its own through): DIY_ROOT (lower dir),
# DIY_NODES (node_dir), DIY_OVERLAY (overlay_dir), DIY_EXPORTS (exports file), DIY_TFTP (tftp root),
# DIY_FSID (a file holding the next fsid), DIY_SERVER, DIY_EXPORTFS (default exportfs).
# Like most such scripts found in the wild it trusts its input; pxebootd validates it.
set -e
op=$1 mac=$2 ip=$3
[ "$op" = add ] || exit 0
node=$(printf '%02X%02X%02X%02X' $(echo "$ip" | tr . ' '))
up=$DIY_OVERLAY/$node
mkdir -p "$up/upper" "$up/work" "$DIY_NODES/$node"
mountpoint -q "$DIY_NODES/$node" || mount -t overlay overlay \
  -o "lowerdir=$DIY_ROOT,upperdir=$up/upper,workdir=$up/work,index=on,nfs_export=on" "$DIY_NODES/$node"
fsid=$(cat "$DIY_FSID"); echo $((fsid + 1)) > "$DIY_FSID"
echo "$DIY_NODES/$node $ip(rw,no_root_squash,no_subtree_check,sync,fsid=$fsid)" >> "$DIY_EXPORTS"
${DIY_EXPORTFS:-exportfs} -r
cfg=$DIY_TFTP/pxelinux.cfg/01-$(echo "$mac" | tr : -)
cat > "$cfg.tmp" <<EOC
DEFAULT linux
LABEL linux
  KERNEL vmlinuz
  APPEND initrd=initrd.img root=/dev/nfs nfsroot=$DIY_SERVER:$DIY_NODES/$node ip=dhcp rw
EOC
mv "$cfg.tmp" "$cfg"
