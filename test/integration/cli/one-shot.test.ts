// provision/release with no daemon running a person's terminal: one human line per outcome, no
// pino JSON and no "will retry" (nothing retries in a one-shot run).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, startDaemon, waitFor } from '../../helpers/lab.ts';
import { CLI, cli, leaseLine, makeLab } from './cli-lab.ts';

after(cleanupAll);

describe('provision and release without a daemon', () => {
  test('a failing mount: exit 1, the result in one line, the reason once, no JSON log lines', async () => {
    const wrapper = path.join(makeLab().dir, 'failing-mount');
    writeFileSync(wrapper, '#!/bin/sh\necho "mount: injected fault" >&2\nexit 32\n');
    chmodSync(wrapper, 0o755);
    const lab = makeLab({ extra: `mount_method: command\ncommands: { mount: ${wrapper} }\n` });
    const r = await cli(['provision', '10.99.0.52', '--mac', '52:54:00:aa:00:52', '-c', lab.config]);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /^0A630034 10\.99\.0\.52: failed \(state failed, fsid \d+\): .*injected fault.*\n$/);
    assert.doesNotMatch(r.stderr, /\{"level"/);
    assert.doesNotMatch(r.stderr + r.stdout, /will retry/);
    for (const line of r.stderr.trim().split('\n')) assert.match(line, /^pxebootd: /, r.stderr);
  });
});

describe('run --dry-run, as the non-root demo shows it', () => {
  test('the plan is numbered steps, one per line, and the node is "planned", never "ready"', async (t) => {
    const lab = makeLab();
    writeFileSync(lab.leases, leaseLine('52:54:00:aa:00:62', '10.99.0.62'));
    const logFile = path.join(lab.dir, 'dry.log');
    // pretty output, as on a terminal: what the demo's user reads
    const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '--dry-run', '-c', lab.config], { logFile, env: { ...process.env, PXEBOOTD_LOG_FORMAT: 'pretty' } });
    t.after(() => d.stop());
    const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    await waitFor('node planned', () => log().includes('node 0A63003E planned (dry run: nothing was changed)'), 20_000);
    assert.match(log(), /dry run: plan for 0A63003E \(10\.99\.0\.62\):\n {2}1\. mkdir -p .*\n {2}2\. mount -t overlay overlay /);
    assert.doesNotMatch(log(), /node 0A63003E ready/);
  });
});
