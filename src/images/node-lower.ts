// A node's lower layer when its rule names an image (`image:` instead of `root_dir`): the version
// its record says it runs, and at its next boot, which version it moves to and how its upper goes
// along. A running node is never switched. Pure: the daemon reads the current pointer and applies.
import path from 'node:path';
import type { NodeRecord, ResolvedRule } from '../types.ts';
import { checkComponent } from './names.ts';

/** Default of `images_dir` (the config schema's). */
export const DEFAULT_IMAGES_DIR = '/var/lib/pxebootd/images';

/** images_dir/<image>/current: an image rule's root_dir until a node's version is known (explain shows it). */
export function currentPointer(imagesDir: string, image: string): string {
  return path.join(imagesDir, image, 'current');
}

/** The rule with `version` of its image as the lower layer (root_dir); a rule without an image as it is. */
export function imageRule(rule: ResolvedRule, imagesDir: string, version: string): ResolvedRule {
  if (rule.image === undefined) return rule;
  const why = checkComponent(version, 'version');
  if (why) throw new Error(`image ${rule.image}: ${why}`);
  return { ...rule, root_dir: path.join(imagesDir, rule.image, version) };
}

/** The version of the rule's image that the record says the node runs (none for another image or none yet). */
export function recordedVersion(rec: Pick<NodeRecord, 'image' | 'image_version'>, rule: Pick<ResolvedRule, 'image'>): string | undefined {
  return rule.image !== undefined && rec.image === rule.image ? rec.image_version : undefined;
}

/**
 * Why a node is being provisioned, as far as its image is concerned: `boot` (its boot program was
 * fetched again: a TFTP log line or the hook's tftp action), `after-release` (it comes back after a
 * release), `other` (a restart's requeue, a rule change, a retry: the node may be running).
 */
export type ImageOccasion = 'boot' | 'after-release' | 'other';

/** What happens to a node's lower layer at this provision. */
export type ImageStep =
  /** no image, or the version it runs stays */
  | { kind: 'keep'; version?: string }
  /** no version recorded yet: the current one */
  | { kind: 'first'; version: string }
  /**
   * `reset`: an ephemeral node (a fresh upper, as at every boot); `carry`: the upper goes onto the new
   * version without the metadata that ties it to the old one; `fresh`: a new upper, the old one kept
   * with the version it belonged to (and brought back when the node returns to that version)
   */
  | { kind: 'switch'; from: string; to: string; how: 'reset' | 'carry' | 'fresh' };

/** Decide the step from the rule, the recorded version, the current version and the occasion. Pure. */
export function planImageStep(rule: Pick<ResolvedRule, 'image' | 'overlay' | 'on_image_change'>, recorded: string | undefined, current: string | undefined, occasion: ImageOccasion): ImageStep {
  if (rule.image === undefined) return { kind: 'keep' };
  if (recorded === undefined) {
    if (current === undefined) throw new Error(`image ${rule.image} has no current version (pxebootd image add ${rule.image} SOURCE, or pxebootd image promote ${rule.image} VERSION)`);
    return { kind: 'first', version: current };
  }
  // no current version (the pointer went away): the node keeps what it runs
  if (current === undefined || current === recorded || occasion === 'other') return { kind: 'keep', version: recorded };
  if (rule.overlay === 'ephemeral') return { kind: 'switch', from: recorded, to: current, how: 'reset' };
  if (rule.on_image_change === 'stay' && occasion === 'boot') return { kind: 'keep', version: recorded };
  return { kind: 'switch', from: recorded, to: current, how: rule.on_image_change === 'fresh' ? 'fresh' : 'carry' };
}

/** `next_image_version` of `status --json`: the current version when it is not the one the node runs. Pure. */
export function nextImageVersion(rec: Pick<NodeRecord, 'image' | 'image_version'>, currents: ReadonlyMap<string, string | undefined>): string | undefined {
  if (rec.image === undefined || rec.image_version === undefined) return undefined;
  const cur = currents.get(rec.image);
  return cur !== undefined && cur !== rec.image_version ? cur : undefined;
}
