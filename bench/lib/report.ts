// One benchmark figure, always beside a baseline measured in the same run, and the table/JSON output.
import { execFileSync } from 'node:child_process';
import { cpus, release } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One measured figure: absolute value, its baseline from the same run, the ratio and the target. */
export interface Figure {
  bench: string;
  metric: string;
  unit: string;
  value: number;
  baseline: { what: string; value: number };
  /** value / baseline.value */
  ratio: number;
  /** e.g. "<= 30 ms" */
  target: string;
  met: boolean;
  /** a figure shown for context, with no target of its own */
  info?: boolean;
  notes?: string;
  /** when `value` is the median of several runs: their min, max and count */
  spread?: Spread;
}

/** The range of several runs of one figure. */
export interface Spread {
  min: number;
  max: number;
  n: number;
}

/** min, max and count of several runs. */
export function spreadOf(xs: number[]): Spread {
  return { min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** Build a Figure, computing the ratio and whether `value` meets `op limit`. */
export function figure(f: Omit<Figure, 'ratio' | 'met' | 'target' | 'info'> & { op: '<=' | '>=' | '~' | 'ratio<=' | 'info'; limit: number; tolerance?: number }): Figure {
  const ratio = f.baseline.value === 0 ? Number.NaN : f.value / f.baseline.value;
  if (f.op === 'info') {
    const { op: _o, limit: _l, tolerance: _t, ...rest } = f;
    return { ...rest, ratio, target: '(context)', met: true, info: true };
  }
  let met: boolean;
  let target: string;
  if (f.op === '~') {
    // ratio near `limit` (usually 1) within tolerance
    const tol = f.tolerance ?? 0.5;
    met = Math.abs(ratio - f.limit) <= tol;
    target = `ratio ${f.limit}±${tol}`;
  } else if (f.op === 'ratio<=') {
    met = ratio <= f.limit;
    target = `ratio <= ${f.limit}`;
  } else {
    met = f.op === '<=' ? f.value <= f.limit : f.value >= f.limit;
    target = `${f.op} ${f.limit} ${f.unit}`;
  }
  const { op: _o, limit: _l, tolerance: _t, ...rest } = f;
  return { ...rest, ratio, target, met };
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.max(0, Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1));
  return s[k]!;
}

/** What machine the figures came from. */
export function machineInfo(): Record<string, string | number> {
  const sh = (c: string, a: string[]) => {
    try {
      return execFileSync(c, a, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  return {
    nproc: Number(sh('nproc', [])),
    cpu: cpus()[0]?.model ?? '?',
    kernel: release(),
    node: process.version,
    date: new Date().toISOString(),
  };
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** Print the table of figures to stdout. */
export function printTable(figs: Figure[]): void {
  const rows = figs.map((f) => [
    f.bench,
    f.metric,
    `${fmt(f.value)} ${f.unit}${f.spread && f.spread.n > 1 ? ` (median of ${f.spread.n}: ${fmt(f.spread.min)}-${fmt(f.spread.max)})` : ''}`,
    `${fmt(f.baseline.value)} ${f.unit} (${f.baseline.what})`,
    `${fmt(f.ratio)}x`,
    f.target,
    f.info ? '' : f.met ? 'met' : 'MISSED',
  ]);
  const head = ['bench', 'metric', 'value', 'baseline (same run)', 'ratio', 'target', ''];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join(' | ');
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('-|-'));
  for (const r of rows) console.log(line(r));
  for (const f of figs) if (f.notes) console.log(`${f.bench}, ${f.metric}: ${f.notes}`);
}

/** Write bench/results/<timestamp>.json and return its path. */
export function writeResults(dir: string, figs: Figure[], extra: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ machine: machineInfo(), figures: figs, ...extra }, null, 2) + '\n');
  return file;
}
