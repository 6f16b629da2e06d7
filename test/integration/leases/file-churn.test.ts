// The lease watcher on real files in temp dirs, with the exact write patterns of the servers
// (formats.md §5): dnsmasq's in-place truncate-and-rewrite (here with a pause in the middle of a
// line), ISC's appends and hourly link+rename rewrite, Kea's LFC rotation, and files that are
// missing at start or deleted and re-created. No spurious gone, no lost client.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, fsyncSync, ftruncateSync, linkSync, mkdirSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';
import { brief, nowMs, sleep, watchLeases } from './watch-harness.ts';

after(cleanupAll);

const FUTURE = 4_000_000_000;
const hex = (n: number) => n.toString(16).padStart(2, '0');
const mac = (i: number) => `52:54:00:00:${hex(i >> 8)}:${hex(i & 255)}`;
const ip = (i: number) => `10.99.${i >> 7}.${(i & 127) + 1}`;
const dnsmasqText = (n: number, renewed = new Map<number, number>()) =>
  Array.from({ length: n }, (_, i) => `${renewed.get(i) ?? FUTURE} ${mac(i)} ${ip(i)} node${i} *\n`).join('');

/** dnsmasq's rewrite: same inode, truncate, then the text in two writes with a pause mid-line */
async function rewriteInPlace(file: string, text: string, pauseMs: number): Promise<void> {
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, 0);
    const cut = Math.floor(text.length / 2) + 3; // lands inside a line
    writeSync(fd, text.slice(0, cut), 0);
    if (pauseMs) await sleep(pauseMs);
    writeSync(fd, text.slice(cut), cut);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

test('dnsmasq truncate-and-rewrite with a half-written file in between: renewals seen once, never a gone', async () => {
  const dir = tempDir('pxb-churn-');
  const file = path.join(dir, 'dnsmasq.leases');
  writeFileSync(file, dnsmasqText(300));
  const w = await watchLeases('dnsmasq-leases', file);
  await w.next('all 300 leases', () => w.events.length >= 300);
  const renewed = new Map<number, number>();
  const order: string[] = [];
  for (let k = 0; k < 25; k++) {
    const i = (k * 37) % 300;
    renewed.set(i, FUTURE + 100 + k);
    order.push(`seen ${ip(i)} ${mac(i)}`);
    // mostly short pauses (a slow stdio flush); two longer than the 150 ms settle time
    await rewriteInPlace(file, dnsmasqText(300, renewed), k % 12 === 5 ? 400 : 30);
    await w.next(`renewal ${k}`, (e) => e.kind === 'seen' && e.ip === ip(i) && e.expires === (FUTURE + 100 + k) * 1000, 3000, 300);
    await sleep(20);
  }
  await sleep(400);
  const after300 = w.events.slice(300).map((r) => brief(r.e));
  assert.deepEqual(after300, order, 'exactly one seen per renewal, no gone');
  // a dnsmasq that genuinely has no leases left: truncated to 0 and it stays so
  const t0 = nowMs();
  const fd = openSync(file, 'r+');
  ftruncateSync(fd, 0);
  closeSync(fd);
  await w.next('all gone', () => w.events.filter((r) => r.e.kind === 'gone').length === 300, 3000);
  const gones = w.events.filter((r) => r.e.kind === 'gone');
  assert.ok(gones.every((r) => r.e.kind === 'gone' && r.e.reason === 'removed'));
  const waited = gones[0]!.at - t0;
  console.log(`# empty file accepted after ${waited.toFixed(0)} ms`);
  assert.ok(waited >= 140, `emptiness must persist before mass gone (waited ${waited} ms)`);
  assert.deepEqual(w.bad, []);
  await w.stop();
});

const iscBlock = (i: number, state = 'active', ends = '2090/05/01 22:34:56') =>
  `lease ${ip(i)} {\n  starts 3 2024/05/01 10:34:56;\n  ends 3 ${ends};\n  cltt 3 2024/05/01 10:34:56;\n  binding state ${state};\n  next binding state free;\n  hardware ethernet ${mac(i)};\n  uid "\\001RT\\000\\000\\000${i}";\n  client-hostname "isc${i}";\n}\n`;

test('ISC: appends (also cut mid-block), the hourly link+rename rewrite, backup and temp files', async () => {
  const dir = tempDir('pxb-churn-');
  const file = path.join(dir, 'dhcpd.leases');
  writeFileSync(file, '# The format of this file is documented in the dhcpd.leases(5) manual page.\nauthoring-byte-order little-endian;\n\n' + iscBlock(1) + iscBlock(2));
  const w = await watchLeases('isc-leases', file);
  await w.next('two leases', () => w.events.length >= 2);
  const b3 = iscBlock(3);
  appendFileSync(file, b3.slice(0, 70));
  await sleep(100);
  assert.equal(w.events.length, 2, 'half a block is not a lease');
  const t0 = nowMs();
  appendFileSync(file, b3.slice(70));
  const s3 = await w.next('lease 3', (e) => e.kind === 'seen' && e.ip === ip(3));
  console.log(`# ISC append -> seen ${(s3.at - t0).toFixed(1)} ms`);
  appendFileSync(file, iscBlock(2, 'free', '2024/05/01 11:00:00'));
  await w.next('lease 2 freed', (e) => e.kind === 'gone' && e.ip === ip(2));
  // the rewrite: dhcpd.leases.<t> written in full, dhcpd.leases~ re-linked, rename into place
  const tmp = path.join(dir, 'dhcpd.leases.1714560000');
  writeFileSync(tmp, '# rewritten\nauthoring-byte-order little-endian;\n' + iscBlock(1) + iscBlock(3, 'active', '2091/01/01 00:00:00') + iscBlock(4));
  rmSync(file + '~', { force: true });
  linkSync(file, file + '~');
  renameSync(tmp, file);
  await w.next('lease 4 after the rewrite', (e) => e.kind === 'seen' && e.ip === ip(4));
  appendFileSync(file, iscBlock(5));
  await w.next('append to the new inode', (e) => e.kind === 'seen' && e.ip === ip(5));
  appendFileSync(file + '~', iscBlock(9)); // the old inode: not ours any more
  writeFileSync(path.join(dir, 'dhcpd.leases.1714563600'), iscBlock(8));
  await sleep(300);
  assert.deepEqual(
    w.events.map((r) => brief(r.e)),
    [
      `seen ${ip(1)} ${mac(1)}`,
      `seen ${ip(2)} ${mac(2)}`,
      `seen ${ip(3)} ${mac(3)}`,
      `gone ${ip(2)} ${mac(2)} (free)`,
      `seen ${ip(3)} ${mac(3)}`, // its expiry changed in the rewrite
      `seen ${ip(4)} ${mac(4)}`,
      `seen ${ip(5)} ${mac(5)}`,
    ],
  );
  await w.stop();
});

