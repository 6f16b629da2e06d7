// The mount(2) addon (build/sysmount.node) for real: overlay mounts with nfs_export=on as mount(8)
// makes them, busy and failing calls with errno errors, hostile arguments refused before the kernel,
// and the whole provisioner on both mount methods.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, requireTool, sh, tempDir, uniq } from '../../helpers/lab.ts';
import { createRunner } from '../../../src/runner.ts';
import { createLogger, silentLogger } from '../../../src/log.ts';
import { RunError } from '../../../src/errors.ts';
import { createMounter, loadSysMount } from '../../../provisioners/mounter.ts';
import { nodePaths, type NodePaths } from '../../../provisioners/paths.ts';
import { openLayerDirs } from '../../../provisioners/layer-dirs.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { checkOverlayMount } from '../../../provisioners/overlay.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from '../../unit/provisioners/fixtures.ts';

after(cleanupAll);

let base: string;

function mountinfoAt(mp: string) {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [path.dirname(mp)]).get(mp);
}

function layers(name: string): NodePaths {
  const p = nodePaths(name, { root_dir: `${base}/root`, node_dir: `${base}/node`, overlay_dir: `${base}/overlay` });
  for (const d of [p.upper, p.work, p.mountPoint]) mkdirSync(d, { recursive: true });
  return p;
}

before(() => {
  requireRoot();
  for (const t of ['exportfs', 'mount', 'umount']) requireTool(t);
  if (!existsSync('/etc/exports.d')) mkdirSync('/etc/exports.d');
  const sys = loadSysMount();
  // the addon is built by `npm run build` (scripts/build-native.sh); CI builds it, so its absence is a failure
  assert.ok('mod' in sys, 'why' in sys ? sys.why : '');
  base = tempDir('pxd-sysm-');
  for (const d of ['root/etc', 'node', 'overlay', 'tftp', 'templates']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'root/etc/issue'), 'base image\n');
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  onCleanup('umount our overlays', () => {
    for (const mp of parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [`${base}/node`]).keys()) sh('umount', [mp], { allowFail: true });
  });
});

describe('mount(2) addon', () => {
  test('mounts the overlay exactly as the mount(8) line would: our layers, index=on, nfs_export=on; umount2 removes it', async () => {
    const p = layers('0A630010');
    const m = createMounter('syscall', createRunner(silentLogger()), { mount: 'mount', umount: 'umount' });
    const dirs = await openLayerDirs(p);
    await m.mount(p, dirs).finally(() => dirs.close());
    assert.deepEqual(checkOverlayMount(mountinfoAt(p.mountPoint), p), { kind: 'ours' });
    assert.equal(readFileSync(`${p.mountPoint}/etc/issue`, 'utf8'), 'base image\n');
    writeFileSync(`${p.mountPoint}/etc/hostname`, 'node10\n');
    assert.equal(readFileSync(`${p.upper}/etc/hostname`, 'utf8'), 'node10\n', 'writes land in the node upper');
    const r = await m.umount(p.mountPoint);
    assert.equal(r.exitCode, 0);
    assert.equal(mountinfoAt(p.mountPoint), undefined);
  });

  test('a busy mount fails with EBUSY ("busy", which unmountOverlay retries), and goes once released', async () => {
    const p = layers('0A630011');
    const m = createMounter('syscall', createRunner(silentLogger()), { mount: 'mount', umount: 'umount' });
    const dirs = await openLayerDirs(p);
    await m.mount(p, dirs).finally(() => dirs.close());
    const fd = openSync(`${p.mountPoint}/etc/issue`, 'r');
    try {
      const r = await m.umount(p.mountPoint);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /^umount2 .*0A630011: Device or resource busy$/);
      assert.ok(mountinfoAt(p.mountPoint), 'still mounted');
    } finally {
      closeSync(fd);
    }
    assert.equal((await m.umount(p.mountPoint)).exitCode, 0);
  });

  test('kernel errors become RunErrors naming the equivalent command and the errno text', async () => {
    const p = layers('0A630012');
    const m = createMounter('syscall', createRunner(silentLogger()), { mount: 'mount', umount: 'umount' });
    const bad = { ...p, lower: `${base}/no-such-image` };
    const dirs = await openLayerDirs(p);
    await assert.rejects(m.mount(bad, dirs).finally(() => dirs.close()), (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.match(e.command, /^mount -t overlay overlay -o lowerdir=.*no-such-image,.* .*0A630012$/);
      assert.match(e.stderr, /^mount .*0A630012: lowerdir: No such file or directory$/);
      return true;
    });
    assert.equal(mountinfoAt(p.mountPoint), undefined);
    const r = await m.umount(p.mountPoint);
    assert.match(r.stderr, /Invalid argument/, 'umount2 of a directory that is not a mount point');
  });

  test('hostile arguments never reach the kernel: NUL bytes, over a page, wrong types', () => {
    const sys = loadSysMount();
    assert.ok('mod' in sys);
    const target = `${base}/node/x`;
    assert.throws(() => sys.mod.mount('overlay', `${target}\0/etc`, 'overlay', 0, ''), /target: expected no NUL byte/);
    assert.throws(() => sys.mod.mount('overlay', target, 'overlay', 0, `lowerdir=/a\0,upperdir=/`), /data: expected no NUL byte/);
    assert.throws(() => sys.mod.mount('overlay', target, 'overlay', 0, 'x'.repeat(4096)), /data: expected under 4096 bytes, found 4096/);
    assert.throws(() => sys.mod.mount('overlay', target, 'overlay', -1, ''), /flags must be an unsigned 32-bit integer/);
    assert.throws(() => (sys.mod.umount as (...a: unknown[]) => unknown)(42, 0), /target: expected a string/);
    assert.throws(() => (sys.mod.umount as (...a: unknown[]) => unknown)(target), /umount\(target, flags\)/);
  });

  test('dry-run: the mount is logged as the mount(8) line and not made', async () => {
    const p = layers('0A630013');
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }, pretty: false });
    const dirs = await openLayerDirs(p);
    await createMounter('syscall', createRunner(log, { dryRun: true }), { mount: 'mount', umount: 'umount' }).mount(p, dirs).finally(() => dirs.close());
    assert.equal(mountinfoAt(p.mountPoint), undefined);
    assert.ok(lines.some((l) => String(l.msg).startsWith('would run: mount -t overlay overlay -o lowerdir=')));
  });
});

