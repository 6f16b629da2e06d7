// Attacks on release and on what gets provisioned, against the real daemon: a ready node with
// `on_release: remove` whose upper layer holds a file must keep that file and its export when
//   - `pxebootd hook del` names its MAC with another IP, or its IP with another MAC;
//   - a DHCPRELEASE line for it reaches a syslog source (a normal user's `logger` through a real
//     rsyslogd) or a journal source (a real journald): those sources are not authoritative;
// and a lease or hook naming the subnet's network or broadcast address or the server address
// makes no node and no export. Each attack is checked after a `pxebootd provision` of the node,
// which the daemon's per-node queue runs only after any release the attack queued.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, startDaemon, tempDir, waitFor } from '../../helpers/lab.ts';
import { CLI, cli, leaseLine, makeLab, type Lab } from '../cli/cli-lab.ts';
import { startJournald } from '../logs/journald.ts';

after(cleanupAll);

interface StatusNode {
  name: string;
  ip: string;
  mac?: string;
  state: string;
  timeline?: Array<{ time: number; what: string; source?: string }>;
}

const NODE = { name: '0A63000A', ip: '10.99.0.10', mac: '52:54:00:88:00:10' };
const OTHER_IP = '10.99.0.99';
const OTHER_MAC = '52:54:00:88:00:99';

/** Nodes from `status --json` (one document, or one JSON object per line). */
async function nodes(lab: Lab): Promise<StatusNode[]> {
  const r = await cli(['status', '--json', '-c', lab.config]);
  assert.equal(r.code, 0, r.stderr);
  try {
    const o = JSON.parse(r.stdout) as { nodes?: StatusNode[] } | StatusNode[];
    return Array.isArray(o) ? o : (o.nodes ?? []);
  } catch {
    return r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as StatusNode).filter((n) => typeof n.name === 'string' && typeof n.ip === 'string');
  }
}
const nodeOf = async (lab: Lab) => (await nodes(lab)).find((n) => n.name === NODE.name);

interface Running {
  lab: Lab;
  log: () => string;
  merged: string;
  upper: string;
  stop: () => Promise<void>;
}

/** A lab with on_release: remove and `sources` added, the daemon on it, NODE ready with a file in its upper layer. */
async function startWithNode(sources = ''): Promise<Running> {
  requireRoot();
  const lab = makeLab({ onRelease: 'remove' });
  const leaseSource = '  - { type: dnsmasq-leases, path: leases/dnsmasq.leases }\n';
  const text = readFileSync(lab.config, 'utf8');
  assert.ok(text.includes(leaseSource), 'cli-lab config layout changed');
  writeFileSync(lab.config, text.replace(leaseSource, leaseSource + sources));
  const logFile = path.join(lab.dir, 'daemon.log');
  const daemon = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor('daemon started', () => {
    if (daemon.child.exitCode !== null) throw new Error(`pxebootd run exited: ${log()}`);
    return log().includes('pxebootd started');
  }, 30_000);
  writeFileSync(lab.leases, leaseLine(NODE.mac, NODE.ip));
  await waitFor('the node ready', async () => (await nodeOf(lab))?.state === 'ready', 30_000, 100);
  const merged = path.join(lab.dir, 'run/node', NODE.name);
  const upper = path.join(lab.dir, 'run/overlay', NODE.name, 'upper');
  // the client writes into its root over NFS: here, straight into the merged dir
  writeFileSync(path.join(merged, 'precious'), 'node data\n');
  assert.ok(existsSync(path.join(upper, 'precious')), 'the write went to the upper layer');
  assertIntact({ lab, log, merged, upper, stop: daemon.stop });
  return { lab, log, merged, upper, stop: () => daemon.stop() };
}

const exportLine = (lab: Lab, mp: string) => readFileSync(lab.exportsFile, 'utf8').split('\n').find((l) => l.startsWith(`${mp} `));
const etabLine = (mp: string, ip: string) => readFileSync('/var/lib/nfs/etab', 'utf8').split('\n').find((l) => l.startsWith(`${mp}\t${ip}(`));

