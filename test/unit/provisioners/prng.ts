// Deterministic xorshift32 PRNG and hostile-string generator for provisioner fuzz tests.
export function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const PIECES = [' ', '\t', '\n', '\\040', '\\', '-', ' - ', 'overlay', 'lowerdir=', ',', '=', '(', ')', '#', '*', '/', '\0', 'fsid=', '10.99.0.5', '\u00e9', 'nfs_export=on', ':', '"', "'", '$(', ';'];

/** A random string of printable, control and structural characters, up to `max` long. */
export function hostileString(rnd: () => number, max = 80): string {
  const n = Math.floor(rnd() * max);
  let s = '';
  while (s.length < n) {
    s += rnd() < 0.3 ? PIECES[Math.floor(rnd() * PIECES.length)] : String.fromCharCode(Math.floor(rnd() * 128));
  }
  return s;
}
