// A source path that is a symlink planted by another user (uid 65534) to a root-only file: read
// blindly, its lines reach pxebootd's log (bad-input samples) and its leases get provisioned. The
// symlink rule (safe-open.ts) refuses it. The same link owned by root is followed, which shows the
// test would see the content if it were read.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { lchownSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { client, leaseLine, makeLab, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { toStatusNodes } from './invariants.ts';
import { dhcpAckLine, exitsWithin, logMatches } from './source-files.ts';

const NOBODY = 65534;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a source symlinked to a root-only file', () => {
  after(cleanupAll);

  test('links owned by another user are not followed; the same links owned by root are', { timeout: 120_000 }, async () => {
    requireRoot();
    const lab = makeLab('symlink');
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const viaLease = client(99, 66);
    const viaSyslog = client(99, 67);
    // root-only files: a lease and a garbage line; a trusted DHCPACK and a malformed one
    const secretLeases = path.join(lab.dir, 'secret.leases');
    const secretLog = path.join(lab.dir, 'secret.log');
    writeFileSync(secretLeases, `${leaseLine(viaLease, expiry)}SECRET-lease-garbage-41a7\n`, { mode: 0o600 });
    writeFileSync(secretLog, `${dhcpAckLine(viaSyslog.ip, viaSyslog.mac, viaSyslog.hostname)}Nov 22 10:00:01 boot dnsmasq-dhcp[812]: DHCPACK(br0) 10.99.0.68 SECRET-syslog-9c2e x\n`, { mode: 0o600 });
    const syslog = path.join(lab.dir, 'syslog');
    rmSync(lab.leases);
    symlinkSync(secretLeases, lab.leases);
    symlinkSync(secretLog, syslog);
    lchownSync(lab.leases, NOBODY, NOBODY);
    lchownSync(syslog, NOBODY, NOBODY);
    const cfg = writeConfig(lab, { sources: [`  - { type: syslog, path: ${syslog}, from_start: true }`] });
    const logFile = path.join(lab.dir, 'pxebootd.log');
    const d = await startPxebootd(cfg, lab.socket, logFile, [], [], 'info');

    const secrets = () => readFileSync(logFile, 'utf8').match(/SECRET-\w+-\w+/g) ?? [];
    const nodeIps = () => toStatusNodes(statusJson(cfg)).map((n) => n.ip);
    // give both watchers time to look (they read at start, then on changes and polls)
    await sleep(3000);
    assert.deepEqual(secrets(), [], 'lines of a root-only file reached the log through a foreign symlink');
    assert.deepEqual(nodeIps().filter((ip) => ip === viaLease.ip || ip === viaSyslog.ip), [], 'a root-only file was read through a foreign symlink');
    await waitFor('both links refused in the log', () => {
      const m = logMatches(logFile, /not read, waiting for a regular file/);
      return m.some((x) => x.includes(lab.leases) && /owned by uid 65534/.test(x)) && m.some((x) => x.includes(syslog) && /owned by uid 65534/.test(x));
    }, 20_000, 100);

    // the same links, owned by root (an admin's choice): followed, and the test sees it
    lchownSync(lab.leases, 0, 0);
    lchownSync(syslog, 0, 0);
    await waitFor('the leases and syslog nodes once root owns the links', () => {
      const ips = nodeIps();
      return ips.includes(viaLease.ip) && ips.includes(viaSyslog.ip);
    }, 30_000, 200);
    await waitFor('the bad-input samples in the log', () => secrets().length >= 2, 10_000, 100);
    process.kill(d.pid, 'SIGTERM');
    assert.ok(await exitsWithin(d, 5000), 'pxebootd did not exit within 5 s of SIGTERM');
  });
});
