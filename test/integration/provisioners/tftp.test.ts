// Boot files as TFTP servers see them: a real TFTP client in the client namespace fetches the
// node's config by a LINK name (pxelinux.cfg/<HEXIP> -> 01-<mac>) and by its canonical name, from
// tftpd-hpa and from dnsmasq's TFTP, and gets the rendered nfsroot= line.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, onCleanup, requireRoot, sh, tempDir, uniq, type NetnsPair } from '../../helpers/lab.ts';
import { setClientAddress, startTftpd, tftpGet } from '../../helpers/tftpd.ts';
import { startDnsmasq } from '../../helpers/dnsmasq.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from '../../unit/provisioners/fixtures.ts';

after(cleanupAll);

let pair: NetnsPair;
let base: string;
const node = makeNode(48); // 10.99.0.50, 52:54:00:00:00:32

before(async () => {
  requireRoot();
  pair = makeNetnsPair('pxd');
  setClientAddress(pair.cli, pair.cliIf, `${node.ip}/24`);
  base = tempDir('pxd-tftp-');
  chmodSync(base, 0o755); // dnsmasq serves TFTP as nobody
  for (const d of ['root/etc', 'node', 'overlay', 'tftp', 'templates']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  const file = `/etc/exports.d/pxebootd-test-${uniq()}.exports`;
  mkdirSync('/etc/exports.d', { recursive: true });
  onCleanup(`rm ${file}`, () => {
    sh('rm', ['-f', file]);
    sh('exportfs', ['-r'], { allowFail: true });
  });
  onCleanup('umount overlays', () => {
    for (const mp of parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [`${base}/node`]).keys()) sh('umount', [mp], { allowFail: true });
  });
  const config = makeConfig(base, { exports: { file, etab: '/var/lib/nfs/etab' } });
  const p = createProvisioner({ config, runner: createRunner(silentLogger()), log: silentLogger() });
  await p.provision(node, makeRule(base));
  await p.close();
  assert.ok(lstatSync(`${base}/tftp/pxelinux.cfg/0A630032`).isSymbolicLink());
  await startTftpd({ netns: pair.srv, root: `${base}/tftp`, address: pair.srvIp, port: 1069, dir: tempDir('pxd-tftpd-') });
  await startDnsmasq({ netns: pair.srv, tftpRoot: `${base}/tftp`, dir: tempDir('pxd-dnsmasq-') });
});

describe('TFTP fetch of boot files', () => {
  const want = new RegExp(`APPEND root=/dev/nfs nfsroot=10\\.99\\.0\\.1:${'BASE'}/node/0A630032,vers=3`);
  const check = (r: ReturnType<typeof tftpGet>) => {
    assert.ok(r.ok, r.error);
    const text = r.data!.toString('utf8');
    assert.match(text, new RegExp(want.source.replace('BASE', base)));
    assert.match(text, /^# pxebootd: generated for node 0A630032/);
    return text;
  };

  test('tftpd-hpa follows the hex-IP link and serves the canonical file (busybox and tftp-hpa clients)', () => {
    const viaLink = check(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/0A630032', { port: 1069 }));
    const canonical = check(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/01-52-54-00-00-00-32', { port: 1069, client: 'tftp' }));
    assert.equal(viaLink, canonical);
  });

  test("dnsmasq's TFTP follows the link too", () => {
    const viaLink = check(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/0A630032'));
    assert.equal(viaLink, readFileSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`, 'utf8'));
  });
});
