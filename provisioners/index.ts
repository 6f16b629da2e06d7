// The provisioner: where the job (step 4, src/pipeline/jobs.ts, through its apply stage) hands a node
// to planNode (step 5, plan.ts) and applyPlan (step 6, apply-plan.ts). createProvisioner:
// mount -> export (batched with other nodes) -> boot files, and back, each as a node's plan
// (plan.ts, made against what is in place: observe.ts) carried out by applyPlan (apply-plan.ts).
// Read `provision` first.
// Config last: a node's boot files are written only after its overlay is mounted with
// nfs_export=on and its export is verified live, and they are removed before its export goes.
// Every method applies: `run --dry-run` stops before it, in src/pipeline/jobs.ts (createApply).
import { readTemplateFile } from '../src/safe-open.ts';
import path from 'node:path';
import type { BootSelection, NodePlan, OrphanReport, Provisioner, ProvisionerContext } from '../src/contracts.ts';
import { renderTemplate } from '../src/template.ts';
import type { MountMethod, NodeRecord, ResolvedRule } from '../src/types.ts';
import { errorMessage } from '../src/errors.ts';
import { safeJoin } from '../src/validate.ts';
import { templateValues } from './boot-files.ts';
import { createTemplateReader, removeBootFiles, renderBootFile, writeOwnedFile } from './boot-files-apply.ts';
import { createExportBackend } from './export-backends.ts';
import { FALLBACK_MARKER, planLoaderFallbacks, writeFallback } from './loader-fallbacks.ts';
import { createExportBatcher, type BatcherOptions } from './export-batcher.ts';
import { createMountTable, type MountTableOptions } from './mount-table.ts';
import { loadMountLookup } from './mount-lookup.ts';
import { cleanOrphans, findOrphans, type OrphanDeps } from './orphans.ts';
import type { OverlayDeps } from './overlay-apply.ts';
import { carryUpper, setAsideLayer } from './layer-carry.ts';
import { checkManagedDir } from './paths.ts';
import { createLimiter } from './limiter.ts';
import { createMounter, loadSysMount, resolveMountMethod } from './mounter.ts';
import { NOTHING_IN_PLACE, nodeTargets, planBootSteps, planNode, planNodeRelease, type FullPlan, type NodeCurrent, type NodeTargets } from './plan.ts';
import { applyPlan, isBootFileStep, isExportStep, type PlanAppliers } from './apply-plan.ts';
import { observeNodes, type StateView } from './observe.ts';
import type { PlanStep } from '../src/contracts.ts';
import { selectionSpecs } from './boot-select.ts';
import { MOUNT_CONCURRENCY } from '../src/timing.ts';

/** The pure planners, for callers that want the typed plan (explain). */
export { planNode, planNodeRelease } from './plan.ts';

/** Optional tuning, for tests and benchmarks; the daemon passes none. */
export interface ProvisionerTuning {
  batcher?: Partial<BatcherOptions>;
  /** concurrent mounts in restore() (default MOUNT_CONCURRENCY, src/timing.ts) */
  restoreConcurrency?: number;
  /** mount/umount processes in flight at once (default MOUNT_CONCURRENCY, src/timing.ts) */
  mountConcurrency?: number;
  /** overrides mount_method resolution (unit tests with a fake runner pass command) */
  mountMethod?: { method: MountMethod; why: string };
  /** where the mount table comes from (unit tests pass a fake); default /proc/self/mountinfo */
  readMountinfo?: () => Promise<string>;
}

/** One mount point at a time from the kernel (statmount) unless the mount table is injected or this kernel cannot. */
function mountLookup(tuning: ProvisionerTuning, log: ProvisionerContext['log']): Pick<MountTableOptions, 'lookup' | 'onFallback'> {
  if (tuning.readMountinfo) return {};
  const l = loadMountLookup();
  if ('why' in l) {
    log.info({ why: l.why }, `mount checks read /proc/self/mountinfo (${l.why})`);
    return {};
  }
  return { lookup: l.lookup, onFallback: (why) => log.warn({ why }, `mount checks: ${why}`) };
}

