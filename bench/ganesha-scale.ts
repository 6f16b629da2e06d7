// The ganesha backend at fleet scale: a real ganesha.nfsd on a private system bus that already
// exports N nodes (one EXPORT block per node in pxebootd's %include file, as pxebootd writes it).
// At each N, through pxebootd's own batcher and backend:
//   - export-to-ready of one new node (want() until it resolves: AddExport from a one-block file),
//     and unexport of one (drop(): DisplayExport + RemoveExport), k samples each;
// and in the same run, the baselines that a SIGHUP-only backend pays:
//   - one SIGHUP reload at N (kill -HUP until Ganesha logs "Reread exports complete"),
//   - Ganesha's start-up with N exports,
//   - one AddExport that points Ganesha at the whole N-block file (expression selecting one
//     Export_Id), which is why pxebootd hands it a one-block file instead.
// BENCH_GANESHA_SIZES (default 1000,2000; Ganesha 4.3's start-up and reload grow quadratically,
// about 7 minutes each at 10,000), BENCH_GANESHA_SAMPLES (default 9).
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { cleanupAll, makeNetnsPair, tempDir, waitFor } from '../test/helpers/lab.ts';
import { startGanesha } from '../test/helpers/ganesha.ts';
import { startPrivateBus } from '../test/helpers/dbus.ts';
import { createRunner } from '../src/runner.ts';
import { silentLogger } from '../src/log.ts';
import { createExportBackend, renderedText } from '../provisioners/export-backends.ts';
import { createExportBatcher } from '../provisioners/export-batcher.ts';
import { buildGaneshaBlock } from '../provisioners/exports-ganesha.ts';
import type { ExportEntry } from '../provisioners/export-entry.ts';
import type { Config } from '../src/types.ts';
import { figure, median, percentile, type Figure } from './lib/report.ts';

const entry = (base: string, i: number): ExportEntry => {
  const octets = [10, 100 + (i >> 16), (i >> 8) & 255, i & 255];
  const name = octets.map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(''); // ip-hex naming
  return { node: name, path: `${base}/node/${name}`, ip: octets.join('.'), fsid: i, pseudo: `/nodes/${name}` };
};

