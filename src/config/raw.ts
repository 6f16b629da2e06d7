// Defensive views of the raw YAML value, so cross-field checks run (and report) even when other
// parts of the file failed the schema: a user sees every problem in one `check` run.
import path from 'node:path';
import { isIPv4, normalizeMac } from '../validate.ts';
import { cidrContains, parseCidr, type Cidr } from './formats.ts';

/** A YAML map as plain JS. */
export type Obj = Record<string, unknown>;

/** The value as a map, or undefined when it is anything else. */
export function asObj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

/** The value as a string, or undefined. */
export function asStr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The value as a list, or an empty one. */
export function asArr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Relative config paths resolve against the directory of the config file. */
export function resolveConfigPath(baseDir: string, p: string): string {
  return path.resolve(baseDir, p);
}

/** Commands: a bare name is looked up in PATH; anything with a "/" is a path. */
export function resolveCommand(baseDir: string, c: string): string {
  return c.includes('/') ? path.resolve(baseDir, c) : c;
}

/** A subnet whose cidr parsed, with its index for error positions. */
export interface RawSubnet {
  index: number;
  obj: Obj;
  cidr: Cidr;
  ignore: boolean;
}

/** A host rule with its keys normalised as the matcher will see them. */
export interface RawHost {
  index: number;
  obj: Obj;
  mac?: string;
  ip?: string;
  hostname?: string;
}

/** Subnets whose cidr parsed (the others already have a schema problem). */
export function rawSubnets(raw: Obj): RawSubnet[] {
  const out: RawSubnet[] = [];
  asArr(raw.subnets).forEach((s, index) => {
    const obj = asObj(s);
    const cidr = obj && asStr(obj.cidr) !== undefined ? parseCidr(obj.cidr as string) : undefined;
    if (obj && cidr) out.push({ index, obj, cidr, ignore: obj.ignore === true });
  });
  return out;
}

/** The hosts list as written, so cross-field checks run even when the schema rejected other parts. */
export function rawHosts(raw: Obj): RawHost[] {
  const out: RawHost[] = [];
  asArr(raw.hosts).forEach((h, index) => {
    const obj = asObj(h);
    if (!obj) return;
    const mac = asStr(obj.mac) === undefined ? undefined : normalizeMac(obj.mac as string);
    const ip = asStr(obj.ip) !== undefined && isIPv4(obj.ip as string) ? (obj.ip as string) : undefined;
    const hostname = asStr(obj.hostname)?.toLowerCase();
    out.push({ index, obj, mac, ip, hostname });
  });
  return out;
}

/** The longest-prefix subnet containing ip (the rule that wins for it). */
export function longestMatch(subnets: RawSubnet[], ip: string): RawSubnet | undefined {
  let best: RawSubnet | undefined;
  for (const s of subnets) if (cidrContains(s.cidr, ip) && (!best || s.cidr.prefix > best.cidr.prefix)) best = s;
  return best;
}

/** Subnets a host rule can apply in: the one its ip falls into, or any when matched by mac/hostname. */
export function candidateSubnets(subnets: RawSubnet[], h: RawHost): RawSubnet[] {
  if (h.ip === undefined) return subnets;
  const s = longestMatch(subnets, h.ip);
  return s ? [s] : [];
}
