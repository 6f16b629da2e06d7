// Scale: `pxebootd status` against a daemon holding 100,000 nodes. The nodes come from a generated
// state.json (records shaped like the daemon's own: lease source, a syslog source, a five-entry
// timeline, the rule fingerprint) loaded by `pxebootd run --dry-run`, which keeps them in memory and
// mounts, exports and writes nothing. Each figure stands beside a baseline from the same run:
//  - `status IP` (one node, looked up by the daemon): the request alone over the control socket,
//    beside a `ping` over the same socket; the CLI process beyond its own start-up (each run paired
//    with a `pxebootd --version` of the same round); the whole CLI process beside `node -e ''`;
//  - `status --json` (every node, streamed) into a file, beside `cat` of a file of the same size
//    into a file, and JSON.stringify of the same records in this process;
//  - the table (every node) into a file, for context;
//  - how far the daemon's RSS rises while it answers `status --json`.
// BENCH_STATUS_N overrides the node count, BENCH_STATUS_RUNS the runs per figure.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, waitFor } from '../test/helpers/lab.ts';
import { makeLab, type BenchLab } from './lib/lab.ts';
import { pxebootdArgv, rssBytes } from './lib/daemon.ts';
import { figure, median, type Figure } from './lib/report.ts';
import { sendControl } from '../src/control.ts';
import { intToIp, ipToHex } from '../src/validate.ts';

const N = Number(process.env.BENCH_STATUS_N ?? 100_000);
const RUNS = Number(process.env.BENCH_STATUS_RUNS ?? 7);
const MB = 1024 * 1024;
const FIRST_IP = 0x0a600000 + 10; // 10.96.0.10, in 10.96.0.0/14 (262,144 addresses)

/** The i-th generated node record (the shape `status --json` shows). */
export function benchRecord(i: number, lab: { dir: string; leases: string }, now: number): Record<string, unknown> {
  const ip = intToIp(FIRST_IP + i);
  const h = (n: number) => n.toString(16).padStart(2, '0');
  const mac = `52:54:${h((i >> 16) & 255)}:${h((i >> 8) & 255)}:${h(i & 255)}:01`;
  const leaseSource = `dnsmasq-leases:${lab.leases}`;
  const t = now - 3_600_000 + (i % 1000);
  return {
    name: ipToHex(ip),
    ip,
    subnet: '10.96.0.0/14',
    state: i % 50 === 0 ? 'failed' : 'ready',
    fsid: 10_000 + i,
    lastSeen: t + 900,
    sources: [leaseSource, 'syslog:/var/log/syslog'],
    timeline: [
      { time: t, what: 'dnsmasq-leases seen', source: leaseSource },
      { time: t + 40, what: 'ready' },
      { time: t + 700, what: 'tftp pxelinux.0', source: 'syslog:/var/log/syslog' },
      { time: t + 760, what: 'tftp ldlinux.c32', source: 'syslog:/var/log/syslog' },
      { time: t + 900, what: `tftp pxelinux.cfg/01-${mac.replace(/:/g, '-')}`, source: 'syslog:/var/log/syslog' },
    ],
    mac,
    hostname: `node-${i}`,
    ...(i % 50 === 0 ? { lastError: 'exportfs: exited with code 1: exportfs: /srv/node/x: No such file or directory' } : {}),
    ruleKey: JSON.stringify({
      node_dir: path.join(lab.dir, 'node'),
      node_name: 'ip-hex',
      on_release: 'keep',
      overlay: 'persistent',
      overlay_dir: path.join(lab.dir, 'overlay'),
      pxe_template: path.join(lab.dir, 'pxelinux.cfg.template'),
      root_dir: path.join(lab.dir, 'lower'),
      subnet: '10.96.0.0/14',
      vars: [],
    }),
    readyAt: t + 40,
  };
}

/** Write state.json and fsids.json for `n` nodes, in pieces; returns the state file's size. */
function writeState(lab: BenchLab, n: number): number {
  const now = Date.now();
  const file = path.join(lab.stateDir, 'state.json');
  const fd = openSync(file, 'w', 0o600);
  const fsids: string[] = [];
  try {
    writeSync(fd, `{"version":1,"nextFsid":${10_000 + n},"fsids":{},"nodes":[`);
    let piece: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = benchRecord(i, lab, now);
      fsids.push(`${JSON.stringify(r.name)}:${r.fsid as number}`);
      piece.push((i ? ',' : '') + JSON.stringify(r));
      if (piece.length === 500) {
        writeSync(fd, piece.join(''));
        piece = [];
      }
    }
    writeSync(fd, piece.join('') + ']}\n');
  } finally {
    closeSync(fd);
  }
  writeFileSync(path.join(lab.stateDir, 'fsids.json'), `{"version":1,"nextFsid":${10_000 + n},"fsids":{${fsids.join(',')}}}\n`, { mode: 0o600 });
  return statSync(file).size;
}

