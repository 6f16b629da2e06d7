// The apply stage of the pipeline (watcher -> inbox -> decide -> queue -> planNode -> APPLYPLAN -> record):
// a node's plan (provisioners/plan.ts) carried out step by step, each kind of step by its existing
// applier: the overlay (overlay-apply.ts), the export batcher (export-batcher.ts) and the boot files
// (boot-files-apply.ts). The order is the plan's, so config last holds by construction: a provision
// plan mounts and exports before it writes boot files; a release plan removes them before the export.
import path from 'node:path';
import type { PlanStep } from '../src/contracts.ts';
import { ensureFile, ensureLink, removeBootFiles } from './boot-files-apply.ts';
import type { ExportBatcher } from './export-batcher.ts';
import { ensureOverlay, unmountOverlay, wipeLayers, type OverlayDeps } from './overlay-apply.ts';
import type { FullPlan } from './plan.ts';

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

/**
 * Carry out `steps` (the plan's own, or a slice of them) in order; true when a boot file or link was
 * (re)written. The overlay steps are one applier call: ensureOverlay makes the directories (mkdir),
 * wipes the layer when reset-layer says so and the node is not exported now, mounts, and checks the
 * mount the kernel made (verify-mount). `reload` is the batcher's: one reload per batch of nodes.
 */
export async function applyPlan(plan: FullPlan, steps: readonly PlanStep[], a: PlanAppliers, o: ApplyOptions = {}): Promise<boolean> {
  let fresh = false;
  let unlinked = false;
  let changed = false;
  for (const s of steps) {
    switch (s.op) {
      case 'mkdir':
      case 'verify-mount':
      case 'reload':
      case 'keep':
        break;
      case 'reset-layer':
        // ephemeral: fresh layers whenever the node comes up while not exported (first boot, or a
        // boot after release); a ready, exported node is left alone (provisioning again changes nothing)
        fresh = !(await a.batcher.entries()).has(plan.entry.path);
        break;
      case 'mount':
        await ensureOverlay(a.ov, plan.paths, { fresh });
        break;
      case 'export':
        if (o.exportGate) await o.exportGate;
        await a.batcher.want(plan.entry);
        break;
      case 'write': {
        const i = plan.specs.findIndex((f) => f.canonical === s.path);
        const text = o.texts?.[i];
        if (text === undefined) throw new Error(`plan of ${plan.node}: no rendered text for ${s.path}`);
        if (await ensureFile(s.path, text)) changed = true;
        break;
      }
      case 'link':
        if (await ensureLink(s.path, path.basename(s.target))) changed = true;
        break;
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
