// Lease to ready: a dnsmasq-style in-place rewrite of a ~10,000-lease file with one new client, until
// that client's pxelinux file is present (inotify in the bench process). Real overlay mount and real
// exportfs. Baseline: bench/diy-dhcp-script.sh, spawned per new lease right after the same rewrite,
// as dnsmasq's --dhcp-script would be.
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, fdatasyncSync, openSync, rmSync, writeSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootFile, client, leaseLine, makeLab, rewriteInPlace, unmountAll, watchArrivals, writeConfig } from './lib/lab.ts';
import { cpuOf, readDaemonTimings, startPxebootd } from './lib/daemon.ts';
import { figure, median, percentile, type Figure } from './lib/report.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BACKGROUND = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function background(expiry: number): string {
  let s = '';
  for (let i = 0; i < BACKGROUND; i++) s += leaseLine(client(98, i), expiry);
  return s;
}

/** Time each of n new clients from rewrite to boot file; `after` runs right after the rewrite. */
async function measure(lab: ReturnType<typeof makeLab>, n: number, after: (i: number) => void): Promise<number[]> {
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  let table = background(expiry);
  rewriteInPlace(lab.leases, table);
  await sleep(500);
  const arrivals = watchArrivals(path.join(lab.tftpRoot, 'pxelinux.cfg'));
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const c = client(99, i + 1);
      table += leaseLine(c, expiry);
      const t0 = performance.now();
      rewriteInPlace(lab.leases, table);
      after(i);
      const t1 = await arrivals.when(path.basename(bootFile(lab, c.mac)), 10_000);
      out.push(t1 - t0);
      await sleep(30); // let trailing work (timeline, state write) finish, as between real boots
    }
  } finally {
    arrivals.close();
  }
  return out;
}

/**
 * What the state directory's disk alone costs: n appends of an fsids.log-sized line, each followed
 * by a timed fdatasync, paced like the clients. The daemon's fsid commit is one such fdatasync.
 */
async function fdatasyncFloor(dir: string, n: number): Promise<number[]> {
  const file = path.join(dir, 'floor.log');
  const fd = openSync(file, 'a', 0o600);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      writeSync(fd, `{"name":"0A63${i.toString(16).padStart(4, '0')}","fsid":${10_000 + i}}\n`);
      const t0 = performance.now();
      fdatasyncSync(fd);
      out.push(performance.now() - t0);
      await sleep(10);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return out;
}

