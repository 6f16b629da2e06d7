// Each command's own --help, and usage mistakes in the user's words, run through the real CLI.
// `hook --help` must never reach the daemon: a listening socket of the test's own proves it.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';
import { cli } from './cli-lab.ts';
import { COMMAND_USAGE } from '../../../src/cli/usage.ts';

after(cleanupAll);

describe('per-command usage', () => {
  for (const cmd of Object.keys(COMMAND_USAGE)) {
    test(`${cmd} --help prints ${cmd}'s own usage, with an example`, async () => {
      const r = await cli([cmd, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`Usage: pxebootd ${cmd} `), r.stdout);
      assert.match(r.stdout, /Examples?( \(dnsmasq\.conf\))?:\n/);
      assert.doesNotMatch(r.stdout, /^Commands:/m);
    });
  }

  test('hook --help is answered locally, never sent to the daemon', async (t) => {
    const dir = tempDir('pxe-usage-hook-');
    const sock = path.join(dir, 'control.sock');
    let connections = 0;
    const srv = createServer((c) => {
      connections++;
      c.destroy();
    });
    await new Promise<void>((res) => srv.listen(sock, res));
    t.after(() => new Promise<void>((res) => srv.close(() => res())));
    const cfg = path.join(dir, 'c.yaml');
    writeFileSync(cfg, `control_socket: ${sock}\n`);
    const r = await cli(['hook', '--help', '-c', cfg]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: pxebootd hook /);
    // the control case: a real event on the same config does connect
    await cli(['hook', 'add', '52:54:00:00:00:01', '10.0.0.1', '-c', cfg]);
    assert.equal(connections, 1);
  });

  test('an unknown option names itself and the command, then shows that command\'s usage; exit 2', async () => {
    const r = await cli(['check', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pxebootd: unknown option --bogus for check\n\nUsage: pxebootd check /);
    assert.doesNotMatch(r.stderr, /To specify a positional argument/);
  });

  test('a missing option value and a wrong argument count are said plainly', async () => {
    const a = await cli(['import-legacy', 'x.cfg', '--cidr']);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /option --cidr of import-legacy needs a value/);
    const b = await cli(['release']);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /release: expected <ip\|mac> or --all, found none\n\nUsage: pxebootd release /);
    const c = await cli(['hook']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /hook: expected an action/);
  });
});
