// Real dnsmasq (DHCP, optional TFTP) in a test namespace, plus real DHCP clients in another one.
// Shared by the lease, log, e2e and bench tests so nobody re-learns e2e-lab.md §1 the hard way.
//
// API (everything registers its own cleanup through test/helpers/lab.ts; end files with after(cleanupAll)):
//   const lab = makeNetnsPair('pxb');                       // from lab.ts
//   const d = await startDnsmasq({ netns: lab.srv, subnet: '10.99.0' });
//     d.leaseFile / d.logFile / d.pidFile / d.hostsFile / d.dir / d.pid
//     d.setHosts(['52:54:00:aa:bb:01,10.99.0.50,vm1,2m']); // rewrite dhcp-hostsfile + SIGHUP
//     await d.stop();                                     // SIGTERM our PID only
//   Options: range ['.100','.200'] (suffixes or full IPs), leaseTime '1h', tftpRoot, dhcpScript,
//            hosts (dhcp-hostsfile lines), extra (raw config lines), iface 'br0', dir (default: tempDir()).
//   Always set: port=0 (no DNS), bind-interfaces, no-ping (else ~3 s per lease), log-dhcp,
//            log-facility=<dir>/dnsmasq.log, pid-file, dhcp-leasefile=<dir>/leases/dnsmasq.leases.
//   const cli2 = addClientNs(lab, 'pxb', '52:54:00:aa:bb:02');  // another client namespace on the same bridge
//   const r = await runUdhcpc(lab.cli, { hostname: 'cli1' });   // busybox udhcpc -q: one lease, then exits
//     r.ip (from the client's script), r.output
//   const c = await startDhclient(lab.cli, { dir });      // dhclient -d -1, stays up; resolves once bound
//     c.ip; await c.release();                            // `dhclient -r`: DHCPRELEASE + stops that dhclient
// dnsmasq drops privileges to "nobody": `dir` is chmod 0755 and the lease file lives in <dir>/leases
// (0777); dnsmasq opens it once as root at start and rewrites it in place. A tftpRoot must be
// readable by nobody. The DHCP range is .100-.200 of `subnet`: keep fixed hosts outside it.
// Timings on this machine (e2e-lab.md §1, no-ping): a lease line is in the file 20-80 ms after the
// client starts; the watcher sees it ~1-10 ms later.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { onCleanup, requireTool, sh, startDaemon, tempDir, uniq, waitFor, type Daemon, type NetnsPair } from './lab.ts';

export interface DnsmasqOptions {
  netns: string;
  /** first three octets of the /24, e.g. "10.99.0" (the bridge holds <subnet>.1) */
  subnet?: string;
  iface?: string;
  /** ".100"-style suffixes or full addresses */
  range?: [string, string];
  leaseTime?: string;
  tftpRoot?: string;
  dhcpScript?: string;
  /** dhcp-hostsfile lines: "mac,ip[,name][,leasetime]" */
  hosts?: string[];
  extra?: string[];
  dir?: string;
}

export interface DnsmasqHandle {
  daemon: Daemon;
  pid: number;
  dir: string;
  confFile: string;
  leaseFile: string;
  logFile: string;
  pidFile: string;
  hostsFile: string;
  /** rewrite dhcp-hostsfile and SIGHUP dnsmasq (which re-reads it) */
  setHosts(lines: string[]): void;
  stop(): Promise<void>;
}

function addr(subnet: string, s: string): string {
  return s.startsWith('.') ? subnet + s : s;
}

