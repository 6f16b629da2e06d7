// safe-open on real files: every kind of non-regular file is refused without blocking, the symlink
// rule (each link owned by root or by the file's owner) in each of its cases, the size caps.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { judgeLinks, openRegular, readRegular, readRegularSync, readTemplateFile, RefusedFileError, READ_LIMITS } from '../../src/safe-open.ts';

const NOBODY = 65534;
const dir = mkdtempSync(path.join(tmpdir(), 'pxg-safe-open-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => path.join(dir, n);

/** Both the async and the sync reader refuse `file` with a reason matching `re`. */
async function refused(file: string, re: RegExp): Promise<void> {
  await assert.rejects(readRegular(file, 1 << 20, 'a test file'), (e) => e instanceof RefusedFileError && re.test(e.reason));
  assert.throws(() => readRegularSync(file, 1 << 20, 'a test file'), (e) => e instanceof RefusedFileError && re.test(e.reason));
}

describe('safe-open: only regular files', () => {
  test('a regular file, and one reached through a root-owned symlink, are read', async () => {
    writeFileSync(p('plain'), 'hello\n');
    symlinkSync(p('plain'), p('root-link'));
    assert.equal((await readRegular(p('plain'), 100, 'x')).toString(), 'hello\n');
    assert.equal((await readRegular(p('root-link'), 100, 'x')).toString(), 'hello\n');
    assert.equal(readRegularSync(p('root-link'), 100, 'x').toString(), 'hello\n');
    assert.equal(await readTemplateFile(p('plain')), 'hello\n');
  });

  test('a FIFO with no writer is refused at once (it does not block)', { timeout: 10_000 }, async () => {
    execFileSync('mkfifo', [p('fifo')]);
    await refused(p('fifo'), /FIFO/);
    symlinkSync(p('fifo'), p('fifo-link'));
    await refused(p('fifo-link'), /FIFO/);
  });

  test('devices, a socket and a directory are refused', async () => {
    await refused('/dev/zero', /character device/);
    symlinkSync('/dev/zero', p('zero-link'));
    await refused(p('zero-link'), /character device/);
    await refused(dir, /directory/);
    const sock = p('sock');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(sock, r));
    try {
      await refused(sock, /socket/);
    } finally {
      srv.close();
    }
  });

  test('a missing file throws ENOENT, as before', async () => {
    await assert.rejects(openRegular(p('nope')), { code: 'ENOENT' });
    symlinkSync(p('nope'), p('dangling'));
    await assert.rejects(openRegular(p('dangling')), { code: 'ENOENT' });
  });

  test('over the size cap is refused, at the cap is read', async () => {
    writeFileSync(p('big'), Buffer.alloc(1001, 0x61));
    assert.equal((await readRegular(p('big'), 1001, 'x')).length, 1001);
    await assert.rejects(readRegular(p('big'), 1000, 'a test file'), (e) => e instanceof RefusedFileError && /larger than 1000 bytes, the limit for a test file/.test(e.reason));
    assert.throws(() => readRegularSync(p('big'), 1000, 'a test file'), RefusedFileError);
    assert.ok(READ_LIMITS.configBytes >= 1 << 20 && READ_LIMITS.templateBytes >= 64 << 10);
  });
});

describe('safe-open: the symlink rule', () => {
  test('a link owned by another user to a root-owned file is refused', async () => {
    writeFileSync(p('secret'), 'root only\n', { mode: 0o600 });
    symlinkSync(p('secret'), p('evil'));
    lchownSync(p('evil'), NOBODY, NOBODY);
    await refused(p('evil'), /symlink .*evil.* owned by uid 65534, to a file owned by uid 0/);
  });

  test("a link owned by a user to that user's own file is followed", async () => {
    writeFileSync(p('theirs'), 'theirs\n');
    chownSync(p('theirs'), NOBODY, NOBODY);
    symlinkSync('theirs', p('their-link')); // relative target
    lchownSync(p('their-link'), NOBODY, NOBODY);
    assert.equal((await readRegular(p('their-link'), 100, 'x')).toString(), 'theirs\n');
  });

  test('a chain: a root link to a foreign link to a root file is refused; through a foreign directory link too', async () => {
    symlinkSync(p('evil'), p('root-to-evil'));
    await refused(p('root-to-evil'), /owned by uid 65534/);
    mkdirSync(p('sub'));
    writeFileSync(p('sub/secret'), 'x\n', { mode: 0o600 });
    symlinkSync(p('sub'), p('dirlink'));
    lchownSync(p('dirlink'), NOBODY, NOBODY);
    await refused(p('dirlink/secret'), /dirlink.* owned by uid 65534/);
  });

  test('a symlink loop is refused or fails, never hangs', async () => {
    symlinkSync(p('loop-b'), p('loop-a'));
    symlinkSync(p('loop-a'), p('loop-b'));
    await assert.rejects(readRegular(p('loop-a'), 100, 'x'));
  });

  test('judgeLinks: root-owned and same-owner links pass, any other refuses', () => {
    assert.equal(judgeLinks([], 0), undefined);
    assert.equal(judgeLinks([{ link: '/a', uid: 0, target: '/b' }], 1000), undefined);
    assert.equal(judgeLinks([{ link: '/a', uid: 1000, target: '/b' }], 1000), undefined);
    assert.match(judgeLinks([{ link: '/a', uid: 0, target: '/b' }, { link: '/b', uid: 1000, target: '/c' }], 0) ?? '', /\/b -> \/c, owned by uid 1000/);
    assert.match(judgeLinks([{ link: '/a', uid: 1000, target: '/b' }], 1001) ?? '', /uid 1000, to a file owned by uid 1001/);
  });
});
