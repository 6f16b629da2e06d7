// Cross-field rules of the boot-once keys: every first_boot name is a profile, every profile names
// a template, a reporting profile has somewhere to report to. Template contents (variables, boot
// programs) are checked with the other templates in files-check.ts.
import type { ConfigProblem } from '../errors.ts';
import type { Locator } from './positions.ts';
import { asArr, asObj, type Obj } from './raw.ts';
import { TEMPLATE_KEYS } from './template-keys.ts';

/** Variables only profile templates know: the report endpoint and the node's one-time token. */
export const PROFILE_VARS = ['report_url', 'report_token'] as const;

/** The profiles map of a raw config (possibly invalid), as name -> object. */
export function rawProfiles(raw: Obj): Array<[string, Obj]> {
  const p = asObj(raw.profiles);
  if (!p) return [];
  return Object.entries(p).flatMap(([k, v]) => {
    const o = asObj(v);
    return o ? [[k, o] as [string, Obj]] : [];
  });
}

/** Problems of profiles, report and first_boot that need more than one key to see. */
export function checkProfiles(raw: Obj, loc: Locator): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const profiles = rawProfiles(raw);
  const names = new Set(profiles.map(([n]) => n));
  for (const [name, p] of profiles) {
    if (!TEMPLATE_KEYS.some((k) => p[k] !== undefined)) {
      out.push(loc.problem(['profiles', name], `profile ${name} names no template: give it pxe_template, grub_template or ipxe_template (the files a node gets while it is queued)`));
    }
    if (p.done_when === 'reported' && raw.report === undefined) {
      out.push(loc.problem(['profiles', name, 'done_when'], `profile ${name} is done when the node reports, but there is no report.listen to report to: add report: { listen: SERVER_IP:9643 }`));
    }
  }
  asArr(raw.subnets).forEach((s, i) => {
    asArr(asObj(s)?.first_boot).forEach((n, j) => {
      if (typeof n === 'string' && !names.has(n)) {
        out.push(loc.problem(['subnets', i, 'first_boot', j], `unknown profile ${JSON.stringify(n)}${names.size ? ` (profiles: ${[...names].join(', ')})` : ': there is no profiles map'}`));
      }
    });
  });
  return out;
}
