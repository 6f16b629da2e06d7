// image add from every kind of source, on real directories, real tarballs (made by the real tar)
// and OCI/Docker archives made by umoci and skopeo: owners, modes, xattrs, devices and hard links
// survive; a second version shares unchanged files; versions are read-only.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, sh } from '../../helpers/lab.ts';
import { addVersion } from '../../../src/images/add.ts';
import { listVersions, readCurrent, resolveCurrent, versionDir } from '../../../src/images/store.ts';
import { isProtected } from '../../../src/images/protect.ts';
import { assertRichTree, leftovers, makeRichTree, storeContext } from './image-lab.ts';

requireRoot();
after(cleanupAll);

test('a directory imports with owners, modes, xattrs, devices, FIFOs and hard links; the version is read-only', async () => {
  const c = storeContext();
  const src = path.join(c.root, 'src');
  makeRichTree(src);
  const r = await addVersion(c, 'base', src);
  assert.equal(r.promoted, true, 'the first version becomes current');
  const cur = await resolveCurrent(c.imagesDir, 'base');
  assert.equal(cur.version, r.version);
  assertRichTree(cur.path, 'dir import');
  assert.ok(await isProtected(cur.path));
  assert.throws(() => writeFileSync(path.join(cur.path, 'etc', 'shadowish'), 'x'), /EROFS|Read-only file system/);
  assert.throws(() => rmSync(path.join(cur.path, 'etc', 'hardlink')), /EROFS|Read-only file system/);
  assert.deepEqual(leftovers(c.imagesDir, 'base'), []);
});

