// Readers on real files in a temp dir, driven step by step through ISC's rename rewrite and Kea's
// LFC rotation (the exact file operations of formats.md §5.3/§5.4); the tracker turns each read into
// events and the node set they add up to must be right after every step.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, linkSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDnsmasqReader, createIscReader, createKeaReader, type LeaseReader } from '../../../../watchers/leases/lease-readers.ts';
import { createLeaseTracker } from '../../../../watchers/leases/lease-tracker.ts';
import type { ClientEvent, LeaseSourceType } from '../../../../src/types.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'pxb-readers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FUTURE = 4_000_000_000; // epoch seconds, 2096
function harness(type: LeaseSourceType, reader: LeaseReader) {
  const tr = createLeaseTracker(type, 's', { settleMs: 0 });
  const nodes = new Set<string>();
  const log: ClientEvent[] = [];
  return {
    nodes,
    log,
    async step(): Promise<string[]> {
      const o = await reader.read(false);
      const { events } = tr.apply(o);
      // settleMs 0: a second look confirms gone at once (the watcher does it on a timer)
      const again = tr.apply({ kind: 'unchanged' }).events;
      const all = [...events, ...again];
      for (const e of all) {
        log.push(e);
        if (e.kind === 'seen') nodes.add(`${e.ip}=${e.mac}`);
        else nodes.delete(`${e.ip}=${e.mac}`);
      }
      return all.map((e) => `${e.kind} ${e.ip}`);
    },
  };
}

const iscLease = (ip: string, mac: string, state = 'active') =>
  `lease ${ip} {\n  starts 3 2024/05/01 10:34:56;\n  ends 3 2090/05/01 22:34:56;\n  binding state ${state};\n  hardware ethernet ${mac};\n}\n`;

test('ISC: appends are deltas; the hourly link+rename rewrite re-reads and emits only differences', async () => {
  const f = path.join(dir, 'dhcpd.leases');
  writeFileSync(f, '# header\nauthoring-byte-order little-endian;\n' + iscLease('10.0.0.1', '52:54:00:00:00:01') + iscLease('10.0.0.2', '52:54:00:00:00:02'));
  const h = harness('isc-leases', createIscReader(f, 's'));
  assert.deepEqual(await h.step(), ['seen 10.0.0.1', 'seen 10.0.0.2']);
  appendFileSync(f, iscLease('10.0.0.3', '52:54:00:00:00:03') + 'lease 10.0.0.4 {\n  starts 3 20');
  assert.deepEqual(await h.step(), ['seen 10.0.0.3']);
  appendFileSync(f, '24/05/01 10:34:56;\n  ends never;\n  binding state active;\n  hardware ethernet 52:54:00:00:00:04;\n}\n' + iscLease('10.0.0.2', '52:54:00:00:00:02', 'released'));
  assert.deepEqual(await h.step(), ['seen 10.0.0.4', 'gone 10.0.0.2']);
  // dhcpd's rewrite: new file dhcpd.leases.<t>, unlink ~, link live -> ~, rename new -> live
  const tmp = path.join(dir, `dhcpd.leases.${Math.floor(Date.now() / 1000)}`);
  writeFileSync(tmp, '# rewritten\n' + iscLease('10.0.0.1', '52:54:00:00:00:01') + iscLease('10.0.0.3', '52:54:00:00:00:03') + iscLease('10.0.0.4', '52:54:00:00:00:04').replace('2090/05/01 22:34:56', '2091/01/01 00:00:00'));
  assert.deepEqual(await h.step(), [], 'the temp file is not the lease file');
  rmSync(f + '~', { force: true });
  linkSync(f, f + '~');
  renameSync(tmp, f);
  assert.deepEqual(await h.step(), ['seen 10.0.0.4'], 'only the changed expiry is news');
  assert.deepEqual([...h.nodes].sort(), ['10.0.0.1=52:54:00:00:00:01', '10.0.0.3=52:54:00:00:00:03', '10.0.0.4=52:54:00:00:00:04']);
  appendFileSync(f, iscLease('10.0.0.5', '52:54:00:00:00:05'));
  assert.deepEqual(await h.step(), ['seen 10.0.0.5'], 'appends to the new inode are followed');
});

