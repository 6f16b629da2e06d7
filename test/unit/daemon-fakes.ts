// Fakes for daemon unit tests: a provisioner that records calls and fails on demand, watchers the
// test drives by hand, a config builder, and a logger whose JSON lines the test can read.
import { pino, type Logger } from 'pino';
import path from 'node:path';
import type { Metrics, NodePlan, Provisioner, ReleasePlan, WatcherContext } from '../../src/contracts.ts';
import type { ClientEvent, Config, NodeRecord, ResolvedRule, Watcher, WatcherSink } from '../../src/types.ts';
import type { DaemonDeps } from '../../src/daemon/deps.ts';
import { noopMetrics } from '../../src/daemon/deps.ts';
import { matchClient } from '../../src/rules.ts';
import { normalizeIPv4, normalizeMac } from '../../src/validate.ts';
import { readFsidsOnDisk } from '../helpers/fsids-on-disk.ts';

export function makeConfig(dir: string, over: Partial<Config> = {}): Config {
  return {
    file: path.join(dir, 'pxebootd.yaml'),
    state_dir: path.join(dir, 'state'),
    tftp_root: path.join(dir, 'tftp'),
    server: '10.99.0.254', // a client address would be reserved (rules.ts): the tests' clients start at .1
    sources: [{ type: 'dnsmasq-leases', path: path.join(dir, 'leases') }],
    exports: { backend: 'kernel', file: path.join(dir, 'exports'), options: 'rw,no_root_squash', start_fsid: 1000, etab: path.join(dir, 'etab') },
    grub_dir: 'grub',
    ipxe_dir: 'ipxe',
    commands: { mount: 'mount', umount: 'umount', exportfs: 'exportfs', journalctl: 'journalctl', ip: 'ip' },
    trusted_programs: ['dnsmasq'],
    control_socket: path.join(dir, 'control.sock'),
    queue: { concurrency: 8, retry_base_ms: 5, retry_max_ms: 20 },
    subnets: [
      { cidr: '10.99.0.0/24', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', on_release: 'unexport', pos: 'cfg:10:5' },
      { cidr: '10.99.9.0/24', ignore: true, pos: 'cfg:20:5' },
    ],
    hosts: [],
    ...over,
  };
}

export interface Call {
  op: string;
  node?: string;
  fsid?: number;
  policy?: string;
  /** provision: fsid found on disk (fsids.json or fsids.log) when the export would go live (after exportGate) */
  fsidOnDisk?: number;
  nodes?: string[];
  /** switchLayer: carry | fresh */
  how?: string;
}

export interface FakeProvisioner extends Provisioner {
  calls: Call[];
  /** node name -> number of provision calls that should still fail */
  failures: Map<string, number>;
}

export function fakeProvisioner(stateDir: string, order: string[]): FakeProvisioner {
  const calls: Call[] = [];
  const failures = new Map<string, number>();
  const onDisk = (name: string) => readFsidsOnDisk(stateDir).fsids[name];
  const plan = (node: NodeRecord): NodePlan => ({
    node: node.name,
    ip: node.ip,
    fsid: node.fsid,
    steps: [{ op: 'mount', argv: [], path: `/n/${node.name}`, describe: `mount overlay ${node.name}` }],
    exportEntry: `/n/${node.name} ${node.ip}(rw,fsid=${node.fsid})`,
    nfsPath: `/n/${node.name}`,
    bootFiles: [],
  });
  return {
    calls,
    failures,
    plan: async (node) => plan(node),
    planRelease: (node, _r, policy): ReleasePlan => ({ node: node.name, policy, steps: [] }),
    async provision(node: NodeRecord, _rule: ResolvedRule, opts: { exportGate?: Promise<void> } = {}) {
      const call: Call = { op: 'provision', node: node.name, fsid: node.fsid };
      calls.push(call);
      order.push(`provision ${node.name}`);
      // like the real provisioner: the export (here, this point) waits for the gate
      await opts.exportGate;
      call.fsidOnDisk = onDisk(node.name);
      const left = failures.get(node.name) ?? 0;
      if (left > 0) {
        failures.set(node.name, left - 1);
        throw new Error(`mount failed for ${node.name}`);
      }
    },
    async release(node, _rule, policy) {
      calls.push({ op: 'release', node: node.name, policy });
    },
    async switchLayer(node, _from, _to, how) {
      calls.push({ op: 'switchLayer', node: node.name, how: how.how });
      return how.how;
    },
    async rerender(node: NodeRecord) {
      calls.push({ op: 'rerender', node: node.name });
      return 'unchanged' as const;
    },
    async restore(list) {
      calls.push({ op: 'restore', nodes: list.map((x) => x.node.name) });
      order.push('restore');
      return new Map();
    },
    async writeDefault() {
      calls.push({ op: 'writeDefault' });
    },
    async findOrphans() {
      calls.push({ op: 'findOrphans' });
      return { mounts: [], exports: [], bootFiles: [] };
    },
    async cleanOrphans() {},
    async close() {
      calls.push({ op: 'close' });
    },
  };
}

export interface Harness {
  deps: DaemonDeps;
  provisioner: FakeProvisioner;
  /** the sink the daemon gave the (first) watcher */
  sink(): WatcherSink;
  order: string[];
  /** config returned by the next loadConfig, or an error it throws */
  nextConfig: { value?: Config; error?: Error };
  neighbours: Map<string, string>;
  metrics: { seenToReady: number[]; events: string[] };
}

export function harness(stateDir: string): Harness {
  const order: string[] = [];
  const provisioner = fakeProvisioner(stateDir, order);
  let sink: WatcherSink | undefined;
  const h: Harness = {
    provisioner,
    order,
    nextConfig: {},
    neighbours: new Map(),
    metrics: { seenToReady: [], events: [] },
    sink: () => sink!,
    deps: {
      async loadConfig() {
        if (h.nextConfig.error) throw h.nextConfig.error;
        return h.nextConfig.value!;
      },
      matchClient,
      createProvisioner: () => provisioner,
      createWatcher(ctx: WatcherContext): Watcher {
        sink = ctx.sink;
        return {
          name: `fake:${ctx.source.type}`,
          async start() {
            order.push('watcher start');
          },
          async stop() {
            order.push('watcher stop');
          },
        };
      },
      parseHookInvocation(argv) {
        const [action, mac, ip] = argv;
        if (action !== 'add' && action !== 'old' && action !== 'del') return {};
        const m = normalizeMac(mac ?? '');
        const i = normalizeIPv4(ip ?? '');
        if (!m || !i) return { bad: { source: 'hook', reason: 'bad mac or ip', sample: argv.join(' ') } };
        const e: ClientEvent =
          action === 'del'
            ? { kind: 'gone', mac: m, ip: i, source: 'hook', sourceType: 'hook', time: Date.now() }
            : { kind: 'seen', mac: m, ip: i, source: 'hook', sourceType: 'hook', time: Date.now() };
        return { event: e };
      },
      async lookupNeighbourMac(_r, _cmd, ip) {
        return h.neighbours.get(ip);
      },
      createMetrics(): Metrics {
        return { ...noopMetrics(), seenToReady: (ms) => h.metrics.seenToReady.push(ms), event: (s) => h.metrics.events.push(s) };
      },
    },
  };
  return h;
}

/** A logger whose JSON lines end up in `lines`. */
export function memoryLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

export const seen = (ip: string | undefined, mac?: string, extra: Partial<ClientEvent> = {}): ClientEvent => ({
  kind: 'seen',
  ...(ip ? { ip } : {}),
  ...(mac ? { mac } : {}),
  source: 'dnsmasq-leases:/leases',
  sourceType: 'dnsmasq-leases',
  time: Date.now(),
  ...extra,
} as ClientEvent);

export async function until(what: string, pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
