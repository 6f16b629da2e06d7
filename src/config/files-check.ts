// Checks that touch the file system through an injected probe: paths that must exist at check time
// (root_dir, templates), paths that must be directories when present, and template variables.
// Templates: an unknown {{var}} is reported at TEMPLATE_FILE:LINE:COL.
import type { ConfigProblem } from '../errors.ts';
import { BUILTIN_VARS, suggestVariable, templateVariables, unknownVariables } from '../template.ts';
import type { KeyPath, Locator } from './positions.ts';
import { asObj, asStr, candidateSubnets, rawHosts, rawSubnets, resolveConfigPath, type Obj } from './raw.ts';
import { TEMPLATE_KEYS } from './template-keys.ts';
import { PROFILE_VARS, rawProfiles } from './profile-check.ts';
import { bootPrograms } from '../boot-once/programs.ts';
import { QUARANTINE_PROFILE } from '../types.ts';
import path from 'node:path';
import { checkComponent } from '../images/names.ts';

/** Default of `images_dir` (the schema's). */
const DEFAULT_IMAGES_DIR = '/var/lib/pxebootd/images';

/** A probe's kind in words: 'other' is whatever is neither file nor directory (FIFO, device, socket). */
const kindName = (k: string): string => (k === 'other' ? 'something that is neither a regular file nor a directory (a FIFO, device or socket?)' : k === 'file' ? 'a regular file' : `a ${k}`);

/** Read-only view of the file system, so the validation core stays pure in unit tests. */
export interface FsProbe {
  kind(p: string): 'file' | 'dir' | 'other' | 'missing';
  /** file contents, or undefined when unreadable */
  read(p: string): string | undefined;
}

/** Variables a default (pre-provisioning) template may use: it serves every client alike. */
export const DEFAULT_TEMPLATE_VARS = ['server'];

const DIRS_CREATED = ['node_dir', 'overlay_dir'] as const;

/** Unix socket paths longer than this cannot be bound (struct sockaddr_un.sun_path is 108 bytes). */
const MAX_SOCKET_PATH = 107;

