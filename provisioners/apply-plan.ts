// Step 6 of the pipeline (watcher -> inbox -> decide -> queue -> job -> planNode -> APPLYPLAN -> record):
// a node's plan (provisioners/plan.ts) carried out step by step, each kind of step by its existing
// applier: the overlay (overlay-apply.ts), the export batcher (export-batcher.ts) and the boot files
// (boot-files-apply.ts). The order is the plan's, so config last holds by construction: a provision
// plan mounts and exports before it writes boot files; a release plan removes them before the export.
import path from 'node:path';
import type { PlanStep } from '../src/contracts.ts';
import { ConflictError } from '../src/errors.ts';
import { ensureBootFiles, removeBootFiles, type BootFileItem } from './boot-files-apply.ts';
import type { ExportBatcher } from './export-batcher.ts';
import { mountOverlay, unmountOverlay, wipeLayers, type OverlayDeps } from './overlay-apply.ts';
import type { NodeTargets } from './plan.ts';

/** The appliers a plan's steps go to. */
export interface PlanAppliers {
  ov: OverlayDeps;
  batcher: ExportBatcher;
}

/** How one run of applyPlan goes beyond the steps themselves. */
export interface ApplyOptions {
  /** awaited before an export step: the fsid it carries must be on disk first */
  exportGate?: Promise<void>;
  /** the boot files' texts, one per spec in plan.specs (rendered early, overlapping the mount and export) */
  texts?: string[];
}

/** Boot-file steps: written after the root is mounted and exported (config last). */
export function isBootFileStep(s: PlanStep): boolean {
  return s.op === 'write' || s.op === 'link';
}

/** The file or link a boot-file step puts in place. */
function bootFileItem(plan: NodeTargets & { node: string }, s: PlanStep, o: ApplyOptions): BootFileItem {
  if (s.op === 'link') return { path: s.path, target: path.basename(s.target) };
  if (s.op !== 'write') throw new Error(`plan of ${plan.node}: ${s.op} is not a boot-file step`);
  const i = plan.specs.findIndex((f) => f.canonical === s.path);
  const text = o.texts?.[i];
  if (text === undefined) throw new Error(`plan of ${plan.node}: no rendered text for ${s.path}`);
  return { path: s.path, content: text };
}

/** Export steps: the ones restore() queues for every node before its one reload. */
export function isExportStep(s: PlanStep): boolean {
  return s.op === 'export' || s.op === 'verify-export' || s.op === 'reload';
}

/**
 * Carry out `steps` (the plan's own, or a slice of them) in order; true when a boot file or link was
 * (re)written. The plan was made against what is in place (plan.ts), so each step is done, not
 * checked for first: `mount` mounts (the directories, `mkdir`, are made and opened by it) and checks
 * the mount the kernel made, so `verify-mount` has nothing left to do; `reload` is the batcher's: one
 * reload per batch of nodes.
 */
export async function applyPlan(plan: NodeTargets & { node: string }, steps: readonly PlanStep[], a: PlanAppliers, o: ApplyOptions = {}): Promise<boolean> {
  let unlinked = false;
  let changed = false;
  for (let k = 0; k < steps.length; k++) {
    const s = steps[k]!;
    if (isBootFileStep(s)) {
      // a run of boot-file steps (a node's files and links) is one call: one thread-pool round trip
      let end = k + 1;
      while (end < steps.length && isBootFileStep(steps[end]!)) end++;
      const items = steps.slice(k, end).map((b) => bootFileItem(plan, b, o));
      if ((await ensureBootFiles(items)).some(Boolean)) changed = true;
      k = end - 1;
      continue;
    }
    switch (s.op) {
      case 'mkdir':
      case 'verify-mount':
      case 'reload':
      case 'keep':
        break;
      case 'refuse':
        throw new ConflictError(s.reason);
      case 'reset-layer':
        await wipeLayers(a.ov, plan.paths, { keepMountPoint: true });
        break;
      case 'mount':
        await mountOverlay(a.ov, plan.paths);
        break;
      case 'export':
      case 'verify-export':
        // an unchanged entry is a check for the batcher: it reloads only when the export is not live
        if (o.exportGate) await o.exportGate;
        await a.batcher.want(plan.entry, s.op === 'export' && s.force ? { force: true } : undefined);
        break;
      case 'write':
      case 'link':
        break; // done above, with the boot-file steps next to them
      case 'unlink':
        // one removal for all the plan's boot files: each is checked to be this node's first
        if (!unlinked) await removeBootFiles(plan.specs, plan.node);
        unlinked = true;
        break;
      case 'unexport':
        await a.batcher.drop(s.path);
        break;
      case 'umount':
        await unmountOverlay(a.ov, plan.paths);
        break;
      case 'wipe':
        await wipeLayers(a.ov, plan.paths, { keepMountPoint: false });
        break;
      default: {
        const never: never = s;
        throw new Error(`plan of ${plan.node}: unknown step ${JSON.stringify(never)}`);
      }
    }
  }
  return changed;
}
