import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, createQueue, type QueueOptions } from '../../../src/pipeline/queue.ts';

type J = { v: number; src: string[] };
const merge = (a: J, b: J): J => ({ v: b.v, src: [...new Set([...a.src, ...b.src])] });
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const p = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { p, resolve, reject };
}

function opts(work: QueueOptions<J>['work'], over: Partial<QueueOptions<J>> = {}): QueueOptions<J> {
  return { concurrency: 4, retryBaseMs: 5, retryMaxMs: 40, merge, work, random: () => 0.5, ...over };
}

describe('queue', () => {
  test('one key runs serially, in order', async () => {
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const q = createQueue<J>(
      opts(async (k, j) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        log.push(`start ${k}${j.v}`);
        await tick(3);
        log.push(`end ${k}${j.v}`);
        inFlight--;
      }),
    );
    const a = q.push('a', { v: 1, src: ['x'] });
    await tick(1); // job 1 is running now
    const b = q.push('a', { v: 2, src: ['y'] });
    await Promise.all([a, b]);
    assert.deepEqual(log, ['start a1', 'end a1', 'start a2', 'end a2']);
    assert.equal(maxInFlight, 1);
  });

  test('repeated jobs for a queued key merge: latest wins, sources unioned, one run', async () => {
    const runs: J[] = [];
    const gate = deferred();
    const q = createQueue<J>(
      opts(async (k, j) => {
        if (k === 'block') await gate.p;
        else runs.push(j);
      }, { concurrency: 1 }),
    );
    const blocker = q.push('block', { v: 0, src: [] });
    const p1 = q.push('n', { v: 1, src: ['lease'] });
    const p2 = q.push('n', { v: 2, src: ['tftp'] });
    const p3 = q.push('n', { v: 3, src: ['lease'] });
    assert.equal(q.depth(), 1, 'three pushes for one waiting key are one queued job');
    gate.resolve();
    const outcomes = await Promise.all([blocker, p1, p2, p3]);
    assert.deepEqual(runs, [{ v: 3, src: ['lease', 'tftp'] }]);
    assert.ok(outcomes.every((o) => o.ok), 'every merged submitter learns the outcome');
  });

  test('different keys run concurrently, never more than the bound', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const q = createQueue<J>(
      opts(async (k) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const g = deferred();
        gates.set(k, g);
        await g.p;
        inFlight--;
      }, { concurrency: 3 }),
    );
    const all = Array.from({ length: 10 }, (_, i) => q.push(`k${i}`, { v: i, src: [] }));
    await tick(1);
    assert.equal(q.running(), 3, 'three run at once: the queue does not serialise across keys');
    assert.equal(q.depth(), 7);
    while (gates.size) {
      const [k, g] = gates.entries().next().value!;
      gates.delete(k);
      g.resolve();
      await tick(1);
    }
    await Promise.all(all);
    assert.equal(maxInFlight, 3);
    assert.equal(q.depth(), 0);
  });

  test('a failing job retries with doubling backoff, capped, until it succeeds', async () => {
    const attempts: number[] = [];
    const delays: number[] = [];
    let failUntil = 5;
    const q = createQueue<J>(
      opts(
        async (_k, _j, attempt) => {
          attempts.push(attempt);
          if (attempt < failUntil) throw new Error(`boom ${attempt}`);
        },
        { retryBaseMs: 2, retryMaxMs: 8, onFailure: (_k, _j, _e, _a, ms) => delays.push(ms) },
      ),
    );
    const first = await q.push('n', { v: 1, src: [] });
    assert.equal(first.ok, false, 'the submitter hears about the first failure');
    assert.equal(first.ok === false && first.willRetry, true);
    assert.deepEqual(q.retrying(), ['n']);
    for (let i = 0; i < 200 && attempts.length < failUntil; i++) await tick(2);
    assert.deepEqual(attempts, [1, 2, 3, 4, 5]);
    // random() = 0.5 -> delay = 3/4 of min(base * 2^(n-1), max)
    assert.deepEqual(delays, [2, 3, 6, 6]);
    assert.deepEqual(q.retrying(), []);
  });

  test('backoff: exponential, capped, jitter within [exp/2, exp]', () => {
    for (let a = 1; a <= 20; a++) {
      const exp = Math.min(1000, 100 * 2 ** (a - 1));
      assert.equal(backoffDelay(a, 100, 1000, () => 0), exp / 2);
      assert.equal(backoffDelay(a, 100, 1000, () => 0.999999), Math.round(exp / 2 + (exp / 2) * 0.999999));
    }
    assert.equal(backoffDelay(50, 100, 30_000, () => 1), 30_000);
  });

  test('a newer job supersedes a job waiting for its retry', async () => {
    const runs: Array<{ v: number; attempt: number }> = [];
    const q = createQueue<J>(
      opts(
        async (_k, j, attempt) => {
          runs.push({ v: j.v, attempt });
          if (j.v === 1) throw new Error('old job fails');
        },
        { retryBaseMs: 60_000, retryMaxMs: 60_000 },
      ),
    );
    const o1 = await q.push('n', { v: 1, src: ['a'] });
    assert.equal(o1.ok, false);
    assert.deepEqual(q.retrying(), ['n'], 'waiting a minute for the retry');
    assert.equal(q.has('n'), true);
    assert.equal(q.has('other'), false);
    const o2 = await q.push('n', { v: 2, src: ['b'] });
    assert.equal(o2.ok, true);
    assert.deepEqual(runs, [
      { v: 1, attempt: 1 },
      { v: 2, attempt: 1 },
    ]);
    assert.deepEqual(q.retrying(), [], 'the superseded retry is gone');
    await q.close();
  });

  test('a job queued while one fails replaces the retry', async () => {
    const runs: number[] = [];
    const gate = deferred();
    const q = createQueue<J>(
      opts(async (_k, j) => {
        runs.push(j.v);
        if (j.v === 1) {
          await gate.p;
          throw new Error('fails');
        }
      }),
    );
    const p1 = q.push('n', { v: 1, src: [] });
    await tick(1);
    const p2 = q.push('n', { v: 2, src: [] });
    gate.resolve();
    const [o1, o2] = await Promise.all([p1, p2]);
    assert.equal(o1.ok, false);
    assert.equal(o2.ok, true);
    assert.deepEqual(runs, [1, 2]);
    assert.deepEqual(q.retrying(), []);
  });

  test('depth is reported on each change; drain waits for queued and running work', async () => {
    const depths: number[] = [];
    let done = 0;
    const q = createQueue<J>(
      opts(
        async () => {
          await tick(2);
          done++;
        },
        { concurrency: 2, onDepth: (n) => depths.push(n) },
      ),
    );
    for (let i = 0; i < 6; i++) void q.push(`k${i}`, { v: i, src: [] });
    await q.drain();
    assert.equal(done, 6);
    assert.equal(Math.max(...depths), 4, 'six pushed, two started at once');
    assert.equal(depths.at(-1), 0);
  });

  test('close drops queued jobs and retry timers and waits for running ones', async () => {
    const gate = deferred();
    let ran = 0;
    const q = createQueue<J>(
      opts(async (k) => {
        ran++;
        if (k === 'slow') await gate.p;
        if (k === 'bad') throw new Error('x');
      }, { concurrency: 1, retryBaseMs: 10, retryMaxMs: 10 }),
    );
    await q.push('bad', { v: 0, src: [] });
    const slow = q.push('slow', { v: 1, src: [] });
    const dropped = q.push('other', { v: 2, src: [] });
    await tick(1);
    let closed = false;
    const c = q.close().then(() => (closed = true));
    await tick(5);
    assert.equal(closed, false, 'close waits for the running job');
    gate.resolve();
    await c;
    const d = await dropped;
    assert.equal(d.ok, false);
    assert.equal((await slow).ok, true);
    await tick(30);
    assert.equal(ran, 2, 'neither the dropped job nor the retry ran');
    const late = await q.push('x', { v: 3, src: [] });
    assert.equal(late.ok, false, 'a closed queue refuses new jobs');
  });

  test('add: a job nobody waits for merges and runs like a pushed one, and its merge partner still gets its answer', async () => {
    const gate = deferred();
    const ran: Array<[string, J]> = [];
    const q = createQueue<J>(
      opts(async (k, j) => {
        ran.push([k, j]);
        if (k === 'hold') await gate.p;
      }, { concurrency: 1 }),
    );
    q.add('hold', { v: 0, src: [] });
    q.add('a', { v: 1, src: ['x'] });
    const waited = q.push('a', { v: 2, src: ['y'] });
    q.add('a', { v: 3, src: ['z'] });
    assert.equal(q.depth(), 1, 'three jobs for one waiting key are one');
    assert.equal(q.has('a'), true);
    gate.resolve();
    assert.deepEqual(await waited, { ok: true });
    await q.drain();
    assert.deepEqual(ran, [['hold', { v: 0, src: [] }], ['a', { v: 3, src: ['x', 'y', 'z'] }]]);
    await q.close();
    q.add('late', { v: 4, src: [] });
    assert.equal(q.has('late'), false, 'a closed queue takes nothing');
  });
});
