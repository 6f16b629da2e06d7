// The incremental dnsmasq updater must always agree with a full parse: random edit sequences
// (insert, delete, renew, rename, truncate, DHCPv6 section, garbage) from a fixed-seed PRNG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDnsmasqState, updateDnsmasqState } from '../../../../watchers/leases/dnsmasq-incremental.ts';
import { parseDnsmasqLeases } from '../../../../watchers/leases/dnsmasq-parser.ts';
import type { Lease } from '../../../../watchers/leases/lease.ts';

function xorshift(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const line = (i: number, exp: number, host: string) => `${exp} 52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')} 10.9.${i >> 8}.${i & 255} ${host} *`;
const asObj = (m: Map<string, Lease>) => Object.fromEntries([...m].map(([k, v]) => [k, { ...v }]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));

function checkRandomEdits(seed: number, steps: number, maxEdits: number): void {
  const r = xorshift(seed);
  let lines: string[] = Array.from({ length: 50 }, (_, i) => line(i, 1000 + i, `h${i}`));
  let text = lines.join('\n') + '\n';
  const state = buildDnsmasqState(text, 's', []);
  const tracked = new Map(state.leases);
  for (let step = 0; step < steps; step++) {
    for (let e = 1 + r(maxEdits); e > 0; e--) {
      const k = r(Math.max(lines.length, 1));
      switch (r(9)) {
        case 0:
          lines.splice(0, 0, line(r(400), 2000 + step, `n${step}`)); // dnsmasq puts new leases first
          break;
        case 1:
          lines.splice(k, 0, line(r(400), 2000 + step, '*'));
          break;
        case 2:
          lines.splice(k, 1);
          break;
        case 3:
          if (lines[k]) lines[k] = lines[k]!.replace(/^\d+/, String(3000 + step)); // renewal
          break;
        case 4:
          if (lines[k]) lines[k] = lines[k]!.replace(/ (\S+) \*$/, ` x${r(9)} *`);
          break;
        case 5:
          if (r(20) === 0) lines = lines.slice(0, k); // shrink
          break;
        case 6:
          if (r(10) === 0) {
            const d = lines.findIndex((l) => l.startsWith('duid '));
            if (d >= 0) lines.splice(d, 1);
            else lines.splice(k, 0, 'duid 00:01:00:01:2c:d5:5a:5b:52:54:00:12:34:56');
          }
          break;
        case 7:
          lines.splice(k, 0, r(2) ? 'garbage line' : `${step} 52:54:00:00:00:01 10.9.0.${r(300)} bad_host *`);
          break;
        default:
          if (lines[k]) lines[k] = lines[k]!.slice(0, r(lines[k]!.length)) + lines[k]!.slice(r(lines[k]!.length)); // splice a line
      }
    }
    // keep IPs unique, as dnsmasq does
    const seen = new Set<string>();
    lines = lines.filter((l) => {
      const ip = l.split(' ')[2];
      if (ip === undefined || !/^\d+ /.test(l)) return true;
      if (seen.has(ip)) return false;
      seen.add(ip);
      return true;
    });
    text = lines.length ? lines.join('\n') + '\n' : '';
    const updates = updateDnsmasqState(state, text, 's', []);
    for (const u of updates) {
      if (u.active) tracked.set(u.ip, { ip: u.ip, mac: u.mac, expires: u.expires, ...(u.hostname ? { hostname: u.hostname } : {}) } as Lease);
      else tracked.delete(u.ip);
    }
    const want = parseDnsmasqLeases(text, 's').leases;
    assert.deepEqual(asObj(state.leases), asObj(want), `step ${step}`);
    assert.deepEqual(asObj(tracked), asObj(want), `updates at step ${step}`);
    assert.equal(state.starts.length, lines.length + 1);
  }
}

test('incremental updates agree with a full parse over 10,000 random edits', () => {
  checkRandomEdits(0xd05, 10_000, 1);
});

test('several edits per rewrite (separate changed blocks) agree with a full parse, 5,000 rewrites', () => {
  checkRandomEdits(0xbeef, 5_000, 6);
});

test('a one-line change in a 100,000-line file reports just that line', () => {
  const lines = Array.from({ length: 100_000 }, (_, i) => line(i, 1000, `h${i}`));
  const state = buildDnsmasqState(lines.join('\n') + '\n', 's', []);
  lines[54_321] = lines[54_321]!.replace(/^1000/, '2000');
  lines.unshift('5 52:54:00:ff:ff:ff 10.10.0.1 fresh *');
  const updates = updateDnsmasqState(state, lines.join('\n') + '\n', 's', []);
  assert.deepEqual(updates.map((u) => `${u.ip} ${u.expires} ${u.active}`).sort(), ['10.10.0.1 5000 true', '10.9.212.49 2000000 true'].sort());
});

test('a rewrite with three separate changes (top removed, middle renewed, bottom added) reports just those', () => {
  const lines = Array.from({ length: 100_000 }, (_, i) => line(i, 1000, `h${i}`));
  const state = buildDnsmasqState(lines.join('\n') + '\n', 's', []);
  lines.shift();
  lines[500] = lines[500]!.replace(/^1000/, '2000');
  lines.push('5 52:54:00:ff:ff:ff 10.10.0.1 fresh *');
  const text = lines.join('\n') + '\n';
  const updates = updateDnsmasqState(state, text, 's', []);
  assert.deepEqual(updates.map((u) => `${u.ip} ${u.expires} ${u.active}`).sort(), ['10.10.0.1 5000 true', '10.9.0.0 1000000 false', '10.9.1.245 2000000 true'].sort());
  assert.equal(state.starts.length, 100_001);
  assert.equal(state.leases.size, parseDnsmasqLeases(text, 's').leases.size);
});
