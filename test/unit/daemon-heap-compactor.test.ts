import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHeapCompactor } from '../../src/daemon/heap-compactor.ts';
import { silentLogger } from '../../src/log.ts';

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(o: { idle: boolean; grown: number; jobs: number; minGapMs?: number; rssGrown?: number }) {
  const state = { idle: o.idle, total: 40 * MB, rss: o.rssGrown === undefined ? undefined : 80 * MB };
  const calls: unknown[] = [];
  const c = startHeapCompactor({
    idle: () => state.idle,
    log: silentLogger(),
    checkMs: 10,
    minGapMs: o.minGapMs ?? 0,
    gc: (opts) => {
      calls.push(opts);
      state.total = 40 * MB;
      if (state.rss !== undefined) state.rss = 100 * MB;
    },
    // `used` counts garbage until a collection: only the growth of the committed heap matters
    heap: () => ({ total: state.total, used: state.total, rss: state.rss }),
  });
  state.total += o.grown;
  if (state.rss !== undefined) state.rss += o.rssGrown!;
  for (let i = 0; i < o.jobs; i++) c.noteJob();
  return { c, calls, state };
}

test('compacts once, memory-reducing, after a burst of jobs when idle with much free heap', async () => {
  const { c, calls } = setup({ idle: true, grown: 64 * MB, jobs: 300 });
  await sleep(80);
  c.stop();
  assert.deepEqual(calls, [{ type: 'major', flavor: 'last-resort' }]);
  assert.equal(c.runs(), 1);
});

test('RSS growth alone triggers it (freed pages V8 keeps pooled are outside the committed heap); a dry-run-sized growth does not', async () => {
  // measured, real 10,000-node burst: heap total +43 MB, RSS +170 MB
  const real = setup({ idle: true, grown: 43 * MB, rssGrown: 170 * MB, jobs: 10_000 });
  // dry-run burst: RSS +30-50 MB
  const dry = setup({ idle: true, grown: 45 * MB, rssGrown: 50 * MB, jobs: 10_000 });
  await sleep(80);
  real.c.stop();
  dry.c.stop();
  assert.equal(real.calls.length, 1);
  assert.equal(dry.calls.length, 0);
});

test('never compacts while work is queued or running', async () => {
  const { c, calls } = setup({ idle: false, grown: 64 * MB, jobs: 300 });
  await sleep(60);
  c.stop();
  assert.equal(calls.length, 0);
});

test('a few jobs (one client booting) or little heap growth never trigger it', async () => {
  const few = setup({ idle: true, grown: 64 * MB, jobs: 10 });
  const full = setup({ idle: true, grown: 8 * MB, jobs: 300 });
  // what a 10,000-node burst grows the heap by: left to V8 (a compaction costs a transient spike)
  const burst = setup({ idle: true, grown: 45 * MB, jobs: 10_000 });
  await sleep(60);
  few.c.stop();
  full.c.stop();
  burst.c.stop();
  assert.equal(few.calls.length, 0);
  assert.equal(full.calls.length, 0);
  assert.equal(burst.calls.length, 0);
});

test('the next burst needs its own jobs and the minimum gap', async () => {
  const { c, calls, state } = setup({ idle: true, grown: 64 * MB, jobs: 300, minGapMs: 10_000 });
  await sleep(60);
  state.total += 64 * MB;
  for (let i = 0; i < 300; i++) c.noteJob();
  await sleep(60);
  c.stop();
  assert.equal(calls.length, 1, 'second burst within minGapMs: no second compaction');
});

test('the real collector is found without --expose-gc and runs', async () => {
  // no injected gc: the module exposes V8's collector to a fresh context
  const c = startHeapCompactor({ idle: () => true, log: silentLogger(), checkMs: 10, minGapMs: 0, minJobs: 0, minGrowthBytes: 0 });
  await sleep(80);
  c.stop();
  assert.ok(c.runs() >= 1, `expected a compaction, ran ${c.runs()}`);
});
