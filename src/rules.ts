// Rule matching: which subnet and host rule apply to a client, with every field resolved. Pure.
//
// Precedence (documented in the README and proven by test/unit/rules.test.ts):
//   1. The subnet is the one whose CIDR contains the client IP with the LONGEST prefix
//      (10.0.0.0/25 beats 10.0.0.0/24 beats 0.0.0.0/0). Equal CIDRs twice are a config error, so
//      there is never a tie. No subnet contains the IP -> `none`: the client is never provisioned,
//      even if a host rule names it.
//   2. A host rule is looked up by the client's MAC first, then by its IP, then by its hostname
//      (exact, case-insensitive). The first kind that matches wins; duplicate keys are config errors.
//      A host rule may carry several keys (mac, ip, hostname): any one of them matching counts.
//   3. The host's fields override the subnet's field by field; `vars` are merged, host keys winning.
//   4. `ignore: true` on the host, or on the subnet when the host does not set `ignore`, -> `ignored`.
//      A host with `ignore: false` provisions a client of an ignored subnet.
// Before any of this, an address that is never a client's -> `reserved`, whatever the rules say:
// 0.0.0.0, 255.255.255.255, the `server` address, and the network and broadcast addresses of the
// subnet found in step 1 (prefixes up to /30; a /31 or /32 has neither, RFC 3021).
// Matching is O(number of distinct prefix lengths) per client: a compiled matcher (one per Config
// object, cached) keeps one Map per prefix length and one Map per host key kind.
import type { Config, HostRule, MatchResult, ResolvedRule, SubnetRule } from './types.ts';
import { ipToInt, isIPv4, normalizeHostname, normalizeMac } from './validate.ts';
import { parseCidr, prefixMask } from './config/formats.ts';
import { currentPointer, DEFAULT_IMAGES_DIR } from './images/node-lower.ts';

/** What the matcher needs to know about a client (values already validated by the watchers). */
export interface ClientQuery {
  ip: string;
  mac?: string;
  hostname?: string;
}

/** A matcher precomputed from one config; build once per (re)load. */
export interface RuleMatcher {
  match(c: ClientQuery): MatchResult;
}

interface PrefixTable {
  prefix: number;
  mask: number;
  byNetwork: Map<number, SubnetRule>;
}

/** Precompute the lookup tables of a config: subnets per prefix length (longest first), hosts by key. */
export function compileRules(config: Config): RuleMatcher {
  const imagesDir = config.images_dir ?? DEFAULT_IMAGES_DIR;
  const tables = new Map<number, PrefixTable>();
  for (const s of config.subnets) {
    const c = parseCidr(s.cidr);
    if (!c) continue; // validated configs never get here
    let t = tables.get(c.prefix);
    if (!t) tables.set(c.prefix, (t = { prefix: c.prefix, mask: prefixMask(c.prefix), byNetwork: new Map() }));
    if (!t.byNetwork.has(c.network)) t.byNetwork.set(c.network, s);
  }
  const ordered = [...tables.values()].sort((a, b) => b.prefix - a.prefix);
  const byMac = new Map<string, HostRule>();
  const byIp = new Map<string, HostRule>();
  const byName = new Map<string, HostRule>();
  for (const h of config.hosts) {
    const mac = h.mac === undefined ? undefined : normalizeMac(h.mac);
    if (mac && !byMac.has(mac)) byMac.set(mac, h);
    if (h.ip && !byIp.has(h.ip)) byIp.set(h.ip, h);
    const name = h.hostname?.toLowerCase();
    if (name && !byName.has(name)) byName.set(name, h);
  }

  const findSubnet = (n: number): { subnet?: SubnetRule; prefix: number; others: string[] } => {
    let subnet: SubnetRule | undefined;
    let prefix = 0;
    const others: string[] = [];
    for (const t of ordered) {
      const s = t.byNetwork.get((n & t.mask) >>> 0);
      if (!s) continue;
      if (!subnet) (subnet = s), (prefix = t.prefix);
      else others.push(s.cidr);
    }
    return { subnet, prefix, others };
  };
  // `server` may be a DNS name: only an address can be compared
  const server = isIPv4(config.server) ? ipToInt(config.server) : undefined;

  return {
    match(c) {
      if (!isIPv4(c.ip)) return { kind: 'none', why: [`${JSON.stringify(c.ip)} is not an IPv4 address`] };
      const n = ipToInt(c.ip);
      const { subnet, prefix, others } = findSubnet(n);
      const reserved = reservedWhy(n, subnet, prefix, server);
      if (reserved) return { kind: 'reserved', why: [`${c.ip} is ${reserved}: never provisioned`] };
      if (!subnet) return { kind: 'none', why: [`no subnet contains ${c.ip}: it is never provisioned`] };
      const why: string[] = [];
      const mac = c.mac === undefined ? undefined : normalizeMac(c.mac);
      const name = normalizeHostname(c.hostname);
      let host: HostRule | undefined;
      if (mac && (host = byMac.get(mac))) why.push(`host rule at ${host.pos ?? '?'} matches by mac ${mac}`);
      else if ((host = byIp.get(c.ip))) why.push(`host rule at ${host.pos ?? '?'} matches by ip ${c.ip}`);
      else if (name && (host = byName.get(name))) why.push(`host rule at ${host.pos ?? '?'} matches by hostname ${name}`);
      why.push(
        `subnet ${subnet.cidr} at ${subnet.pos ?? '?'} is the longest prefix containing ${c.ip}` +
          (others.length ? ` (also inside ${others.join(', ')})` : ''),
      );
      const ignore = host?.ignore ?? subnet.ignore ?? false;
      if (ignore) {
        const byHost = host?.ignore === true;
        const by = byHost ? `host rule at ${host!.pos ?? '?'}` : `subnet ${subnet.cidr} at ${subnet.pos ?? '?'}`;
        return { kind: 'ignored', why: [`${byHost ? 'the host rule' : 'the subnet'} says "ignore: true"`, ...why], by };
      }
      return resolve(subnet, host, why, imagesDir);
    },
  };
}

