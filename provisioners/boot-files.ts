// Boot file names per loader (pure): one canonical file per node per loader, plus relative
// symlinks for the other names the loader probes. pxelinux and GRUB probe the MAC name before
// the hex-IP name, so the MAC name is canonical when the MAC is known.
import path from 'node:path';
import type { Config, NodeRecord, ResolvedRule } from '../src/types.ts';
import { ipToHex, isIPv4, macHyphen, normalizeMac, normalizeUuid, printable, safeJoin } from '../src/validate.ts';
import { checkNodeName } from './paths.ts';

/** The boot loaders pxebootd writes per-node files for. */
export type Loader = 'pxelinux' | 'grub' | 'ipxe';

/** One loader's files for one node. Links are relative (same directory) and point at `canonical`. */
export interface BootFileSpec {
  loader: Loader;
  template: string;
  canonical: string;
  links: string[];
}

/** First line of every canonical file (second after an iPXE `#!ipxe`): how orphans are recognised. */
export const MARKER_PREFIX = '# pxebootd: generated for node ';

/** The marker text for one node (see MARKER_PREFIX). */
export function markerLine(node: string, ip: string): string {
  return `${MARKER_PREFIX}${node} (${ip}); do not edit, pxebootd rewrites it`;
}

/** Put the marker where each loader tolerates a comment: line 1, or line 2 after a `#!` magic line. */
export function addMarker(text: string, node: string, ip: string): string {
  const m = markerLine(node, ip);
  if (text.startsWith('#!')) {
    const nl = text.indexOf('\n');
    return nl < 0 ? `${text}\n${m}\n` : `${text.slice(0, nl + 1)}${m}\n${text.slice(nl + 1)}`;
  }
  return `${m}\n${text}`;
}

/** The node named by a file's marker (first two lines), or undefined when it is not ours. */
export function markerNode(head: string): string | undefined {
  for (const line of head.split('\n', 2)) {
    if (line.startsWith(MARKER_PREFIX)) {
      const name = line.slice(MARKER_PREFIX.length).split(' ')[0] ?? '';
      return /^[0-9A-Fa-f][0-9A-Fa-f-]{0,63}$/.test(name) ? name : undefined;
    }
  }
  return undefined;
}

/** Could this base name be one of our canonical files? (used to judge existing symlinks) */
export function looksLikeOurName(base: string): boolean {
  return /^(01-[0-9a-f]{2}(-[0-9a-f]{2}){5}|[0-9A-F]{8}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$/.test(base) ||
    /^grub\.cfg-(01-[0-9a-f]{2}(-[0-9a-f]{2}){5}|[0-9A-F]{8}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$/.test(base) ||
    /^[0-9a-f]{8}([0-9a-f]{4})?\.ipxe$/.test(base);
}

/** The directories boot files live in (for orphan scans). */
export function bootDirs(config: Pick<Config, 'tftp_root' | 'grub_dir' | 'ipxe_dir'>): Record<Loader, string> {
  const key = JSON.stringify([config.tftp_root, config.grub_dir, config.ipxe_dir]);
  if (lastDirs?.key !== key) lastDirs = { key, dirs: Object.freeze(makeBootDirs(config)) };
  return lastDirs.dirs;
}

/** bootDirs' last answer (every node of a config asks with the same roots). */
let lastDirs: { key: string; dirs: Readonly<Record<Loader, string>> } | undefined;

function makeBootDirs(config: Pick<Config, 'tftp_root' | 'grub_dir' | 'ipxe_dir'>): Record<Loader, string> {
  return {
    pxelinux: safeJoin(config.tftp_root, 'pxelinux.cfg'),
    grub: config.grub_dir === '' || config.grub_dir === '.' ? path.resolve(config.tftp_root) : safeJoin(config.tftp_root, config.grub_dir),
    ipxe: config.ipxe_dir === '' || config.ipxe_dir === '.' ? path.resolve(config.tftp_root) : safeJoin(config.tftp_root, config.ipxe_dir),
  };
}

/**
 * Every boot file this node gets, per configured template:
 *   pxelinux: pxelinux.cfg/01-<mac>  (+ links <HEXIP>, <uuid>)   or pxelinux.cfg/<HEXIP> without a MAC
 *   GRUB:     <grub_dir>/grub.cfg-01-<mac> (+ grub.cfg-<HEXIP>, grub.cfg-<uuid>)  or grub.cfg-<HEXIP>
 *   iPXE:     <ipxe_dir>/<mac-hexraw>.ipxe (+ <ip-hexraw>.ipxe)   or <ip-hexraw>.ipxe; chain it with
 *             `chain ${next-server}/<ipxe_dir>/${mac:hexraw}.ipxe`
 */
export function planBootFiles(node: NodeRecord, rule: ResolvedRule, config: Pick<Config, 'tftp_root' | 'grub_dir' | 'ipxe_dir'>): BootFileSpec[] {
  checkNodeName(node.name);
  if (!isIPv4(node.ip)) throw new Error(`node ${node.name}: IP ${JSON.stringify(printable(node.ip))} is not a dotted-quad IPv4 address`);
  const mac = node.mac === undefined ? undefined : normalizeMac(node.mac);
  if (node.mac !== undefined && mac === undefined) throw new Error(`node ${node.name}: MAC ${JSON.stringify(printable(node.mac))} is not valid`);
  const uuid = node.uuid === undefined ? undefined : normalizeUuid(node.uuid);
  const hexIp = ipToHex(node.ip);
  const dirs = bootDirs(config);
  const out: BootFileSpec[] = [];
  const add = (loader: Loader, template: string | undefined, dir: string, names: Array<string | undefined>) => {
    if (!template) return;
    const [first, ...rest] = names.filter((n): n is string => n !== undefined);
    out.push({ loader, template, canonical: safeJoin(dir, first!), links: rest.map((n) => safeJoin(dir, n)) });
  };
  const macName = mac ? `01-${macHyphen(mac)}` : undefined;
  add('pxelinux', rule.pxe_template, dirs.pxelinux, [macName, hexIp, uuid]);
  add('grub', rule.grub_template, dirs.grub, [macName && `grub.cfg-${macName}`, `grub.cfg-${hexIp}`, uuid && `grub.cfg-${uuid}`]);
  add('ipxe', rule.ipxe_template, dirs.ipxe, [mac && `${mac.replace(/:/g, '')}.ipxe`, `${hexIp.toLowerCase()}.ipxe`]);
  return out;
}

/** Template values: rule vars first, so the built-ins always win. */
export function templateValues(node: NodeRecord, rule: ResolvedRule, server: string, nfsPath: string, httpBase?: string): Record<string, string | undefined> {
  const mac = node.mac === undefined ? undefined : normalizeMac(node.mac);
  return {
    ...rule.vars,
    node: node.name,
    ip: node.ip,
    ip_hex: ipToHex(node.ip),
    mac,
    mac_hyphen: mac === undefined ? undefined : macHyphen(mac),
    hostname: node.hostname ?? node.name,
    server,
    ...(httpBase === undefined ? {} : { http_base: httpBase }),
    nfs_path: nfsPath,
  };
}