function writeStatusConfig(lab: BenchLab): string {
  const file = path.join(lab.dir, 'pxebootd.yaml');
  writeFileSync(
    file,
    [
      `state_dir: ${lab.stateDir}`,
      `tftp_root: ${lab.tftpRoot}`,
      `server: 10.96.0.1`,
      `control_socket: ${lab.socket}`,
      `sources:`,
      `  - { type: dnsmasq-leases, path: ${lab.leases} }`,
      `exports:`,
      `  backend: kernel`,
      `  file: ${lab.exportsFile}`,
      `  start_fsid: 10000`,
      `subnets:`,
      `  - cidr: 10.96.0.0/14`,
      `    root_dir: ${lab.lower}`,
      `    node_dir: ${lab.nodeDir}`,
      `    overlay_dir: ${lab.overlayDir}`,
      `    pxe_template: ${lab.template}`,
      '',
    ].join('\n'),
  );
  return file;
}

/** Run a command to completion with stdout into `outFile` (or discarded); wall time in ms. */
function timed(argv: string[], outFile?: string): Promise<{ ms: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const fd = outFile ? openSync(outFile, 'w') : 'ignore';
    const t0 = performance.now();
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, 'pipe'] });
    if (typeof fd === 'number') closeSync(fd);
    let stderr = '';
    p.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    p.on('error', reject);
    p.on('close', (code) => resolve({ ms: performance.now() - t0, code, stderr }));
  });
}

