import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clientFromTftpFilename } from '../../../../watchers/logs/tftp-filename.ts';

describe('clientFromTftpFilename', () => {
  test('pxelinux MAC, upper or lower case', () => {
    assert.deepEqual(clientFromTftpFilename('pxelinux.cfg/01-52-54-00-AA-bb-06'), { file: 'pxelinux.cfg/01-52-54-00-AA-bb-06', mac: '52:54:00:aa:bb:06' });
  });
  test('pxelinux full hex IP only; shortened probes are noise', () => {
    assert.deepEqual(clientFromTftpFilename('pxelinux.cfg/0A630032'), { file: 'pxelinux.cfg/0A630032', ip: '10.99.0.50' });
    for (const p of ['0A63003', '0A6300', '0A', '0', 'default']) assert.deepEqual(clientFromTftpFilename(`pxelinux.cfg/${p}`), { file: `pxelinux.cfg/${p}` });
  });
  test('pxelinux UUID', () => {
    assert.deepEqual(clientFromTftpFilename('pxelinux.cfg/B8945908-D6A6-41A9-611D-74A6AB80B83D').uuid, 'b8945908-d6a6-41a9-611d-74a6ab80b83d');
  });
  test('GRUB names with any directory prefix', () => {
    assert.equal(clientFromTftpFilename('grub/grub.cfg-01-52-54-00-12-34-56').mac, '52:54:00:12:34:56');
    assert.equal(clientFromTftpFilename('/boot/grub/x86_64-efi/grub.cfg-52:54:00:12:34:56').mac, '52:54:00:12:34:56');
    assert.equal(clientFromTftpFilename('grub.cfg-0A630032').ip, '10.99.0.50');
    assert.equal(clientFromTftpFilename('grub.cfg-0A63003').ip, undefined);
  });
  test('leading slashes and directory prefixes', () => {
    assert.deepEqual(clientFromTftpFilename('//bios/pxelinux.cfg/01-52-54-00-12-34-56'), { file: 'bios/pxelinux.cfg/01-52-54-00-12-34-56', mac: '52:54:00:12:34:56' });
  });
  test('trailing garbage bytes are stripped', () => {
    assert.equal(clientFromTftpFilename('pxelinux.cfg/01-52-54-00-12-34-56\u00ff').mac, '52:54:00:12:34:56');
    assert.equal(clientFromTftpFilename('pxelinux.cfg/01-52-54-00-12-34-56\ufffd\ufffd').mac, '52:54:00:12:34:56');
    assert.equal(clientFromTftpFilename('pxelinux.cfg/0A630032\0\0\0').ip, '10.99.0.50');
    assert.equal(clientFromTftpFilename('pxelinux.cfg/0A630032#000#377').ip, '10.99.0.50');
  });
  test('control bytes inside or over-long names: file printable, no identity', () => {
    const r = clientFromTftpFilename('pxelinux.cfg/01-52-54\n-00-12-34-56');
    assert.equal(r.mac, undefined);
    assert.ok(!r.file.includes('\n'));
    const long = clientFromTftpFilename('a/'.repeat(400) + 'pxelinux.cfg/0A630032');
    assert.equal(long.ip, undefined);
    assert.ok(long.file.length <= 256);
  });
  test('wrong directory or lookalikes claim nothing', () => {
    assert.deepEqual(clientFromTftpFilename('pxelinux.cfgx/0A630032'), { file: 'pxelinux.cfgx/0A630032' });
    assert.deepEqual(clientFromTftpFilename('pxelinux.cfg/02-52-54-00-12-34-56'), { file: 'pxelinux.cfg/02-52-54-00-12-34-56' });
    assert.deepEqual(clientFromTftpFilename('pxelinux.cfg/0G630032'), { file: 'pxelinux.cfg/0G630032' });
  });
});
