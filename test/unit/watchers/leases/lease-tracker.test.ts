// The tracker decides when a lease is seen or gone; a fake clock drives it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLeaseTracker } from '../../../../watchers/leases/lease-tracker.ts';
import type { Lease, LeaseUpdate } from '../../../../watchers/leases/lease.ts';
import type { ReadOutcome } from '../../../../watchers/leases/lease-readers.ts';
import type { ClientEvent } from '../../../../src/types.ts';
import { isCurrent } from '../../../../watchers/leases/lease.ts';
import { xorshift32 } from '../../../helpers/prng.ts';

const S = 'dnsmasq-leases:/var/lib/misc/dnsmasq.leases';
function setup() {
  const clock = { t: 1_000_000 };
  const tr = createLeaseTracker('dnsmasq-leases', S, { settleMs: 150, now: () => clock.t });
  return { clock, tr };
}
const full = (...ls: Lease[]): ReadOutcome => ({ kind: 'full', leases: new Map(ls.map((l) => [l.ip, l])), partial: false, bad: [] });
const delta = (...us: LeaseUpdate[]): ReadOutcome => ({ kind: 'delta', updates: us, bad: [] });
const brief = (es: ClientEvent[]) => es.map((e) => `${e.kind} ${e.ip} ${e.mac ?? '-'}${e.kind === 'gone' ? ' ' + e.reason : ''}`);
const a: Lease = { ip: '10.0.0.1', mac: '52:54:00:00:00:01', hostname: 'a', expires: 0 };
const b: Lease = { ip: '10.0.0.2', mac: '52:54:00:00:00:02', expires: 5_000_000 };

test('seen at once with the full event shape; an identical re-read says nothing', () => {
  const { tr, clock } = setup();
  const r = tr.apply(full(a, b));
  assert.deepEqual(r.events[0], { kind: 'seen', ip: '10.0.0.1', mac: '52:54:00:00:00:01', hostname: 'a', source: S, sourceType: 'dnsmasq-leases', time: clock.t, expires: 0 });
  assert.deepEqual(brief(r.events), ['seen 10.0.0.1 52:54:00:00:00:01', 'seen 10.0.0.2 52:54:00:00:00:02']);
  assert.deepEqual(tr.apply(full(a, b)).events, []);
  assert.equal(tr.size(), 2);
});

test('a renewed expiry is seen again', () => {
  const { tr } = setup();
  tr.apply(full(a, b));
  assert.deepEqual(brief(tr.apply(full(a, { ...b, expires: 6_000_000 })).events), ['seen 10.0.0.2 52:54:00:00:00:02']);
});

test('an empty read (truncate-and-rewrite) is never a mass gone unless it persists for settleMs', () => {
  const { tr, clock } = setup();
  tr.apply(full(a, b));
  assert.deepEqual(tr.apply(full()).events, []);
  assert.equal(tr.nextSettle(), clock.t + 150);
  clock.t += 3;
  assert.deepEqual(tr.apply(full(a, b)).events, [], 'the rewrite landed: nothing happened');
  assert.equal(tr.nextSettle(), undefined);
  assert.equal(tr.nextExpiry(), b.expires);
  // a dnsmasq that really has no leases any more: still empty after the settle time
  tr.apply(full());
  clock.t += 100;
  assert.deepEqual(tr.apply(full()).events, []);
  clock.t += 50;
  assert.deepEqual(brief(tr.apply(full()).events), ['gone 10.0.0.1 52:54:00:00:00:01 removed', 'gone 10.0.0.2 52:54:00:00:00:02 removed']);
  assert.equal(tr.size(), 0);
  assert.equal(tr.nextSettle(), undefined);
  assert.equal(tr.nextExpiry(), undefined);
});

test('a lease whose expiry passes while the file sits still is gone (expired), at once', () => {
  const { tr, clock } = setup();
  tr.apply(full(a, b));
  assert.equal(tr.nextExpiry(), 5_000_000);
  clock.t = 5_000_000;
  assert.deepEqual(brief(tr.apply({ kind: 'unchanged' }).events), ['gone 10.0.0.2 52:54:00:00:00:02 expired']);
  assert.equal(tr.nextExpiry(), undefined);
  // an expired lease still in the file is not seen again
  assert.deepEqual(tr.apply(full(a, b)).events, []);
});

test('an IP handed to another MAC: gone for the old MAC, seen for the new', () => {
  const { tr } = setup();
  tr.apply(full(a));
  const moved = { ...a, mac: '52:54:00:00:00:99' };
  assert.deepEqual(brief(tr.apply(full(moved)).events), ['gone 10.0.0.1 52:54:00:00:00:01 address reassigned', 'seen 10.0.0.1 52:54:00:00:00:99']);
});

test('journal deltas: a released entry is gone with its state as reason, after the settle', () => {
  const { tr, clock } = setup();
  assert.deepEqual(brief(tr.apply(delta({ ...a, active: true, state: 'active' })).events), ['seen 10.0.0.1 52:54:00:00:00:01']);
  assert.deepEqual(tr.apply(delta({ ...a, active: false, state: 'released' })).events, []);
  clock.t += 150;
  assert.deepEqual(brief(tr.apply(delta()).events), ['gone 10.0.0.1 52:54:00:00:00:01 released']);
});

