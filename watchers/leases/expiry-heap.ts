// Which lease expires next, without scanning every lease: a binary min-heap of (expiry, ip) with lazy
// deletion. With 100,000 leases something expires every few ms; each expiry must cost O(log n).

/** Heap entries may be stale (the lease was renewed or removed since); callers check on pop. */
export interface ExpiryHeap {
  push(expires: number, ip: string): void;
  /** the smallest expiry, or Infinity */
  peek(): number;
  /** remove and return every entry with expiry <= t */
  popDue(t: number): Array<[number, string]>;
  /** pop top entries while `stale(expires, ip)` says so (lazy deletion made visible to peek) */
  dropStale(stale: (expires: number, ip: string) => boolean): void;
  size(): number;
  clear(): void;
}

/** An empty heap. */
export function createExpiryHeap(): ExpiryHeap {
  const at: number[] = [];
  const ips: string[] = [];
  const swap = (i: number, j: number) => {
    const a = at[i]!;
    at[i] = at[j]!;
    at[j] = a;
    const b = ips[i]!;
    ips[i] = ips[j]!;
    ips[j] = b;
  };
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (at[p]! <= at[i]!) break;
      swap(i, p);
      i = p;
    }
  };
  const down = (i: number) => {
    const n = at.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && at[l]! < at[m]!) m = l;
      if (r < n && at[r]! < at[m]!) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  /** drop the earliest entry: the last one takes its place and sinks */
  const removeRoot = () => {
    const lastAt = at.pop()!;
    const lastIp = ips.pop()!;
    if (at.length) {
      at[0] = lastAt;
      ips[0] = lastIp;
      down(0);
    }
  };
  return {
    push(expires, ip) {
      at.push(expires);
      ips.push(ip);
      up(at.length - 1);
    },
    peek: () => (at.length ? at[0]! : Infinity),
    popDue(t) {
      const out: Array<[number, string]> = [];
      while (at.length && at[0]! <= t) {
        out.push([at[0]!, ips[0]!]);
        removeRoot();
      }
      return out;
    },
    dropStale(stale) {
      while (at.length && stale(at[0]!, ips[0]!)) {
        removeRoot();
      }
    },
    size: () => at.length,
    clear() {
      at.length = 0;
      ips.length = 0;
    },
  };
}
