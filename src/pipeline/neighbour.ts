// For clients seen only by IP (a TFTP log line, a hex-IP config name): the kernel's neighbour table
// usually knows their MAC, since they just talked to us. `ip neigh show` through the Runner.
import type { Runner } from '../runner.ts';
import { isIPv4, normalizeMac } from '../validate.ts';

/** One IPv4 line of `ip neigh show`. */
export interface NeighbourEntry {
  ip: string;
  dev?: string;
  mac?: string;
  /** REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP, FAILED, INCOMPLETE (last word, may be several) */
  state: string;
}

/** Parse `ip neigh show` output (IPv4 lines only; others skipped). */
export function parseIpNeigh(text: string): NeighbourEntry[] {
  const out: NeighbourEntry[] = [];
  for (const raw of text.split('\n')) {
    const words = raw.trim().split(/\s+/);
    if (!words[0] || !isIPv4(words[0])) continue;
    const e: NeighbourEntry = { ip: words[0], state: '' };
    const states: string[] = [];
    for (let i = 1; i < words.length; i++) {
      const w = words[i]!;
      if (w === 'dev' && words[i + 1]) e.dev = words[++i];
      else if (w === 'lladdr' && words[i + 1]) {
        const mac = normalizeMac(words[++i]!);
        if (mac) e.mac = mac;
      } else if (/^[A-Z_]+$/.test(w)) states.push(w);
      else if (['router', 'proxy', 'extern_learn', 'offload'].includes(w)) continue;
    }
    e.state = states.join(' ');
    out.push(e);
  }
  return out;
}

const USABLE = /REACHABLE|STALE|DELAY|PROBE|PERMANENT|NOARP/;

/** MAC of `ip` from the neighbour table, or undefined (unknown, FAILED, INCOMPLETE, or ip invalid). */
export async function lookupNeighbourMac(runner: Runner, ipCmd: string, ip: string): Promise<string | undefined> {
  if (!isIPv4(ip)) return undefined;
  const r = await runner.run([ipCmd, 'neigh', 'show', ip], { allowFailure: true, timeoutMs: 5000 });
  if (r.exitCode !== 0) return undefined;
  const hit = parseIpNeigh(r.stdout).find((e) => e.ip === ip && e.mac && USABLE.test(e.state));
  return hit?.mac;
}
