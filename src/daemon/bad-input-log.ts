// Bad input is logged so an admin can see a broken or hostile source, but a flood of it (20,000
// garbage datagrams, a lease file full of random bytes) must not bury the log. Per source, the first
// BAD_LINES_PER_WINDOW bad inputs of a window are logged one by one; the rest are only counted, and
// when the window ends one line says how many were suppressed. The limiter is pure (time is passed
// in); createBadInputLog adds the logger and one unref'd timer for the summary.
import type { Logger } from 'pino';
import type { BadInput } from '../types.ts';
import { printable } from '../validate.ts';

/** Bad inputs of one source logged one by one per window. */
export const BAD_LINES_PER_WINDOW = 10;
/** Length of a window (ms): a flood costs BAD_LINES_PER_WINDOW + 1 lines per source per window. */
export const BAD_WINDOW_MS = 60_000;
/** Sources tracked at once; beyond it (never with a sane config) new ones share one entry. */
const MAX_SOURCES = 1000;
const OVERFLOW = '(other sources)';

/** A window that ended with suppressed inputs: one summary line. */
export interface BadSummary {
  source: string;
  suppressed: number;
  windowMs: number;
  /** the last suppressed input's reason, as an example */
  reason: string;
}

/** What to do with one bad input: log it or not, and a summary of the source's previous window, if due. */
export interface BadDecision {
  log: boolean;
  summary?: BadSummary;
}

interface Window {
  start: number;
  logged: number;
  suppressed: number;
  reason: string;
}

/** The per-source counter, clock passed in. */
export interface BadInputLimiter {
  admit(b: BadInput, now: number): BadDecision;
  /** summaries of every window that has ended by `now` with suppressed inputs; ended windows are dropped */
  due(now: number): BadSummary[];
  /** the earliest end of a window that holds suppressed inputs, or undefined */
  nextDue(): number | undefined;
}

/** A fresh limiter. */
export function createBadInputLimiter(perWindow: number = BAD_LINES_PER_WINDOW, windowMs: number = BAD_WINDOW_MS): BadInputLimiter {
  const windows = new Map<string, Window>();
  const summaryOf = (source: string, w: Window): BadSummary => ({ source, suppressed: w.suppressed, windowMs, reason: w.reason });
  return {
    admit(b, now) {
      let key = b.source;
      if (!windows.has(key) && windows.size >= MAX_SOURCES) key = OVERFLOW;
      let w = windows.get(key);
      let summary: BadSummary | undefined;
      if (w && now - w.start >= windowMs) {
        if (w.suppressed > 0) summary = summaryOf(key, w);
        w = undefined;
      }
      if (!w) {
        w = { start: now, logged: 0, suppressed: 0, reason: '' };
        windows.set(key, w);
      }
      const log = w.logged < perWindow;
      if (log) w.logged++;
      else {
        w.suppressed++;
        w.reason = b.reason;
      }
      return summary ? { log, summary } : { log };
    },
    due(now) {
      const out: BadSummary[] = [];
      for (const [source, w] of windows) {
        if (now - w.start < windowMs) continue;
        if (w.suppressed > 0) out.push(summaryOf(source, w));
        windows.delete(source);
      }
      return out;
    },
    nextDue() {
      let t: number | undefined;
      for (const w of windows.values()) if (w.suppressed > 0 && (t === undefined || w.start + windowMs < t)) t = w.start + windowMs;
      return t;
    },
  };
}

/** The daemon's bad-input sink: each admitted input as a warning, a summary line per flooded window. */
export function createBadInputLog(log: Logger, limiter: BadInputLimiter = createBadInputLimiter(), clock: () => number = Date.now): ((b: BadInput) => void) & { flush(): void } {
  let timer: NodeJS.Timeout | undefined;
  const writeSummary = (s: BadSummary) =>
    log.warn(
      { source: s.source, suppressed: s.suppressed, windowMs: s.windowMs },
      `skipped ${s.suppressed} more bad inputs from ${s.source} in ${Math.round(s.windowMs / 1000)} s without logging each (last: ${s.reason})`,
    );
  const arm = () => {
    const at = limiter.nextDue();
    if (at === undefined || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      for (const s of limiter.due(clock())) writeSummary(s);
      arm();
    }, Math.max(0, at - clock()));
    timer.unref();
  };
  const sink = (b: BadInput) => {
    const d = limiter.admit(b, clock());
    if (d.summary) writeSummary(d.summary);
    if (d.log) log.warn({ source: b.source, line: b.line, offset: b.offset, input: printable(b.sample) }, `skipped bad input from ${b.source}${b.line ? `:${b.line}` : ''}: ${b.reason}`);
    else arm();
  };
  // at stop: the windows still open say what they skipped, instead of the count going with the process
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    for (const s of limiter.due(Infinity)) writeSummary(s);
  };
  return Object.assign(sink, { flush });
}
