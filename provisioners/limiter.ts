// A counting semaphore: bounds how many mount/umount processes run at once, so that the daemon
// may run many provisions concurrently (most of them wait on an export batch, not on the CPU)
// without forking hundreds of mount(8) processes on a 2-core server.
export interface Limiter {
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** runs in flight plus runs waiting for a slot */
  busy(): number;
}

/** A limiter allowing `max` concurrent runs; the rest wait in FIFO order. */
export function createLimiter(max: number): Limiter {
  let active = 0;
  const waiting: Array<() => void> = [];
  return {
    async run(fn) {
      if (active >= max) await new Promise<void>((r) => waiting.push(r));
      else active++;
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
    busy: () => active + waiting.length,
  };
}
