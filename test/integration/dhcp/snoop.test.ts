// dhcp-snoop in a namespace pair: a real busybox udhcpc DISCOVER with PXE options reaches the
// passive listener on 0.0.0.0:67, which never answers; next to dnsmasq with bind-interfaces it
// sees the DISCOVER and REQUEST of a real lease; a socket holding 67 without SO_REUSEADDR gives
// the bind-interfaces hint.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, requireRoot, requireTool, sh, startDaemon, tempDir, waitFor, type Daemon } from '../../helpers/lab.ts';
import { runUdhcpc, startDnsmasq } from '../../helpers/dnsmasq.ts';
import type { ClientEvent } from '../../../src/types.ts';

after(cleanupAll);

const CHILD = path.join(import.meta.dirname, 'snoop-child.ts');

interface Snoop {
  daemon: Daemon;
  events(): ClientEvent[];
  out(): string;
}

async function startSnoop(netns: string, dir: string, name = 'snoop'): Promise<Snoop> {
  const logFile = path.join(dir, `${name}.out`);
  const daemon = startDaemon('snoop-child', [process.execPath, CHILD, '0.0.0.0', '67'], { netns, logFile });
  const out = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor('the snoop watcher to bind', () => {
    if (out().includes('ERROR')) return true;
    if (daemon.child.exitCode !== null) throw new Error(`snoop child exited: ${out()}`);
    return out().includes('READY');
  }, 10_000);
  const events = () =>
    out()
      .split('\n')
      .filter((l) => l.startsWith('{"event"'))
      .map((l) => (JSON.parse(l) as { event: ClientEvent }).event);
  return { daemon, events, out };
}

describe('dhcp-snoop with real clients', () => {
  test('udhcpc DISCOVER with options 60/93/97 -> seen event; nothing is answered', async () => {
    requireRoot();
    requireTool('busybox');
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:11' });
    const dir = tempDir('pxc-snoop-');
    const s = await startSnoop(pair.srv, dir);
    // no DHCP server: udhcpc broadcasts DISCOVERs and gives up; an answer from us would give it a lease
    const r = sh('ip', ['netns', 'exec', pair.cli, 'busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '2', '-T', '1', '-A', '1', '-s', '/bin/true',
      '-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007', '-x', '0x61:00b8945908d6a641a9611d74a6ab80b83d', '-x', 'hostname:node11'], { allowFail: true });
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

  test('port 67 held without SO_REUSEADDR: the error names bind-interfaces', async () => {
    const pair = makeNetnsPair('pxc');
    const dir = tempDir('pxc-snoop-');
    const holderLog = path.join(dir, 'holder.out');
    startDaemon('udp-67-holder', [process.execPath, '-e', "require('dgram').createSocket('udp4').bind(67,'0.0.0.0',()=>console.log('HELD'))"], { netns: pair.srv, logFile: holderLog });
    await waitFor('the holder', () => existsSync(holderLog) && readFileSync(holderLog, 'utf8').includes('HELD'), 5000);
    const s = await startSnoop(pair.srv, dir);
    await s.daemon.exited;
    const err = s.out();
    assert.match(err, /ERROR dhcp-snoop: cannot listen on 0\.0\.0\.0:67: address already in use/);
    assert.match(err, /bind-interfaces/);
    assert.match(err, /dhcp-script/);
  });

  test('a real dnsmasq without bind-interfaces holds 67: same clear error', async () => {
    const pair = makeNetnsPair('pxc');
    const dir = tempDir('pxc-snoop-');
    const conf = path.join(dir, 'dnsmasq.conf');
    const log = path.join(dir, 'dnsmasq.log');
    writeFileSync(conf, ['port=0', 'interface=br0', 'dhcp-range=10.99.0.100,10.99.0.200,1h', `dhcp-leasefile=${dir}/leases`, `log-facility=${log}`, `pid-file=${dir}/pid`, ''].join('\n'));
    const d = startDaemon('dnsmasq (wildcard bind)', ['dnsmasq', '-k', '-C', conf], { netns: pair.srv, logFile: path.join(dir, 'dnsmasq.out') });
    await waitFor('dnsmasq', () => existsSync(log) && readFileSync(log, 'utf8').includes('DHCP, IP range'), 10_000);
    const s = await startSnoop(pair.srv, dir);
    await s.daemon.exited;
    assert.match(s.out(), /ERROR .*address already in use.*bind-interfaces/);
    await d.stop();
  });
});

