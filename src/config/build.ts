// Schema output -> the Config every other module consumes: paths made absolute against the config
// file's directory, per-subnet defaults filled in, MACs/hostnames normalised, rule positions kept.
import path from 'node:path';
import type { Config, HostRule, ProfileConfig, RuleFields, SourceConfig, SubnetRule } from '../types.ts';
import { parseDuration } from './profile-formats.ts';
import { normalizeMac } from '../validate.ts';
import { parseCidr } from './formats.ts';
import type { Locator } from './positions.ts';
import { resolveCommand, resolveConfigPath } from './raw.ts';
import type { RawConfig } from './schema.ts';

type RawRule = RawConfig['subnets'][number] | RawConfig['hosts'][number];

/** Per-subnet defaults; hosts inherit from their subnet instead. */
export const SUBNET_DEFAULTS = { node_name: 'ip-hex', overlay: 'persistent', on_release: 'keep' } as const;

/** A `done_when: reported` profile without `timeout` fails after this long without a report. */
export const DEFAULT_REPORT_TIMEOUT_MS = 2 * 3_600_000;

/** Turns a validated raw config into the typed Config the daemon uses, defaults filled in. */
export function buildConfig(raw: RawConfig, file: string, loc: Locator): Config {
  const base = path.dirname(path.resolve(file));
  const abs = (p: string) => resolveConfigPath(base, p);
  const absOpt = (p: string | undefined) => (p === undefined ? undefined : abs(p));
  const trusted = raw.trusted_programs;

  const ruleFields = (r: RawRule): RuleFields => {
    const f: RuleFields = {};
    if (r.root_dir !== undefined) f.root_dir = abs(r.root_dir);
    if (r.image !== undefined) f.image = r.image;
    if (r.on_image_change !== undefined) f.on_image_change = r.on_image_change;
    if (r.node_dir !== undefined) f.node_dir = abs(r.node_dir);
    if (r.overlay_dir !== undefined) f.overlay_dir = abs(r.overlay_dir);
    if (r.node_name !== undefined) f.node_name = r.node_name;
    if (r.pxe_template !== undefined) f.pxe_template = abs(r.pxe_template);
    if (r.grub_template !== undefined) f.grub_template = abs(r.grub_template);
    if (r.ipxe_template !== undefined) f.ipxe_template = abs(r.ipxe_template);
    if (r.overlay !== undefined) f.overlay = r.overlay;
    if (r.on_release !== undefined) f.on_release = r.on_release;
    if (r.vars !== undefined) f.vars = Object.fromEntries(Object.entries(r.vars).map(([k, v]) => [k, String(v)]));
    if (r.ignore !== undefined) f.ignore = r.ignore;
    return f;
  };

  const subnets: SubnetRule[] = raw.subnets.map((s, i) => ({
    ...SUBNET_DEFAULTS,
    vars: {},
    ...ruleFields(s),
    cidr: parseCidr(s.cidr)!.text,
    ...(s.first_boot === undefined ? {} : { first_boot: [...s.first_boot] }),
    pos: loc.pos(['subnets', i]),
  }));

  const profiles: Record<string, ProfileConfig> = {};
  for (const [name, p] of Object.entries(raw.profiles)) {
    const c: ProfileConfig = { name, done_when: p.done_when, root: p.root, pos: loc.pos(['profiles', name]) };
    if (p.pxe_template !== undefined) c.pxe_template = abs(p.pxe_template);
    if (p.grub_template !== undefined) c.grub_template = abs(p.grub_template);
    if (p.ipxe_template !== undefined) c.ipxe_template = abs(p.ipxe_template);
    // a reporting profile always ends: no report within 2 h is a failure
    const timeout = p.timeout !== undefined ? parseDuration(p.timeout) : p.done_when === 'reported' ? DEFAULT_REPORT_TIMEOUT_MS : undefined;
    if (timeout !== undefined) c.timeout_ms = timeout;
    if (p.boot_file !== undefined) c.boot_file = [...p.boot_file];
    profiles[name] = c;
  }

  const hosts: HostRule[] = raw.hosts.map((h, i) => {
    const r: HostRule = { ...ruleFields(h), pos: loc.pos(['hosts', i]) };
    if (h.mac !== undefined) r.mac = normalizeMac(h.mac)!;
    if (h.ip !== undefined) r.ip = h.ip;
    if (h.hostname !== undefined) r.hostname = h.hostname.toLowerCase();
    return r;
  });

  const sources: SourceConfig[] = raw.sources.map((s) => {
    switch (s.type) {
      case 'syslog':
        return { type: 'syslog', path: abs(s.path), from_start: s.from_start, programs: s.programs ?? [...trusted], format: s.format };
      case 'journal': {
        const j: SourceConfig = { type: 'journal', identifiers: s.identifiers ?? [...trusted] };
        if (s.directory !== undefined) j.directory = abs(s.directory);
        if (s.trusted_users !== undefined) j.trusted_users = [...s.trusted_users];
        return j;
      }
      case 'dhcp-snoop':
        return { type: 'dhcp-snoop', interface: s.interface, port: s.port, new_client_burst: s.new_client_burst, new_clients_per_second: s.new_clients_per_second };
      case 'http-log':
        return { type: 'http-log', path: abs(s.path), from_start: s.from_start, format: s.format };
      default:
        return { type: s.type, path: abs(s.path) };
    }
  });

  const e = raw.exports;
  const config: Config = {
    file: path.resolve(file),
    state_dir: abs(raw.state_dir),
    images_dir: abs(raw.images_dir),
    tftp_root: abs(raw.tftp_root),
    server: raw.server,
    sources,
    exports: { backend: e.backend, file: abs(e.file), options: e.options, start_fsid: e.start_fsid, etab: abs(e.etab), dbus: e.dbus },
    grub_dir: raw.grub_dir,
    ipxe_dir: raw.ipxe_dir,
    commands: {
      mount: resolveCommand(base, raw.commands.mount),
      umount: resolveCommand(base, raw.commands.umount),
      exportfs: resolveCommand(base, raw.commands.exportfs),
      journalctl: resolveCommand(base, raw.commands.journalctl),
      ip: resolveCommand(base, raw.commands.ip),
      dbus_send: resolveCommand(base, raw.commands.dbus_send),
    },
    mount_method: raw.mount_method,
    trusted_programs: [...trusted],
    control_socket: abs(raw.control_socket),
    queue: { ...raw.queue },
    boot_guard_ms: raw.boot_guard_ms,
    profiles,
    subnets,
    hosts,
  };
  if (raw.report) config.report = { listen: raw.report.listen };
  if (e.pid_file !== undefined) config.exports.pid_file = abs(e.pid_file);
  if (e.pseudo_root !== undefined) config.exports.pseudo_root = e.pseudo_root;
  if (raw.http_base !== undefined) config.http_base = raw.http_base;
  const dt = absOpt(raw.default_template);
  if (dt !== undefined) config.default_template = dt;
  if (raw.metrics) config.metrics = { listen: raw.metrics.listen };
  return config;
}