function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${median(s).toFixed(1)}, min ${s[0]!.toFixed(1)}, max ${s[s.length - 1]!.toFixed(1)} ms over ${s.length} runs`;
}

async function repeat(n: number, f: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out;
}

/** Highest RSS of `pid` seen every 10 ms while `f` runs, in bytes. */
async function peakRssDuring<T>(pid: number, f: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = rssBytes(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 10);
  try {
    const result = await f();
    return { peak: Math.max(peak, rssBytes(pid)), result };
  } finally {
    clearInterval(timer);
  }
}

export async function benchStatus(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const lab = makeLab('status');
  const cfg = writeStatusConfig(lab);
  const stateBytes = writeState(lab, N);
  log(`  state.json of ${N} nodes: ${(stateBytes / MB).toFixed(1)} MB`);
  const cli = pxebootdArgv();
  const d = startDaemon('pxebootd', [...cli, 'run', '--dry-run', '-c', cfg], {
    logFile: path.join(lab.dir, 'pxebootd.log'),
    env: { ...process.env, PXEBOOTD_LOG_LEVEL: 'warn' },
  });
  try {
    const t0 = performance.now();
    const probe = intToIp(FIRST_IP + Math.floor(N / 2));
    await waitFor(
      `pxebootd pid ${d.pid} holding ${N} nodes`,
      async () => {
        try {
          const r = await sendControl(lab.socket, { op: 'status', node: probe }, { timeoutMs: 60_000 });
          const info = r.daemon as { pid?: number; watching?: boolean } | undefined;
          return info?.pid === d.pid && info.watching === true;
        } catch {
          return false;
        }
      },
      300_000,
      200,
    );
    log(`  dry-run daemon up with ${N} nodes after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const ips = Array.from({ length: RUNS }, (_, k) => intToIp(FIRST_IP + Math.floor(((k + 1) * N) / (RUNS + 1))));

    // `status IP`: the whole CLI process, interleaved with its baselines so that load on the
    // machine falls on all three alike; then the request alone
    const nodeStart: number[] = [];
    const version: number[] = [];
    const one: number[] = [];
    const oneOut = path.join(lab.dir, 'one.txt');
    let k = 0;
    for (let i = 0; i < RUNS * 2; i++) {
      nodeStart.push((await timed([process.execPath, '-e', ''])).ms);
      version.push((await timed([...cli, '--version'])).ms);
      const ip = ips[k++ % RUNS]!;
      const r = await timed([...cli, 'status', ip, '-c', cfg], oneOut);
      if (r.code !== 0) throw new Error(`status ${ip} exited ${r.code}: ${r.stderr}`);
      if (!readFileSync(oneOut, 'utf8').includes(`${ip} `)) throw new Error(`status ${ip} did not show the node:\n${readFileSync(oneOut, 'utf8').slice(0, 2000)}`);
      one.push(r.ms);
    }
    const ping = await repeat(RUNS, async () => {
      const t = performance.now();
      await sendControl(lab.socket, { op: 'ping' });
      return performance.now() - t;
    });
    const lookup = await repeat(RUNS, async () => {
      const t = performance.now();
      const r = await sendControl(lab.socket, { op: 'status', node: ips[k++ % RUNS]! }, { timeoutMs: 60_000 });
      const ms = performance.now() - t;
      if (!Array.isArray(r.nodes) || r.nodes.length !== 1) throw new Error(`status request for one node answered with ${Array.isArray(r.nodes) ? r.nodes.length : 'no'} nodes`);
      return ms;
    });
    const beyond = one.map((ms, i) => ms - version[i]!);
    log(`  node -e '': ${spread(nodeStart)}`);
    log(`  pxebootd --version: ${spread(version)}`);
    log(`  pxebootd status IP: ${spread(one)}; beyond pxebootd --version of the same round: ${spread(beyond)}`);
    log(`  ping over the socket: ${spread(ping)}`);
    log(`  one-node status request over the socket: ${spread(lookup)}`);

    // `status --json`: every node into a file
    const jsonOut = path.join(lab.dir, 'status.json');
    const rss0 = rssBytes(d.pid);
    const jsonRuns: number[] = [];
    let rssPeak = 0;
    for (let i = 0; i < Math.max(3, Math.ceil(RUNS / 2)); i++) {
      const { peak, result } = await peakRssDuring(d.pid, () => timed([...cli, 'status', '--json', '-c', cfg], jsonOut));
      if (result.code !== 0) throw new Error(`status --json exited ${result.code}: ${result.stderr}`);
      rssPeak = Math.max(rssPeak, peak);
      jsonRuns.push(result.ms);
    }
    const jsonBytes = statSync(jsonOut).size;
    const doc = JSON.parse(readFileSync(jsonOut, 'utf8')) as { from?: string; daemon?: unknown; nodes?: Array<Record<string, unknown>> };
    if (doc.from !== 'daemon' || !doc.daemon || doc.nodes?.length !== N) throw new Error(`status --json: expected from=daemon, daemon and ${N} nodes, found from=${doc.from} and ${doc.nodes?.length} nodes`);
    const records = doc.nodes;
    const copy = path.join(lab.dir, 'copy.json');
    const cat = await repeat(jsonRuns.length, async () => (await timed(['cat', jsonOut], copy)).ms);
    const stringify = await repeat(jsonRuns.length, async () => {
      const t = performance.now();
      JSON.stringify({ from: 'daemon', daemon: doc.daemon, nodes: records });
      return performance.now() - t;
    });
    log(`  status --json (${(jsonBytes / MB).toFixed(1)} MB): ${spread(jsonRuns)}`);
    log(`  cat of the same file into a file: ${spread(cat)}`);
    log(`  JSON.stringify of the same records in-process: ${spread(stringify)}`);
    log(`  daemon RSS ${(rss0 / MB).toFixed(1)} MB before, at most ${(rssPeak / MB).toFixed(1)} MB while answering status --json`);

    // the table of every node
    const tableOut = path.join(lab.dir, 'status.txt');
    const table = await repeat(3, async () => {
      const r = await timed([...cli, 'status', '-c', cfg], tableOut);
      if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr}`);
      return r.ms;
    });
    const tableLines = readFileSync(tableOut, 'utf8').split('\n').length - 1;
    log(`  status (table, ${tableLines} lines, ${(statSync(tableOut).size / MB).toFixed(1)} MB): ${spread(table)}`);

    return {
      figures: [
        figure({ bench: 'status', metric: `one-node status request over the socket at ${N} nodes, median of ${RUNS}`, unit: 'ms', value: median(lookup), baseline: { what: 'ping over the same socket', value: median(ping) }, op: '<=', limit: 50, notes: spread(lookup) }),
        figure({ bench: 'status', metric: `pxebootd status IP at ${N} nodes, CLI process time beyond its start-up (median of ${one.length} paired differences)`, unit: 'ms', value: median(beyond), baseline: { what: 'pxebootd --version (the start-up)', value: median(version) }, op: '<=', limit: 50, notes: `differences ${spread(beyond)}` }),
        figure({ bench: 'status', metric: `pxebootd status IP at ${N} nodes, whole CLI process, median of ${one.length}`, unit: 'ms', value: median(one), baseline: { what: "node -e ''", value: median(nodeStart) }, op: 'info', limit: 0, notes: `spread ${spread(one)}` }),
        figure({ bench: 'status', metric: `pxebootd status --json at ${N} nodes (${(jsonBytes / MB).toFixed(0)} MB into a file), median of ${jsonRuns.length}`, unit: 'ms', value: median(jsonRuns), baseline: { what: 'cat of the same file into a file', value: median(cat) }, op: '<=', limit: 2000, notes: `spread ${spread(jsonRuns)}; JSON.stringify of the records in-process ${median(stringify).toFixed(0)} ms` }),
        figure({ bench: 'status', metric: `pxebootd status (table) at ${N} nodes, median of 3`, unit: 'ms', value: median(table), baseline: { what: 'status --json, same run', value: median(jsonRuns) }, op: 'info', limit: 0, notes: spread(table) }),
        figure({ bench: 'status', metric: `daemon RSS rise while answering status --json at ${N} nodes`, unit: 'MB', value: (rssPeak - rss0) / MB, baseline: { what: 'daemon RSS before', value: rss0 / MB }, op: 'info', limit: 0, notes: `${(jsonBytes / MB).toFixed(0)} MB of JSON sent` }),
      ],
      raw: { n: N, stateBytes, jsonBytes, nodeStart, version, one, beyond, ping, lookup, json: jsonRuns, cat, stringify, table, rssBefore: rss0, rssPeak },
    };
  } finally {
    await d.stop(10_000);
  }
}
