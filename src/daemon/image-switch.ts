// The daemon's side of images (rule `image:`): which version a provision mounts, and at a node's
// next boot the switch to the current version, in the config-last order: boot files -> unexport ->
// umount (provisioner.switchLayer, or the ephemeral reset's release) -> mount on the new version ->
// export with the same fsid -> boot files (provisioner.provision). A running node is never switched.
import type { LayerSwitch, Provisioner } from '../contracts.ts';
import type { Logger } from 'pino';
import type { Config, NodeRecord, ResolvedRule } from '../types.ts';
import type { Runner } from '../runner.ts';
import { protectAll } from '../images/protect.ts';
import { errorMessage } from '../errors.ts';
import { currentPointer, imageRule, planImageStep, recordedVersion, DEFAULT_IMAGES_DIR, type ImageOccasion, type ImageStep } from '../images/node-lower.ts';
import { readCurrent, versionDir } from '../images/store.ts';
import { lstat } from 'node:fs/promises';
import { readlinkSync } from 'node:fs';
import { checkComponent } from '../images/names.ts';
import { extendTimeline } from './records.ts';
import type { StateStore } from '../state/store.ts';

/** What an image step needs of the daemon (src/pipeline/jobs.ts's NodeContext has it; named here so this module does not import jobs.ts). */
export interface ImageContext {
  readonly log: Logger;
  readonly state: StateStore;
  /** the apply stage's switchLayer (src/pipeline/jobs.ts createApply; the Provisioner's signature) */
  readonly apply: Pick<Provisioner, 'switchLayer'>;
  config(): Config;
}

/** The image part of a provision job: why it runs, and whether an image check is all it is for. */
export interface ImageJobFields {
  /** `boot`: the node fetched its boot program again; `after-release`: it comes back after a release */
  occasion?: Exclude<ImageOccasion, 'other'>;
  /** nothing but the version check is due (a persistent node's boot): no version change, no work */
  check?: boolean;
}

/** What a provision does about the node's image. */
export interface NodeImage {
  /** the rule to provision with: root_dir is the version's directory */
  rule: ResolvedRule;
  step: ImageStep;
  /** a persistent node moving to another version: how its upper goes */
  layer?: LayerSwitch;
  /** an ephemeral node moving to another version: the reset (a fresh upper) */
  reset: boolean;
}

/** The images_dir of the running config. */
export function imagesDirOf(core: ImageContext): string {
  return core.config().images_dir ?? DEFAULT_IMAGES_DIR;
}

/** The current version of `image`, or undefined (none promoted, or a pointer pxebootd did not write: logged). */
async function currentVersion(core: ImageContext, image: string): Promise<string | undefined> {
  try {
    return await readCurrent(imagesDirOf(core), image);
  } catch (e) {
    core.log.warn({ image, err: errorMessage(e) }, `image ${image}: cannot read its current version: ${errorMessage(e)}`);
    return undefined;
  }
}

/**
 * Decide the node's lower layer for this provision. `running` is its rule with the version it runs
 * (jobs.ruleFor). Undefined when the job was only an image check and the version stays.
 */
export async function nodeImage(core: ImageContext, rec: NodeRecord, running: ResolvedRule, job: ImageJobFields & { reset?: boolean }): Promise<NodeImage | undefined> {
  if (running.image === undefined) return { rule: running, step: { kind: 'keep' }, reset: false };
  const occasion: ImageOccasion = job.occasion ?? 'other';
  const step = planImageStep(running, recordedVersion(rec, running), await currentVersion(core, running.image), occasion);
  if (step.kind === 'keep') {
    if (job.check) return undefined;
    return { rule: running, step, reset: false };
  }
  const version = step.kind === 'first' ? step.version : step.to;
  const dir = versionDir(imagesDirOf(core), running.image, version);
  if (!(await lstat(dir).catch(() => undefined))?.isDirectory()) throw new Error(`image ${running.image}: version ${version} is missing (${dir})`);
  const rule = imageRule(running, imagesDirOf(core), version);
  if (step.kind === 'first') return { rule, step, reset: false };
  if (step.how === 'reset') return { rule, step, reset: true };
  return { rule, step, reset: false, layer: step.how === 'carry' ? { how: 'carry' } : { how: 'fresh', from: step.from, to: step.to } };
}

