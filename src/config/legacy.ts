// Import of a fuse_pxebootfs config (Python ConfigParser INI, section [PXEBOOTFS]) into pxebootd YAML.
// The old `pxe_template` with `<NODE>` keeps working unchanged; what cannot be carried over is
// written into the YAML as comments, and what the user must supply is reported as a problem.
import path from 'node:path';
import { stringify } from 'yaml';
import type { ConfigProblem } from '../errors.ts';
import { checkCidr, checkServer } from './formats.ts';

/** What a fuse_pxebootfs config cannot say by itself. */
export interface LegacyOptions {
  /** the boot subnet the converted rule applies to: required, since fuse_pxebootfs served every client */
  cidr?: string;
  /** this server's address on the boot network ({{server}}); fuse_pxebootfs had no such key */
  server?: string;
  /** whether the syslog file exists on this machine (Debian 12 without rsyslog has none): else journal */
  syslogPath?: string;
}

/** Where fuse_pxebootfs itself read its config (besides ./pxebootfs.cfg and ~/.pxebootfs.cfg). */
export const LEGACY_CONFIG_PATH = '/etc/pxebootfs/pxebootfs.cfg';

interface IniValue {
  value: string;
  line: number;
  col: number;
}

type IniSections = Map<string, Map<string, IniValue>>;

/** ConfigParser-style INI: [section], key = value | key: value, # and ; comments, indented continuations. */
export function parseIni(text: string, file: string, problems: ConfigProblem[]): IniSections {
  const sections: IniSections = new Map();
  let current: Map<string, IniValue> | undefined;
  let last: IniValue | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') {
      last = undefined;
      return;
    }
    if (/^\s*[#;]/.test(raw) || /^rem(\s|$)/i.test(raw)) return;
    if (/^\s/.test(raw) && last) {
      last.value += '\n' + raw.trim();
      return;
    }
    const sec = /^\[([^\]]+)\]/.exec(raw);
    if (sec) {
      const name = sec[1]!;
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      last = undefined;
      return;
    }
    const kv = /^([^:=]+?)\s*[:=]\s?(.*)$/.exec(raw);
    if (!kv || !current) {
      problems.push({ file, line, col: 1, path: '', message: kv ? 'key outside any [section]' : `expected "key = value", found ${JSON.stringify(raw.slice(0, 60))}` });
      last = undefined;
      return;
    }
    const value = kv[2]!.replace(/\s+;.*$/, '').trim(); // Python 2 ConfigParser: " ;" starts an inline comment
    last = { value, line, col: raw.indexOf(kv[2]!) + 1 };
    current.set(kv[1]!.trim().toLowerCase(), last);
  });
  return sections;
}

/** ConfigParser's %(name)s interpolation from the same section or [DEFAULT]. */
function interpolate(v: IniValue, own: Map<string, IniValue>, defaults: Map<string, IniValue> | undefined, depth = 0): string {
  return v.value.replace(/%\((\w+)\)s|%%/g, (m, name: string | undefined) => {
    if (m === '%%') return '%';
    const ref = own.get(name!.toLowerCase()) ?? defaults?.get(name!.toLowerCase());
    if (!ref || depth > 10) throw new Error(`%(${name})s names no key of this section`);
    return interpolate(ref, own, defaults, depth + 1);
  });
}

const KNOWN = ['pxe_template', 'node_dir', 'root_dir', 'overlay_dir', 'start_fsid', 'mountpoint'];

const scalar = (v: string | number) => stringify(v).trimEnd();

/**
 * Convert fuse_pxebootfs's pxebootfs.cfg text into pxebootd YAML (printed by `pxebootd import-legacy`).
 * Relative paths are resolved against `file`'s directory and written absolute. `fatal` is set when the
 * YAML could not work at all (not a [PXEBOOTFS] config, a required key or the cidr missing).
 */
