// The e2e lab: namespaces + bridge (with an IPv6 RA so iPXE does not stall), dnsmasq (DHCP, TFTP,
// RA, option 60), tftpd-hpa + rsyslog on a second address, rpcbind + NFS-Ganesha over a shared
// subtree, tcpdump on the bridge, and the boot assets. Every piece registers its own cleanup
// (test/helpers/lab.ts); the test file ends with after(cleanupAll).
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeNetnsPair, requireRoot, requireTool, sh, startDaemon, tempDir, waitFor, type Daemon, type NetnsPair } from '../helpers/lab.ts';
import { startDnsmasq, type DnsmasqHandle } from '../helpers/dnsmasq.ts';
import { startTftpd, type TftpdLab } from '../helpers/tftpd.ts';
import { makeSharedSubtree, startGanesha, type GaneshaHandle } from '../helpers/ganesha.ts';
import { buildInitramfs, buildLowerImage, ensureKernel, populateTftpRoot, type KernelAssets } from '../helpers/e2e-assets.ts';

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
