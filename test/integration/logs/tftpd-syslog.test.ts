// syslog source against real tftpd-hpa logging through real rsyslog (and busybox syslogd):
// a real TFTP client's requests become events; a forged `logger -t other` line does not; rename
// and copytruncate rotation while a client keeps fetching lose no request.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupAll, makeNetnsPair, requireRoot, requireTool, tempDir, waitFor, type NetnsPair } from '../../helpers/lab.ts';
import { setClientAddress, startTftpd, tftpGet, type TftpdLab } from '../../helpers/tftpd.ts';
import { createSyslogWatcher } from '../../../watchers/logs/syslog-watcher.ts';
import type { Watcher } from '../../../src/types.ts';
import { collectingContext, type Collected } from '../../unit/watchers/logs/test-context.ts';

after(cleanupAll);

const CLI_IP = '10.99.0.2';
let pair: NetnsPair;
let root: string;

before(() => {
  requireRoot();
  requireTool('busybox');
  pair = makeNetnsPair('pxc', { cliMac: '52:54:00:aa:bb:01' });
  setClientAddress(pair.cli, pair.cliIf, `${CLI_IP}/24`);
  root = path.join(tempDir('pxc-tftproot-'), 'tftp');
  mkdirSync(path.join(root, 'pxelinux.cfg'), { recursive: true });
  writeFileSync(path.join(root, 'pxelinux.cfg/01-52-54-00-aa-bb-01'), 'default local\n');
  writeFileSync(path.join(root, 'pxelinux.0'), 'x'.repeat(5000));
});

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (running.length) await running.pop()!();
});

async function setup(syslog: 'rsyslog' | 'busybox', format: 'rfc3339' | 'traditional' = 'rfc3339'): Promise<{ t: TftpdLab; c: Collected; w: Watcher }> {
  const t = await startTftpd({ netns: pair.srv, root, address: pair.srvIp, dir: tempDir('pxc-tftpd-'), syslog, format });
  const c = collectingContext({ type: 'syslog', path: t.syslogFile, from_start: false, programs: [] }, { tftp_root: root });
  running.push(() => t.stop());
  const w = createSyslogWatcher(c.ctx);
  await w.start();
  running.push(() => w.stop());
  return { t, c, w };
}

/** a client namespace loop fetching names[i] one after another, as a booting client would */
function fetchLoop(names: string[]): Promise<number | null> {
  const script = names.map((n) => `busybox tftp -g -r '${n}' -l /dev/null ${pair.srvIp} 2>/dev/null`).join('\n');
  return new Promise((resolve) => {
    const ch = spawn('ip', ['netns', 'exec', pair.cli, 'sh', '-c', script], { stdio: 'ignore' });
    ch.on('exit', (code) => resolve(code));
  });
}