test('a missing file keeps what we know', () => {
  const { tr, clock } = setup();
  tr.apply(full(a));
  clock.t += 10_000;
  assert.deepEqual(tr.apply({ kind: 'missing' }).events, []);
  assert.equal(tr.size(), 1);
});

test('a read cut mid-line can start a gone but never confirm one, however long it lasts', () => {
  const { tr, clock } = setup();
  tr.apply(full(a, b));
  const partial = (...ls: Lease[]): ReadOutcome => ({ kind: 'full', leases: new Map(ls.map((l) => [l.ip, l])), partial: true, bad: [] });
  assert.deepEqual(tr.apply(partial(a)).events, []);
  clock.t += 10_000;
  assert.deepEqual(tr.apply(partial(a)).events, [], 'still cut short: b may be in the unread part');
  assert.deepEqual(brief(tr.apply(full(a)).events), ['gone 10.0.0.2 52:54:00:00:00:02 removed'], 'a complete read confirms it');
});

test('full reads of journals carry the inactive state as the gone reason', () => {
  const { tr, clock } = setup();
  tr.apply(full(a));
  tr.apply({ kind: 'full', leases: new Map(), partial: false, bad: [], states: new Map([[a.ip, 'deleted']]) });
  clock.t += 150;
  assert.deepEqual(brief(tr.apply({ kind: 'unchanged' }).events), ['gone 10.0.0.1 52:54:00:00:00:01 deleted']);
});

test('many leases expiring one by one: each look costs only the due ones; renewed leases do not expire', () => {
  const { tr, clock } = setup();
  const us: LeaseUpdate[] = [];
  for (let i = 0; i < 1000; i++) us.push({ ip: `10.1.${i >> 8}.${i & 255}`, mac: '52:54:00:00:00:01', expires: clock.t + 1000 + i, active: true, state: 'active' });
  assert.equal(tr.apply(delta(...us)).events.length, 1000);
  // renew the first ten before they expire
  tr.apply(delta(...us.slice(0, 10).map((u) => ({ ...u, expires: clock.t + 1_000_000 }))));
  clock.t += 1000 + 99; // leases 0..99 are past expiry
  const gone = tr.apply({ kind: 'unchanged' }).events;
  assert.equal(gone.length, 90);
  assert.ok(gone.every((e) => e.kind === 'gone' && e.reason === 'expired'));
  assert.equal(tr.nextExpiry(), clock.t + 1);
  assert.equal(tr.size(), 910);
});

test('full reads that change a few leases at a time: after each settled read the announced set is exactly the current leases (3,000 random reads)', () => {
  const { tr, clock } = setup();
  const r = xorshift32(0x7ac4);
  const n = (k: number) => r() % k;
  const file = new Map<string, Lease>();
  const announced = new Map<string, string>();
  const fold = (events: ClientEvent[], current: Map<string, Lease>) => {
    for (const e of events) {
      const ip = e.ip ?? '';
      if (e.kind === 'seen') announced.set(ip, `${e.mac} ${e.hostname ?? ''} ${e.expires}`);
      else {
        assert.ok(announced.has(ip), `gone for ${ip}, which was never seen`);
        const c = current.get(ip);
        assert.ok(!c || c.mac !== e.mac || !isCurrent(c, clock.t), `gone for ${ip}, still current`);
        announced.delete(ip);
      }
    }
  };
  for (let step = 0; step < 3_000; step++) {
    for (let e = n(4); e > 0; e--) {
      const i = n(40);
      const ip = `10.0.0.${i}`;
      if (n(3) === 0) file.delete(ip);
      else file.set(ip, { ip, mac: `52:54:00:00:00:${n(3)}${n(10)}`, ...(n(2) ? { hostname: `h${n(5)}` } : {}), expires: n(4) === 0 ? 0 : clock.t + n(2_000) });
    }
    if (n(10) === 0) {
      // re-order the file (a rewrite in another order): the diff falls back to lookups
      const all = [...file];
      file.clear();
      for (const [k, v] of all.reverse()) file.set(k, v);
    }
    clock.t += n(100);
    fold(tr.apply({ kind: 'full', leases: new Map(file), partial: false, bad: [] }).events, file);
    if (n(3) === 0) {
      clock.t += 150; // let every pending gone settle, then read the same file again
      fold(tr.apply({ kind: 'full', leases: new Map(file), partial: false, bad: [] }).events, file);
      const want = new Map([...file].filter(([, l]) => isCurrent(l, clock.t)).map(([ip, l]) => [ip, `${l.mac} ${l.hostname ?? ''} ${l.expires}`]));
      assert.deepEqual(new Map([...announced].sort()), new Map([...want].sort()), `step ${step}`);
      assert.equal(tr.size(), want.size);
    }
  }
});
