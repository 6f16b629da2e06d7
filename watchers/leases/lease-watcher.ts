// Step 0 of the pipeline (WATCHER -> inbox -> decide -> queue -> job -> planNode -> applyPlan -> record),
// for lease files: chokidar on the file's directory -> the flavour's reader (lease-readers.ts) -> the
// tracker -> ctx.sink, which the daemon points at the inbox (src/pipeline/inbox.ts). Nothing downstream sees fs events; everything here is about reading at the right moments:
// at once on a change (no debounce: the target is seen within 50 ms of the write), again shortly
// after a half-written read, at the tracker's next check (settling gone, expiry), and every
// `pollMs` as a safety net. A missing file or directory is waited for.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { WatcherContext } from '../../src/contracts.ts';
import type { LeaseSourceType, Watcher } from '../../src/types.ts';
import { createDnsmasqReader, createIscReader, createKeaReader, type LeaseReader } from './lease-readers.ts';
import { createLeaseTracker } from './lease-tracker.ts';
import { RefusedFileError } from '../../src/safe-open.ts';

/** Tunables (tests shorten them); the defaults are for production. */
export interface LeaseWatcherOptions {
  /** a lease must stay absent this long before ClientGone (truncate-and-rewrite safety) */
  settleMs?: number;
  /** re-read delay after a read that ended mid-line */
  partialRetryMs?: number;
  /** safety-net re-check period */
  pollMs?: number;
}

const DEFAULTS = { settleMs: 150, partialRetryMs: 5, pollMs: 30_000 };
/** after this many quick re-reads of a file cut mid-line, slow down to SLOW_PARTIAL_MS */
const MAX_PARTIAL_STREAK = 40;
const SLOW_PARTIAL_MS = 250;
/** lease expiries are looked at in batches, so 100,000 leases expiring one by one cost little */
const EXPIRY_BATCH_MS = 50;
/** remembered bad-input keys, so a bad line re-read on every rewrite is reported once */
const MAX_BAD_KEYS = 10_000;
/** a refused file (FIFO, device, foreign symlink, too big) is looked at again this often until it is readable */
const REFUSED_RETRY_MS = 1000;

function createReader(type: LeaseSourceType, file: string, source: string): LeaseReader {
  if (type === 'dnsmasq-leases') return createDnsmasqReader(file, source);
  if (type === 'isc-leases') return createIscReader(file, source);
  return createKeaReader(file, source);
}

