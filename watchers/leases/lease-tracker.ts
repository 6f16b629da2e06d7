// Turns reader outcomes into ClientSeen/ClientGone with the rules that make lease files safe to
// follow: seen is emitted at once (latency), gone only once the lease has stayed absent for `settleMs`
// (a half-written or truncated read never causes a mass gone), and a lease whose expiry passes
// while the file sits still is gone too (a timer on the earliest expiry).
import type { BadInput, ClientEvent, LeaseSourceType } from '../../src/types.ts';
import type { Lease, LeaseUpdate } from './lease.ts';
import { diffLeases, isCurrent, sameLease } from './lease.ts';
import type { ReadOutcome } from './lease-readers.ts';
import { detachLease } from './parse-util.ts';
import { createExpiryHeap } from './expiry-heap.ts';

/** Timing knobs; the defaults suit real servers, tests shorten them. */
export interface TrackerOptions {
  /** how long a lease must stay absent before it is gone (covers truncate-then-write) */
  settleMs: number;
  now?: () => number;
}

/** The tracker's view of one source: feed it read outcomes, ask it when to look again. */
export interface LeaseTracker {
  apply(o: ReadOutcome): { events: ClientEvent[]; bad: BadInput[] };
  /** when a pending gone can be confirmed (needs a fresh read), ms since epoch */
  nextSettle(): number | undefined;
  /** the earliest lease expiry (needs only apply({kind:'unchanged'})), ms since epoch */
  nextExpiry(): number | undefined;
  /** number of leases currently announced as seen */
  size(): number;
}

interface Pending {
  since: number;
  reason: string;
}

/** Per-source state: what the file says, what we announced, and the gone decisions in waiting. */
export function createLeaseTracker(sourceType: LeaseSourceType, source: string, opts: TrackerOptions): LeaseTracker {
  const now = opts.now ?? Date.now;
  const known = new Map<string, Lease>();
  const inactiveReason = new Map<string, string>();
  const emitted = new Map<string, Lease>();
  const pending = new Map<string, Pending>();
  const expiries = createExpiryHeap();

  const seen = (l: Lease, t: number): ClientEvent => {
    const e: ClientEvent = { kind: 'seen', ip: l.ip, source, sourceType, time: t, expires: l.expires };
    if (l.mac !== undefined) e.mac = l.mac;
    if (l.hostname !== undefined) e.hostname = l.hostname;
    return e;
  };
  const gone = (l: Lease, t: number, reason: string): ClientEvent => {
    const e: ClientEvent = { kind: 'gone', ip: l.ip, source, sourceType, time: t, reason };
    if (l.mac !== undefined) e.mac = l.mac;
    return e;
  };

  /** `confirm` false: this read may be cut short (mid-line), so it can start a gone but never finish one */
  function reconcile(ips: Iterable<string>, t: number, out: ClientEvent[], confirm: boolean): void {
    for (const ip of ips) {
      const k = known.get(ip);
      const cur = k !== undefined && isCurrent(k, t) ? k : undefined;
      const em = emitted.get(ip);
      if (cur) {
        pending.delete(ip);
        if (em && sameLease(em, cur)) continue;
        if (em && em.mac !== cur.mac) out.push(gone(em, t, 'address reassigned'));
        const kept = detachLease(cur); // emitted outlives the file text cur was sliced from
        emitted.set(ip, kept);
        out.push(seen(kept, t));
      } else if (em && k && !isCurrent(k, t)) {
        // the file itself says it ran out: no need to wait for a settle
        pending.delete(ip);
        emitted.delete(ip);
        out.push(gone(em, t, 'expired'));
      } else if (em) {
        const p = pending.get(ip);
        if (!p) pending.set(ip, { since: t, reason: inactiveReason.get(ip) ?? 'removed' });
        else if (confirm && t - p.since >= opts.settleMs) {
          pending.delete(ip);
          emitted.delete(ip);
          out.push(gone(em, t, p.reason));
        }
      }
    }
  }

  /** emitted leases whose expiry has passed; stale heap entries (renewed, removed) are dropped */
  function dueExpiries(t: number): string[] {
    const due: string[] = [];
    for (const [at, ip] of expiries.popDue(t)) if (known.get(ip)?.expires === at && emitted.has(ip)) due.push(ip);
    if (expiries.size() > 2 * known.size + 1024) rebuildExpiries();
    return due;
  }

  function rebuildExpiries(): void {
    expiries.clear();
    for (const [ip, l] of known) if (l.expires !== 0) expiries.push(l.expires, ip);
  }

  return {
    apply(o) {
      const t = now();
      const events: ClientEvent[] = [];
      const touched = new Set<string>(pending.keys());
      if (o.kind === 'full') {
        // only what changed since `known` is touched: every emitted IP is in known or pending (reconcile
        // keeps it so), and unchanged leases keep their heap entries
        const d = diffLeases(known, o.leases);
        for (const l of d.gone) {
          touched.add(l.ip);
          if (!o.leases.has(l.ip)) known.delete(l.ip);
        }
        for (const l of d.seen) {
          touched.add(l.ip);
          known.set(l.ip, l);
          if (l.expires !== 0) expiries.push(l.expires, l.ip);
        }
        inactiveReason.clear();
        if (o.states) for (const [ip, st] of o.states) inactiveReason.set(ip, st);
      } else if (o.kind === 'delta') {
        for (const u of o.updates) {
          touched.add(u.ip);
          if (u.active) {
            known.set(u.ip, stripUpdate(u));
            inactiveReason.delete(u.ip);
            if (u.expires !== 0) expiries.push(u.expires, u.ip);
          } else {
            known.delete(u.ip);
            inactiveReason.set(u.ip, u.state);
          }
        }
      }
      // 'missing' and 'unchanged' keep what we know: a vanished file is waited for, not mourned
      for (const ip of dueExpiries(t)) touched.add(ip);
      reconcile(touched, t, events, !((o.kind === 'full' || o.kind === 'delta') && o.partial));
      return { events, bad: o.kind === 'full' || o.kind === 'delta' ? o.bad : [] };
    },
    nextSettle() {
      let next = Infinity;
      for (const p of pending.values()) next = Math.min(next, p.since + opts.settleMs);
      return Number.isFinite(next) ? next : undefined;
    },
    nextExpiry() {
      expiries.dropStale((at, ip) => known.get(ip)?.expires !== at);
      const next = expiries.peek();
      return Number.isFinite(next) ? next : undefined;
    },
    size: () => emitted.size,
  };
}

function stripUpdate(u: LeaseUpdate): Lease {
  const l: Lease = { ip: u.ip, expires: u.expires };
  if (u.mac !== undefined) l.mac = u.mac;
  if (u.hostname !== undefined) l.hostname = u.hostname;
  return l;
}
