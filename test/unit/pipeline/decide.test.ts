// decide: every branch of what a seen or gone event means for a node, pure (no daemon, no queue).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideGone, decideNode, decideRerender, decideSeen, type SeenFacts } from '../../../src/pipeline/decide.ts';
import { applySeen, matchRelease, ruleKeyOf } from '../../../src/daemon/records.ts';
import { SOURCE_TRUST } from '../../../src/trust.ts';
import { matchClient } from '../../../src/rules.ts';
import type { ClientGone, ClientSeen, NodeRecord, ResolvedRule, SourceType } from '../../../src/types.ts';
import { makeConfig } from '../daemon-fakes.ts';

const config = makeConfig('/tmp/decide-test');
const T0 = 1_000_000_000_000;
const GUARD = 30_000;

function ruleOf(ip: string, over: Partial<ResolvedRule> = {}): ResolvedRule {
  const m = matchClient({ ip }, config);
  assert.equal(m.kind, 'match');
  return { ...(m as { rule: ResolvedRule }).rule, ...over };
}
const seen = (over: Partial<ClientSeen> = {}): ClientSeen => ({ kind: 'seen', ip: '10.99.0.5', mac: '52:54:00:00:00:05', source: 'dnsmasq-leases:/l', sourceType: 'dnsmasq-leases', time: T0 + 60_000, ...over });
const gone = (over: Partial<ClientGone> = {}): ClientGone => ({ kind: 'gone', ip: '10.99.0.5', mac: '52:54:00:00:00:05', source: 'dnsmasq-leases:/l', sourceType: 'dnsmasq-leases', time: T0 + 60_000, ...over });

function readyNode(rule: ResolvedRule, over: Partial<NodeRecord> = {}): NodeRecord {
  return { name: '0A630005', ip: '10.99.0.5', mac: '52:54:00:00:00:05', subnet: rule.subnet.cidr, state: 'ready', fsid: 1000, lastSeen: T0, sources: [], readyAt: T0, ruleKey: ruleKeyOf(rule), ...over };
}

function facts(e: ClientSeen, prev: NodeRecord | undefined, rule: ResolvedRule, over: Partial<SeenFacts> = {}): SeenFacts {
  const next = applySeen(prev, e, { name: '0A630005', ip: e.ip!, mac: e.mac, subnet: rule.subnet.cidr });
  return { event: e, rule, prev, next, busy: false, startedAt: T0, guardMs: GUARD, advance: false, ...over };
}

test('decideNode: a match gives the node name; no rule, ignored, reserved and an unusable name skip with the matcher\'s reasons', () => {
  const m = matchClient({ ip: '10.99.0.5' }, config);
  assert.deepEqual(decideNode(m, '10.99.0.5', undefined), { kind: 'node', name: '0A630005', rule: (m as { rule: ResolvedRule }).rule });
  const none = decideNode(matchClient({ ip: '192.0.2.1' }, config), '192.0.2.1', undefined);
  assert.equal(none.kind, 'skip');
  assert.equal(none.kind === 'skip' && none.match, 'none');
  const ignored = decideNode(matchClient({ ip: '10.99.9.7' }, config), '10.99.9.7', undefined);
  assert.equal(ignored.kind === 'skip' && ignored.match, 'ignored');
  assert.match(String(ignored.kind === 'skip' && ignored.by), /cfg:20:5/);
  const reserved = decideNode(matchClient({ ip: '10.99.0.254' }, config), '10.99.0.254', undefined);
  assert.equal(reserved.kind === 'skip' && reserved.match, 'reserved');
  const byMac = ruleOf('10.99.0.5', { node_name: 'mac' } as Partial<ResolvedRule>);
  const noName = decideNode({ kind: 'match', rule: byMac }, '10.99.0.5', undefined);
  assert.equal(noName.kind === 'skip' && noName.match, 'name');
});

test('decideSeen: a new node is provisioned, pending', () => {
  const d = decideSeen(facts(seen(), undefined, ruleOf('10.99.0.5')));
  assert.equal(d.decision.kind, 'provision');
  assert.equal(d.pending, true);
  assert.deepEqual(d.decision.why, ['a new node']);
  assert.equal(d.boot, undefined);
});

