// The config path as a FIFO or /dev/zero: read blindly, `check` hangs (FIFO) or eats memory
// (/dev/zero), and a SIGHUP reload blocks that reload and every later one. pxebootd must refuse at
// once with the reason, keep running on the last good config, and reload again once the file is fixed.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, tempDir, waitFor } from '../../helpers/lab.ts';
import { makeLab, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd } from '../../../bench/lib/daemon.ts';
import { cli, exitsWithin, logMatches, peakRss, replaceWithFifo, replaceWithFile } from './source-files.ts';

const RSS_BOUND = 300 << 20;

describe('the config path is not a regular file', () => {
  after(cleanupAll);

  test('`pxebootd check` on a FIFO, /dev/zero and a symlink to it fails fast with the reason', { timeout: 120_000 }, async () => {
    requireRoot();
    const dir = tempDir('pxg-cfgfifo-');
    const fifo = path.join(dir, 'fifo.yaml');
    replaceWithFifo(fifo);
    const link = path.join(dir, 'zero.yaml');
    symlinkSync('/dev/zero', link);
    for (const [file, why] of [[fifo, /FIFO/], ['/dev/zero', /character device/], [link, /character device/]] as const) {
      const r = await cli(['check', '-c', file], 20_000);
      assert.ok(!r.timedOut, `check -c ${file} hung`);
      assert.notEqual(r.code, 0, `check -c ${file} passed`);
      assert.match(r.stdout + r.stderr, why, `check -c ${file}: ${r.stdout}${r.stderr}`);
    }
  });

  test('SIGHUP with the config a FIFO, then /dev/zero: each reload refused at once; the fixed file reloads', { timeout: 120_000 }, async () => {
    requireRoot();
    const lab = makeLab('cfgfifo');
    const cfg = writeConfig(lab);
    const good = readFileSync(cfg, 'utf8');
    const logFile = path.join(lab.dir, 'pxebootd.log');
    const d = await startPxebootd(cfg, lab.socket, logFile, [], [], 'info');
    const failed = () => logMatches(logFile, /^reload failed; keeping the running config$/).length;

    replaceWithFifo(cfg);
    process.kill(d.pid, 'SIGHUP');
    await waitFor('the FIFO reload refused', () => failed() === 1, 20_000, 100);
    assert.ok(logMatches(logFile, /^reload: .*FIFO/).length >= 1);

    rmSync(cfg);
    symlinkSync('/dev/zero', cfg);
    process.kill(d.pid, 'SIGHUP');
    await waitFor('the /dev/zero reload refused', () => failed() === 2, 20_000, 100);
    assert.ok(logMatches(logFile, /^reload: .*character device/).length >= 1);
    const peak = await peakRss(d.pid, 1000, RSS_BOUND);
    assert.ok(peak < RSS_BOUND, `RSS reached ${(peak / 2 ** 20).toFixed(0)} MB`);

    replaceWithFile(cfg, good);
    process.kill(d.pid, 'SIGHUP');
    await waitFor('the fixed config reloaded', () => logMatches(logFile, /^config reloaded/).length === 1, 20_000, 100);
    const st = await cli(['status', '-c', cfg]);
    assert.equal(st.code, 0, `status: ${st.timedOut ? 'timed out' : st.stderr}`);
    process.kill(d.pid, 'SIGTERM');
    assert.ok(await exitsWithin(d, 5000), 'pxebootd did not exit within 5 s of SIGTERM');
  });
});
