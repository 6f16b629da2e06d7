// The lease watcher on the files of a real ISC dhcpd and a real Kea kea-dhcp4 serving real clients
// (busybox udhcpc, dhclient) in test namespaces. dhcpd's start-up rewrite is a real rename; Kea runs
// with lfc-interval 1, so real kea-lfc rotations (live -> .1 -> .2) happen during the test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { cleanupAll, makeNetnsPair, requireRoot, tempDir, waitFor } from '../../helpers/lab.ts';
import { addClientNs, runUdhcpc, startDhclient } from '../../helpers/dnsmasq.ts';
import { startDhcpd, startKea } from './dhcp-daemons.ts';
import { brief, sleep, watchLeases } from './watch-harness.ts';

after(cleanupAll);

const MAC1 = '52:54:00:aa:bb:01';
const MAC2 = '52:54:00:aa:bb:02';

test('ISC dhcpd: udhcpc lease seen, dhclient -r gone (free), nothing else', async () => {
  requireRoot();
  const lab = makeNetnsPair('pxb', { cliMac: MAC1 });
  const cli2 = addClientNs(lab, 'pxb', MAC2);
  const { daemon, leaseFile } = await startDhcpd(lab.srv, tempDir('pxb-isc-'));
  const w = await watchLeases('isc-leases', leaseFile);
  const r1 = await runUdhcpc(lab.cli, { hostname: 'cli1' });
  const s1 = await w.next('udhcpc lease', (e) => e.kind === 'seen' && e.mac === MAC1);
  console.log(`# dhcpd write -> seen ${(s1.at - statSync(leaseFile).mtimeMs).toFixed(2)} ms`);
  assert.equal(s1.e.ip, r1.ip);
  assert.equal(s1.e.kind === 'seen' && s1.e.hostname, 'cli1');
  const c = await startDhclient(cli2);
  await w.next('dhclient lease', (e) => e.kind === 'seen' && e.mac === MAC2 && e.ip === c.ip);
  await c.release();
  const g = await w.next('release', (e) => e.kind === 'gone' && e.mac === MAC2);
  assert.equal(g.e.kind === 'gone' && g.e.reason, 'free');
  await sleep(300);
  assert.deepEqual(w.events.map((r) => brief(r.e)), [`seen ${r1.ip} ${MAC1}`, `seen ${c.ip} ${MAC2}`, `gone ${c.ip} ${MAC2} (free)`]);
  assert.deepEqual(w.bad, []);
  await w.stop();
  await daemon.stop();
});

test('Kea: leases seen and released across real LFC rotations (lfc-interval 1 s)', async () => {
  requireRoot();
  const lab = makeNetnsPair('pxb', { cliMac: MAC1 });
  const cli2 = addClientNs(lab, 'pxb', MAC2);
  const dir = tempDir('pxb-kea-');
  const { daemon, leaseFile } = await startKea(lab.srv, dir, 1);
  const w = await watchLeases('kea-leases', leaseFile);
  const r1 = await runUdhcpc(lab.cli, { hostname: 'cli1' });
  const s1 = await w.next('udhcpc lease', (e) => e.kind === 'seen' && e.mac === MAC1);
  assert.equal(s1.e.ip, r1.ip);
  // let kea-lfc rotate the files at least once with the lease in them
  await waitFor('kea-lfc to leave a .2 file', () => existsSync(`${leaseFile}.2`), 8000, 50);
  await sleep(1500);
  const c = await startDhclient(cli2);
  await w.next('dhclient lease', (e) => e.kind === 'seen' && e.mac === MAC2 && e.ip === c.ip);
  await sleep(1500);
  await c.release();
  const g = await w.next('release', (e) => e.kind === 'gone' && e.mac === MAC2, 5000);
  assert.equal(g.e.kind === 'gone' && g.e.reason, 'deleted');
  await sleep(1500);
  assert.deepEqual(w.events.map((r) => brief(r.e)), [`seen ${r1.ip} ${MAC1}`, `seen ${c.ip} ${MAC2}`, `gone ${c.ip} ${MAC2} (deleted)`]);
  assert.deepEqual(w.bad, []);
  await w.stop();
  await daemon.stop();
});
