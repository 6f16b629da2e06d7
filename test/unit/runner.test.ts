import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRunner, formatCommand, shellQuote } from '../../src/runner.ts';
import { createLogger } from '../../src/log.ts';
import { RunError } from '../../src/errors.ts';
import { execFileSync } from 'node:child_process';

function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }, pretty: false });
  return { log, lines };
}

describe('shellQuote / formatCommand', () => {
  test('safe words stay bare, everything else is single-quoted', () => {
    assert.equal(shellQuote('exportfs'), 'exportfs');
    assert.equal(shellQuote('-o'), '-o');
    assert.equal(shellQuote('rw,no_root_squash,fsid=10000'), 'rw,no_root_squash,fsid=10000');
    assert.equal(shellQuote('10.0.0.5:/netboot/node/0A000005'), '10.0.0.5:/netboot/node/0A000005');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote('a b'), "'a b'");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(shellQuote('$(reboot)'), "'$(reboot)'");
    assert.equal(shellQuote('x\ny'), "'x\ny'");
  });

  test('the logged command line pastes back into sh as the same argv', () => {
    const argv = ['printf', '%s|', 'plain', 'a b', "it's", '$(echo pwned)', '`id`', 'semi;colon', '*', '~', 'tab\there', ''];
    const out = execFileSync('sh', ['-c', formatCommand(argv)], { encoding: 'utf8' });
    assert.equal(out, argv.slice(2).map((a) => `${a}|`).join(''));
  });
});

describe('createRunner', () => {
  test('runs argv without a shell, returns stdout/stderr/exit code and logs the command at debug', async () => {
    const { log, lines } = captureLogger();
    const r = createRunner(log);
    const res = await r.run(['sh', '-c', 'echo out; echo err >&2', 'ignored-arg;rm -rf /']);
    assert.equal(res.exitCode, 0);
    assert.equal(res.stdout, 'out\n');
    assert.equal(res.stderr, 'err\n');
    assert.equal(res.skipped, false);
    assert.ok(res.durationMs >= 0);
    assert.equal(res.command, `sh -c 'echo out; echo err >&2' 'ignored-arg;rm -rf /'`);
    assert.ok(lines.some((l) => l.level === 20 && l.cmd === res.command && typeof l.durationMs === 'number'));
  });

  test('stdin input is passed through', async () => {
    const r = createRunner(captureLogger().log);
    assert.equal((await r.run(['cat'], { input: 'line1\nline2' })).stdout, 'line1\nline2');
  });

  test('a non-zero exit throws RunError with command, exit code and stderr, and is logged as a warning', async () => {
    const { log, lines } = captureLogger();
    const r = createRunner(log);
    await assert.rejects(r.run(['sh', '-c', 'echo "bad export" >&2; exit 3']), (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.equal(e.code, 'RUN');
      assert.equal(e.exitCode, 3);
      assert.equal(e.command, `sh -c 'echo "bad export" >&2; exit 3'`);
      assert.match(e.stderr, /bad export/);
      assert.equal(e.message, `sh -c 'echo "bad export" >&2; exit 3' failed (exit 3): bad export`);
      return true;
    });
    assert.ok(lines.some((l) => l.level === 40 && l.exitCode === 3));
  });

  test('allowFailure returns the failed result instead of throwing', async () => {
    const r = createRunner(captureLogger().log);
    const res = await r.run(['sh', '-c', 'exit 32'], { allowFailure: true });
    assert.equal(res.exitCode, 32);
  });

  test('a missing program says why (spawn ENOENT) instead of a bare "failed"', async () => {
    const r = createRunner(captureLogger().log);
    await assert.rejects(r.run(['/nonexistent/pxa-tool', 'x']), (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.equal(e.exitCode, undefined);
      assert.match(e.message, /^\/nonexistent\/pxa-tool x failed: .*spawn \/nonexistent\/pxa-tool ENOENT/);
      return true;
    });
    const res = await r.run(['/nonexistent/pxa-tool'], { allowFailure: true });
    assert.equal(res.exitCode, -1);
  });

  test('a timeout kills the command and says so', async () => {
    const r = createRunner(captureLogger().log);
    const t0 = Date.now();
    await assert.rejects(r.run(['sleep', '10'], { timeoutMs: 200 }), (e: unknown) => e instanceof RunError && /timed out after 200 ms/.test(e.message));
    assert.ok(Date.now() - t0 < 5000);
  });

  test('dry-run skips mutating commands (logged) but still runs read-only ones', async () => {
    const { log, lines } = captureLogger();
    const r = createRunner(log, { dryRun: true });
    assert.equal(r.dryRun, true);
    const skipped = await r.run(['sh', '-c', 'exit 1'], { mutating: true });
    assert.deepEqual(skipped, { command: `sh -c 'exit 1'`, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: true });
    assert.ok(lines.some((l) => l.dryRun === true && l.msg === `would run: sh -c 'exit 1'`));
    const ran = await r.run(['echo', 'hi']);
    assert.equal(ran.stdout, 'hi\n');
  });

  test('stats count runs and failures per tool basename', async () => {
    const r = createRunner(captureLogger().log);
    await r.run(['/bin/true']);
    await r.run(['true']);
    await r.run(['false'], { allowFailure: true });
    assert.deepEqual(r.stats().get('true'), { runs: 2, failures: 0 });
    assert.deepEqual(r.stats().get('false'), { runs: 1, failures: 1 });
  });

  test('an empty argv is a programming error', async () => {
    const r = createRunner(captureLogger().log);
    await assert.rejects(r.run([]), /empty argv/);
    assert.throws(() => r.spawn([]), /empty argv/);
  });

  test('spawn starts a long-running child the caller owns', async () => {
    const r = createRunner(captureLogger().log);
    const child = r.spawn(['sh', '-c', 'echo started; exec sleep 10']);
    const first = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
    assert.equal(first, 'started\n');
    child.kill('SIGTERM');
    const res = await child;
    assert.equal(res.signal, 'SIGTERM');
  });
});