/** The config's paths checked against the file system, so `check` reports them before the daemon trips on them. */
export function checkFiles(raw: Obj, baseDir: string, probe: FsProbe, loc: Locator): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const abs = (v: unknown) => (asStr(v) ? resolveConfigPath(baseDir, v as string) : undefined);
  const mustBeDirIfPresent = (p: KeyPath, v: unknown, what: string) => {
    const a = abs(v);
    if (a === undefined) return;
    const k = probe.kind(a);
    if (k !== 'missing' && k !== 'dir') out.push(loc.problem(p, `expected ${what} to be a directory, found ${kindName(k)} at ${a}`));
  };
  const sock = abs(raw.control_socket);
  if (sock !== undefined && Buffer.byteLength(sock) > MAX_SOCKET_PATH) {
    out.push(loc.problem(['control_socket'], `expected a socket path of at most ${MAX_SOCKET_PATH} bytes (the sun_path limit), found ${Buffer.byteLength(sock)}: ${sock}`));
  }
  mustBeDirIfPresent(['state_dir'], raw.state_dir, 'state_dir');
  mustBeDirIfPresent(['tftp_root'], raw.tftp_root, 'tftp_root');

  const templates = new Map<string, string | undefined>();
  const readTemplate = (p: KeyPath, v: unknown): { file: string; text: string } | undefined => {
    const a = abs(v);
    if (a === undefined) return undefined;
    if (!templates.has(a)) {
      const k = probe.kind(a);
      let text: string | undefined;
      if (k === 'missing') out.push(loc.problem(p, `template not found: ${a}`));
      else if (k !== 'file') out.push(loc.problem(p, `expected a template file, found ${kindName(k)} at ${a}`));
      else if ((text = probe.read(a)) === undefined) out.push(loc.problem(p, `cannot read template ${a}`));
      templates.set(a, text);
    }
    const text = templates.get(a);
    return text === undefined ? undefined : { file: a, text };
  };

  const seenUses = new Set<string>();
  const hint = (name: string, known: string[]) => {
    const s = suggestVariable(name, known);
    return s ? `: did you mean {{${s}}}?` : '';
  };
  const checkVars = (p: KeyPath, v: unknown, known: string[], context: string, builtins = true) => {
    const t = readTemplate(p, v);
    if (!t) return;
    // {{http_base}} is known when the config sets http_base; otherwise it gets its own message below
    if (raw.http_base !== undefined) known = [...known, 'http_base'];
    const unknown = (builtins ? unknownVariables(t.text, known) : templateVariables(t.text).filter((u) => !known.includes(u.name))).filter((u) => u.name !== 'http_base');
    if (raw.http_base === undefined) {
      for (const u of templateVariables(t.text).filter((x) => x.name === 'http_base')) {
        const key = `${t.file}:${u.line}:${u.col}:http_base`;
        if (seenUses.has(key)) continue;
        seenUses.add(key);
        out.push({ file: t.file, line: u.line, col: u.col, path: loc.problem(p, '').path, message: '{{http_base}} has no value: set http_base to the URL of the HTTP server that serves tftp_root (e.g. http://10.0.0.1)' });
      }
    }
    for (const u of unknown) {
      const key = `${t.file}:${u.line}:${u.col}:${u.name}`;
      if (seenUses.has(key)) continue;
      seenUses.add(key);
      const own = known.filter((n) => !(BUILTIN_VARS as readonly string[]).includes(n));
      const all = builtins ? [...BUILTIN_VARS, ...own] : known;
      out.push({
        file: t.file, line: u.line, col: u.col, path: loc.problem(p, '').path,
        message: `unknown template variable {{${u.name}}}${(PROFILE_VARS as readonly string[]).includes(u.name) ? ': it has a value only in the templates of a boot-once profile (profiles:)' : hint(u.name, all)} (${context}; known: ${all.join(', ')})`,
      });
    }
  };

  for (const kind of ['subnets', 'hosts'] as const) {
    (Array.isArray(raw[kind]) ? (raw[kind] as unknown[]) : []).forEach((r, i) => {
      const o = asObj(r);
      if (!o) return;
      const rootAbs = abs(o.root_dir);
      if (rootAbs !== undefined) {
        const k = probe.kind(rootAbs);
        if (k === 'missing') out.push(loc.problem([kind, i, 'root_dir'], `root_dir not found: ${rootAbs} (the shared lower layer must exist before nodes boot)`));
        else if (k !== 'dir') out.push(loc.problem([kind, i, 'root_dir'], `expected root_dir to be a directory, found ${kindName(k)} at ${rootAbs}`));
      }
      const image = asStr(o.image);
      if (image !== undefined && checkComponent(image, 'image name') === undefined) {
        const imagesDir = abs(raw.images_dir ?? DEFAULT_IMAGES_DIR)!;
        // `current` is the store's symlink to the current version: a directory through it, or nothing
        const k = probe.kind(path.join(imagesDir, image, 'current'));
        if (k !== 'dir') {
          out.push(loc.problem([kind, i, 'image'], `image ${image} has no current version in ${imagesDir} (add one first: pxebootd image add ${image} SOURCE; nodes cannot boot on it until then)`));
        }
      }
      for (const d of DIRS_CREATED) mustBeDirIfPresent([kind, i, d], o[d], d);
      for (const t of TEMPLATE_KEYS) readTemplate([kind, i, t], o[t]);
    });
  }

  const varNames = (o: Obj) => Object.keys(asObj(o.vars) ?? {});
  // `vars` that is not a map is reported once by the schema; checking templates against it would
  // repeat that one mistake as an "unknown variable" for every use of every var in every template
  const badVars = (o: Obj) => o.vars !== undefined && o.vars !== null && asObj(o.vars) === undefined;
  const subnets = rawSubnets(raw);
  (Array.isArray(raw.subnets) ? (raw.subnets as unknown[]) : []).forEach((r, i) => {
    const o = asObj(r);
    if (!o || o.ignore === true || badVars(o)) return;
    for (const t of TEMPLATE_KEYS) {
      if (o[t] !== undefined) checkVars(['subnets', i, t], o[t], varNames(o), `subnet ${String(o.cidr)}`);
    }
  });
  for (const h of rawHosts(raw)) {
    for (const s of candidateSubnets(subnets, h)) {
      const ignored = typeof h.obj.ignore === 'boolean' ? h.obj.ignore : s.ignore;
      if (ignored || badVars(s.obj) || badVars(h.obj)) continue;
      const known = [...new Set([...varNames(s.obj), ...varNames(h.obj)])];
      for (const t of TEMPLATE_KEYS) {
        if (h.obj[t] !== undefined) checkVars(['hosts', h.index, t], h.obj[t], known, `hosts[${h.index}] in subnet ${s.cidr.text}`);
        else if (s.obj[t] !== undefined) checkVars(['subnets', s.index, t], s.obj[t], known, `subnet ${s.cidr.text} with hosts[${h.index}]`);
      }
    }
  }

  // profile templates: the built-ins plus {{report_url}} and {{report_token}} (no rule vars: a
  // profile serves nodes of every subnet)
  for (const [name, p] of rawProfiles(raw)) {
    const texts: string[] = [];
    for (const t of TEMPLATE_KEYS) {
      if (p[t] === undefined) continue;
      checkVars(['profiles', name, t], p[t], [...PROFILE_VARS], `profile ${name}`);
      const r = readTemplate(['profiles', name, t], p[t]);
      if (r) texts.push(r.text);
    }
    if (texts.length === 0) continue;
    // the quarantine profile is never done: it is what a failed node boots until released
    if (name !== QUARANTINE_PROFILE && p.done_when === 'served' && p.boot_file === undefined && !texts.some((x) => bootPrograms(x).length > 0)) {
      out.push(loc.problem(['profiles', name], `profile ${name} is done when its boot program is served, but no KERNEL/LINUX/linux/chainloader/kernel/chain line of its templates names a file by a fixed name: add boot_file: [NAME]`));
    }
    if (p.done_when === 'reported' && !texts.some((x) => templateVariables(x).some((u) => u.name === 'report_token'))) {
      out.push(loc.problem(['profiles', name, 'done_when'], `profile ${name} is done when the node reports, but none of its templates passes {{report_token}} (and {{report_url}}) to the node, so it cannot report`));
    }
  }

  if (raw.default_template !== undefined) {
    const t = readTemplate(['default_template'], raw.default_template);
    if (t) {
      checkVars(['default_template'], raw.default_template, DEFAULT_TEMPLATE_VARS, 'default_template serves clients that are not ready yet', false);
      t.text.split('\n').forEach((l, i) => {
        const col = l.indexOf('<NODE>');
        if (col >= 0) out.push({ file: t.file, line: i + 1, col: col + 1, path: 'default_template', message: '<NODE> has no value in the default template: it serves clients that are not ready yet' });
      });
    }
  }
  return out;
}
