// The ganesha backend over DBus, against a real NFS-Ganesha that owns org.ganesha.nfsd on a
// private system bus (helpers/dbus.ts): the start-up reconciles with Ganesha over DBus (no SIGHUP),
// a new node's export is added with AddExport (the client mounts it from its IP, another IP is
// refused) and a released one is removed with RemoveExport, with no SIGHUP at all. Where Ganesha
// does not answer on the bus (it is not on it, or there is no bus), SIGHUP does the same job.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, onCleanup, requireRoot, requireTool, sh, tempDir, waitFor, type NetnsPair } from '../../helpers/lab.ts';
import { makeSharedSubtree, startGanesha, type GaneshaHandle } from '../../helpers/ganesha.ts';
import { startPrivateBus, type PrivateBus } from '../../helpers/dbus.ts';
import { createRunner, type Runner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import type { Config, ResolvedRule } from '../../../src/types.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { ganeshaAddDir } from '../../../provisioners/export-backends.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from '../../unit/provisioners/fixtures.ts';

after(cleanupAll);

let pair: NetnsPair;
let g: GaneshaHandle;
let bus: PrivateBus;
let base: string;
let config: Config;
let rule: ResolvedRule;
let runner: Runner;
let p: ReturnType<typeof createProvisioner>;

function nfs(tool: string, args: string[], src: string) {
  sh('ip', ['-n', pair.cli, 'route', 'replace', `${pair.srvIp}/32`, 'dev', pair.cliIf, 'src', src]);
  return spawnSync('ip', ['netns', 'exec', pair.cli, tool, ...args], { encoding: 'utf8', timeout: 20_000 });
}
const catFrom = (node: string, src: string) => nfs('nfs-cat', [`nfs://${pair.srvIp}/nodes/${node}/etc/issue?version=4`], src);
/** over NFSv3 by the real path: a refused client gets MNT3ERR_ACCES (NFSv4's pseudo fs would just hide the export) */
const refused = (node: string, src: string) => /ACCES|denied/i.test(nfs('nfs-cat', [`nfs://${pair.srvIp}${base}/node/${node}/etc/issue`], src).stderr);
const sighups = () => readFileSync(g.logFile, 'utf8').match(/Received SIGHUP/g)?.length ?? 0;
const dbusCalls = () => runner.stats().get('dbus-send')?.runs ?? 0;

before(async () => {
  requireRoot();
  for (const t of ['nfs-cat', 'ganesha.nfsd', 'dbus-daemon', 'dbus-send']) requireTool(t);
  pair = makeNetnsPair('pxd');
  for (const ip of ['10.99.0.50', '10.99.0.51', '10.99.0.52', '10.99.0.53']) sh('ip', ['-n', pair.cli, 'addr', 'add', `${ip}/24`, 'dev', pair.cliIf]);
  base = tempDir('pxd-gdbus-');
  for (const d of ['root/etc', 'node', 'overlay', 'tftp', 'templates']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'root/etc/issue'), 'base image\n');
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  makeSharedSubtree(path.join(base, 'node'));
  bus = await startPrivateBus();
  // pxebootd's dbus-send finds the bus the way it would find the real one
  process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
  const exportsFile = path.join(base, 'pxebootd-ganesha.conf');
  g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile, dbusAddress: bus.address });
  await waitFor('ganesha owns org.ganesha.nfsd', () => sh('dbus-send', ['--system', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.ganesha.nfsd']).includes('boolean true'), 20_000);
  config = makeConfig(base, { exports: { backend: 'ganesha', file: exportsFile, pid_file: g.pidFile, pseudo_root: '/nodes' } });
  rule = makeRule(base);
  runner = createRunner(silentLogger());
  p = createProvisioner({ config, runner, log: silentLogger() });
  onCleanup('umount overlays', () => {
    for (const mp of parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [`${base}/node`]).keys()) {
      if (mp !== `${base}/node`) sh('umount', [mp], { allowFail: true });
    }
  });
});

