// editEtab / learnEtabTemplate / etabLine: one node's etab change applied the way exportfs would
// write it, every other line byte for byte (pure; the real exportfs comparison is in
// test/integration/provisioners/etab-incremental.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editEtab, etabLine, etabVerbatim, learnEtabTemplate, parseEtab } from '../../../provisioners/exports-kernel.ts';
import type { ExportEntry } from '../../../provisioners/export-entry.ts';
import { xorshift } from './prng.ts';

/** editEtab's pieces joined; its `changed` must say whether they differ from the etab it was given. */
function edit(b: Buffer, drop: Parameters<typeof editEtab>[1], put: Parameters<typeof editEtab>[2]): Buffer {
  const r = editEtab(b, drop, put);
  const out = Buffer.concat(r.pieces);
  assert.equal(r.changed, !out.equals(b), 'changed says whether the etab changed');
  return out;
}
// captured from nfs-utils 2.6.2 `exportfs -r` for `rw,no_root_squash,no_subtree_check,sync,fsid=N`
const OPTS = 'rw,no_root_squash,no_subtree_check,sync';
const captured = (p: string, ip: string, fsid: number) =>
  `${p}\t${ip}(rw,sync,wdelay,hide,nocrossmnt,secure,no_root_squash,no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,fsid=${fsid},anonuid=65534,anongid=65534,sec=sys,rw,no_root_squash,no_all_squash)\n`;
const entry = (i: number, fsid = 10000 + i): ExportEntry => {
  const node = `0A63${i.toString(16).toUpperCase().padStart(4, '0')}`;
  return { node, path: `/netboot/node/${node}`, ip: `10.99.${i >> 8}.${i & 255}`, fsid };
};
const OTHER = '/srv/admin\t192.0.2.0/24(ro,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,anonuid=65534,anongid=65534,sec=sys,ro,root_squash,no_all_squash)\n';

function template() {
  const es = [entry(1), entry(2)];
  const lines = parseEtab(es.map((e) => captured(e.path, e.ip, e.fsid)).join(''));
  const t = learnEtabTemplate(OPTS, es.map((e, i) => ({ entry: e, line: lines[i]! })));
  assert.ok(t);
  return t;
}

test('the learned template reproduces exportfs lines byte for byte', () => {
  const t = template();
  for (const i of [3, 300, 9999]) {
    const e = entry(i, 4_000_000_000 - i);
    assert.equal(etabLine(t, e), captured(e.path, e.ip, e.fsid));
  }
});

test('no template from lines that do not fit: another client, a missing or second fsid, two shapes', () => {
  const e1 = entry(1);
  const e2 = entry(2);
  const l = (s: string) => parseEtab(s)[0]!;
  assert.equal(learnEtabTemplate(OPTS, [{ entry: e1, line: l(captured(e1.path, '10.1.1.1', e1.fsid)) }]), undefined);
  assert.equal(learnEtabTemplate(OPTS, [{ entry: e1, line: l(captured(e1.path, e1.ip, 7)) }]), undefined);
  assert.equal(learnEtabTemplate(OPTS, [{ entry: e1, line: l(`${e1.path}\t${e1.ip}(rw,fsid=${e1.fsid},fsid=3)\n`) }]), undefined);
  assert.equal(
    learnEtabTemplate(OPTS, [
      { entry: e1, line: l(captured(e1.path, e1.ip, e1.fsid)) },
      { entry: e2, line: l(`${e2.path}\t${e2.ip}(ro,fsid=${e2.fsid})\n`) },
    ]),
    undefined,
  );
  // fsid=1 must not match inside fsid=10001
  const e3 = { ...entry(3), fsid: 1 };
  assert.equal(learnEtabTemplate(OPTS, [{ entry: e3, line: l(`${e3.path}\t${e3.ip}(rw,fsid=10001)\n`) }]), undefined);
});

test('etabVerbatim: only paths exportfs writes without escapes', () => {
  assert.equal(etabVerbatim('/netboot/node/0A630001'), true);
  for (const p of ['/a b', '/a\\b', '/a#b', '/a"b', '/é', '/a\tb', '']) assert.equal(etabVerbatim(p), false, p);
});

