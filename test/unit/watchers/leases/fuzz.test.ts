// Fuzz every lease parser with >= 100,000 generated inputs from a fixed-seed xorshift PRNG:
// mutated real lines plus hostile bytes. No throw may escape, every lease that comes out must be valid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDnsmasqLeases } from '../../../../watchers/leases/dnsmasq-parser.ts';
import { createIscParser, feedIscParser } from '../../../../watchers/leases/isc-parser.ts';
import { createKeaParser, feedKeaParser } from '../../../../watchers/leases/kea-parser.ts';
import { isIPv4, isHostname } from '../../../../src/validate.ts';
import type { Lease } from '../../../../watchers/leases/lease.ts';
import { xorshift32 } from '../../../helpers/prng.ts';

const N = 100_000;
const FIX = path.resolve(import.meta.dirname, '../../../fixtures/leases');
const seedText = (f: string) => readFileSync(path.join(FIX, f), 'latin1');

function xorshift(seed: number) {
  const next = xorshift32(seed);
  return { next, int: (n: number) => next() % n };
}

const NASTY = ['\0', '\n', '\r', '"', '\\', '{', '}', ';', '#', ',', ' ', '*', '-', ':', '&#x2c', '../', '$(reboot)', '\u00ff', '\u2028', '999', '4294967295', 'lease ', 'binding state ', 'ends never;', 'address,hwaddr,valid_lifetime,expire\n'];

/** One input: a random slice of real lease text, then up to 8 random mutations. */
function mutate(r: ReturnType<typeof xorshift>, base: string, maxLen = 400): string {
  const start = r.int(base.length);
  let s = base.slice(start, start + 20 + r.int(maxLen));
  const k = r.int(9);
  for (let i = 0; i < k; i++) {
    const at = r.int(s.length + 1);
    switch (r.int(4)) {
      case 0:
        s = s.slice(0, at) + NASTY[r.int(NASTY.length)] + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + r.int(10));
        break;
      case 2:
        s = s.slice(0, at) + String.fromCharCode(r.int(256)) + s.slice(at);
        break;
      default:
        s = s.slice(0, at) + s.slice(r.int(s.length + 1)).slice(0, 40) + s.slice(at);
    }
  }
  return s;
}

function checkLease(l: Lease): void {
  assert.ok(isIPv4(l.ip), `ip ${JSON.stringify(l.ip)}`);
  if (l.mac !== undefined) assert.match(l.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  if (l.hostname !== undefined) assert.ok(isHostname(l.hostname) && l.hostname === l.hostname.toLowerCase(), `hostname ${JSON.stringify(l.hostname)}`);
  assert.ok(Number.isFinite(l.expires) && l.expires >= 0, `expires ${l.expires}`);
}

test('dnsmasq parser: 100,000 fuzzed files', { timeout: 30_000 }, () => {
  const r = xorshift(0x5eed01);
  const base = seedText('dnsmasq-mixed.leases') + seedText('dnsmasq-lab.leases');
  let leases = 0;
  for (let i = 0; i < N; i++) {
    const out = parseDnsmasqLeases(mutate(r, base), 'fuzz');
    for (const l of out.leases.values()) checkLease(l);
    for (const b of out.bad) assert.ok(b.sample.length <= 121);
    leases += out.leases.size;
  }
  assert.ok(leases > N / 10, `the fuzzer should also produce valid leases (got ${leases})`);
});

test('ISC parser: 100,000 fuzzed journals, fed in random chunks', { timeout: 30_000 }, () => {
  const r = xorshift(0x5eed02);
  const base = seedText('isc-formats.leases') + seedText('isc-real-released.leases');
  let updates = 0;
  for (let i = 0; i < N; i++) {
    const text = mutate(r, base, 1500);
    const p = createIscParser('fuzz');
    let at = 0;
    while (at < text.length) {
      const n = 1 + r.int(200);
      const out = feedIscParser(p, text.slice(at, at + n));
      at += n;
      for (const u of out.updates) checkLease(u);
      updates += out.updates.length;
    }
  }
  assert.ok(updates > N / 20, `the fuzzer should also produce valid blocks (got ${updates})`);
});

test('Kea parser: 100,000 fuzzed CSV files', { timeout: 30_000 }, () => {
  const r = xorshift(0x5eed03);
  const base = seedText('kea24-formats.csv');
  const header = base.slice(0, base.indexOf('\n') + 1);
  let rows = 0;
  for (let i = 0; i < N; i++) {
    const p = createKeaParser('fuzz');
    const body = (r.int(4) === 0 ? '' : header) + mutate(r, base);
    const cut = r.int(body.length + 1);
    for (const part of [body.slice(0, cut), body.slice(cut), '\n']) {
      const out = feedKeaParser(p, part);
      for (const u of out.updates) checkLease(u);
      rows += out.updates.length;
    }
  }
  assert.ok(rows > N / 10, `the fuzzer should also produce valid rows (got ${rows})`);
});

test('ISC scanner: an unclosed brace cannot make it buffer without bound', () => {
  const p = createIscParser('fuzz');
  const bad = [];
  bad.push(...feedIscParser(p, 'lease 10.0.0.1 { ' + 'x'.repeat(1 << 20) + ' more').bad);
  const out = feedIscParser(p, '\nlease 10.0.0.2 {\n  ends never;\n  binding state active;\n  hardware ethernet 52:54:00:00:00:02;\n}\n');
  bad.push(...out.bad);
  assert.equal(bad.length, 1);
  assert.match(bad[0]!.reason, /longer than 1 MiB/);
  assert.deepEqual(out.updates.map((u) => u.ip), ['10.0.0.2']);
  assert.ok(p.scanner.tail.length < 1000);
});
