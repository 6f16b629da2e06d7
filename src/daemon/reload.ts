// What a reload may change on the fly (rules, hosts, per-subnet templates and vars) and what needs
// a restart because running parts were built from it (sources, state, exports, socket, ...).
import type { Config } from '../types.ts';

/** Top-level keys whose change only takes effect after a restart. */
export const RESTART_KEYS = [
  'state_dir',
  'tftp_root',
  'server',
  'http_base',
  'sources',
  'exports',
  'default_template',
  'grub_dir',
  'ipxe_dir',
  'commands',
  'mount_method',
  'trusted_programs',
  'control_socket',
  'queue',
  'metrics',
] as const satisfies ReadonlyArray<keyof Config>;

/** The restart-only keys that differ between the running and the reloaded config. */
export function describeConfigChanges(running: Config, next: Config): string[] {
  return RESTART_KEYS.filter((k) => JSON.stringify(running[k]) !== JSON.stringify(next[k]));
}
