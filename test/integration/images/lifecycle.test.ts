// promote, rollback, prune and rm on a real store; and image edit through systemd-nspawn and
// through chroot: success saves a new version sharing files with the old one, failure saves nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot } from '../../helpers/lab.ts';
import { addVersion } from '../../../src/images/add.ts';
import { editImage } from '../../../src/images/edit.ts';
import { pruneImage, removeVersion } from '../../../src/images/retention.ts';
import { listVersions, promote, readCurrent, rollback, versionDir } from '../../../src/images/store.ts';
import { isProtected } from '../../../src/images/protect.ts';
import { leftovers, storeContext } from './image-lab.ts';

requireRoot();
after(cleanupAll);

async function fiveVersions() {
  const c = storeContext('pxe-img-life-');
  const src = path.join(c.root, 'src');
  mkdirSync(src);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    writeFileSync(path.join(src, 'n'), String(i));
    ids.push((await addVersion(c, 'base', src)).version);
  }
  return { c, ids };
}

test('promote and rollback move current along the history; rollback with no earlier version is an error', async () => {
  const { c, ids } = await fiveVersions();
  assert.equal(await readCurrent(c.imagesDir, 'base'), ids[0]);
  await promote(c.imagesDir, 'base', ids[2]!);
  await promote(c.imagesDir, 'base', ids[4]!);
  assert.equal(await rollback(c.imagesDir, 'base'), ids[2]);
  assert.equal(await rollback(c.imagesDir, 'base'), ids[0]);
  await assert.rejects(rollback(c.imagesDir, 'base'), /no earlier version/);
  await assert.rejects(promote(c.imagesDir, 'base', '20990101T000000.000Z-000000'), /has no version/);
  assert.equal(await readCurrent(c.imagesDir, 'base'), ids[0]);
  assert.ok(lstatSync(path.join(c.imagesDir, 'base', 'current')).isSymbolicLink());
});

test('prune never removes the current version, one a node runs, or one of the newest N; rm refuses the same', async () => {
  const { c, ids } = await fiveVersions();
  await promote(c.imagesDir, 'base', ids[1]!);
  const users = new Map([[ids[0]!, ['node-0a000017']]]);
  for (const v of [ids[0]!, ids[1]!, ids[4]!]) {
    await assert.rejects(removeVersion(c, 'base', v, 3, users), /is kept: (it is the current version|node node-0a000017 runs it|it is one of the newest 3)/);
  }
  const gone = await pruneImage(c, 'base', 2, users);
  assert.deepEqual(gone, [ids[2]]);
  assert.deepEqual(await listVersions(c.imagesDir, 'base'), [ids[0], ids[1], ids[3], ids[4]]);
  await removeVersion(c, 'base', ids[3]!, 1, users);
  assert.deepEqual(await listVersions(c.imagesDir, 'base'), [ids[0], ids[1], ids[4]]);
  assert.deepEqual(await pruneImage(c, 'base', 0, users), [ids[4]]);
  assert.deepEqual(await listVersions(c.imagesDir, 'base'), [ids[0], ids[1]]);
  assert.equal(readFileSync(path.join(versionDir(c.imagesDir, 'base', ids[1]!), 'n'), 'utf8'), '1', 'files shared with removed versions stay');
});

/** A minimal OS tree: busybox as /bin/sh, /usr present (nspawn wants it). */
function osTree(dir: string): void {
  for (const d of ['bin', 'etc', 'usr', 'tmp', 'proc', 'sys', 'dev', 'root']) mkdirSync(path.join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  symlinkSync('busybox', path.join(dir, 'bin', 'sh'));
  writeFileSync(path.join(dir, 'etc', 'os-release'), 'ID=test\n');
  writeFileSync(path.join(dir, 'etc', 'resolv.conf'), 'nameserver 192.0.2.1\n');
  writeFileSync(path.join(dir, 'usr', 'big'), Buffer.alloc(512 * 1024, 5));
}

for (const via of ['nspawn', 'chroot'] as const) {
  test(`image edit via ${via}: exit 0 saves a new version sharing unchanged files; a failing command saves nothing`, async () => {
    const c = storeContext(`pxe-img-edit-${via}-`);
    const src = path.join(c.root, 'src');
    osTree(src);
    const v1 = (await addVersion(c, 'base', src)).version;
    const fail = await editImage(c, 'base', { command: ['/bin/sh', '-c', 'echo no > /etc/motd; exit 3'], runner: via });
    assert.equal(fail.exitCode, 3);
    assert.equal(fail.version, undefined);
    assert.equal(fail.via, via);
    assert.deepEqual(await listVersions(c.imagesDir, 'base'), [v1]);
    const ok = await editImage(c, 'base', { command: ['/bin/sh', '-c', 'test -d /proc/self && test -c /dev/null && test -d /sys/kernel && echo edited > /etc/motd'], runner: via, promote: true });
    assert.equal(ok.exitCode, 0);
    assert.ok(ok.version);
    assert.equal(await readCurrent(c.imagesDir, 'base'), ok.version);
    const d1 = versionDir(c.imagesDir, 'base', v1);
    const d2 = versionDir(c.imagesDir, 'base', ok.version!);
    assert.equal(readFileSync(path.join(d2, 'etc', 'motd'), 'utf8'), 'edited\n');
    assert.equal(existsSync(path.join(d1, 'etc', 'motd')), false, 'the old version is untouched');
    assert.equal(lstatSync(path.join(d1, 'usr', 'big')).ino, lstatSync(path.join(d2, 'usr', 'big')).ino, 'unchanged files are shared');
    assert.equal(readFileSync(path.join(d2, 'etc', 'resolv.conf'), 'utf8'), 'nameserver 192.0.2.1\n', "the image's own resolv.conf is kept");
    assert.equal(existsSync(path.join(d2, 'proc', 'self')), false, 'no /proc content saved');
    assert.ok(await isProtected(d2));
    assert.deepEqual(leftovers(c.imagesDir, 'base'), []);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(path.join(c.imagesDir, 'base', '.edit')));
    assert.deepEqual(mounts, [], 'every edit mount is gone');
  });
}

test('protection lost to a reboot (the read-only mount gone) comes back with the next image command', async () => {
  const { c, ids } = await fiveVersions();
  const d = versionDir(c.imagesDir, 'base', ids[0]!);
  await c.runner.run(['umount', d]);
  assert.equal(await isProtected(d), false);
  await promote(c.imagesDir, 'base', ids[1]!);
  await pruneImage(c, 'base', 5, new Map());
  for (const v of ids) assert.ok(await isProtected(versionDir(c.imagesDir, 'base', v)), v);
});
