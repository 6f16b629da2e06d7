// journal source against a real systemd-journald: trusted identifiers reach the watcher through
// journalctl -f -o json (about 0.5 s latency here), others do not; journalctl restarts resume.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupAll, requireRoot, requireTool, tempDir, waitFor } from '../../helpers/lab.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import { createJournalWatcher } from '../../../watchers/logs/journal-watcher.ts';
import { collectingContext } from '../../unit/watchers/logs/test-context.ts';
import { startJournald } from './journald.ts';

after(cleanupAll);

describe('journal watcher with a real journald', () => {
  test('in.tftpd line -> event; logger -t other -> none', async () => {
    requireRoot();
    requireTool('journalctl');
    const j = await startJournald(tempDir('pxc-journal-'));
    const c = collectingContext({ type: 'journal', identifiers: [], directory: j.journalDir }, {}, createRunner(silentLogger()));
    const w = createJournalWatcher(c.ctx);
    await w.start();
    await sleep(700); // journalctl -f starts at the end (-n 0): let it get there
    j.log('other', 'RRQ from 10.99.0.77 filename pxelinux.cfg/01-52-54-00-00-00-77');
    j.log('in.tftpd', 'RRQ from 10.99.0.78 filename pxelinux.cfg/01-52-54-00-00-00-78');
    const t0 = Date.now();
    await waitFor('the in.tftpd event', () => c.events.length > 0, 5000);
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
    await waitFor('the dnsmasq-dhcp event', () => c.events.length > 1, 5000);
    assert.equal(c.events[1]!.kind === 'seen' && c.events[1]!.hostname, 'node79');
    await w.stop();
  });

  test('journalctl killed: restarted with backoff after the last cursor, nothing lost', async () => {
    const j = await startJournald(tempDir('pxc-journal-'));
    const base = createRunner(silentLogger());
    const spawned: Array<{ argv: readonly string[]; child: ReturnType<typeof base.spawn> }> = [];
    const runner = { ...base, spawn: (argv: readonly string[]) => { const child = base.spawn(argv); spawned.push({ argv, child }); return child; } };
    const c = collectingContext({ type: 'journal', identifiers: ['in.tftpd'], directory: j.journalDir }, {}, runner);
    const w = createJournalWatcher(c.ctx);
    await w.start();
    await sleep(700);
    j.log('in.tftpd', 'RRQ from 10.99.0.81 filename pxelinux.0');
    await waitFor('first event', () => c.events.length === 1, 5000);
    spawned[0]!.child.kill('SIGKILL');
    await spawned[0]!.child;
    j.log('in.tftpd', 'RRQ from 10.99.0.82 filename pxelinux.0'); // while journalctl is down
    await waitFor('journalctl restarted', () => spawned.length === 2, 5000);
    assert.ok(spawned[1]!.argv.some((a) => a.startsWith('--after-cursor=')), spawned[1]!.argv.join(' '));
    await waitFor('the line logged while journalctl was down', () => c.events.length === 2, 5000);
    assert.deepEqual(c.events.map((e) => e.ip), ['10.99.0.81', '10.99.0.82']);
    await w.stop();
    assert.equal(spawned.length, 2);
  });
});