describe('createRunner().call: in-process system calls', () => {
  const EQUIV = ['mount', '-t', 'overlay', 'overlay', '-o', 'lowerdir=/a,upperdir=/b,workdir=/c', '/n/x'];

  test('runs fn, logs the equivalent command line at debug and counts it under the tool', async () => {
    const { log, lines } = captureLogger();
    const r = createRunner(log);
    let ran = 0;
    const res = await r.call('mount', EQUIV, async () => void ran++, { mutating: true });
    assert.equal(ran, 1);
    assert.equal(res.exitCode, 0);
    assert.equal(res.command, formatCommand(EQUIV));
    assert.deepEqual(r.stats().get('mount'), { runs: 1, failures: 0 });
    assert.ok(lines.some((l) => l.level === 20 && l.cmd === res.command && l.syscall === 'mount'));
  });

  test('a rejection becomes a RunError carrying the errno message, and counts as a failure', async () => {
    const { log, lines } = captureLogger();
    const r = createRunner(log);
    const boom = Object.assign(new Error('mount /n/x: No such file or directory'), { code: 'ENOENT' });
    await assert.rejects(r.call('mount', EQUIV, () => Promise.reject(boom)), (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.equal(e.command, formatCommand(EQUIV));
      assert.equal(e.stderr, boom.message);
      assert.equal(e.cause, boom);
      return true;
    });
    assert.deepEqual(r.stats().get('mount'), { runs: 1, failures: 1 });
    assert.ok(lines.some((l) => l.level === 40 && String(l.msg).includes('No such file or directory')));
  });

  test('allowFailure: exit code 1 and the message as stderr', async () => {
    const r = createRunner(captureLogger().log);
    const res = await r.call('umount', ['umount', '/n/x'], () => Promise.reject(new Error('umount2 /n/x: Device or resource busy')), { allowFailure: true });
    assert.equal(res.exitCode, 1);
    assert.match(res.stderr, /busy/);
  });

  test('dry-run: a mutating call is logged as "would run" and never made', async () => {
    const { log, lines } = captureLogger();
    const r = createRunner(log, { dryRun: true });
    let ran = 0;
    const res = await r.call('mount', EQUIV, async () => void ran++, { mutating: true });
    assert.equal(ran, 0);
    assert.equal(res.skipped, true);
    assert.ok(lines.some((l) => l.dryRun === true && l.msg === `would run: ${formatCommand(EQUIV)}`));
  });
});

describe('runner: live children', () => {
  test('children() lists what run() and spawn() started until it exits; killChildren() ends them all', async () => {
    const r = createRunner(createLogger({ level: 'silent' }));
    const long = r.spawn(['sleep', '60']);
    const short = r.run(['sleep', '60'], { allowFailure: true, timeoutMs: 120_000 });
    const kids = r.children();
    assert.deepEqual(kids.map((c) => c.command).sort(), ['sleep 60', 'sleep 60']);
    for (const c of kids) assert.ok(Number.isInteger(c.pid) && c.pid > 0);
    assert.equal(r.killChildren('SIGKILL'), 2);
    const [a, b] = await Promise.all([long, short]);
    assert.equal(a.signal, 'SIGKILL');
    assert.equal(b.exitCode, -1);
    for (const c of kids) assert.throws(() => process.kill(c.pid, 0), /ESRCH/);
    assert.deepEqual(r.children(), []);
    // a command that cannot start leaves nothing behind
    await r.run(['/nonexistent/pxc-tool'], { allowFailure: true });
    assert.deepEqual(r.children(), []);
  });
});