test('decideSeen: a repeat sighting of a ready node changes nothing; a moved node or a changed rule is provisioned again', () => {
  const rule = ruleOf('10.99.0.5');
  const prev = readyNode(rule);
  assert.deepEqual(decideSeen(facts(seen(), prev, rule)).decision, { kind: 'nothing', outcome: 'unchanged', why: ['nothing about the node changed'] });
  const moved = decideSeen(facts(seen({ mac: '52:54:00:00:00:99' }), prev, rule));
  assert.equal(moved.decision.kind, 'provision');
  assert.match(moved.decision.why.join(), /moved/);
  const changed = decideSeen(facts(seen(), prev, { ...rule, overlay: 'ephemeral' }));
  assert.equal(changed.decision.kind, 'provision');
  assert.match(changed.decision.why.join(), /rule changed/);
});

test('decideSeen: an unfinished node is provisioned unless it has work queued (no defeat of the backoff)', () => {
  const rule = ruleOf('10.99.0.5');
  const failed = readyNode(rule, { state: 'failed' });
  assert.equal(decideSeen(facts(seen(), failed, rule)).decision.kind, 'provision');
  assert.equal(decideSeen(facts(seen(), failed, rule, { busy: true })).decision.kind, 'nothing');
});

test('decideSeen: the CLI always provisions', () => {
  const rule = ruleOf('10.99.0.5');
  const d = decideSeen(facts(seen({ sourceType: 'cli', source: 'cli' }), readyNode(rule), rule));
  assert.equal(d.decision.kind, 'provision');
  assert.match(d.decision.why[0]!, /CLI/);
});

test('decideSeen: a ready ephemeral node fetching its NBP after the guard is reset; within the guard or at start-up it is not', () => {
  const rule = ruleOf('10.99.0.5', { overlay: 'ephemeral' });
  const prev = readyNode(rule);
  const boot = seen({ sourceType: 'syslog', source: 'syslog:/x', file: 'pxelinux.0', time: T0 + GUARD + 1 });
  const d = decideSeen(facts(boot, prev, rule));
  assert.deepEqual(d.decision, { kind: 'reset', occasion: 'boot', why: ['the node is booting again and its overlay is ephemeral: a fresh layer'] });
  assert.equal(d.boot, 'ephemeral');
  assert.equal(d.pending, true);
  // within the guard after it became ready: the same boot
  assert.equal(decideSeen(facts({ ...boot, time: T0 + 5 }, prev, rule)).decision.kind, 'nothing');
  // replayed from a log right after start-up
  assert.equal(decideSeen(facts(boot, prev, rule, { startedAt: boot.time - 1 })).decision.kind, 'nothing');
  // not a boot program
  assert.equal(decideSeen(facts({ ...boot, file: 'vmlinuz-6.1.0' }, prev, rule)).decision.kind, 'nothing');
  // work queued: not a new boot
  assert.equal(decideSeen(facts(boot, prev, rule, { busy: true })).boot, undefined);
});

test('decideSeen: a persistent node booting again keeps its layer; on an image it gets a version check at its boot', () => {
  const rule = ruleOf('10.99.0.5');
  const boot = seen({ file: 'grubx64.efi', time: T0 + GUARD + 1 });
  const plain = decideSeen(facts(boot, readyNode(rule), rule));
  assert.equal(plain.boot, 'persistent');
  assert.equal(plain.decision.kind, 'nothing');
  assert.equal(plain.pending, false);
  const img = { ...rule, image: 'debian' };
  const d = decideSeen(facts(boot, readyNode(img), img));
  assert.equal(d.decision.kind, 'provision');
  assert.equal(d.decision.kind === 'provision' && d.decision.occasion, 'boot');
  assert.equal(d.decision.kind === 'provision' && d.decision.check, true);
  assert.equal(d.pending, false);
});

