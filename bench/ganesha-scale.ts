// The ganesha backend at fleet scale: lease-to-ready of one new client through a real pxebootd
// (`pxebootd run`, exports.backend ganesha, exports.dbus auto) on a real ganesha.nfsd 4.3 that
// already exports N ready nodes (N = 1,000, 5,000, 10,000 by default), on a private system bus.
// Ganesha starts with an empty %include file (its start-up with 10,000 EXPORT blocks takes minutes,
// and grows with the square of the count), and the daemon grows the fleet itself: real leases,
// real overlay mounts, one AddExport per node over DBus (the storm path), its own file holding
// every block, so a SIGHUP reloads the same set.
// At each N, in the same run:
//   - lone new leases, one at a time: ms from the lease-file rewrite to the node's boot file
//     (pxebootd publishes it only after Ganesha has answered AddExport);
//   - bare AddExport cost at N: dbus-send of one one-block file (a spare plain directory), then
//     RemoveExport, ×BARE_CALLS, timed from this process;
//   - one bare SIGHUP reload at N, ×HUPS (once when one takes over LONG_HUP_MS): kill -HUP until
//     Ganesha's log gains one more "Reread exports complete", then ShowExports over DBus must list
//     the same count as before; into one of them, 1 s after the signal, one AddExport (a new node
//     arriving while Ganesha reloads), timed until answered;
//   - the fill: ms per 1,000 nodes that the daemon added over DBus, and its AddExport durations.
// BENCH_GANESHA_SIZES (default 1000,5000,10000), BENCH_GANESHA_SAMPLES lone leases per N (default 9).
// At the default sizes the run takes about 11–12 minutes, most of it the reloads at 10,000.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeNetnsPair, onCleanup, sh, waitFor, type Daemon } from '../test/helpers/lab.ts';
import { makeSharedSubtree, startGanesha, type GaneshaHandle } from '../test/helpers/ganesha.ts';
import { startPrivateBus } from '../test/helpers/dbus.ts';
import { loadSysMount } from '../provisioners/mounter.ts';
import { buildGaneshaBlock } from '../provisioners/exports-ganesha.ts';
import { bootFile, client, leaseLine, makeLab, mountsUnder, rewriteInPlace, watchArrivals, writeConfig, type Lease } from './lib/lab.ts';
import { startPxebootd } from './lib/daemon.ts';
import { figure, median, percentile, type Figure } from './lib/report.ts';

const FILL_STEP = 1000;
const BARE_CALLS = 10;
const HUPS = 3;
/** A reload longer than this is done once per size (at 10,000 exports it takes minutes). */
const LONG_HUP_MS = 60_000;
/** Export_Ids of the bare AddExport calls: above every node's (start_fsid 10000 + at most 10,100 nodes). */
const BARE_ID = 60000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The i-th node of the fleet (1-based), in 10.99.0.0/16 like the lab's subnet. */
const node = (i: number): Lease => client(99, i);

