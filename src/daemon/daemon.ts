// The daemon: state -> provisioner -> start-up reconciliation -> control socket -> watchers, and
// the way back down on stop. Data flows one way: watcher -> inbox (src/pipeline/inbox.ts) ->
// decide (decide.ts) -> queue (queue.ts) -> job (src/pipeline/jobs.ts, where dry-run stops) ->
// provisioners/index.ts: planNode -> applyPlan -> record (state).
// Reload swaps the config (rules and templates) and keeps the old one when the new one is broken.
import type { Logger } from 'pino';
import type { Metrics, Provisioner } from '../contracts.ts';
import type { Runner } from '../runner.ts';
import type { ClientEvent, Config, NodeRecord, Watcher, WatcherSink } from '../types.ts';
import { createQueue, type KeyedQueue } from '../pipeline/queue.ts';
import { createStateStore, type StateStore } from '../state/store.ts';
import { lockStateDir } from '../state/lock.ts';
import { ConfigError, errorMessage, formatProblem } from '../errors.ts';
import { subsystem } from '../log.ts';
import { startControlServer, type ControlRequest, type ControlResponse, type ControlServer } from '../control.ts';
import { peerCredUnavailable, type PeerCred } from '../control-trust.ts';
import { startedMetrics, type DaemonDeps } from './deps.ts';
import { createCountReporter, mergeJobs, runJob, type NodeContext, type Job, type RenderTally } from '../pipeline/jobs.ts';
import { createInbox, type Inbox, type SubmitResult, type SubmitOptions } from '../pipeline/inbox.ts';
import { createControlHandler } from './control-handler.ts';
import { loadState, reconcile, writeDefaultFile } from './reconcile.ts';
import { describeConfigChanges, RESTART_KEYS } from './reload.ts';
import { tuneRunningHeap } from '../memory.ts';
import { createBadInputLog } from './bad-input-log.ts';
import { createBootOnce } from './boot-once.ts';
import { startReportServer, type ReportServer } from '../boot-once/report-server.ts';
import { protectImages } from './image-switch.ts';
import { createApply } from '../pipeline/jobs.ts';

/** How long stop() waits for running jobs before abandoning them (inside `run`'s stop deadline). */
export const STOP_GRACE_MS = 2000;
/** How long stop() waits for each watcher to stop before going on without it. */
export const WATCHER_STOP_MS = 1500;

/** Whether `p` settles within `ms` (a rejection counts as settled). */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

export interface DaemonOptions {
  configFile: string;
  config: Config;
  log: Logger;
  runner: Runner;
  deps: DaemonDeps;
  dryRun?: boolean;
  /** start watchers (default true) */
  watchers?: boolean;
  /** bind the control socket (default true) */
  control?: boolean;
  /** restore ready nodes, report orphans, write the default file, requeue unfinished nodes (default true) */
  reconcile?: boolean;
}

/** What `status` shows about the daemon itself. */
export interface DaemonInfo {
  pid: number;
  startedAt: number;
  /** true once every configured source is being watched */
  watching: boolean;
  configFile: string;
  dryRun: boolean;
  queue: { depth: number; running: number; retrying: number };
}

export type { SubmitOptions } from '../pipeline/inbox.ts';

/** A running (or startable) daemon. */
export interface Daemon {
  readonly sink: WatcherSink;
  readonly state: StateStore;
  config(): Config;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** while stop() runs, what it is waiting for (the stop deadline logs it) */
  stopStep(): string | undefined;
  reload(): Promise<boolean>;
  submit(e: ClientEvent, opts?: SubmitOptions): Promise<SubmitResult>;
  info(): DaemonInfo;
  nodes(): NodeRecord[];
  /** resolves when the queue has nothing queued or running */
  idle(): Promise<void>;
  /** answer a control request (the socket calls this with the client's credentials; so does the CLI when no daemon runs) */
  request(req: ControlRequest, peer?: PeerCred): Promise<ControlResponse>;
}