/** state.json with n released nodes of another subnet, each with a boot's timeline (about 1 KB a record). */
function fleetState(n: number): string {
  const nodes: unknown[] = [];
  const fsids: Record<string, number> = {};
  const t = Date.now() - 86_400_000;
  for (let i = 0; i < n; i++) {
    const name = `0A61${i.toString(16).toUpperCase().padStart(4, '0')}`;
    const mac = `52:54:61:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    fsids[name] = 20_000 + i;
    const timeline = ['dnsmasq-leases seen', 'tftp pxelinux.0', `tftp pxelinux.cfg/01-${mac.replace(/:/g, '-')}`, 'tftp vmlinuz', 'tftp initrd.img', 'ready', 'released (remove): lease expired'].map((what, k) => ({ time: t + k * 700, what, source: '/var/lib/misc/dnsmasq.leases' }));
    nodes.push({ name, ip: `10.97.${i >> 8}.${i & 255}`, mac, hostname: `n${i}`, subnet: '10.97.0.0/16', state: 'released', fsid: 20_000 + i, lastSeen: t, sources: ['/var/lib/misc/dnsmasq.leases'], readyAt: t, timeline });
  }
  return JSON.stringify({ version: 1, nextFsid: 20_000 + n, fsids, nodes }) + '\n';
}

export async function benchLeaseToReady(n: number, log: (s: string) => void): Promise<{ figures: Figure[]; raw: Record<string, unknown> }> {
  // baseline: DIY dhcp-script
  const diy = makeLab('diy');
  const fsidFile = path.join(diy.dir, 'next-fsid');
  writeFileSync(fsidFile, '10000\n');
  const env = { ...process.env, DIY_ROOT: diy.lower, DIY_NODES: diy.nodeDir, DIY_OVERLAY: diy.overlayDir, DIY_EXPORTS: diy.exportsFile, DIY_TFTP: diy.tftpRoot, DIY_FSID: fsidFile, DIY_SERVER: '10.99.0.1' };
  const failures: string[] = [];
  const base = await measure(diy, n, (i) => {
    const c = client(99, i + 1);
    const p = spawn(path.join(HERE, 'diy-dhcp-script.sh'), ['add', c.mac, c.ip, c.hostname], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => code !== 0 && failures.push(`${c.ip}: exit ${code} ${err.trim()}`));
  });
  if (failures.length) log(`  diy script failures: ${failures.slice(0, 3).join('; ')}`);
  unmountAll(diy.nodeDir);
  log(`  baseline diy-dhcp-script: median ${median(base).toFixed(1)} ms, p99 ${percentile(base, 99).toFixed(1)} ms`);

  // pxebootd
  const lab = makeLab('l2r');
  const cfg = writeConfig(lab);
  // BENCH_STATE_NODES=N: the daemon starts with N released nodes in its state (a fleet's records,
  // with timelines), so that persisting the measured clients' records is done at that scale
  const stateNodes = Number(process.env.BENCH_STATE_NODES ?? 0);
  if (stateNodes > 0) writeFileSync(path.join(lab.stateDir, 'state.json'), fleetState(stateNodes));
  // BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the daemon (written on SIGTERM)
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const logFile = path.join(lab.dir, 'pxebootd.log');
  // debug level: the runner logs each command's duration, for the breakdown below
  const d = await startPxebootd(cfg, lab.socket, logFile, [], nodeArgs, 'debug');
  let ours: number[];
  // the daemon's CPU over the timed clients: the work per lease, which the machine's load does not change much
  let cpu = { all: 0, main: 0 };
  try {
    const c0 = cpuOf(d.pid);
    ours = await measure(lab, n, () => {});
    const c1 = cpuOf(d.pid);
    cpu = { all: c1.all - c0.all, main: c1.main - c0.main };
  } finally {
    await d.stop();
    unmountAll(lab.nodeDir);
    if (process.env.BENCH_KEEP_LOG) copyFileSync(path.join(lab.dir, 'pxebootd.log'), process.env.BENCH_KEEP_LOG);
  }
  log(`  pxebootd${stateNodes ? ` (${stateNodes} nodes in its state)` : ''}: median ${median(ours).toFixed(1)} ms, p99 ${percentile(ours, 99).toFixed(1)} ms`);
  log(`  daemon CPU per client: ${(cpu.all / n).toFixed(1)} ms (main thread ${(cpu.main / n).toFixed(1)} ms)`);
  // same run, same disk, daemon stopped: the fdatasync the fsid commit waits on, alone
  const sync = await fdatasyncFloor(lab.stateDir, n);
  log(`  bare fdatasync in the state dir: median ${median(sync).toFixed(2)} ms, p99 ${percentile(sync, 99).toFixed(2)} ms`);
  const t = readDaemonTimings(logFile);
  const breakdown: Record<string, number> = { daemonSeenToReadyMedian: median(t.readyMs) };
  for (const [tool, xs] of Object.entries(t.byTool)) breakdown[`${tool}Median`] = median(xs);
  log(`  inside the daemon (medians, ms): ${Object.entries(breakdown).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);

  const what = 'diy dhcp-script';
  const figures = [
    figure({ bench: 'lease-to-ready', metric: `median (n=${n}, ${BACKGROUND} leases)`, unit: 'ms', value: median(ours), baseline: { what, value: median(base) }, op: '<=', limit: 15 }),
    figure({ bench: 'lease-to-ready', metric: `p99 (n=${n})`, unit: 'ms', value: percentile(ours, 99), baseline: { what, value: percentile(base, 99) }, op: '<=', limit: 50 }),
    figure({ bench: 'lease-to-ready', metric: `p99 of a bare fdatasync, state dir (n=${n})`, unit: 'ms', value: percentile(sync, 99), baseline: { what: 'its median', value: median(sync) }, op: 'info', limit: 0 }),
  ];
  return { figures, raw: { pxebootd: ours, diy: base, fdatasync: sync, cpuPerClientMs: cpu.all / n, mainThreadPerClientMs: cpu.main / n, breakdown, commands: t.byTool } };
}
