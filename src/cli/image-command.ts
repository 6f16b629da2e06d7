// `pxebootd image add|list|promote|rollback|prune|rm|edit|protect`: the image store (src/images/).
// Bad input is refused before anything changes; results go to stdout (a new version id alone on
// its line), progress and warnings to stderr.
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { checkConfig } from '../config/index.ts';
import { asObj, resolveCommand, resolveConfigPath } from '../config/raw.ts';
import { configSchema, commandsSchema, exportsSchema } from '../config/schema.ts';
import { ConfigError, PxeError } from '../errors.ts';
import { readRegular, READ_LIMITS } from '../safe-open.ts';
import { createLogger, humanStream, silentLogger, subsystem } from '../log.ts';
import { createRunner } from '../runner.ts';
import { addVersion, type StoreContext } from '../images/add.ts';
import { editImage } from '../images/edit.ts';
import { protectAll } from '../images/protect.ts';
import { DEFAULT_KEEP, pruneImage, removeVersion, usersByVersion, type ImageUser } from '../images/retention.ts';
import { measureVersions } from '../images/sizes.ts';
import { listImages, listVersions, promote, readCurrent, rollback, validName, versionDir } from '../images/store.ts';
import { parseCommand, usageError } from './args.ts';

const DEFAULT_IMAGES_DIR = '/var/lib/pxebootd/images';
const SUBCOMMANDS = ['add', 'list', 'promote', 'rollback', 'prune', 'rm', 'edit', 'protect'];

/** The few config keys the image commands use. */
interface ImageConfig {
  images_dir: string;
  state_dir: string;
  start_fsid: number;
  mount: string;
  umount: string;
}

const OWN_KEYS = /^(images_dir|state_dir|commands|exports)\b/;

/**
 * The image commands' keys. A config whose other parts are broken (mid-edit, or naming an image that
 * does not exist yet) does not stop them: only problems in these keys, or an unreadable file, do.
 */
async function imageConfig(file: string): Promise<ImageConfig> {
  const r = await checkConfig(file);
  if (r.config) {
    const c = r.config;
    return { images_dir: c.images_dir ?? DEFAULT_IMAGES_DIR, state_dir: c.state_dir, start_fsid: c.exports.start_fsid, mount: c.commands.mount, umount: c.commands.umount };
  }
  if (r.problems.some((p) => p.path === '' || OWN_KEYS.test(p.path))) throw new ConfigError(r.problems);
  const raw = asObj(parseYaml((await readRegular(file, READ_LIMITS.configBytes, 'a config file')).toString('utf8'))) ?? {};
  const base = path.dirname(path.resolve(file));
  const commands = commandsSchema.parse(raw.commands ?? {});
  const images = configSchema.shape.images_dir.parse(raw.images_dir);
  const state = configSchema.shape.state_dir.parse(raw.state_dir);
  process.stderr.write(`pxebootd: warning: ${r.problems.length} problem(s) elsewhere in ${file} (pxebootd check shows them); the image keys are fine\n`);
  return {
    images_dir: resolveConfigPath(base, images),
    state_dir: resolveConfigPath(base, state),
    start_fsid: exportsSchema.parse(raw.exports ?? {}).start_fsid,
    mount: resolveCommand(base, commands.mount),
    umount: resolveCommand(base, commands.umount),
  };
}

function context(config: ImageConfig): StoreContext {
  const log = createLogger({ level: process.env.PXEBOOTD_LOG_LEVEL ?? 'fatal', destination: humanStream((s) => process.stderr.write(s)) });
  return {
    imagesDir: config.images_dir,
    runner: createRunner(subsystem(log, 'runner')),
    mount: config.mount,
    umount: config.umount,
    say: (line) => process.stderr.write(`pxebootd: ${line}\n`),
  };
}

/**
 * The nodes of the state file, with the image fields their records carry (`image`, `image_version`:
 * the daemon records a switch on disk before it mounts the new version). A state file that cannot be
 * read is an error.
 */
