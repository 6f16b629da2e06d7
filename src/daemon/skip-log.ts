// How clients that are never provisioned (an `ignore: true` rule, or no subnet at all) are logged.
// A lease file with thousands of leases in an ignored subnet must not write a line per lease at
// start-up: each client is logged once at debug level, and at info level each rule gets one summary line
// per window with the number of new clients it skipped and an example: a burst (the initial read)
// costs one line per rule, a trickle at most one per rule per window (burst-log.ts). A reserved
// address (0.0.0.0, a broadcast or network address, the server) is a warning, once per address.
import type { Logger } from 'pino';
import { createBurstLog } from './burst-log.ts';

/** Summaries are written at most this often per rule (ms). */
export const SKIP_SUMMARY_MS = 1000;
/** Clients remembered as already logged (bounded: forgetting only means one more debug line). */
const ONCE_MAX = 50_000;

export interface SkippedClient {
  /** `reserved`: an address that is never a client's (rules.ts): a warning once per address, no summary */
  kind: 'ignored' | 'none' | 'reserved';
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
  if (c.kind === 'reserved') return 'reserved address';
  return c.kind === 'none' ? 'no subnet rule' : (c.by ?? 'an ignore rule');
}

/** Clients skipped for the same reason are summarised per window instead of logged one by one. */
export function createSkipLog(log: Logger, windowMs: number = SKIP_SUMMARY_MS): SkipLog {
  const logged = new Set<string>();
  const summary = createBurstLog<{ kind: SkippedClient['kind']; ip: string }>(
    log,
    (rule, count, ex) => {
      const clients = count === 1 ? `1 client (${ex.ip})` : `${count} clients (e.g. ${ex.ip})`;
      const msg = ex.kind === 'ignored' ? `${clients} ignored by ${rule}` : `${clients} in no subnet rule; not provisioned`;
      return { fields: { rule, clients: count, example: ex.ip, skipped: ex.kind }, msg };
    },
    windowMs,
  );

  return {
    note(c) {
      // a reserved address is one line whatever MACs claim it (a flood of DISCOVERs for 0.0.0.0)
      const key = c.kind === 'reserved' ? `reserved:${c.ip}` : `${c.kind}:${c.ip}:${c.mac ?? ''}`;
      if (logged.has(key)) return;
      if (logged.size >= ONCE_MAX) logged.clear();
      logged.add(key);
      const input = { ip: c.ip, mac: c.mac, hostname: c.hostname };
      if (c.kind === 'reserved') {
        log.warn({ input, source: c.source, why: c.why }, c.why[0] ?? `${c.ip} is a reserved address: never provisioned`);
        return;
      }
      log.debug({ input, source: c.source, why: c.why }, c.kind === 'ignored' ? `client ${c.ip} ignored by rule` : `client ${c.ip} matches no subnet rule; not provisioned`);
      summary.add(skippingRule(c), { kind: c.kind, ip: c.ip });
    },
    reset: () => logged.clear(),
    flush: () => summary.flush(),
  };
}
