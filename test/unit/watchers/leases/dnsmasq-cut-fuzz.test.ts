// A dnsmasq lease file cut at every byte offset (what a full disk during dnsmasq's in-place rewrite
// leaves), with random bytes appended or inserted, and 5 MB of random bytes: the incremental updater
// must agree with a full parse at every step, and every step must end within STEP_LIMIT_MS. The steps
// run in a worker thread; a step that overruns (a loop that spins) terminates the worker and fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { runCutSteps, type StepShared } from './dnsmasq-cut-steps.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/leases');
/** a step takes a few ms (the 5 MB ones ~100 ms); the margin is for a loaded machine */
const STEP_LIMIT_MS = 3000;

test('dnsmasq incremental parser: every cut, random tail and 5 MB of garbage agrees with a full parse, each step bounded', { timeout: 300_000 }, async () => {
  const names: string[] = [];
  const shared: StepShared = { ints: new Int32Array(new SharedArrayBuffer(8)), times: new Float64Array(new SharedArrayBuffer(8)) };
  Atomics.store(shared.ints, 0, -1);
  const worker = new Worker(new URL('./dnsmasq-cut-steps.ts', import.meta.url), { workerData: { shared, fixtureDir: FIX } });
  let watchdog: NodeJS.Timeout | undefined;
  try {
    const total = await new Promise<number>((resolve, reject) => {
      worker.on('message', (m: { total: number }) => resolve(m.total));
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`step worker exited with code ${code} before it finished`)));
      watchdog = setInterval(() => {
        const i = Atomics.load(shared.ints, 0);
        if (i < 0 || Atomics.load(shared.ints, 1) === 1) return;
        const ran = Date.now() - shared.times[0]!;
        if (ran > STEP_LIMIT_MS) reject(new Error(`step ${i} (${stepName(i, names)}) still running after ${ran} ms: the parser loops`));
      }, 50);
    });
    assert.ok(total > 3000, `only ${total} steps ran`);
  } finally {
    clearInterval(watchdog);
    await worker.terminate();
  }
});

/** The name of step i, by listing the steps without running them. */
function stepName(i: number, cache: string[]): string {
  if (cache.length === 0) {
    try {
      runCutSteps(FIX, (_k, what) => {
        cache.push(what);
        if (cache.length > i) throw new Error('found');
      });
    } catch {
      // listing stops at the wanted step
    }
  }
  return cache[i] ?? `#${i}`;
}