describe('the provisioner on each mount method', () => {
  for (const method of ['syscall', 'command'] as const) {
    test(`mount_method: ${method}: provision mounts with nfs_export=on and writes boot files; release remove unmounts`, async () => {
      const lines: Array<Record<string, unknown>> = [];
      const log = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }, pretty: false });
      const runner = createRunner(log);
      const file = `/etc/exports.d/pxebootd-test-${uniq()}.exports`;
      onCleanup(`rm ${file} + exportfs -r`, () => {
        rmSync(file, { force: true });
        sh('exportfs', ['-r'], { allowFail: true });
      });
      const config = { ...makeConfig(base, { exports: { file, etab: '/var/lib/nfs/etab' } }), mount_method: method };
      const rule = makeRule(base);
      const prov = createProvisioner({ config, runner, log });
      const node = makeNode(method === 'syscall' ? 20 : 21);
      const mp = `${base}/node/${node.name}`;
      try {
        await prov.provision(node, rule);
        assert.equal(mountinfoAt(mp)?.superOptions.get('nfs_export'), 'on');
        assert.match(readFileSync('/var/lib/nfs/etab', 'utf8'), new RegExp(`^${mp}\\t${node.ip.replace(/\./g, '\\.')}\\(`, 'm'));
        assert.match(readFileSync(`${base}/tftp/pxelinux.cfg/${node.name}`, 'utf8'), new RegExp(`nfsroot=10\\.99\\.0\\.1:${mp},`));
        const ran = lines.filter((l) => typeof l.cmd === 'string' && (l.cmd as string).startsWith('mount ') && String(l.msg).startsWith('ran: '));
        assert.equal(ran.length, 1);
        assert.equal(ran[0]!.syscall === 'mount', method === 'syscall', 'logged as a system call only with mount(2)');
        assert.ok(lines.some((l) => l.mountMethod === method));
        await prov.release(node, rule, 'remove');
        assert.equal(mountinfoAt(mp), undefined);
        assert.equal(runner.stats().get('mount')?.runs, 1);
        assert.equal(runner.stats().get('umount')?.runs, 1);
      } finally {
        await prov.close();
      }
    });
  }
});
