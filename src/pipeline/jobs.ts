// Step 4 of the pipeline (watcher -> inbox -> decide -> queue -> JOB -> planNode -> applyPlan ->
// record): what running one queued job for a node means. A provision makes the fsid durable while
// the overlay is mounted and before the export, then the boot files (through the apply stage below,
// then the provisioner), and records the node ready; a release removes per policy; a render rewrites
// the boot files after a template reload. A failure marks the node failed with its error and
// rethrows, so the queue retries it.
// The apply stage (createApply, at the end of this file) is the one place `run --dry-run` is decided.
import type { Logger } from 'pino';
import type { Metrics, NodePlan, Provisioner, ReleasePlan } from '../contracts.ts';
import type { Config, NodeRecord, ReleasePolicy, ResolvedRule } from '../types.ts';
import type { StateStore } from '../state/store.ts';
import type { DaemonDeps } from '../daemon/deps.ts';
import { RunError, errorMessage } from '../errors.ts';
import { nodeNameFor } from '../naming.ts';
import { countStates, extendTimeline, ruleKeyOf } from '../daemon/records.ts';
import { imageRule, recordedVersion } from '../images/node-lower.ts';
import { imagesDirOf, nodeImage, recordImage, switchLayer, withImage, type ImageJobFields } from '../daemon/image-switch.ts';
import type { BootOnceRuntime, PreparedBoot } from '../daemon/boot-once.ts';
import { cancel as cancelProfiles, deactivate } from '../boot-once/machine.ts';
import { decideRerender } from './decide.ts';
import { COUNTS_REPORT_MS } from '../timing.ts';

/** One unit of queued work for a node. */
export type Job =
  | ({ kind: 'provision'; seenAt: number; sources: string[]; /** a new boot of an ephemeral node: fresh layer first */ reset?: boolean } & ImageJobFields)
  | { kind: 'release'; policy?: ReleasePolicy; reason: string; /** a release by hand: also ends boot-once and quarantine */ lift?: boolean }
  | { kind: 'render'; tally: RenderTally };

/** What a reload's re-rendering did, counted across its jobs (one summary line, not one per node). */
export interface RenderTally {
  rewritten: number;
  unchanged: number;
  skipped: number;
  failed: number;
}

/**
 * Latest wins; two provisions keep the earliest sighting (for seen-to-ready), all sources, and a
 * reset. A re-render never displaces real work: a provision renders anyway, a release removes the files.
 */
export function mergeJobs(older: Job, newer: Job): Job {
  if (older.kind === 'render') {
    older.tally.skipped++;
    return newer;
  }
  if (newer.kind === 'render') {
    newer.tally.skipped++;
    return older;
  }
  if (newer.kind === 'release' || older.kind === 'release') return newer;
  const merged: Job = { kind: 'provision', seenAt: Math.min(older.seenAt, newer.seenAt), sources: [...new Set([...older.sources, ...newer.sources])] };
  if (older.reset || newer.reset) merged.reset = true;
  const occasion = newer.occasion ?? older.occasion;
  if (occasion) merged.occasion = occasion;
  if (older.check && newer.check) merged.check = true;
  return merged;
}

/**
 * What the inbox, the jobs, reconciliation, boot-once and the control handler share: built once by
 * the daemon (its composition root, createDaemon), no field ever reassigned. What changes while the
 * daemon runs (the config at a reload, the start time) is read through a function.
 */
export interface NodeContext {
  readonly log: Logger;
  readonly deps: DaemonDeps;
  readonly state: StateStore;
  readonly metrics: Metrics;
  /** the running config: a reload replaces it, so it is always read through this */
  config(): Config;
  /** the apply stage (createApply, below): plan-only under --dry-run */
  readonly apply: Apply;
  /** when start() began (ms; 0 before): NBP requests within the boot guard after it are not new boots */
  startedAt(): number;
  /** publish node counts to metrics soon (createCountReporter) */
  reportCounts(): void;
  /** boot-once profiles */
  readonly bootOnce?: BootOnceRuntime;
}

/** Resolve a known node's rule under the current config; undefined when it no longer matches. */
export function ruleFor(core: NodeContext, rec: NodeRecord): ResolvedRule | undefined {
  const m = core.deps.matchClient({ ip: rec.ip, mac: rec.mac, hostname: rec.hostname }, core.config());
  if (m.kind !== 'match') return undefined;
  try {
    if (nodeNameFor(m.rule.node_name, rec.ip, rec.mac) !== rec.name) return undefined;
  } catch {
    return undefined;
  }
  // an image rule: the lower layer is the version the node runs (until its next boot switches it)
  const version = recordedVersion(rec, m.rule);
  return version === undefined ? m.rule : imageRule(m.rule, imagesDirOf(core), version);
}