const KEA_HDR = 'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id\n';
const keaRow = (i: number, life = 3600) => `${ip(i)},${mac(i)},,${life},${FUTURE},1,0,0,kea${i},0,,0\n`;

test('Kea: LFC rotation with real renames, fast (as kea-lfc does it) and slow; no client lost or re-announced', async () => {
  const dir = tempDir('pxb-churn-');
  const live = path.join(dir, 'kea-leases4.csv');
  writeFileSync(live, KEA_HDR + keaRow(1) + keaRow(2) + keaRow(3));
  const w = await watchLeases('kea-leases', live);
  await w.next('three leases', () => w.events.length >= 3);
  appendFileSync(live, keaRow(3, 0));
  await w.next('lease 3 deleted', (e) => e.kind === 'gone' && e.ip === ip(3));
  for (const pause of [0, 60]) {
    const step = () => (pause ? sleep(pause) : Promise.resolve());
    // server: rename live -> .1, open a new live file
    renameSync(live, live + '.1');
    await step();
    writeFileSync(live, KEA_HDR);
    await step();
    // kea-lfc: merge .2 + .1 -> .output -> .completed, unlink .2 and .1, .completed -> .2
    writeFileSync(live + '.pid', String(process.pid));
    writeFileSync(live + '.output', KEA_HDR + keaRow(1) + keaRow(2));
    await step();
    renameSync(live + '.output', live + '.completed');
    await step();
    rmSync(live + '.2', { force: true });
    await step();
    unlinkSync(live + '.1');
    await step();
    renameSync(live + '.completed', live + '.2');
    unlinkSync(live + '.pid');
    await sleep(300);
  }
  appendFileSync(live, keaRow(4));
  await w.next('lease 4 in the new live file', (e) => e.kind === 'seen' && e.ip === ip(4));
  await sleep(300);
  assert.deepEqual(
    w.events.map((r) => brief(r.e)),
    [`seen ${ip(1)} ${mac(1)}`, `seen ${ip(2)} ${mac(2)}`, `seen ${ip(3)} ${mac(3)}`, `gone ${ip(3)} ${mac(3)} (deleted)`, `seen ${ip(4)} ${mac(4)}`],
  );
  await w.stop();
});

test('a missing file (and directory) at start is waited for; a deleted file that comes back is re-read', async () => {
  const root = tempDir('pxb-churn-');
  const dir = path.join(root, 'not-yet');
  const file = path.join(dir, 'dnsmasq.leases');
  const w = await watchLeases('dnsmasq-leases', file, { settleMs: 100 });
  await sleep(200);
  mkdirSync(dir);
  await sleep(100);
  writeFileSync(file, dnsmasqText(2));
  await w.next('leases once the directory and file exist', () => w.events.length >= 2, 5000);
  unlinkSync(file);
  await sleep(300);
  assert.equal(w.events.length, 2, 'a vanished file is waited for, not mourned');
  writeFileSync(file, dnsmasqText(3).split('\n').slice(1).join('\n'));
  await w.next('lease 2 from the new file', (e) => e.kind === 'seen' && e.ip === ip(2));
  await w.next('lease 0 is not in the new file', (e) => e.kind === 'gone' && e.ip === ip(0));
  await sleep(200);
  assert.deepEqual(w.events.map((r) => brief(r.e)), [`seen ${ip(0)} ${mac(0)}`, `seen ${ip(1)} ${mac(1)}`, `seen ${ip(2)} ${mac(2)}`, `gone ${ip(0)} ${mac(0)} (removed)`]);
  await w.stop();
});

test('stop() releases every watch and timer it made', async () => {
  const dir = tempDir('pxb-churn-');
  const file = path.join(dir, 'dnsmasq.leases');
  writeFileSync(file, `${Math.floor(Date.now() / 1000) + 3600} ${mac(1)} ${ip(1)} a *\n`);
  await sleep(50);
  const count = () => process.getActiveResourcesInfo().filter((r) => r === 'FSEvent' || r === 'Timeout').length;
  const before = count();
  const w = await watchLeases('dnsmasq-leases', file, { pollMs: 1000 });
  await w.next('the lease', (e) => e.kind === 'seen');
  writeFileSync(file, ''); // leaves a settle timer pending
  await sleep(20);
  assert.ok(count() > before, 'the running watcher holds watches/timers');
  await w.stop();
  await sleep(20);
  assert.equal(count(), before);
});