const KEA_HDR = 'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n';
const keaRow = (ip: string, mac: string, life = 3600, host = '') => `${ip},${mac},,${life},${FUTURE},1,0,0,${host},0,\n`;

test('Kea: LFC rotation (live -> .1, new live, kea-lfc merges into .2) never loses or re-announces a client', async () => {
  const live = path.join(dir, 'kea-leases4.csv');
  writeFileSync(live, KEA_HDR + keaRow('10.0.1.1', '52:54:00:00:01:01', 3600, 'n1') + keaRow('10.0.1.2', '52:54:00:00:01:02'));
  const h = harness('kea-leases', createKeaReader(live, 's'));
  assert.deepEqual(await h.step(), ['seen 10.0.1.1', 'seen 10.0.1.2']);
  appendFileSync(live, keaRow('10.0.1.2', '52:54:00:00:01:02', 0));
  assert.deepEqual(await h.step(), ['gone 10.0.1.2']);
  // LFC step 1-3: rename live -> .1, create a new live file with the header only
  renameSync(live, live + '.1');
  assert.deepEqual(await h.step(), []);
  writeFileSync(live, KEA_HDR);
  assert.deepEqual(await h.step(), []);
  appendFileSync(live, keaRow('10.0.1.3', '52:54:00:00:01:03'));
  assert.deepEqual(await h.step(), ['seen 10.0.1.3']);
  // kea-lfc: .2 + .1 -> .output -> .completed; unlink .2 and .1; .completed -> .2
  writeFileSync(live + '.output', KEA_HDR + keaRow('10.0.1.1', '52:54:00:00:01:01', 3600, 'n1'));
  assert.deepEqual(await h.step(), [], '.output is ignored');
  renameSync(live + '.output', live + '.completed');
  assert.deepEqual(await h.step(), []);
  unlinkSync(live + '.1');
  assert.deepEqual(await h.step(), [], 'between unlink .1 and the final rename, .completed holds the state');
  renameSync(live + '.completed', live + '.2');
  assert.deepEqual(await h.step(), []);
  assert.deepEqual([...h.nodes].sort(), ['10.0.1.1=52:54:00:00:01:01', '10.0.1.3=52:54:00:00:01:03']);
  // next cycle: the live file rotates again while .2 exists
  renameSync(live, live + '.1');
  writeFileSync(live, KEA_HDR + keaRow('10.0.1.1', '52:54:00:00:01:01', 0));
  assert.deepEqual(await h.step(), ['gone 10.0.1.1'], 'a delete row in the live file beats .2');
  assert.deepEqual([...h.nodes].sort(), ['10.0.1.3=52:54:00:00:01:03']);
});

test('Kea: kea-lfc renaming files between two of our reads never brings back a deleted lease', async () => {
  const live = path.join(dir, 'kea-race.csv');
  let race: (() => void) | undefined;
  const reader = createKeaReader(live, 's', {
    // kea-lfc runs all its steps right after we read the old .2 and before we look for .1
    afterFile: async (suffix) => {
      if (suffix === '.2' && race) {
        const r = race;
        race = undefined;
        r();
      }
    },
  });
  const h = harness('kea-leases', reader);
  // an earlier cycle compacted A and B into .2; the live file is new
  writeFileSync(live + '.2', KEA_HDR + keaRow('10.0.2.1', '52:54:00:00:02:01') + keaRow('10.0.2.2', '52:54:00:00:02:02'));
  writeFileSync(live, KEA_HDR);
  assert.deepEqual(await h.step(), ['seen 10.0.2.1', 'seen 10.0.2.2']);
  // B is released, then Kea rotates the live file (with B's delete row) to .1
  appendFileSync(live, keaRow('10.0.2.2', '52:54:00:00:02:02', 0));
  assert.deepEqual(await h.step(), ['gone 10.0.2.2']);
  renameSync(live, live + '.1');
  writeFileSync(live, KEA_HDR);
  assert.deepEqual(await h.step(), []);
  // kea-lfc: .2 + .1 -> .completed (B's deleted row dropped), unlink .1 and .2, .completed -> .2
  race = () => {
    writeFileSync(live + '.completed', KEA_HDR + keaRow('10.0.2.1', '52:54:00:00:02:01'));
    unlinkSync(live + '.1');
    unlinkSync(live + '.2');
    renameSync(live + '.completed', live + '.2');
  };
  assert.deepEqual(await h.step(), [], 'B stays gone: the read saw the old .2 but not the .1 that deleted B, and was repeated');
  assert.equal(race, undefined, 'the race ran');
  assert.deepEqual([...h.nodes].sort(), ['10.0.2.1=52:54:00:00:02:01']);
});

