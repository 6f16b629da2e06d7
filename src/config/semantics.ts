// Cross-field rules the schema cannot express: equal CIDRs, duplicate host keys, hosts outside
// every subnet, what a non-ignored rule must name, backend-specific exports settings.
import type { ConfigProblem } from '../errors.ts';
import { BUILTIN_VARS } from '../template.ts';
import type { KeyPath, Locator } from './positions.ts';
import { asArr, asObj, asStr, candidateSubnets, rawHosts, rawSubnets, type Obj, type RawHost, type RawSubnet } from './raw.ts';
import { checkProfiles } from './profile-check.ts';
import { TEMPLATE_KEYS } from './template-keys.ts';

/** Directories every provisioned rule needs. */
export const REQUIRED_RULE_DIRS = ['root_dir', 'node_dir', 'overlay_dir'] as const;

/** Problems that need more than one field to see. `raw` may be partly invalid. */
export function checkSemantics(raw: Obj, loc: Locator): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const subnets = rawSubnets(raw);
  const hosts = rawHosts(raw);
  checkSubnets(subnets, loc, out);
  checkHosts(hosts, subnets, loc, out);
  checkVars(raw, loc, out);
  checkExports(raw, loc, out);
  out.push(...checkProfiles(raw, loc));
  const q = asObj(raw.queue);
  if (q && typeof q.retry_base_ms === 'number' && typeof q.retry_max_ms === 'number' && q.retry_max_ms < q.retry_base_ms) {
    out.push(loc.problem(['queue', 'retry_max_ms'], `expected retry_max_ms >= retry_base_ms (${q.retry_base_ms}), found ${q.retry_max_ms}`));
  }
  return out;
}

function checkSubnets(subnets: RawSubnet[], loc: Locator, out: ConfigProblem[]): void {
  const seen = new Map<string, RawSubnet>();
  for (const s of subnets) {
    const first = seen.get(s.cidr.text);
    if (first) {
      out.push(loc.problem(['subnets', s.index, 'cidr'],
        `${s.cidr.text} is also subnets[${first.index}] (${loc.pos(['subnets', first.index])}): with equal prefixes neither rule would win; merge them (nested networks are fine: the longest prefix wins)`));
    } else {
      seen.set(s.cidr.text, s);
    }
    const missing = s.ignore ? undefined : missingRuleFields(s.obj);
    if (missing) out.push(loc.problem(['subnets', s.index], missing));
    lowerProblems(['subnets', s.index], s.obj, loc, out);
    if (s.obj.on_image_change !== undefined && s.obj.image === undefined) {
      out.push(loc.problem(['subnets', s.index, 'on_image_change'], 'on_image_change applies only to a rule with image (the lower layer of a root_dir is not versioned)'));
    }
  }
}

/** One rule names its lower layer once: root_dir or image, not both. */
function lowerProblems(at: KeyPath, o: Obj, loc: Locator, out: ConfigProblem[]): void {
  if (o.root_dir !== undefined && o.image !== undefined) {
    out.push(loc.problem([...at, 'image'], 'expected root_dir or image, found both: image names versions in images_dir that replace root_dir as the lower layer; remove one'));
  }
}

/** What a rule that is not ignored still lacks (host fields laid over subnet fields), or undefined. */
export function missingRuleFields(...layers: Obj[]): string | undefined {
  const has = (k: string) => layers.some((l) => l[k] !== undefined); // a null value is already a type problem
  // an image stands in for root_dir
  const missing: string[] = REQUIRED_RULE_DIRS.filter((k) => !has(k) && !(k === 'root_dir' && has('image')));
  if (!TEMPLATE_KEYS.some(has)) missing.push('a boot template (pxe_template, grub_template or ipxe_template)');
  if (missing.length === 0) return undefined;
  return `missing ${missing.join(', ')}: every rule that is not "ignore: true" needs root_dir (or image), node_dir, overlay_dir and a boot template`;
}

function checkHosts(hosts: RawHost[], subnets: RawSubnet[], loc: Locator, out: ConfigProblem[]): void {
  const firsts = { mac: new Map<string, number>(), ip: new Map<string, number>(), hostname: new Map<string, number>() };
  for (const h of hosts) {
    const at: KeyPath = ['hosts', h.index];
    if (h.obj.mac === undefined && h.obj.ip === undefined && h.obj.hostname === undefined) {
      out.push(loc.problem(at, 'a host rule needs at least one of mac, ip, hostname to match clients by'));
      continue;
    }
    lowerProblems(at, h.obj, loc, out);
    for (const k of ['mac', 'ip', 'hostname'] as const) {
      const v = h[k];
      if (v === undefined) continue;
      const first = firsts[k].get(v);
      if (first === undefined) firsts[k].set(v, h.index);
      else out.push(loc.problem([...at, k], `duplicate host ${k} ${v}: hosts[${first}] (${loc.pos(['hosts', first])}) already matches it`));
    }
    if (h.ip !== undefined && subnets.length > 0 && candidateSubnets(subnets, h).length === 0) {
      out.push(loc.problem([...at, 'ip'], `${h.ip} is in no subnet, so this rule can never apply: add a subnet that contains it`));
    }
    // a host that un-ignores (ignore: false) a client of an ignored subnet must bring the rest itself
    for (const s of candidateSubnets(subnets, h)) {
      const ignored = typeof h.obj.ignore === 'boolean' ? h.obj.ignore : s.ignore;
      if (ignored || !s.ignore) continue;
      const missing = missingRuleFields(s.obj, h.obj);
      if (missing) out.push(loc.problem(at, `${missing} (this host lifts "ignore" of subnet ${s.cidr.text})`));
    }
  }
}

function checkVars(raw: Obj, loc: Locator, out: ConfigProblem[]): void {
  for (const kind of ['subnets', 'hosts'] as const) {
    asArr(raw[kind]).forEach((r, i) => {
      const vars = asObj(asObj(r)?.vars);
      if (!vars) return;
      for (const [k, v] of Object.entries(vars)) {
        const p: KeyPath = [kind, i, 'vars', k];
        if ((BUILTIN_VARS as readonly string[]).includes(k)) {
          out.push(loc.problem(p, `"${k}" is a built-in template variable ({{${k}}}) and cannot be set in vars`, loc.offsetOfKey(p.slice(0, -1), k)));
        }
        if (typeof v === 'string' && /[\r\n\0]/.test(v)) {
          out.push(loc.problem(p, 'expected a value without line breaks or NUL: it is pasted into boot-file lines'));
        }
      }
    });
  }
}

function checkExports(raw: Obj, loc: Locator, out: ConfigProblem[]): void {
  const e = asObj(raw.exports);
  if (!e) return;
  const backend = asStr(e.backend) ?? 'kernel';
  if (backend === 'ganesha') {
    if (e.pid_file === undefined) out.push(loc.problem(['exports', 'pid_file'], 'missing required key "pid_file": backend ganesha is reloaded with SIGHUP to the pid in this file'));
    if (typeof e.start_fsid === 'number' && e.start_fsid > 65535) {
      out.push(loc.problem(['exports', 'start_fsid'], `expected start_fsid <= 65535 with backend ganesha (Export_Id is 16 bits), found ${e.start_fsid}`));
    }
  } else if (backend === 'kernel' && e.pseudo_root !== undefined) {
    out.push(loc.problem(['exports', 'pseudo_root'], 'pseudo_root applies only to backend ganesha; the kernel backend exports node_dir/<NODE> as is'));
  }
}
