// The apply stage: --dry-run is decided once, in createApply; a plan-only Apply makes and logs plans
// and never calls anything of the provisioner that changes the system. A dry-run daemon with a
// provisioner that throws on every change still plans, restores, releases and reloads.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createApply } from '../../../src/pipeline/jobs.ts';
import { createDaemon } from '../../../src/daemon/daemon.ts';
import type { Provisioner } from '../../../src/contracts.ts';
import type { NodeRecord, ResolvedRule } from '../../../src/types.ts';
import { matchClient } from '../../../src/rules.ts';
import { createFakeRunner } from '../../helpers/fake-runner.ts';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';
import { fakeProvisioner, harness, makeConfig, memoryLogger, seen, until } from '../daemon-fakes.ts';

after(cleanupAll);

const MUTATING = ['provision', 'release', 'switchLayer', 'rerender', 'restore', 'writeDefault', 'cleanOrphans'] as const;

/** The fake provisioner with every method that changes something made to throw. */
function refusingProvisioner(dir: string): Provisioner {
  const p = fakeProvisioner(dir, []);
  for (const m of MUTATING) (p as unknown as Record<string, () => never>)[m] = () => {
    throw new Error(`${m} called in a dry run`);
  };
  return p;
}

test('a plan-only Apply logs each plan and never calls a provisioner method that changes something', async () => {
  const dir = tempDir('pxe-apply-');
  const config = makeConfig(dir, { default_template: '/x/default.tpl' });
  const rule = (matchClient({ ip: '10.99.0.7' }, config) as { rule: ResolvedRule }).rule;
  const node: NodeRecord = { name: '0A630007', ip: '10.99.0.7', subnet: rule.subnet.cidr, state: 'ready', fsid: 1000, lastSeen: 0, sources: [] };
  const { log, lines } = memoryLogger();
  const a = createApply(refusingProvisioner(config.state_dir), log, () => config, true);
  assert.equal(a.planOnly, true);
  await a.provision(node, rule, {});
  await a.reset(node, rule);
  await a.release(node, rule, 'remove');
  assert.match(await a.switchLayer(node, rule, rule, { how: 'carry' }), /^dry run:/);
  assert.equal(await a.rerender(node, rule), 'unchanged');
  assert.equal((await a.restore([{ node, rule }])).size, 0);
  await a.writeDefault();
  await a.cleanOrphans({ mounts: ['/n/x'], exports: [], bootFiles: [] });
  assert.deepEqual(await a.findOrphans([]), { mounts: [], exports: [], bootFiles: [] });
  const msgs = lines.map((l) => String(l.msg));
  for (const want of ['dry run: plan for 0A630007 (10.99.0.7)', 'dry run: ephemeral reset of 0A630007 first', 'dry run: release plan for 0A630007 (remove)', 'dry run: would restore 0A630007', 'dry run: would write pxelinux.cfg/default']) {
    assert.ok(msgs.some((m) => m.startsWith(want)), `logged: ${want}`);
  }
});

test('an applying Apply hands every call to the provisioner', async () => {
  const dir = tempDir('pxe-apply-');
  const config = makeConfig(dir);
  const rule = (matchClient({ ip: '10.99.0.8' }, config) as { rule: ResolvedRule }).rule;
  const node: NodeRecord = { name: '0A630008', ip: '10.99.0.8', subnet: rule.subnet.cidr, state: 'ready', fsid: 1000, lastSeen: 0, sources: [] };
  const p = fakeProvisioner(config.state_dir, []);
  const a = createApply(p, memoryLogger().log, () => config, false);
  await a.provision(node, rule, {});
  await a.reset(node, rule);
  await a.rerender(node, rule);
  await a.writeDefault();
  assert.deepEqual(
    p.calls.map((c) => [c.op, c.policy]),
    [
      ['provision', undefined],
      ['release', 'remove'],
      ['rerender', undefined],
      ['writeDefault', undefined],
    ],
  );
});

test('a dry-run daemon plans a new node, marks it planned, and changes nothing through its provisioner', async () => {
  const dir = tempDir('pxe-apply-daemon-');
  const config = makeConfig(dir);
  const h = harness(config.state_dir);
  const refusing = refusingProvisioner(config.state_dir);
  h.deps.createProvisioner = () => refusing;
  const { log, lines } = memoryLogger();
  const d = createDaemon({ configFile: config.file, config, log, runner: createFakeRunner(() => {}, true), deps: h.deps, control: false, dryRun: true });
  await d.start();
  try {
    h.sink().event(seen('10.99.0.9', '52:54:00:00:00:09'));
    await until('planned', () => lines.some((l) => l.msg === 'node 0A630009 planned (dry run: nothing was changed)'));
    assert.ok(lines.some((l) => String(l.msg).startsWith('dry run: plan for 0A630009 (10.99.0.9):\n  1. mount overlay 0A630009')));
    h.sink().event({ kind: 'gone', ip: '10.99.0.9', mac: '52:54:00:00:00:09', source: 'dnsmasq-leases:/leases', sourceType: 'dnsmasq-leases', time: Date.now() });
    await until('release planned', () => lines.some((l) => String(l.msg).startsWith('dry run: release plan for 0A630009 (unexport)')));
    assert.ok(!lines.some((l) => /called in a dry run/.test(String(l.err ?? ''))), 'no mutating provisioner call');
  } finally {
    await d.stop();
  }
});