test('dnsmasq: a read that ends mid-line is flagged partial and only complete lines count', async () => {
  const f = path.join(dir, 'dnsmasq.leases');
  writeFileSync(f, `${FUTURE} 52:54:00:00:02:01 10.0.2.1 a *\n${FUTURE} 52:54:00:00:02:02 10.0.2`);
  const r = await createDnsmasqReader(f, 's').read(false);
  assert.equal(r.kind, 'full');
  if (r.kind !== 'full') return;
  assert.equal(r.partial, true);
  assert.deepEqual([...r.leases.keys()], ['10.0.2.1']);
  assert.deepEqual(await createDnsmasqReader(path.join(dir, 'nope'), 's').read(false), { kind: 'missing' });
});

test('dnsmasq: a rewrite caught midway (truncated, then part written) changes nothing until it holds still', async () => {
  const f = path.join(dir, 'dnsmasq-rewrite.leases');
  const line = (i: number) => `${FUTURE} 52:54:00:03:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')} 10.0.${3 + (i >> 8)}.${i & 255} n${i} *\n`;
  let text = '';
  for (let i = 1; i <= 1000; i++) text += line(i);
  writeFileSync(f, text);
  const reader = createDnsmasqReader(f, 's');
  const first = await reader.read(false);
  assert.equal(first.kind === 'full' && first.leases.size, 1000);
  const grown = text + line(1001);
  // dnsmasq's steps: truncate, then the new text in pieces; every read in between sees a beginning of it
  for (const cut of [0, text.indexOf('\n', 20_000) + 1, 30_001, text.length]) {
    writeFileSync(f, grown.slice(0, cut));
    const r = await reader.read(false);
    if (cut === text.length) {
      // the old text whole: nothing changed (a read of the same text)
      assert.deepEqual(r.kind === 'delta' && r.updates, []);
      continue;
    }
    assert.equal(r.kind, 'delta', `cut at ${cut}`);
    if (r.kind !== 'delta') return;
    assert.deepEqual(r.updates, [], `cut at ${cut}: no lease removed by a read of a beginning`);
    assert.equal(r.partial, true, `cut at ${cut}: flagged partial, so the watcher reads again soon`);
  }
  writeFileSync(f, grown);
  const done = await reader.read(false);
  assert.deepEqual(done.kind === 'delta' && done.updates.map((u) => `${u.ip} ${u.active}`), ['10.0.6.233 true'], 'the whole new text: only the new lease');
  // a real removal of the last leases: taken once the file has held still for a second
  writeFileSync(f, text.slice(0, text.length - line(1000).length));
  const early = await reader.read(false);
  assert.deepEqual(early.kind === 'delta' && early.updates, []);
  await new Promise((r) => setTimeout(r, 1100));
  const late = await reader.read(false);
  assert.equal(late.kind, 'delta');
  if (late.kind !== 'delta') return;
  assert.equal(late.partial, false);
  assert.deepEqual(late.updates.map((u) => `${u.ip} ${u.active}`).sort(), ['10.0.6.232 false', '10.0.6.233 false'], 'the two last leases are removed');
});

test('ISC: megabytes of bad blocks in one read are reported, not a stack overflow', async () => {
  const f = path.join(dir, 'garbage.leases');
  writeFileSync(f, 'lease 1.2.3 { }\n'.repeat(300_000));
  const r = await createIscReader(f, 's').read(false);
  assert.equal(r.kind, 'full');
  if (r.kind === 'full') assert.equal(r.bad.length, 300_000);
});
