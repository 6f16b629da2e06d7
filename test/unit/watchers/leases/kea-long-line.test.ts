// A Kea CSV line longer than READ_LIMITS.lineBytes is skipped with one bad-input report and never
// buffered, however it arrives (one feed, many small feeds, no newline at all); the rows around it
// are parsed, with their line numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createKeaParser, feedKeaParser, parseKeaCsv } from '../../../../watchers/leases/kea-parser.ts';
import { READ_LIMITS } from '../../../../src/safe-open.ts';

const csv = readFileSync(new URL('../../../fixtures/leases/kea24-formats.csv', import.meta.url), 'latin1');
const [header, ...rows] = csv.split('\n').filter(Boolean);
const long = 'x'.repeat(READ_LIMITS.lineBytes * 3);

test('kea: an over-long line in one feed is skipped and reported once; later rows keep their line numbers', () => {
  const text = `${header}\n${long}\n${rows.join('\n')}\n`;
  const r = parseKeaCsv(text, 'kea-leases:/x');
  const plain = parseKeaCsv(`${header}\n${rows.join('\n')}\n`, 'kea-leases:/x');
  assert.deepEqual(r.leases, plain.leases);
  const tooLong = r.bad.filter((b) => /longer than/.test(b.reason));
  assert.equal(tooLong.length, 1);
  assert.equal(tooLong[0]!.line, 2);
  assert.deepEqual(r.bad.filter((b) => !/longer than/.test(b.reason)).map((b) => b.line), plain.bad.map((b) => (b.line ?? 0) + 1));
});

test('kea: an over-long line fed in 4 KiB pieces is not buffered past the limit', () => {
  const p = createKeaParser('kea-leases:/x');
  const bad: Array<{ reason: string }> = [];
  bad.push(...feedKeaParser(p, `${header}\n`).bad);
  const piece = 'y'.repeat(4096);
  let maxPartial = 0;
  for (let i = 0; i < 1000; i++) {
    bad.push(...feedKeaParser(p, piece).bad);
    maxPartial = Math.max(maxPartial, p.partial.length);
  }
  assert.ok(maxPartial <= READ_LIMITS.lineBytes + piece.length, `kept ${maxPartial} bytes of one line`);
  const out = feedKeaParser(p, `\n${rows[0]}\n`);
  bad.push(...out.bad);
  assert.equal(bad.filter((b) => /longer than/.test(b.reason)).length, 1);
  assert.equal(out.updates.length, 1);
  assert.equal(p.line, 3, 'header, the long line, the row');
});
