// Control-socket requests mapped onto the daemon: hook events enter the same path as watcher
// events; provision and release go through the same queue and answer once the node is settled.
import { streamedResponse, type ControlRequest, type ControlResponse } from '../control.ts';
import type { ClientEvent, ClientGone, ClientSeen, NodeRecord, ReleasePolicy, WatcherSink } from '../types.ts';
import { normalizeHostname, normalizeIPv4, normalizeMac, printable } from '../validate.ts';
import type { NodeContext } from '../pipeline/jobs.ts';
import type { SubmitOptions, SubmitResult } from '../pipeline/inbox.ts';
import { refusePeer, type PeerCred } from '../control-trust.ts';
import { byName, findNode, parseNodeQuery, statusDocument, tableRow, withNextImage, type NodeIndex } from '../status-doc.ts';
import { currentVersionsSync } from './image-switch.ts';
import { enqueue as enqueueProfiles } from '../boot-once/machine.ts';
import { cancelBootOnce } from './boot-once.ts';

/**
 * The part of the daemon a control request reaches, passed in by the daemon so this module does
 * not import daemon.ts (which imports this one).
 */
export interface ControlTarget {
  readonly sink: WatcherSink;
  readonly state: NodeIndex;
  /** what `status` shows about the daemon itself */
  info(): object;
  nodes(): NodeRecord[];
  submit(e: ClientEvent, opts?: SubmitOptions): Promise<SubmitResult>;
}

/** Default time a provision/release request waits for the node to settle. */
export const REQUEST_TIMEOUT_MS = 60_000;

const POLICIES: readonly ReleasePolicy[] = ['keep', 'unexport', 'remove'];

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