test('add, replace in place, remove: other lines byte for byte, no duplicates', () => {
  const t = template();
  const es = Array.from({ length: 40 }, (_, i) => entry(i + 1));
  const before = Buffer.from(OTHER + es.map((e) => etabLine(t, e)).join('') + OTHER.replace('admin', 'admin2'));
  // add one
  const n = entry(500);
  const added = edit(before, [], [{ path: n.path, ip: n.ip, line: etabLine(t, n) }]);
  assert.equal(added.toString(), before.toString() + etabLine(t, n));
  // adding it again changes nothing (idempotent)
  assert.ok(edit(added, [], [{ path: n.path, ip: n.ip, line: etabLine(t, n) }]).equals(added));
  // replace entry 7's fsid in place
  const e7 = { ...es[6]!, fsid: 77 };
  const replaced = edit(added, [es[6]!], [{ path: e7.path, ip: e7.ip, line: etabLine(t, e7) }]).toString();
  assert.equal(replaced, added.toString().replace(etabLine(t, es[6]!), etabLine(t, e7)));
  // an IP change: the old client's line goes, the new one is added
  const moved = { ...es[8]!, ip: '10.99.200.1' };
  const m = edit(added, [es[8]!], [{ path: moved.path, ip: moved.ip, line: etabLine(t, moved) }]).toString();
  assert.ok(!m.includes(etabLine(t, es[8]!)) && m.endsWith(etabLine(t, moved)));
  // remove one
  const removed = edit(added, [n], []).toString();
  assert.equal(removed, before.toString());
});

test('another tool\'s line for the same path (another client) is never touched', () => {
  const t = template();
  const e = entry(5);
  const theirs = `${e.path}\t192.0.2.9(ro,sync)\n`;
  const before = Buffer.from(theirs + etabLine(t, e));
  assert.equal(edit(before, [e], []).toString(), theirs);
  const e2 = { ...e, fsid: 9 };
  assert.equal(edit(before, [e], [{ path: e2.path, ip: e2.ip, line: etabLine(t, e2) }]).toString(), theirs + etabLine(t, e2));
});

test('a path that is a prefix of another, or appears inside another line, is not matched', () => {
  const t = template();
  const a = { ...entry(1), path: '/netboot/node/0A630001' };
  const b = { ...entry(2), node: '0A630001', path: '/x/netboot/node/0A630001' };
  const before = Buffer.from(etabLine(t, b) + `/netboot/node/0A6300011\t${a.ip}(rw)\n`);
  assert.ok(edit(before, [a], []).equals(before));
});

test('a last line without a newline still ends before the appended one', () => {
  const t = template();
  const n = entry(9);
  assert.equal(edit(Buffer.from(OTHER.trimEnd()), [], [{ path: n.path, ip: n.ip, line: etabLine(t, n) }]).toString(), OTHER + etabLine(t, n));
  assert.equal(edit(Buffer.alloc(0), [], [{ path: n.path, ip: n.ip, line: etabLine(t, n) }]).toString(), etabLine(t, n));
});

test('many paths (the full-scan branch) give the same result as a few (the byte-search branch)', () => {
  const t = template();
  const rnd = xorshift(15);
  for (let round = 0; round < 200; round++) {
    const es = Array.from({ length: 60 }, (_, i) => entry(i + 1, 10000 + Math.floor(rnd() * 1000)));
    const before = Buffer.from(es.map((e) => (rnd() < 0.1 ? OTHER : '') + etabLine(t, e)).join(''));
    const drops = es.filter(() => rnd() < 0.3);
    const puts = es.filter(() => rnd() < 0.3).map((e) => ({ ...e, fsid: e.fsid + 1 }));
    const putLines = puts.map((e) => ({ path: e.path, ip: e.ip, line: etabLine(t, e) }));
    const all = edit(before, drops, putLines);
    // the same change made in pieces of at most 8 paths
    let step: Buffer = before;
    for (let i = 0; i < Math.max(drops.length, puts.length); i += 4) {
      const d = drops.slice(i, i + 4).filter((x) => !puts.some((p) => p.path === x.path));
      step = edit(step, d, []);
    }
    for (let i = 0; i < putLines.length; i += 4) step = edit(step, [], putLines.slice(i, i + 4));
    const sorted = (b: Buffer) => b.toString().split('\n').sort().join('\n');
    assert.equal(sorted(all), sorted(step), `round ${round}`);
    for (const d of drops) if (!puts.some((p) => p.path === d.path)) assert.ok(!all.toString().includes(d.path + '\t'), `round ${round}: ${d.path} dropped`);
    for (const p of putLines) assert.equal(all.toString().split(p.line).length, 2, `round ${round}: one line for ${p.path}`);
  }
});
