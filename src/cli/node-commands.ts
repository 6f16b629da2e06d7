// `pxebootd provision <ip>` and `pxebootd release <ip|mac>`: through the running daemon's queue
// when one answers on the control socket, otherwise in this process with the same code path
// (state loaded, one job run, state saved). The answer comes when the node is ready or failed.
import { NoDaemonError, sendControl, type ControlRequest, type ControlResponse } from '../control.ts';
import { createLogger, humanStream, subsystem } from '../log.ts';
import { createRunner } from '../runner.ts';
import { createDaemon } from '../daemon/daemon.ts';
import { loadRealDeps, noopMetrics } from '../daemon/deps.ts';
import { normalizeHostname, normalizeIPv4, normalizeMac } from '../validate.ts';
import { loadClientConfig, warnBrokenConfig } from './client-config.ts';
import { parseCommand, usageError } from './args.ts';
import { USAGE } from './usage.ts';

/** How long a provision/release waits for the node to settle. */
const WAIT_MS = 120_000;

/** A request through the running daemon, or (none answering) through a daemon made in this process for it. */
export async function viaDaemonOrLocal(file: string, req: ControlRequest): Promise<ControlResponse> {
  const cc = await loadClientConfig(file);
  try {
    const r = await sendControl(cc.socket, req, { connectTimeoutMs: 500, timeoutMs: WAIT_MS + 5000 });
    warnBrokenConfig(cc);
    return r;
  } catch (e) {
    if (!(e instanceof NoDaemonError)) throw e;
  }
  if (!cc.config) throw cc.error;
  const config = cc.config;
  process.stderr.write(`pxebootd: no daemon on ${cc.socket}; running ${req.op} in this process\n`);
  // one job, one answer: retries and progress are the daemon's business; the result is printed below
  const log = createLogger({ level: process.env.PXEBOOTD_LOG_LEVEL ?? 'fatal', destination: humanStream((s) => process.stderr.write(s)) });
  const runner = createRunner(subsystem(log, 'runner'));
  const deps = { ...(await loadRealDeps()), createMetrics: noopMetrics };
  // no watchers, no socket, no restore: just this one node, through the same intake, queue and jobs
  const daemon = createDaemon({ configFile: file, config, log, runner, deps, watchers: false, control: false, reconcile: false });
  await daemon.start();
  try {
    return await daemon.request(req);
  } finally {
    await daemon.stop();
  }
}

function print(resp: ControlResponse, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify(resp, null, 2) + '\n');
  const r = resp.result as { outcome?: string; node?: { name: string; ip: string; state: string; fsid: number; lastError?: string } } | undefined;
  if (!json) {
    if (r?.node) process.stdout.write(`${r.node.name} ${r.node.ip}: ${r.outcome} (state ${r.node.state}, fsid ${r.node.fsid || '-'})${r.node.lastError && !resp.ok ? `: ${r.node.lastError}` : ''}\n`);
    else if (r?.outcome) process.stdout.write(`${r.outcome}\n`);
  }
  if (!resp.ok) process.stderr.write(`pxebootd: ${resp.error ?? 'failed'}\n`);
  return resp.ok ? 0 : 1;
}

/** `pxebootd provision`: provision a node by hand, through the daemon's queue when one runs. */
export async function provisionCommand(args: string[]): Promise<number> {
  const { values, positionals, config: file } = parseCommand(
    'provision',
    args,
    { mac: { type: 'string' }, hostname: { type: 'string' }, json: { type: 'boolean' } },
    { min: 1, max: 1, names: '<ip>' },
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!normalizeIPv4(positionals[0]!)) throw usageError(`provision: expected an IPv4 address, found ${JSON.stringify(positionals[0])}`);
  if (values.mac !== undefined && !normalizeMac(values.mac as string)) throw usageError(`provision: --mac: expected a MAC like 52:54:00:12:34:56, found ${JSON.stringify(values.mac)}`);
  if (values.hostname !== undefined && !normalizeHostname(values.hostname as string)) throw usageError(`provision: --hostname: expected an RFC 1123 host name, found ${JSON.stringify(values.hostname)}`);
  const req: ControlRequest = { op: 'provision', ip: positionals[0], timeoutMs: WAIT_MS };
  if (values.mac !== undefined) req.mac = values.mac;
  if (values.hostname !== undefined) req.hostname = values.hostname;
  return print(await viaDaemonOrLocal(file, req), values.json === true);
}

/** `release --all`: every node, for decommissioning; --yes is required, as the command takes everything down. */
async function releaseAllCommand(file: string, policy: string | undefined, yes: boolean, json: boolean): Promise<number> {
  if (!yes) {
    throw usageError(`release --all takes every node down${policy === 'remove' ? ' and DELETES every node\'s writable layer' : ''}: add --yes to confirm`, 'release');
  }
  const req: ControlRequest = { op: 'release-all', timeoutMs: WAIT_MS };
  if (policy !== undefined) req.policy = policy;
  const resp = await viaDaemonOrLocal(file, req);
  const r = resp.result as { released?: number; failed?: Array<{ name: string; ip: string; error?: string }> } | undefined;
  if (json) process.stdout.write(JSON.stringify(resp, null, 2) + '\n');
  else {
    process.stdout.write(`released ${r?.released ?? 0} node(s)${policy ? ` (policy ${policy})` : ''}${r?.failed?.length ? `; ${r.failed.length} failed:` : ''}\n`);
    for (const f of r?.failed ?? []) process.stdout.write(`  ${f.name} ${f.ip}: ${f.error ?? 'failed'}\n`);
  }
  if (!resp.ok) process.stderr.write(`pxebootd: ${resp.error ?? 'failed'}\n`);
  return resp.ok ? 0 : 1;
}

/** `pxebootd release`: the CLI is an authoritative source, so it may unexport or remove a node. */
export async function releaseCommand(args: string[]): Promise<number> {
  const { values, positionals, config: file } = parseCommand(
    'release',
    args,
    { policy: { type: 'string' }, json: { type: 'boolean' }, all: { type: 'boolean' }, yes: { type: 'boolean' } },
    { min: 0, max: 1, names: '<ip|mac> or --all' },
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.policy !== undefined && !['keep', 'unexport', 'remove'].includes(values.policy as string)) throw usageError(`release: --policy: expected keep|unexport|remove, found ${JSON.stringify(values.policy)}`, 'release');
  if (values.all) {
    if (positionals.length) throw usageError(`release: --all takes no node, found ${JSON.stringify(positionals[0])}`, 'release');
    return releaseAllCommand(file, values.policy as string | undefined, values.yes === true, values.json === true);
  }
  if (positionals.length !== 1) throw usageError('release: expected <ip|mac> or --all, found none', 'release');
  if (values.yes) throw usageError('release: --yes goes with --all', 'release');
  const t = positionals[0]!;
  if (!normalizeIPv4(t) && !normalizeMac(t)) throw usageError(`release: expected an IPv4 address or a MAC, found ${JSON.stringify(t)}`);
  const req: ControlRequest = { op: 'release', target: positionals[0], timeoutMs: WAIT_MS };
  if (values.policy !== undefined) req.policy = values.policy;
  return print(await viaDaemonOrLocal(file, req), values.json === true);
}