test('a second version that differs by one file shares every other file (hard links) and costs about that file', async () => {
  const c = storeContext();
  const src = path.join(c.root, 'src');
  mkdirSync(path.join(src, 'data'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(path.join(src, 'data', `f${i}`), Buffer.alloc(256 * 1024, i));
  const v1 = (await addVersion(c, 'base', src)).version;
  writeFileSync(path.join(src, 'data', 'f3'), Buffer.alloc(256 * 1024, 99));
  const r2 = await addVersion(c, 'base', src);
  assert.equal(r2.promoted, false, 'a later version is not promoted without --promote');
  assert.equal(r2.sharedWith, v1);
  assert.equal(await readCurrent(c.imagesDir, 'base'), v1);
  const d1 = versionDir(c.imagesDir, 'base', v1);
  const d2 = versionDir(c.imagesDir, 'base', r2.version);
  assert.equal(lstatSync(path.join(d1, 'data', 'f0')).ino, lstatSync(path.join(d2, 'data', 'f0')).ino);
  assert.notEqual(lstatSync(path.join(d1, 'data', 'f3')).ino, lstatSync(path.join(d2, 'data', 'f3')).ino);
  assert.equal(readFileSync(path.join(d1, 'data', 'f3'))[0], 3, 'the old version keeps its file');
  // du counts each inode once per run: the two versions together cost one version plus one file
  const kb = (args: string[]) => Number(sh('du', ['-sk', ...args]).trim().split('\n').pop()!.split('\t')[0]);
  const one = kb([d1]);
  const both = Number(sh('du', ['-skc', d1, d2]).trim().split('\n').pop()!.split('\t')[0]);
  assert.ok(both - one < 256 + 64, `second version costs ${both - one} KiB, expected about 256`);
  void kb;
});

function tarball(c: { root: string }, srcDir: string, name: string, flag: string[]): string {
  const out = path.join(c.root, name);
  sh('tar', ['--create', `--file=${out}`, ...flag, '--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', `--directory=${srcDir}`, '.']);
  return out;
}

for (const [ext, flag] of [['tar', []], ['tar.gz', ['--gzip']], ['tar.xz', ['--xz']], ['tar.zst', ['--zstd']]] as const) {
  test(`a .${ext} tarball imports with everything kept`, async () => {
    const c = storeContext();
    const src = path.join(c.root, 'src');
    makeRichTree(src);
    const file = tarball(c, src, `img.${ext}`, [...flag]);
    const r = await addVersion(c, 'base', file);
    assertRichTree(versionDir(c.imagesDir, 'base', r.version), `.${ext} import`);
    assert.deepEqual(leftovers(c.imagesDir, 'base'), []);
  });
}

test('a second tarball version shares unchanged files with the first', async () => {
  const c = storeContext();
  const src = path.join(c.root, 'src');
  makeRichTree(src);
  writeFileSync(path.join(src, 'big'), Buffer.alloc(1 << 20, 7));
  const v1 = (await addVersion(c, 'base', tarball(c, src, 'a.tar.gz', ['--gzip']))).version;
  writeFileSync(path.join(src, 'marker'), 'v2\n');
  const v2 = (await addVersion(c, 'base', tarball(c, src, 'b.tar.gz', ['--gzip']), { promote: true })).version;
  assert.equal(await readCurrent(c.imagesDir, 'base'), v2);
  const d1 = versionDir(c.imagesDir, 'base', v1);
  const d2 = versionDir(c.imagesDir, 'base', v2);
  assert.equal(lstatSync(path.join(d1, 'big')).ino, lstatSync(path.join(d2, 'big')).ino);
  assertRichTree(d2, 'second tarball version');
});

test('an oci-archive and a docker-archive made by umoci and skopeo import flattened: whiteouts applied, everything kept', async () => {
  const c = storeContext();
  const layout = path.join(c.root, 'layout');
  const bundle = path.join(c.root, 'bundle');
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:t`]);
  sh('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  makeRichTree(rootfs);
  mkdirSync(path.join(rootfs, 'gone'));
  writeFileSync(path.join(rootfs, 'gone', 'file'), 'layer 1\n');
  mkdirSync(path.join(rootfs, 'opaque'));
  writeFileSync(path.join(rootfs, 'opaque', 'old'), 'layer 1\n');
  sh('umoci', ['repack', '--image', `${layout}:t`, bundle]);
  // layer 2: deletes a file (a whiteout) and replaces a directory's contents
  rmSync(path.join(rootfs, 'gone', 'file'));
  rmSync(path.join(rootfs, 'opaque'), { recursive: true });
  mkdirSync(path.join(rootfs, 'opaque'));
  writeFileSync(path.join(rootfs, 'opaque', 'new'), 'layer 2\n');
  sh('umoci', ['repack', '--image', `${layout}:t`, bundle]);
  const oci = path.join(c.root, 'img.oci.tar');
  sh('tar', ['--create', `--file=${oci}`, `--directory=${layout}`, '.']);
  const docker = path.join(c.root, 'img.docker.tar');
  sh('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${layout}:t`, `docker-archive:${docker}:test/img:latest`]);
  for (const [kind, file] of [['oci-archive', oci], ['docker-archive', docker]] as const) {
    const r = await addVersion(c, kind.split('-')[0]!, `${kind}:${file}`);
    const dir = versionDir(c.imagesDir, kind.split('-')[0]!, r.version);
    assertRichTree(dir, kind);
    assert.deepEqual(readdirSync(path.join(dir, 'gone')), [], `${kind}: whiteout applied`);
    assert.deepEqual(readdirSync(path.join(dir, 'opaque')), ['new'], `${kind}: the later layer's directory replaces the earlier one`);
    assert.deepEqual(leftovers(c.imagesDir, kind.split('-')[0]!), []);
  }
});

test('every add gets its own sortable version id', async () => {
  const c = storeContext();
  const src = path.join(c.root, 'src');
  mkdirSync(src);
  writeFileSync(path.join(src, 'a'), 'a');
  const ids = new Set<string>();
  for (let i = 0; i < 3; i++) ids.add((await addVersion(c, 'base', src)).version);
  assert.equal(ids.size, 3);
  assert.deepEqual(await listVersions(c.imagesDir, 'base'), [...ids].sort());
});
