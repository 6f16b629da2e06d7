// What each boot loader asks for, in order, and which of those names pxebootd writes for a node:
// the per-loader view of `pxebootd explain`. Pure: the names come from planBootFiles and the
// fallbacks from planLoaderFallbacks; the orders are the loaders' own (reference/formats.md §3.1,
// §3.2; Debian's signed grubnetx64 fetches only <prefix>/grub.cfg, which pxebootd's dispatcher
// turns into GRUB's own search; iPXE starts at boot.ipxe, the shipped dnsmasq snippet's filename).
import path from 'node:path';
import type { Config, NodeRecord, ResolvedRule } from '../src/types.ts';
import { ipToHex, macHyphen, normalizeMac, normalizeUuid } from '../src/validate.ts';
import { bootDirs, planBootFiles, type Loader } from './boot-files.ts';

/** One loader's lookup for one node. Paths are relative to tftp_root (as the client names them). */
export interface LoaderLookup {
  loader: Loader;
  /** the client kind, in words */
  client: string;
  /** the first file the client asks for */
  firstAsk: string;
  /** the names it then tries, in order, until one exists (per-node names first, the fallback last) */
  order: string[];
  /** what pxebootd writes for this node under this loader: canonical name, then links; empty when none */
  written: string[];
  /** the first name in `order` that pxebootd writes: the file the client gets once the node is ready */
  gets?: string;
  /** what the client does meanwhile, or without a file of its own */
  otherwise: string;
}

/** Every HEXIP prefix pxelinux and GRUB try, longest first ("0A630017" ... "0"). */
function shortened(hex: string): string[] {
  return Array.from({ length: hex.length }, (_, i) => hex.slice(0, hex.length - i));
}

/** The three loaders' lookups for a node (MAC and UUID may be unknown: the names that need them are left out). */
export function planLoaderLookups(node: NodeRecord, rule: ResolvedRule, config: Pick<Config, 'tftp_root' | 'grub_dir' | 'ipxe_dir'>): LoaderLookup[] {
  const root = path.resolve(config.tftp_root);
  const rel = (p: string) => path.relative(root, p) || '.';
  const dirs = bootDirs(config);
  const mac = node.mac === undefined ? undefined : normalizeMac(node.mac);
  const uuid = node.uuid === undefined ? undefined : normalizeUuid(node.uuid);
  const hex = ipToHex(node.ip);
  const files = planBootFiles(node, rule, config);
  const written = (l: Loader) => {
    const f = files.find((x) => x.loader === l);
    return f ? [f.canonical, ...f.links].map(rel) : [];
  };
  const inDir = (dir: string, name: string) => rel(path.join(dir, name));
  const lookup = (loader: Loader, client: string, firstAsk: string, order: string[], otherwise: string): LoaderLookup => {
    const w = written(loader);
    const gets = order.find((n) => w.includes(n));
    return { loader, client, firstAsk, order, written: w, ...(gets ? { gets } : {}), otherwise };
  };
  const cfg = (n: string) => inDir(dirs.pxelinux, n);
  const grub = (n: string) => inDir(dirs.grub, n);
  const ipxe = (n: string) => inDir(dirs.ipxe, n);
  const pxeOrder = [...(uuid ? [cfg(uuid)] : []), ...(mac ? [cfg(`01-${macHyphen(mac)}`)] : []), ...shortened(hex).map(cfg), cfg('default')];
  const grubOrder = [grub('grub.cfg'), ...(mac ? [grub(`grub.cfg-01-${macHyphen(mac)}`)] : []), ...shortened(hex).map((h) => grub(`grub.cfg-${h}`)), grub('grub.cfg')];
  const ipxeOrder = [ipxe('boot.ipxe'), ...(mac ? [ipxe(`${mac.replace(/:/g, '')}.ipxe`)] : []), ipxe(`${hex.toLowerCase()}.ipxe`)];
  return [
    lookup('pxelinux', 'BIOS PXE, pxelinux.0', pxeOrder[0]!, pxeOrder, `${cfg('default')}: pxebootd's default_template (waits and retries) when set`),
    lookup('grub', 'UEFI (Secure Boot: shim + signed grubnetx64), GRUB', grubOrder[0]!, grubOrder, `${grub('grub.cfg')} is pxebootd's dispatcher (unless the admin owns it): it searches again every few seconds`),
    lookup('ipxe', 'iPXE (BIOS undionly.kpxe, UEFI ipxe.efi/snponly.efi), boot.ipxe as DHCP filename', ipxeOrder[0]!, ipxeOrder, `${ipxe('boot.ipxe')} is pxebootd's fallback (unless the admin owns it): it chains again every few seconds`),
  ];
}

/** The lookups as explain's text lines. */
export function describeLoaderLookups(lookups: LoaderLookup[]): string[] {
  const out: string[] = [];
  for (const l of lookups) {
    out.push(`  ${l.loader}: ${l.client}`);
    out.push(`    asks first: ${l.firstAsk}`);
    out.push(`    then tries: ${l.order.slice(1).join(', ')}`);
    if (l.written.length === 0) out.push('    pxebootd writes: nothing for this loader (no template in the rule)');
    else out.push(`    pxebootd writes: ${l.written[0]}${l.written.length > 1 ? ` (links: ${l.written.slice(1).join(', ')})` : ''}`);
    out.push(l.gets ? `    gets: ${l.gets}` : `    gets: no per-node file; ${l.otherwise}`);
  }
  return out;
}
