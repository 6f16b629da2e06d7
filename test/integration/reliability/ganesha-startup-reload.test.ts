// Attacks pxebootd's start-up against a real NFS-Ganesha on a private bus (helpers/dbus.ts): a
// start-up that reloaded Ganesha with SIGHUP re-read every export, and an export removed over
// DBus while that reload ran came back when it ended (a released node's old overlay still
// served). With Ganesha on DBus the start-up now reconciles over DBus: no SIGHUP at all. Ganesha
// starts with pxebootd's file already loaded, then drifts from it the ways a crash or an admin
// leaves it: a stale export of ours, an admin's own export, a node's export missing, a node's
// export for the wrong client. To make a reload's window as long as it is with thousands of
// exports (minutes), ganesha.conf %includes a FIFO once Ganesha is up: a reload blocks on it, after
// it has parsed our file, until the test opens the FIFO.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, onCleanup, requireRoot, requireTool, sh, tempDir, waitFor, type NetnsPair } from '../../helpers/lab.ts';
import { makeSharedSubtree, startGanesha, type GaneshaHandle } from '../../helpers/ganesha.ts';
import { startPrivateBus, type PrivateBus } from '../../helpers/dbus.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import type { Config, ResolvedRule } from '../../../src/types.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { buildGaneshaBlock } from '../../../provisioners/exports-ganesha.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from '../../unit/provisioners/fixtures.ts';

after(cleanupAll);

let pair: NetnsPair;
let g: GaneshaHandle;
let bus: PrivateBus;
let base: string;
let config: Config;
let rule: ResolvedRule;
let fifo: string;
let p2: ReturnType<typeof createProvisioner>;

const a = makeNode(48); // 10.99.0.50
const b = makeNode(49); // 10.99.0.51
const c = makeNode(50); // 10.99.0.52
const OTHER_IP = '10.99.0.53';
const STALE_ID = 30001;
const FOREIGN_ID = 30002;
const FOREIGN_BELOW_ID = 30003;

const MGR = ['--system', '--print-reply', '--dest=org.ganesha.nfsd', '/org/ganesha/nfsd/ExportMgr'];
function display(id: number) {
  return spawnSync('dbus-send', [...MGR, 'org.ganesha.nfsd.exportmgr.DisplayExport', `uint16:${id}`], { encoding: 'utf8', timeout: 20_000 });
}
const exported = (id: number) => display(id).status === 0;
function addExport(dir: string, node: string, p: string, ip: string, fsid: number) {
  const file = path.join(dir, `${node}.conf`);
  writeFileSync(file, buildGaneshaBlock({ node, path: p, ip, fsid, pseudo: `/nodes/${node}` }));
  sh('dbus-send', [...MGR, 'org.ganesha.nfsd.exportmgr.AddExport', `string:${file}`, `string:EXPORT(Export_Id=${fsid})`]);
}
const removeExport = (id: number) => sh('dbus-send', [...MGR, 'org.ganesha.nfsd.exportmgr.RemoveExport', `uint16:${id}`]);
function nfs(args: string[], src: string) {
  sh('ip', ['-n', pair.cli, 'route', 'replace', `${pair.srvIp}/32`, 'dev', pair.cliIf, 'src', src]);
  return spawnSync('ip', ['netns', 'exec', pair.cli, 'nfs-cat', ...args], { encoding: 'utf8', timeout: 20_000 });
}
const catFrom = (node: string, src: string) => nfs([`nfs://${pair.srvIp}/nodes/${node}/etc/issue?version=4`], src);
const refused = (node: string, src: string) => /ACCES|denied/i.test(nfs([`nfs://${pair.srvIp}${base}/node/${node}/etc/issue`], src).stderr);
const ganeshaLog = () => readFileSync(g.logFile, 'utf8');
const sighups = () => ganeshaLog().match(/Received SIGHUP/g)?.length ?? 0;
/** Open the FIFO for writing once: a reload blocked on it reads EOF and goes on. Never waits long. */
function openFifo(): Promise<void> {
  return new Promise((resolve) => {
    const w = spawn('timeout', ['5', 'sh', '-c', ': > "$1"', 'openfifo', fifo], { stdio: 'ignore' });
    w.on('exit', () => resolve());
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  requireRoot();
  for (const t of ['nfs-cat', 'ganesha.nfsd', 'dbus-daemon', 'dbus-send', 'mkfifo', 'timeout']) requireTool(t);
  pair = makeNetnsPair('pxr');
  for (const ip of ['10.99.0.50', '10.99.0.51', '10.99.0.52', OTHER_IP]) sh('ip', ['-n', pair.cli, 'addr', 'add', `${ip}/24`, 'dev', pair.cliIf]);
  base = tempDir('pxd-gstart-');
  for (const d of ['root/etc', 'node', 'overlay', 'tftp', 'templates', 'admin/0A63FFFE', 'blocks']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'root/etc/issue'), 'base image\n');
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  makeSharedSubtree(path.join(base, 'node'));
  bus = await startPrivateBus();
  process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
  const exportsFile = path.join(base, 'pxebootd-ganesha.conf');
  const owned = () => sh('dbus-send', ['--system', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.ganesha.nfsd']).includes('boolean true');
  g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile, dbusAddress: bus.address });
  await waitFor('ganesha owns org.ganesha.nfsd', owned, 20_000);
  config = makeConfig(base, { exports: { backend: 'ganesha', file: exportsFile, pid_file: g.pidFile, pseudo_root: '/nodes' } });
  rule = makeRule(base);
  onCleanup('umount overlays', () => {
    for (const mp of parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [`${base}/node`]).keys()) {
      if (mp !== `${base}/node`) sh('umount', [mp], { allowFail: true });
    }
  });
  // a first pxebootd run: three nodes mounted, exported and in our file; it stops, its mounts stay
  const p1 = createProvisioner({ config, runner: createRunner(silentLogger()), log: silentLogger() });
  try {
    for (const n of [a, b, c]) await p1.provision(n, rule);
  } finally {
    await p1.close();
  }
  // Ganesha restarts: it loads our file at start, as after a reboot (and its log starts empty)
  await g.stop();
  g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile, dbusAddress: bus.address });
  config = { ...config, exports: { ...config.exports, pid_file: g.pidFile } };
  await waitFor('ganesha owns org.ganesha.nfsd again', owned, 20_000);
  await waitFor('our three exports loaded', () => [a, b, c].every((n) => exported(n.fsid)), 20_000);
  // the drift: a stale export of ours (a node dir, not in our file), an admin's export of a path
  // that is not ours, c's export gone, b's export for another client
  mkdirSync(path.join(base, 'node', '0A63FFFF'));
  addExport(path.join(base, 'blocks'), '0A63FFFF', path.join(base, 'node', '0A63FFFF'), OTHER_IP, STALE_ID);
  addExport(path.join(base, 'blocks'), '0A63FFFE', path.join(base, 'admin', '0A63FFFE'), OTHER_IP, FOREIGN_ID);
  // an admin's export below node_dir that is not <node_dir>/<NODE>: not ours either
  mkdirSync(path.join(base, 'node', 'common'));
  // (an admin writes such a block by hand: pxebootd's block builder refuses a path that is not a node)
  const placeholder = path.join(base, 'node', '0A63FFFD');
  const block = buildGaneshaBlock({ node: '0A63FFFD', path: placeholder, ip: OTHER_IP, fsid: FOREIGN_BELOW_ID, pseudo: '/nodes/0A63FFFD' });
  const commonFile = path.join(base, 'blocks', 'common.conf');
  writeFileSync(commonFile, block.replaceAll(placeholder, path.join(base, 'node', 'common')).replaceAll('/nodes/0A63FFFD', '/admin/common'));
  sh('dbus-send', [...MGR, 'org.ganesha.nfsd.exportmgr.AddExport', `string:${commonFile}`, `string:EXPORT(Export_Id=${FOREIGN_BELOW_ID})`]);
  removeExport(c.fsid);
  removeExport(b.fsid);
  addExport(path.join(base, 'blocks'), b.name, path.join(base, 'node', b.name), OTHER_IP, b.fsid);
  // from now on a reload parses our file, then blocks on the FIFO until openFifo()
  fifo = path.join(base, 'hold.fifo');
  sh('mkfifo', [fifo]);
  onCleanup('release a reload held on the FIFO', () => {
    spawnSync('timeout', ['2', 'sh', '-c', ': > "$1"', 'openfifo', fifo]);
  });
  appendFileSync(g.confFile, `%include "${fifo}"\n`);
  assert.equal(sighups(), 0);
});

