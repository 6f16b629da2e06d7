import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffLeases, isCurrent, type Lease } from '../../../../watchers/leases/lease.ts';

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