describe('tftpd-hpa + rsyslog (RFC 3339 file format)', () => {
  test('a real client fetching pxelinux.cfg/01-<mac> and pxelinux.cfg/<HEXIP> yields seen events', async () => {
    const { c } = await setup('rsyslog');
    assert.ok(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/01-52-54-00-aa-bb-01').ok);
    assert.equal(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/0A630002').ok, false); // NAK, still logged
    assert.ok(tftpGet(pair.cli, pair.srvIp, '/pxelinux.0', { client: 'tftp' }).ok);
    await waitFor('three events', () => c.events.length >= 3, 5000);
    await sleep(200);
    const got = c.events.map((e) => ({ kind: e.kind, ip: e.ip, mac: e.mac, file: e.kind === 'seen' ? e.file : undefined }));
    assert.deepEqual(got, [
      { kind: 'seen', ip: CLI_IP, mac: '52:54:00:aa:bb:01', file: 'pxelinux.cfg/01-52-54-00-aa-bb-01' },
      { kind: 'seen', ip: CLI_IP, mac: undefined, file: 'pxelinux.cfg/0A630002' },
      { kind: 'seen', ip: CLI_IP, mac: undefined, file: 'pxelinux.0' },
    ]);
    assert.deepEqual(c.bad, []);
  });

  test('a forged line from another program tag through the same /dev/log yields nothing', async () => {
    const { t, c } = await setup('rsyslog');
    await t.inject('other', 'RRQ from 10.99.0.66 filename pxelinux.cfg/01-52-54-00-00-00-66', 4242);
    await t.inject('in.tftpdx', 'RRQ from 10.99.0.67 filename pxelinux.cfg/01-52-54-00-00-00-67');
    // a genuine request after the forgeries proves the watcher was reading
    assert.ok(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/01-52-54-00-aa-bb-01').ok);
    await waitFor('the genuine event', () => c.events.length >= 1, 5000);
    await sleep(300);
    assert.deepEqual(c.events.map((e) => e.ip), [CLI_IP]);
  });

  test('rename rotation (mv + HUP, as logrotate does) while a client keeps fetching: no request lost', async () => {
    const { t, c } = await setup('rsyslog');
    const names = Array.from({ length: 300 }, (_, i) => `probe/rename-${i}`);
    const loop = fetchLoop(names);
    await waitFor('a third of the requests', () => c.events.length >= 100, 20_000);
    renameSync(t.syslogFile, `${t.syslogFile}.1`);
    await sleep(30); // rsyslog keeps writing to the renamed file until HUP
    t.reopen();
    await loop; // its exit code is the last fetch's: 1, the probe files do not exist (NAK)
    await waitFor('all requests', () => c.events.length >= names.length, 20_000).catch(() => {});
    await sleep(300);
    const files = c.events.map((e) => (e.kind === 'seen' ? e.file : ''));
    assert.deepEqual(files, names, `lost ${names.filter((n) => !files.includes(n)).length}, events ${files.length}`);
  });

  test('copytruncate rotation while a client keeps fetching: no request lost', async () => {
    const { t, c } = await setup('rsyslog');
    const names = Array.from({ length: 300 }, (_, i) => `probe/copytruncate-${i}`);
    const loop = fetchLoop(names);
    await waitFor('a third of the requests', () => c.events.length >= 100, 20_000);
    copyFileSync(t.syslogFile, `${t.syslogFile}.1`);
    truncateSync(t.syslogFile, 0);
    await loop; // its exit code is the last fetch's: 1, the probe files do not exist (NAK)
    await waitFor('all requests', () => c.events.length >= names.length, 20_000).catch(() => {});
    await sleep(300);
    const files = c.events.map((e) => (e.kind === 'seen' ? e.file : ''));
    // A line rsyslog writes between the copy and the truncate exists in neither file: no reader can
    // have it (logrotate(8) says as much). Every request that is in the copy or the live file must
    // have given an event; the follower reads a fresh copy's tail itself when it sees the truncate.
    const onDisk = readFileSync(`${t.syslogFile}.1`, 'utf8') + readFileSync(t.syslogFile, 'utf8');
    const lost = names.filter((n) => !files.includes(n) && onDisk.includes(`filename ${n}\n`));
    const inNeither = names.filter((n) => !onDisk.includes(`filename ${n}\n`));
    assert.deepEqual(lost, [], `lost ${lost.length}: ${lost.join(' ')}`);
    assert.ok(inNeither.length <= 1, `lines in neither file: ${inNeither.join(' ')}`);
    if (inNeither.length) console.log(`copytruncate window swallowed ${inNeither.join(' ')} (in neither file)`);
    assert.equal(new Set(files).size, files.length, 'no duplicates');
  });
});

describe('tftpd-hpa + busybox syslogd', () => {
  test('busybox syslogd -S lines (no host) give the same events', async () => {
    const { c } = await setup('busybox');
    assert.ok(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/01-52-54-00-aa-bb-01').ok);
    await waitFor('the event', () => c.events.length >= 1, 5000);
    assert.equal(c.events[0]!.mac, '52:54:00:aa:bb:01');
    assert.equal(c.events[0]!.ip, CLI_IP);
  });
  test('rsyslog traditional format', async () => {
    const { c } = await setup('rsyslog', 'traditional');
    assert.ok(tftpGet(pair.cli, pair.srvIp, 'pxelinux.cfg/01-52-54-00-aa-bb-01').ok);
    await waitFor('the event', () => c.events.length >= 1, 5000);
    assert.equal(c.events[0]!.mac, '52:54:00:aa:bb:01');
  });
});
