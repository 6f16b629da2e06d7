// Shared set-up for the benchmarks: a lower root, a TFTP root, a pxebootd config, dnsmasq-style lease
// files rewritten in place, and a waiter that sees a boot file appear through inotify.
import { readdirSync, writeFileSync, mkdirSync, openSync, writeSync, closeSync, watch, existsSync, readFileSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { onCleanup, sh, tempDir, uniq } from '../../test/helpers/lab.ts';

export interface BenchLab {
  dir: string;
  lower: string;
  nodeDir: string;
  overlayDir: string;
  tftpRoot: string;
  stateDir: string;
  leases: string;
  exportsFile: string;
  template: string;
  socket: string;
}

/** Temp dirs + our own exports drop-in (removed, and exportfs -r run, at cleanup). */
export function makeLab(tag: string): BenchLab {
  const dir = tempDir(`pxg-${tag}-`);
  const lab: BenchLab = {
    dir,
    lower: path.join(dir, 'lower'),
    nodeDir: path.join(dir, 'node'),
    overlayDir: path.join(dir, 'overlay'),
    tftpRoot: path.join(dir, 'tftp'),
    stateDir: path.join(dir, 'state'),
    leases: path.join(dir, 'dnsmasq.leases'),
    exportsFile: `/etc/exports.d/pxg-${tag}-${uniq()}.exports`,
    template: path.join(dir, 'pxelinux.cfg.template'),
    socket: path.join(dir, 'control.sock'),
  };
  for (const d of [lab.lower, lab.nodeDir, lab.overlayDir, path.join(lab.tftpRoot, 'pxelinux.cfg'), lab.stateDir]) mkdirSync(d, { recursive: true });
  for (const d of ['bin', 'etc', 'sbin']) mkdirSync(path.join(lab.lower, d));
  writeFileSync(path.join(lab.lower, 'etc/hostname'), 'lower\n');
  writeFileSync(lab.template, 'DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img root=/dev/nfs nfsroot={{server}}:{{nfs_path}} ip=dhcp rw node=<NODE>\n');
  writeFileSync(lab.leases, '');
  mkdirSync('/etc/exports.d', { recursive: true });
  writeFileSync(lab.exportsFile, '');
  // registered after tempDir: runs before the temp dir's unmount+rm
  onCleanup(`exports ${lab.exportsFile}`, () => {
    sh('rm', ['-f', lab.exportsFile]);
    // temp files a SIGKILLed daemon left mid-write (".<name>.<pid>.<rand>.tmp"): pxebootd does not sweep them
    const base = path.basename(lab.exportsFile);
    for (const f of readdirSync('/etc/exports.d')) if (f.startsWith(`.${base}.`)) sh('rm', ['-f', path.join('/etc/exports.d', f)]);
    sh('exportfs', ['-r'], { allowFail: true });
  });
  return lab;
}

export interface ConfigExtra {
  exportfs?: string;
  mount?: string;
  concurrency?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  metrics?: string;
  onRelease?: 'keep' | 'unexport' | 'remove';
  stateDir?: string;
  /** extra source lines, e.g. "  - { type: syslog, path: /x }" */
  sources?: string[];
  backend?: { kind: 'ganesha'; pidFile: string; file: string; pseudoRoot?: string };
}

/** A pxebootd config for the lab: dnsmasq lease source, kernel exports, new clients in 10.99.0.0/16. */
export function writeConfig(lab: BenchLab, extra: ConfigExtra = {}): string {
  const file = path.join(lab.dir, 'pxebootd.yaml');
  const q: string[] = [];
  if (extra.concurrency) q.push(`concurrency: ${extra.concurrency}`);
  if (extra.retryBaseMs) q.push(`retry_base_ms: ${extra.retryBaseMs}`);
  if (extra.retryMaxMs) q.push(`retry_max_ms: ${extra.retryMaxMs}`);
  const b = extra.backend;
  const y = [
    `state_dir: ${extra.stateDir ?? lab.stateDir}`,
    `tftp_root: ${lab.tftpRoot}`,
    `server: 10.99.255.254`, // not a client: client(99, i) starts at 10.99.0.1, and the server address is never provisioned
    `control_socket: ${lab.socket}`,
    `sources:`,
    `  - { type: dnsmasq-leases, path: ${lab.leases} }`,
    ...(extra.sources ?? []),
    `exports:`,
    ...(b
      ? [`  backend: ganesha`, `  file: ${b.file}`, `  pid_file: ${b.pidFile}`, ...(b.pseudoRoot ? [`  pseudo_root: ${b.pseudoRoot}`] : [])]
      : [`  backend: kernel`, `  file: ${lab.exportsFile}`]),
    `  options: rw,no_root_squash,no_subtree_check,sync`,
    `  start_fsid: 10000`,
    `commands: { mount: ${extra.mount ?? 'mount'}, umount: umount, exportfs: ${extra.exportfs ?? 'exportfs'} }`,
    // BENCH_MOUNT_METHOD=command|syscall compares the two ways of mounting (default: the config default, auto)
    ...(process.env.BENCH_MOUNT_METHOD ? [`mount_method: ${process.env.BENCH_MOUNT_METHOD}`] : []),
    ...(q.length ? [`queue: { ${q.join(', ')} }`] : []),
    ...(extra.metrics ? [`metrics: { listen: "${extra.metrics}" }`] : []),
    `subnets:`,
    `  - cidr: 10.99.0.0/16`,
    `    root_dir: ${lab.lower}`,
    `    node_dir: ${lab.nodeDir}`,
    `    overlay_dir: ${lab.overlayDir}`,
    `    pxe_template: ${lab.template}`,
    ...(extra.onRelease ? [`    on_release: ${extra.onRelease}`] : []),
    // background leases: parsed and diffed like every lease, but never provisioned
    `  - { cidr: 10.98.0.0/16, ignore: true }`,
  ];
  writeFileSync(file, y.join('\n') + '\n');
  return file;
}

export interface Lease {
  mac: string;
  ip: string;
  hostname: string;
}

/** The i-th client of a block: 52:54:<b>:<i hi>:<i lo>:01 at 10.<net>.<i hi>.<i lo>. */
export function client(net: number, i: number): Lease {
  const hi = (i >> 8) & 0xff;
  const lo = i & 0xff;
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return { mac: `52:54:${h(net)}:${h(hi)}:${h(lo)}:01`, ip: `10.${net}.${hi}.${lo}`, hostname: `n${net}-${i}` };
}

export function leaseLine(l: Lease, expiry: number): string {
  return `${expiry} ${l.mac} ${l.ip} ${l.hostname} 01:${l.mac}\n`;
}

/** dnsmasq's way: truncate the same inode and write the table again, in stdio-sized (4 KiB) writes. */
export function rewriteInPlace(file: string, text: string): void {
  const buf = Buffer.from(text);
  const fd = openSync(file, 'w'); // O_TRUNC on the existing inode, as dnsmasq's ftruncate + fprintf
  try {
    for (let off = 0; off < buf.length; off += 4096) writeSync(fd, buf, off, Math.min(4096, buf.length - off));
  } finally {
    closeSync(fd);
  }
}

/** The boot file path the lab's clients get. */
export function bootFile(lab: BenchLab, mac: string): string {
  return path.join(lab.tftpRoot, 'pxelinux.cfg', `01-${mac.replace(/:/g, '-')}`);
}

/** Resolves with performance.now() at the moment (inotify) each named file appears in dir. */
export function watchArrivals(dir: string): { arrived: Map<string, number>; when(name: string, timeoutMs: number): Promise<number>; close(): void } {
  const arrived = new Map<string, number>();
  const waiters = new Map<string, (t: number) => void>();
  const w: FSWatcher = watch(dir, (_ev, name) => {
    const t = performance.now();
    if (!name || arrived.has(name) || name.endsWith('.tmp') || name.startsWith('.')) return;
    if (!existsSync(path.join(dir, name))) return;
    arrived.set(name, t);
    waiters.get(name)?.(t);
  });
  return {
    arrived,
    when(name, timeoutMs) {
      const t = arrived.get(name);
      if (t !== undefined) return Promise.resolve(t);
      if (existsSync(path.join(dir, name))) return Promise.resolve(performance.now());
      return new Promise((resolve, reject) => {
        const to = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${path.join(dir, name)}`)), timeoutMs);
        waiters.set(name, (t2) => {
          clearTimeout(to);
          resolve(t2);
        });
      });
    },
    close: () => w.close(),
  };
}

/** Overlay mounts currently under `under` (mount points), from mountinfo. */
export function mountsUnder(under: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(under + '/'));
}

/** Unmount everything under `under`, deepest first (bench clean-up between phases). */
export function unmountAll(under: string): void {
  for (const m of mountsUnder(under).sort((a, b) => b.length - a.length)) sh('umount', ['-l', m], { allowFail: true });
}
