import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffLeases, isCurrent, type Lease } from '../../../../watchers/leases/lease.ts';
import { xorshift32 } from '../../../helpers/prng.ts';

const m = (...ls: Lease[]) => new Map(ls.map((l) => [l.ip, l]));
const a: Lease = { ip: '10.0.0.1', mac: '52:54:00:00:00:01', hostname: 'a', expires: 1000 };
const b: Lease = { ip: '10.0.0.2', mac: '52:54:00:00:00:02', expires: 0 };

test('new, unchanged and removed leases', () => {
  assert.deepEqual(diffLeases(m(), m(a, b)), { seen: [a, b], gone: [] });
  assert.deepEqual(diffLeases(m(a, b), m(a, b)), { seen: [], gone: [] });
  assert.deepEqual(diffLeases(m(a, b), m(b)), { seen: [], gone: [a] });
  assert.deepEqual(diffLeases(m(a), m()), { seen: [], gone: [a] });
});

test('a renewed expiry or a new hostname is seen again; an IP that moved to another MAC is gone then seen', () => {
  const renewed = { ...a, expires: 2000 };
  assert.deepEqual(diffLeases(m(a), m(renewed)), { seen: [renewed], gone: [] });
  const renamed = { ...a, hostname: 'b' };
  assert.deepEqual(diffLeases(m(a), m(renamed)), { seen: [renamed], gone: [] });
  const moved = { ...a, mac: '52:54:00:00:00:09' };
  assert.deepEqual(diffLeases(m(a), m(moved)), { seen: [moved], gone: [a] });
});

test('isCurrent: 0 never expires, otherwise strictly before expiry', () => {
  assert.equal(isCurrent(b, 1e15), true);
  assert.equal(isCurrent(a, 999), true);
  assert.equal(isCurrent(a, 1000), false);
});

/** the obvious two-lookup diff, as a reference for the order-walking one */
function referenceDiff(prev: Map<string, Lease>, next: Map<string, Lease>): { seen: Lease[]; gone: Lease[] } {
  const seen: Lease[] = [];
  const gone: Lease[] = [];
  for (const [ip, n] of next) {
    const p = prev.get(ip);
    if (!p) seen.push(n);
    else if (p.mac !== n.mac || p.hostname !== n.hostname || p.expires !== n.expires) {
      if (p.mac !== n.mac) gone.push(p);
      seen.push(n);
    }
  }
  for (const [ip, p] of prev) if (!next.has(ip)) gone.push(p);
  return { seen, gone };
}

test('diffLeases agrees with a two-lookup reference on 20,000 random pairs (inserts, removals, changes, reorders)', () => {
  const r = xorshift32(0x1ea5e);
  const n = (k: number) => r() % k;
  const lease = (i: number, e: number): Lease => ({ ip: `10.0.${i >> 8}.${i & 255}`, mac: `52:54:00:00:00:${(i & 255).toString(16).padStart(2, '0')}`, expires: e });
  const key = (l: Lease) => `${l.ip} ${l.mac} ${l.expires}`;
  for (let round = 0; round < 20_000; round++) {
    const prevList = Array.from({ length: n(30) }, (_, i) => lease(n(60), i % 3));
    const nextList = prevList.map((l) => ({ ...l }));
    for (let e = n(5); e > 0; e--) {
      const k = n(nextList.length + 1);
      const op = n(5);
      if (op === 0) nextList.splice(k, 0, lease(n(60), 7));
      else if (op === 1) nextList.splice(k, 1);
      else if (op === 2 && nextList[k]) nextList[k] = { ...nextList[k]!, expires: 9 };
      else if (op === 3 && nextList[k]) nextList[k] = { ...nextList[k]!, mac: '52:54:00:99:99:99' };
      else if (nextList.length > 1) nextList.push(...nextList.splice(k, 1)); // move one lease to the end
    }
    const prev = m(...prevList);
    const next = m(...nextList);
    const got = diffLeases(prev, next);
    const want = referenceDiff(prev, next);
    assert.deepEqual(got.seen.map(key), want.seen.map(key), `round ${round}: seen`);
    assert.deepEqual(got.gone.map(key).sort(), want.gone.map(key).sort(), `round ${round}: gone`);
  }
});
