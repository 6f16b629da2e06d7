// Real ISC dhcpd and Kea kea-dhcp4 in a test namespace (for the lease watcher tests and the
// fixture capture script). Both serve 10.99.0.100-200 on br0 and write their lease file in `dir`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireTool, startDaemon, waitFor, type Daemon } from '../../helpers/lab.ts';

/** dhcpd -4 -f in `netns` on br0; resolves once it listens. dhcpd rewrites (renames) its file at start. */
export async function startDhcpd(netns: string, dir: string): Promise<{ daemon: Daemon; leaseFile: string }> {
  requireTool('dhcpd');
  const conf = path.join(dir, 'dhcpd.conf');
  const leaseFile = path.join(dir, 'dhcpd.leases');
  const log = path.join(dir, 'dhcpd.log');
  writeFileSync(leaseFile, '');
  writeFileSync(
    conf,
    'authoritative;\nping-check false;\nddns-update-style none;\ndefault-lease-time 600;\nmax-lease-time 7200;\n' +
      'subnet 10.99.0.0 netmask 255.255.255.0 { range 10.99.0.100 10.99.0.200; }\n',
  );
  const daemon = startDaemon('dhcpd', ['dhcpd', '-4', '-f', '-d', '-cf', conf, '-lf', leaseFile, '-pf', path.join(dir, 'dhcpd.pid'), 'br0'], { netns, logFile: log });
  await waitFor('dhcpd to listen', () => existsSync(log) && readFileSync(log, 'utf8').includes('Sending on'), 10_000);
  return { daemon, leaseFile };
}

/** kea-dhcp4 (memfile) in `netns` on br0; `lfcInterval` seconds between lease file cleanups (0 = none). */
export async function startKea(netns: string, dir: string, lfcInterval = 0): Promise<{ daemon: Daemon; leaseFile: string; logFile: string }> {
  requireTool('kea-dhcp4');
  const leaseFile = path.join(dir, 'kea-leases4.csv');
  const logFile = path.join(dir, 'kea.log');
  const conf = path.join(dir, 'kea-dhcp4.conf');
  writeFileSync(
    conf,
    JSON.stringify({
      Dhcp4: {
        'interfaces-config': { interfaces: ['br0'], 'dhcp-socket-type': 'raw' },
        'lease-database': { type: 'memfile', persist: true, name: leaseFile, 'lfc-interval': lfcInterval },
        'valid-lifetime': 600,
        subnet4: [{ id: 1, subnet: '10.99.0.0/24', pools: [{ pool: '10.99.0.100 - 10.99.0.200' }] }],
        loggers: [{ name: 'kea-dhcp4', output_options: [{ output: logFile }], severity: 'INFO' }],
      },
    }),
  );
  const env = { ...process.env, KEA_LOCKFILE_DIR: dir, KEA_PIDFILE_DIR: dir };
  const daemon = startDaemon('kea-dhcp4', ['kea-dhcp4', '-c', conf], { netns, logFile: path.join(dir, 'kea.stdout'), env });
  await waitFor('kea-dhcp4 to start', () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('DHCP4_STARTED'), 10_000);
  return { daemon, leaseFile, logFile };
}