function assertIntact(r: Running): void {
  assert.equal(readFileSync(path.join(r.upper, 'precious'), 'utf8'), 'node data\n', 'the upper layer keeps the node\'s file');
  assert.ok(exportLine(r.lab, r.merged), 'the export line is in pxebootd\'s exports file');
  assert.ok(etabLine(r.merged, NODE.ip), 'the export is live (etab)');
  assert.doesNotMatch(r.log(), /deleted the writable layer/);
}

/** Everything queued for NODE before now has run once this returns (the per-node queue is FIFO). */
async function settle(lab: Lab): Promise<StatusNode> {
  const p = await cli(['provision', NODE.ip, '--mac', NODE.mac, '-c', lab.config]);
  assert.equal(p.code, 0, p.stdout + p.stderr);
  const n = (await nodeOf(lab))!;
  assert.equal(n.state, 'ready', JSON.stringify(n));
  assert.ok(!n.timeline?.some((t) => t.what.startsWith('released')), `released: ${JSON.stringify(n.timeline)}`);
  return n;
}

describe('release spoofing', () => {
  test('hook del with the node\'s MAC and another IP, or its IP and another MAC, releases nothing; the real lease removal does', { timeout: 180_000 }, async (t) => {
    const r = await startWithNode();
    t.after(() => r.stop());
    for (const [mac, ip] of [[NODE.mac, OTHER_IP], [OTHER_MAC, NODE.ip]] as const) {
      const h = await cli(['hook', '-c', r.lab.config, 'del', mac, ip]);
      assert.equal(h.code, 0, h.stderr);
      await settle(r.lab);
      assertIntact(r);
    }
    // the lease file says the node is gone: that is authoritative, and on_release: remove applies
    // (this proves the attacks above would have shown a release)
    writeFileSync(r.lab.leases, '');
    await waitFor('the node released', async () => (await nodeOf(r.lab))?.state === 'released', 30_000, 100);
    assert.equal(existsSync(path.join(r.upper, 'precious')), false, 'remove deleted the upper layer');
    assert.equal(exportLine(r.lab, r.merged), undefined);
  });

  test('a DHCPRELEASE line from a normal user\'s logger through rsyslog goes into the timeline and releases nothing', { timeout: 180_000 }, async (t) => {
    requireTool('rsyslogd');
    requireTool('logger');
    requireTool('setpriv');
    const dir = tempDir('pxe-rsyslog-');
    chmodSync(dir, 0o755);
    const sock = path.join(dir, 'log.sock');
    const file = path.join(dir, 'syslog.log');
    writeFileSync(file, '');
    const conf = path.join(dir, 'rsyslog.conf');
    writeFileSync(
      conf,
      `global(workDirectory="${dir}")\n` +
        `module(load="imuxsock" SysSock.Use="off")\n` +
        `input(type="imuxsock" Socket="${sock}" RateLimit.Interval="0")\n` +
        `*.* action(type="omfile" file="${file}" template="RSYSLOG_FileFormat")\n`,
    );
    const rsyslog = startDaemon('rsyslogd', ['rsyslogd', '-n', '-f', conf, '-i', path.join(dir, 'rsyslogd.pid')], { logFile: path.join(dir, 'rsyslogd.out') });
    t.after(() => rsyslog.stop());
    await waitFor('the rsyslog socket', () => existsSync(sock), 10_000);
    const r = await startWithNode(`  - { type: syslog, path: ${file} }\n`);
    t.after(() => r.stop());
    // a local user without any privilege, as in the report
    execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'logger', '--socket', sock, '-t', 'dnsmasq-dhcp', `DHCPRELEASE(br0) ${NODE.ip} ${NODE.mac}`]);
    await waitFor('the line in the syslog file', () => readFileSync(file, 'utf8').includes('DHCPRELEASE'), 10_000);
    const seen = await waitFor('the release in the node timeline', async () => (await nodeOf(r.lab))?.timeline?.find((e) => e.what.startsWith('gone') && e.source?.startsWith('syslog')), 20_000, 100);
    await settle(r.lab);
    assertIntact(r);
    assert.match(seen.what, /not released: syslog is not authoritative/);
  });

  test('a DHCPRELEASE line through a real journald goes into the timeline and releases nothing', { timeout: 180_000 }, async (t) => {
    requireTool('journalctl');
    const j = await startJournald(tempDir('pxe-journal-'));
    t.after(() => j.daemon.stop());
    const r = await startWithNode(`  - { type: journal, directory: ${j.journalDir} }\n`);
    t.after(() => r.stop());
    // journalctl -f starts at the end: log until one line arrives (each is a full release attempt)
    const seen = await waitFor('the release in the node timeline', async () => {
      j.log('dnsmasq-dhcp', `DHCPRELEASE(br0) ${NODE.ip} ${NODE.mac}`);
      await new Promise((res) => setTimeout(res, 500));
      return (await nodeOf(r.lab))?.timeline?.find((e) => e.what.startsWith('gone') && e.source?.startsWith('journal'));
    }, 30_000, 100);
    await settle(r.lab);
    assertIntact(r);
    assert.match(seen.what, /not released: journal is not authoritative/);
  });
});