async function imageUsers(config: ImageConfig): Promise<ImageUser[]> {
  const { createStateStore } = await import('../state/store.ts');
  const store = createStateStore({ dir: config.state_dir, startFsid: config.start_fsid, log: silentLogger(), memoryOnly: true });
  try {
    await store.load();
  } catch (e) {
    throw new PxeError('STATE', `cannot read the node state in ${config.state_dir} to see which versions nodes run: ${(e as Error).message}; nothing was changed`);
  }
  return store.all() as ImageUser[];
}

function keepOption(v: string | boolean | undefined): number {
  if (v === undefined) return DEFAULT_KEEP;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw usageError(`image: --keep takes a whole number, not ${JSON.stringify(v)}`, 'image');
  return n;
}

function human(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v}B` : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

async function listCommand(c: StoreContext, config: ImageConfig, only: string | undefined, json: boolean): Promise<number> {
  const names = only ? [validName(only, 'image name')] : await listImages(c.imagesDir);
  if (only && (await listVersions(c.imagesDir, only)).length === 0) throw new PxeError('USAGE', `no image ${only} in ${c.imagesDir}`);
  let nodes: ImageUser[] = [];
  try {
    nodes = await imageUsers(config);
  } catch (e) {
    process.stderr.write(`pxebootd: warning: ${(e as Error).message}\n`);
  }
  const images = [];
  for (const name of names) {
    const versions = await listVersions(c.imagesDir, name);
    const current = await readCurrent(c.imagesDir, name).catch(() => undefined);
    const users = usersByVersion(nodes, name);
    const { sizes, totalDisk } = await measureVersions(new Map(versions.map((v) => [v, versionDir(c.imagesDir, name, v)])));
    images.push({
      name,
      current: current ?? null,
      disk_bytes: totalDisk,
      versions: versions.map((v) => {
        const s = sizes.get(v)!;
        return { version: v, current: v === current, apparent_bytes: s.apparent, disk_bytes: s.disk, unique_bytes: s.unique, files: s.files, nodes: users.get(v) ?? [] };
      }),
    });
  }
  if (json) {
    process.stdout.write(JSON.stringify({ images_dir: c.imagesDir, images }, null, 2) + '\n');
    return 0;
  }
  if (images.length === 0) {
    process.stdout.write(`no images in ${c.imagesDir}\n`);
    return 0;
  }
  const rows = [['IMAGE', 'VERSION', 'CUR', 'APPARENT', 'DISK', 'UNIQUE', 'NODES']];
  for (const im of images) {
    for (const v of im.versions) rows.push([im.name, v.version, v.current ? '*' : '', human(v.apparent_bytes), human(v.disk_bytes), human(v.unique_bytes), v.nodes.length ? v.nodes.join(',') : '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ') + '\n');
  for (const im of images) process.stdout.write(`${im.name}: ${im.versions.length} version(s), ${human(im.disk_bytes)} on disk in all${im.current ? '' : ', none current'}\n`);
  return 0;
}

/** `pxebootd image SUBCOMMAND ...` */
export async function imageCommand(args: string[]): Promise<number> {
  const dash = args.indexOf('--');
  const own = dash < 0 ? args : args.slice(0, dash);
  const inner = dash < 0 ? [] : args.slice(dash + 1);
  const { values, positionals, config: file } = parseCommand(
    'image',
    own,
    { json: { type: 'boolean' }, promote: { type: 'boolean' }, keep: { type: 'string' }, via: { type: 'string' } },
    { min: 1, max: 3, names: 'a subcommand (add, list, promote, rollback, prune, rm, edit, protect) and its arguments' },
  );
  const [sub, a, b] = positionals as [string, string | undefined, string | undefined];
  if (!SUBCOMMANDS.includes(sub)) throw usageError(`image: unknown subcommand ${JSON.stringify(sub)}; expected one of ${SUBCOMMANDS.join(', ')}`, 'image');
  const want = (n: number, names: string) => {
    if (positionals.length - 1 !== n) throw usageError(`image ${sub}: expected ${names}`, 'image');
  };
  if (dash >= 0 && sub !== 'edit') throw usageError(`image ${sub}: "--" and a command belong to image edit only`, 'image');
  const allowed: Record<string, string[]> = { add: ['promote'], list: ['json'], edit: ['promote', 'via'], prune: ['keep'], rm: ['keep'] };
  for (const k of ['json', 'promote', 'keep', 'via']) {
    if (values[k] !== undefined && !(allowed[sub] ?? []).includes(k)) throw usageError(`image ${sub} takes no --${k}`, 'image');
  }
  const config = await imageConfig(file);
  const c = context(config);
  switch (sub) {
    case 'add': {
      want(2, 'NAME SOURCE');
      const r = await addVersion(c, a!, b!, { promote: !!values.promote });
      if (r.promoted && !values.promote) c.say!(`image ${a}: ${r.version} is its first version and now current`);
      else if (r.promoted) c.say!(`image ${a}: ${r.version} is now current (nodes get it at their next boot)`);
      process.stdout.write(`${r.version}\n`);
      return 0;
    }
    case 'list':
      if (positionals.length > 2) throw usageError('image list: expected [NAME]', 'image');
      return listCommand(c, config, a, !!values.json);
    case 'promote': {
      want(2, 'NAME VERSION');
      validName(a!, 'image name');
      validName(b!, 'version');
      await protectAll(c, c.imagesDir, a);
      await promote(c.imagesDir, a!, b!);
      c.say!(`image ${a}: ${b} is now current (nodes get it at their next boot)`);
      process.stdout.write(`${b}\n`);
      return 0;
    }
    case 'rollback': {
      want(1, 'NAME');
      validName(a!, 'image name');
      await protectAll(c, c.imagesDir, a);
      const v = await rollback(c.imagesDir, a!);
      c.say!(`image ${a}: rolled back; ${v} is now current (nodes get it at their next boot)`);
      process.stdout.write(`${v}\n`);
      return 0;
    }
    case 'prune': {
      want(1, 'NAME');
      const keep = keepOption(values.keep);
      validName(a!, 'image name');
      const users = usersByVersion(await imageUsers(config), a!);
      const gone = await pruneImage(c, a!, keep, users);
      for (const v of gone) process.stdout.write(`${v}\n`);
      c.say!(`image ${a}: removed ${gone.length} version(s)`);
      return 0;
    }
    case 'rm': {
      want(2, 'NAME VERSION');
      const keep = keepOption(values.keep);
      validName(a!, 'image name');
      validName(b!, 'version');
      await removeVersion(c, a!, b!, keep, usersByVersion(await imageUsers(config), a!));
      c.say!(`image ${a}: removed ${b}`);
      return 0;
    }
    case 'edit': {
      want(1, 'NAME');
      const via = values.via as string | undefined;
      if (via !== undefined && via !== 'nspawn' && via !== 'chroot') throw usageError(`image edit: --via takes nspawn or chroot, not ${JSON.stringify(via)}`, 'image');
      const r = await editImage(c, a!, { command: inner, promote: !!values.promote, runner: via ?? 'auto' });
      if (!r.version) {
        c.say!(`image ${a}: the command exited ${r.exitCode}; nothing was saved`);
        return r.exitCode === 0 ? 1 : r.exitCode;
      }
      c.say!(`image ${a}: saved ${r.version}${r.promoted ? ', now current' : ` (pxebootd image promote ${a} ${r.version})`}`);
      process.stdout.write(`${r.version}\n`);
      return 0;
    }
    case 'protect': {
      if (positionals.length > 2) throw usageError('image protect: expected [NAME]', 'image');
      if (a) validName(a, 'image name');
      const n = await protectAll(c, c.imagesDir, a);
      c.say!(`${n} version(s) newly mounted read-only`);
      return 0;
    }
  }
  return 2;
}