const stats = (xs: number[]) => ({ p50: median(xs), p99: percentile(xs, 99), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
const fmt = (s: ReturnType<typeof stats>) => `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}, n=${s.n})`;

function dbusSend(args: string[]): number {
  const t0 = performance.now();
  try {
    execFileSync('dbus-send', ['--system', '--print-reply', '--reply-timeout=600000', '--dest=org.ganesha.nfsd', '/org/ganesha/nfsd/ExportMgr', ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 700_000 });
  } catch (e) {
    throw new Error(`dbus-send ${args.join(' ')}: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
  return performance.now() - t0;
}

export async function benchGaneshaScale(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const sizes = (process.env.BENCH_GANESHA_SIZES ?? '1000,2000').split(',').map(Number);
  const k = Number(process.env.BENCH_GANESHA_SAMPLES ?? 9);
  const bus = await startPrivateBus();
  process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
  const figures: Figure[] = [];
  const raw: Record<number, unknown> = {};
  try {
    for (const n of sizes) {
      const pair = makeNetnsPair('pxg');
      const base = tempDir('pxd-gscale-');
      for (let i = 1; i <= n + 2 * k + 2; i++) mkdirSync(entry(base, i).path, { recursive: true });
      const exportsFile = path.join(base, 'pxebootd-ganesha.conf');
      const config = { exports: { backend: 'ganesha', file: exportsFile, options: '', start_fsid: 1, etab: '/nonexistent', dbus: 'auto' }, commands: { dbus_send: 'dbus-send' } } as unknown as Config;
      const runner = createRunner(silentLogger());
      let backend = createExportBackend(config, runner, silentLogger());
      const fleet = Array.from({ length: n }, (_, j) => entry(base, j + 1));
      writeFileSync(exportsFile, renderedText(backend, fleet));
      let t0 = performance.now();
      const g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile, dbusAddress: bus.address, timeoutMs: 3_600_000 });
      const startMs = performance.now() - t0;
      config.exports.pid_file = g.pidFile;
      backend = createExportBackend(config, runner, silentLogger());
      await waitFor('ganesha on the bus', () => { try { dbusSend(['org.ganesha.nfsd.exportmgr.DisplayExport', 'uint16:1']); return true; } catch { return false; } }, 600_000, 200);
      log(`ganesha-scale: N=${n}: Ganesha started with ${n} exports in ${(startMs / 1000).toFixed(1)} s`);
      const reloads = () => (readFileSync(g.logFile, 'utf8').match(/Reread exports complete/g) ?? []).length;
      // one bare SIGHUP reload at N (the file gains one block, as for one new node)
      const extra = entry(base, n + 2 * k + 2);
      appendFileSync(exportsFile, buildGaneshaBlock(extra));
      const before = reloads();
      t0 = performance.now();
      g.reload();
      await waitFor('reload done', () => reloads() > before, 3_600_000, 5);
      const hupMs = performance.now() - t0;
      log(`ganesha-scale: N=${n}: one SIGHUP reload ${hupMs.toFixed(0)} ms`);
      // one AddExport pointing at the whole file (selects one Export_Id): the cost pxebootd avoids
      const bigAdd = n <= 5000 ? (dbusSend(['org.ganesha.nfsd.exportmgr.RemoveExport', `uint16:${extra.fsid}`]), dbusSend(['org.ganesha.nfsd.exportmgr.AddExport', `string:${exportsFile}`, `string:EXPORT(Export_Id=${extra.fsid})`])) : Number.NaN;
      // pxebootd: the batcher's first batch is its start-up reload; then lone nodes go over DBus
      const batcher = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
      await batcher.want(entry(base, n + 2 * k + 1));
      await waitFor('start-up reload done', () => reloads() > before + 1, 3_600_000, 5);
      const dbusBefore = runner.stats().get('dbus-send')?.runs ?? 0;
      const hupsBefore = reloads();
      const add: number[] = [];
      const rm: number[] = [];
      for (let j = 1; j <= k; j++) {
        const e = entry(base, n + j);
        t0 = performance.now();
        await batcher.want(e);
        add.push(performance.now() - t0);
      }
      for (let j = 1; j <= k; j++) {
        t0 = performance.now();
        await batcher.drop(entry(base, n + j).path);
        rm.push(performance.now() - t0);
      }
      await batcher.close();
      const viaDbus = (runner.stats().get('dbus-send')?.runs ?? 0) - dbusBefore;
      if (reloads() !== hupsBefore) throw new Error(`N=${n}: pxebootd reloaded Ganesha ${reloads() - hupsBefore} time(s) instead of using DBus`);
      const sa = stats(add);
      const sr = stats(rm);
      log(`ganesha-scale: N=${n}: one new export over DBus ${fmt(sa)}; unexport ${fmt(sr)}; ${viaDbus} dbus-send calls; AddExport of the whole file ${bigAdd.toFixed(0)} ms`);
      raw[n] = { startMs, hupMs, bigAdd, add, rm, viaDbus };
      const base0 = { what: `one SIGHUP reload at ${n}`, value: hupMs };
      figures.push(
        figure({ bench: 'ganesha-scale', metric: `export to ready p50, ${n} exported (ganesha, DBus)`, unit: 'ms', value: sa.p50, baseline: base0, op: '<=', limit: 30, notes: fmt(sa) }),
        figure({ bench: 'ganesha-scale', metric: `export to ready p99, ${n} exported (ganesha, DBus)`, unit: 'ms', value: sa.p99, baseline: base0, op: '<=', limit: 100, notes: fmt(sa) }),
        figure({ bench: 'ganesha-scale', metric: `unexport p50, ${n} exported (ganesha, DBus)`, unit: 'ms', value: sr.p50, baseline: base0, op: 'info', limit: 0, notes: fmt(sr) }),
        figure({ bench: 'ganesha-scale', metric: `AddExport from the whole ${n}-block file`, unit: 'ms', value: bigAdd, baseline: base0, op: 'info', limit: 0 }),
        figure({ bench: 'ganesha-scale', metric: `Ganesha start-up with ${n} exports`, unit: 'ms', value: startMs, baseline: base0, op: 'info', limit: 0 }),
      );
      await g.stop();
    }
    if (sizes.length > 1) {
      const first = raw[sizes[0]!] as { add: number[] };
      const last = raw[sizes[sizes.length - 1]!] as { add: number[] };
      figures.push(figure({ bench: 'ganesha-scale', metric: `export to ready p50 at ${sizes[sizes.length - 1]} vs at ${sizes[0]} (ganesha, DBus)`, unit: 'x', value: median(last.add) / median(first.add), baseline: { what: 'ratio 1 = flat', value: 1 }, op: '<=', limit: 1.5 }));
    }
  } finally {
    await bus.stop();
    await cleanupAll();
  }
  return { figures, raw };
}
