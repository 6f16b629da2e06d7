// The e2e lab: namespaces + bridge (with an IPv6 RA so iPXE does not stall), dnsmasq (DHCP, TFTP,
// RA, option 60), tftpd-hpa + rsyslog on a second address, rpcbind + NFS-Ganesha over a shared
// subtree, tcpdump on the bridge, and the boot assets. Every piece registers its own cleanup
// (test/helpers/lab.ts); the test file ends with after(cleanupAll).
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, requireRoot, requireTool, sh, startDaemon, tempDir, waitFor, type Daemon, type NetnsPair } from '../helpers/lab.ts';
import { startDnsmasq, type DnsmasqHandle } from '../helpers/dnsmasq.ts';
import { startTftpd, type TftpdLab } from '../helpers/tftpd.ts';
import { makeSharedSubtree, startGanesha, type GaneshaHandle } from '../helpers/ganesha.ts';
import { ipToHex } from '../../src/validate.ts';
import { buildInitramfs, buildLowerImage, ensureKernel, ensureUefiAssets, populateTftpRoot, REPO_ROOT, type KernelAssets } from '../helpers/e2e-assets.ts';

export const SUBNET = '10.99.0';
export const SERVER_IP = `${SUBNET}.1`;
/** tftpd-hpa's address: on the server namespace's lo, because dnsmasq binds TFTP on all of br0's */
export const HPA_IP = '10.99.1.2';

export interface LabVm {
  name: string;
  mac: string;
  ip: string;
}

export const VM1: LabVm = { name: 'vm1', mac: '52:54:00:12:34:56', ip: `${SUBNET}.50` };
export const VM2: LabVm = { name: 'vm2', mac: '52:54:00:12:34:57', ip: `${SUBNET}.51` };

export interface PxeLab {
  runId: string;
  dir: string;
  net: NetnsPair;
  kernel: KernelAssets;
  tftpRoot: string;
  rootDir: string;
  nfsDir: string;
  nodeDir: string;
  overlayDir: string;
  stateDir: string;
  exportsFile: string;
  dnsmasq: DnsmasqHandle;
  tftpd: TftpdLab;
  ganesha: GaneshaHandle;
  tcpdump: { daemon: Daemon; file: string };
  timings: Record<string, number>;
}

export interface LabOptions {
  /** seconds the guest at this IP waits after its first write before the second (restart scenario) */
  holds?: Record<string, number>;
  /** dhcp-hostsfile lines (default: VM1, and VM2 tagged to load pxelinux.0 from tftpd-hpa) */
  hosts?: string[];
  /** dnsmasq lines that choose boot programs (default: BIOS pxelinux.0, option 60 for iPXE) */
  bootLines?: string[];
  /** DBUS_SYSTEM_BUS_ADDRESS for Ganesha (helpers/dbus.ts startPrivateBus): it then owns org.ganesha.nfsd there (default: no bus) */
  ganeshaDbus?: string;
}

