// A FIFO where a lease file or a syslog file should be. Opened blindly, a FIFO with no writer blocks
// the libuv worker that opens it, forever: enough of them and `provision` times out, the watcher never
// recovers, SIGTERM never ends the process. pxebootd must refuse it at once, say so once, keep
// serving, pick the source up again when a regular file is back, and stop within 5 s.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { client, leaseLine, makeLab, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { toStatusNodes } from './invariants.ts';
import { cli, dhcpAckLine, exitsWithin, logMatches, replaceWithFifo, replaceWithFile } from './source-files.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REFUSED = /not read, waiting for a regular file/;

/** A lab whose dnsmasq leases path and syslog path are FIFOs; the daemon running on it. */
async function fifoLab(tag: string) {
  requireRoot();
  const lab = makeLab(tag);
  const syslog = path.join(lab.dir, 'syslog');
  rmSync(lab.leases);
  replaceWithFifo(lab.leases);
  replaceWithFifo(syslog);
  const cfg = writeConfig(lab, { sources: [`  - { type: syslog, path: ${syslog} }`] });
  const logFile = path.join(lab.dir, 'pxebootd.log');
  const d = await startPxebootd(cfg, lab.socket, logFile, [], [], 'info');
  // the watchers open their paths at start; give them a moment to have done so (checked in the log later)
  await sleep(1500);
  return { lab, syslog, cfg, logFile, d };
}

/** Both watchers looked at their FIFO and said so. */
async function bothRefused(logFile: string, leases: string, syslog: string): Promise<void> {
  await waitFor('both FIFOs refused in the log', () => {
    const m = logMatches(logFile, REFUSED);
    return m.some((x) => x.includes(leases) && /FIFO/.test(x)) && m.some((x) => x.includes(syslog) && /FIFO/.test(x));
  }, 20_000, 100);
}

const ready = (cfg: string, ip: string) => toStatusNodes(statusJson(cfg)).find((n) => n.ip === ip && n.state === 'ready');

describe('a FIFO in place of a source file', () => {
  after(cleanupAll);

  test('leases and syslog paths are FIFOs: status and provision answer, each FIFO is reported once, SIGTERM exits within 5 s', { timeout: 120_000 }, async () => {
    const { lab, syslog, cfg, logFile, d } = await fifoLab('fifo');
    const st = await cli(['status', '-c', cfg]);
    assert.equal(st.code, 0, `status: ${st.timedOut ? 'timed out' : st.stderr}`);
    const c = client(99, 5);
    const pr = await cli(['provision', c.ip, '--mac', c.mac, '-c', cfg], 60_000);
    assert.equal(pr.code, 0, `provision: ${pr.timedOut ? 'timed out' : pr.stderr}`);
    await waitFor(`${c.ip} ready`, () => ready(cfg, c.ip), 30_000, 200);
    // the watchers keep looking (a retry a second) while the FIFOs stay
    await sleep(3000);
    process.kill(d.pid, 'SIGTERM');
    assert.ok(await exitsWithin(d, 5000), 'pxebootd did not exit within 5 s of SIGTERM');
    // each FIFO was refused, and said once per source
    await bothRefused(logFile, lab.leases, syslog);
    const m = logMatches(logFile, REFUSED);
    assert.equal(m.filter((x) => x.includes(lab.leases)).length, 1, m.join('\n'));
    assert.equal(m.filter((x) => x.includes(syslog)).length, 1, m.join('\n'));
  });

  test('regular files replace the FIFOs: the lease and the syslog line written to them are picked up', { timeout: 120_000 }, async () => {
    const { lab, syslog, cfg, logFile, d } = await fifoLab('fifo-back');
    const byLease = client(99, 7);
    const bySyslog = client(99, 8);
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    replaceWithFile(lab.leases, leaseLine(byLease, expiry));
    replaceWithFile(syslog, dhcpAckLine(bySyslog.ip, bySyslog.mac, bySyslog.hostname));
    await waitFor(`${byLease.ip} (from the leases file) ready`, () => ready(cfg, byLease.ip), 30_000, 200);
    await waitFor(`${bySyslog.ip} (from the syslog file) ready`, () => ready(cfg, bySyslog.ip), 30_000, 200);
    await bothRefused(logFile, lab.leases, syslog);
    assert.ok(logMatches(logFile, /is a regular file again/).length >= 2);
    // and a FIFO again later: refused again, the nodes stay
    replaceWithFifo(lab.leases);
    await waitFor('the new FIFO refused', () => logMatches(logFile, REFUSED).filter((x) => x.includes(lab.leases)).length === 2, 20_000, 100);
    await sleep(1000);
    assert.ok(ready(cfg, byLease.ip), 'a FIFO in place of the leases file released a node');
    process.kill(d.pid, 'SIGTERM');
    assert.ok(await exitsWithin(d, 5000), 'pxebootd did not exit within 5 s of SIGTERM');
  });
});
