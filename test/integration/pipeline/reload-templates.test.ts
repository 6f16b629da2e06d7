// A template edited and reloaded with SIGHUP reaches every ready node's boot files, with the
// real daemon, real overlay mounts and the real exportfs, and without a remount or re-export.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, startDaemon, waitFor } from '../../helpers/lab.ts';
import { CLI, leaseLine, makeLab } from '../cli/cli-lab.ts';

after(cleanupAll);

/** The mount ID of the overlay at `target` (first field of its mountinfo line): a remount changes it. */
function mountId(target: string): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === target) return f[0];
  }
  return undefined;
}

describe('SIGHUP with an edited template', () => {
  test('ready nodes get the new text, atomically, with no remount or re-export; a summary line counts them', { timeout: 90_000 }, async (t) => {
    const lab = makeLab();
    writeFileSync(lab.leases, leaseLine('52:54:00:aa:00:71', '10.99.0.71') + leaseLine('52:54:00:aa:00:72', '10.99.0.72'));
    const logFile = path.join(lab.dir, 'daemon.log');
    const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
    t.after(() => d.stop());
    const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const files = ['01-52-54-00-aa-00-71', '01-52-54-00-aa-00-72'].map((f) => path.join(lab.tftp, 'pxelinux.cfg', f));
    await waitFor('two nodes ready', () => files.every((f) => existsSync(f)), 30_000);
    assert.match(readFileSync(files[0]!, 'utf8'), /KERNEL vmlinuz\n/);
    const node = path.join(lab.dir, 'run/node/0A630047');
    const idBefore = mountId(node);
    assert.ok(idBefore, 'overlay mounted');
    const exportsBefore = statSync(lab.exportsFile);
    const inodeBefore = statSync(files[0]!).ino;

    const tpl = path.join(lab.dir, 'templates/pxelinux.cfg.template');
    writeFileSync(tpl, readFileSync(tpl, 'utf8').replace('KERNEL {{kernel}}', 'KERNEL {{kernel}}\n  # edited for the reload test'));
    process.kill(d.pid, 'SIGHUP');
    await waitFor('summary line', () => /reload: boot files of 2 ready nodes rewritten, 0 unchanged/.test(log()), 30_000);
    for (const f of files) assert.match(readFileSync(f, 'utf8'), /# edited for the reload test/);
    // renamed into place (a new inode), never written in place
    assert.notEqual(statSync(files[0]!).ino, inodeBefore);
    assert.equal(mountId(node), idBefore, 'not remounted');
    const exportsAfter = statSync(lab.exportsFile);
    assert.equal(exportsAfter.ino, exportsBefore.ino, 'exports file not rewritten');
    assert.equal(exportsAfter.mtimeMs, exportsBefore.mtimeMs);

    // a second reload with nothing changed rewrites nothing
    process.kill(d.pid, 'SIGHUP');
    await waitFor('second summary', () => /reload: boot files of 0 ready nodes rewritten, 2 unchanged/.test(log()), 30_000);
  });
});
