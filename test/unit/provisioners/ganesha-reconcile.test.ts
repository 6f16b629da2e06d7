// What a Ganesha full sync over DBus does with ShowExports' list (planGaneshaSync) and with an
// export it could not match (judgeShownExport): pure, no bus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeShownExport, planGaneshaSync } from '../../../provisioners/export-backends.ts';
import type { ExportEntry } from '../../../provisioners/export-entry.ts';
import { nodeBelow } from '../../../provisioners/paths.ts';

const e = (node: string, fsid: number, ip = '10.0.0.5'): ExportEntry => ({ node, path: `/srv/node/${node}`, ip, fsid, pseudo: `/nodes/${node}` });
const byId = (...es: ExportEntry[]) => new Map(es.map((x) => [x.fsid, x]));

test('listed with its id and path: same; not listed: missing; the pseudo root is never touched', () => {
  const a = e('A', 101);
  const b = e('B', 102);
  const plan = planGaneshaSync(byId(a, b), [{ id: 0, path: '/' }, { id: 101, path: a.path }]);
  assert.deepEqual(plan, { missing: [b], same: [a], other: [] });
});

test('an id listed under another path, or wanted by nobody, needs a look before anything is done', () => {
  const a = e('A', 101);
  const plan = planGaneshaSync(byId(a), [
    { id: 101, path: '/nodes/A' }, // ShowExports shows the Pseudo when Ganesha runs with mount_path_pseudo
    { id: 102, path: '/srv/node/OLD' },
    { id: 7, path: '/export/admin' },
    { id: 102, path: '/srv/node/OLD' }, // listed twice: looked at once
  ]);
  assert.deepEqual(plan.missing, []);
  assert.deepEqual(plan.same, []);
  assert.deepEqual(plan.other.map((o) => o.id), [101, 102, 7]);
});

test('DisplayExport decides: the wanted path is the same export; our path is removed; anything else is left alone', () => {
  const a = e('A', 101);
  const ours = (p: string) => p.startsWith('/srv/node/');
  const info = (id: number, p: string) => ({ id, path: p, pseudo: p, clients: ['10.0.0.5/32'] });
  assert.equal(judgeShownExport(info(101, a.path), a, ours), 'same');
  assert.equal(judgeShownExport(info(102, '/srv/node/OLD'), undefined, ours), 'remove');
  assert.equal(judgeShownExport(info(101, '/srv/node/OLD'), a, ours), 'remove', 'our stale export on the id a node wants now');
  assert.equal(judgeShownExport(info(7, '/export/admin'), undefined, ours), 'foreign');
  assert.equal(judgeShownExport(info(101, '/export/admin'), a, ours), 'foreign', 'never replaced, even on an id we want');
});

test('nodeBelow, the sync\'s test of "ours": <node_dir>/<NODE> only, not any path below a node_dir', () => {
  const dirs = new Set(['/srv/node']);
  assert.equal(nodeBelow('/srv/node/0A000005', dirs), '0A000005');
  assert.equal(nodeBelow('/srv/node/01-52-54-00-12-34-56', dirs), '01-52-54-00-12-34-56', 'a MAC-named node');
  assert.equal(nodeBelow('/srv/node/common', dirs), undefined, "an admin's directory: node names are hex (IP or MAC)");
  assert.equal(nodeBelow('/srv/node/.snapshots', dirs), undefined, 'not a node name');
  assert.equal(nodeBelow('/srv/node/a b', dirs), undefined);
  assert.equal(nodeBelow('/srv/node/0A000005/sub', dirs), undefined, 'deeper is not a node');
  assert.equal(nodeBelow('/srv/other/0A000005', dirs), undefined);
});