/** A persistent node's switch up to its umount (and the carry or set-aside of its upper); provision() does the rest. */
export async function switchLayer(core: ImageContext, node: NodeRecord, running: ResolvedRule, img: NodeImage): Promise<void> {
  if (img.step.kind !== 'switch' || !img.layer) return;
  const { from, to } = img.step;
  const cur = core.state.get(node.name);
  if (cur) core.state.put({ ...cur, state: 'pending', timeline: extendTimeline(cur.timeline, { time: Date.now(), what: `image ${running.image}: switching ${from} -> ${to} (${img.layer.how})` }) });
  const what = await core.apply.switchLayer(node, running, img.rule, img.layer);
  core.log.info({ node: node.name, ip: node.ip, image: running.image, from, to, how: img.layer.how }, `node ${node.name}: image ${running.image} ${from} -> ${to} at its boot: ${what}`);
}

/**
 * Before the mount on another version (the old one is unmounted): the record names the new version,
 * on disk, so a retry or a restart mounts that one and `image prune` never takes a version a node
 * has mounted. A first version is recorded lazily (it is the current one: prune keeps it).
 */
export async function recordImage(core: ImageContext, name: string, img: NodeImage): Promise<void> {
  if (img.step.kind !== 'switch' || img.rule.image === undefined) return;
  const cur = core.state.get(name);
  if (!cur) return;
  core.state.put({ ...cur, image: img.rule.image, image_version: img.step.to });
  await core.state.commit();
}

/** The record after a successful provision: the image and version it now runs (none without an image). */
export function withImage(r: NodeRecord, img: NodeImage): NodeRecord {
  const { image: _i, image_version: _v, ...rest } = r;
  const version = img.step.kind === 'switch' ? img.step.to : img.step.version;
  if (img.rule.image === undefined || version === undefined) return rest;
  const next: NodeRecord = { ...rest, image: img.rule.image, image_version: version };
  if (img.step.kind === 'switch' && img.step.how === 'reset') next.timeline = extendTimeline(r.timeline, { time: Date.now(), what: `image ${img.rule.image}: ${img.step.from} -> ${img.step.to} (fresh ephemeral layer)` });
  return next;
}

/**
 * At start-up: the versions of the images the rules name are read-only bind mounts again (a reboot
 * drops them). A failure is logged, not fatal: the nodes' roots do not depend on it.
 */
export async function protectImages(config: Config, runner: Runner, log: Logger): Promise<void> {
  const names = new Set<string>();
  for (const r of [...config.subnets, ...config.hosts]) if (r.image !== undefined) names.add(r.image);
  if (names.size === 0) return;
  const imagesDir = config.images_dir ?? DEFAULT_IMAGES_DIR;
  for (const name of names) {
    try {
      const n = await protectAll({ runner, mount: config.commands.mount, umount: config.commands.umount }, imagesDir, name);
      if (n > 0) log.info({ image: name, versions: n }, `image ${name}: ${n} version(s) mounted read-only again`);
    } catch (e) {
      log.error({ image: name, err: errorMessage(e) }, `image ${name}: could not protect its versions (read-only bind mounts): ${errorMessage(e)}`);
    }
  }
}

/** image -> its current version, for the images the rules name (read at each status: a promote shows at once). */
export function currentVersionsSync(config: Config): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  const imagesDir = config.images_dir ?? DEFAULT_IMAGES_DIR;
  for (const r of [...config.subnets, ...config.hosts]) {
    if (r.image === undefined || out.has(r.image)) continue;
    let v: string | undefined;
    try {
      v = readlinkSync(currentPointer(imagesDir, r.image));
    } catch {
      v = undefined;
    }
    out.set(r.image, v !== undefined && checkComponent(v, 'version') === undefined ? v : undefined);
  }
  return out;
}
