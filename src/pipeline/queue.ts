// Step 3 of the pipeline (watcher -> inbox -> decide -> QUEUE -> job -> planNode -> applyPlan -> record):
// the queue between the inbox and the jobs (jobs.ts): one key's (node's) jobs run serially, different
// keys run concurrently up to a bound, repeated jobs for a waiting key merge into one, and a failed
// job retries with capped exponential backoff until it succeeds or a newer job supersedes it.
// Pure logic plus timers; the daemon supplies `work` and `merge`.

/** What a submitter learns about the first attempt of the job its submission ended up in. */
export type JobOutcome = { ok: true } | { ok: false; error: Error; willRetry: boolean };

type Waiter = (o: JobOutcome) => void;
const OK: JobOutcome = Object.freeze({ ok: true });

export interface QueueOptions<T> {
  concurrency: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** combine a waiting job with a newer one for the same key (the newer one usually wins) */
  merge(older: T, newer: T): T;
  work(key: string, job: T, attempt: number): Promise<void>;
  /** called after each failed attempt, before the retry is scheduled */
  onFailure?(key: string, job: T, error: Error, attempt: number, retryInMs: number): void;
  /** queued (not running, not waiting for a retry) jobs, after each change of queued or running */
  onDepth?(depth: number): void;
  /** [0, 1); injected so tests are deterministic */
  random?: () => number;
}

interface Slot<T> {
  /** the job waiting to run (merged) */
  next?: T;
  /** who waits for the next job's first attempt (often nobody) */
  nextWaiters?: Waiter[];
  running: boolean;
  /** a failed job waiting for its retry timer */
  retry?: { job: T; attempt: number; timer: NodeJS.Timeout };
  /** attempts made so far for the job that is queued next (0 for a fresh job) */
  nextAttempt: number;
}

/** The queue handle the daemon uses; see createQueue. */
export interface KeyedQueue<T> {
  /** add a job; resolves after the first attempt of the job it was merged into */
  push(key: string, job: T): Promise<JobOutcome>;
  /** add a job nobody waits for (no promise is made: a burst of thousands of events stays cheap) */
  add(key: string, job: T): void;
  /** jobs waiting to run (not running, not in retry back-off) */
  depth(): number;
  running(): number;
  /** keys whose last attempt failed and that wait for a retry */
  retrying(): string[];
  /** does the key have work queued, running, or waiting for a retry? */
  has(key: string): boolean;
  /** resolves when nothing is queued or running (retry waits are not awaited) */
  drain(): Promise<void>;
  /** stop accepting jobs, drop queued ones and retry timers, wait for running jobs */
  close(): Promise<void>;
}

/** Exponential backoff with "equal jitter": half fixed, half random, capped. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** Per-node job queue: one job per node at a time, merged while queued, retried with backoff. */
export function createQueue<T>(opts: QueueOptions<T>): KeyedQueue<T> {
  const slots = new Map<string, Slot<T>>();
  const ready: string[] = [];
  const random = opts.random ?? Math.random;
  const concurrency = Math.max(1, Math.floor(opts.concurrency));
  let active = 0;
  let queued = 0;
  let closed = false;
  let idleWaiters: Array<() => void> = [];

  const report = () => opts.onDepth?.(queued);
  const slotFor = (key: string): Slot<T> => {
    let s = slots.get(key);
    if (!s) {
      s = { running: false, nextAttempt: 0 };
      slots.set(key, s);
    }
    return s;
  };
  const checkIdle = () => {
    if (active === 0 && queued === 0 && idleWaiters.length) {
      const ws = idleWaiters;
      idleWaiters = [];
      ws.forEach((w) => w());
    }
  };
  const forget = (key: string, s: Slot<T>) => {
    if (!s.running && s.next === undefined && !s.retry) slots.delete(key);
  };

  function enqueue(key: string, s: Slot<T>, job: T, waiters: Waiter[], attempt: number): void {
    if (s.next === undefined) {
      s.next = job;
      s.nextAttempt = attempt;
      queued++;
      if (!s.running) ready.push(key);
    } else {
      s.next = opts.merge(s.next, job);
      s.nextAttempt = 0;
    }
    if (waiters.length) (s.nextWaiters ??= []).push(...waiters);
    report();
  }

  function pump(): void {
    while (!closed && active < concurrency && ready.length) {
      const key = ready.shift()!;
      const s = slots.get(key);
      if (!s || s.running || s.next === undefined) continue;
      const job = s.next;
      const waiters = s.nextWaiters;
      const attempt = s.nextAttempt + 1;
      s.next = undefined;
      s.nextWaiters = undefined;
      s.running = true;
      queued--;
      active++;
      report();
      void runOne(key, s, job, waiters, attempt);
    }
    checkIdle();
  }

  async function runOne(key: string, s: Slot<T>, job: T, waiters: Waiter[] | undefined, attempt: number): Promise<void> {
    let outcome: JobOutcome;
    try {
      await opts.work(key, job, attempt);
      outcome = OK;
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      outcome = { ok: false, error, willRetry: !closed };
      if (s.next !== undefined) {
        // a newer job is already waiting: it supersedes this one, carrying the failed job's data
        s.next = opts.merge(job, s.next);
        s.nextAttempt = 0;
        opts.onFailure?.(key, job, error, attempt, 0);
      } else if (!closed) {
        const delay = backoffDelay(attempt, opts.retryBaseMs, opts.retryMaxMs, random);
        opts.onFailure?.(key, job, error, attempt, delay);
        const timer = setTimeout(() => {
          s.retry = undefined;
          enqueue(key, s, job, [], attempt);
          pump();
        }, delay);
        timer.unref?.();
        s.retry = { job, attempt, timer };
      }
    }
    s.running = false;
    active--;
    report();
    if (waiters) for (const w of waiters) w(outcome);
    if (s.next !== undefined && !closed) ready.push(key);
    forget(key, s);
    pump();
  }

  function add(key: string, job: T, waiters: Waiter[]): void {
    const s = slotFor(key);
    let j = job;
    if (s.retry) {
      // a newer event supersedes the back-off: run now, with the failed job's data merged in
      clearTimeout(s.retry.timer);
      j = opts.merge(s.retry.job, job);
      s.retry = undefined;
    }
    enqueue(key, s, j, waiters, 0);
    pump();
  }
  const noWaiters: Waiter[] = [];

  return {
    push(key, job) {
      if (closed) return Promise.resolve({ ok: false, error: new Error('queue is closed'), willRetry: false });
      return new Promise<JobOutcome>((resolve) => add(key, job, [resolve]));
    },
    add(key, job) {
      if (!closed) add(key, job, noWaiters);
    },
    depth: () => queued,
    running: () => active,
    retrying: () => [...slots.entries()].filter(([, s]) => s.retry).map(([k]) => k),
    has: (key) => slots.has(key),
    drain() {
      if (active === 0 && queued === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    async close() {
      closed = true;
      const dropped: Error = new Error('queue closed before the job ran');
      for (const [key, s] of slots) {
        if (s.retry) clearTimeout(s.retry.timer);
        s.retry = undefined;
        if (s.next !== undefined) {
          queued--;
          s.next = undefined;
          s.nextWaiters?.forEach((w) => w({ ok: false, error: dropped, willRetry: false }));
          s.nextWaiters = undefined;
        }
        forget(key, s);
      }
      ready.length = 0;
      report();
      if (active > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
