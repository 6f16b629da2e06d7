// Rotation scenarios for file followers: a writer appends numbered lines the way syslog daemons do
// (O_APPEND fd), rotates the file underneath, and we count what the follower delivered: lines lost,
// lines duplicated, lines torn. Shared by follower.test.ts (our follower, asserted) and
// follower-compare.ts (ours vs @logdna/tail-file, printed) so the README numbers are reproducible.
import { closeSync, copyFileSync, ftruncateSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FollowerUnderTest {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type FollowerFactory = (path: string, onData: (b: Buffer) => void) => FollowerUnderTest;

export type Scenario = 'plain' | 'partial' | 'rename' | 'rename-slow' | 'copytruncate' | 'copytruncate-race' | 'delete-recreate';

export interface ScenarioResult {
  scenario: Scenario;
  written: number;
  received: number;
  lost: number;
  duplicated: number;
  torn: number;
  ms: number;
}

const PAD = ' pxebootd follower test line ...........................';

function line(n: number): string {
  return `L${n}${PAD}\n`;
}

/** Run `scenario` writing `total` lines into `file` (which must not exist yet) and count. */
export async function runScenario(scenario: Scenario, file: string, total: number, make: FollowerFactory): Promise<ScenarioResult> {
  const seen = new Uint8Array(total);
  let torn = 0;
  let rest = '';
  let received = 0;
  const onData = (b: Buffer) => {
    const text = rest + b.toString('latin1');
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      const l = text.slice(start, nl);
      start = nl + 1;
      const n = l.startsWith('L') ? Number(l.slice(1, l.indexOf(' '))) : NaN;
      if (!Number.isInteger(n) || n < 0 || n >= total || l.length !== line(n).length - 1) {
        torn++;
        continue;
      }
      if (seen[n]! < 255) seen[n]!++;
      received++;
    }
    rest = text.slice(start);
  };
  // the file exists (empty) before the follower starts, as a syslog file does
  let fd = openSync(file, 'a');
  const f = make(file, onData);
  await f.start();
  const t0 = performance.now();
  const batch = 1000;
  const rotations = 4;
  const rotateEvery = Math.max(batch, Math.floor(total / (rotations + 1 + 0.5)));
  let n = 0;
  let rot = 0;
  const caughtUp = async (upTo: number) => {
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      let all = true;
      for (let i = upTo - 1; i >= Math.max(0, upTo - batch); i--) if (!seen[i]) { all = false; break; }
      if (all) return;
      await sleep(5);
    }
  };
  while (n < total) {
    const end = Math.min(total, n + batch);
    if (scenario === 'partial') {
      // lines torn across many small writes, the split points anywhere
      let s = '';
      for (let i = n; i < end; i++) s += line(i);
      for (let i = 0; i < s.length; ) {
        const k = 1 + ((i * 7919) % 97);
        writeSync(fd, s.slice(i, i + k));
        i += k;
        if ((i & 0xfff) < 97) await new Promise((r) => setImmediate(r));
      }
    } else {
      let s = '';
      for (let i = n; i < end; i++) s += line(i);
      writeSync(fd, s);
    }
    n = end;
    await new Promise((r) => setImmediate(r));
    if (n < total && n >= (rot + 1) * rotateEvery && rot < rotations) {
      rot++;
      if (scenario === 'rename' || scenario === 'rename-slow') {
        // logrotate renames; the daemon keeps writing to the old fd until it is told to reopen
        renameSync(file, `${file}.${rot}`);
        for (let i = 0; i < 3 && n < total; i++) {
          const e2 = Math.min(total, n + 100);
          let s = '';
          for (let j = n; j < e2; j++) s += line(j);
          writeSync(fd, s);
          n = e2;
          await sleep(2);
        }
        closeSync(fd);
        fd = openSync(file, 'a');
        // real rotations are hours apart; here a file lives only ~50 ms ('rename') or ~600 ms
        // ('rename-slow', longer than both followers' poll interval) before it is rotated again
        await sleep(scenario === 'rename' ? 50 : 600);
      } else if (scenario === 'copytruncate-race') {
        // as logrotate really runs: copy and truncate right after a write, whether or not the
        // follower has read it yet (nothing is written between copy and truncate: that window is
        // unrecoverable for any reader)
        copyFileSync(file, `${file}.${rot}`);
        ftruncateSync(fd, 0);
        // the next rotation is hours away in reality; here 300 ms (two truncations before the
        // follower looks once would leave the middle copy unknown to it)
        await sleep(300);
      } else if (scenario === 'copytruncate') {
        // logrotate copytruncate: copy, then truncate in place; the writer's O_APPEND fd goes on at 0.
        // Lines written between copy and truncate would be lost by any reader, so the writer pauses
        // there; then it writes a burst larger than the old size before the follower can look.
        await caughtUp(n);
        copyFileSync(file, `${file}.${rot}`);
        ftruncateSync(fd, 0);
        let s = '';
        const e2 = Math.min(total, n + 3 * batch);
        for (let j = n; j < e2; j++) s += line(j);
        writeSync(fd, s);
        n = e2;
      } else if (scenario === 'delete-recreate') {
        await caughtUp(n);
        closeSync(fd);
        unlinkSync(file);
        await sleep(50);
        fd = openSync(file, 'a');
      }
    }
  }
  closeSync(fd);
  // let the follower finish: until everything arrived, or nothing new for 2.5 s
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() - stableSince < 2500) {
    if (received >= total && seen.every((c) => c > 0)) break;
    if (received !== last) {
      last = received;
      stableSince = Date.now();
    }
    await sleep(20);
  }
  const ms = performance.now() - t0;
  await f.stop();
  let lost = 0;
  let duplicated = 0;
  for (let i = 0; i < total; i++) {
    if (seen[i] === 0) lost++;
    else if (seen[i]! > 1) duplicated += seen[i]! - 1;
  }
  return { scenario, written: total, received, lost, duplicated, torn, ms: Math.round(ms) };
}
