// The syslog watcher glue: file follower -> line processor -> sink, across a rename rotation with a
// torn last line, and a file that only appears after start.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSyslogWatcher } from '../../../../watchers/logs/syslog-watcher.ts';
import { collectingContext } from './test-context.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'pxc-syslogw-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const line = (n: number) => `2026-11-22T03:45:42.000000+00:00 vm in.tftpd[${n}]: RRQ from 10.99.0.${n} filename pxelinux.cfg/0A6300${n.toString(16).toUpperCase().padStart(2, '0')}\n`;

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(20);
}

test('events from new lines only, across rename rotation; a torn line at rotation is reported, not parsed', async () => {
  const file = path.join(dir, 'syslog');
  writeFileSync(file, line(1)); // before start: not read (from_start false)
  const c = collectingContext({ type: 'syslog', path: file, from_start: false, programs: [] });
  const w = createSyslogWatcher(c.ctx);
  await w.start();
  assert.equal(w.name, `syslog:${file}`);
  appendFileSync(file, line(2) + line(3).slice(0, 30)); // torn: the daemon died mid-line
  await until(() => c.events.length === 1);
  renameSync(file, `${file}.1`);
  writeFileSync(file, line(4));
  await until(() => c.events.length === 2, 6000);
  await w.stop();
  assert.deepEqual(c.events.map((e) => e.ip), ['10.99.0.2', '10.99.0.4']);
  assert.equal(c.bad.length, 1);
  assert.match(c.bad[0]!.reason, /incomplete last line dropped \(rotated\)/);
});

test('a file that appears after start is read from its beginning', async () => {
  const file = path.join(dir, 'later');
  const c = collectingContext({ type: 'syslog', path: file, from_start: false, programs: [] });
  const w = createSyslogWatcher(c.ctx);
  await w.start();
  await sleep(50);
  writeFileSync(file, line(5) + line(6));
  await until(() => c.events.length === 2);
  await w.stop();
  assert.deepEqual(c.events.map((e) => e.ip), ['10.99.0.5', '10.99.0.6']);
});
