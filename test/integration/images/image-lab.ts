// Shared plumbing of the image-store tests: a store context on a temp dir, a rich source tree
// (owners, modes, xattrs, devices, a FIFO, hard links, symlinks) and the checks that it survived.
import { lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync, symlinkSync, linkSync, chmodSync, chownSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { sh, tempDir } from '../../helpers/lab.ts';
import { silentLogger } from '../../../src/log.ts';
import { createRunner } from '../../../src/runner.ts';
import type { StoreContext } from '../../../src/images/add.ts';

/** A store in a fresh temp dir (its mounts are undone by the temp dir's cleanup). */
export function storeContext(prefix = 'pxe-img-'): StoreContext & { root: string } {
  const root = tempDir(prefix);
  const imagesDir = path.join(root, 'images');
  mkdirSync(imagesDir);
  return { root, imagesDir, runner: createRunner(silentLogger()), mount: 'mount', umount: 'umount' };
}

/** A tree with everything an OS image holds that a naive copy loses. */
export function makeRichTree(dir: string): void {
  mkdirSync(path.join(dir, 'etc'), { recursive: true });
  mkdirSync(path.join(dir, 'dev'));
  mkdirSync(path.join(dir, 'usr', 'bin'), { recursive: true });
  mkdirSync(path.join(dir, 'secret'), { mode: 0o700 });
  chownSync(path.join(dir, 'secret'), 42, 43);
  writeFileSync(path.join(dir, 'etc', 'shadowish'), 'root:x:0\n');
  chownSync(path.join(dir, 'etc', 'shadowish'), 1234, 567);
  chmodSync(path.join(dir, 'etc', 'shadowish'), 0o640);
  linkSync(path.join(dir, 'etc', 'shadowish'), path.join(dir, 'etc', 'hardlink'));
  writeFileSync(path.join(dir, 'usr', 'bin', 'ping'), '#!/bin/sh\n');
  chmodSync(path.join(dir, 'usr', 'bin', 'ping'), 0o4755);
  sh('setfattr', ['-n', 'user.mark', '-v', 'one', path.join(dir, 'etc', 'shadowish')]);
  sh('setfattr', ['-n', 'trusted.mark', '-v', 'two', path.join(dir, 'etc', 'shadowish')]);
  sh('setcap', ['cap_net_raw+ep', path.join(dir, 'usr', 'bin', 'ping')], { allowFail: true });
  sh('mknod', [path.join(dir, 'dev', 'null'), 'c', '1', '3']);
  sh('mknod', [path.join(dir, 'dev', 'loop9'), 'b', '7', '9']);
  sh('mkfifo', [path.join(dir, 'dev', 'fifo')]);
  symlinkSync('/etc/shadowish', path.join(dir, 'abs-link'));
  symlinkSync('../etc/shadowish', path.join(dir, 'usr', 'rel-link'));
}

/** Assert that `dir` holds makeRichTree's tree with everything intact. */
export function assertRichTree(dir: string, what: string): void {
  const f = lstatSync(path.join(dir, 'etc', 'shadowish'));
  assert.equal(f.uid, 1234, `${what}: owner`);
  assert.equal(f.gid, 567, `${what}: group`);
  assert.equal(f.mode & 0o7777, 0o640, `${what}: mode`);
  const h = lstatSync(path.join(dir, 'etc', 'hardlink'));
  assert.equal(h.ino, f.ino, `${what}: hard link kept`);
  assert.equal(lstatSync(path.join(dir, 'usr', 'bin', 'ping')).mode & 0o7777, 0o4755, `${what}: setuid bit`);
  const s = lstatSync(path.join(dir, 'secret'));
  assert.deepEqual([s.uid, s.gid, s.mode & 0o7777], [42, 43, 0o700], `${what}: directory owner and mode`);
  assert.match(sh('getfattr', ['--absolute-names', '-n', 'user.mark', '--only-values', path.join(dir, 'etc', 'shadowish')]), /^one$/, `${what}: user xattr`);
  assert.match(sh('getfattr', ['--absolute-names', '-n', 'trusted.mark', '--only-values', path.join(dir, 'etc', 'shadowish')]), /^two$/, `${what}: trusted xattr`);
  const n = lstatSync(path.join(dir, 'dev', 'null'));
  assert.ok(n.isCharacterDevice(), `${what}: char device`);
  assert.equal(n.rdev, lstatSync('/dev/null').rdev, `${what}: device numbers`);
  assert.ok(lstatSync(path.join(dir, 'dev', 'loop9')).isBlockDevice(), `${what}: block device`);
  assert.ok(lstatSync(path.join(dir, 'dev', 'fifo')).isFIFO(), `${what}: fifo`);
  assert.equal(readFileSync(path.join(dir, 'etc', 'shadowish'), 'utf8'), 'root:x:0\n');
  assert.ok(lstatSync(path.join(dir, 'abs-link')).isSymbolicLink(), `${what}: symlink`);
}

/** The entries of the image dir that are not versions or pointers (temp leftovers). */
export function leftovers(imagesDir: string, name: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(path.join(imagesDir, name));
  } catch {
    return [];
  }
  return entries.filter((e) => e.startsWith('.') && e !== '.lock');
}
