// The pure parts of the store: names and version ids, history, rollback and retention plans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkComponent, isVersionEntry, newVersionId } from '../../../src/images/names.ts';
import { formatHistory, parseHistory, planRollback } from '../../../src/images/store.ts';
import { keepReason, planPrune, usersByVersion } from '../../../src/images/retention.ts';

test('names and versions: [A-Za-z0-9._-] only, no dot-names, no reserved ids', () => {
  for (const ok of ['base', 'debian-12', 'a.b_c']) assert.equal(checkComponent(ok, 'image name'), undefined, ok);
  for (const bad of ['', '.', '..', '.x', 'a/b', 'a b', 'é', 'x'.repeat(200), '-rf']) assert.ok(checkComponent(bad, 'image name'), bad);
  assert.ok(checkComponent('current', 'version'));
  assert.equal(isVersionEntry('history'), false);
});

test('version ids sort by time and differ within one millisecond', () => {
  const a = newVersionId(new Date('2026-12-04T21:03:00.123Z'), 'aaaaaa');
  assert.equal(a, '20261204T210300.123Z-aaaaaa');
  const b = newVersionId(new Date('2026-12-04T21:03:00.124Z'));
  assert.ok(a < b);
  const t = new Date();
  assert.notEqual(newVersionId(t), newVersionId(t));
  assert.equal(checkComponent(b, 'version'), undefined);
});

test('history round-trips and skips junk lines', () => {
  const h = [{ time: '2026-01-01T00:00:00.000Z', version: 'v1' }, { time: '2026-01-02T00:00:00.000Z', version: 'v2' }];
  assert.deepEqual(parseHistory(formatHistory(h) + 'garbage\n../x y\n'), h);
});

test('rollback goes to the last promotion of another present version and drops what came after', () => {
  const h = ['v1', 'v2', 'v3', 'v3'].map((version, i) => ({ time: String(i), version }));
  assert.deepEqual(planRollback(h, 'v3', new Set(['v1', 'v2', 'v3'])), { version: 'v2', history: h.slice(0, 2) });
  assert.deepEqual(planRollback(h, 'v3', new Set(['v1', 'v3']))?.version, 'v1', 'a removed version is skipped');
  assert.equal(planRollback(h.slice(0, 1), 'v1', new Set(['v1'])), undefined);
});

test('retention keeps current, used and newest N; node records without image fields use nothing', () => {
  const versions = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6'];
  const users = usersByVersion([{ name: 'n1', image: 'base', image_version: 'v2' }, { name: 'n2', image: 'other', image_version: 'v3' }, { name: 'n3' }], 'base');
  assert.deepEqual([...users], [['v2', ['n1']]]);
  const r = { versions, current: 'v1', users, keep: 3 };
  assert.deepEqual(planPrune(r), ['v3']);
  assert.match(keepReason('v1', r)!, /current/);
  assert.match(keepReason('v2', r)!, /node n1 runs it/);
  assert.match(keepReason('v6', r)!, /newest 3/);
  assert.deepEqual(planPrune({ ...r, keep: 0 }), ['v3', 'v4', 'v5', 'v6']);
});