const stats = (xs: number[]) => ({ p50: median(xs), p99: percentile(xs, 99), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
const fmt = (xs: number[]) => {
  const s = stats(xs);
  return `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}, n=${s.n})`;
};

/** One dbus-send to Ganesha's export manager: its stdout and wall-clock ms from this process. */
function dbusSend(args: string[]): { ms: number; out: string } {
  const t0 = performance.now();
  try {
    const out = execFileSync('dbus-send', ['--system', '--print-reply', '--reply-timeout=600000', '--dest=org.ganesha.nfsd', '/org/ganesha/nfsd/ExportMgr', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 700_000, maxBuffer: 256 << 20 });
    return { ms: performance.now() - t0, out };
  } catch (e) {
    throw new Error(`dbus-send ${args.join(' ')}: ${String((e as { stderr?: string }).stderr ?? e)}`);
  }
}

/** How many exports Ganesha lists (ShowExports: one `uint16 <id>` per export, pseudo root included). */
function showExportsCount(): { ms: number; count: number } {
  const r = dbusSend(['org.ganesha.nfsd.exportmgr.ShowExports']);
  return { ms: r.ms, count: (r.out.match(/^\s*uint16 \d+$/gm) ?? []).length };
}

/** Durations of the daemon's AddExport calls (debug log: one line per runner command) from byte `from`. */
function daemonAddExportMs(logFile: string, from: number): number[] {
  const out: number[] = [];
  for (const line of readFileSync(logFile).subarray(from).toString('utf8').split('\n')) {
    if (!line.includes('AddExport') || !line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as { cmd?: string; durationMs?: number };
      if (o.cmd?.includes('exportmgr.AddExport') && typeof o.durationMs === 'number') out.push(o.durationMs);
    } catch {
      /* a line being written */
    }
  }
  return out;
}

/** Bare AddExport + RemoveExport at the current size, from a one-block file of a spare plain directory. */
function bareAddExport(dir: string): { add: number[]; rm: number[] } {
  const conf = path.join(dir, 'bare-export.conf');
  const res = { add: [] as number[], rm: [] as number[] };
  for (let j = 0; j < BARE_CALLS; j++) {
    const id = BARE_ID + j;
    const spare = path.join(dir, 'bare', `BA5E00${j.toString(16).padStart(2, "0").toUpperCase()}`);
    mkdirSync(spare, { recursive: true });
    writeFileSync(conf, buildGaneshaBlock({ node: `BA5E00${j.toString(16).padStart(2, "0").toUpperCase()}`, path: spare, ip: '10.97.0.1', fsid: id, pseudo: `/bare/${j}` }));
    const a = dbusSend(['org.ganesha.nfsd.exportmgr.AddExport', `string:${conf}`, `string:EXPORT(Export_Id=${id})`]);
    if (!/1 exports? added/.test(a.out)) throw new Error(`bare AddExport ${id}: ${a.out.trim()}`);
    res.add.push(a.ms);
    res.rm.push(dbusSend(['org.ganesha.nfsd.exportmgr.RemoveExport', `uint16:${id}`]).ms);
  }
  return res;
}

/**
 * One SIGHUP, timed until Ganesha logs that the reread is complete. With `probeDir`: 1 s into a
 * reload still running, one bare AddExport (as pxebootd's for a new node, its block not in the file
 * the reload reads), timed; afterwards whether it survived the reload, and it is removed again.
 * Then ShowExports must list `expectCount` exports (a mismatch is reported, not thrown).
 */
async function timedHup(g: GaneshaHandle, expectCount: number, probeDir?: string): Promise<{ ms: number; probeMs?: number; probeSurvived?: boolean; note?: string }> {
  const rereads = () => (readFileSync(g.logFile, 'utf8').match(/Reread exports complete/g) ?? []).length;
  const before = rereads();
  const t0 = performance.now();
  g.reload();
  let doneAt: number | undefined;
  const done = () => {
    if (doneAt === undefined && rereads() > before) doneAt = performance.now();
    return doneAt !== undefined;
  };
  let probeMs: number | undefined;
  let probeSurvived: boolean | undefined;
  const notes: string[] = [];
  if (probeDir) {
    while (!done() && performance.now() - t0 < 1000) await sleep(5);
    if (!done()) {
      const spare = path.join(probeDir, 'bare', 'BA5EFFFF');
      const conf = path.join(probeDir, 'probe-export.conf');
      mkdirSync(spare, { recursive: true });
      writeFileSync(conf, buildGaneshaBlock({ node: 'BA5EFFFF', path: spare, ip: '10.97.0.2', fsid: BARE_ID - 1, pseudo: '/bare/FFFF' }));
      try {
        probeMs = dbusSend(['org.ganesha.nfsd.exportmgr.AddExport', `string:${conf}`, `string:EXPORT(Export_Id=${BARE_ID - 1})`]).ms;
      } catch (e) {
        notes.push(`probe AddExport failed: ${(e as Error).message.trim()}`);
      }
    }
  }
  await waitFor('Ganesha: Reread exports complete', done, 1_800_000, 5);
  const ms = doneAt! - t0;
  if (probeMs !== undefined) {
    try {
      dbusSend(['org.ganesha.nfsd.exportmgr.DisplayExport', `uint16:${BARE_ID - 1}`]);
      probeSurvived = true;
    } catch {
      probeSurvived = false;
    }
    if (probeSurvived) {
      try {
        dbusSend(['org.ganesha.nfsd.exportmgr.RemoveExport', `uint16:${BARE_ID - 1}`]);
      } catch (e) {
        notes.push(`probe RemoveExport after the reload failed: ${(e as Error).message.trim()}`);
      }
    }
  }
  const after = showExportsCount().count;
  if (after !== expectCount) notes.push(`after the reload Ganesha lists ${after} exports, expected ${expectCount}`);
  return { ms, probeMs, probeSurvived, note: notes.length ? notes.join('; ') : undefined };
}

interface PerSize {
  l2r: number[];
  bareAdd: number[];
  bareRm: number[];
  hupMs: number[];
  /** an AddExport sent 1 s into a running SIGHUP reload: ms until Ganesha answered */
  probeMs: number | undefined;
  hupNotes: string[];
  fillMsPer1000: number | undefined;
  fillAddExportMs: number[];
  exports: number;
  showExportsMs: number;
  hupsByDaemon: number;
}

export async function benchGaneshaScale(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const sizes = (process.env.BENCH_GANESHA_SIZES ?? '1000,5000,10000').split(',').map(Number);
  const samples = Number(process.env.BENCH_GANESHA_SAMPLES ?? 9);
  if (samples < 5) throw new Error(`BENCH_GANESHA_SAMPLES=${samples}: at least 5 lone leases per size`);
  const bus = await startPrivateBus();
  const prevBus = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address; // dbus-send here and in the daemon (startPxebootd passes process.env)
  const lab = makeLab('gscale');
  makeSharedSubtree(lab.nodeDir); // before Ganesha starts: the overlays mounted later must reach its namespace
  // on SIGINT/SIGTERM (no finally): one lazy umount of the bind detaches every overlay below it at
  // once, where the helper's clean-up would run umount(8) for each of 10,000 (minutes)
  onCleanup(`detach ${lab.nodeDir}`, () => sh('umount', ['-l', lab.nodeDir], { allowFail: true }));
  const pair = makeNetnsPair('pxg');
  const gFile = path.join(lab.dir, 'ganesha-exports.conf');
  const logFile = path.join(lab.dir, 'pxebootd.log');
  const perSize: Record<number, PerSize> = {};
  let d: Daemon | undefined;
  const arrivals = watchArrivals(path.join(lab.tftpRoot, 'pxelinux.cfg'));
  try {
    const g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile: gFile, dbusAddress: bus.address, timeoutMs: 60_000 });
    await waitFor('Ganesha on the private bus', () => { try { return showExportsCount().count >= 0; } catch { return false; } }, 60_000, 200);
    const baseCount = showExportsCount().count; // the pseudo root
    const cfg = writeConfig(lab, { backend: { kind: 'ganesha', pidFile: g.pidFile, file: gFile } });
    d = await startPxebootd(cfg, lab.socket, logFile, [], [], 'debug');
    const hupsByDaemon = () => (readFileSync(logFile, 'utf8').match(/sent SIGHUP to ganesha\.nfsd/g) ?? []).length;
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const lines: string[] = [];
    let have = 0;
    const addLeases = (upTo: number) => {
      for (; have < upTo; have++) lines.push(leaseLine(node(have + 1), expiry));
      rewriteInPlace(lab.leases, lines.join(''));
    };
    const cfgDir = path.join(lab.tftpRoot, 'pxelinux.cfg');
    const readyCount = () => readdirSync(cfgDir).filter((f) => f.startsWith('01-')).length;
    for (const n of sizes) {
      // the fill, FILL_STEP leases at a time; each step timed from the rewrite to its last boot file
      const from = readFileSync(logFile).length;
      let fillMs = 0;
      const grown = Math.max(0, n - have);
      while (have < n) {
        const target = Math.min(n, have + FILL_STEP);
        const step = target - have;
        const t0 = performance.now();
        addLeases(target);
        await waitFor(`${target} boot files`, () => readyCount() >= target, 1_800_000, 100);
        const ms = performance.now() - t0;
        fillMs += ms;
        log(`  fill: ${target} ready (${ms.toFixed(0)} ms for the last ${step})`);
      }
      const fillAdds = daemonAddExportMs(logFile, from);
      await sleep(1500);
      const shown = showExportsCount();
      if (shown.count !== baseCount + have) throw new Error(`Ganesha lists ${shown.count} exports with ${have} ready nodes (expected ${baseCount + have})`);
      const exported = have;
      const hupsBefore = hupsByDaemon();
      const l2r: number[] = [];
      for (let k = 0; k < samples; k++) {
        await sleep(300); // idle between boots, as between real leases
        const c = node(have + 1);
        const t0 = performance.now();
        addLeases(have + 1);
        l2r.push((await arrivals.when(path.basename(bootFile(lab, c.mac)), 120_000)) - t0);
      }
      const daemonHups = hupsByDaemon() - hupsBefore;
      log(`  ${exported} exported (Ganesha lists ${shown.count}, ShowExports ${shown.ms.toFixed(0)} ms): lease to ready ${fmt(l2r)}; SIGHUPs by pxebootd during them: ${daemonHups}`);
      const bare = bareAddExport(lab.dir);
      log(`    bare AddExport (one-block file) ${fmt(bare.add)}; RemoveExport ${fmt(bare.rm)}`);
      const hupMs: number[] = [];
      let probeMs: number | undefined;
      const hupNotes: string[] = [];
      for (let h = 0; h < HUPS; h++) {
        // one reload per size carries the probe (an AddExport while it runs): the last one, or at
        // 5,000 and more (tens of seconds to minutes each) the first, which may be the only one
        const probe = n >= 5000 ? h === 0 : h === HUPS - 1;
        const r = await timedHup(g, baseCount + have, probe ? lab.dir : undefined);
        hupMs.push(r.ms);
        probeMs ??= r.probeMs;
        log(`    SIGHUP reload ${h + 1}/${HUPS} with ${have} exports: ${r.ms.toFixed(0)} ms${r.probeMs !== undefined ? `; an AddExport sent 1 s into it answered after ${r.probeMs.toFixed(0)} ms, ${r.probeSurvived ? 'still exported' : 'GONE'} after the reload` : ''}${r.note ? `; ${r.note}` : ''}`);
        if (r.note) hupNotes.push(r.note);
        if (r.ms > LONG_HUP_MS) break; // minutes each: one is the figure
      }
      perSize[n] = {
        l2r,
        bareAdd: bare.add,
        bareRm: bare.rm,
        hupMs,
        probeMs,
        hupNotes,
        fillMsPer1000: grown ? (fillMs / grown) * 1000 : undefined,
        fillAddExportMs: fillAdds,
        exports: exported,
        showExportsMs: shown.ms,
        hupsByDaemon: daemonHups,
      };
      log(`    one SIGHUP reload ${fmt(hupMs)}`);
      if (fillAdds.length) log(`    fill: ${perSize[n]!.fillMsPer1000!.toFixed(0)} ms per 1,000 nodes; daemon's AddExport ${fmt(fillAdds)}`);
      if (daemonHups) throw new Error(`N=${n}: pxebootd sent ${daemonHups} SIGHUP(s) during lone leases instead of using DBus`);
    }
  } finally {
    arrivals.close();
    await d?.stop();
    if (process.env.BENCH_KEEP_LOG) copyFileSync(logFile, process.env.BENCH_KEEP_LOG);
    // detach the overlays with the addon (10,000 umount(8)s take a minute); Ganesha, rpcbind, the
    // bus, the netns pair, the shared bind and the temp dirs go with cleanupAll (bench/run.ts)
    const sys = loadSysMount();
    if ('mod' in sys) for (const m of mountsUnder(lab.nodeDir)) await sys.mod.umount(m, 2).catch(() => {});
    if (prevBus === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = prevBus;
  }

  const figures: Figure[] = [];
  for (const n of sizes) {
    const p = perSize[n]!;
    const hup = { what: `one SIGHUP reload at ${n} (p50 of ${p.hupMs.length})`, value: median(p.hupMs) };
    const s = stats(p.l2r);
    figures.push(
      figure({ bench: 'ganesha-scale', metric: `lease to ready p50, ${n} exported (ganesha, DBus)`, unit: 'ms', value: s.p50, baseline: hup, op: '<=', limit: 30, notes: fmt(p.l2r) }),
      figure({ bench: 'ganesha-scale', metric: `lease to ready p99, ${n} exported (ganesha, DBus)`, unit: 'ms', value: s.p99, baseline: hup, op: '<=', limit: 100, notes: fmt(p.l2r) }),
      figure({ bench: 'ganesha-scale', metric: `bare AddExport (one-block file) at ${n}`, unit: 'ms', value: median(p.bareAdd), baseline: hup, op: 'info', limit: 0, notes: fmt(p.bareAdd) }),
      figure({ bench: 'ganesha-scale', metric: `one SIGHUP reload at ${n}`, unit: 'ms', value: median(p.hupMs), baseline: { what: `bare AddExport at ${n}`, value: median(p.bareAdd) }, op: 'info', limit: 0, notes: fmt(p.hupMs) }),
    );
  }
  if (sizes.length > 1) {
    const first = perSize[sizes[0]!]!;
    const last = perSize[sizes[sizes.length - 1]!]!;
    figures.push(figure({ bench: 'ganesha-scale', metric: `lease to ready p50 at ${sizes[sizes.length - 1]} vs at ${sizes[0]} (ganesha, DBus)`, unit: 'x', value: median(last.l2r) / median(first.l2r), baseline: { what: 'ratio 1 = flat', value: 1 }, op: '<=', limit: 1.5 }));
  }
  return { figures, raw: { samples, sizes, perSize } };
}
