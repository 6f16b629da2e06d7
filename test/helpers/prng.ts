// Deterministic xorshift32 PRNG shared by the fuzz tests: a fixed seed gives the same inputs on
// every run and machine, so a failure reproduces.

/** Next raw 32-bit value on each call. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** The same sequence scaled to [0, 1). */
export function xorshiftFloat(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 0x100000000;
}

/** mulberry32 scaled to [0, 1): the SIGKILL tests' kill points (a seed printed by a failing run replays it). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
