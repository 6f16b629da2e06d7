// Attacks on the test run itself: a test file that hangs must fail, never stall the whole run.
// Runs `node --test` with exactly the flags of package.json's "test" script over scratch files that
//   - pass but leave an interval running (the file never exits by itself: the watchdog ends it, and
//     the file fails, as a leaked handle should; --test-force-exit is not used because under load it
//     ended files before all their tests had run, and the run still said pass),
//   - hang inside a test (cut by the per-test --test-timeout; shortened here),
//   - pass but leave a thread-pool read of a FIFO blocked (process.exit() then waits for that
//     worker forever: only the per-file watchdog, test/helpers/file-watchdog.ts, ends it),
//   - hang at the top level, outside any test (likewise only the watchdog),
// and checks that the run ends, with those files failed and the others passed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, tempDir } from '../../helpers/lab.ts';
import { REPO } from '../cli/cli-lab.ts';

after(cleanupAll);

/** The node flags the "test" script puts before its file globs (everything from `--import` to the first quoted glob). */
function testScriptFlags(): string[] {
  const script = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.test!;
  const run = script.slice(script.lastIndexOf('node ') + 5);
  return run
    .split(/\s+/)
    .filter((w) => w.startsWith('-') || !/["'*]/.test(w))
    .filter((w, i, all) => w.startsWith('-') || all[i - 1] === '--import')
    .filter((w) => !w.startsWith('--test-reporter')); // this test reads TAP
}

test('a hung test file fails instead of hanging the run (package.json test flags)', async () => {
  const flags = testScriptFlags();
  for (const f of ['--test', '--import']) assert.ok(flags.includes(f), `package.json "test" runs node with ${f}: ${flags.join(' ')}`);
  // measured beside stress-ng: with --test-force-exit a file's process ended while describe blocks
  // still had tests to run, and those tests were neither run nor reported as failed
  assert.ok(!flags.includes('--test-force-exit'), `package.json "test" must not use --test-force-exit: ${flags.join(' ')}`);
  assert.ok(flags.some((f) => /^--test-timeout=\d+$/.test(f)), `package.json "test" sets --test-timeout: ${flags.join(' ')}`);

  const dir = tempDir('pxe-runner-bounds-');
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  onCleanup('unblock fifo', () => {
    try {
      execFileSync('timeout', ['1', 'sh', '-c', `exec 3>'${fifo}'`], { stdio: 'ignore' });
    } catch {
      /* no reader left */
    }
  });
  const files: Record<string, string> = {
    'ok.test.mjs': `import { test } from 'node:test';\ntest('ok', () => {});\n`,
    'leaves-interval.test.mjs': `import { test } from 'node:test';\ntest('passes, leaves an interval', () => { setInterval(() => {}, 1000); });\n`,
    'hangs-in-test.test.mjs': `import { test } from 'node:test';\ntest('never ends', async () => { setInterval(() => {}, 1000); await new Promise(() => {}); });\n`,
    'blocks-worker.test.mjs': `import { test } from 'node:test';\nimport { readFile } from 'node:fs';\ntest('passes, leaves a FIFO read', () => { readFile(${JSON.stringify(fifo)}, () => {}); });\n`,
    'hangs-top-level.test.mjs': `setInterval(() => {}, 1000);\nawait new Promise(() => {});\n`,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);

  const env: NodeJS.ProcessEnv = { ...process.env, PXEBOOTD_TEST_FILE_TIMEOUT_S: '4' };
  delete env.NODE_TEST_CONTEXT; // we run inside node --test ourselves: the nested run must be a runner, not a file
  const args = [...flags, '--test-timeout=3000', '--test-reporter=tap', ...Object.keys(files).map((f) => path.join(dir, f))];
  const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid!;
  onCleanup(`nested node --test ${pid}`, () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* ended */
    }
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const t0 = Date.now();
  const code = await Promise.race([
    new Promise<number | null>((r) => child.on('close', (c) => r(c))),
    new Promise<'hung'>((r) => setTimeout(() => r('hung'), 120_000)),
  ]);
  const ms = Date.now() - t0;
  console.log(`nested run: exit ${String(code)} after ${ms} ms`);
  assert.notEqual(code, 'hung', `the run did not end within 120 s:\n${out.slice(-3000)}`);
  assert.equal(code, 1, out.slice(-3000));
  const okLine = (name: string) => new RegExp(`^ok \\d+ - ${name.replace(/[.]/g, '\\.')}`, 'm');
  const notOk = (name: string) => new RegExp(`^not ok \\d+ - .*${name.replace(/[.]/g, '\\.')}`, 'm');
  assert.match(out, /^ok \d+ - ok$/m);
  assert.match(out, notOk('leaves-interval.test.mjs'));
  assert.match(out, /file-watchdog: .*leaves-interval\.test\.mjs still running after 4 s/);
  assert.match(out, /^not ok \d+ - never ends$/m);
  assert.match(out, /test timed out after 3000ms/);
  assert.match(out, notOk('blocks-worker.test.mjs'));
  assert.match(out, notOk('hangs-top-level.test.mjs'));
  assert.match(out, /file-watchdog: .*blocks-worker\.test\.mjs still running after 4 s/);
  assert.doesNotMatch(out, okLine('blocks-worker.test.mjs'));
});
