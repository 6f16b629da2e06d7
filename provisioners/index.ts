// createProvisioner: mount -> export (batched with other nodes) -> boot files, and back, each as a
// node's plan (plan.ts) carried out by applyPlan (apply-plan.ts).
// Config last: a node's boot files are written only after its overlay is mounted with
// nfs_export=on and its export is verified live, and they are removed before its export goes.
// Every method applies: `run --dry-run` stops before it, in src/pipeline/apply.ts.
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
import { ensureOverlay, type OverlayDeps } from './overlay-apply.ts';
import { carryUpper, setAsideLayer } from './layer-carry.ts';
import { checkManagedDir } from './paths.ts';
import { createLimiter } from './limiter.ts';
import { createMounter, loadSysMount, resolveMountMethod } from './mounter.ts';
import { planBootSteps, planNode, planNodeRelease, type FullPlan } from './plan.ts';
import { applyPlan, isBootFileStep, type PlanAppliers } from './apply-plan.ts';
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
  const backend = createExportBackend(config, runner, exportsLog);
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
  // the batcher's own dry-run guard is a safety net below src/pipeline/apply.ts, which never lets a dry run get here
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

  const fullPlan = (node: NodeRecord, rule: ResolvedRule): FullPlan => {
    const p = planNode(node, rule, config, mounter.method);
    nodeDirs.add(p.paths.nodeDir);
    return p;
  };

  /** Read and render the templates (no writes): started early, it overlaps the mount and export. */
  function renderBoot(plan: FullPlan, node: NodeRecord, rule: ResolvedRule, extra?: Record<string, string>): Promise<string[]> {
    const values = { ...templateValues(node, rule, config.server, plan.nfsPath, config.http_base), ...extra };
    const p = Promise.all(plan.specs.map((s) => renderBootFile(s, values, node.name, node.ip, readTemplate)));
    p.catch(() => {}); // awaited (and reported) later; never an unhandled rejection meanwhile
    return p;
  }

  const appliers: PlanAppliers = { ov, batcher };
  /** The plan's write and link steps; true when anything was (re)written. */
  function writeBoot(plan: FullPlan, texts: string[]): Promise<boolean> {
    return applyPlan(plan, plan.steps.filter(isBootFileStep), appliers, { texts });
  }

  async function dropBootFiles(plan: FullPlan, node: string, why: string): Promise<void> {
    const removed = await removeBootFiles(plan.specs, node).catch((e) => {
      log.error({ node, err: errorMessage(e) }, `could not remove boot files of ${node} (${why})`);
      return [];
    });
    if (removed.length) log.warn({ node, files: removed }, `removed boot files of ${node}: ${why}`);
  }

  /** The plan's steps up to its boot files: the overlay (fresh when ephemeral and not exported), then the export. */
  async function mountAndExport(plan: FullPlan, exportGate?: Promise<void>): Promise<void> {
    await applyPlan(plan, plan.steps.filter((s) => !isBootFileStep(s)), appliers, { exportGate });
  }

  /**
   * Boot-once: the selected templates' files under the production names, the other loaders' files
   * removed. Config last holds when the selection boots the node's root (production, `root: own`):
   * mount and export first; a profile that needs no root (memtest86+) is written at once.
   */
  async function provisionSelected(plan: FullPlan, node: NodeRecord, rule: ResolvedRule, sel: BootSelection, exportGate?: Promise<void>): Promise<void> {
    const { write, remove } = selectionSpecs(node, rule, config, sel);
    const files: FullPlan = { ...plan, specs: write, steps: planBootSteps(write) };
    const rendered = sel.keepFiles ? undefined : renderBoot(files, node, rule, sel.values);
    if (sel.root) {
      try {
        await tracked(() => mountAndExport(plan, exportGate));
      } catch (e) {
        await dropBootFiles(files, node.name, `mount/export failed: ${errorMessage(e)}`);
        throw e;
      }
    }
    if (rendered === undefined) return;
    const texts = await rendered;
    const removed = await removeBootFiles(remove, node.name);
    if (removed.length) log.info({ node: node.name, files: removed }, `removed boot files of ${node.name} that the selected templates do not replace`);
    await writeBoot(files, texts);
  }

  const provisioner: Provisioner = {
    plan: (node, rule) => stripPlan(fullPlan(node, rule)),
    planRelease: (node, rule, policy) => planNodeRelease(node, rule, config, policy, mounter.method),

    async provision(node, rule, opts = {}) {
      const plan = fullPlan(node, rule);
      if (opts.boot) return provisionSelected(plan, node, rule, opts.boot, opts.exportGate);
      const rendered = renderBoot(plan, node, rule);
      try {
        // tracked up to its export only: a node writing its boot files will not join a batch
        // again, so the batcher must not wait for it
        await tracked(() => mountAndExport(plan, opts.exportGate));
      } catch (e) {
        // config last: no boot files for a node whose root is not mounted and exported
        await dropBootFiles(plan, node.name, `mount/export failed: ${errorMessage(e)}`);
        throw e;
      }
      await writeBoot(plan, await rendered);
    },

    async rerender(node, rule) {
      const plan = fullPlan(node, rule);
      // config last: the text names this export; it must be live (a changed node_dir is not yet)
      if (!(await batcher.entries()).has(plan.entry.path)) return 'not-exported';
      return (await writeBoot(plan, await renderBoot(plan, node, rule))) ? 'rewritten' : 'unchanged';
    },

    async release(node, rule, policy) {
      const plan = fullPlan(node, rule);
      if (policy === 'keep') return;
      // boot files -> unexport -> (remove) umount -> wipe
      const steps = planNodeRelease(node, rule, config, policy, mounter.method).steps;
      await tracked(() => applyPlan(plan, steps, appliers));
    },

    async switchLayer(node, from, to, how) {
      const old = fullPlan(node, from);
      const next = fullPlan(node, to);
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
      const plans: Array<{ plan: FullPlan; node: NodeRecord; rule: ResolvedRule }> = [];
      for (const { node, rule } of nodes) {
        try {
          plans.push({ plan: fullPlan(node, rule), node, rule });
        } catch (e) {
          errors.set(node.name, e as Error);
        }
      }
      const mounted: typeof plans = [];
      await eachLimited(plans, tuning.restoreConcurrency ?? MOUNT_CONCURRENCY, async (p) => {
        try {
          await ensureOverlay(ov, p.plan.paths, { fresh: false });
          mounted.push(p);
        } catch (e) {
          errors.set(p.node.name, e as Error);
          await dropBootFiles(p.plan, p.node.name, `restore: mount failed: ${errorMessage(e)}`);
        }
      });
      // every want is queued before the flush, so all of them share ONE reload
      const wants = mounted.map((p) => batcher.want(p.plan.entry, { force: true }).then(() => p));
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
          await writeBoot(p.plan, await renderBoot(p.plan, p.node, p.rule));
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