test('decideSeen: a released node coming back is provisioned with occasion after-release; a boot-once advance writes files again', () => {
  const rule = ruleOf('10.99.0.5');
  const back = decideSeen(facts(seen(), readyNode(rule, { state: 'released' }), rule));
  assert.equal(back.decision.kind === 'provision' && back.decision.occasion, 'after-release');
  const adv = decideSeen(facts(seen({ file: 'memtest.efi' }), readyNode(rule), rule, { advance: true }));
  assert.equal(adv.decision.kind, 'provision');
  assert.equal(adv.pending, false);
  assert.match(adv.decision.why.join(), /boot-once/);
});

test('decideGone: no node, or identifiers that do not all match one node: nothing (mismatch only when a node was named)', () => {
  const rule = ruleOf('10.99.0.5');
  const rec = readyNode(rule);
  const find = { findByIp: (ip: string) => (ip === rec.ip ? rec : undefined), findByMac: (mac: string) => (mac === rec.mac ? rec : undefined) };
  const none = decideGone({ event: gone({ ip: '10.99.0.6', mac: '52:54:00:00:00:06' }), found: matchRelease({ ip: '10.99.0.6', mac: '52:54:00:00:00:06' }, find), rule });
  assert.deepEqual(none, { decision: { kind: 'nothing', outcome: 'skipped', why: ['no node known for this client'] } });
  const e = gone({ mac: '52:54:00:00:00:77' });
  const mis = decideGone({ event: e, found: matchRelease(e, find), rule });
  assert.equal(mis.group, 'mismatch');
  assert.equal(mis.decision.kind, 'nothing');
});

test('decideGone: the trust table decides: an untrusted source never releases, whatever the policy', () => {
  const rule = ruleOf('10.99.0.5', { on_release: 'remove' });
  const rec = readyNode(rule);
  for (const [type, trust] of Object.entries(SOURCE_TRUST) as Array<[SourceType, { release: boolean }]>) {
    for (const policy of [undefined, 'unexport', 'remove'] as const) {
      const g = decideGone({ event: gone({ sourceType: type, source: type }), found: { rec }, rule, policy });
      if (trust.release) assert.equal(g.decision.kind, 'release', `${type} ${policy}`);
      else {
        assert.equal(g.decision.kind, 'nothing', `${type} ${policy}`);
        assert.equal(g.group, 'untrusted');
        assert.match(g.decision.why[0]!, /not an authoritative source/);
      }
    }
  }
  // an unknown source type is not trusted either
  assert.equal(decideGone({ event: gone({ sourceType: 'made-up' as SourceType }), found: { rec }, rule }).group, 'untrusted');
});

test('decideGone: policy from the request, else the rule; keep and already released do nothing; the CLI releases even under keep and lifts boot-once', () => {
  const rule = ruleOf('10.99.0.5', { on_release: 'keep' });
  const rec = readyNode(rule);
  assert.equal(decideGone({ event: gone(), found: { rec }, rule }).group, 'kept');
  assert.deepEqual(decideGone({ event: gone(), found: { rec }, rule, policy: 'remove' }).decision, { kind: 'release', policy: 'remove', lift: false, why: ['dnsmasq-leases says the client is gone (on_release: remove)'] });
  // the node's rule is gone: keep
  assert.equal(decideGone({ event: gone(), found: { rec }, rule: undefined }).group, 'kept');
  const released = readyNode(rule, { state: 'released' });
  assert.equal(decideGone({ event: gone(), found: { rec: released }, rule: { ...rule, on_release: 'unexport' } }).group, 'released');
  const cli = gone({ sourceType: 'cli', source: 'cli' });
  assert.deepEqual(decideGone({ event: cli, found: { rec }, rule }).decision, { kind: 'release', policy: 'unexport', lift: true, why: ['release requested by the CLI (unexport)'] });
  assert.equal(decideGone({ event: cli, found: { rec: released }, rule }).decision.kind, 'release');
});

test('decideRerender: only a ready node whose rule still matches', () => {
  const rule = ruleOf('10.99.0.5');
  assert.equal(decideRerender(readyNode(rule), rule).kind, 'rerender');
  assert.equal(decideRerender(readyNode(rule), undefined).kind, 'nothing');
  assert.equal(decideRerender(readyNode(rule, { state: 'pending' }), rule).kind, 'nothing');
});
