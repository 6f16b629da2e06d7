// journal source against a real systemd-journald: every entry of a trusted program is delivered,
// whoever wrote it. With the match `SYSLOG_IDENTIFIER=x + _COMM=x` journalctl 252 (`-f -n 0`)
// dropped the first matching entry after it started when no other entry came first (every run
// here: 7 of 8 lines arrived); the watcher now runs journalctl without match terms and filters.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupAll, requireRoot, requireTool, tempDir, waitFor } from '../../helpers/lab.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import { createJournalWatcher } from '../../../watchers/logs/journal-watcher.ts';
import { collectingContext } from '../../unit/watchers/logs/test-context.ts';
import { startJournald } from './journald.ts';

after(cleanupAll);

describe('journal watcher follows every entry', () => {
  test('lines from root, nobody and the tftp user, from the first one on, all arrive; other programs\' entries are silently skipped', async (t) => {
    requireRoot();
    requireTool('journalctl');
    requireTool('setpriv');
    const dir = tempDir('pxc-jfollow-');
    chmodSync(dir, 0o755);
    const j = await startJournald(dir);
    for (let d = path.dirname(j.devLog); d.startsWith(dir); d = path.dirname(d)) chmodSync(d, 0o755);
    const c = collectingContext({ type: 'journal', identifiers: ['in.tftpd'], directory: j.journalDir }, {}, createRunner(silentLogger()));
    const w = createJournalWatcher(c.ctx);
    t.after(() => w.stop());
    await w.start();
    await sleep(1000); // journalctl -f starts at the end (-n 0): let it get there
    const users = ['root', 'nobody', 'tftp', 'root', 'nobody', 'tftp', 'daemon', 'root'];
    const sent: string[] = [];
    for (const [i, u] of users.entries()) {
      const ip = `10.98.0.${10 + i}`;
      sent.push(ip);
      execFileSync('setpriv', [`--reuid=${u}`, `--regid=${u === 'tftp' ? 'nogroup' : u === 'nobody' ? 'nogroup' : u}`, '--clear-groups', 'logger', '--socket', j.devLog, '-t', 'in.tftpd', '--', `RRQ from ${ip} filename pxelinux.0`]);
      await sleep(150);
    }
    // another program's oversized entry (MESSAGE null in journalctl's JSON) is not bad input of ours
    execFileSync('logger', ['--socket', j.devLog, '--size', '8192', '-t', 'other', '--', 'x'.repeat(5000)]);
    await waitFor('every in.tftpd line', () => c.events.length >= users.length, 20_000).catch((e: Error) => {
      throw new Error(`${e.message}: got ${JSON.stringify(c.events.map((x) => x.ip))}`);
    });
    await sleep(500);
    assert.deepEqual(c.events.map((e) => e.ip), sent);
    assert.deepEqual(c.bad, []);
  });
});
