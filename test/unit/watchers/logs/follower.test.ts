import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdtempSync, renameSync, rmSync, truncateSync, utimesSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createFileFollower } from '../../../../watchers/logs/file-follower.ts';
import { runScenario, type Scenario } from './follower-scenarios.ts';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'pxc-follower-'));
  dirs.push(d);
  return d;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('our follower loses and duplicates nothing', () => {
  const cases: Array<[Scenario, number]> = [
    ['plain', 300_000],
    ['partial', 50_000],
    ['rename', 200_000],
    ['copytruncate', 200_000],
    ['copytruncate-race', 200_000],
    ['delete-recreate', 100_000],
  ];
  for (const [scenario, n] of cases) {
    test(`${scenario}: ${n} lines`, async () => {
      const resets: string[] = [];
      const r = await runScenario(scenario, path.join(dir(), 'syslog'), n, (p, onData) =>
        createFileFollower({ path: p, fromStart: false, onData, onReset: (w) => resets.push(w), idleSwitchMs: 300 }),
      );
      assert.deepEqual({ lost: r.lost, duplicated: r.duplicated, torn: r.torn }, { lost: 0, duplicated: 0, torn: 0 });
      assert.equal(r.received, n);
      if (scenario === 'rename' || scenario === 'delete-recreate') assert.ok(resets.includes('rotated'), resets.join());
      if (scenario.startsWith('copytruncate')) assert.ok(resets.includes('truncated'), resets.join());
    });
  }
});

async function collect(file: string, fromStart: boolean) {
  const chunks: Buffer[] = [];
  const f = createFileFollower({ path: file, fromStart, onData: (b) => chunks.push(b), onReset: () => {}, pollMs: 50, idleSwitchMs: 200 });
  await f.start();
  return { f, text: () => Buffer.concat(chunks).toString() };
}

describe('start position and missing files', () => {
  test('starts at the end unless from_start', async () => {
    const file = path.join(dir(), 'log');
    writeFileSync(file, 'old line\n');
    const a = await collect(file, false);
    const b = await collect(file, true);
    appendFileSync(file, 'new line\n');
    await a.f.poll();
    await b.f.poll();
    assert.equal(a.text(), 'new line\n');
    assert.equal(b.text(), 'old line\nnew line\n');
    await a.f.stop();
    await b.f.stop();
  });
  test('a file missing at start is read from its beginning once it appears', async () => {
    const file = path.join(dir(), 'later.log');
    const a = await collect(file, false);
    await sleep(60);
    writeFileSync(file, 'first\n');
    for (let i = 0; i < 50 && a.text() === ''; i++) await sleep(20);
    assert.equal(a.text(), 'first\n');
    await a.f.stop();
  });
  test('a directory missing at start is fine (poll only)', async () => {
    const d = path.join(dir(), 'sub');
    const a = await collect(path.join(d, 'x.log'), false);
    await (await import('node:fs/promises')).mkdir(d);
    writeFileSync(path.join(d, 'x.log'), 'hello\n');
    for (let i = 0; i < 50 && a.text() === ''; i++) await sleep(20);
    assert.equal(a.text(), 'hello\n');
    await a.f.stop();
  });
  test('a deleted file that comes back is re-opened', async () => {
    const file = path.join(dir(), 'gone.log');
    writeFileSync(file, '');
    const a = await collect(file, false);
    appendFileSync(file, 'one\n');
    await a.f.poll();
    unlinkSync(file);
    await sleep(300);
    writeFileSync(file, 'two\n');
    for (let i = 0; i < 100 && !a.text().includes('two'); i++) await sleep(20);
    assert.equal(a.text(), 'one\ntwo\n');
    await a.f.stop();
  });
  test('copytruncate twice before the follower looks: both copies are read, in order', async () => {
    const d = dir();
    const file = path.join(d, 'syslog');
    writeFileSync(file, '');
    const a = await collect(file, false);
    appendFileSync(file, 'A\n');
    await a.f.poll();
    // all of this happens before the follower runs again (synchronous), as logrotate would do it
    // twice: copy to .1 + truncate, then .1 -> .2, copy to .1 + truncate
    appendFileSync(file, 'B\n');
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    appendFileSync(file, 'C\n');
    renameSync(`${file}.1`, `${file}.2`);
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    appendFileSync(file, 'D\n');
    const now = Date.now() / 1000;
    utimesSync(`${file}.2`, now + 1, now + 1); // distinct mtimes, both after the follower started
    utimesSync(`${file}.1`, now + 2, now + 2);
    await a.f.poll();
    assert.equal(a.text(), 'A\nB\nC\nD\n');
    await a.f.stop();
  });
  test('stop() releases everything: nothing is delivered afterwards', async () => {
    const file = path.join(dir(), 's.log');
    writeFileSync(file, '');
    const a = await collect(file, false);
    await a.f.stop();
    appendFileSync(file, 'late\n');
    await sleep(150);
    assert.equal(a.text(), '');
  });
});

describe('copytruncate before the first read', () => {
  test('an era copied away and truncated before we read anything comes first, and no line is split', async () => {
    const file = path.join(dir(), 'syslog');
    writeFileSync(file, '');
    const a = await collect(file, false);
    // all synchronous, so none of it can interleave with the follower's first pass
    const era1 = Array.from({ length: 50 }, (_, i) => `era1 line ${i}\n`).join('');
    const era2 = Array.from({ length: 50 }, (_, i) => `era2 line ${i}\n`).join('');
    appendFileSync(file, era1);
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    appendFileSync(file, era2.slice(0, 100)); // ends mid-line
    await a.f.poll();
    appendFileSync(file, era2.slice(100));
    // the next copytruncate: the rest of era 2 must complete its half-read line
    copyFileSync(file, `${file}.2`);
    truncateSync(file, 0);
    appendFileSync(file, 'era3 line 0\n');
    await sleep(20);
    await a.f.poll();
    await a.f.poll();
    assert.equal(a.text(), era1 + era2 + 'era3 line 0\n');
    await a.f.stop();
  });
});