/** The composition root of a running daemon: state, the node context, queue, inbox, watchers and the control socket, each a named const built once. */
export function createDaemon(o: DaemonOptions): Daemon {
  const log = o.log;
  const dryRun = o.dryRun ?? o.runner.dryRun;
  const state = createStateStore({
    dir: o.config.state_dir,
    startFsid: o.config.exports.start_fsid,
    log: subsystem(log, 'state'),
    memoryOnly: dryRun,
    // a large state.json is not serialised while a node is on its way to ready
    busy: () => queue.running() > 0,
  });
  // the parts that change while the daemon runs, owned here and read through functions
  let config = o.config;
  let startedAt = 0;
  // made by start() (after the state lock), before the first job can run
  let provisioner: Provisioner | undefined;
  const provisionerNow = (): Provisioner => {
    if (!provisioner) throw new Error('pxebootd: the provisioner is used before start() made it');
    return provisioner;
  };
  // the real metrics are made by start(); nothing is counted before it
  const metrics = startedMetrics();
  const queueLog = subsystem(log, 'queue');
  const shared = { log: queueLog, state, metrics, config: () => config };
  // a boot-once change (report, timeout) writes the node's next files through its queue
  const bootOnce = createBootOnce(shared, (name) => queue.add(name, { kind: 'provision', seenAt: Date.now(), sources: [] }));
  const core: NodeContext = {
    ...shared,
    deps: o.deps,
    startedAt: () => startedAt,
    // --dry-run is decided here, once: a plan-only apply stage logs each plan and changes nothing
    apply: createApply(provisionerNow, queueLog, () => config, dryRun),
    reportCounts: createCountReporter(state, metrics),
    bootOnce,
  };
  const answerControl = createControlHandler(core);
  const queue: KeyedQueue<Job> = createQueue<Job>({
    concurrency: o.config.queue.concurrency,
    retryBaseMs: o.config.queue.retry_base_ms,
    retryMaxMs: o.config.queue.retry_max_ms,
    merge: mergeJobs,
    work: (name, job, attempt) => runJob(core, name, job, attempt),
    onFailure: (key, _job, _err, attempt, ms) => ms > 0 && queueLog.info({ node: key, attempt, retryInMs: ms }, `retrying ${key} in ${ms} ms`),
    // the gauge counts nodes waiting for or in provisioning work
    onDepth: (n) => metrics.queueDepth(n + queue.running()),
  });
  let reportServer: ReportServer | undefined;
  const watchers: Watcher[] = [];
  let control: ControlServer | undefined;
  let unlock: (() => Promise<void>) | undefined;
  let watching = false;
  let stopping = false;
  let stepNow: string | undefined;

  // watcher events and control requests enter through one door, a slice per event-loop turn
  const inbox: Inbox = createInbox(core, queue, o.runner, log);
  const badLog = createBadInputLog(log);
  const sink: WatcherSink = {
    event(e) {
      if (!stopping) inbox.event(e);
    },
    bad: badLog, // rate-limited per source
  };
  const submit = (e: ClientEvent, opts?: SubmitOptions): Promise<SubmitResult> => inbox.submit(e, opts);

  const reconcileNow = () => reconcile(core, queue, log, writeDefault);
  const writeDefault = () => writeDefaultFile(core, log);
  /** After a reload: every ready node's boot files rendered from the new templates, one summary line. */
  const rerenderReady = (): void => {
    const ready = state.all().filter((n) => n.state === 'ready');
    if (ready.length === 0) return;
    const tally: RenderTally = { rewritten: 0, unchanged: 0, skipped: 0, failed: 0 };
    void Promise.all(ready.map((n) => queue.push(n.name, { kind: 'render', tally }))).then(() => {
      const also = [tally.skipped && `${tally.skipped} left to their next event or pending work`, tally.failed && `${tally.failed} failed (old files kept)`].filter(Boolean);
      log.info({ ...tally }, `reload: boot files of ${tally.rewritten} ready node${tally.rewritten === 1 ? '' : 's'} rewritten, ${tally.unchanged} unchanged${also.length ? `, ${also.join(', ')}` : ''}`);
    });
  };

  return {
    sink,
    state,
    config: () => config,
    submit,
    nodes: () => state.all(),
    idle: () => queue.drain(),
    request(req, peer) {
      return answerControl(this, req, peer);
    },
    // `watching` turns true once every source is being watched: lines logged before that may be missed
    // by a syslog source that starts at the end of its file (hook requests are held, not lost).
    info: () => ({ pid: process.pid, startedAt, watching, configFile: o.configFile, dryRun, queue: { depth: queue.depth(), running: queue.running(), retrying: queue.retrying().length } }),

    async start() {
      startedAt = Date.now();
      const real: Metrics = await o.deps.createMetrics(log, o.runner, o.config);
      metrics.use(real);
      // claim the socket first: a second daemon must stop before it touches anything
      if (o.control ?? true) {
        control = await startControlServer(o.config.control_socket, (req, peer) => this.request(req, peer));
        const why = peerCredUnavailable();
        if (why) log.warn({ socket: control.path }, `cannot check control clients' uids (${why}); only the socket's mode 0600 keeps other users out`);
      }
      if (!dryRun) unlock = await lockStateDir(o.config.state_dir);
      await loadState(state, o.config);
      // the provisioner names its own subsystem in its log lines
      provisioner = o.deps.createProvisioner({ config: o.config, runner: o.runner, log });
      // image versions are the lower layers the restore mounts: read-only again after a reboot
      if (!dryRun) await protectImages(o.config, o.runner, subsystem(log, 'images'));
      if (o.reconcile ?? true) await reconcileNow();
      // events that arrived during start-up are taken from here on
      inbox.open();
      // a storm churns through short-lived garbage: collect sooner (src/memory.ts)
      tuneRunningHeap();
      if (o.config.metrics && real.listen) {
        try {
          const addr = await real.listen(o.config.metrics.listen);
          log.info({ addr }, `metrics on http://${addr}/metrics`);
        } catch (e) {
          log.error({ err: errorMessage(e) }, 'metrics endpoint failed to start; continuing without it');
        }
      }
      bootOnce.start();
      // like the watchers, the report endpoint takes input from the network: not in one-shot CLI runs
      if (o.config.report && (o.watchers ?? true)) {
        try {
          reportServer = await startReportServer(o.config.report.listen, (ip, r) => bootOnce.report(ip, r));
          log.info({ addr: reportServer.address }, `boot-once reports on http://${reportServer.address}/v1/report`);
        } catch (e) {
          log.error({ err: errorMessage(e), listen: o.config.report.listen }, `report endpoint failed to start (${errorMessage(e)}); reporting profiles end by their timeout`);
        }
      }
      if (o.watchers ?? true) {
        for (const source of o.config.sources) {
          try {
            const w = o.deps.createWatcher({ config: o.config, source, log: subsystem(log, 'watcher', { source: source.type }), runner: o.runner, sink });
            await w.start();
            watchers.push(w);
          } catch (e) {
            log.error({ source, err: errorMessage(e) }, `watcher for ${source.type} failed to start; the others go on`);
          }
        }
      }
      watching = true;
      log.info({ nodes: state.all().length, watchers: watchers.map((w) => w.name), dryRun, socket: control?.path }, 'pxebootd started');
    },

    stopStep: () => stepNow,

    async stop() {
      if (stopping) return;
      stopping = true;
      const step = (what: string | undefined) => (stepNow = what);
      // events not taken yet are dropped; whoever waits for one is told
      inbox.drop();
      inbox.flush();
      badLog.flush();
      bootOnce.stop();
      await reportServer?.close().catch(() => {});
      // each watcher gets a bound: one stuck (say, in a read of a file that never ends) is left behind,
      // and its children are killed by the caller once stop() returns
      const left = new Set(watchers.map((w) => w.name));
      step(`stopping watchers: ${[...left].join(', ')}`);
      await Promise.all(
        watchers.map(async (w) => {
          const stopped = w.stop().catch((e) => log.warn({ watcher: w.name, err: errorMessage(e) }, 'watcher stop failed'));
          if (await settlesWithin(stopped, WATCHER_STOP_MS)) left.delete(w.name);
          else log.warn({ watcher: w.name }, `watcher ${w.name} did not stop within ${WATCHER_STOP_MS} ms; going on without it`);
          step(left.size ? `stopping watchers: ${[...left].join(', ')}` : stepNow);
        }),
      );
      // running jobs get a grace period; one stuck in a hung command is abandoned (its node shows
      // pending after the restart and is provisioned again, idempotently)
      step(`waiting for ${queue.running()} running job(s)`);
      const closing = queue.close();
      const slow = setTimeout(() => log.warn('waiting for running provision jobs to finish'), 1000);
      const finished = await settlesWithin(closing, STOP_GRACE_MS);
      clearTimeout(slow);
      if (!finished) log.warn({ running: queue.running() }, `abandoned ${queue.running()} running job(s) after ${STOP_GRACE_MS} ms`);
      step('closing the control socket');
      await control?.close();
      step('closing the provisioner');
      if (provisioner) await provisioner.close().catch((e) => log.warn({ err: errorMessage(e) }, 'provisioner close failed'));
      step('writing the final state');
      try {
        await state.close();
      } catch (e) {
        log.error({ err: errorMessage(e) }, 'final state write failed; the previous state file is intact');
      }
      step('closing metrics');
      await metrics.close().catch(() => {});
      step('releasing the state lock');
      await unlock?.();
      step(undefined);
      log.info('pxebootd stopped');
    },

    async reload() {
      let next: Config;
      try {
        next = await o.deps.loadConfig(o.configFile);
      } catch (e) {
        if (e instanceof ConfigError) for (const p of e.problems) log.error({ problem: p }, `reload: ${formatProblem(p)}`);
        else log.error({ err: errorMessage(e) }, `reload: ${errorMessage(e)}`);
        log.error({ file: o.configFile }, 'reload failed; keeping the running config');
        metrics.reload(false);
        return false;
      }
      const restartKeys = describeConfigChanges(config, next);
      if (restartKeys.length) log.warn({ keys: restartKeys }, `reload: ${restartKeys.join(', ')} changed; these take effect after a restart`);
      config = { ...next, ...pickRestartOnly(config) };
      inbox.resetOnce();
      await writeDefault();
      metrics.reload(true);
      log.info({ file: o.configFile, subnets: next.subnets.length, hosts: next.hosts.length }, 'config reloaded; ready nodes get their boot files rendered again, nodes whose rule changed are re-provisioned on their next event');
      rerenderReady();
      return true;
    },
  };
}

/** The running values of the restart-only keys, laid over a reloaded config. */
function pickRestartOnly(c: Config): Partial<Config> {
  return Object.fromEntries(RESTART_KEYS.map((k) => [k, c[k]])) as Partial<Config>;
}
