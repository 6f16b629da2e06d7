import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCidr, checkExportOptions, checkListen, checkServer, cidrContains, parseCidr, prefixMask } from '../../../src/config/formats.ts';

test('parseCidr: canonical networks only', () => {
  assert.deepEqual(parseCidr('10.0.0.0/24'), { network: 0x0a000000, prefix: 24, text: '10.0.0.0/24' });
  assert.deepEqual(parseCidr('0.0.0.0/0'), { network: 0, prefix: 0, text: '0.0.0.0/0' });
  assert.deepEqual(parseCidr('10.0.0.5/32'), { network: 0x0a000005, prefix: 32, text: '10.0.0.5/32' });
  for (const bad of ['10.0.0.5/24', '10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0/8', '010.0.0.0/8', ' 10.0.0.0/8', '10.0.0.0/8/8', '::/0']) {
    assert.equal(parseCidr(bad), undefined, bad);
    assert.ok(checkCidr(bad), bad);
  }
  assert.equal(checkCidr('192.168.1.77/16'), 'host bits set in 192.168.1.77/16: expected the network address 192.168.0.0/16');
});

test('prefixMask and cidrContains at the edges', () => {
  assert.equal(prefixMask(0), 0);
  assert.equal(prefixMask(1), 0x80000000);
  assert.equal(prefixMask(32), 0xffffffff);
  const all = parseCidr('0.0.0.0/0')!;
  assert.ok(cidrContains(all, '255.255.255.255'));
  const half = parseCidr('128.0.0.0/1')!;
  assert.ok(cidrContains(half, '200.1.1.1'));
  assert.ok(!cidrContains(half, '127.255.255.255'));
  const host = parseCidr('10.0.0.5/32')!;
  assert.ok(cidrContains(host, '10.0.0.5'));
  assert.ok(!cidrContains(host, '10.0.0.4'));
});

test('server, listen and export options', () => {
  assert.equal(checkServer('10.0.0.1'), undefined);
  assert.equal(checkServer('boot-1.example'), undefined);
  assert.ok(checkServer('10.0.0'));
  assert.ok(checkServer('a b'));
  assert.equal(checkListen('127.0.0.1:9642'), undefined);
  assert.equal(checkListen('[::1]:9642'), undefined);
  assert.equal(checkListen('localhost:80'), undefined);
  assert.ok(checkListen('127.0.0.1:0'));
  assert.ok(checkListen('127.0.0.1:99999'));
  assert.ok(checkListen(':80'));
  assert.equal(checkExportOptions('rw,no_root_squash,sec=sys:krb5,anonuid=65534'), undefined);
  assert.ok(checkExportOptions('rw,FSID=3'));
  assert.ok(checkExportOptions('rw\tsync'));
  assert.ok(checkExportOptions('rw,#x'));
  assert.ok(checkExportOptions(''));
});