describe('reserved addresses', () => {
  test('leases and a hook naming the network, broadcast or server address make no node and no export; one warning each', { timeout: 180_000 }, async (t) => {
    const r = await startWithNode();
    t.after(() => r.stop());
    const reserved = ['10.99.0.0', '10.99.0.255', '10.99.0.1'];
    const lease = (i: number, ip: string) => leaseLine(`52:54:00:88:01:${i.toString(16).padStart(2, '0')}`, ip);
    // twice each, with different MACs: still one warning per address
    writeFileSync(r.lab.leases, leaseLine(NODE.mac, NODE.ip) + reserved.map((ip, i) => lease(i, ip) + lease(i + 16, ip)).join('') + leaseLine('52:54:00:88:00:12', '10.99.0.12'));
    for (const ip of reserved) {
      const h = await cli(['hook', '-c', r.lab.config, 'add', '52:54:00:88:02:01', ip]);
      assert.equal(h.code, 0, h.stderr);
    }
    // the ordinary lease written with them is provisioned: the reserved ones were read too
    await waitFor('10.99.0.12 ready', async () => (await nodes(r.lab)).some((n) => n.ip === '10.99.0.12' && n.state === 'ready'), 30_000, 100);
    await settle(r.lab);
    const all = await nodes(r.lab);
    assert.deepEqual(all.filter((n) => reserved.includes(n.ip)), [], 'a node at a reserved address');
    const exportsText = readFileSync(r.lab.exportsFile, 'utf8');
    for (const ip of reserved) assert.ok(!exportsText.includes(` ${ip}(`), `${ip} exported:\n${exportsText}`);
    for (const ip of reserved) assert.ok(!readFileSync('/var/lib/nfs/etab', 'utf8').includes(`\t${ip}(`), `${ip} in etab`);
    const warnings = (re: RegExp) => r.log().split('\n').filter((l) => re.test(l));
    await waitFor('a warning per address', () => warnings(/never provisioned/).length >= 3, 10_000);
    assert.equal(warnings(/10\.99\.0\.0 is the network address of subnet 10\.99\.0\.0\/24/).length, 1, r.log());
    assert.equal(warnings(/10\.99\.0\.255 is the broadcast address of subnet 10\.99\.0\.0\/24/).length, 1, r.log());
    assert.equal(warnings(/10\.99\.0\.1 is the server address/).length, 1, r.log());
    assertIntact(r);
    // explain says why
    const ex = await cli(['explain', '10.99.0.255', '-c', r.lab.config]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.match(ex.stdout, /^result: +reserved address \(never provisioned\)$/m);
    assert.match(ex.stdout, /10\.99\.0\.255 is the broadcast address of subnet 10\.99\.0\.0\/24 at \S+: never provisioned/);
  });
});
