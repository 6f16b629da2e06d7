// Endless or huge sources: a symlink to /dev/zero at a leases path and at a syslog path (read blindly,
// the leases file grows the daemon by gigabytes in seconds), a sparse 1 GiB dnsmasq leases file (larger
// than the whole-file limit) and a Kea CSV whose second line is 1 GiB long. Each is refused or skipped
// with its reason; RSS stays bounded; the daemon serves.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { client, makeLab, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd } from '../../../bench/lib/daemon.ts';
import { cli, exitsWithin, logMatches, peakRss } from './source-files.ts';

/** pxebootd idles at ~75 MB; reading /dev/zero passes this within a second or two */
const RSS_BOUND = 300 << 20;

describe('/dev/zero and oversized files as sources', () => {
  after(cleanupAll);

  test('symlinks to /dev/zero, a sparse 1 GiB leases file and a 1 GiB Kea line: refused or skipped, RSS bounded, status and provision answer', { timeout: 120_000 }, async () => {
    requireRoot();
    const lab = makeLab('devzero');
    const syslog = path.join(lab.dir, 'syslog');
    const sparse = path.join(lab.dir, 'big.leases');
    rmSync(lab.leases);
    symlinkSync('/dev/zero', lab.leases);
    symlinkSync('/dev/zero', syslog);
    writeFileSync(sparse, '');
    truncateSync(sparse, 1 << 30);
    // a Kea CSV is followed by offset, not read whole: its 1 GiB line is skipped, never buffered
    const kea = path.join(lab.dir, 'kea-leases4.csv');
    writeFileSync(kea, 'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n');
    truncateSync(kea, 1 << 30);
    const cfg = writeConfig(lab, {
      sources: [`  - { type: syslog, path: ${syslog}, from_start: true }`, `  - { type: dnsmasq-leases, path: ${sparse} }`, `  - { type: kea-leases, path: ${kea} }`],
    });
    const logFile = path.join(lab.dir, 'pxebootd.log');
    const d = await startPxebootd(cfg, lab.socket, logFile, [], [], 'info');
    const peak = await peakRss(d.pid, 4000, RSS_BOUND);
    assert.ok(peak < RSS_BOUND, `RSS reached ${(peak / 2 ** 20).toFixed(0)} MB reading /dev/zero or a 1 GiB file`);
    const st = await cli(['status', '-c', cfg]);
    assert.equal(st.code, 0, `status: ${st.timedOut ? 'timed out' : st.stderr}`);
    const c = client(99, 9);
    const pr = await cli(['provision', c.ip, '--mac', c.mac, '-c', cfg], 60_000);
    assert.equal(pr.code, 0, `provision: ${pr.timedOut ? 'timed out' : pr.stderr}`);
    await waitFor('the three refusals in the log', () => {
      const m = logMatches(logFile, /not read, waiting for a regular file/);
      return (
        m.some((x) => x.includes(lab.leases) && /character device/.test(x)) &&
        m.some((x) => x.includes(syslog) && /character device/.test(x)) &&
        m.some((x) => x.includes(sparse) && /larger than 64 MiB/.test(x))
      );
    }, 20_000, 100);
    await waitFor('the Kea line skipped', () => logMatches(logFile, /kea-leases.*line longer than 65536 bytes skipped/).length === 1, 30_000, 100);
    // still bounded after the retries (one a second) that followed
    const later = await peakRss(d.pid, 1000, RSS_BOUND);
    assert.ok(later < RSS_BOUND, `RSS reached ${(later / 2 ** 20).toFixed(0)} MB`);
    process.kill(d.pid, 'SIGTERM');
    assert.ok(await exitsWithin(d, 5000), 'pxebootd did not exit within 5 s of SIGTERM');
  });
});