/** Start dnsmasq in `netns` and wait until it logged its DHCP range (ready to answer). */
export async function startDnsmasq(o: DnsmasqOptions): Promise<DnsmasqHandle> {
  requireTool('dnsmasq');
  const subnet = o.subnet ?? '10.99.0';
  const dir = o.dir ?? tempDir('pxb-dnsmasq-');
  const leaseDir = path.join(dir, 'leases');
  mkdirSync(leaseDir, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(leaseDir, 0o777);
  const leaseFile = path.join(leaseDir, 'dnsmasq.leases');
  const logFile = path.join(dir, 'dnsmasq.log');
  const pidFile = path.join(dir, 'dnsmasq.pid');
  const hostsFile = path.join(dir, 'dhcp-hosts');
  const confFile = path.join(dir, 'dnsmasq.conf');
  writeFileSync(hostsFile, (o.hosts ?? []).map((l) => l + '\n').join(''));
  const [lo, hi] = o.range ?? ['.100', '.200'];
  const lines = [
    'port=0',
    `interface=${o.iface ?? 'br0'}`,
    'bind-interfaces',
    'except-interface=lo',
    `dhcp-range=${addr(subnet, lo)},${addr(subnet, hi)},255.255.255.0,${o.leaseTime ?? '1h'}`,
    'dhcp-authoritative',
    `dhcp-leasefile=${leaseFile}`,
    `dhcp-hostsfile=${hostsFile}`,
    'no-ping',
    'log-dhcp',
    `log-facility=${logFile}`,
    `pid-file=${pidFile}`,
  ];
  if (o.tftpRoot) lines.push('enable-tftp', `tftp-root=${o.tftpRoot}`);
  if (o.dhcpScript) lines.push(`dhcp-script=${o.dhcpScript}`);
  lines.push(...(o.extra ?? []));
  writeFileSync(confFile, lines.join('\n') + '\n');
  const daemon = startDaemon('dnsmasq', ['dnsmasq', '-k', '-C', confFile], { netns: o.netns, logFile: path.join(dir, 'dnsmasq.stdout') });
  await waitFor(
    'dnsmasq to log its DHCP range',
    () => {
      if (daemon.child.exitCode !== null) throw new Error(`dnsmasq exited: ${readFileSync(path.join(dir, 'dnsmasq.stdout'), 'utf8')}`);
      return existsSync(logFile) && readFileSync(logFile, 'utf8').includes('DHCP, IP range');
    },
    10_000,
  );
  return {
    daemon,
    pid: daemon.pid,
    dir,
    confFile,
    leaseFile,
    logFile,
    pidFile,
    hostsFile,
    setHosts(h) {
      writeFileSync(hostsFile, h.map((l) => l + '\n').join(''));
      // the pid we spawned is `ip netns exec`, which execs dnsmasq: same PID
      process.kill(daemon.pid, 'SIGHUP');
    },
    stop: () => daemon.stop(),
  };
}

const CLIENT_SCRIPT = `#!/bin/sh
# minimal DHCP client script (udhcpc and dhclient): configure/deconfigure the address, log what happened
PATH=/usr/sbin:/usr/bin:/sbin:/bin
log="@LOG@"
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"; echo "bound $ip" >> "$log" ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip addr flush dev "$interface"; ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"; echo "bound $new_ip_address" >> "$log" ;;
  RELEASE|EXPIRE|STOP|FAIL) ip addr flush dev "$interface"; echo "released" >> "$log" ;;
esac
exit 0
`;

function writeClientScript(dir: string): { script: string; log: string } {
  const script = path.join(dir, 'client-script.sh');
  const log = path.join(dir, 'client-script.log');
  writeFileSync(script, CLIENT_SCRIPT.replace('@LOG@', log), { mode: 0o755 });
  writeFileSync(log, '');
  return { script, log };
}

function lastBound(log: string): string | undefined {
  const m = [...readFileSync(log, 'utf8').matchAll(/^bound (\S+)$/gm)];
  return m.length ? m[m.length - 1]![1] : undefined;
}

function runToEnd(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, output });
    });
  });
}

/** busybox udhcpc -q -n in `netns`: gets one lease and exits. Throws if no lease. */
export async function runUdhcpc(netns: string, o: { iface?: string; hostname?: string; dir?: string; timeoutMs?: number } = {}): Promise<{ ip: string; output: string }> {
  requireTool('busybox');
  const dir = o.dir ?? tempDir('pxb-udhcpc-');
  const { script, log } = writeClientScript(dir);
  const argv = ['ip', 'netns', 'exec', netns, 'busybox', 'udhcpc', '-i', o.iface ?? 'eth0', '-f', '-q', '-n', '-t', '5', '-T', '1', '-s', script];
  if (o.hostname !== undefined) argv.push('-x', `hostname:${o.hostname}`);
  const r = await runToEnd(argv, process.env, o.timeoutMs ?? 15_000);
  const ip = lastBound(log);
  if (r.code !== 0 || !ip) throw new Error(`udhcpc in ${netns} got no lease (exit ${r.code}): ${r.output}`);
  return { ip, output: r.output };
}

export interface DhclientHandle {
  ip: string;
  daemon: Daemon;
  /** `dhclient -r`: sends DHCPRELEASE and stops the running dhclient (via its pid file) */
  release(): Promise<string>;
}

/** dhclient -d -1 in `netns` (stays running, registered for cleanup); resolves once it is bound. */
export async function startDhclient(netns: string, o: { iface?: string; dir?: string; timeoutMs?: number } = {}): Promise<DhclientHandle> {
  requireTool('dhclient');
  const dir = o.dir ?? tempDir('pxb-dhclient-');
  const { script, log } = writeClientScript(dir);
  const iface = o.iface ?? 'eth0';
  const common = ['-lf', path.join(dir, 'dhclient.leases'), '-pf', path.join(dir, 'dhclient.pid'), '-sf', script];
  const env = process.env;
  const daemon = startDaemon('dhclient', ['dhclient', '-v', '-1', '-d', ...common, iface], { netns, logFile: path.join(dir, 'dhclient.out'), env });
  const ip = await waitFor(
    `dhclient in ${netns} to bind`,
    () => {
      if (daemon.child.exitCode !== null) throw new Error(`dhclient exited: ${readFileSync(path.join(dir, 'dhclient.out'), 'utf8')}`);
      return lastBound(log);
    },
    o.timeoutMs ?? 15_000,
  );
  return {
    ip,
    daemon,
    async release() {
      const r = await runToEnd(['ip', 'netns', 'exec', netns, 'dhclient', '-r', '-v', ...common, iface], env, 10_000);
      await Promise.race([daemon.exited, new Promise((res) => setTimeout(res, 3000))]);
      return r.output;
    },
  };
}

/** One more client namespace (interface eth0 with `mac`) joined to the pair's bridge; returns its name. */
export function addClientNs(pair: NetnsPair, prefix: string, mac: string): string {
  const id = uniq();
  const ns = `${prefix}-c2-${id}`;
  const port = `v${id}`.slice(0, 15);
  sh('ip', ['netns', 'add', ns]);
  onCleanup(`netns ${ns}`, () => sh('ip', ['netns', 'del', ns], { allowFail: true }));
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', pair.srv, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  sh('ip', ['-n', pair.srv, 'link', 'set', port, 'master', pair.bridge, 'up']);
  sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', mac, 'up']);
  return ns;
}
