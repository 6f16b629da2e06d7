// dhcp-snoop in a namespace pair, through its packet socket on br0: a real busybox udhcpc DISCOVER
// with PXE options is seen and never answered; it runs beside dnsmasq whether or not dnsmasq holds
// port 67 alone (no bind-interfaces); what this host sends itself
// (to 127.0.0.1, to its own address, or broadcast out of br0 from port 68) is never read; a flood of
// new clients is cut at the rate limit and summarised in one line; a missing interface, loopback
// and a missing CAP_NET_RAW give clear errors; a deleted and recreated interface is read again.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { asNobody } from '../../helpers/as-nobody.ts';
import { cleanupAll, makeNetnsPair, requireRoot, requireTool, sh, startDaemon, tempDir, waitFor, type Daemon, type NetnsPair } from '../../helpers/lab.ts';
import { runUdhcpc, startDnsmasq } from '../../helpers/dnsmasq.ts';
import type { ClientEvent } from '../../../src/types.ts';

after(cleanupAll);

const CHILD = path.join(import.meta.dirname, 'snoop-child.ts');
const SENDER = path.join(import.meta.dirname, '../reliability/snoop-sender.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Snoop {
  daemon: Daemon;
  events(): ClientEvent[];
  out(): string;
}

async function startSnoop(netns: string, dir: string, args: string[] = ['br0'], nobody = false): Promise<Snoop> {
  const logFile = path.join(dir, `snoop-${Math.random().toString(36).slice(2, 8)}.out`);
  const argv = [process.execPath, CHILD, ...args];
  const daemon = startDaemon('snoop-child', nobody ? asNobody(argv) : argv, { netns, logFile });
  const out = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor('the snoop watcher to start', () => {
    if (out().includes('ERROR')) return true;
    if (daemon.child.exitCode !== null) throw new Error(`snoop child exited: ${out()}`);
    return out().includes('READY');
  }, 15_000);
  const events = () =>
    out()
      .split('\n')
      .filter((l) => l.startsWith('{"event"'))
      .map((l) => (JSON.parse(l) as { event: ClientEvent }).event);
  return { daemon, events, out };
}

/** The sender (snoop-sender.ts) in `netns`, optionally as nobody. */
function send(netns: string, spec: object, nobody = false): string {
  const argv = [process.execPath, SENDER, JSON.stringify(spec)];
  const full = ['ip', 'netns', 'exec', netns, ...(nobody ? asNobody(argv) : argv)];
  return execFileSync(full[0]!, full.slice(1), { encoding: 'utf8', timeout: 60_000 });
}

/** The client namespace gets an address and a default route so the sender's broadcasts leave by eth0. */
function clientRoute(pair: NetnsPair): void {
  sh('ip', ['-n', pair.cli, 'addr', 'add', '10.99.0.2/24', 'dev', 'eth0']);
  sh('ip', ['-n', pair.cli, 'route', 'add', 'default', 'dev', 'eth0']);
}

