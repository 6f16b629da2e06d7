// A flood of bad input through a real source must not flood the log: 20,000 lines from a trusted
// program that each fail to parse (appended to a syslog file the daemon follows) once gave one warning
// line each. Per source at most BAD_LINES_PER_WINDOW warnings a window, and the source keeps working.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { client, makeLab, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd } from '../../../bench/lib/daemon.ts';
import { BAD_LINES_PER_WINDOW } from '../../../src/daemon/bad-input-log.ts';
import { cli, dhcpAckLine, exitsWithin, logMatches } from './source-files.ts';

async function ready(cfg: string, ip: string): Promise<boolean> {
  const r = await cli(['status', '--json', '-c', cfg], 15_000);
  assert.equal(r.code, 0, `status: ${r.timedOut ? 'no answer within 15 s' : r.stderr}`);
  return (JSON.parse(r.stdout) as { nodes: Array<{ ip: string; state: string }> }).nodes.some((n) => n.ip === ip && n.state === 'ready');
}

describe('a flood of bad input', () => {
  after(cleanupAll);

  test(`20,000 bad syslog lines give at most ${BAD_LINES_PER_WINDOW} warnings, and the lines after them still count`, { timeout: 180_000 }, async () => {
    requireRoot();
    const lab = makeLab('badflood');
    const syslog = path.join(lab.dir, 'syslog');
    writeFileSync(syslog, '');
    const cfg = writeConfig(lab, { sources: [`  - { type: syslog, path: ${syslog} }`] });
    const logFile = path.join(lab.dir, 'pxebootd.log');
    const d = await startPxebootd(cfg, lab.socket, logFile);
    // the watcher follows the file: a first good line becomes a node
    const first = client(99, 11);
    appendFileSync(syslog, dhcpAckLine(first.ip, first.mac, first.hostname));
    await waitFor(`${first.ip} ready`, () => ready(cfg, first.ip), 60_000, 300);

    const garbage: string[] = [];
    for (let i = 0; i < 20_000; i++) garbage.push(`Nov 22 10:00:01 boot dnsmasq-dhcp[812]: DHCPACK(br0) 10.99.${i}.999 52:54:00:aa:bb:cc junk\n`);
    for (let i = 0; i < garbage.length; i += 2000) appendFileSync(syslog, garbage.slice(i, i + 2000).join(''));
    const last = client(99, 12);
    appendFileSync(syslog, dhcpAckLine(last.ip, last.mac, last.hostname));
    await waitFor(`${last.ip} ready (every garbage line read)`, () => ready(cfg, last.ip), 60_000, 300);

    process.kill(d.pid, 'SIGTERM');
    assert.ok(await exitsWithin(d, 5000), 'pxebootd did not exit within 5 s of SIGTERM');
    const warned = logMatches(logFile, /^skipped bad input from syslog:/);
    assert.ok(warned.length >= 1 && warned.length <= BAD_LINES_PER_WINDOW, `${warned.length} bad-input warnings for 20,000 bad lines`);
    assert.match(warned[0]!, /is not an IPv4 address/);
  });
});