export function convertLegacyConfig(iniText: string, file: string, opts: LegacyOptions | string = {}): { yaml: string; problems: ConfigProblem[]; fatal: boolean } {
  const o: LegacyOptions = typeof opts === 'string' ? { cidr: opts } : opts;
  const problems: ConfigProblem[] = [];
  let fatal = false;
  const baseDir = path.dirname(path.resolve(file));
  const sections = parseIni(iniText, file, problems);
  const secName = [...sections.keys()].find((k) => k.toUpperCase() === 'PXEBOOTFS');
  const sec = secName === undefined ? new Map<string, IniValue>() : sections.get(secName)!;
  if (secName === undefined) {
    problems.push({ file, line: 1, col: 1, path: 'PXEBOOTFS', message: 'no [PXEBOOTFS] section: is this a fuse_pxebootfs config?' });
    fatal = true;
  }
  const defaults = sections.get('DEFAULT');

  const get = (key: string): string | undefined => {
    const v = sec.get(key);
    if (!v) return undefined;
    try {
      return interpolate(v, sec, defaults);
    } catch (e) {
      problems.push({ file, line: v.line, col: v.col, path: `PXEBOOTFS.${key}`, message: (e as Error).message });
      return undefined;
    }
  };
  const notes: string[] = [];
  const required = (key: string): string => {
    const v = get(key);
    if (v === undefined || v === '') {
      fatal = true;
      if (secName !== undefined && !sec.has(key)) problems.push({ file, line: 1, col: 1, path: `PXEBOOTFS.${key}`, message: `missing key "${key}"` });
      else if (v === '') problems.push({ file, line: sec.get(key)!.line, col: sec.get(key)!.col, path: `PXEBOOTFS.${key}`, message: `"${key}" is empty` });
      return '';
    }
    if (path.isAbsolute(v)) return v;
    // fuse_pxebootfs was run from its config's directory; the YAML may live elsewhere
    const absolute = path.resolve(baseDir, v);
    notes.push(`${key} was relative (${v}) in ${file}; written as ${absolute}`);
    return absolute;
  };

  const root = required('root_dir');
  const node = required('node_dir');
  const overlay = required('overlay_dir');
  const template = required('pxe_template');
  let startFsid: number | undefined;
  const fsidText = get('start_fsid');
  if (fsidText !== undefined) {
    const n = Number(fsidText);
    if (/^\d+$/.test(fsidText) && n >= 1 && n <= 4294967295) startFsid = n;
    else {
      const v = sec.get('start_fsid')!;
      problems.push({ file, line: v.line, col: v.col, path: 'PXEBOOTFS.start_fsid', message: `expected a whole number >= 1, found ${JSON.stringify(fsidText)}` });
    }
  }

  const cidr = o.cidr ?? '';
  const cidrProblem = o.cidr === undefined
    ? 'fuse_pxebootfs served every client that asked; name the boot subnet pxebootd serves with --cidr (e.g. --cidr 10.0.0.0/24)'
    : checkCidr(cidr);
  if (cidrProblem) {
    problems.push({ file, line: 1, col: 1, path: 'cidr', message: cidrProblem });
    fatal = true;
  }
  const server = o.server ?? '';
  if (o.server === undefined) problems.push({ file, line: 1, col: 1, path: 'server', message: 'fuse_pxebootfs had no "server" key: set server: in the YAML to this host\'s address on the boot network' });
  else if (checkServer(o.server)) problems.push({ file, line: 1, col: 1, path: 'server', message: checkServer(o.server)! });

  let tftpRoot = '/srv/tftp';
  const mountpoint = get('mountpoint');
  if (mountpoint !== undefined) {
    if (path.basename(mountpoint) === 'pxelinux.cfg') tftpRoot = path.dirname(mountpoint);
    else notes.push(`mountpoint ${mountpoint} is not a pxelinux.cfg directory: set tftp_root by hand`);
  }

  const out: string[] = [
    `# pxebootd config converted from the fuse_pxebootfs config ${file}.`,
    '# Review it, then run: pxebootd check -c <this file>',
    '# What changed from fuse_pxebootfs:',
    '#  - no FUSE: pxebootd writes pxelinux.cfg/<HEXIP> (and 01-<mac>) into tftp_root once the',
    '#    node is mounted and exported; unmount the old fuse_pxebootfs from pxelinux.cfg/ first.',
    '#  - overlayfs instead of AUFS: a node\'s writable layer is overlay_dir/<NODE>/upper (AUFS used',
    '#    overlay_dir/<NODE>). Move old node data into <NODE>/upper; AUFS whiteouts (.wh.*) are not',
    '#    overlayfs whiteouts and must be converted or removed.',
    '#  - fsids are stored in state_dir and never change across restarts (they counted up from start_fsid).',
    ...notes.map((n) => `# NOTE: ${n}`),
    `server: ${o.server === undefined ? '""   # REQUIRED: this server\'s IP on the boot network ({{server}})' : scalar(server)}`,
    `tftp_root: ${scalar(tftpRoot)}`,
    'sources:',
    '  # fuse_pxebootfs reacted to TFTP reads; run tftpd-hpa with -v and point pxebootd at its log.',
    '  # Add your DHCP server\'s lease file as well (dnsmasq-leases, isc-leases or kea-leases).',
    ...(o.syslogPath
      ? [`  - { type: syslog, path: ${scalar(o.syslogPath)} }`]
      : ['  # no syslog file on this machine (no rsyslog): tftpd-hpa\'s lines are read from journald', '  - { type: journal }']),
    '# A client that asks before its node is ready gets pxelinux.cfg/default rendered from this',
    '# template, which waits a few seconds and asks again (etc/default.template in the package):',
    '# default_template: /etc/pxebootd/default.template',
  ];
  if (startFsid !== undefined) out.push('exports:', `  start_fsid: ${startFsid}`);
  out.push(
    'subnets:',
    `  - cidr: ${scalar(cidr)}`,
    `    root_dir: ${scalar(root)}`,
    `    node_dir: ${scalar(node)}`,
    `    overlay_dir: ${scalar(overlay)}`,
    '    node_name: ip-hex                # <NODE> = upper-case hex IP, as fuse_pxebootfs',
    `    pxe_template: ${scalar(template)}`,
  );
  for (const [k, v] of sec) {
    if (!KNOWN.includes(k)) out.push(`# WARNING: fuse_pxebootfs key "${k}" (${file}:${v.line}) has no pxebootd equivalent and was ignored: ${JSON.stringify(v.value)}`);
  }
  for (const name of sections.keys()) {
    if (name !== secName && name !== 'DEFAULT') out.push(`# WARNING: section [${name}] of ${file} was ignored`);
  }
  return { yaml: out.join('\n') + '\n', problems, fatal };
}