/** Build assets and bring the whole lab up. */
export async function startPxeLab(o: LabOptions = {}): Promise<PxeLab> {
  requireRoot();
  for (const t of ['ip', 'tcpdump', 'qemu-system-x86_64', 'nfs-ls', 'nfs-cat']) requireTool(t);
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const runId = `${Date.now().toString(36)}-${process.pid}`;
  const kernel = ensureKernel();
  timings['kernel assets'] = Date.now() - t0;

  // dnsmasq reads its TFTP root as "nobody": the tree must be traversable
  const dir = tempDir('pxf-e2e-');
  chmodSync(dir, 0o755);
  const sub = (p: string) => {
    const d = path.join(dir, p);
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o755);
    return d;
  };
  const tftpRoot = sub('tftp');
  const rootDir = sub('image/lower');
  const nfsDir = sub('nfs');
  const nodeDir = sub('nfs/node');
  const overlayDir = sub('overlay');
  const stateDir = sub('state');
  const ganeshaDir = sub('ganesha');
  const exportsFile = path.join(ganeshaDir, 'pxebootd-exports.conf');
  writeFileSync(exportsFile, '');
  const initrd = path.join(dir, 'initrd.img');
  buildInitramfs(kernel, dir, initrd);
  populateTftpRoot(tftpRoot, kernel, initrd);
  buildLowerImage(rootDir, runId, o.holds ?? {});
  timings['initramfs + lower image + tftp root'] = Date.now() - t0;

  const net = makeNetnsPair('pxf', { subnet: SUBNET });
  // RA on br0: without it iPXE spends ~13 s on IPv6 autoconf before TFTP (e2e-lab.md §5b)
  sh('ip', ['-n', net.srv, 'addr', 'add', 'fd99::1/64', 'dev', net.bridge, 'nodad']);
  sh('ip', ['-n', net.srv, 'addr', 'add', `${HPA_IP}/32`, 'dev', 'lo']);
  sh('ip', ['-n', net.cli, 'route', 'add', `${HPA_IP}/32`, 'dev', net.cliIf]);
  timings['namespaces'] = Date.now() - t0;

  const dnsmasq = await startDnsmasq({
    netns: net.srv,
    subnet: SUBNET,
    dir: sub('dnsmasq'),
    tftpRoot,
    hosts: o.hosts ?? [`${VM1.mac},${VM1.ip},${VM1.name}`, `${VM2.mac},set:hpa,${VM2.ip},${VM2.name}`],
    extra: [
      ...(o.bootLines ?? [
        'dhcp-boot=pxelinux.0',
        `dhcp-boot=tag:hpa,pxelinux.0,,${HPA_IP}`,
        // option 60 in the OFFER: iPXE then skips its ~3 s wait for ProxyDHCP offers
        'dhcp-vendorclass=set:pxe,PXEClient',
        'dhcp-option-force=tag:pxe,60,PXEClient',
      ]),
      'enable-ra',
      `dhcp-range=::,constructor:${net.bridge},ra-only`,
    ],
  });
  const tftpd = await startTftpd({ netns: net.srv, root: tftpRoot, address: HPA_IP, dir: sub('tftpd') });
  makeSharedSubtree(nfsDir);
  const ganesha = await startGanesha({ netns: net.srv, bindIp: SERVER_IP, exportsFile, dir: ganeshaDir, dbusAddress: o.ganeshaDbus });
  timings['daemons'] = Date.now() - t0;

  // DHCP, TFTP requests and NFS connection attempts on the bridge, epoch-stamped, for the timeline
  const tcpdumpFile = path.join(dir, 'tcpdump.txt');
  const tcpdump = startDaemon(
    'tcpdump',
    ['tcpdump', '-i', net.bridge, '-n', '-tt', '-l', 'udp port 67 or udp port 69 or (tcp port 2049 and tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0)'],
    { netns: net.srv, logFile: tcpdumpFile },
  );
  await waitFor('tcpdump to listen', () => existsSync(tcpdumpFile) && readFileSync(tcpdumpFile, 'utf8').includes('listening on'), 10_000);
  timings['tcpdump'] = Date.now() - t0;

  return {
    runId, dir, net, kernel, tftpRoot, rootDir, nfsDir, nodeDir, overlayDir, stateDir, exportsFile,
    dnsmasq, tftpd, ganesha, tcpdump: { daemon: tcpdump, file: tcpdumpFile }, timings,
  };
}

/** The lab for UEFI clients: the shipped dnsmasq client lines, and shim + GRUB (+ snponly.efi) in the TFTP root under the names those lines use. */
export async function startUefiLab(hosts: string[], o: { snponly?: boolean } = {}): Promise<PxeLab> {
  const uefi = ensureUefiAssets();
  const lab = await startPxeLab({ hosts, bootLines: shippedClientLines() });
  copyFileSync(uefi.shim, path.join(lab.tftpRoot, 'shimx64.efi'));
  copyFileSync(uefi.grub, path.join(lab.tftpRoot, 'grubx64.efi'));
  if (o.snponly) copyFileSync(uefi.snponly, path.join(lab.tftpRoot, 'snponly.efi'));
  return lab;
}

/** What the lab left behind after cleanup: namespaces, mounts under its dir, live processes. */
export function labLeftovers(lab: PxeLab, pids: number[]): string[] {
  const left: string[] = [];
  const netns = sh('ip', ['netns', 'list'], { allowFail: true });
  for (const ns of [lab.net.srv, lab.net.cli]) if (new RegExp(`^${ns}( |$)`, 'm').test(netns)) left.push(`netns ${ns}`);
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = l.split(' ')[4];
    if (mp && (mp === lab.dir || mp.startsWith(lab.dir + '/'))) left.push(`mount ${mp}`);
  }
  for (const pid of pids) {
    let stat = '';
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const state = stat.replace(/^\d+ \(.*\) /, '')[0];
    if (state !== 'Z') left.push(`process ${pid} ${stat.slice(0, 60)}`);
  }
  return left;
}

export interface FinishLabOptions {
  /** .cache/e2e/last-run-*: emptied, then given the run's artefacts */
  lastRunDir: string;
  /** text files written there first: name -> contents (report.txt, timeline.txt) */
  texts?: Record<string, string>;
  /** more files copied there, [source, name]; an empty or missing source is skipped */
  artefacts?: Array<readonly [string, string]>;
  /** PIDs the test started beside the lab's daemons (pxebootd, VMs, nginx, dbus); undefined is skipped */
  pids?: Array<number | undefined>;
  /** how long daemons get to be reaped before what is left counts (default 10 s) */
  settleMs?: number;
  /** message of the leftover assertion */
  leftoverMessage?: string;
}

