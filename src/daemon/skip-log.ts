// How clients that are never provisioned (an `ignore: true` rule, or no subnet at all) are logged.
// A lease file with 10,000 leases in an ignored subnet used to write 10,000 info lines at start-up.
// Now each client is logged once at debug level, and at info level each rule gets one summary line
// per window with the number of new clients it skipped and an example: a burst (the initial read)
// costs one line per rule, a trickle at most one per rule per window.
import type { Logger } from 'pino';

/** Summaries are written at most this often per rule (ms). */
export const SKIP_SUMMARY_MS = 1000;
/** Clients remembered as already logged (bounded: forgetting only means one more debug line). */
const ONCE_MAX = 50_000;

export interface SkippedClient {
  kind: 'ignored' | 'none';
  why: string[];
  /** for `ignored`: the rule that says so (MatchResult.by) */
  by?: string;
  ip: string;
  mac?: string;
  hostname?: string;
  source: string;
}

export interface SkipLog {
  /** a client that matched no rule or an ignoring one: debug once per client, counted for the summary */
  note(c: SkippedClient): void;
  /** forget which clients were logged (after a reload the same clients count again) */
  reset(): void;
  /** write pending summaries now (at stop) */
  flush(): void;
}

/** The rule that skipped a client, named without client data: the matcher's `by`, or "no subnet rule". */
export function skippingRule(c: Pick<SkippedClient, 'kind' | 'by'>): string {
  return c.kind === 'none' ? 'no subnet rule' : (c.by ?? 'an ignore rule');
}

export function createSkipLog(log: Logger, windowMs: number = SKIP_SUMMARY_MS): SkipLog {
  const logged = new Set<string>();
  const pending = new Map<string, { kind: 'ignored' | 'none'; count: number; example: string }>();
  let timer: NodeJS.Timeout | undefined;

  function flush(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    for (const [rule, p] of pending) {
      const clients = p.count === 1 ? `1 client (${p.example})` : `${p.count} clients (e.g. ${p.example})`;
      const msg = p.kind === 'ignored' ? `${clients} ignored by ${rule}` : `${clients} in no subnet rule; not provisioned`;
      log.info({ rule, clients: p.count, example: p.example, skipped: p.kind }, msg);
    }
    pending.clear();
  }

  return {
    note(c) {
      const key = `${c.kind}:${c.ip}:${c.mac ?? ''}`;
      if (logged.has(key)) return;
      if (logged.size >= ONCE_MAX) logged.clear();
      logged.add(key);
      log.debug({ input: { ip: c.ip, mac: c.mac, hostname: c.hostname }, source: c.source, why: c.why }, c.kind === 'ignored' ? `client ${c.ip} ignored by rule` : `client ${c.ip} matches no subnet rule; not provisioned`);
      const rule = skippingRule(c);
      const p = pending.get(rule);
      if (p) p.count++;
      else pending.set(rule, { kind: c.kind, count: 1, example: c.ip });
      if (!timer) {
        timer = setTimeout(flush, windowMs);
        timer.unref();
      }
    },
    reset: () => logged.clear(),
    flush,
  };
}
