// Lease-file forms that other servers' own readers accept and ours once dropped: Kea rows written
// by a newer Kea under an older header (Kea's mixed-schema load), and ISC's bare `abandoned;`.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeaCsv } from '../../../../watchers/leases/kea-parser.ts';
import { parseIscLeases } from '../../../../watchers/leases/isc-parser.ts';

const KEA22_HEADER = 'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context';

describe('Kea rows with more columns than the header', () => {
  test('a 2.4 row (pool_id) under a 2.2 header is read by the header\'s columns', () => {
    const text = `${KEA22_HEADER}\n` +
      '192.168.1.50,52:54:00:12:34:56,,3600,1714563296,1,0,0,old,0,\n' +
      '192.168.1.51,52:54:00:12:34:57,,3600,1714563300,1,0,0,new,0,,7\n';
    const r = parseKeaCsv(text, 's');
    assert.deepEqual(r.bad, []);
    assert.deepEqual([...r.leases.values()].map((l) => [l.ip, l.mac, l.hostname, l.active]), [
      ['192.168.1.50', '52:54:00:12:34:56', 'old', true],
      ['192.168.1.51', '52:54:00:12:34:57', 'new', true],
    ]);
  });
  test('a row with fewer columns than the header is still a cut row, reported with its line', () => {
    const r = parseKeaCsv(`${KEA22_HEADER}\n192.168.1.57,52:54:00:00:00:57,,3600,1714563800,1,0,0\n`, 's');
    assert.equal(r.leases.size, 0);
    assert.equal(r.bad.length, 1);
    assert.equal(r.bad[0]!.line, 2);
    assert.match(r.bad[0]!.reason, /at least 11 columns .* found 8/);
  });
});

describe('ISC bare abandoned statement', () => {
  const block = (body: string) => `lease 10.0.0.5 {\n  starts 3 2024/05/01 22:34:56;\n  ends 3 2030/05/01 22:34:56;\n${body}  hardware ethernet 52:54:00:00:00:05;\n}\n`;
  test('`abandoned;` makes the lease abandoned (not active), as ISC\'s reader does', () => {
    const r = parseIscLeases(block('  abandoned;\n'), 's');
    const l = r.leases.get('10.0.0.5');
    assert.equal(l?.active, false);
    assert.equal(l?.state, 'abandoned');
    assert.deepEqual(r.bad, []);
  });
  test('a later binding state overrides it, as the statements are read in order', () => {
    const l = parseIscLeases(block('  abandoned;\n  binding state active;\n'), 's').leases.get('10.0.0.5');
    assert.equal(l?.active, true);
  });
  test('without it the same block is active (the control case)', () => {
    assert.equal(parseIscLeases(block(''), 's').leases.get('10.0.0.5')?.active, true);
  });
});
