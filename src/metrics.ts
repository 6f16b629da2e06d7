// Prometheus metrics for the daemon, on a registry of our own so that tests and embedders never
// share state through prom-client's global one. The HTTP endpoint is opt-in (config `metrics.listen`).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metrics } from './contracts.ts';
import { NODE_STATES as STATES } from './types.ts';

/** Seen-to-ready buckets in seconds: fine near the fastest case, one edge at a PXE ROM's retry window, coarse for a storm. */
export const SEEN_TO_READY_BUCKETS = [0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.16, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsOptions {
  /** add prom-client's process/runtime metrics (process_resident_memory_bytes, ...); default true */
  defaultMetrics?: boolean;
  /** metric name prefix; default "pxebootd_" */
  prefix?: string;
}

/** A Metrics implementation that also exposes its registry (for tests and the /metrics handler). */
export interface PromMetrics extends Metrics {
  readonly registry: Registry;
  /** the text exposition format, as served on /metrics */
  render(): Promise<string>;
  listen(addr: string): Promise<string>;
  close(): Promise<void>;
  /**
   * Export the Runner's own per-tool counts at each scrape: every run, and every non-zero exit,
   * including the ones a caller tolerates (`allowFailure`, e.g. `exportfs -r` checked via etab),
   * which never reach commandFailure(). Call once with `runner.stats`.
   */
  observeRunner(stats: () => ReadonlyMap<string, { runs: number; failures: number }>): void;
}

/** Split "host:port" / "[v6]:port" / ":port" / "port" into a host and a port, or say what is wrong. */
export function parseListenAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(addr.trim()) ?? /^()()(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new Error(`metrics.listen: expected "host:port" (e.g. 127.0.0.1:9464), found ${JSON.stringify(addr)}`);
  }
  const host = m[1] || m[2] || '127.0.0.1';
  return { host, port };
}

/** Build the daemon's metrics on a fresh registry. */
export function createMetrics(opts: MetricsOptions = {}): PromMetrics {
  const p = opts.prefix ?? 'pxebootd_';
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: p });

  const nodes = new Gauge({ name: `${p}nodes`, help: 'Nodes known to the daemon, by state', labelNames: ['state'], registers: [registry] });
  for (const s of STATES) nodes.set({ state: s }, 0);
  const events = new Counter({ name: `${p}events_total`, help: 'Client events received, by source type', labelNames: ['source'], registers: [registry] });
  const latency = new Histogram({
    name: `${p}seen_to_ready_seconds`,
    help: 'Time from a client first seen by a watcher to its boot files published',
    buckets: SEEN_TO_READY_BUCKETS,
    registers: [registry],
  });
  const depth = new Gauge({ name: `${p}queue_depth`, help: 'Nodes waiting for or in provisioning work', registers: [registry] });
  const failures = new Counter({ name: `${p}command_failures_total`, help: 'External commands that failed, by tool', labelNames: ['tool'], registers: [registry] });
  const reloads = new Counter({ name: `${p}reloads_total`, help: 'Config reloads (SIGHUP), by result', labelNames: ['result'], registers: [registry] });
  const verifications = new Counter({ name: `${p}verifications_total`, help: 'Boot-once profiles finished, by profile and result (served, pass, fail, timeout, rebooted, cancelled)', labelNames: ['profile', 'result'], registers: [registry] });
  const reloadOk = new Gauge({ name: `${p}last_reload_success`, help: '1 if the last config reload succeeded, 0 if it failed', registers: [registry] });
  const reloadTime = new Gauge({ name: `${p}last_reload_timestamp_seconds`, help: 'Unix time of the last config reload attempt', registers: [registry] });
  // metrics are made once the config has loaded and validated: a start is a successful load, so a
  // "last reload failed" alert must not fire on every start
  reloadOk.set(1);
  reloadTime.set(Date.now() / 1000);

  let server: Server | undefined;
  let runnerStats: (() => ReadonlyMap<string, { runs: number; failures: number }>) | undefined;
  const fromRunner = (help: string, name: string, pick: (s: { runs: number; failures: number }) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['tool'],
      registers: [registry],
      collect() {
        if (!runnerStats) return;
        this.reset();
        for (const [tool, st] of runnerStats()) if (pick(st) > 0) this.inc({ tool }, pick(st));
      },
    });
  fromRunner('External commands run, by tool (from the runner)', `${p}command_runs_total`, (s) => s.runs);
  fromRunner('External commands that exited non-zero, by tool, tolerated or not (from the runner)', `${p}command_nonzero_exits_total`, (s) => s.failures);

  const m: PromMetrics = {
    registry,
    nodesByState(counts) {
      for (const s of STATES) nodes.set({ state: s }, counts[s] ?? 0);
    },
    event(sourceType) {
      events.inc({ source: sourceType });
    },
    seenToReady(ms) {
      if (Number.isFinite(ms) && ms >= 0) latency.observe(ms / 1000);
    },
    queueDepth(n) {
      depth.set(n);
    },
    commandFailure(tool) {
      // only the basename: a configured path like /usr/local/sbin/mount-wrapper is one tool
      failures.inc({ tool: tool.slice(tool.lastIndexOf('/') + 1) || '?' });
    },
    verification(profile, result) {
      verifications.inc({ profile, result });
    },
    reload(ok) {
      reloads.inc({ result: ok ? 'ok' : 'error' });
      reloadOk.set(ok ? 1 : 0);
      reloadTime.set(Date.now() / 1000);
    },
    observeRunner(stats) {
      runnerStats = stats;
    },
    render() {
      return registry.metrics();
    },
    async listen(addr) {
      if (server) throw new Error('metrics: already listening');
      const { host, port } = parseListenAddress(addr);
      const srv = createServer((req, res) => {
        const url = (req.url ?? '/').split('?')[0];
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET, HEAD' }).end();
          return;
        }
        if (url !== '/metrics') {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
          return;
        }
        registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
          (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${(e as Error).message}\n`),
        );
      });
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, host, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      server = srv;
      const a = srv.address() as AddressInfo;
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    },
    async close() {
      const srv = server;
      server = undefined;
      if (!srv) return;
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
  return m;
}

/** A Metrics that records nothing, for tests and for code paths where metrics are off. */
export function createNullMetrics(): Metrics {
  const nop = () => {};
  return { nodesByState: nop, event: nop, seenToReady: nop, queueDepth: nop, commandFailure: nop, reload: nop, verification: nop };
}
