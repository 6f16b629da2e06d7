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
  /** `runner` lets the metrics count every external command run and failure */
  createMetrics(log: Logger, runner: Runner): Metrics;
}

/** A Metrics that records nothing: for tests and when metrics are off. */
export function noopMetrics(): Metrics {
  const nop = () => {};
  return { nodesByState: nop, event: nop, seenToReady: nop, queueDepth: nop, commandFailure: nop, reload: nop };
}

/** A stand-in for a module that failed to import: every use throws the import error. */
function unavailable(what: string, err: unknown): never {
  throw new Error(`${what} is unavailable: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * Import the production modules (lazily, so `pxebootd hook` never pays for them). Config, rules
 * and provisioners are required; a watcher-side module that fails to import degrades to an error
 * at its first use (that watcher does not start, hook requests are refused) instead of taking the
 * whole daemon down.
 */
export async function loadRealDeps(): Promise<DaemonDeps> {
  const [config, rules, provisioners, metrics] = await Promise.all([
    import('../config/index.ts'),
    import('../rules.ts'),
    import('../../provisioners/index.ts'),
    import('../metrics.ts'),
  ]);
  const [watchers, hook, neighbour] = await Promise.allSettled([
    import('../../watchers/index.ts'),
    import('../../watchers/hook.ts'),
    import('../../watchers/neighbour.ts'),
  ]);
  return {
    loadConfig: (f) => config.loadConfig(f),
    matchClient: rules.matchClient,
    createProvisioner: (ctx) => provisioners.createProvisioner(ctx),
    createWatcher: watchers.status === 'fulfilled' ? watchers.value.createWatcher : (ctx) => unavailable(`watcher for ${ctx.source.type} (watchers/index.ts)`, watchers.reason),
    parseHookInvocation: hook.status === 'fulfilled' ? hook.value.parseHookInvocation : () => unavailable('dnsmasq hook parser (watchers/hook.ts)', hook.reason),
    lookupNeighbourMac: neighbour.status === 'fulfilled' ? neighbour.value.lookupNeighbourMac : async () => unavailable('neighbour lookup (watchers/neighbour.ts)', neighbour.reason),
    createMetrics: (_log, runner) => {
      const m = metrics.createMetrics();
      m.observeRunner(() => runner.stats());
      return m;
    },
  };
}
