// Bad input gets a clear error and changes nothing: malicious tarballs (made by the real tar),
// sources that are neither directory nor tarball nor archive, bad names, and a disk that fills up
// halfway through an add. After each, the image has exactly the versions it had, no temp dirs, and
// the same current version.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cleanupAll, onCleanup, requireRoot, sh, tempDir } from '../../helpers/lab.ts';
import { addVersion } from '../../../src/images/add.ts';
import { listVersions, readCurrent } from '../../../src/images/store.ts';
import { leftovers, storeContext } from './image-lab.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';

requireRoot();
after(cleanupAll);

const MAIN = new URL('../../../src/cli/main.ts', import.meta.url).pathname;

/** A store with one good version, and the state to compare against after a refused add. */
async function withBase() {
  const c = storeContext('pxe-img-bad-');
  const src = path.join(c.root, 'good');
  mkdirSync(src);
  writeFileSync(path.join(src, 'hello'), 'hi\n');
  const v1 = (await addVersion(c, 'base', src)).version;
  const unchanged = async () => {
    assert.deepEqual(await listVersions(c.imagesDir, 'base'), [v1]);
    assert.equal(await readCurrent(c.imagesDir, 'base'), v1);
    assert.deepEqual(leftovers(c.imagesDir, 'base'), []);
  };
  return { c, v1, unchanged };
}

test('malicious tarballs are refused before anything is extracted', async () => {
  const { c, unchanged } = await withBase();
  const w = path.join(c.root, 'work');
  mkdirSync(path.join(w, 'a', 'b'), { recursive: true });
  writeFileSync(path.join(w, 'a', 'escape'), 'x');
  writeFileSync(path.join(w, 'f'), 'x');
  linkSync(path.join(w, 'f'), path.join(w, 'g'));
  symlinkSync('../../../../etc', path.join(w, 'up'));
  symlinkSync('/etc', path.join(w, 'etclink'));
  mkdirSync(path.join(w, 'x'));
  writeFileSync(path.join(w, 'x', 'passwd'), 'pwned\n');
  const cases: [string, (file: string) => void, RegExp][] = [
    ['dotdot.tar', (f) => sh('tar', ['-cPf', f, '-C', path.join(w, 'a', 'b'), '../escape']), /contains "\.\."/],
    ['absolute.tar.gz', (f) => sh('tar', ['-czPf', f, path.join(w, 'f')]), /is an absolute path/],
    ['escaping-symlink.tar.xz', (f) => sh('tar', ['-cJf', f, '-C', w, 'up']), /points outside the image/],
    ['through-symlink.tar', (f) => {
      sh('tar', ['-cf', f, '-C', w, 'etclink']);
      sh('tar', ['-rf', f, '-C', w, '--transform=s,^x/,etclink/,', 'x/passwd']);
    }, /written through the symlink "etclink"/],
    ['hardlink-passwd.tar.zst', (f) => sh('tar', ['--zstd', '-cPf', f, '-C', w, '--transform=flags=h;s,^f$,/etc/passwd,', 'f', 'g']), /hard link "g" -> "\/etc\/passwd"/],
    ['garbage.tar', (f) => writeFileSync(f, Buffer.alloc(4096, 0x41)), /neither a directory, a tarball/],
    ['truncated.tar', (f) => {
      sh('tar', ['-cf', f, '-C', w, 'f']);
      sh('truncate', ['-s', '700', f]);
    }, /truncated/],
  ];
  for (const [name, make, why] of cases) {
    const file = path.join(c.root, name);
    make(file);
    await assert.rejects(addVersion(c, 'base', file), why, name);
    await unchanged();
  }
  assert.equal(sh('cat', ['/etc/passwd']).includes('pwned'), false);
});

