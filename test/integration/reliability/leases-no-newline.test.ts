// A dnsmasq lease file whose last line has no newline (what a disk that fills during dnsmasq's
// in-place rewrite leaves: `printf '1900000000 52:54:00:bb:00:01 10.88.0.201 x *' > dnsmasq.leases`),
// then 5 MB of random bytes. The incremental parser once spun on such a file at 100% CPU forever:
// the control socket stopped answering and SIGTERM was ignored. The daemon must keep answering
// `status`, take the cut line once it has stayed cut (1 s), and stop within 5 s of SIGTERM.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { client, leaseLine, makeLab, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd } from '../../../bench/lib/daemon.ts';
import { cli, exitsWithin, logMatches } from './source-files.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `status --json` through the CLI with a deadline: a daemon that stopped answering fails here, not hangs. */
async function statusNodes(cfg: string): Promise<Array<{ ip: string; state: string }>> {
  const r = await cli(['status', '--json', '-c', cfg], 15_000);
  assert.equal(r.code, 0, `status: ${r.timedOut ? 'no answer within 15 s' : r.stderr}`);
  const v = JSON.parse(r.stdout) as { from: string; nodes: Array<{ ip: string; state: string }> };
  assert.equal(v.from, 'daemon', 'status was answered from the state file, not by the daemon');
  return v.nodes;
}

/** `status` keeps answering for `ms`, every 500 ms. */
async function keepsAnswering(cfg: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await statusNodes(cfg);
    await sleep(500);
  }
}

describe('a dnsmasq lease file cut mid-line, then random bytes', () => {
  after(cleanupAll);

  test('no newline at the end, then 5 MB of random bytes: status answers, the cut line is read, SIGTERM stops it within 5 s', { timeout: 180_000 }, async () => {
    requireRoot();
    const lab = makeLab('nonl');
    const cfg = writeConfig(lab);
    const logFile = path.join(lab.dir, 'pxebootd.log');
    const d = await startPxebootd(cfg, lab.socket, logFile, [], [], 'info');
    const c = client(99, 201);
    // the line, in this lab's subnet: no newline at the end, written in place as printf > file does
    writeFileSync(lab.leases, leaseLine(c, 1_900_000_000).slice(0, -1));
    await keepsAnswering(cfg, 3000);
    // a line that stays cut for a second is taken as it is
    await waitFor(`${c.ip} provisioned from the cut line`, async () => (await statusNodes(cfg)).some((n) => n.ip === c.ip && n.state === 'ready'), 60_000, 300);

    // a full disk or a bad copy: 5 MB of random bytes, rewritten in place twice (the second cut short)
    const junk = randomBytes(5 << 20);
    writeFileSync(lab.leases, junk);
    await keepsAnswering(cfg, 3000);
    writeFileSync(lab.leases, junk.subarray(0, junk.length - 1000));
    await keepsAnswering(cfg, 3000);
    // and a cut line after that garbage
    writeFileSync(lab.leases, leaseLine(client(99, 202), 1_900_000_000).slice(0, -1));
    await keepsAnswering(cfg, 2500);

    process.kill(d.pid, 'SIGTERM');
    assert.ok(await exitsWithin(d, 5000), 'pxebootd did not exit within 5 s of SIGTERM');
    // the garbage was reported, but not line by line: one read names at most 100 lines, the log at most 10 per source a minute
    const warned = logMatches(logFile, /^skipped bad input from dnsmasq-leases/);
    assert.ok(warned.length >= 1 && warned.length <= 10, `${warned.length} bad-input warnings:\n${warned.slice(0, 20).join('\n')}`);
  });
});