describe('pxebootd start-up against a running Ganesha on DBus', () => {
  test('restore reconciles over DBus: no SIGHUP; stale export of ours removed, the admin\'s kept, the missing one added, the wrong client fixed; every node mounts', async () => {
    p2 = createProvisioner({ config, runner: createRunner(silentLogger()), log: silentLogger() });
    const errors = await p2.restore([a, b, c].map((node) => ({ node: { ...node, state: 'ready' as const }, rule })));
    assert.deepEqual([...errors.keys()], []);
    // a SIGHUP is sent before restore returns; give Ganesha's signal thread time to log it
    await sleep(1500);
    assert.equal(sighups(), 0, 'no SIGHUP at start-up');
    assert.ok(!exported(STALE_ID), 'our stale export is removed');
    assert.match(display(FOREIGN_ID).stdout, new RegExp(`string "${base}/admin/0A63FFFE"`), 'an export that is not ours is left alone');
    assert.match(display(FOREIGN_BELOW_ID).stdout, new RegExp(`string "${base}/node/common"`), 'an admin export below node_dir that is not a node is left alone');
    assert.match(display(c.fsid).stdout, new RegExp(`string "${base}/node/${c.name}"`), 'the missing export is added');
    const shownB = display(b.fsid).stdout;
    assert.match(shownB, /string "10\.99\.0\.51\/32"/, "b's export names b's IP");
    assert.doesNotMatch(shownB, /10\.99\.0\.53/, 'and no longer the other client');
    for (const n of [a, b, c]) {
      const cat = catFrom(n.name, n.ip);
      assert.equal(cat.status, 0, `${n.name}: ${cat.stderr}`);
      assert.equal(cat.stdout, 'base image\n');
    }
    assert.ok(refused(b.name, OTHER_IP), "the old client of b's export is refused");
  });

  test('a release right after start-up stays released: no reload brings the export back', async () => {
    assert.ok(exported(a.fsid));
    await p2.release(a, rule, 'unexport');
    assert.ok(!exported(a.fsid), 'RemoveExport done when release returns');
    // were a reload running (held on the FIFO since start-up), this lets it finish
    await openFifo();
    if (sighups() > 0) await g.waitForLog(/Reread exports complete/, 20_000);
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      assert.ok(!exported(a.fsid), "a's export came back");
      await sleep(200);
    }
    assert.equal(sighups(), 0);
    assert.doesNotMatch(ganeshaLog(), /Reread exports/);
    assert.ok(!readFileSync(config.exports.file, 'utf8').includes(a.name), 'and it is out of our file');
    assert.equal(catFrom(b.name, b.ip).stdout, 'base image\n', 'the other nodes stay exported');
    await p2.close();
  });
});
