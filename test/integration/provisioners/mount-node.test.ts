// The mount(2) addon's mountNode: a node's directories made and opened (one name per step, never
// following a link) and the overlay mounted through them, in one thread-pool call. It must refuse
// exactly what openLayerDirs refuses, with the same error text, mount nothing then, create the
// directories with the same modes, and leave no descriptor open either way.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, requireTool, sh, tempDir } from '../../helpers/lab.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import { RunError } from '../../../src/errors.ts';
import { createMounter, loadSysMount, type Mounter } from '../../../provisioners/mounter.ts';
import { nodePaths, type NodePaths } from '../../../provisioners/paths.ts';
import { openLayerDirs, UnsafePathError } from '../../../provisioners/layer-dirs.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { checkOverlayMount } from '../../../provisioners/overlay.ts';

after(cleanupAll);

let base: string;
let n = 0;

function mountsUnder(dir: string): string[] {
  return [...parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [dir]).keys()];
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A node's paths under a fresh pair of roots (created or not). */
function fresh(makeRoots = true): NodePaths {
  const d = path.join(base, `t${++n}`);
  if (makeRoots) for (const r of ['node', 'overlay']) mkdirSync(path.join(d, r), { recursive: true });
  return nodePaths(`0A63${(0x100 + n).toString(16).toUpperCase()}`, { root_dir: `${base}/root`, node_dir: `${d}/node`, overlay_dir: `${d}/overlay` });
}

function syscallMounter(dryRun = false, runner = createRunner(silentLogger(), { dryRun })): Mounter {
  return createMounter('syscall', runner, { mount: 'mount', umount: 'umount' });
}

before(() => {
  requireRoot();
  for (const t of ['mount', 'umount', 'mkfifo']) requireTool(t);
  const sys = loadSysMount();
  assert.ok('mod' in sys, 'why' in sys ? sys.why : '');
  assert.equal(typeof sys.mod.mountNode, 'function', 'build/sysmount.node has mountNode (npm run build)');
  base = tempDir('pxd-mnode-');
  mkdirSync(`${base}/root/etc`, { recursive: true });
  writeFileSync(`${base}/root/etc/issue`, 'base image\n');
  onCleanup('umount our overlays', () => {
    for (const mp of mountsUnder(base)) sh('umount', [mp], { allowFail: true });
  });
});