test('a source that is not a directory, tarball or archive, and bad names, are refused', async () => {
  const { c, unchanged } = await withBase();
  writeFileSync(path.join(c.root, 'notes.txt'), 'hello');
  await assert.rejects(addVersion(c, 'base', path.join(c.root, 'notes.txt')), /neither a directory, a tarball/);
  await assert.rejects(addVersion(c, 'base', path.join(c.root, 'missing')), /no such file or directory/);
  await assert.rejects(addVersion(c, 'base', '/dev/null'), /neither a directory, a tarball nor an archive/);
  await assert.rejects(addVersion(c, 'base', `oci-archive:${c.root}`), /not a regular file/);
  for (const bad of ['../etc', 'a/b', 'with space', '.hidden', '', 'x;rm']) {
    await assert.rejects(addVersion(c, bad, path.join(c.root, 'good')), /image name/, bad);
  }
  await unchanged();
  assert.deepEqual(readdirSync(c.imagesDir), ['base']);
});

test('a disk that fills up halfway through an add leaves no partial version (small tmpfs)', async () => {
  const root = tempDir('pxe-img-full-');
  const imagesDir = path.join(root, 'images');
  mkdirSync(imagesDir);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', imagesDir]);
  onCleanup(`umount ${imagesDir}`, () => sh('umount', ['-l', imagesDir], { allowFail: true }));
  const c = { imagesDir, runner: createRunner(silentLogger()), mount: 'mount', umount: 'umount' };
  const small = path.join(root, 'small');
  mkdirSync(small);
  writeFileSync(path.join(small, 'a'), Buffer.alloc(1 << 20, 1));
  const v1 = (await addVersion(c, 'base', small)).version;
  const big = path.join(root, 'big');
  mkdirSync(big);
  for (let i = 0; i < 12; i++) writeFileSync(path.join(big, `f${i}`), Buffer.alloc(1 << 20, i + 2));
  sh('tar', ['-czf', path.join(root, 'big.tar.gz'), '-C', big, '.']);
  for (const source of [big, path.join(root, 'big.tar.gz')]) {
    await assert.rejects(addVersion(c, 'base', source), /No space left on device|ENOSPC/, source);
    assert.deepEqual(await listVersions(imagesDir, 'base'), [v1]);
    assert.equal(await readCurrent(imagesDir, 'base'), v1);
    assert.deepEqual(leftovers(imagesDir, 'base'), []);
    const used = Number(sh('df', ['--output=used', '-k', imagesDir]).trim().split('\n').pop());
    assert.ok(used < 2048, `space given back: ${used} KiB used`);
  }
});

test('the CLI prints the new id alone on stdout, and a bad name exits 2 with a clear message', async () => {
  const c = storeContext('pxe-img-cli-');
  const src = path.join(c.root, 'src');
  mkdirSync(src);
  writeFileSync(path.join(src, 'a'), 'a');
  mkdirSync(path.join(c.root, 'root'));
  const cfg = path.join(c.root, 'c.yaml');
  writeFileSync(cfg, `server: 10.0.0.1\nstate_dir: ${c.root}/state\nimages_dir: ${c.imagesDir}\nsubnets:\n  - cidr: 10.0.0.0/24\n    ignore: true\n`);
  const run = (args: string[]) => spawnSync(process.execPath, [MAIN, 'image', ...args, '-c', cfg], { encoding: 'utf8' });
  const add = run(['add', 'base', src]);
  assert.equal(add.status, 0, add.stderr);
  assert.match(add.stdout, /^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}\n$/);
  const id = add.stdout.trim();
  const list = run(['list', '--json']);
  assert.equal(list.status, 0, list.stderr);
  const doc = JSON.parse(list.stdout) as { images: { name: string; current: string; versions: { version: string; nodes: string[]; disk_bytes: number; unique_bytes: number }[] }[] };
  assert.equal(doc.images[0]!.current, id);
  assert.deepEqual(doc.images[0]!.versions.map((v) => v.version), [id]);
  assert.deepEqual(doc.images[0]!.versions[0]!.nodes, []);
  const bad = run(['add', 'bad/name', src]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /image name "bad\/name" has characters outside \[A-Za-z0-9._-\]/);
  const badv = run(['promote', 'base', '../x']);
  assert.equal(badv.status, 2);
  assert.match(badv.stderr, /version "\.\.\/x"/);
  const unknown = run(['frobnicate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown subcommand "frobnicate"/);
  assert.equal(existsSync(path.join(c.imagesDir, 'bad')), false);
});