/** The e2e after-hook: keep the artefacts, run every cleanup even if that fails, then assert nothing of the lab is left. */
export async function finishLab(lab: PxeLab | undefined, o: FinishLabOptions): Promise<void> {
  try {
    rmSync(o.lastRunDir, { recursive: true, force: true });
    mkdirSync(o.lastRunDir, { recursive: true });
    for (const [name, text] of Object.entries(o.texts ?? {})) writeFileSync(path.join(o.lastRunDir, name), text);
    if (lab) {
      for (const f of readdirSync(lab.dir)) if (/\.(serial|log|yaml|template|txt|out)$/.test(f)) copyFileSync(path.join(lab.dir, f), path.join(o.lastRunDir, f));
      const named: Array<readonly [string, string]> = [[lab.dnsmasq.logFile, 'dnsmasq.log'], [lab.ganesha.logFile, 'ganesha.log'], [lab.exportsFile, 'ganesha-exports.conf'], ...(o.artefacts ?? [])];
      for (const [f, to] of named) if (f && existsSync(f)) copyFileSync(f, path.join(o.lastRunDir, to));
    }
  } finally {
    await cleanupAll();
  }
  if (!lab) return;
  const pids = [
    lab.dnsmasq.pid, lab.tftpd.pid, lab.tftpd.syslogPid, lab.ganesha.pid, lab.ganesha.rpcbindPid, lab.tcpdump.daemon.pid,
    ...(o.pids ?? []).filter((p): p is number => p !== undefined),
  ];
  const until = Date.now() + (o.settleMs ?? 10_000);
  let left = labLeftovers(lab, pids);
  while (left.length && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    left = labLeftovers(lab, pids);
  }
  assert.deepEqual(left, [], o.leftoverMessage ?? 'cleanup left nothing behind');
}

/** Why: every e2e file's pxebootd config points at the same lab paths, lease file and Ganesha; only its own keys differ. */
export function labConfig(lab: PxeLab, sources: unknown[], subnet: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    state_dir: lab.stateDir,
    tftp_root: lab.tftpRoot,
    server: SERVER_IP,
    sources,
    exports: { backend: 'ganesha', file: lab.exportsFile, pid_file: lab.ganesha.pidFile },
    control_socket: path.join(lab.dir, 'pxebootd.sock'),
    ...extra,
    subnets: [{ cidr: `${SUBNET}.0/24`, node_dir: lab.nodeDir, overlay_dir: lab.overlayDir, ...subnet }],
  };
}

/** The lab's dnsmasq lease file as a pxebootd source. */
export const leaseSource = (lab: PxeLab) => ({ type: 'dnsmasq-leases', path: lab.dnsmasq.leaseFile });
/** dnsmasq's own log (log-facility) as a pxebootd source: its TFTP lines mark boots and end `served` profiles. */
export const dnsmasqLogSource = (lab: PxeLab) => ({ type: 'syslog', path: lab.dnsmasq.logFile, format: 'plain' });

/** A file's text, '' while it does not exist. */
export const readText = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
/** `s` as a literal inside a RegExp. */
export const escRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** ms as "1.2 s", for the reports. */
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/** The node name pxebootd gives a lab VM (its IP in hex). */
export const nodeOf = (vm: LabVm) => ipToHex(vm.ip);

/** dnsmasq's TFTP log for one client: [file relative to the TFTP root, served?] in order. */
export function tftpLogOf(lab: PxeLab, ip: string): Array<[string, boolean]> {
  const text = existsSync(lab.dnsmasq.logFile) ? readFileSync(lab.dnsmasq.logFile, 'utf8') : '';
  const re = new RegExp(`dnsmasq-tftp\\[\\d+\\]: (sent|file) ${escRe(lab.tftpRoot)}/(\\S+) (?:to|not found for) ${escRe(ip)}$`);
  return text
    .split('\n')
    .map((l) => re.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[2]!, m[1] === 'sent']);
}

/** The lines of etc/dnsmasq-pxebootd.conf between "# --- clients" and "# --- end clients", as dnsmasq reads them. */
export function shippedClientLines(): string[] {
  const file = path.join(REPO_ROOT, 'etc', 'dnsmasq-pxebootd.conf');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const m = /^# --- clients.*\n([\s\S]*?)^# --- end clients/m.exec(text);
  if (!m) throw new Error('etc/dnsmasq-pxebootd.conf: no "# --- clients" ... "# --- end clients" block');
  return m[1]!.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

/** A pxelinux production template that boots the lab kernel with the node's NFS root; `title` goes in its first comment. */
export const pxeNfsrootTemplate = (title: string) => `# pxebootd ${title}: node <NODE> ({{ip}})
DEFAULT nfsroot
PROMPT 0
TIMEOUT 0
LABEL nfsroot
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND console=ttyS0,115200 nfsroot={{server}}:{{nfs_path}}
`;

/** A GRUB production template that boots the lab kernel with the node's NFS root and says so on the console. */
export const grubNfsrootTemplate = (title: string) => `# GRUB config of node <NODE> ({{ip}}), ${title}
set timeout=0
menuentry "nfsroot <NODE>" {
  echo "E2E-GRUB: booting <NODE>"
  linux /vmlinuz console=ttyS0,115200 nfsroot={{server}}:{{nfs_path}}
  initrd /initrd.img
}
`;