describe('mountNode', () => {
  test('missing roots and directories are made with openLayerDirs\'s modes, the overlay is ours, no descriptor stays open', async () => {
    const m = syscallMounter();
    assert.ok(m.mountNode, 'the syscall mounter mounts in one call');
    const p = fresh(false);
    const fds = openFds();
    await m.mountNode(p);
    assert.equal(openFds(), fds);
    assert.deepEqual(checkOverlayMount(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [p.nodeDir]).get(p.mountPoint), p), { kind: 'ours' });
    assert.equal(readFileSync(`${p.mountPoint}/etc/issue`, 'utf8'), 'base image\n');
    sh('umount', [p.mountPoint]);
    // the same node's directories as openLayerDirs makes them
    const q = fresh(false);
    await (await openLayerDirs(q)).close();
    for (const k of ['nodeDir', 'mountPoint', 'layerDir', 'upper', 'work'] as const) {
      assert.equal((statSync(p[k]).mode & 0o7777).toString(8), (statSync(q[k]).mode & 0o7777).toString(8), k);
    }
    assert.equal((statSync(path.dirname(p.layerDir)).mode & 0o7777).toString(8), (statSync(path.dirname(q.layerDir)).mode & 0o7777).toString(8), 'overlay_dir');
  });

  const link = (where: string) => {
    const victim = path.join(base, `victim-${++n}`);
    mkdirSync(victim);
    symlinkSync(victim, where);
  };
  const ATTACKS: Array<[string, (p: NodePaths) => string, (where: string) => void]> = [
    ['a symlink at node_dir/<NODE>', (p) => p.mountPoint, link],
    ['a symlink at overlay_dir/<NODE>', (p) => p.layerDir, link],
    ['a symlink at upper', (p) => p.upper, link],
    ['a symlink at work', (p) => p.work, link],
    ['a FIFO at upper', (p) => p.upper, (w) => void sh('mkfifo', [w])],
    ['a regular file at node_dir/<NODE>', (p) => p.mountPoint, (w) => writeFileSync(w, 'x\n')],
  ];
  for (const [name, at, plant] of ATTACKS) {
    test(`${name}: the same UnsafePathError as openLayerDirs, nothing mounted, nothing left open, counted as a failed mount`, async () => {
      const runner = createRunner(silentLogger(), { dryRun: false });
      const m = syscallMounter(false, runner);
      const p = fresh();
      const where = at(p);
      mkdirSync(path.dirname(where), { recursive: true });
      plant(where);
      const kind = lstatSync(where).mode;
      const fds = openFds();
      const viaJs = await openLayerDirs(p).then(
        (d) => (void d.close(), undefined),
        (e: Error) => e,
      );
      assert.ok(viaJs instanceof UnsafePathError);
      await assert.rejects(m.mountNode!(p), (e: Error) => {
        assert.ok(e instanceof UnsafePathError, `an UnsafePathError: ${e.message}`);
        assert.equal(e.message, viaJs.message);
        return true;
      });
      assert.equal(openFds(), fds, 'no descriptor left open');
      assert.deepEqual(mountsUnder(path.dirname(p.nodeDir)), []);
      assert.equal(lstatSync(where).mode, kind, 'what was planted is left as it was');
      assert.deepEqual(runner.stats().get('mount'), { runs: 1, failures: 1 }, 'the call failed: not a mount that ran');
    });
  }

  test('a configured root that is a regular file: an ENOTDIR error naming it (as openLayerDirs), nothing mounted, a failed call', async () => {
    const runner = createRunner(silentLogger(), { dryRun: false });
    const m = syscallMounter(false, runner);
    const p = fresh(false);
    mkdirSync(path.dirname(p.nodeDir), { recursive: true });
    writeFileSync(p.nodeDir, 'x\n');
    const fds = openFds();
    await assert.rejects(openLayerDirs(p), { code: 'ENOTDIR' });
    await assert.rejects(m.mountNode!(p), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'ENOTDIR');
      assert.ok(e.message.includes(p.nodeDir), e.message);
      return true;
    });
    assert.equal(openFds(), fds);
    assert.deepEqual(runner.stats().get('mount'), { runs: 1, failures: 1 });
  });

  test('a failed mount is a RunError with the errno as its cause (EBUSY and ESTALE are retried on that), descriptors closed', async () => {
    const m = syscallMounter();
    const p = fresh();
    const fds = openFds();
    await assert.rejects(m.mountNode!({ ...p, lower: `${base}/no-such-image` }), (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.match(e.stderr, /lowerdir: No such file or directory/);
      assert.equal((e as { cause?: { code?: string } }).cause?.code, 'ENOENT');
      return true;
    });
    assert.equal(openFds(), fds);
    assert.ok(existsSync(p.upper) && existsSync(p.work), 'the directories were made before the mount');
    rmSync(path.dirname(p.nodeDir), { recursive: true });
  });

  test('dry-run: no mountNode (the directories are not made in one call; the mount is only logged)', () => {
    assert.equal(syscallMounter(true).mountNode, undefined);
    assert.equal(createMounter('command', createRunner(silentLogger()), { mount: 'mount', umount: 'umount' }).mountNode, undefined);
  });

  test('hostile node names never reach the kernel', () => {
    const sys = loadSysMount();
    assert.ok('mod' in sys && sys.mod.mountNode);
    const p = fresh();
    for (const bad of ['../x', '..', '', 'a/b', 'a\0b']) {
      assert.throws(() => sys.mod.mountNode!(p.nodeDir, path.dirname(p.layerDir), bad, [0o755, 0o700, 0o755, 0o700], p.lower, p.upper, p.work, p.mountPoint), TypeError, bad);
    }
  });
});