describe('ganesha exports over DBus, real NFS-Ganesha on a private bus', () => {
  const a = makeNode(48); // 10.99.0.50
  const b = makeNode(49); // 10.99.0.51
  const c = makeNode(50); // 10.99.0.52
  const d = makeNode(51); // 10.99.0.53

  test('the first export after start-up is a reconcile over DBus (ShowExports, then AddExport), not a SIGHUP reload', async () => {
    await p.provision(a, rule);
    // ready means exported: no waiting
    assert.equal(catFrom(a.name, a.ip).stdout, 'base image\n');
    assert.ok(dbusCalls() >= 2, 'ShowExports and AddExport');
    assert.equal(sighups(), 0);
  });

  test('a new node: AddExport, no SIGHUP; its IP mounts and reads it, another IP is refused', async () => {
    const calls = dbusCalls();
    await p.provision(b, rule);
    assert.equal(sighups(), 0, 'no SIGHUP for a single new export');
    assert.ok(dbusCalls() > calls, 'pxebootd called dbus-send');
    const shown = sh('dbus-send', ['--system', '--print-reply', '--dest=org.ganesha.nfsd', '/org/ganesha/nfsd/ExportMgr', 'org.ganesha.nfsd.exportmgr.DisplayExport', `uint16:${b.fsid}`]);
    assert.match(shown, new RegExp(`string "${base}/node/${b.name}"`));
    assert.match(shown, /string "10\.99\.0\.51\/32"/);
    // ready means exported: no waiting
    const cat = catFrom(b.name, b.ip);
    assert.equal(cat.status, 0, cat.stderr);
    assert.equal(cat.stdout, 'base image\n');
    const other = nfs('nfs-cat', [`nfs://${pair.srvIp}${base}/node/${b.name}/etc/issue`], a.ip);
    assert.notEqual(other.status, 0);
    assert.equal(other.stdout, '');
    assert.match(other.stderr, /ACCES|denied/i);
    assert.deepEqual(readdirSync(ganeshaAddDir(config.exports.file)), [], 'the one-block file is gone after the call');
    assert.match(readFileSync(config.exports.file, 'utf8'), new RegExp(`Export_Id = ${b.fsid};`), 'the %include file has it too, for a restart');
  });

  test('release remove: RemoveExport, no SIGHUP; the export is gone and the overlay unmounts', async () => {
    await p.release(b, rule, 'remove');
    assert.equal(sighups(), 0, 'no SIGHUP for a single removal');
    assert.equal(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [`${base}/node`]).has(`${base}/node/${b.name}`), false);
    assert.equal(existsSync(`${base}/overlay/${b.name}`), false);
    const r = spawnSync('dbus-send', ['--system', '--print-reply', '--dest=org.ganesha.nfsd', '/org/ganesha/nfsd/ExportMgr', 'org.ganesha.nfsd.exportmgr.DisplayExport', `uint16:${b.fsid}`], { encoding: 'utf8' });
    assert.match(r.stderr, /not found/);
    assert.notEqual(catFrom(b.name, b.ip).stdout, 'base image\n');
    assert.equal(catFrom(a.name, a.ip).stdout, 'base image\n', 'the other node stays exported');
    assert.ok(!readFileSync(config.exports.file, 'utf8').includes(b.name));
  });

  test('Ganesha not on the bus, then no bus at all: each change is a SIGHUP, and the node is exported all the same', async () => {
    await p.close();
    // Ganesha exits when its bus connection drops (libdbus exit-on-disconnect), so this one starts without a bus
    await g.stop();
    g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile: config.exports.file });
    config = { ...config, exports: { ...config.exports, pid_file: g.pidFile } };
    const p2 = createProvisioner({ config, runner, log: silentLogger() });
    try {
      await p2.provision(c, rule); // start-up: SIGHUP
      await waitFor('first SIGHUP', () => sighups() === 1, 20_000);
      // the bus is up but nobody owns org.ganesha.nfsd (ServiceUnknown)
      const calls = dbusCalls();
      await p2.provision(b, rule);
      assert.ok(dbusCalls() > calls, 'DBus was tried first');
      await waitFor('a second SIGHUP', () => sighups() === 2, 20_000);
      await waitFor('b readable from its IP', () => catFrom(b.name, b.ip).stdout === 'base image\n', 20_000);
      assert.ok(refused(b.name, a.ip), 'another IP is refused');
      // no bus at all
      await bus.stop();
      await p2.provision(d, rule);
      await waitFor('a third SIGHUP', () => sighups() === 3, 20_000);
      await waitFor('d readable from its IP', () => catFrom(d.name, d.ip).stdout === 'base image\n', 20_000);
    } finally {
      await p2.close();
    }
  });

  test('exports.dbus: off never calls dbus-send', async () => {
    const off = { ...config, exports: { ...config.exports, dbus: 'off' as const } };
    const r = createRunner(silentLogger());
    const p3 = createProvisioner({ config: off, runner: r, log: silentLogger() });
    try {
      await p3.release(b, rule, 'unexport'); // start-up: SIGHUP
      await p3.release(d, rule, 'unexport'); // auto would try dbus-send here (and fail: no bus)
      await waitFor('SIGHUPs for both', () => sighups() === 5, 20_000);
      assert.equal(r.stats().get('dbus-send')?.runs ?? 0, 0);
    } finally {
      await p3.close();
    }
  });
});