async function withTimeout(p: Promise<SubmitResult>, ms: number): Promise<ControlResponse> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ControlResponse>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: `not settled within ${ms} ms; the job stays queued (see status)` }), ms);
  });
  const done = p.then((r): ControlResponse => ({ ok: r.outcome !== 'failed' && r.outcome !== 'skipped', result: r, ...(r.error ? { error: r.error } : r.outcome === 'skipped' ? { error: (r.why ?? []).join('; ') } : {}) }));
  try {
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `status`: with `node`, that one node through the state indexes (none when unknown); with
 * `stream`, the status document (statusDocument) streamed after a `{"ok":true,"stream":"status"}`
 * head, every record or (`view: "table"`) the table's fields sorted by name; otherwise every
 * record in one answer line (older clients).
 */
function statusAnswer(daemon: ControlTarget, req: ControlRequest, core: NodeContext): ControlResponse {
  // image nodes: next_image_version when a newer version is current (what their next boot mounts)
  const currents = currentVersionsSync(core.config());
  const full = (n: NodeRecord) => withNextImage(n, currents);
  if (req.node !== undefined) {
    const q = typeof req.node === 'string' ? parseNodeQuery(req.node) : undefined;
    const n = q && findNode(daemon.state, q);
    return { ok: true, daemon: daemon.info(), nodes: n ? [full(n)] : [] };
  }
  if (req.stream === true) {
    // a snapshot of references (the records themselves are replaced, never changed in place)
    const nodes = daemon.nodes();
    const body = req.view === 'table' ? statusDocument('daemon', daemon.info(), mapIter(nodes.sort(byName), tableRow)) : statusDocument('daemon', daemon.info(), currents.size ? mapIter(nodes, full) : nodes);
    return streamedResponse({ ok: true, stream: 'status' }, body);
  }
  return { ok: true, daemon: daemon.info(), nodes: daemon.nodes().map(full) };
}

function* mapIter<A, B>(xs: Iterable<A>, f: (x: A) => B): Generator<B> {
  for (const x of xs) yield f(x);
}

/**
 * `release --all`: every node through the same queue and release path as `release IP`, each named by
 * all its identifiers. Nodes already released are skipped, except for `remove`: their layers remain.
 */
async function releaseAll(daemon: ControlTarget, policy: ReleasePolicy | undefined, timeoutMs: number): Promise<ControlResponse> {
  const nodes = daemon.nodes().filter((n) => policy === 'remove' || n.state !== 'released');
  const deadline = Date.now() + timeoutMs;
  const outcomes = await Promise.all(
    nodes.map(async (n) => {
      const e: ClientGone = { kind: 'gone', ip: n.ip, source: 'cli:release-all', sourceType: 'cli', time: Date.now(), reason: 'released by hand (release --all)' };
      if (n.mac) e.mac = n.mac;
      const r = await withTimeout(daemon.submit(e, { wait: true, policy }), Math.max(1, deadline - Date.now()));
      return { name: n.name, ip: n.ip, ok: r.ok, error: r.error };
    }),
  );
  const failed = outcomes.filter((o) => !o.ok);
  const released = outcomes.length - failed.length;
  return {
    ok: failed.length === 0,
    result: { outcome: 'released', released, failed: failed.map((f) => ({ name: f.name, ip: f.ip, error: f.error })) },
    ...(failed.length ? { error: `${failed.length} of ${outcomes.length} nodes not released (first: ${failed[0]!.name}: ${failed[0]!.error ?? 'failed'})` } : {}),
  };
}

/**
 * `boot-once <ip|mac> PROFILE…` / `--cancel`: change the node's queue, then provision it through the
 * queue (the provision job writes the files the queue now selects) and answer once it settled. An
 * IP no node holds yet is remembered and provisioned now: it starts with these profiles.
 */
async function bootOnce(daemon: ControlTarget, core: NodeContext, req: ControlRequest, timeoutMs: number): Promise<ControlResponse> {
  const target = typeof req.target === 'string' ? req.target : '';
  const ip = normalizeIPv4(target);
  const mac = ip ? undefined : normalizeMac(target);
  if (!ip && !mac) return { ok: false, error: `boot-once: expected an IPv4 address or a MAC, found ${JSON.stringify(printable(target))}` };
  const cancel = req.cancel === true;
  const names = Array.isArray(req.profiles) ? req.profiles.filter((p): p is string => typeof p === 'string') : [];
  if (cancel === names.length > 0) return { ok: false, error: cancel ? 'boot-once: --cancel takes no profile' : 'boot-once: expected at least one PROFILE, or --cancel' };
  const known = core.config().profiles ?? {};
  const unknown = names.filter((n) => !Object.hasOwn(known, n));
  if (unknown.length) return { ok: false, error: `boot-once: unknown profile ${unknown.map((u) => JSON.stringify(printable(u))).join(', ')}; configured: ${Object.keys(known).join(', ') || 'none (add a profiles map)'}` };
  const rec = ip ? core.state.findByIp(ip) : core.state.findByMac(mac!);
  if (rec && mac && rec.mac !== mac) return { ok: false, error: `boot-once: ${mac} is not node ${rec.name}'s MAC` };
  if (cancel) {
    if (!rec) return { ok: false, error: `boot-once --cancel: no node ${printable(target)}` };
    cancelBootOnce(core, rec, 'boot-once --cancel');
  } else if (rec) {
    const r = enqueueProfiles(rec.bootOnce, names);
    if ('error' in r) return { ok: false, error: `boot-once: node ${rec.name}: ${r.error}` };
    core.state.put({ ...rec, bootOnce: r.bo });
  } else {
    if (!ip) return { ok: false, error: `boot-once: no node with MAC ${mac}: give its IP (and the node is provisioned with these profiles first)` };
    core.bootOnce?.remember(ip, names);
  }
  const e: ClientSeen = { kind: 'seen', ip: rec?.ip ?? ip!, source: 'cli:boot-once', sourceType: 'cli', time: Date.now() };
  const m = rec?.mac ?? mac;
  if (m) e.mac = m;
  return withTimeout(daemon.submit(e, { wait: true }), timeoutMs);
}

/** A refused client's uid is logged at most once a minute (a local user must not flood the log). */
const REFUSAL_LOG_MS = 60_000;

/** One daemon's control-request handler (it remembers which refused uids were logged when). */
export function createControlHandler(core: NodeContext): (daemon: ControlTarget, req: ControlRequest, peer?: PeerCred) => Promise<ControlResponse> {
  const refusalLogged = new Map<number, number>();
  return (daemon, req, peer) => handleControl(daemon, core, refusalLogged, req, peer);
}

/** Answer one control request; `peer` (SO_PEERCRED, when known) must be trusted for hook/provision/release. */
async function handleControl(daemon: ControlTarget, core: NodeContext, refusalLogged: Map<number, number>, req: ControlRequest, peer?: PeerCred): Promise<ControlResponse> {
  const refused = refusePeer(req.op, peer);
  if (refused) {
    const now = Date.now();
    if (now - (refusalLogged.get(peer!.uid) ?? -Infinity) >= REFUSAL_LOG_MS) {
      refusalLogged.set(peer!.uid, now);
      core.log.warn({ op: req.op, uid: peer!.uid, pid: peer!.pid }, `control socket: ${refused} (logged once a minute per uid)`);
    }
    return { ok: false, error: refused };
  }
  const timeoutMs = typeof req.timeoutMs === 'number' && req.timeoutMs > 0 ? req.timeoutMs : REQUEST_TIMEOUT_MS;
  switch (req.op) {
    case 'ping':
      return { ok: true, pid: process.pid };
    case 'status':
      return statusAnswer(daemon, req, core);
    case 'hook': {
      const argv = Array.isArray(req.argv) ? req.argv.filter((a): a is string => typeof a === 'string') : [];
      const { event, bad } = core.deps.parseHookInvocation(argv, stringMap(req.env), core.config().tftp_root);
      if (bad) {
        daemon.sink.bad(bad);
        return { ok: true, accepted: false, reason: bad.reason };
      }
      if (!event) return { ok: true, accepted: false, reason: 'action ignored' };
      daemon.sink.event(event);
      return { ok: true, accepted: true };
    }
    case 'provision': {
      const ip = typeof req.ip === 'string' ? normalizeIPv4(req.ip) : undefined;
      if (!ip) return { ok: false, error: `provision: expected an IPv4 address, found ${JSON.stringify(printable(String(req.ip)))}` };
      const mac = typeof req.mac === 'string' ? normalizeMac(req.mac) : undefined;
      if (req.mac !== undefined && !mac) return { ok: false, error: `provision: --mac: expected a MAC like 52:54:00:12:34:56, found ${JSON.stringify(printable(String(req.mac)))}` };
      const hostname = typeof req.hostname === 'string' ? normalizeHostname(req.hostname) : undefined;
      if (req.hostname !== undefined && !hostname) return { ok: false, error: `provision: --hostname: expected an RFC 1123 host name, found ${JSON.stringify(printable(String(req.hostname)))}` };
      const e: ClientSeen = { kind: 'seen', ip, source: 'cli:provision', sourceType: 'cli', time: Date.now() };
      if (mac) e.mac = mac;
      if (hostname) e.hostname = hostname;
      return withTimeout(daemon.submit(e, { wait: true }), timeoutMs);
    }
    case 'release': {
      const target = typeof req.target === 'string' ? req.target : '';
      const ip = normalizeIPv4(target);
      const mac = ip ? undefined : normalizeMac(target);
      if (!ip && !mac) return { ok: false, error: `release: expected an IPv4 address or a MAC, found ${JSON.stringify(printable(target))}` };
      const policy = typeof req.policy === 'string' ? (req.policy as ReleasePolicy) : undefined;
      if (policy !== undefined && !POLICIES.includes(policy)) return { ok: false, error: `release: --policy: expected ${POLICIES.join('|')}, found ${JSON.stringify(printable(policy))}` };
      const e: ClientGone = { kind: 'gone', source: 'cli:release', sourceType: 'cli', time: Date.now(), reason: 'released by hand' };
      if (ip) e.ip = ip;
      if (mac) e.mac = mac;
      return withTimeout(daemon.submit(e, { wait: true, policy }), timeoutMs);
    }
    case 'boot-once':
      return bootOnce(daemon, core, req, timeoutMs);
    case 'release-all': {
      const policy = typeof req.policy === 'string' ? (req.policy as ReleasePolicy) : undefined;
      if (policy !== undefined && !POLICIES.includes(policy)) return { ok: false, error: `release --all: --policy: expected ${POLICIES.join('|')}, found ${JSON.stringify(printable(policy))}` };
      return releaseAll(daemon, policy, timeoutMs);
    }
    default:
      return { ok: false, error: `unknown request ${JSON.stringify(printable(String(req.op)))}; expected ping|status|hook|provision|release|release-all|boot-once` };
  }
}