/** Watcher for one dnsmasq / ISC / Kea lease source (ctx.source.type picks the flavour). */
export function createLeaseWatcher(ctx: WatcherContext, options: LeaseWatcherOptions = {}): Watcher {
  const src = ctx.source;
  if (src.type !== 'dnsmasq-leases' && src.type !== 'isc-leases' && src.type !== 'kea-leases') {
    throw new Error(`lease watcher: expected a dnsmasq-leases, isc-leases or kea-leases source, found ${src.type}`);
  }
  const type = src.type;
  const o = { ...DEFAULTS, ...options };
  const file = path.resolve(src.path);
  const dir = path.dirname(file);
  const source = `${type}:${src.path}`;
  const log = ctx.log.child({ watcher: source });
  const reader = createReader(type, file, source);
  const tracker = createLeaseTracker(type, source, { settleMs: o.settleMs });
  const badKeys = new Set<string>();

  let fsw: FSWatcher | undefined;
  let stopped = true;
  let reading = false;
  let again = false;
  let againPoll = true;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let pollTimer: NodeJS.Timeout | undefined;
  let dirTimer: NodeJS.Timeout | undefined;
  let expiryTimer: NodeJS.Timeout | undefined;
  let expiryAt = Infinity;
  let lastExpiryCheck = 0;
  let partialStreak = 0;
  let missingLogged = false;
  /** the refusal last logged: each one is logged once, not on every retry */
  let refused: string | undefined;
  let idle: Promise<void> = Promise.resolve();

  function wakeAt(at: number): void {
    if (stopped || at >= timerAt) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      refresh(false);
    }, Math.min(Math.max(0, at - Date.now()), 3_600_000));
  }

  function report(b: Parameters<typeof ctx.sink.bad>[0]): void {
    const key = `${b.reason}\0${b.sample}`;
    if (badKeys.has(key)) return;
    if (badKeys.size >= MAX_BAD_KEYS) badKeys.clear();
    badKeys.add(key);
    ctx.sink.bad(b);
  }

  /** Read now (or right after the read in flight); never more than one read at a time. */
  function refresh(poll: boolean): void {
    if (stopped) return;
    if (reading) {
      again = true;
      againPoll &&= poll;
      return;
    }
    reading = true;
    idle = readOnce(poll).finally(() => {
      reading = false;
      if (again && !stopped) {
        const p = againPoll;
        again = false;
        againPoll = true;
        refresh(p);
      }
    });
  }

  async function readOnce(poll: boolean): Promise<void> {
    let outcome;
    try {
      outcome = await reader.read(poll);
    } catch (e) {
      if (e instanceof RefusedFileError) {
        // nothing is read and nothing is taken as gone: the leases stay as last read until a regular file is back
        if (refused !== e.reason) log.warn({ file, reason: e.reason }, `lease file ${e.message}; not read, waiting for a regular file`);
        refused = e.reason;
        wakeAt(Date.now() + REFUSED_RETRY_MS);
        return;
      }
      log.warn({ err: (e as Error).message, file }, 'lease file read failed; will retry on the next change');
      return;
    }
    if (refused !== undefined) log.info({ file }, 'lease file is a regular file again; reading it');
    refused = undefined;
    if (stopped) return;
    if (outcome.kind === 'missing') {
      if (!missingLogged) log.info({ file }, 'lease file not there (yet); waiting for it');
      missingLogged = true;
    } else missingLogged = false;
    const { events, bad } = tracker.apply(outcome);
    for (const b of bad) report(b);
    for (const e of events) ctx.sink.event(e);
    if ((outcome.kind === 'full' || outcome.kind === 'delta') && outcome.partial) {
      wakeAt(Date.now() + (++partialStreak <= MAX_PARTIAL_STREAK ? o.partialRetryMs : SLOW_PARTIAL_MS));
    } else partialStreak = 0;
    scheduleChecks();
  }

  function scheduleChecks(): void {
    const settle = tracker.nextSettle();
    if (settle !== undefined) wakeAt(settle);
    const exp = tracker.nextExpiry();
    if (exp === undefined || stopped) return;
    // expiry needs no read, only a look at the clock; at most one look per EXPIRY_BATCH_MS
    const at = Math.max(exp, lastExpiryCheck + EXPIRY_BATCH_MS);
    if (at >= expiryAt) return;
    if (expiryTimer) clearTimeout(expiryTimer);
    expiryAt = at;
    expiryTimer = setTimeout(checkExpiry, Math.min(Math.max(0, at - Date.now()), 3_600_000));
  }

  function checkExpiry(): void {
    expiryTimer = undefined;
    expiryAt = Infinity;
    if (stopped) return;
    lastExpiryCheck = Date.now();
    const { events } = tracker.apply({ kind: 'unchanged' });
    for (const e of events) ctx.sink.event(e);
    scheduleChecks();
  }

  async function startWatching(): Promise<void> {
    const w = watch(dir, {
      depth: 0,
      ignoreInitial: true,
      atomic: false,
      ignored: (p: string) => p !== dir && !reader.relevant(path.basename(p)),
    });
    w.on('all', (_event, p) => {
      if (path.dirname(path.resolve(p)) === dir && reader.relevant(path.basename(p))) refresh(false);
    });
    // raw fs.watch events skip chokidar's 50 ms change throttle: dnsmasq's next rewrite is read at once
    w.on('raw', (_event, rel) => {
      if (typeof rel === 'string' && rel !== '' && reader.relevant(path.basename(rel))) refresh(false);
    });
    w.on('error', (err) => log.warn({ err: String(err), dir }, 'lease directory watch error'));
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
    if (stopped) {
      await w.close();
      return;
    }
    fsw = w;
    refresh(false);
  }

  function waitForDir(): void {
    if (stopped) return;
    if (existsSync(dir)) {
      void startWatching();
      return;
    }
    dirTimer = setTimeout(waitForDir, 1000);
  }

  return {
    name: source,
    async start() {
      stopped = false;
      if (existsSync(dir)) await startWatching();
      else {
        log.info({ dir }, 'lease directory not there (yet); waiting for it');
        dirTimer = setTimeout(waitForDir, 1000);
      }
      pollTimer = setInterval(() => refresh(true), o.pollMs);
      pollTimer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (expiryTimer) clearTimeout(expiryTimer);
      expiryTimer = undefined;
      if (pollTimer) clearInterval(pollTimer);
      if (dirTimer) clearTimeout(dirTimer);
      timer = pollTimer = dirTimer = undefined;
      timerAt = Infinity;
      const w = fsw;
      fsw = undefined;
      if (w) await w.close();
      await idle.catch(() => {});
    },
  };
}
