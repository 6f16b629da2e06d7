import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createMounter, resolveMountMethod } from '../../../provisioners/mounter.ts';
import { mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openLayerDirs } from '../../../provisioners/layer-dirs.ts';
import { nodePaths } from '../../../provisioners/paths.ts';
import { createFakeRunner } from '../../helpers/fake-runner.ts';

const STOCK = { mount: 'mount', umount: 'umount' };
const BUILT = { mod: {} };
const MISSING = { why: 'the mount(2) addon is not built' };

describe('resolveMountMethod', () => {
  test('auto: mount(2) when the addon loads and the commands are the stock tools', () => {
    assert.equal(resolveMountMethod('auto', STOCK, BUILT).method, 'syscall');
  });

  test('auto: a configured wrapper is always run as a command', () => {
    const r = resolveMountMethod('auto', { mount: '/opt/wrap/mount', umount: 'umount' }, BUILT);
    assert.equal(r.method, 'command');
    assert.match(r.why, /\/opt\/wrap\/mount/);
    assert.equal(resolveMountMethod('auto', { mount: 'mount', umount: '/x/umount' }, BUILT).method, 'command');
  });

  test('auto without the addon falls back to the commands and says why', () => {
    assert.deepEqual(resolveMountMethod('auto', STOCK, MISSING), { method: 'command', why: MISSING.why });
  });

  test('syscall: required, even with wrappers configured; an error without the addon', () => {
    assert.equal(resolveMountMethod('syscall', { mount: '/w/mount', umount: '/w/umount' }, BUILT).method, 'syscall');
    assert.throws(() => resolveMountMethod('syscall', STOCK, MISSING), /mount_method: syscall, but the mount\(2\) addon is not built/);
  });

  test('command: always the commands', () => {
    assert.equal(resolveMountMethod('command', STOCK, BUILT).method, 'command');
  });
});

describe('createMounter(command)', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'pxd-mounter-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  const P = nodePaths('0A630032', { root_dir: `${base}/root`, node_dir: `${base}/node`, overlay_dir: `${base}/overlay` });

  test('runs commands.mount with the overlay argv, and commands.umount without throwing on failure', async () => {
    const runner = createFakeRunner((argv) => (argv[0] === '/w/umount' ? { exitCode: 32, stderr: 'umount: target is busy.' } : {}));
    const m = createMounter('command', runner, { mount: '/w/mount', umount: '/w/umount' });
    const dirs = await openLayerDirs(P);
    await m.mount(P, dirs).finally(() => dirs.close());
    assert.deepEqual(runner.calls[0]!.argv, ['/w/mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${base}/root,upperdir=${P.upper},workdir=${P.work},index=on,nfs_export=on`, P.mountPoint]);
    assert.equal(runner.calls[0]!.opts.mutating, true);
    const r = await m.umount(P.mountPoint);
    assert.equal(r.exitCode, 32);
    assert.deepEqual(runner.calls[1]!.argv, ['/w/umount', P.mountPoint]);
  });

  test('a directory swapped for a link after it was opened: the command is not run', async () => {
    const runner = createFakeRunner(() => ({}));
    const m = createMounter('command', runner, { mount: '/w/mount', umount: '/w/umount' });
    const dirs = await openLayerDirs(P);
    try {
      renameSync(P.upper, `${P.upper}.aside`);
      symlinkSync(`${P.upper}.aside`, P.upper);
      await assert.rejects(m.mount(P, dirs), /^UnsafePathError: upper .*\/upper is now a symbolic link since pxebootd checked it; not mounting$/);
      assert.equal(runner.calls.length, 0);
    } finally {
      await dirs.close();
      rmSync(P.upper);
      renameSync(`${P.upper}.aside`, P.upper);
    }
  });
});
