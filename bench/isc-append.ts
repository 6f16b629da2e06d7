// Scale: an append to a 100 MB ISC dhcpd.leases journal vs the same append to a 1 MB one, through
// the real lease watcher (chokidar -> tail reader -> ISC parser -> tracker -> sink). Figure: median
// append-to-event latency on 100 MB, with the 1 MB file's median as the baseline; target ratio ≈ 1.
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLeaseWatcher } from '../watchers/leases/lease-watcher.ts';
import { silentLogger } from '../src/log.ts';
import { createRunner } from '../src/runner.ts';
import type { WatcherContext } from '../src/contracts.ts';
import type { ClientEvent, Config, SourceConfig } from '../src/types.ts';
import { tempDir, waitFor } from '../test/helpers/lab.ts';
import { client } from './lib/lab.ts';
import { figure, median, type Figure } from './lib/report.ts';

const APPENDS = 25;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function iscTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCDay()} ${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

function block(ip: string, mac: string, host: string, now: Date): string {
  const ends = new Date(now.getTime() + 3600_000);
  return `lease ${ip} {\n  starts ${iscTime(now)};\n  ends ${iscTime(ends)};\n  cltt ${iscTime(now)};\n  binding state active;\n  next binding state free;\n  rewind binding state free;\n  hardware ethernet ${mac};\n  uid "\\001RT\\000\\252\\273\\001";\n  set vendor-class-identifier = "PXEClient:Arch:00000:UNDI:002001";\n  client-hostname "${host}";\n}\n`;
}

/** A journal of about `bytes`: renewals of 5,000 clients over and over, as dhcpd appends them. */
function journal(bytes: number, now: Date): { text: string; clients: number } {
  const head = '# The format of this file is documented in the dhcpd.leases(5) manual page.\n# This lease file was written by isc-dhcp-4.4.3-P1\n\nauthoring-byte-order little-endian;\n\n';
  const parts = [head];
  let size = head.length;
  let i = 0;
  for (; size < bytes; i++) {
    const c = client(98, i % 5000);
    const b = block(c.ip, c.mac, c.hostname, now);
    parts.push(b);
    size += b.length;
  }
  return { text: parts.join(''), clients: Math.min(i, 5000) };
}

async function measure(bytes: number, log: (s: string) => void): Promise<number[]> {
  const dir = tempDir('pxg-isc-');
  const file = path.join(dir, 'dhcpd.leases');
  const now = new Date();
  const j = journal(bytes, now);
  writeFileSync(file, j.text);
  const seen = new Map<string, number>();
  let events = 0;
  const source = { type: 'isc-leases', path: file } as SourceConfig;
  const ctx: WatcherContext = {
    config: {} as Config,
    source,
    log: silentLogger(),
    runner: createRunner(silentLogger()),
    sink: {
      event(e: ClientEvent) {
        events++;
        if (e.ip && !seen.has(e.ip)) seen.set(e.ip, performance.now());
      },
      bad() {},
    },
  };
  const w = createLeaseWatcher(ctx);
  const t0 = performance.now();
  const out: number[] = [];
  try {
    await w.start();
    await waitFor('initial read of the journal', () => seen.size >= j.clients, 120_000, 20);
    log(`  ${(bytes / 1e6).toFixed(0)} MB journal (${j.clients} clients): initial read ${(performance.now() - t0).toFixed(0)} ms`);
    for (let i = 0; i < APPENDS; i++) {
      const c = client(99, i + 1 + (bytes > 5e6 ? 1000 : 0));
      const t = performance.now();
      appendFileSync(file, block(c.ip, c.mac, c.hostname, new Date()));
      const at = await waitFor(`event for ${c.ip}`, () => seen.get(c.ip), 10_000, 1);
      out.push(at - t);
      await sleep(50);
    }
  } finally {
    await w.stop();
  }
  return out;
}

export async function benchIscAppend(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const small = await measure(1e6, log);
  const big = await measure(100e6, log);
  log(`  append-to-event median: 1 MB ${median(small).toFixed(2)} ms, 100 MB ${median(big).toFixed(2)} ms`);
  return {
    figures: [
      figure({ bench: 'scale', metric: 'ISC append to event, 100 MB journal', unit: 'ms', value: median(big), baseline: { what: 'same append, 1 MB journal', value: median(small) }, op: '~', limit: 1, tolerance: 0.5 }),
    ],
    raw: { smallMs: small, bigMs: big },
  };
}
