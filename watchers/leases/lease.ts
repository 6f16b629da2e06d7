// The one lease shape every lease-file parser produces, and the diff that turns two lease sets
// into seen/gone decisions. Pure: the watcher owns files, timers and emission.
import type { BadInput } from '../../src/types.ts';

/** A lease as a lease file states it, after validation (MAC normalised, hostname RFC 1123 or absent). */
export interface Lease {
  ip: string;
  mac?: string;
  hostname?: string;
  /** ms since the epoch; 0 = infinite */
  expires: number;
}

/** One journal entry of an append-only lease file (ISC block, Kea row): the last one per IP wins. */
export interface LeaseUpdate extends Lease {
  /** true when this entry makes the lease current (ISC `binding state active`, Kea state 0) */
  active: boolean;
  /** the source's own word for the state, for gone reasons: "free", "released", "deleted", … */
  state: string;
}

/** Parser output: leases keyed by IP (last entry wins) and the input that was skipped or trimmed. */
export interface ParseResult<T extends Lease = Lease> {
  leases: Map<string, T>;
  bad: BadInput[];
}

/** What changed between two lease sets: `seen` holds new and changed leases, `gone` the old ones. */
export interface LeaseDiff {
  seen: Lease[];
  gone: Lease[];
}

/** Same client, same address, same expiry: nothing to tell the daemon. */
export function sameLease(a: Lease, b: Lease): boolean {
  return a.mac === b.mac && a.hostname === b.hostname && a.expires === b.expires;
}

/**
 * prev -> next. A renewed expiry counts as changed (seen again, so the daemon refreshes last-seen);
 * an IP that moved to another MAC is gone for the old MAC and seen for the new one.
 * Both maps usually list their leases in the same (file) order, so prev is walked alongside next and
 * most leases are paired without a hash lookup; the first lease found out of order switches to lookups.
 */
export function diffLeases(prev: ReadonlyMap<string, Lease>, next: ReadonlyMap<string, Lease>): LeaseDiff {
  const seen: Lease[] = [];
  const gone: Lease[] = [];
  const keys = prev.keys();
  const values = prev.values();
  let cur = keys.next();
  let curLease = values.next();
  let inOrder = true;
  next.forEach((n, ip) => {
    let p: Lease | undefined;
    if (inOrder) {
      // invariant: every next lease handled so far was paired with the cursor or is new, so a prev
      // lease at the cursor that next lacks is gone, and one that next has is still ahead
      while (!cur.done && cur.value !== ip && !next.has(cur.value)) {
        gone.push(curLease.value!);
        cur = keys.next();
        curLease = values.next();
      }
      if (!cur.done && cur.value === ip) {
        p = curLease.value!;
        cur = keys.next();
        curLease = values.next();
      } else {
        p = prev.get(ip);
        if (p !== undefined) inOrder = false; // reordered: the rest of prev is checked by lookup below
      }
    } else p = prev.get(ip);
    if (p === undefined) seen.push(n);
    else if (p.mac !== n.mac || p.hostname !== n.hostname || p.expires !== n.expires) {
      if (p.mac !== n.mac) gone.push(p);
      seen.push(n);
    }
  });
  for (; !cur.done; cur = keys.next(), curLease = values.next()) if (inOrder || !next.has(cur.value)) gone.push(curLease.value!);
  return { seen, gone };
}

/** A lease counts until its expiry has passed (0 = never expires). */
export function isCurrent(l: Lease, now: number): boolean {
  return l.expires === 0 || l.expires > now;
}
