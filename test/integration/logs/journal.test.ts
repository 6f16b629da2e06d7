// journal source against a real systemd-journald: trusted identifiers reach the watcher through
// journalctl -f -o json (about 0.5 s latency here), others do not; journalctl restarts resume.
// Every watcher is stopped in t.after, so a failing assertion cannot leave journalctl running (and
// the file alive).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupAll, requireRoot, requireTool, tempDir, waitFor } from '../../helpers/lab.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import { createJournalWatcher } from '../../../watchers/logs/journal-watcher.ts';
import { collectingContext, testConfig } from '../../unit/watchers/logs/test-context.ts';
import { startJournald } from './journald.ts';

after(cleanupAll);

describe('journal watcher with a real journald', () => {
  test('in.tftpd line -> event; logger -t other -> none', async (t) => {
    requireRoot();
    requireTool('journalctl');
    const j = await startJournald(tempDir('pxc-journal-'));
    const c = collectingContext({ type: 'journal', identifiers: [], directory: j.journalDir }, {}, createRunner(silentLogger()));
    const w = createJournalWatcher(c.ctx);
    t.after(() => w.stop());
    await w.start();
    await sleep(700); // journalctl -f starts at the end (-n 0): let it get there
    j.log('other', 'RRQ from 10.99.0.77 filename pxelinux.cfg/01-52-54-00-00-00-77');
    j.log('in.tftpd', 'RRQ from 10.99.0.78 filename pxelinux.cfg/01-52-54-00-00-00-78');
    const t0 = Date.now();
    await waitFor('the in.tftpd event', () => c.events.length > 0, 15_000);
    const latency = Date.now() - t0;
    await sleep(1000); // the "other" line was logged first: give it every chance to (wrongly) arrive
    assert.equal(c.events.length, 1, JSON.stringify(c.events));
    const e = c.events[0]!;
    assert.equal(e.kind, 'seen');
    assert.equal(e.ip, '10.99.0.78');
    assert.equal(e.mac, '52:54:00:00:00:78');
    assert.equal(e.kind === 'seen' && e.file, 'pxelinux.cfg/01-52-54-00-00-00-78');
    assert.equal(e.sourceType, 'journal');
    console.log(`journald -> watcher latency ${latency} ms`);
    // dnsmasq-dhcp identifier too
    j.log('dnsmasq-dhcp', 'DHCPACK(br0) 10.99.0.79 52:54:00:00:00:79 node79');
    await waitFor('the dnsmasq-dhcp event', () => c.events.length > 1, 15_000);
    assert.equal(c.events[1]!.kind === 'seen' && c.events[1]!.hostname, 'node79');
  });

  // The journalctl that delivers the first line is not always the first one spawned: on a busy
  // machine journald creates its journal file a moment after the directory, and a journalctl
  // started in between exits at once ("No such boot ID") and is restarted. So the test kills the
  // one that is running, and checks the restart that follows that kill.
  test('journalctl killed: restarted with backoff after the last cursor, nothing lost', async (t) => {
    const j = await startJournald(tempDir('pxc-journal-'));
    const base = createRunner(silentLogger());
    const spawned: Array<{ argv: readonly string[]; child: ReturnType<typeof base.spawn> }> = [];
    const runner = { ...base, spawn: (argv: readonly string[]) => { const child = base.spawn(argv); spawned.push({ argv, child }); return child; } };
    const c = collectingContext({ type: 'journal', identifiers: ['in.tftpd'], directory: j.journalDir }, {}, runner);
    const w = createJournalWatcher(c.ctx);
    t.after(() => w.stop());
    await w.start();
    await sleep(700);
    j.log('in.tftpd', 'RRQ from 10.99.0.81 filename pxelinux.0');
    await waitFor('first event', () => c.events.length === 1, 15_000);
    const killed = spawned.length - 1;
    spawned[killed]!.child.kill('SIGKILL');
    await spawned[killed]!.child;
    j.log('in.tftpd', 'RRQ from 10.99.0.82 filename pxelinux.0'); // while journalctl is down
    await waitFor('journalctl restarted', () => spawned.length > killed + 1, 15_000);
    assert.ok(spawned[killed + 1]!.argv.some((a) => a.startsWith('--after-cursor=')), spawned[killed + 1]!.argv.join(' '));
    await waitFor('the line logged while journalctl was down', () => c.events.length === 2, 15_000);
    assert.deepEqual(c.events.map((e) => e.ip), ['10.99.0.81', '10.99.0.82']);
    await w.stop();
    assert.equal(spawned.length, killed + 2);
  });

  // The first journalctl (a wrapper standing in for one started before journald's file exists)
  // exits before printing anything, and a line is logged before the restart: with no cursor yet,
  // the restart must read from the first start's time, not from "now" (-n 0), or the line is lost.
  test('journalctl fails before any line: the restart reads from the first start, nothing lost', async (t) => {
    const dir = tempDir('pxc-journal-');
    const j = await startJournald(dir);
    const marker = path.join(dir, 'first-run-done');
    const wrapper = path.join(dir, 'journalctl-wrapper');
    writeFileSync(
      wrapper,
      `#!/bin/sh
if [ ! -e '${marker}' ]; then
  touch '${marker}'
  logger --socket '${j.devLog}' -t in.tftpd -p daemon.notice -- 'RRQ from 10.99.0.83 filename pxelinux.0'
  echo 'Data from the specified boot (+0) is not available: No such boot ID in journal' >&2
  exit 1
fi
exec journalctl "$@"
`,
    );
    chmodSync(wrapper, 0o755);
    const base = createRunner(silentLogger());
    const spawned: Array<readonly string[]> = [];
    const runner = { ...base, spawn: (argv: readonly string[]) => (spawned.push(argv), base.spawn(argv)) };
    const c = collectingContext({ type: 'journal', identifiers: ['in.tftpd'], directory: j.journalDir }, { commands: { ...testConfig().commands, journalctl: wrapper } }, runner);
    const w = createJournalWatcher(c.ctx);
    t.after(() => w.stop());
    await w.start();
    await waitFor('the line logged before the restart', () => c.events.length === 1, 15_000);
    assert.equal(c.events[0]!.ip, '10.99.0.83');
    assert.ok(spawned[0]!.includes('-n'), spawned[0]!.join(' '));
    assert.ok(spawned[1]!.some((a) => a.startsWith('--since=@')), spawned[1]!.join(' '));
  });
});
