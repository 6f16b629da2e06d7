// dnsmasq lease lines as dnsmasq itself reads them: IPv4 or IPv6 by each line's address (not by the
// `duid` line's position), a NUL-terminated hostname kept, and a file of garbage reported as at most
// BAD_LINES_PER_READ lines plus a count. (A last line without "\n": dnsmasq-cut-fuzz.test.ts, in a worker.)
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDnsmasqLeases } from '../../../../watchers/leases/dnsmasq-parser.ts';
import { buildDnsmasqState, updateDnsmasqState } from '../../../../watchers/leases/dnsmasq-incremental.ts';
import { BAD_LINES_PER_READ } from '../../../../watchers/leases/parse-util.ts';
import { parseDhcpPacket } from '../../../../watchers/dhcp/dhcp-packet.ts';
import { normalizeHostname } from '../../../../src/validate.ts';
import { buildPacket } from '../dhcp/dhcp-build.ts';
import type { BadInput } from '../../../../src/types.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/leases');
const v4AfterDuid = readFileSync(path.join(FIX, 'dnsmasq-v4-after-duid.leases'), 'latin1');
const ips = (m: Map<string, unknown>) => [...m.keys()].sort();

describe('IPv4 lines after the duid line', () => {
  test('the full parse reads every IPv4 line and skips the DHCPv6 ones without a complaint', () => {
    const r = parseDnsmasqLeases(v4AfterDuid, 's');
    assert.deepEqual(ips(r.leases), ['10.99.0.160', '10.99.0.169', '10.99.0.170']);
    assert.deepEqual(r.leases.get('10.99.0.169'), { ip: '10.99.0.169', mac: '52:54:00:aa:bb:09', hostname: 'after-duid', expires: 1795321950000 });
    assert.deepEqual(r.bad, []);
  });

  test('the incremental parser sees an IPv4 line added after the duid line, and its removal', () => {
    const lines = v4AfterDuid.split('\n');
    const head = lines.slice(0, 4).join('\n') + '\n';
    const state = buildDnsmasqState(head, 's', []);
    assert.deepEqual(ips(state.leases), ['10.99.0.160']);
    const up = updateDnsmasqState(state, v4AfterDuid, 's', []);
    assert.deepEqual(up.map((u) => `${u.ip} ${u.state}`).sort(), ['10.99.0.169 active', '10.99.0.170 active']);
    const down = updateDnsmasqState(state, head, 's', []);
    assert.deepEqual(down.map((u) => `${u.ip} ${u.state}`).sort(), ['10.99.0.169 removed', '10.99.0.170 removed']);
  });

  test('a duid line moved around changes nothing for the IPv4 leases', () => {
    const state = buildDnsmasqState(v4AfterDuid, 's', []);
    const moved = v4AfterDuid.replace(/^duid .*\n/m, '') + 'duid 00:01:00:01:2c:d5:5a:5b:52:54:00:12:34:56\n';
    assert.deepEqual(updateDnsmasqState(state, moved, 's', []), []);
    assert.deepEqual(ips(state.leases), ['10.99.0.160', '10.99.0.169', '10.99.0.170']);
  });
});

describe('a hostname with trailing NULs', () => {
  test('normalizeHostname drops trailing NULs and still refuses an inner one', () => {
    assert.equal(normalizeHostname('DIR-809\0'), 'dir-809');
    assert.equal(normalizeHostname('DIR-809\0\0'), 'dir-809');
    assert.equal(normalizeHostname('a\0b'), undefined);
    assert.equal(normalizeHostname('\0'), undefined);
  });

  test('a lease line keeps it', () => {
    const r = parseDnsmasqLeases('1795321950 52:54:00:aa:bb:09 10.99.0.169 DIR-809\0 *\n', 's');
    assert.equal(r.leases.get('10.99.0.169')?.hostname, 'dir-809');
    assert.deepEqual(r.bad, []);
  });

  test('DHCP option 12 sent NUL-terminated keeps it', () => {
    const name = [...Buffer.from('DIR-809\0')];
    const r = parseDhcpPacket(buildPacket({ options: [53, 1, 1, 12, name.length, ...name, 255] }));
    assert.ok(r.ok);
    assert.equal(r.packet.hostname, 'dir-809');
    assert.deepEqual(r.packet.warnings, []);
  });
});

describe('a file of garbage', () => {
  test(`reports the first ${BAD_LINES_PER_READ} bad lines one by one, then one count`, () => {
    const text = Array.from({ length: 1000 }, (_, i) => `garbage ${i}`).join('\n') + '\n';
    for (const bad of [parseDnsmasqLeases(text, 's').bad, (() => { const b: BadInput[] = []; buildDnsmasqState(text, 's', b); return b; })(), (() => { const b: BadInput[] = []; updateDnsmasqState(buildDnsmasqState('', 's', []), text, 's', b); return b; })()]) {
      assert.equal(bad.length, BAD_LINES_PER_READ + 1);
      assert.equal(bad[0]!.line, 1);
      assert.match(bad.at(-1)!.reason, /^900 more bad lines in this read/);
    }
  });
});
