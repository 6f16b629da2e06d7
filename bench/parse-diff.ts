// Scale: cold parse + diff of a 100,000-lease dnsmasq file (every line parsed and validated, the new
// lease set diffed against the previous one: what a full re-read costs), and separately the watcher's
// real per-rewrite path (read + incremental parse of the changed lines + tracker) for a rewrite with
// three separate edits. Baselines in the same run: JSON.parse of the same leases as a JSON array, and
// a naive split-only pass over the same text.
import { parseDnsmasqLeases } from '../watchers/leases/dnsmasq-parser.ts';
import { diffLeases } from '../watchers/leases/lease.ts';
import { createDnsmasqReader } from '../watchers/leases/lease-readers.ts';
import { createLeaseTracker } from '../watchers/leases/lease-tracker.ts';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../test/helpers/lab.ts';
import { client, leaseLine } from './lib/lab.ts';
import { figure, median, type Figure } from './lib/report.ts';

const N = 100_000;
const REPS = 15;

function time(fn: () => void, reps = REPS): number[] {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export async function benchParseDiff(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  const leases = Array.from({ length: N }, (_, i) => client(100 + (i >> 16), i & 0xffff));
  const prevText = leases.map((l) => leaseLine(l, expiry)).join('');
  // next: one new client, one renewed, one gone, as a real rewrite
  const nextText = leases.slice(1).map((l, i) => leaseLine(l, i === 500 ? expiry + 60 : expiry)).join('') + leaseLine(client(99, 1), expiry);
  const json = JSON.stringify(leases.map((l) => ({ expires: expiry, mac: l.mac, ip: l.ip, hostname: l.hostname, clientId: `01:${l.mac}` })));
  log(`  ${N} leases: ${(nextText.length / 1e6).toFixed(1)} MB text, ${(json.length / 1e6).toFixed(1)} MB JSON`);

  const prev = parseDnsmasqLeases(prevText, 'bench').leases;
  let diff = { seen: 0, gone: 0 };
  const ours = time(() => {
    const next = parseDnsmasqLeases(nextText, 'bench');
    const d = diffLeases(prev, next.leases);
    diff = { seen: d.seen.length, gone: d.gone.length };
  });
  if (diff.seen !== 2 || diff.gone !== 1) throw new Error(`parse+diff: expected 2 seen and 1 gone, found ${diff.seen} seen and ${diff.gone} gone`);
  // the watcher's whole per-rewrite path: read the file, parse, feed the tracker (prev already known)
  const dir = tempDir('pxg-parse-');
  const file = path.join(dir, 'dnsmasq.leases');
  const reader = createDnsmasqReader(file, 'bench');
  const tracker = createLeaseTracker('dnsmasq-leases', 'bench', { settleMs: 150 });
  const texts = [prevText, nextText];
  let k = 0;
  writeFileSync(file, texts[k++ % 2]!);
  tracker.apply(await reader.read(false));
  const watcherMs: number[] = [];
  for (let i = 0; i < REPS + 3; i++) {
    writeFileSync(file, texts[k++ % 2]!);
    const t0 = performance.now();
    const ev = tracker.apply(await reader.read(false)).events;
    if (i >= 3) watcherMs.push(performance.now() - t0);
    if (ev.length < 1) throw new Error(`watcher path: expected events for the changed leases, found none`);
  }
  let sink = 0;
  const jsonMs = time(() => {
    sink += (JSON.parse(json) as unknown[]).length;
  });
  const splitMs = time(() => {
    for (const line of nextText.split('\n')) sink += line.split(' ').length;
  });
  log(`  watcher read+parse+track median ${median(watcherMs).toFixed(1)} ms`);
  log(`  parse+diff median ${median(ours).toFixed(1)} ms; JSON.parse ${median(jsonMs).toFixed(1)} ms; split-only ${median(splitMs).toFixed(1)} ms (${sink > 0 ? 'ok' : ''})`);
  const figures = [
    figure({ bench: 'scale', metric: `parse+diff ${N / 1000}k dnsmasq leases`, unit: 'ms', value: median(ours), baseline: { what: 'JSON.parse same leases', value: median(jsonMs) }, op: '<=', limit: 100 }),
    figure({ bench: 'scale', metric: `parse+diff vs split-only`, unit: 'ms', value: median(ours), baseline: { what: 'split lines+fields only', value: median(splitMs) }, op: '<=', limit: 100 }),
    figure({ bench: 'scale', metric: `lease watcher per rewrite (read+parse+track) ${N / 1000}k`, unit: 'ms', value: median(watcherMs), baseline: { what: 'JSON.parse same leases', value: median(jsonMs) }, op: '<=', limit: 100 }),
  ];
  return { figures, raw: { watcherMs, parseDiffMs: ours, jsonParseMs: jsonMs, splitOnlyMs: splitMs } };
}
