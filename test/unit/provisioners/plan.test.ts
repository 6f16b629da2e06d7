// planNode is pure: the node, its rule and what is in place for it now (its mount, its export) give
// the steps; a step already done is left out or becomes a check. One case per current state.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { exportState, NOTHING_IN_PLACE, nodeTargets, planNode, type NodeCurrent } from '../../../provisioners/plan.ts';
import type { PlanStep } from '../../../src/contracts.ts';
import { makeConfig, makeNode, makeRule } from './fixtures.ts';

// nothing here exists: a pure planner must not look
const BASE = '/nonexistent/pxd-plan';
const config = makeConfig(BASE);
const node = makeNode(48);
const persistent = makeRule(BASE);
const ephemeral = makeRule(BASE, { overlay: 'ephemeral' });
const ops = (steps: PlanStep[]) => steps.map((s) => s.op);
const ours = { kind: 'ours' } as const;
const at = (mount: NodeCurrent['mount'], exp: NodeCurrent['export']): NodeCurrent => ({ mount, export: exp });
const plan = (rule = persistent, current: NodeCurrent = NOTHING_IN_PLACE, restore = false) => planNode(node, rule, config, current, { restore });

describe('planNode against what is in place', () => {
  test('nothing in place: mount, export, reload, boot files (config last)', () => {
    assert.deepEqual(ops(plan().steps), ['mkdir', 'mount', 'verify-mount', 'export', 'reload', 'write', 'link']);
    assert.match(plan().steps[3]!.describe, /^add to \/nonexistent\/pxd-plan\/exports\.d\/pxebootd\.exports: \/nonexistent\/pxd-plan\/node\/0A630032 10\.99\.0\.50\(/);
  });

  test('already mounted: a check instead of mkdir and mount', () => {
    const p = plan(persistent, at(ours, 'absent'));
    assert.deepEqual(ops(p.steps), ['verify-mount', 'export', 'reload', 'write', 'link']);
    assert.match(p.steps[0]!.describe, /^already mounted: overlay at \/nonexistent\/pxd-plan\/node\/0A630032/);
  });

  test('already exported as planned: no add and no reload of its own, a check that it is live', () => {
    const p = plan(persistent, at(ours, 'same'));
    assert.deepEqual(ops(p.steps), ['verify-mount', 'verify-export', 'write', 'link']);
    assert.match(p.steps[1]!.describe, /^already in .*pxebootd\.exports: .*\(check \/nonexistent\/pxd-plan\/etab for .* fsid=10048; exportfs -r only if it is not there/);
    assert.deepEqual(ops(plan(persistent, at({ kind: 'absent' }, 'same')).steps), ['mkdir', 'mount', 'verify-mount', 'verify-export', 'write', 'link']);
  });

  test('exported with another entry (a new IP): replaced, then reloaded', () => {
    const p = plan(persistent, at(ours, 'changed'));
    assert.deepEqual(ops(p.steps), ['verify-mount', 'export', 'reload', 'write', 'link']);
    assert.match(p.steps[1]!.describe, /^replace the entry of \/nonexistent\/pxd-plan\/node\/0A630032 in .*pxebootd\.exports with: /);
  });

  test('something else mounted at the point: the plan stops there, whatever the export', () => {
    for (const kind of ['conflict', 'no-export'] as const) {
      for (const exp of ['absent', 'same'] as const) {
        const p = plan(ephemeral, at({ kind, reason: 'x is a tmpfs' }, exp));
        assert.equal(p.steps[0]!.op, 'refuse');
        assert.equal((p.steps[0] as { reason: string }).reason, 'x is a tmpfs; not reusing it (unmount it by hand if it is stale)');
        assert.ok(!ops(p.steps).includes('mount') && !ops(p.steps).includes('reset-layer') && !ops(p.steps).includes('umount'));
      }
    }
  });

  test('ephemeral, not exported: a fresh layer (unmounting its overlay first when it is still mounted)', () => {
    assert.deepEqual(ops(plan(ephemeral).steps), ['reset-layer', 'mkdir', 'mount', 'verify-mount', 'export', 'reload', 'write', 'link']);
    assert.deepEqual(ops(plan(ephemeral, at(ours, 'absent')).steps), ['umount', 'reset-layer', 'mkdir', 'mount', 'verify-mount', 'export', 'reload', 'write', 'link']);
  });

  test('ephemeral and exported (ready): left alone, like a persistent node', () => {
    assert.deepEqual(ops(plan(ephemeral, at(ours, 'same')).steps), ['verify-mount', 'verify-export', 'write', 'link']);
    assert.deepEqual(ops(plan(ephemeral, at(ours, 'changed')).steps), ['verify-mount', 'export', 'reload', 'write', 'link']);
  });

  test('restore: exported again and reloaded even when our file has it; an ephemeral layer is kept', () => {
    const p = plan(ephemeral, at(ours, 'same'), true);
    assert.deepEqual(ops(p.steps), ['verify-mount', 'export', 'reload', 'write', 'link']);
    assert.equal((p.steps[1] as { force?: boolean }).force, true);
    assert.match(p.steps[1]!.describe, /^keep in .* and export again \(the server may have restarted\)/);
    assert.deepEqual(ops(plan(ephemeral, NOTHING_IN_PLACE, true).steps), ['mkdir', 'mount', 'verify-mount', 'export', 'reload', 'write', 'link']);
    assert.equal((plan(persistent).steps[3] as { force?: boolean }).force, undefined);
  });

  test('ganesha: an export already in the file needs no SIGHUP', () => {
    const g = makeConfig(BASE, { exports: { backend: 'ganesha', file: `${BASE}/ganesha.conf`, pid_file: `${BASE}/ganesha.pid` } });
    const p = planNode(node, persistent, g, at(ours, 'same'));
    assert.deepEqual(ops(p.steps), ['verify-mount', 'verify-export', 'write', 'link']);
    assert.match(p.steps[1]!.describe, /^already in .*ganesha\.conf: # pxebootd node 0A630032 EXPORT \{.*\(no reload for it\)$/);
  });

  test('the plan does not depend on the state beyond its steps', () => {
    const a = plan();
    const b = plan(persistent, at(ours, 'same'));
    assert.deepEqual([a.exportEntry, a.nfsPath, a.bootFiles, a.paths, a.entry], [b.exportEntry, b.nfsPath, b.bootFiles, b.paths, b.entry]);
  });
});

test('exportState compares our file\'s entry with the planned one', () => {
  const { entry } = nodeTargets(node, persistent, config);
  assert.equal(exportState(undefined, entry), 'absent');
  assert.equal(exportState({ ...entry }, entry), 'same');
  assert.equal(exportState({ ...entry, ip: '10.99.0.51' }, entry), 'changed');
  assert.equal(exportState({ ...entry, fsid: entry.fsid + 1 }, entry), 'changed');
  assert.equal(exportState({ ...entry, pseudo: '/nodes/x' }, entry), 'changed');
});
