import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { notifyReady } from '../../src/sd-notify.ts';
import { createFakeRunner } from '../helpers/fake-runner.ts';

function logger() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) }) };
}

test('notifyReady: nothing without NOTIFY_SOCKET (not started by systemd with Type=notify)', async () => {
  const runner = createFakeRunner();
  assert.equal(await notifyReady(runner, logger().log, {}), false);
  assert.deepEqual(runner.calls, []);
});

test('notifyReady: runs systemd-notify --ready under Type=notify, also in dry-run mode', async () => {
  const runner = createFakeRunner(() => {}, true);
  assert.equal(await notifyReady(runner, logger().log, { NOTIFY_SOCKET: '/run/systemd/notify' }), true);
  assert.deepEqual(runner.calls.map((c) => c.argv.slice(0, 2)), [['systemd-notify', '--ready']]);
  assert.notEqual(runner.calls[0]!.opts.mutating, true);
});

test('notifyReady: a failing systemd-notify is one warning, never a crash', async () => {
  const { lines, log } = logger();
  const runner = createFakeRunner(() => ({ exitCode: 1, stderr: 'No such file' }));
  assert.equal(await notifyReady(runner, log, { NOTIFY_SOCKET: '/run/systemd/notify' }), false);
  assert.equal(lines.filter((l) => l.level === 40).length, 1);
  assert.match(String(lines[0]!.msg), /systemd-notify --ready failed/);
});
