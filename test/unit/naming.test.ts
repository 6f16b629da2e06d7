import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeNameFor } from '../../src/naming.ts';
import { isSafeNodeName } from '../../src/validate.ts';

test('ip-hex is the upper-case hex IP, as fuse_pxebootfs and pxelinux use', () => {
  assert.equal(nodeNameFor('ip-hex', '10.0.0.5', undefined), '0A000005');
  assert.equal(nodeNameFor('ip-hex', '10.99.0.50', '52:54:00:12:34:56'), '0A630032');
  assert.equal(nodeNameFor('ip-hex', '0.0.0.1', undefined), '00000001');
  assert.equal(nodeNameFor('ip-hex', '255.255.255.255', undefined), 'FFFFFFFF');
});

test('mac naming is the lower-case hyphenated MAC, whatever notation came in', () => {
  assert.equal(nodeNameFor('mac', '10.0.0.5', '52:54:00:AB:CD:EF'), '52-54-00-ab-cd-ef');
  assert.equal(nodeNameFor('mac', '10.0.0.5', '52-54-00-ab-cd-ef'), '52-54-00-ab-cd-ef');
  assert.equal(nodeNameFor('mac', '10.0.0.5', '525400abcdef'), '52-54-00-ab-cd-ef');
});

test('names are only ever built from valid input', () => {
  assert.throws(() => nodeNameFor('mac', '10.0.0.5', undefined), /needs a known MAC for 10\.0\.0\.5/);
  assert.throws(() => nodeNameFor('mac', '10.0.0.5', '../../etc'), /needs a known MAC/);
  for (const bad of ['10.0.0', '10.0.0.256', '../x', '10.0.0.5\n', '010.0.0.5']) {
    assert.throws(() => nodeNameFor('ip-hex', bad, undefined), /ip-hex needs an IPv4 address/, bad);
  }
});

test('every name produced passes the node-name gate', () => {
  for (let i = 0; i < 2000; i++) {
    const ip = `${i % 256}.${(i * 7) % 256}.${(i * 13) % 256}.${(i * 31) % 256}`;
    const mac = Array.from({ length: 6 }, (_, k) => ((i * (k + 3)) % 256).toString(16).padStart(2, '0')).join(':');
    assert.ok(isSafeNodeName(nodeNameFor('ip-hex', ip, undefined)), ip);
    assert.ok(isSafeNodeName(nodeNameFor('mac', ip, mac)), mac);
  }
});
