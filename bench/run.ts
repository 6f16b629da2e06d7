// `npm run bench [-- NAME...]`: runs the benchmarks (all, or the named ones), prints one table where
// every figure stands beside a baseline measured in the same run, and writes bench/results/<ts>.json.
// Needs root (real overlay mounts, exportfs). BENCH_N scales the lease-to-ready sample count.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAll, requireRoot } from '../test/helpers/lab.ts';
import { machineInfo, printTable, writeResults, type Figure } from './lib/report.ts';
import { distIsFresh } from './lib/daemon.ts';
import { freshLabFs, type LabFs } from './lib/lab-fs.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

type Bench = (log: (s: string) => void) => Promise<{ figures: Figure[]; raw?: unknown }>;

const BENCHES: Record<string, () => Promise<Bench>> = {
  'lease-to-ready': async () => {
    const { benchLeaseToReady } = await import('./lease-to-ready.ts');
    return (log) => benchLeaseToReady(Number(process.env.BENCH_N ?? 200), log);
  },
  'boot-storm': async () => (await import('./boot-storm.ts')).benchBootStorm,
  'parse-diff': async () => (await import('./parse-diff.ts')).benchParseDiff,
  'isc-append': async () => (await import('./isc-append.ts')).benchIscAppend,
  'rss': async () => (await import('./rss.ts')).benchRss,
  'syslog-ingest': async () => (await import('./syslog-ingest.ts')).benchSyslogIngest,
  'status': async () => (await import('./status.ts')).benchStatus,
  'exports-scale': async () => (await import('./exports-scale.ts')).benchExportsScale,
  'ganesha-scale': async () => (await import('./ganesha-scale.ts')).benchGaneshaScale,
  'images': async () => (await import('./images.ts')).benchImages,
};

async function main(): Promise<void> {
  requireRoot();
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  for (const w of wanted) if (!BENCHES[w]) throw new Error(`unknown benchmark ${w}; known: ${Object.keys(BENCHES).join(', ')}`);
  const names = wanted.length ? wanted : Object.keys(BENCHES);
  console.log(`machine: ${JSON.stringify(machineInfo())}`);
  // as installed (compiled, bin/pxebootd.js) when the build is current, which `npm run bench` ensures;
  // otherwise from the sources, whose type stripping adds about 30 MB of RSS
  const fresh = distIsFresh();
  process.env.PXG_CLI = fresh ? 'dist' : 'src';
  console.log(fresh ? 'pxebootd: compiled dist/ (current)' : 'pxebootd: dist/ missing or older than the sources; running src/cli/main.ts (RSS figures include type stripping; use `npm run bench`)');
  const figures: Figure[] = [];
  const raw: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const labFs: Record<string, LabFs> = {};
  for (const name of names) {
    console.log(`== ${name}`);
    const t0 = performance.now();
    try {
      // undone by cleanupAll below, so every benchmark starts on a filesystem no other one churned
      labFs[name] = freshLabFs();
      console.log(`  labs on ${labFs[name].kind === 'host' ? `$TMPDIR as it is (${labFs[name].dir})` : `a fresh journaled ext4 (${labFs[name].dir})`}`);
      const bench = await BENCHES[name]!();
      const r = await bench((s) => console.log(s));
      figures.push(...r.figures);
      if (r.raw !== undefined) raw[name] = r.raw;
    } catch (e) {
      errors[name] = (e as Error).stack ?? String(e);
      console.log(`  FAILED: ${(e as Error).message}`);
    } finally {
      await cleanupAll();
    }
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  console.log('');
  printTable(figures);
  const file = writeResults(path.join(HERE, 'results'), figures, { cli: process.env.PXG_CLI, errors, raw, labFs });
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
  if (Object.keys(errors).length) {
    console.log(`benchmarks that could not run: ${Object.keys(errors).join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