/** Publish node counts to metrics at most every COUNTS_REPORT_MS (src/timing.ts); one per daemon. */
export function createCountReporter(state: StateStore, metrics: Metrics): () => void {
  let due = false;
  return () => {
    if (due) return;
    due = true;
    setTimeout(() => {
      due = false;
      metrics.nodesByState(countStates(state.all()));
    }, COUNTS_REPORT_MS).unref();
  };
}

function updateRecord(core: NodeContext, name: string, change: (r: NodeRecord) => NodeRecord): NodeRecord | undefined {
  const cur = core.state.get(name);
  if (!cur) return undefined;
  const next = change(cur);
  core.state.put(next);
  core.reportCounts();
  return next;
}

/** Run one job for node `name`; throws on failure (the queue retries). */
export async function runJob(core: NodeContext, name: string, job: Job, attempt: number): Promise<void> {
  const rec = core.state.get(name);
  if (!rec) return;
  // no child logger per job: each line names its node (a child per job is thousands in a burst)
  if (job.kind === 'render') return rerender(core, rec, job.tally);
  try {
    if (job.kind === 'provision') await provision(core, rec, job);
    else await release(core, rec, job);
  } catch (e) {
    const msg = errorMessage(e);
    if (e instanceof RunError) core.metrics.commandFailure(e.command.split(' ')[0]!.replace(/^.*\//, ''));
    updateRecord(core, name, (r) => ({ ...r, state: 'failed', lastError: msg, timeline: extendTimeline(r.timeline, { time: Date.now(), what: `failed: ${msg.slice(0, 200)}` }) }));
    core.log.error({ node: name, err: msg, attempt, job: job.kind }, `${job.kind} of ${name} failed (attempt ${attempt}); will retry`);
    throw e;
  }
}

async function provision(core: NodeContext, rec: NodeRecord, job: Extract<Job, { kind: 'provision' }>): Promise<void> {
  const log = core.log;
  const running = ruleFor(core, rec);
  if (!running) {
    const why = 'no rule gives this client this node name any more (config changed); not provisioned';
    updateRecord(core, rec.name, (r) => ({ ...r, state: 'failed', lastError: why }));
    log.warn({ node: rec.name, ip: rec.ip }, `node ${rec.name}: ${why}`);
    return;
  }
  // an image rule: the version this provision mounts (at a boot, maybe a newer one); an image check alone may end here
  const img = await nodeImage(core, rec, running, job);
  if (!img) return;
  const rule = img.rule;
  const t0 = Date.now();
  let node = rec;
  const fsid = core.state.fsidFor(rec.name);
  if (node.fsid !== fsid) node = updateRecord(core, rec.name, (r) => ({ ...r, fsid }))!;
  // the fsid must be on disk before any export carries it (a no-op when it already is): the
  // provisioner awaits this after the mount, so the fsync overlaps the mount instead of preceding it
  let t1 = t0;
  const durable = core.state.commitFsids().then(() => void (t1 = Date.now()));
  durable.catch(() => {}); // awaited below, and by the provisioner; never an unhandled rejection meanwhile
  // a new boot of an ephemeral node: boot files -> unexport -> umount -> wipe (release 'remove'),
  // then mount -> export with the same fsid -> boot files (provision); serial per node in the queue
  const reset = (job.reset === true && rule.overlay === 'ephemeral') || img.reset;
  // boot-once: a node with a boot-once record gets the files its selection names (production,
  // a profile's or quarantine's); the token of a new profile is stored before they are written
  let prep: PreparedBoot | undefined;
  // a dry run's Apply only logs the plans: no token is issued, no image version recorded, no layer switched
  const planOnly = core.apply.planOnly;
  if (!planOnly && core.bootOnce && rec.bootOnce) prep = await core.bootOnce.prepare(node, rule);
  if (reset) await core.apply.reset(node, running);
  else if (img.layer && !planOnly) await switchLayer(core, node, running, img);
  if (!planOnly) await recordImage(core, rec.name, img);
  await core.apply.provision(node, rule, prep ? { exportGate: durable, boot: prep.boot } : { exportGate: durable });
  await durable;
  const now = Date.now();
  const state = prep?.state ?? 'ready';
  updateRecord(core, rec.name, (r) => {
    const { lastError: _e, ...rest } = r;
    return { ...rest, fsid, state, ruleKey: ruleKeyOf(rule), readyAt: now, timeline: extendTimeline(r.timeline, { time: now, what: state === 'ready' ? 'ready' : prep?.activate ? `${state}: profile ${prep.activate.profile}` : state }) };
  });
  if (rule.image !== undefined || rec.image !== undefined) updateRecord(core, rec.name, (r) => withImage(r, img));
  if (prep?.activate) core.bootOnce!.activated(rec.name, prep.activate);
  core.metrics.seenToReady(Math.max(0, now - job.seenAt));
  // the record is written lazily: after a crash a ready node that shows pending is provisioned
  // again (idempotently) at start-up, so a ready node never waits for a large state.json write
  // where the time went: waiting (intake + queue), then the provisioner, which overlaps making the fsid durable
  if (!log.isLevelEnabled('info')) return;
  const ms = { total: now - job.seenAt, wait: t0 - job.seenAt, fsid: t1 - t0, provision: now - t0 };
  const said = planOnly ? `node ${node.name} planned (dry run: nothing was changed)` : state !== 'ready' ? `node ${node.name} ${state}${prep?.activate ? `: boot files of profile ${prep.activate.profile} written` : ''}` : reset ? `node ${node.name} ready with a fresh ephemeral layer` : `node ${node.name} ready`;
  log.info({ node: node.name, ip: node.ip, mac: node.mac, fsid, ms: ms.total, timing: ms, ...(reset ? { reset } : {}), ...(planOnly ? { dryRun: true } : {}) }, said);
}

/**
 * A ready node's boot files after a template reload. A failure leaves the old files (the node still
 * boots as before) and is logged, not retried and not a failed node: its root is fine.
 */
async function rerender(core: NodeContext, rec: NodeRecord, tally: RenderTally): Promise<void> {
  const rule = rec.state === 'ready' ? ruleFor(core, rec) : undefined;
  if (decideRerender(rec, rule).kind !== 'rerender' || !rule) {
    tally.skipped++;
    return;
  }
  try {
    const r = await core.apply.rerender(rec, rule);
    if (r === 'rewritten') {
      tally.rewritten++;
      updateRecord(core, rec.name, (n) => ({ ...n, timeline: extendTimeline(n.timeline, { time: Date.now(), what: 'boot files rewritten (template reload)' }) }));
      core.log.debug({ node: rec.name }, `boot files of ${rec.name} rewritten after the reload`);
    } else if (r === 'unchanged') tally.unchanged++;
    else tally.skipped++;
  } catch (e) {
    tally.failed++;
    core.log.error({ node: rec.name, err: errorMessage(e) }, `boot files of ${rec.name} not rewritten after the reload (the old ones stay): ${errorMessage(e)}`);
  }
}

async function release(core: NodeContext, rec: NodeRecord, job: Extract<Job, { kind: 'release' }>): Promise<void> {
  const log = core.log;
  const rule = ruleFor(core, rec);
  if (!rule) {
    throw new Error(`node ${rec.name} (${rec.ip}) matches no rule under the current config, so its paths are unknown; release it by hand`);
  }
  const policy = job.policy ?? rule.on_release;
  await core.apply.release(rec, rule, policy);
  const now = Date.now();
  updateRecord(core, rec.name, (r) => {
    const next: NodeRecord = { ...r, state: policy === 'keep' ? r.state : 'released', timeline: extendTimeline(r.timeline, { time: now, what: `released (${policy}): ${job.reason}` }) };
    // its files are gone: a profile starts over; a release by hand also ends the queue and quarantine
    const bo = policy === 'keep' ? r.bootOnce : job.lift ? cancelProfiles(r.bootOnce, now, job.reason) : deactivate(r.bootOnce);
    if (bo) next.bootOnce = bo;
    if (job.lift && r.bootOnce?.current) core.metrics.verification(r.bootOnce.current.profile, 'cancelled');
    return next;
  });
  const after = core.state.get(rec.name);
  if (after) core.bootOnce?.track(after);
  log.info({ node: rec.name, ip: rec.ip, policy, reason: job.reason }, `node ${rec.name} released (${policy})`);
  await core.state.commit();
}

// ---- The apply stage -------------------------------------------------------------------------
// Every change a job or the start-up makes to the system (mounts, exports, boot files, the loader
// fallbacks, orphans) goes through one Apply, and this is the one place `run --dry-run` is decided:
// a plan-only Apply makes each node's plan (planNode, which checks every path, against what is in
// place: read, never changed) and logs it, and changes nothing. The provisioner behind it never
// asks about dry-run. Two guards stay below it as a safety net, for writes that do not come from a
// plan: the Runner (no mutating command runs in a dry run) and the export batcher (no exports file).

/** What the daemon's jobs and start-up call to change the system; see the file comment. */
export interface Apply extends Pick<Provisioner, 'provision' | 'release' | 'switchLayer' | 'rerender' | 'restore' | 'writeDefault' | 'findOrphans' | 'cleanOrphans'> {
  /** true under `run --dry-run`: every method logs its plan and changes nothing */
  readonly planOnly: boolean;
  /** a new boot of an ephemeral node, before its provision: release 'remove' under the rule it runs */
  reset(node: NodeRecord, running: ResolvedRule): Promise<void>;
}

/** Log a plan at info, its steps numbered one per line for a person (and as `plan` for tools). */
export function logPlan(log: Logger, node: NodeRecord, plan: NodePlan | ReleasePlan, msg: string): void {
  if (!log.isLevelEnabled('info')) return;
  const steps = plan.steps.map((s) => s.describe);
  const extra = 'exportEntry' in plan ? { exportEntry: plan.exportEntry, bootFiles: plan.bootFiles } : {};
  log.info({ node: node.name, plan: steps, ...extra }, `${msg}:\n${steps.map((d, i) => `  ${i + 1}. ${d}`).join('\n')}`);
}

/** The daemon's Apply: the provisioner itself, or under --dry-run one that stops after the plan (the one place that decides). */
export function createApply(provisioner: Provisioner | (() => Provisioner), log: Logger, config: () => Config, planOnly: boolean): Apply {
  // the daemon makes its provisioner in start(), after this stage exists: it passes a getter
  const get = typeof provisioner === 'function' ? provisioner : () => provisioner;
  const findOrphans = (known: NodeRecord[]) => get().findOrphans(known);
  if (!planOnly) {
    return {
      planOnly,
      provision: (node, rule, opts) => get().provision(node, rule, opts),
      reset: (node, running) => get().release(node, running, 'remove'),
      release: (node, rule, policy) => get().release(node, rule, policy),
      switchLayer: (node, from, to, how) => get().switchLayer(node, from, to, how),
      rerender: (node, rule) => get().rerender(node, rule),
      restore: (nodes) => get().restore(nodes),
      writeDefault: () => get().writeDefault(),
      findOrphans,
      cleanOrphans: (report) => get().cleanOrphans(report),
    };
  }
  // every plan is made (it checks every path) even when the info line that shows it is not written
  return {
    planOnly,
    async provision(node, rule) {
      logPlan(log, node, await get().plan(node, rule), `dry run: plan for ${node.name} (${node.ip})`);
    },
    async reset(node, running) {
      logPlan(log, node, get().planRelease(node, running, 'remove'), `dry run: ephemeral reset of ${node.name} first`);
    },
    async release(node, rule, policy) {
      logPlan(log, node, get().planRelease(node, rule, policy), `dry run: release plan for ${node.name} (${policy})`);
    },
    async switchLayer(node, from, to, how) {
      logPlan(log, node, get().planRelease(node, from, 'unexport'), `dry run: switch the lower layer (${how.how}) of ${node.name}`);
      return `dry run: ${from.root_dir} -> ${to.root_dir}`;
    },
    async rerender(node, rule) {
      logPlan(log, node, await get().plan(node, rule), `dry run: would rewrite the boot files of ${node.name}`);
      return 'unchanged';
    },
    async restore(nodes) {
      const errors = new Map<string, Error>();
      for (const r of nodes) {
        try {
          log.info({ node: r.node.name, plan: (await get().plan(r.node, r.rule, { restore: true })).steps.map((s) => s.describe) }, `dry run: would restore ${r.node.name}`);
        } catch (e) {
          errors.set(r.node.name, e as Error);
        }
      }
      return errors;
    },
    async writeDefault() {
      const template = config().default_template;
      if (template) log.info({ template }, 'dry run: would write pxelinux.cfg/default');
    },
    findOrphans,
    async cleanOrphans(report) {
      log.info({ orphans: report }, 'dry run: would remove these orphans');
    },
  };
}