/** The provisioner the daemon uses; see the Provisioner contract in src/contracts.ts. */
export function createProvisioner(ctx: ProvisionerContext, tuning: ProvisionerTuning = {}): Provisioner {
  const { config, runner } = ctx;
  const log = ctx.log.child({ subsystem: 'provision' });
  const exportsLog = ctx.log.child({ subsystem: 'exports' }); // a sibling, not a child: one subsystem key per line
  const nodeDirs = new Set<string>();
  for (const r of [...config.subnets, ...config.hosts]) {
    if (r.node_dir === undefined) continue;
    try {
      nodeDirs.add(checkManagedDir('node_dir', r.node_dir));
    } catch (e) {
      log.warn({ err: errorMessage(e), rule: r.pos }, 'ignoring a node_dir for mount bookkeeping');
    }
  }
  const mountMethod = tuning.mountMethod ?? resolveMountMethod(config.mount_method ?? 'auto', config.commands, loadSysMount());
  log.info({ mountMethod: mountMethod.method, why: mountMethod.why }, `overlays are mounted by ${mountMethod.method === 'syscall' ? 'mount(2) inside pxebootd' : config.commands.mount} (${mountMethod.why})`);
  const spawns = createLimiter(tuning.mountConcurrency ?? MOUNT_CONCURRENCY);
  const readTemplate = createTemplateReader();
  // a post-mount check waits (briefly) for the other mounts in flight, so one read verifies many
  const table = createMountTable(() => [...nodeDirs], tuning.readMountinfo, { busy: () => spawns.busy() > 0, ...mountLookup(tuning, log) });
  const backend = createExportBackend(config, runner, exportsLog, { nodeDirs: () => nodeDirs });
  const mounted = async (paths: string[]): Promise<Set<string>> => {
    for (const p of paths) {
      try {
        nodeDirs.add(checkManagedDir('node_dir', path.dirname(p)));
      } catch {
        /* not a path we could have mounted; it will show as unmounted */
      }
    }
    const snap = await table.snapshot(paths);
    return new Set(paths.filter((p) => snap.get(p)?.fstype === 'overlay'));
  };
  let active = 0;
  // the batcher's own dry-run guard is a safety net below the apply stage (src/pipeline/jobs.ts), which never lets a dry run get here
  const batcher = createExportBatcher({ backend, log: exportsLog, dryRun: runner.dryRun, mounted, activeCallers: () => active }, tuning.batcher);
  /** count a caller as active for the batcher's "everyone is waiting" rule */
  const tracked = async <T>(fn: () => Promise<T>): Promise<T> => {
    active++;
    try {
      return await fn();
    } finally {
      active--;
      batcher.poke();
    }
  };
  const mounter = createMounter(mountMethod.method, runner, config.commands);
  const ov: OverlayDeps = { mounter, table, log, spawns };
  const orphanDeps: OrphanDeps = { config, runner, mounter, log, table, batcher, backend, nodeDirs: () => [...nodeDirs] };

  /** fallback files found to be the admin's: said once, not on every reload */
  const adminOwnedSaid = new Set<string>();

  /** The node's paths, export and boot files (pure; throws on unsafe names), its node_dir watched for mounts. */
  const targetsOf = (node: NodeRecord, rule: ResolvedRule): NodeTargets & { node: string } => {
    const t = nodeTargets(node, rule, config);
    nodeDirs.add(t.paths.nodeDir);
    return { ...t, node: node.name };
  };
  /** what is in place, as this provisioner knows it: its mount table, its batcher's export set */
  const view: StateView = { table, exports: () => batcher.entries() };
  const planOpts = { mountMethod: mounter.method };

  /** The node's plan against what is in place for it now (read, never changed). */
  async function planNow(node: NodeRecord, rule: ResolvedRule, t: NodeTargets, restore = false): Promise<FullPlan> {
    const [current] = await observeNodes(view, [t]);
    return planNode(node, rule, config, current!, { ...planOpts, restore }, t);
  }

  /** Read and render the templates (no writes): started early, it overlaps the mount and export. */
  function renderBoot(t: NodeTargets, node: NodeRecord, rule: ResolvedRule, extra?: Record<string, string>): Promise<string[]> {
    const values = { ...templateValues(node, rule, config.server, t.entry.pseudo ?? t.entry.path, config.http_base), ...extra };
    const p = Promise.all(t.specs.map((s) => renderBootFile(s, values, node.name, node.ip, readTemplate)));
    p.catch(() => {}); // awaited (and reported) later; never an unhandled rejection meanwhile
    return p;
  }

  const appliers: PlanAppliers = { ov, batcher };
  /** These write and link steps; true when anything was (re)written. */
  function writeBoot(t: NodeTargets & { node: string }, steps: readonly PlanStep[], texts: string[]): Promise<boolean> {
    return applyPlan(t, steps.filter(isBootFileStep), appliers, { texts });
  }

  async function dropBootFiles(t: Pick<NodeTargets, 'specs'>, node: string, why: string): Promise<void> {
    const removed = await removeBootFiles(t.specs, node).catch((e) => {
      log.error({ node, err: errorMessage(e) }, `could not remove boot files of ${node} (${why})`);
      return [];
    });
    if (removed.length) log.warn({ node, files: removed }, `removed boot files of ${node}: ${why}`);
  }

  /**
   * Plan the node against what is in place, then apply the steps up to its boot files: the overlay
   * (fresh when ephemeral and not exported), then the export. Counted as an active caller for the batcher.
   */
  function mountAndExport(node: NodeRecord, rule: ResolvedRule, t: NodeTargets, exportGate?: Promise<void>): Promise<FullPlan> {
    return tracked(async () => {
      const plan = await planNow(node, rule, t);
      await applyPlan(plan, plan.steps.filter((s) => !isBootFileStep(s)), appliers, { exportGate });
      return plan;
    });
  }

  /**
   * Boot-once: the selected templates' files under the production names, the other loaders' files
   * removed. Config last holds when the selection boots the node's root (production, `root: own`):
   * mount and export first; a profile that needs no root (memtest86+) is written at once.
   */
  async function provisionSelected(t: NodeTargets & { node: string }, node: NodeRecord, rule: ResolvedRule, sel: BootSelection, exportGate?: Promise<void>): Promise<void> {
    const { write, remove } = selectionSpecs(node, rule, config, sel);
    const files = { ...t, specs: write };
    const rendered = sel.keepFiles ? undefined : renderBoot(files, node, rule, sel.values);
    if (sel.root) {
      try {
        await mountAndExport(node, rule, t, exportGate);
      } catch (e) {
        await dropBootFiles(files, node.name, `mount/export failed: ${errorMessage(e)}`);
        throw e;
      }
    }
    if (rendered === undefined) return;
    const texts = await rendered;
    const removed = await removeBootFiles(remove, node.name);
    if (removed.length) log.info({ node: node.name, files: removed }, `removed boot files of ${node.name} that the selected templates do not replace`);
    await writeBoot(files, planBootSteps(write), texts);
  }

  const provisioner: Provisioner = {
    plan: async (node, rule, o = {}) => stripPlan(await planNow(node, rule, targetsOf(node, rule), o.restore)),
    planRelease: (node, rule, policy) => planNodeRelease(node, rule, config, policy, mounter.method),

    async provision(node, rule, opts = {}) {
      const t = targetsOf(node, rule);
      if (opts.boot) return provisionSelected(t, node, rule, opts.boot, opts.exportGate);
      const rendered = renderBoot(t, node, rule);
      let plan: FullPlan;
      try {
        // tracked up to its export only: a node writing its boot files will not join a batch
        // again, so the batcher must not wait for it
        plan = await mountAndExport(node, rule, t, opts.exportGate);
      } catch (e) {
        // config last: no boot files for a node whose root is not mounted and exported
        await dropBootFiles(t, node.name, `mount/export failed: ${errorMessage(e)}`);
        throw e;
      }
      await writeBoot(plan, plan.steps, await rendered);
    },

    async rerender(node, rule) {
      const t = targetsOf(node, rule);
      // config last: the text names this export; it must be live (a changed node_dir is not yet)
      if (!(await batcher.entries()).has(t.entry.path)) return 'not-exported';
      return (await writeBoot(t, planBootSteps(t.specs), await renderBoot(t, node, rule))) ? 'rewritten' : 'unchanged';
    },

    async release(node, rule, policy) {
      const t = targetsOf(node, rule);
      if (policy === 'keep') return;
      // boot files -> unexport -> (remove) umount -> wipe
      const steps = planNodeRelease(node, rule, config, policy, mounter.method).steps;
      await tracked(() => applyPlan(t, steps, appliers));
    },

    async switchLayer(node, from, to, how) {
      const old = targetsOf(node, from);
      const next = targetsOf(node, to);
      return tracked(async () => {
        // config last, backwards: no boot files while the root is not exported; the layers stay
        const steps = planNodeRelease(node, from, config, 'remove', mounter.method).steps.filter((s) => s.op !== 'wipe');
        await applyPlan(old, steps, appliers);
        if (how.how === 'carry') {
          const r = await carryUpper(next.paths);
          return `upper carried (origin removed from ${r.stripped} of ${r.entries + 1} entries${r.index ? ', index dropped' : ''})`;
        }
        const r = await setAsideLayer(next.paths, how.from, how.to);
        return r.restored ? `upper of ${how.to} brought back; the one of ${how.from} kept at ${r.keptAt}` : `fresh upper; the one of ${how.from} kept at ${r.keptAt}`;
      });
    },

    async restore(nodes) {
      const errors = new Map<string, Error>();
      const known: Array<{ t: NodeTargets & { node: string }; node: NodeRecord; rule: ResolvedRule }> = [];
      for (const { node, rule } of nodes) {
        try {
          known.push({ t: targetsOf(node, rule), node, rule });
        } catch (e) {
          errors.set(node.name, e as Error);
        }
      }
      // what is in place: one mount table snapshot for every node's point, one look at our exports
      let currents: NodeCurrent[];
      try {
        currents = await observeNodes(view, known.map((k) => k.t));
      } catch (e) {
        for (const k of known) {
          errors.set(k.node.name, e as Error);
          await dropBootFiles(k.t, k.node.name, `restore: could not see what is mounted and exported: ${errorMessage(e)}`);
        }
        return errors;
      }
      const plans: Array<{ plan: FullPlan; node: NodeRecord; rule: ResolvedRule }> = [];
      known.forEach((k, i) => {
        try {
          plans.push({ plan: planNode(k.node, k.rule, config, currents[i] ?? NOTHING_IN_PLACE, { ...planOpts, restore: true }, k.t), node: k.node, rule: k.rule });
        } catch (e) {
          errors.set(k.node.name, e as Error);
        }
      });
      const mounted: typeof plans = [];
      await eachLimited(plans, tuning.restoreConcurrency ?? MOUNT_CONCURRENCY, async (p) => {
        try {
          await applyPlan(p.plan, p.plan.steps.filter((s) => !isExportStep(s) && !isBootFileStep(s)), appliers);
          mounted.push(p);
        } catch (e) {
          errors.set(p.node.name, e as Error);
          await dropBootFiles(p.plan, p.node.name, `restore: mount failed: ${errorMessage(e)}`);
        }
      });
      // every export step (a forced want) is queued before the flush, so all of them share ONE reload
      const wants = mounted.map((p) => applyPlan(p.plan, p.plan.steps.filter(isExportStep), appliers).then(() => p));
      // settled from the start: a want refused during the flush (an fsid clash) is a node's error, not an unhandled rejection
      const settled = Promise.allSettled(wants);
      await batcher.flush();
      const results = await settled;
      const exported: typeof plans = [];
      results.forEach((r, i) => {
        const p = mounted[i]!;
        if (r.status === 'fulfilled') exported.push(p);
        else errors.set(p.node.name, r.reason as Error);
      });
      for (const p of mounted) if (errors.has(p.node.name)) await dropBootFiles(p.plan, p.node.name, `restore: export failed: ${errorMessage(errors.get(p.node.name))}`);
      await eachLimited(exported, 16, async (p) => {
        try {
          await writeBoot(p.plan, p.plan.steps, await renderBoot(p.plan, p.node, p.rule));
        } catch (e) {
          errors.set(p.node.name, e as Error);
        }
      });
      return errors;
    },

    async writeDefault() {
      // GRUB's and iPXE's fallbacks first: a broken default_template must not cost the other loaders theirs
      for (const f of planLoaderFallbacks(config)) {
        let outcome;
        try {
          outcome = await writeFallback(f);
        } catch (e) {
          log.error({ file: f.file, loader: f.loader, err: errorMessage(e) }, `could not write ${f.file}: ${errorMessage(e)}`);
          continue;
        }
        if (outcome === 'admin-owned' && !adminOwnedSaid.has(f.file)) {
          adminOwnedSaid.add(f.file);
          log.warn({ file: f.file, loader: f.loader }, `${f.file} is not pxebootd's (no "${FALLBACK_MARKER}" line): leaving it alone; it must send ${f.loader === 'grub' ? 'GRUB' : 'iPXE'} clients to their per-node files and retry while they are missing`);
        } else if (outcome === 'written') {
          log.info({ file: f.file, loader: f.loader }, `wrote ${f.file}: ${f.loader === 'grub' ? 'GRUB' : 'iPXE'} clients find their own file through it, and retry while it is missing`);
        }
      }
      if (!config.default_template) return;
      const file = safeJoin(config.tftp_root, 'pxelinux.cfg', 'default');
      const text = renderTemplate(await readTemplateFile(config.default_template), { server: config.server, http_base: config.http_base });
      await writeOwnedFile(file, text);
    },

    findOrphans: (known) => findOrphans(orphanDeps, known),
    cleanOrphans: (report: OrphanReport) => cleanOrphans(orphanDeps, report),
    close: () => batcher.close(),
  };
  return provisioner;
}

function stripPlan(p: FullPlan): NodePlan {
  const { paths: _p, entry: _e, specs: _s, ...plan } = p;
  return plan;
}

/** Run `fn` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < items.length) await fn(items[i++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
