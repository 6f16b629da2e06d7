// Attacks the boot-file paths: a symlink or FIFO planted at a node's pxelinux.cfg/<name>, and the
// boot directory itself (pxelinux.cfg, the GRUB dir) replaced by a link. pxebootd must never read
// or write through a link it did not make: the node fails with a conflict naming the path, the
// link's target is untouched, nothing blocks on a FIFO, and other nodes keep their boot files.
// The old code read the existing file through the link (a FIFO hung a libuv worker for good) and
// wrote into whatever directory the boot dir linked to.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, requireTool, sh, tempDir, uniq } from '../../helpers/lab.ts';
import { ensureFile, ensureLink, readHead, removeBootFiles, writeOwnedFile } from '../../../provisioners/boot-files-apply.ts';
import type { BootFileSpec } from '../../../provisioners/boot-files.ts';

after(cleanupAll);

let base: string;
const MARKED = '# pxebootd: generated for node 0A630002 (10.99.0.2); do not edit, pxebootd rewrites it\nDEFAULT linux\n';

/** Settles within `ms` or fails the test (and says the operation hung). */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (blocked on a FIFO?)`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A FIFO, and a cleanup that opens its write end so a reader stuck on it (old code) gets EOF. */
function makeFifo(file: string): void {
  sh('mkfifo', [file]);
  onCleanup(`unblock ${file}`, () => {
    try {
      closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      /* no reader: nothing to unblock */
    }
  });
}

function dirFor(name: string): string {
  const d = path.join(base, name, 'pxelinux.cfg');
  mkdirSync(d, { recursive: true });
  return d;
}

before(() => {
  requireRoot();
  requireTool('mkfifo');
  base = tempDir('pxd-symboot-');
});

test('a symlink at the canonical name pointing at a host file: conflict, the target is neither read for comparison nor written', async () => {
  const dir = dirFor(`a-${uniq()}`);
  const victim = path.join(base, `victim-${uniq()}`);
  writeFileSync(victim, 'host file\n');
  symlinkSync(victim, path.join(dir, '01-52-54-00-00-00-02'));
  await assert.rejects(within(10_000, 'ensureFile', ensureFile(path.join(dir, '01-52-54-00-00-00-02'), MARKED)), /01-52-54-00-00-00-02 exists and is not a pxebootd file/);
  assert.equal(readFileSync(victim, 'utf8'), 'host file\n');
  assert.ok(lstatSync(path.join(dir, '01-52-54-00-00-00-02')).isSymbolicLink(), 'the link is left for the admin');
});

test('a symlink at the canonical name pointing at a FIFO: refused at once, nothing blocks', async () => {
  const dir = dirFor(`b-${uniq()}`);
  const fifo = path.join(base, `fifo-${uniq()}`);
  makeFifo(fifo);
  symlinkSync(fifo, path.join(dir, '0A630002'));
  await assert.rejects(within(5_000, 'ensureFile', ensureFile(path.join(dir, '0A630002'), MARKED)), /0A630002 exists and is not a pxebootd file/);
});

test('a FIFO at the canonical name: refused at once, nothing blocks', async () => {
  const dir = dirFor(`c-${uniq()}`);
  makeFifo(path.join(dir, '0A630002'));
  await assert.rejects(within(5_000, 'ensureFile', ensureFile(path.join(dir, '0A630002'), MARKED)), /0A630002 exists and is not a pxebootd file/);
  assert.equal(await within(5_000, 'readHead', readHead(path.join(dir, '0A630002'))), undefined, 'readHead of a FIFO: not a file of ours');
});

test('a symlink at a link name pointing at a host file: conflict, the host file untouched', async () => {
  const dir = dirFor(`d-${uniq()}`);
  const victim = path.join(base, `victim-${uniq()}`);
  writeFileSync(victim, MARKED);
  symlinkSync(victim, path.join(dir, '0A630002'));
  await assert.rejects(ensureLink(path.join(dir, '0A630002'), '01-52-54-00-00-00-02'), /0A630002 exists and is not a pxebootd file or link/);
  assert.equal(readFileSync(victim, 'utf8'), MARKED);
});

for (const which of ['pxelinux.cfg', 'grub'] as const) {
  test(`the boot directory (${which}) is a symlink to a host directory: conflict, nothing is written there`, async () => {
    const root = path.join(base, `e-${uniq()}`);
    const victim = path.join(base, `victimdir-${uniq()}`);
    mkdirSync(root);
    mkdirSync(victim);
    writeFileSync(path.join(victim, 'keep'), 'host\n');
    symlinkSync(victim, path.join(root, which));
    const file = path.join(root, which, which === 'grub' ? 'grub.cfg-0A630002' : '0A630002');
    await assert.rejects(ensureFile(file, MARKED), new RegExp(`${which} is a symbolic link .*not a directory`));
    await assert.rejects(ensureLink(path.join(root, which, '01-52-54-00-00-00-02'), path.basename(file)), /is a symbolic link/);
    assert.deepEqual(readdirSync(victim), ['keep'], 'nothing was created in the link target');
    // removal looks only into real directories: nothing of ours can be behind a link we never wrote through
    writeFileSync(path.join(victim, path.basename(file)), MARKED);
    const spec: BootFileSpec = { loader: which === 'grub' ? 'grub' : 'pxelinux', template: '/t', canonical: file, links: [] };
    assert.deepEqual(await removeBootFiles([spec], '0A630002'), []);
    assert.ok(existsSync(path.join(victim, path.basename(file))), 'a marked file behind the link is not removed');
  });
}

test('a real directory still works: written, rewritten in place, linked, removed', async () => {
  const dir = dirFor(`f-${uniq()}`);
  const file = path.join(dir, '01-52-54-00-00-00-02');
  assert.equal(await ensureFile(file, MARKED), true);
  assert.equal(await ensureFile(file, MARKED), false, 'same content: no write');
  assert.equal(await ensureFile(file, MARKED + 'LABEL x\n'), true);
  assert.equal(readFileSync(file, 'utf8'), MARKED + 'LABEL x\n');
  assert.equal(await ensureLink(path.join(dir, '0A630002'), '01-52-54-00-00-00-02'), true);
  assert.equal(readFileSync(path.join(dir, '0A630002'), 'utf8'), MARKED + 'LABEL x\n');
  assert.deepEqual(readdirSync(dir).sort(), ['01-52-54-00-00-00-02', '0A630002'], 'no temp files left');
  const spec: BootFileSpec = { loader: 'pxelinux', template: '/t', canonical: file, links: [path.join(dir, '0A630002')] };
  assert.deepEqual(await removeBootFiles([spec], '0A630002'), [path.join(dir, '0A630002'), file]);
  assert.deepEqual(readdirSync(dir), []);
  // a missing boot directory is created, as before
  rmSync(dir, { recursive: true });
  assert.equal(await ensureFile(file, MARKED), true);
  assert.ok(existsSync(file));
});

test('pxelinux.cfg/default (written whole, no marker) is not written through a linked pxelinux.cfg', async () => {
  const root = path.join(base, `def-${uniq()}`);
  mkdirSync(root, { recursive: true });
  const victim = path.join(base, `victim-dir-${uniq()}`);
  mkdirSync(victim);
  symlinkSync(victim, path.join(root, 'pxelinux.cfg'));
  await assert.rejects(writeOwnedFile(path.join(root, 'pxelinux.cfg', 'default'), 'DEFAULT wait\n'), /is a symbolic link.*not a directory/);
  assert.deepEqual(readdirSync(victim), []);
  // a real directory: written, and a link planted at the name itself is replaced, not followed
  rmSync(path.join(root, 'pxelinux.cfg'));
  mkdirSync(path.join(root, 'pxelinux.cfg'));
  const hostFile = path.join(base, `host-${uniq()}`);
  writeFileSync(hostFile, 'host\n');
  symlinkSync(hostFile, path.join(root, 'pxelinux.cfg', 'default'));
  await writeOwnedFile(path.join(root, 'pxelinux.cfg', 'default'), 'DEFAULT wait\n');
  assert.equal(readFileSync(hostFile, 'utf8'), 'host\n');
  assert.ok(lstatSync(path.join(root, 'pxelinux.cfg', 'default')).isFile());
  assert.equal(readFileSync(path.join(root, 'pxelinux.cfg', 'default'), 'utf8'), 'DEFAULT wait\n');
});
