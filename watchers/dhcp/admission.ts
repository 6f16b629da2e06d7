// Which snooped clients get through: a token bucket for MACs snoop has not passed on recently, so a
// flood of made-up MACs cannot create nodes (mounts, exports, fsids) faster than a fixed rate.
// Clients already admitted pass freely. Pure: the caller passes the time.

/** Defaults of the dhcp-snoop keys `new_client_burst` and `new_clients_per_second`. */
export const SNOOP_ADMIT_DEFAULTS = { burst: 100, perSecond: 10 } as const;

/** How many admitted MACs are remembered (least recently seen forgotten first). */
export const ADMITTED_MAX = 10_000;

/** Decides, per MAC, whether a snooped client may be passed on. */
export interface Admission {
  /** true: pass the event on; false: a new MAC over the rate limit (drop it) */
  admit(mac: string, now: number): boolean;
}

/** A bucket holding up to `burst` tokens, refilled at `perSecond`; each new MAC takes one. */
export function createAdmission(burst: number, perSecond: number, max = ADMITTED_MAX): Admission {
  let tokens = burst;
  let last: number | undefined;
  const admitted = new Map<string, true>();
  return {
    admit(mac, now) {
      if (admitted.has(mac)) {
        // most recently seen last: eviction takes the stalest
        admitted.delete(mac);
        admitted.set(mac, true);
        return true;
      }
      if (last !== undefined && now > last) tokens = Math.min(burst, tokens + ((now - last) / 1000) * perSecond);
      if (last === undefined || now > last) last = now;
      if (tokens < 1) return false;
      tokens -= 1;
      admitted.set(mac, true);
      if (admitted.size > max) admitted.delete(admitted.keys().next().value!);
      return true;
    },
  };
}
