// SIGKILL in the middle of an incremental export change (kernel backend, real exportfs and etab):
// the test holds exportfs's own lock (/var/lib/nfs/export-lock, as a running `exportfs` would), so
// pxebootd has written its exports file but waits to edit etab; it is killed right there. After a
// restart, etab, our exports file, the mounts and status agree, for an added and a removed node,
// and the killed process left no temp file next to etab.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, requireTool, waitFor, type Daemon } from '../../helpers/lab.ts';
import { bootFile, client, leaseLine, makeLab, rewriteInPlace, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { loadAddon } from '../../../src/native.ts';
import { checkConsistent, readEtab, readExports, toStatusNodes } from './invariants.ts';

after(cleanupAll);

const ETAB_DIR = '/var/lib/nfs';

/** PIDs of a process's children (every thread's list): an `exportfs` run would be one. */
function children(pid: number): string[] {
  const dir = `/proc/${pid}/task`;
  return readdirSync(dir).flatMap((t) => readFileSync(`${dir}/${t}/children`, 'utf8').split(' ').filter(Boolean));
}

/** Hold exportfs's whole-run lock as an `exportfs` in progress would (an OFD lock: it conflicts with lockf). */
async function holdExportLock(): Promise<FileHandle> {
  const addon = loadAddon<{ tryLock(fd: number, x: boolean): boolean }>('fcntllock', 'fcntl lock');
  if (!('mod' in addon)) throw new Error(addon.why);
  const fh = await open(path.join(ETAB_DIR, 'export-lock'), 'a+');
  onCleanup('export-lock held by the test', () => void fh.close().catch(() => {}));
  // another test's exportfs may hold it for a moment
  await waitFor('export-lock', () => addon.mod.tryLock(fh.fd, true), 60_000, 5);
  return fh;
}

test('SIGKILL between our exports file and the etab edit: consistent after a restart (add, then remove)', { timeout: 240_000 }, async () => {
  requireRoot();
  requireTool('exportfs');
  const lab = makeLab('etabkill');
  const cfg = writeConfig(lab, { onRelease: 'unexport' });
  const [a, b, c] = [client(99, 1), client(99, 2), client(99, 3)];
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  const leases = (...ls: (typeof a)[]) => rewriteInPlace(lab.leases, ls.map((l) => leaseLine(l, expiry)).join(''));
  const logs = (n: number) => path.join(lab.dir, `pxebootd-${n}.log`);
  const nodes = () => toStatusNodes(statusJson(cfg));
  const ready = (...ls: (typeof a)[]) => () => ls.every((l) => nodes().some((n) => n.ip === l.ip && n.state === 'ready'));
  const inFile = (ip: string) => readExports(lab.exportsFile).lines.some((l) => l.ip === ip);
  const inEtab = (ip: string) => readEtab(lab.nodeDir).some((l) => l.ip === ip);
  const ourTemps = (pid: number) => readdirSync(ETAB_DIR).filter((f) => f.startsWith(`.etab.${pid}.`));
  let d: Daemon = await startPxebootd(cfg, lab.socket, logs(0));
  try {
    // two nodes through a full `exportfs -r` first: from then on a lone change is an etab edit
    leases(a, c);
    await waitFor('a and c ready', ready(a, c), 60_000, 100);
    await waitFor('boot files of a and c', () => [a, c].every((l) => readdirSync(path.dirname(bootFile(lab, l.mac))).includes(path.basename(bootFile(lab, l.mac)))), 10_000, 50);

    // add b while exportfs's lock is held: the file gets b, etab cannot
    let lock = await holdExportLock();
    leases(a, c, b);
    await waitFor('b in our exports file', () => inFile(b.ip), 30_000, 20);
    assert.equal(inEtab(b.ip), false, 'etab changed while exportfs held its lock');
    assert.deepEqual(children(d.pid), [], 'the change waits in an exportfs child, not in the etab edit');
    let killed = d.pid;
    process.kill(d.pid, 'SIGKILL');
    await d.exited;
    await lock.close();
    assert.deepEqual(ourTemps(killed), [], 'the killed daemon left a temp file next to etab');

    d = await startPxebootd(cfg, lab.socket, logs(1));
    await waitFor('a, b and c ready after the restart', ready(a, b, c), 60_000, 100);
    assert.deepEqual(checkConsistent(lab, nodes()), []);

    // remove a (its lease goes; on_release: unexport) while the lock is held: the file loses a first
    lock = await holdExportLock();
    leases(c, b);
    await waitFor('a gone from our exports file', () => !inFile(a.ip), 30_000, 20);
    assert.equal(inEtab(a.ip), true, 'etab changed while exportfs held its lock');
    assert.deepEqual(children(d.pid), [], 'the change waits in an exportfs child, not in the etab edit');
    killed = d.pid;
    process.kill(d.pid, 'SIGKILL');
    await d.exited;
    await lock.close();
    assert.deepEqual(ourTemps(killed), []);

    d = await startPxebootd(cfg, lab.socket, logs(2));
    await waitFor('b and c ready after the second restart', ready(b, c), 60_000, 100);
    // whatever start-up decides for a, etab, the file, the mounts and status say the same
    await waitFor('etab, exports file, mounts and status agree', () => {
      const now = nodes().filter((n) => n.state === 'ready');
      return checkConsistent(lab, now).length === 0 && inFile(a.ip) === inEtab(a.ip);
    }, 30_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}: ${checkConsistent(lab, nodes().filter((n) => n.state === 'ready')).join('; ')}`);
    });
  } finally {
    await d.stop();
  }
});
