// Directory layout rules of a provisioned rule: overlayfs refuses layers that overlap, so a node's
// upper (overlay_dir/<NODE>/upper) or mount point (node_dir/<NODE>) inside root_dir would fail at
// every mount; and node_dir == overlay_dir would mount each node over its own layers.
import path from 'node:path';
import type { ConfigProblem } from '../errors.ts';
import type { KeyPath, Locator } from './positions.ts';
import { asArr, asObj, asStr, candidateSubnets, rawHosts, rawSubnets, resolveConfigPath, type Obj } from './raw.ts';

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);
}

function layoutProblem(layers: Obj[], baseDir: string): { key: string; message: string } | undefined {
  const pick = (k: string) => {
    for (const l of layers) if (asStr(l[k]) !== undefined) return { key: k, abs: resolveConfigPath(baseDir, l[k] as string) };
    return undefined;
  };
  const root = pick('root_dir');
  const node = pick('node_dir');
  const overlay = pick('overlay_dir');
  if (node && overlay && node.abs === overlay.abs) {
    return { key: 'overlay_dir', message: `overlay_dir and node_dir are both ${node.abs}: each node would be mounted over its own upper/work layers; use two directories` };
  }
  for (const d of [node, overlay]) {
    if (root && d && inside(d.abs, root.abs)) {
      return { key: d.key, message: `${d.key} ${d.abs} is inside root_dir ${root.abs}: overlayfs refuses overlapping layers; put it outside the shared image` };
    }
  }
  return undefined;
}

/** Layout problems of every subnet rule, and of every host rule laid over the subnets it can apply in. */
export function checkLayout(raw: Obj, baseDir: string, loc: Locator): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  const report = (p: KeyPath, layers: Obj[]) => {
    const prob = layoutProblem(layers, baseDir);
    if (!prob) return;
    // point at the rule that actually names the offending key
    const owner = layers.findIndex((l) => l[prob.key] !== undefined);
    const at = owner === 0 ? [...p, prob.key] : p;
    const key = `${at.join('.')}:${prob.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(loc.problem(at, prob.message));
  };
  asArr(raw.subnets).forEach((s, i) => {
    const o = asObj(s);
    if (o && o.ignore !== true) report(['subnets', i], [o]);
  });
  const subnets = rawSubnets(raw);
  for (const h of rawHosts(raw)) {
    for (const s of candidateSubnets(subnets, h)) {
      const ignored = typeof h.obj.ignore === 'boolean' ? h.obj.ignore : s.ignore;
      if (!ignored) report(['hosts', h.index], [h.obj, s.obj]);
    }
  }
  return out;
}
