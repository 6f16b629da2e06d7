import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { extendTimeline, ruleKeyOf, needsProvision, TIMELINE_MAX } from '../../src/daemon/records.ts';
import { mergeJobs } from '../../src/pipeline/jobs.ts';
import type { NodeRecord, ResolvedRule, TimelineEntry } from '../../src/types.ts';

const e = (what: string, time = 0, source?: string): TimelineEntry => ({ time, what, ...(source ? { source } : {}) });
const build = (whats: string[]) => whats.reduce<TimelineEntry[]>((t, w, i) => extendTimeline(t, e(w, i)), []);

describe('daemon records', () => {
  test('timeline: a renewal appends, a new boot restarts at its DHCP event', () => {
    const renewed = build(['dnsmasq-leases seen', 'tftp pxelinux.0', 'ready', 'hook seen']);
    assert.deepEqual(renewed.map((x) => x.what), ['dnsmasq-leases seen', 'tftp pxelinux.0', 'ready', 'hook seen']);
    const reboot = extendTimeline(renewed, e('tftp pxelinux.0', 9));
    assert.deepEqual(reboot.map((x) => x.what), ['hook seen', 'tftp pxelinux.0']);
  });

  test('timeline: repeats collapse and the length is bounded', () => {
    const t = build(['dnsmasq-leases seen', 'dnsmasq-leases seen', 'dnsmasq-leases seen']);
    assert.equal(t.length, 1);
    assert.equal(t[0]!.time, 2);
    const long = build(Array.from({ length: 100 }, (_, i) => `tftp f${i}`));
    assert.equal(long.length, TIMELINE_MAX);
    assert.equal(long.at(-1)!.what, 'tftp f99');
  });

  test('rule key ignores the explanation and changes with any field', () => {
    const subnet = { cidr: '10.0.0.0/24', pos: 'a:1:1' };
    const r: ResolvedRule = { subnet, why: ['x'], root_dir: '/r', node_dir: '/n', overlay_dir: '/o', node_name: 'ip-hex', overlay: 'persistent', on_release: 'keep', vars: { a: '1', b: '2' } };
    assert.equal(ruleKeyOf(r), ruleKeyOf({ ...r, why: ['y'], subnet: { ...subnet, pos: 'b:2:2' }, vars: { b: '2', a: '1' } }));
    assert.notEqual(ruleKeyOf(r), ruleKeyOf({ ...r, root_dir: '/r2' }));
    assert.notEqual(ruleKeyOf(r), ruleKeyOf({ ...r, vars: { a: '1', b: '3' } }));
    assert.notEqual(ruleKeyOf(r), ruleKeyOf({ ...r, pxe_template: '/t' }));
  });

  test('rule key: rules of one subnet asked one after the other (the remembered key) still differ by every field, and a rule changed in place gets its new key', () => {
    const subnet = { cidr: '10.0.0.0/24', pos: 'a:1:1' };
    const host = { mac: '52:54:00:00:00:01', pos: 'h:1:1' };
    const r: ResolvedRule = { subnet, why: ['x'], root_dir: '/r', node_dir: '/n', overlay_dir: '/o', node_name: 'ip-hex', overlay: 'persistent', on_release: 'keep', vars: { a: '1' } };
    const fresh = (o: Partial<ResolvedRule>) => JSON.parse(JSON.stringify(ruleKeyOf({ ...r, subnet: { ...subnet }, ...o }))) as string;
    const key = ruleKeyOf(r);
    assert.equal(ruleKeyOf({ ...r, why: ['other'], vars: { a: '1' } }), key, 'an equal rule (a new object) has the same key');
    const changes: Array<Partial<ResolvedRule>> = [{ node_dir: '/n2' }, { vars: { a: '2' } }, { vars: { a: '1', b: '1' } }, { vars: {} }, { overlay: 'ephemeral' as const }, { host }, { pxe_template: '/t' }];
    for (const o of changes) {
      assert.equal(ruleKeyOf({ ...r, ...o }), fresh(o), JSON.stringify(o));
      assert.notEqual(ruleKeyOf({ ...r, ...o }), key, JSON.stringify(o));
      assert.equal(ruleKeyOf(r), key, `back to the first rule after ${JSON.stringify(o)}`);
    }
    const same = { ...r, vars: { ...r.vars } };
    assert.equal(ruleKeyOf(same), key);
    same.root_dir = '/changed';
    assert.equal(ruleKeyOf(same), fresh({ root_dir: '/changed' }), 'changed in place: a new key');
    same.vars.a = '9';
    assert.equal(ruleKeyOf(same), fresh({ root_dir: '/changed', vars: { a: '9' } }), 'vars changed in place: a new key');
    subnet.cidr = '10.0.1.0/24';
    assert.equal(ruleKeyOf(r), fresh({ subnet: { ...subnet } }), 'the subnet changed in place: a new key');
  });

  test('needsProvision: new, moved, renamed host, changed rule, or unfinished without queued work', () => {
    const n: NodeRecord = { name: 'A', ip: '1.1.1.1', mac: '52:54:00:00:00:01', subnet: 's', state: 'ready', fsid: 1, lastSeen: 0, sources: [], ruleKey: 'k' };
    assert.equal(needsProvision(undefined, n, 'k', false), true);
    assert.equal(needsProvision(n, n, 'k', false), false);
    assert.equal(needsProvision(n, { ...n, ip: '1.1.1.2' }, 'k', true), true);
    assert.equal(needsProvision(n, { ...n, hostname: 'h' }, 'k', false), true);
    assert.equal(needsProvision(n, n, 'k2', false), true);
    const failed = { ...n, state: 'failed' as const };
    assert.equal(needsProvision(failed, failed, 'k', true), false, 'a repeat sighting does not cut the backoff short');
    assert.equal(needsProvision(failed, failed, 'k', false), true, 'nothing queued: provision');
    assert.equal(needsProvision(failed, { ...failed, mac: '52:54:00:00:00:02' }, 'k', true), true, 'a real change supersedes the backoff');
  });

  test('jobs merge: the latest kind wins, provisions keep the first sighting and every source', () => {
    assert.deepEqual(mergeJobs({ kind: 'provision', seenAt: 5, sources: ['a'] }, { kind: 'provision', seenAt: 9, sources: ['b', 'a'] }), { kind: 'provision', seenAt: 5, sources: ['a', 'b'] });
    assert.deepEqual(mergeJobs({ kind: 'provision', seenAt: 5, sources: ['a'] }, { kind: 'release', reason: 'gone' }), { kind: 'release', reason: 'gone' });
    assert.deepEqual(mergeJobs({ kind: 'release', reason: 'gone' }, { kind: 'provision', seenAt: 9, sources: ['b'] }), { kind: 'provision', seenAt: 9, sources: ['b'] });
  });
});
