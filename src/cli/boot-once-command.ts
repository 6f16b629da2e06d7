// `pxebootd boot-once <ip|mac> PROFILE [PROFILE…]` and `pxebootd boot-once <ip|mac> --cancel`:
// through the running daemon's queue, or in this process when none runs (like provision).
import type { ControlRequest } from '../control.ts';
import { normalizeIPv4, normalizeMac } from '../validate.ts';
import { parseCommand, usageError } from './args.ts';
import { viaDaemonOrLocal } from './node-commands.ts';
import { COMMAND_USAGE } from './usage.ts';

/** How long the command waits for the node's files to be written. */
const WAIT_MS = 120_000;

interface BootOnceView {
  name: string;
  ip: string;
  state: string;
  bootOnce?: { queue: string[]; current?: { profile: string }; quarantined?: { profile: string; why: string } };
}

/** `pxebootd boot-once`: checks the target and profiles here, then asks the running daemon to queue them. */
export async function bootOnceCommand(args: string[]): Promise<number> {
  const { values, positionals, config: file } = parseCommand('boot-once', args, { cancel: { type: 'boolean' }, json: { type: 'boolean' } }, { min: 1, max: 64, names: '<ip|mac> PROFILE...' });
  if (values.help) {
    process.stdout.write(COMMAND_USAGE['boot-once']!);
    return 0;
  }
  const [target, ...profiles] = positionals as [string, ...string[]];
  if (!normalizeIPv4(target) && !normalizeMac(target)) throw usageError(`boot-once: expected an IPv4 address or a MAC, found ${JSON.stringify(target)}`, 'boot-once');
  if (values.cancel && profiles.length) throw usageError('boot-once: --cancel takes no PROFILE', 'boot-once');
  if (!values.cancel && profiles.length === 0) throw usageError('boot-once: expected at least one PROFILE, or --cancel', 'boot-once');
  const req: ControlRequest = { op: 'boot-once', target, timeoutMs: WAIT_MS };
  if (values.cancel) req.cancel = true;
  else req.profiles = profiles;
  const resp = await viaDaemonOrLocal(file, req);
  if (values.json) process.stdout.write(JSON.stringify(resp, null, 2) + '\n');
  else {
    const n = (resp.result as { node?: BootOnceView } | undefined)?.node;
    if (n) {
      const bo = n.bootOnce;
      const what = bo?.quarantined ? `quarantined (${bo.quarantined.profile}: ${bo.quarantined.why})` : bo?.current ? `next boot: ${[bo.current.profile, ...bo.queue].join(', then ')}, then production` : 'next boot: production';
      process.stdout.write(`${n.name} ${n.ip}: ${n.state}; ${what}\n`);
    }
  }
  if (!resp.ok) process.stderr.write(`pxebootd: ${resp.error ?? 'failed'}\n`);
  return resp.ok ? 0 : 1;
}
