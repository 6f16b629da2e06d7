// The apply stage of the pipeline (watcher -> inbox -> decide -> queue -> planNode -> APPLY -> record)
// as the daemon sees it. Every change a job or the start-up makes to the system (mounts, exports,
// boot files, the loader fallbacks, orphans) goes through this one object, and this is the one
// place `run --dry-run` is decided: a plan-only Apply makes each node's plan (planNode, which checks
// every path, against what is in place: read, never changed) and logs it, and changes nothing. The provisioner behind it never asks about dry-run.
// Two guards stay below it as a safety net, for writes that do not come from a plan: the Runner
// (no mutating command runs in a dry run) and the export batcher (no exports file is written).
import type { Logger } from 'pino';
import type { NodePlan, Provisioner, ReleasePlan } from '../contracts.ts';
import type { Config, NodeRecord, ResolvedRule } from '../types.ts';

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
