// Assets for the end-to-end PXE test: a Debian kernel with only the modules the initramfs needs
// (cached in .cache/e2e, because the package is ~70 MB to fetch and ~500 MB unpacked), plus the
// small things every run builds itself: the busybox initramfs, the NFS root image and the TFTP root.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync, lstatSync, readlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { requireTool } from './lab.ts';

/** Repository root (this file lives in test/helpers). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const E2E_CACHE = path.join(REPO_ROOT, '.cache', 'e2e');

/** Modules the initramfs loads: the NIC QEMU gives the guest, and the NFS client (deps follow). */
const GUEST_MODULES = ['virtio_pci', 'virtio_net', 'nfsv4', 'nfsv3'];

export interface KernelAssets {
  /** e.g. "6.1.0-56-amd64" */
  version: string;
  vmlinuz: string;
  /** a tree holding lib/modules/<version>/ with only GUEST_MODULES and their deps, depmod'ed */
  moduleRoot: string;
}

function run(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`e2e assets: ${cmd} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** The kernel package linux-image-amd64 points at, or undefined when apt knows none. */
function wantedKernelPackage(): string | undefined {
  let out = '';
  try {
    out = run('apt-cache', ['depends', 'linux-image-amd64']);
  } catch {
    return undefined;
  }
  const m = /Depends:\s+(linux-image-\d[^\s]*-amd64)/.exec(out);
  return m?.[1];
}

/**
 * Cached kernel: `apt-get download` + `dpkg -x` into a scratch dir, keep vmlinuz and the modules
 * the initramfs needs, depmod the slim tree, delete the rest. Rebuilt only when missing.
 */
export function ensureKernel(cacheDir = E2E_CACHE): KernelAssets {
  const pkg = wantedKernelPackage();
  const kernelsDir = path.join(cacheDir, 'kernel');
  let version = pkg?.replace(/^linux-image-/, '');
  if (!version) {
    // apt cannot tell (no lists): use whatever is cached, else fail loudly
    const cached = existsSync(kernelsDir) ? readdirSync(kernelsDir).filter((d) => existsSync(path.join(kernelsDir, d, 'vmlinuz'))) : [];
    if (cached.length === 0) throw new Error('e2e assets: apt-cache depends linux-image-amd64 gave no kernel package and none is cached; run apt-get update');
    version = cached.sort().at(-1)!;
  }
  const dir = path.join(kernelsDir, version);
  const assets: KernelAssets = { version, vmlinuz: path.join(dir, 'vmlinuz'), moduleRoot: path.join(dir, 'modroot') };
  if (existsSync(assets.vmlinuz) && existsSync(path.join(assets.moduleRoot, 'lib', 'modules', version, 'modules.dep'))) return assets;

  for (const t of ['apt-get', 'dpkg', 'depmod', 'modprobe']) requireTool(t);
  const scratch = path.join(cacheDir, 'scratch');
  rmSync(scratch, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    run('apt-get', ['download', `linux-image-${version}`], scratch);
    const deb = readdirSync(scratch).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`e2e assets: apt-get download linux-image-${version} left no .deb in ${scratch}`);
    const x = path.join(scratch, 'x');
    run('dpkg', ['-x', path.join(scratch, deb), x]);
    rmSync(path.join(scratch, deb));
    // the .deb ships no modules.dep: build it on the full tree, ask modprobe for the closure
    run('depmod', ['-b', x, version]);
    const files = new Set<string>();
    for (const m of GUEST_MODULES) {
      for (const line of run('modprobe', ['-d', x, '-S', version, '--show-depends', m]).split('\n')) {
        const f = /^insmod\s+(\S+)/.exec(line)?.[1];
        if (f) files.add(f);
      }
    }
    if (files.size === 0) throw new Error(`e2e assets: modprobe --show-depends found no modules for ${GUEST_MODULES.join(', ')} in ${x}`);
    const staging = path.join(scratch, 'slim');
    const modroot = path.join(staging, 'modroot');
    for (const f of files) {
      const rel = path.relative(x, f);
      mkdirSync(path.join(modroot, path.dirname(rel)), { recursive: true });
      copyFileSync(f, path.join(modroot, rel));
    }
    const kmods = path.join('lib', 'modules', version);
    for (const f of readdirSync(path.join(x, kmods)).filter((n) => n === 'modules.order' || n.startsWith('modules.builtin'))) {
      copyFileSync(path.join(x, kmods, f), path.join(modroot, kmods, f));
    }
    run('depmod', ['-b', modroot, version]);
    copyFileSync(path.join(x, 'boot', `vmlinuz-${version}`), path.join(staging, 'vmlinuz'));
    mkdirSync(kernelsDir, { recursive: true });
    renameSync(staging, dir);
    // a newer Debian kernel replaces the cached one; do not let old ones pile up
    for (const old of readdirSync(kernelsDir)) if (old !== version) rmSync(path.join(kernelsDir, old), { recursive: true, force: true });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return assets;
}

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev $interface; ip link set $interface up ;;
  bound|renew) ip addr add $ip/\${mask:-24} dev $interface; [ -n "$router" ] && ip route add default via \${router%% *}
               echo "E2E-MARKER initramfs: udhcpc $1 ip=$ip server=$serverid" ;;
esac
`;

// Kernel args: nfsroot=SERVER:PATH (from the pxebootd template). The Debian kernel has no IP_PNP
// and NFS as modules, so this init does DHCP and the NFSv4.1 mount itself.
const INITRAMFS_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
echo "E2E-MARKER initramfs: init started at uptime $(cut -d' ' -f1 /proc/uptime)"
for x in $(cat /proc/cmdline); do case $x in nfsroot=*) NFSROOT=\${x#nfsroot=};; esac; done
modprobe virtio_pci; modprobe virtio_net
i=0; while ! ip link show eth0 >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
udhcpc -i eth0 -q -n -t 10 -T 1 -s /udhcpc.script -x hostname:e2e-guest || echo "E2E-MARKER initramfs: DHCP FAILED"
if [ -n "$NFSROOT" ]; then
  modprobe nfsv4; modprobe nfsv3
  SRV=\${NFSROOT%%:*}
  echo "E2E-MARKER initramfs: mounting $NFSROOT (vers=4.1,addr=$SRV)"
  if mount -t nfs4 -o vers=4.1,addr=$SRV $NFSROOT /newroot; then
    echo "E2E-MARKER initramfs: nfs mounted at uptime $(cut -d' ' -f1 /proc/uptime)"
    umount /sys /proc
    exec switch_root /newroot /sbin/init
  fi
  echo "E2E-MARKER initramfs: NFS MOUNT FAILED"; cat /proc/mounts
else
  echo "E2E-MARKER initramfs: NO NFSROOT on the kernel command line: $(cat /proc/cmdline)"
fi
poweroff -f
`;

/** Build a busybox-static initramfs (gzip'ed newc cpio) that DHCPs and switch_roots to an NFSv4.1 root. */
export function buildInitramfs(kernel: KernelAssets, workDir: string, out: string): void {
  for (const t of ['cpio', 'gzip', 'depmod']) requireTool(t);
  const busybox = '/bin/busybox';
  // a dynamic busybox would need its libc inside the initramfs: insist on busybox-static
  if (!existsSync(busybox) || readFileSync(busybox).subarray(0, 4096).includes('ld-linux')) {
    throw new Error('e2e assets: /bin/busybox missing or dynamically linked; install busybox-static');
  }
  const s = path.join(workDir, 'initramfs');
  rmSync(s, { recursive: true, force: true });
  for (const d of ['bin', 'dev', 'proc', 'sys', 'newroot', 'etc']) mkdirSync(path.join(s, d), { recursive: true });
  copyFileSync(busybox, path.join(s, 'bin', 'busybox'));
  chmodSync(path.join(s, 'bin', 'busybox'), 0o755);
  copyTree(path.join(kernel.moduleRoot, 'lib'), path.join(s, 'lib'));
  run('depmod', ['-b', s, kernel.version]);
  writeFileSync(path.join(s, 'udhcpc.script'), UDHCPC_SCRIPT, { mode: 0o755 });
  writeFileSync(path.join(s, 'init'), INITRAMFS_INIT, { mode: 0o755 });
  run('sh', ['-c', 'find . | cpio -o -H newc --quiet | gzip -1 > "$1"', 'mk-initramfs', out], s);
  rmSync(s, { recursive: true, force: true });
}

// The NFS root's init: proves it runs from NFS (prints the root mount), writes /written-by-guest
// with the run id and its own IP, and, when /etc/e2e/hold-<ip> exists, waits that many seconds and
// writes /written-by-guest-2 (so the restart scenario can kill pxebootd while the guest is live).
const LOWER_INIT = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
echo "E2E-MARKER nfsroot: /sbin/init running from NFS root at uptime $($B cut -d' ' -f1 /proc/uptime)"
ROOT=$($B grep ' / ' /proc/mounts | $B tail -n 1)
echo "E2E-MARKER nfsroot: root mount: $ROOT"
IP=$(echo "$ROOT" | $B sed -n 's/.*clientaddr=\\([0-9.]*\\).*/\\1/p')
RUN=$($B cat /etc/e2e/run-id)
LINE="run=$RUN ip=$IP uptime=$($B cut -d' ' -f1 /proc/uptime)"
echo "$LINE" > /written-by-guest && $B sync && echo "E2E-MARKER nfsroot: wrote /written-by-guest: $LINE"
if [ -f /etc/e2e/hold-$IP ]; then
  H=$($B cat /etc/e2e/hold-$IP)
  echo "E2E-MARKER nfsroot: holding $H s"
  $B sleep $H
  LINE2="run=$RUN ip=$IP second uptime=$($B cut -d' ' -f1 /proc/uptime)"
  echo "$LINE2" > /written-by-guest-2 && $B sync && echo "E2E-MARKER nfsroot: wrote /written-by-guest-2: $LINE2"
fi
echo "E2E-MARKER nfsroot: powering off"
$B poweroff -f
`;

/** The shared lower image (`root_dir`): busybox + an init that proves it runs from NFS. */
export function buildLowerImage(dir: string, runId: string, holds: Record<string, number> = {}): void {
  for (const d of ['bin', 'sbin', 'etc/e2e', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(path.join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  writeFileSync(path.join(dir, 'sbin', 'init'), LOWER_INIT, { mode: 0o755 });
  writeFileSync(path.join(dir, 'etc', 'issue'), `pxebootd e2e lower image, run ${runId}\n`);
  writeFileSync(path.join(dir, 'etc', 'e2e', 'run-id'), `${runId}\n`);
  for (const [ip, secs] of Object.entries(holds)) writeFileSync(path.join(dir, 'etc', 'e2e', `hold-${ip}`), `${secs}\n`);
}

/** Populate a TFTP root with pxelinux.0, ldlinux.c32, the kernel and the initramfs. */
export function populateTftpRoot(tftpRoot: string, kernel: KernelAssets, initrd: string): void {
  const pxelinux = '/usr/lib/PXELINUX/pxelinux.0';
  const ldlinux = '/usr/lib/syslinux/modules/bios/ldlinux.c32';
  for (const f of [pxelinux, ldlinux]) if (!existsSync(f)) throw new Error(`e2e assets: ${f} missing; install pxelinux and syslinux-common`);
  mkdirSync(path.join(tftpRoot, 'pxelinux.cfg'), { recursive: true });
  copyFileSync(pxelinux, path.join(tftpRoot, 'pxelinux.0'));
  copyFileSync(ldlinux, path.join(tftpRoot, 'ldlinux.c32'));
  copyFileSync(kernel.vmlinuz, path.join(tftpRoot, 'vmlinuz'));
  copyFileSync(initrd, path.join(tftpRoot, 'initrd.img'));
}

/** A digest of a tree: every path, type, mode, size, link target and file content, in sorted order. */
export function hashTree(root: string): string {
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs);
    h.update(`${rel}\0${st.mode}\0${st.uid}:${st.gid}\0`);
    if (st.isSymbolicLink()) h.update(readlinkSync(abs));
    else if (st.isFile()) h.update(readFileSync(abs));
    else if (st.isDirectory()) for (const n of readdirSync(abs).sort()) walk(path.join(rel, n));
    h.update('\0');
  };
  walk('.');
  return h.digest('hex');
}

function copyTree(from: string, to: string): void {
  const st = statSync(from);
  if (st.isDirectory()) {
    mkdirSync(to, { recursive: true });
    for (const n of readdirSync(from)) copyTree(path.join(from, n), path.join(to, n));
  } else {
    copyFileSync(from, to);
  }
}

export interface UefiAssets {
  /** Debian's signed shim (shim-signed), served as shimx64.efi */
  shim: string;
  /** Debian's signed network GRUB (grub-efi-amd64-signed grubnetx64.efi.signed), served as grubx64.efi beside shim */
  grub: string;
  /** iPXE for UEFI from Debian's ipxe package (unsigned) */
  snponly: string;
  ipxeEfi: string;
  /** OVMF: Secure Boot build (SMM) with Microsoft's keys enrolled, and the plain build */
  ovmf: { secbootCode: string; msVars: string; code: string; vars: string };
}

const UEFI_PACKAGES: Record<string, string> = {
  'shim-signed': 'usr/lib/shim/shimx64.efi.signed',
  'grub-efi-amd64-signed': 'usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed',
};

/**
 * Signed shim and GRUB, cached in .cache/e2e/uefi/<package>_<version>/: fetched with `apt-get
 * download` + `dpkg -x`, never installed (their postinst would touch the host's ESP and GRUB).
 * OVMF and iPXE come from the installed ovmf and ipxe packages.
 */
export function ensureUefiAssets(cacheDir = E2E_CACHE): UefiAssets {
  const ovmf = {
    secbootCode: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
    msVars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
    code: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    vars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  };
  for (const f of Object.values(ovmf)) if (!existsSync(f)) throw new Error(`e2e assets: ${f} missing; install ovmf (scripts/install-deps.sh)`);
  const snponly = '/usr/lib/ipxe/snponly.efi';
  const ipxeEfi = '/usr/lib/ipxe/ipxe.efi';
  for (const f of [snponly, ipxeEfi]) if (!existsSync(f)) throw new Error(`e2e assets: ${f} missing; install ipxe (scripts/install-deps.sh)`);
  const got: Record<string, string> = {};
  for (const [pkg, inner] of Object.entries(UEFI_PACKAGES)) {
    let version = '';
    try {
      version = /Candidate:\s*(\S+)/.exec(run('apt-cache', ['policy', pkg]))?.[1] ?? '';
    } catch {
      /* no apt lists: use the cache */
    }
    const root = path.join(cacheDir, 'uefi');
    const cachedDirs = existsSync(root) ? readdirSync(root).filter((d) => d.startsWith(`${pkg}_`) && existsSync(path.join(root, d, path.basename(inner)))) : [];
    const want = version && version !== '(none)' ? `${pkg}_${version.replace(/[^A-Za-z0-9.+~_-]/g, '_')}` : cachedDirs.sort().at(-1);
    if (!want) throw new Error(`e2e assets: apt knows no ${pkg} and none is cached; run apt-get update`);
    const dir = path.join(root, want);
    const file = path.join(dir, path.basename(inner));
    if (!existsSync(file)) {
      const scratch = path.join(root, `scratch-${pkg}`);
      rmSync(scratch, { recursive: true, force: true });
      mkdirSync(scratch, { recursive: true });
      try {
        run('apt-get', ['download', pkg], scratch);
        const deb = readdirSync(scratch).find((f) => f.endsWith('.deb'));
        if (!deb) throw new Error(`e2e assets: apt-get download ${pkg} left no .deb in ${scratch}`);
        run('dpkg', ['-x', path.join(scratch, deb), path.join(scratch, 'x')]);
        mkdirSync(dir, { recursive: true });
        copyFileSync(path.join(scratch, 'x', inner), `${file}.part`);
        renameSync(`${file}.part`, file);
        for (const old of readdirSync(root)) if (old.startsWith(`${pkg}_`) && old !== want) rmSync(path.join(root, old), { recursive: true, force: true });
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    }
    got[pkg] = file;
  }
  return { shim: got['shim-signed']!, grub: got['grub-efi-amd64-signed']!, snponly, ipxeEfi, ovmf };
}
