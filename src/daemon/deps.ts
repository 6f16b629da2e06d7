// What the daemon needs from the other layers, as one injectable bundle: the CLI passes the real
// modules, unit tests pass fakes. The daemon never imports a watcher or provisioner directly.
import type { Logger } from 'pino';
import type { Metrics, Provisioner, ProvisionerContext, WatcherContext } from '../contracts.ts';
import type { Runner } from '../runner.ts';
import type { BadInput, ClientEvent, Config, MatchResult, Watcher } from '../types.ts';

export interface ClientQuery {
  ip: string;
  mac?: string;
  hostname?: string;
}

/** The daemon's dependencies (see loadRealDeps for the production set). */
export interface DaemonDeps {
  loadConfig(file: string): Promise<Config>;
  matchClient(client: ClientQuery, config: Config): MatchResult;
  createProvisioner(ctx: ProvisionerContext): Provisioner;
  createWatcher(ctx: WatcherContext): Watcher;
  parseHookInvocation(argv: string[], env: Record<string, string | undefined>, tftpRoot: string): { event?: ClientEvent; bad?: BadInput };
  lookupNeighbourMac(runner: Runner, ipCmd: string, ip: string): Promise<string | undefined>;
  /**
   * Called once by start(). `runner` lets the metrics count every external command run and failure;
   * `config` tells whether metrics are on at all (the real one loads prom-client only then).
   */
  createMetrics(log: Logger, runner: Runner, config: Config): Metrics | Promise<Metrics>;
}

/** A Metrics that records nothing: for tests and when metrics are off. */
export function noopMetrics(): Metrics {
  const nop = () => {};
  return { nodesByState: nop, event: nop, seenToReady: nop, queueDepth: nop, commandFailure: nop, reload: nop, verification: nop };
}

/** A Metrics that forwards to the one the daemon's start() makes (counting nothing before): the parts built before start() keep one reference. */
export function startedMetrics(): Metrics & { use(m: Metrics): void; close(): Promise<void> } {
  let m: Metrics = noopMetrics();
  return {
    use: (real) => void (m = real),
    nodesByState: (c) => m.nodesByState(c),
    verification: (p, r) => m.verification(p, r),
    event: (t) => m.event(t),
    seenToReady: (ms) => m.seenToReady(ms),
    queueDepth: (n) => m.queueDepth(n),
    commandFailure: (t) => m.commandFailure(t),
    reload: (ok) => m.reload(ok),
    close: () => m.close?.() ?? Promise.resolve(),
  };
}

/**
 * Import the production modules (lazily, so `pxebootd hook` never pays for them). prom-client is
 * imported only when the config has `metrics` (its RSS cost is in docs/performance.md).
 */
export async function loadRealDeps(): Promise<DaemonDeps> {
  const [config, rules, provisioners, watchers, hook, neighbour] = await Promise.all([
    import('../config/index.ts'),
    import('../rules.ts'),
    import('../../provisioners/index.ts'),
    import('../../watchers/index.ts'),
    import('./hook-event.ts'),
    import('../pipeline/neighbour.ts'),
  ]);
  return {
    loadConfig: (f) => config.loadConfig(f),
    matchClient: rules.matchClient,
    createProvisioner: (ctx) => provisioners.createProvisioner(ctx),
    createWatcher: watchers.createWatcher,
    parseHookInvocation: hook.parseHookInvocation,
    lookupNeighbourMac: neighbour.lookupNeighbourMac,
    createMetrics: async (_log, runner, cfg) => {
      if (!cfg.metrics) return noopMetrics();
      const m = (await import('../metrics.ts')).createMetrics();
      m.observeRunner(() => runner.stats());
      return m;
    },
  };
}