/** Largest prefix whose subnets have a network and a broadcast address (a /31 or /32 has neither). */
const MAX_BROADCAST_PREFIX = 30;

/** Why address `n` is never a client's (an export for it would serve a whole subnet or this host), or undefined. */
function reservedWhy(n: number, subnet: SubnetRule | undefined, prefix: number, server: number | undefined): string | undefined {
  if (n === 0) return 'the unspecified address 0.0.0.0';
  if (n === 0xffffffff) return 'the limited broadcast address 255.255.255.255';
  if (n === server) return `the server address (the \`server\` key of the config)`;
  if (!subnet || prefix > MAX_BROADCAST_PREFIX) return undefined;
  const mask = prefixMask(prefix);
  const at = `subnet ${subnet.cidr}${subnet.pos ? ` at ${subnet.pos}` : ''}`;
  if (((n & ~mask) >>> 0) === 0) return `the network address of ${at}`;
  if (((n | mask) >>> 0) === 0xffffffff) return `the broadcast address of ${at}`;
  return undefined;
}

function resolve(subnet: SubnetRule, host: HostRule | undefined, why: string[], imagesDir: string): MatchResult {
  const pick = <K extends keyof SubnetRule & keyof HostRule>(k: K) => (host?.[k] !== undefined ? host[k] : subnet[k]);
  // the lower layer is one choice: a host's root_dir or image replaces its subnet's either one
  const lowerFrom = host && (host.root_dir !== undefined || host.image !== undefined) ? host : subnet;
  const image = lowerFrom.image;
  // an image rule's root_dir is its current pointer until a node's version is known (imageRule)
  const root_dir = image !== undefined ? currentPointer(imagesDir, image) : lowerFrom.root_dir;
  const node_dir = pick('node_dir');
  const overlay_dir = pick('overlay_dir');
  const missing = [['root_dir', root_dir], ['node_dir', node_dir], ['overlay_dir', overlay_dir]].filter(([, v]) => v === undefined).map(([k]) => k);
  if (missing.length) return { kind: 'none', why: [`the rule lacks ${missing.join(', ')}`, ...why] };
  if (host) {
    const set = Object.keys(host).filter((k) => !['mac', 'ip', 'hostname', 'pos', 'ignore'].includes(k) && host[k as keyof HostRule] !== undefined);
    if (set.length) why.push(`the host rule sets ${set.join(', ')}`);
  }
  const rule: ResolvedRule = {
    subnet,
    why,
    root_dir: root_dir!,
    node_dir: node_dir!,
    overlay_dir: overlay_dir!,
    node_name: pick('node_name') ?? 'ip-hex',
    overlay: pick('overlay') ?? 'persistent',
    on_release: pick('on_release') ?? 'keep',
    vars: { ...(subnet.vars ?? {}), ...(host?.vars ?? {}) },
  };
  if (image !== undefined) {
    rule.image = image;
    rule.on_image_change = pick('on_image_change') ?? 'carry';
  }
  if (host) rule.host = host;
  for (const k of ['pxe_template', 'grub_template', 'ipxe_template'] as const) {
    const v = pick(k);
    if (v !== undefined) rule[k] = v;
  }
  return { kind: 'match', rule };
}

const cache = new WeakMap<Config, RuleMatcher>();

/** Match one client; the compiled tables are cached per Config object (a reload makes a new one). */
export function matchClient(c: ClientQuery, config: Config): MatchResult {
  let m = cache.get(config);
  if (!m) cache.set(config, (m = compileRules(config)));
  return m.match(c);
}
