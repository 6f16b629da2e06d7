// Hostile-string generator for provisioner fuzz tests (the PRNG is the shared one).
export { xorshiftFloat as xorshift } from '../../helpers/prng.ts';

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
