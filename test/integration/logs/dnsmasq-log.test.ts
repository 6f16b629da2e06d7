// syslog source on a real dnsmasq's log-facility file: its TFTP "sent"/"not found" lines and its
// DHCPACK/DHCPRELEASE lines (with --log-dhcp xid prefixes) drive the watcher.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupAll, makeNetnsPair, requireRoot, tempDir, waitFor } from '../../helpers/lab.ts';
import { runUdhcpc, startDnsmasq, startDhclient } from '../../helpers/dnsmasq.ts';
import { tftpGet } from '../../helpers/tftpd.ts';
import { createSyslogWatcher } from '../../../watchers/logs/syslog-watcher.ts';
import { collectingContext } from '../../unit/watchers/logs/test-context.ts';

after(cleanupAll);

describe('dnsmasq log-facility file', () => {
  test('TFTP sent / not found and DHCPACK / DHCPRELEASE lines become events', async () => {
    requireRoot();
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:07' });
    const base = tempDir('pxc-dnsmasq-');
    chmodSync(base, 0o755); // dnsmasq serves TFTP as "nobody"
    const root = path.join(base, 'tftp');
    mkdirSync(path.join(root, 'pxelinux.cfg'), { recursive: true });
    chmodSync(root, 0o755);
    writeFileSync(path.join(root, 'pxelinux.cfg/01-52-54-00-aa-bb-07'), 'default local\n', { mode: 0o644 });
    const d = await startDnsmasq({ netns: pair.srv, tftpRoot: root, dir: path.join(base, 'dnsmasq') });
    const c = collectingContext({ type: 'syslog', path: d.logFile, from_start: false, programs: [] }, { tftp_root: root });
    const w = createSyslogWatcher(c.ctx);
    await w.start();
    try {
      const lease = await runUdhcpc(pair.cli, { hostname: 'node07' });
      await waitFor('DHCPACK event', () => c.events.find((e) => e.kind === 'seen' && e.mac === '52:54:00:aa:bb:07' && !('file' in e && e.file)), 5000);
      assert.ok(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/01-52-54-00-aa-bb-07').ok);
      assert.equal(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/0A630002').ok, false);
      await waitFor('two TFTP events', () => c.events.filter((e) => e.kind === 'seen' && e.file).length >= 2, 5000);
      await sleep(200);
      const ack = c.events[0]!;
      assert.deepEqual({ kind: ack.kind, ip: ack.ip, mac: ack.mac, hostname: ack.kind === 'seen' ? ack.hostname : undefined }, { kind: 'seen', ip: lease.ip, mac: '52:54:00:aa:bb:07', hostname: 'node07' });
      const tftp = c.events.filter((e) => e.kind === 'seen' && e.file).map((e) => ({ ip: e.ip, mac: e.mac, file: e.kind === 'seen' ? e.file : '' }));
      assert.deepEqual(tftp, [
        { ip: lease.ip, mac: '52:54:00:aa:bb:07', file: 'pxelinux.cfg/01-52-54-00-aa-bb-07' },
        { ip: lease.ip, mac: undefined, file: 'pxelinux.cfg/0A630002' },
      ]);
      assert.deepEqual(c.bad, []);
    } finally {
      await w.stop();
      await d.stop();
    }
  });

  test('DHCPRELEASE from dhclient -r becomes a gone event', async () => {
    const pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:08' });
    const d = await startDnsmasq({ netns: pair.srv });
    const c = collectingContext({ type: 'syslog', path: d.logFile, from_start: true, programs: [] });
    const w = createSyslogWatcher(c.ctx);
    await w.start();
    try {
      const cl = await startDhclient(pair.cli);
      await waitFor('seen', () => c.events.some((e) => e.kind === 'seen' && e.ip === cl.ip), 5000);
      await cl.release();
      const gone = await waitFor('gone', () => c.events.find((e) => e.kind === 'gone'), 5000);
      assert.deepEqual({ ip: gone.ip, mac: gone.mac }, { ip: cl.ip, mac: '52:54:00:aa:bb:08' });
    } finally {
      await w.stop();
      await d.stop();
    }
  });
});
