// Each fixture lease file is paired with the parse result it must give (hand-checked *.expected.json).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDnsmasqLeases, completeLines } from '../../../../watchers/leases/dnsmasq-parser.ts';
import { parseIscLeases, createIscParser, feedIscParser } from '../../../../watchers/leases/isc-parser.ts';
import { parseKeaCsv } from '../../../../watchers/leases/kea-parser.ts';
import type { Lease } from '../../../../watchers/leases/lease.ts';
import type { BadInput } from '../../../../src/types.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/leases');
const read = (f: string) => readFileSync(path.join(FIX, f), 'latin1');
type Expected = { leases: Lease[]; bad: Array<{ line?: number; at?: string; reason: string }> };
const expected = (f: string) => JSON.parse(read(f)) as Expected;
const byIp = (a: { ip: string }, b: { ip: string }) => a.ip.localeCompare(b.ip);

function checkBad(text: string, got: BadInput[], want: Expected['bad'], source: string): void {
  assert.equal(got.length, want.length, `bad inputs: ${JSON.stringify(got, null, 1)}`);
  got.forEach((g, i) => {
    const w = want[i]!;
    assert.equal(g.source, source);
    assert.match(g.reason, new RegExp(w.reason));
    if (w.line !== undefined) assert.equal(g.line, w.line);
    if (w.at !== undefined) assert.equal(g.offset, text.indexOf(w.at), `offset of ${w.at}`);
    assert.ok(g.sample.length > 0 && g.sample.length <= 121);
    assert.doesNotMatch(g.sample, /[\x00-\x1f]/);
  });
}

describe('dnsmasq lease fixtures', () => {
  for (const name of ['dnsmasq-lab', 'dnsmasq-mixed']) {
    test(name, () => {
      const text = read(`${name}.leases`);
      const want = expected(`${name}.expected.json`);
      const r = parseDnsmasqLeases(text, 'dnsmasq-leases:/x');
      assert.deepEqual([...r.leases.values()].sort(byIp), want.leases.sort(byIp));
      checkBad(text, r.bad, want.bad, 'dnsmasq-leases:/x');
    });
  }
  test('a half-written last line is cut off by completeLines, a complete file is untouched', () => {
    const full = read('dnsmasq-lab.leases');
    const half = full.slice(0, full.length - 20);
    const c = completeLines(half);
    assert.equal(c.partial, true);
    assert.equal(parseDnsmasqLeases(c.text, 's').leases.size, 1);
    assert.deepEqual(completeLines(full), { text: full, partial: false });
    assert.deepEqual(completeLines(''), { text: '', partial: false });
  });
  test('CRLF lines and blank lines are tolerated', () => {
    const r = parseDnsmasqLeases('\r\n100 52:54:00:00:00:01 10.0.0.1 a *\r\n\n', 's');
    assert.deepEqual([...r.leases.values()], [{ ip: '10.0.0.1', mac: '52:54:00:00:00:01', hostname: 'a', expires: 100000 }]);
    assert.deepEqual(r.bad, []);
  });
});

describe('ISC dhcpd.leases fixtures', () => {
  for (const name of ['isc-formats', 'isc-real-bound', 'isc-real-released']) {
    test(name, () => {
      const text = read(`${name}.leases`);
      const want = expected(`${name}.expected.json`);
      const r = parseIscLeases(text, 'isc-leases:/x');
      assert.deepEqual([...r.leases.values()].sort(byIp), want.leases.sort(byIp));
      checkBad(text, r.bad, want.bad, 'isc-leases:/x');
    });
  }
  test('feeding the file in arbitrary chunks gives the same updates as one feed', () => {
    const text = read('isc-formats.leases');
    const once = feedIscParser(createIscParser('s'), text);
    for (const size of [1, 2, 7, 64, 333]) {
      const p = createIscParser('s');
      const updates = [];
      const bad = [];
      for (let i = 0; i < text.length; i += size) {
        const out = feedIscParser(p, text.slice(i, i + size));
        updates.push(...out.updates);
        bad.push(...out.bad);
      }
      assert.deepEqual(updates, once.updates, `chunk size ${size}`);
      assert.deepEqual(bad, once.bad, `chunk size ${size}`);
    }
  });
  test('the half-written trailing block counts once it is completed by an append', () => {
    const p = createIscParser('s');
    const text = read('isc-formats.leases').trimEnd(); // cut mid-line, as stdio buffering can
    assert.ok(!feedIscParser(p, text).updates.some((u) => u.ip === '192.168.1.56'));
    const more = feedIscParser(p, '56;\n  client-hostname "late";\n}\n');
    assert.deepEqual(more.updates, [{ ip: '192.168.1.56', mac: '52:54:00:00:00:56', hostname: 'late', expires: Date.UTC(2024, 4, 1, 23, 0, 0), active: true, state: 'active' }]);
  });
});

describe('Kea CSV fixtures', () => {
  for (const name of ['kea24-formats', 'kea22-real-bound', 'kea22-real-released']) {
    test(name, () => {
      const text = read(`${name}.csv`);
      const want = expected(`${name}.expected.json`);
      const r = parseKeaCsv(text, 'kea-leases:/x');
      assert.deepEqual([...r.leases.values()].sort(byIp), want.leases.sort(byIp));
      checkBad(text, r.bad, want.bad, 'kea-leases:/x');
    });
  }
  test('columns are found by header name, not position', () => {
    const text = 'hostname,expire,valid_lifetime,hwaddr,address\nn1,1000,60,52:54:00:00:00:01,10.0.0.1\n';
    const r = parseKeaCsv(text, 's');
    assert.deepEqual([...r.leases.values()], [{ ip: '10.0.0.1', mac: '52:54:00:00:00:01', hostname: 'n1', expires: 1_000_000, active: true, state: 'assigned' }]);
  });
  test('rows before any header are reported once and skipped; a header missing columns is reported', () => {
    const r = parseKeaCsv('10.0.0.1,52:54:00:00:00:01\n10.0.0.2,52:54:00:00:00:02\naddress,hwaddr\n', 's');
    assert.equal(r.leases.size, 0);
    assert.deepEqual(r.bad.map((b) => b.line), [1, 3]);
    assert.match(r.bad[1]!.reason, /missing valid_lifetime, expire/);
  });
});
