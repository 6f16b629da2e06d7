// provision/release with no daemon running a person's terminal: one human line per outcome, no
// pino JSON and no "will retry" (nothing retries in a one-shot run).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll } from '../../helpers/lab.ts';
import { cli, makeLab } from './cli-lab.ts';

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
