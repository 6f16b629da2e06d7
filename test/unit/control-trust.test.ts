import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { checkSocketDir, refusePeer, UntrustedSocketError } from '../../src/control-trust.ts';
import { cleanupAll, tempDir } from '../helpers/lab.ts';

after(cleanupAll);

describe('control socket trust', () => {
  test('refusePeer: hook/provision/release only from a trusted uid; status and ping from anyone; unknown peer allowed', () => {
    const trusted = new Set([0]);
    for (const op of ['hook', 'provision', 'release', 'release-all', 'some-future-op']) assert.match(refusePeer(op, { uid: 1000, gid: 1000, pid: 42 }, trusted)!, new RegExp(`^${op}: refused: the client runs as uid 1000 \\(pid 42\\); only root may`));
    assert.equal(refusePeer('hook', { uid: 0, gid: 0, pid: 1 }, trusted), undefined);
    assert.equal(refusePeer('hook', { uid: 998, gid: 0, pid: 1 }, new Set([0, 998])), undefined, "the daemon's own uid");
    assert.equal(refusePeer('status', { uid: 1000, gid: 1000, pid: 42 }, trusted), undefined);
    assert.equal(refusePeer('ping', { uid: 1000, gid: 1000, pid: 42 }, trusted), undefined);
    assert.equal(refusePeer('release', undefined, trusted), undefined, 'no SO_PEERCRED: the socket mode is the guard');
  });

  test('checkSocketDir: group/other-writable or foreign-owned dirs and non-sticky writable parents are refused; sticky parents and symlinks to good dirs pass', async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (chown)');
    const base = tempDir('pxe-trust-');
    const ok = path.join(base, 'ok');
    mkdirSync(ok, { mode: 0o755 });
    await checkSocketDir(ok);
    const link = path.join(base, 'link');
    symlinkSync(ok, link);
    await checkSocketDir(link);

    const ww = path.join(base, 'ww');
    mkdirSync(ww);
    chmodSync(ww, 0o1777);
    await assert.rejects(checkSocketDir(ww), (e: Error) => e instanceof UntrustedSocketError && /is writable by group or others \(mode 1777\)/.test(e.message));
    const gw = path.join(base, 'gw');
    mkdirSync(gw);
    chmodSync(gw, 0o775);
    await assert.rejects(checkSocketDir(gw), /mode 0775/);
    const theirs = path.join(base, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, 65534, 65534);
    await assert.rejects(checkSocketDir(theirs), /is owned by uid 65534, not root/);

    // a root-only directory inside a sticky world-writable one (like /tmp) is fine ...
    const stickyChild = path.join(ww, 'run');
    mkdirSync(stickyChild, { mode: 0o755 });
    await checkSocketDir(stickyChild);
    // ... inside a world-writable one without the sticky bit anyone can rename it away
    const open = path.join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const child = path.join(open, 'run');
    mkdirSync(child, { mode: 0o755 });
    await assert.rejects(checkSocketDir(child), new RegExp(`its parent ${open} is writable by group or others without the sticky bit`));
    // ... and one inside another user's directory likewise
    const inTheirs = path.join(theirs, 'run');
    mkdirSync(inTheirs, { mode: 0o755 });
    await assert.rejects(checkSocketDir(inTheirs), new RegExp(`its parent ${theirs} is owned by uid 65534`));
    await assert.rejects(checkSocketDir(path.join(base, 'missing')), { code: 'ENOENT' });
  });
});