function udhcpcDiscover(pair: NetnsPair, extra: string[] = []): string {
  return sh('ip', ['netns', 'exec', pair.cli, 'busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '2', '-T', '1', '-A', '1', '-s', '/bin/true', ...extra], { allowFail: true });
}

describe('dhcp-snoop with real clients', () => {
  test('udhcpc DISCOVER with options 60/93/97 -> seen event; nothing is answered', async () => {
    requireRoot();
    requireTool('busybox');
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:11' });
    const dir = tempDir('pxc-snoop-');
    const s = await startSnoop(pair.srv, dir);
    // no DHCP server: udhcpc broadcasts DISCOVERs and gives up; an answer from us would give it a lease
    const r = udhcpcDiscover(pair, ['-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007', '-x', '0x61:00b8945908d6a641a9611d74a6ab80b83d', '-x', 'hostname:node11']);
    const ev = await waitFor('a DISCOVER event', () => s.events()[0], 5000);
    assert.deepEqual(
      { kind: ev.kind, mac: ev.mac, arch: ev.kind === 'seen' && ev.arch, uuid: ev.kind === 'seen' && ev.uuid, vc: ev.kind === 'seen' && ev.vendorClass, host: ev.kind === 'seen' && ev.hostname, type: ev.sourceType },
      { kind: 'seen', mac: '52:54:00:aa:bb:11', arch: 7, uuid: 'b8945908-d6a6-41a9-611d-74a6ab80b83d', vc: 'PXEClient:Arch:00007:UNDI:003016', host: 'node11', type: 'dhcp-snoop' },
    );
    assert.ok(s.events().length >= 2, 'udhcpc retried: several DISCOVERs seen');
    assert.doesNotMatch(r, /lease of/i, 'udhcpc must not get a lease from a passive listener');
    const leases = sh('ip', ['-n', pair.cli, '-4', 'addr', 'show', 'dev', 'eth0']);
    assert.doesNotMatch(leases, /inet /);
    await s.daemon.stop();
  });

  test('next to dnsmasq with bind-interfaces: sees DISCOVER and REQUEST of a real lease', async () => {
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:12' });
    const dir = tempDir('pxc-snoop-');
    await startDnsmasq({ netns: pair.srv });
    const s = await startSnoop(pair.srv, dir);
    const lease = await runUdhcpc(pair.cli, { hostname: 'node12' });
    await waitFor('a REQUEST with the leased ip', () => s.events().some((e) => e.ip === lease.ip), 5000);
    assert.ok(s.events().every((e) => e.mac === '52:54:00:aa:bb:12' && e.kind === 'seen'));
    assert.ok(s.events().some((e) => e.ip === undefined), 'the DISCOVER (no requested address) was seen too');
    await s.daemon.stop();
  });

  test('a real dnsmasq without bind-interfaces holds port 67 alone: snoop needs no port and sees the lease', async () => {
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:13' });
    const dir = tempDir('pxc-snoop-');
    const conf = path.join(dir, 'dnsmasq.conf');
    const log = path.join(dir, 'dnsmasq.log');
    writeFileSync(conf, ['port=0', 'interface=br0', 'no-ping', 'dhcp-range=10.99.0.100,10.99.0.200,1h', `dhcp-leasefile=${dir}/leases`, `log-facility=${log}`, `pid-file=${dir}/pid`, ''].join('\n'));
    const d = startDaemon('dnsmasq (wildcard bind)', ['dnsmasq', '-k', '-C', conf], { netns: pair.srv, logFile: path.join(dir, 'dnsmasq.out') });
    await waitFor('dnsmasq', () => existsSync(log) && readFileSync(log, 'utf8').includes('DHCP, IP range'), 10_000);
    const s = await startSnoop(pair.srv, dir);
    assert.doesNotMatch(s.out(), /ERROR/);
    const lease = await runUdhcpc(pair.cli, { hostname: 'node13' });
    await waitFor('a REQUEST with the leased ip', () => s.events().some((e) => e.ip === lease.ip), 5000);
    await s.daemon.stop();
    await d.stop();
  });

  test('what this host sends itself is never read: to 127.0.0.1:67, to its own address, broadcast out of br0 from port 68', async () => {
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:14' });
    const dir = tempDir('pxc-snoop-');
    const s = await startSnoop(pair.srv, dir);
    // the server's default route makes 255.255.255.255 leave through br0
    sh('ip', ['-n', pair.srv, 'route', 'add', 'default', 'dev', 'br0']);
    const release = { type: 7, mac: '52:54:00:aa:bb:99', ciaddr: '10.99.0.99' };
    const discover = { type: 1, mac: '52:54:00:aa:bb:98', requested: '10.99.0.98' };
    assert.match(send(pair.srv, { to: ['127.0.0.1', pair.srvIp], packets: [release, discover] }, true), /SENT 4/);
    assert.match(send(pair.srv, { to: ['255.255.255.255', '10.99.0.255'], fromPort: 68, packets: [release, discover] }), /SENT 4/);
    // the same packets from a client are read: proof the listener was alive all along
    clientRoute(pair);
    assert.match(send(pair.cli, { to: ['255.255.255.255'], fromPort: 68, packets: [{ ...discover, mac: '52:54:00:aa:bb:14' }] }), /SENT 1/);
    await waitFor('the client DISCOVER', () => s.events().some((e) => e.mac === '52:54:00:aa:bb:14'), 5000);
    await sleep(300);
    assert.deepEqual(s.events().map((e) => e.mac), ['52:54:00:aa:bb:14']);
    await s.daemon.stop();
  });

  test('a flood of new clients: passed on at the rate limit, the rest summarised in one line', async () => {
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:15' });
    const dir = tempDir('pxc-snoop-');
    const s = await startSnoop(pair.srv, dir, ['br0', '5', '1']);
    clientRoute(pair);
    const t0 = Date.now();
    assert.match(send(pair.cli, { to: ['255.255.255.255'], fromPort: 68, flood: { n: 200, macPrefix: '52:54:00:ab', ipPrefix: '10.99' } }), /SENT 200/);
    // the same client again and again is not new: never limited
    const again = { type: 3, mac: '52:54:00:ab:00:00', requested: '10.99.0.1' };
    assert.match(send(pair.cli, { to: ['255.255.255.255'], fromPort: 68, packets: Array(20).fill(again) }), /SENT 20/);
    // DISCOVERs without an address cannot make a node: not limited either
    const noAddress = Array.from({ length: 30 }, (_, i) => ({ type: 1, mac: `52:54:00:ac:00:${i.toString(16).padStart(2, '0')}` }));
    assert.match(send(pair.cli, { to: ['255.255.255.255'], fromPort: 68, packets: noAddress }), /SENT 30/);
    await waitFor('the no-address DISCOVERs', () => s.events().filter((e) => e.mac?.startsWith('52:54:00:ac:')).length === 30, 10_000);
    const elapsed = (Date.now() - t0) / 1000;
    const flooded = new Set(s.events().filter((e) => e.mac?.startsWith('52:54:00:ab:')).map((e) => e.mac));
    assert.ok(flooded.size >= 5 && flooded.size <= 5 + Math.ceil(elapsed) + 1, `${flooded.size} new flooded clients passed in ${elapsed.toFixed(1)} s (burst 5, 1/s)`);
    assert.ok(s.events().filter((e) => e.mac === '52:54:00:ab:00:00').length >= 21, 'an admitted client keeps being seen');
    await s.daemon.stop();
    const summary = s.out().split('\n').filter((l) => l.includes('dhcp-snoop dropped'));
    assert.equal(summary.length, 1, s.out().slice(-2000));
    assert.match(summary[0]!, /\d+ new clients over the rate limit \(burst 5, 1\/s; last 52:54:00:ab:00:[0-9a-f]{2} 10\.99\.\d+\.\d+\)/);
  });

  test('no such interface, loopback, or no CAP_NET_RAW: a clear error', async () => {
    const pair = makeNetnsPair('pxc');
    const dir = tempDir('pxc-snoop-');
    const missing = await startSnoop(pair.srv, dir, ['nosuch0']);
    await missing.daemon.exited;
    assert.match(missing.out(), /ERROR dhcp-snoop: cannot read DHCP packets on interface "nosuch0": no such interface \(`ip link` lists them/);
    const lo = await startSnoop(pair.srv, dir, ['lo']);
    await lo.daemon.exited;
    assert.match(lo.out(), /ERROR .*"lo": it is a loopback interface/);
    const nobody = await startSnoop(pair.srv, dir, ['br0'], true);
    await nobody.daemon.exited;
    assert.match(nobody.out(), /ERROR .*"br0": a packet socket needs CAP_NET_RAW/);
  });

  test('the interface is deleted and made again, then set down and up: snoop says so once each time and reads it again', async () => {
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:16' });
    const dir = tempDir('pxc-snoop-');
    const s = await startSnoop(pair.srv, dir);
    udhcpcDiscover(pair);
    await waitFor('a DISCOVER before', () => s.events().length > 0, 5000);
    sh('ip', ['-n', pair.srv, 'link', 'del', 'br0']);
    await waitFor('the went-away warning', () => s.out().includes('went down or away'), 5000);
    sh('ip', ['-n', pair.srv, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    sh('ip', ['-n', pair.srv, 'link', 'set', 'vsrv', 'master', 'br0']);
    sh('ip', ['-n', pair.srv, 'link', 'set', 'br0', 'up']);
    const before = s.events().length;
    // a new socket is opened within 5 s of the interface existing again
    await waitFor('a DISCOVER on the new br0', () => {
      udhcpcDiscover(pair, ['-t', '1']);
      return s.events().length > before;
    }, 30_000);
    assert.match(s.out(), /interface br0 is back; reading it again/);
    assert.equal(s.out().split('\n').filter((l) => l.includes('went down or away')).length, 1);
    // down and up again, same index
    sh('ip', ['-n', pair.srv, 'link', 'set', 'br0', 'down']);
    await waitFor('the second went-away warning', () => s.out().split('\n').filter((l) => l.includes('went down or away')).length === 2, 5000);
    sh('ip', ['-n', pair.srv, 'link', 'set', 'br0', 'up']);
    const later = s.events().length;
    await waitFor('a DISCOVER after down/up', () => {
      udhcpcDiscover(pair, ['-t', '1']);
      return s.events().length > later;
    }, 30_000);
    await s.daemon.stop();
  });
});
