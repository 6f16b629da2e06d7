// From a typed event to queued work: enrich the client (MAC from leases or the neighbour table),
// match it against the rules (no match / ignored: never provisioned, see skip-log.ts), update its
// record, and enqueue a provision or release when something has to change. The common case (an
// event with IP and MAC) is handled synchronously, without a promise: in a burst of thousands of
// events every promise and closure kept in flight ends up promoted to the old space.
import type { Runner } from '../runner.ts';
import type { ClientGone, ClientSeen, NodeRecord, ReleasePolicy } from '../types.ts';
import type { KeyedQueue, JobOutcome } from '../queue.ts';
import { errorMessage } from '../errors.ts';
import { applySeen, extendTimeline, matchRelease } from './records.ts';
import { reportCounts, ruleFor, type Core, type Job } from './jobs.ts';
import { BOOT_GUARD_MS } from './boot-detect.ts';
import { decideGone, decideNode, decideSeen } from '../pipeline/decide.ts';
import { createSkipLog } from './skip-log.ts';
import { createBurstLog, type BurstLine } from './burst-log.ts';
import { isAuthoritative } from '../trust.ts';

/** What happened to one submitted event (the control socket returns it). */
export interface SubmitResult {
  outcome: 'ready' | 'failed' | 'released' | 'skipped' | 'unchanged' | 'queued' | 'verifying' | 'quarantined';
  node?: NodeRecord;
  error?: string;
  why?: string[];
}

/** Bounded "log once" memory for clients whose node name cannot be derived. */
const ONCE_MAX = 50_000;
/** How long an IP the neighbour table did not know is not looked up again. */
const NEIGHBOUR_RETRY_MS = 5000;
/** Bounded ip -> mac memory of clients that are not nodes (a node's record knows its MAC). */
const IPMAC_MAX = 200_000;

/** The immediate result of taking an event in, and the settled one when a job was queued and `wait` asked. */
export interface Accepted {
  now: SubmitResult;
  settled?: Promise<SubmitResult>;
}

export interface Intake {
  /** synchronous unless the MAC has to be looked up in the neighbour table */
  seen(e: ClientSeen, wait?: boolean): Accepted | Promise<Accepted>;
  gone(e: ClientGone, opts?: { policy?: ReleasePolicy }, wait?: boolean): Accepted;
  /** forget which clients were already logged as unmatched (after a reload) */
  resetOnce(): void;
  /** write pending log summaries (at stop) */
  flush(): void;
}

/** The example a summary of gone events names. */
export interface GoneExample {
  ip: string;
  mac?: string;
  node: string;
  reason: string;
  source: string;
  why?: string;
}

/**
 * One info line per outcome per window for gone events that change nothing (thousands of leases
 * removed at once): `kept` (on_release: keep), `released` (already), `mismatch` (an identifier
 * does not match the node), `untrusted:TYPE` (a source that never releases). Releases themselves
 * are logged by the job.
 */
export function renderGone(group: string, count: number, ex: GoneExample): BurstLine {
  const one = count === 1;
  const fields = { outcome: group, clients: count, node: ex.node, ip: ex.ip, reason: ex.reason, source: ex.source };
  const eg = `e.g. ${ex.ip} (node ${ex.node}, ${ex.reason})`;
  if (group === 'kept') return { fields, msg: one ? `client ${ex.ip} gone (${ex.reason}); node ${ex.node} kept (on_release: keep)` : `${count} clients gone; their nodes kept (on_release: keep), ${eg}` };
  if (group === 'released') return { fields, msg: one ? `client ${ex.ip} gone (${ex.reason}); node ${ex.node} was already released` : `${count} clients gone whose nodes were already released, ${eg}` };
  if (group === 'mismatch') {
    const what = `${ex.ip}${ex.mac ? ` ${ex.mac}` : ''} from ${ex.source}`;
    return { fields: { ...fields, why: ex.why }, msg: one ? `release of ${what} not taken: ${ex.why}` : `${count} releases not taken: their identifiers do not all match one node, e.g. ${what}: ${ex.why}` };
  }
  const type = group.slice(group.indexOf(':') + 1);
  return { fields, msg: one ? `client ${ex.ip} gone per ${type}; node ${ex.node} not released (${type} is not an authoritative source)` : `${count} clients gone per ${type}; no node released (${type} is not an authoritative source), ${eg}` };
}

/** Turns admitted events into node records and queued jobs. */
export function createIntake(core: Core, queue: KeyedQueue<Job>, runner: Runner): Intake {
  const logged = new Set<string>();
  const ipToMac = new Map<string, string>();
  const log = core.log;
  const skipped = createSkipLog(log);
  const goneLog = createBurstLog<GoneExample>(log, renderGone);

  const logOnce = (key: string, fn: () => void) => {
    if (logged.has(key)) return;
    if (logged.size >= ONCE_MAX) logged.clear();
    logged.add(key);
    fn();
  };
  const remember = (ip: string, mac: string) => {
    if (ipToMac.size >= IPMAC_MAX && !ipToMac.has(ip)) ipToMac.clear();
    ipToMac.set(ip, mac);
  };

  /** Queue a job; with `wait`, also a promise of the node's state after the job's first attempt. */
  function enqueue(name: string, job: Job, wait: boolean): Accepted {
    const now: SubmitResult = { outcome: 'queued', node: core.state.get(name) };
    if (!wait) {
      queue.add(name, job);
      return { now };
    }
    const settled = queue.push(name, job).then((o: JobOutcome): SubmitResult => {
      const node = core.state.get(name);
      if (o.ok) return { outcome: node?.state === 'released' || node?.state === 'verifying' || node?.state === 'quarantined' ? node.state : 'ready', node };
      return { outcome: 'failed', node, error: o.error.message };
    });
    return { now, settled };
  }
  const done = (r: SubmitResult): Accepted => ({ now: r });

  // a client the neighbour table does not know is not asked about again for a while: a chatty
  // log must not spawn `ip neigh` per line
  const missed = new Map<string, number>();
  function lookupWorthwhile(ip: string): boolean {
    const until = missed.get(ip);
    if (until !== undefined && until > Date.now()) return false;
    // outside every subnet nothing can match, whatever the MAC: no lookup
    const kind = core.deps.matchClient({ ip }, core.config).kind;
    return kind !== 'none' && kind !== 'reserved';
  }
  async function lookupMac(ip: string): Promise<string | undefined> {
    let mac: string | undefined;
    try {
      mac = await core.deps.lookupNeighbourMac(runner, core.config.commands.ip, ip);
    } catch (e) {
      log.debug({ ip, err: errorMessage(e) }, 'neighbour lookup failed');
    }
    if (mac) {
      missed.delete(ip);
      remember(ip, mac);
    } else {
      if (missed.size >= ONCE_MAX) missed.clear();
      missed.set(ip, Date.now() + NEIGHBOUR_RETRY_MS);
    }
    return mac;
  }

  /** Record a detected boot in the timeline and the log; true when the node's layer is to be reset. */
  function bootSeen(rec: NodeRecord, ephemeral: boolean, e: ClientSeen): boolean {
    const what = ephemeral ? 'boot (ephemeral reset)' : 'boot (persistent: layer kept)';
    rec.timeline = extendTimeline(rec.timeline, { time: e.time, what, source: e.source });
    const nbp = e.file!.slice(e.file!.lastIndexOf('/') + 1); // the base name passed isBootProgram: [a-z0-9_+-].ext
    const then = ephemeral ? 'resetting its ephemeral layer' : 'persistent layer kept';
    log.info({ node: rec.name, ip: rec.ip, input: { file: e.file }, source: e.source }, `node ${rec.name} (${rec.ip}) is booting again (${nbp}); ${then}`);
    return ephemeral;
  }

  /** The seen event once its IP and (when it can be known) MAC are: gather the facts, decide, apply. */
  function seenClient(e: ClientSeen, ip: string, mac: string | undefined, wait: boolean): Accepted {
    const hostname = e.hostname ?? core.state.findByIp(ip)?.hostname;
    const n = decideNode(core.deps.matchClient({ ip, mac, hostname }, core.config), ip, mac);
    if (n.kind === 'skip') {
      if (mac) remember(ip, mac);
      if (n.match === 'name') logOnce(`name:${ip}`, () => log.warn({ input: { ip, mac }, source: e.source }, `client ${ip}: ${n.why[0]}; not provisioned yet`));
      else skipped.note({ kind: n.match, why: n.why, by: n.by, ip, mac, hostname, source: e.source });
      return done({ outcome: 'skipped', why: n.why });
    }
    const { name, rule } = n;
    // from here on the node's record knows this IP's MAC
    if (ipToMac.size) ipToMac.delete(ip);
    const prev = core.state.get(name);
    const next = applySeen(prev, e, { name, ip, mac, hostname, subnet: rule.subnet.cidr });
    // boot-once: a new node starts its first_boot profiles (or a boot-once asked before it was seen);
    // a fetch of a profile's program may finish it, and then the next files are written
    if (!prev && core.bootOnce) {
      const bo = core.bootOnce.initial(ip, rule);
      if (bo) next.bootOnce = bo;
    }
    const advance = e.file !== undefined && next.bootOnce !== undefined && core.bootOnce !== undefined && core.bootOnce.fetched(next, e);
    const guardMs = core.config.boot_guard_ms ?? BOOT_GUARD_MS;
    const d = decideSeen({ event: e, rule, prev, next, busy: queue.has(name), startedAt: core.startedAt ?? 0, guardMs, advance });
    if (d.boot) bootSeen(next, d.boot === 'ephemeral', e);
    if (d.pending && next.state !== 'failed') next.state = 'pending';
    core.state.put(next);
    reportCounts(core);
    const dec = d.decision;
    if (dec.kind !== 'provision' && dec.kind !== 'reset') return done({ outcome: 'unchanged', node: next });
    const job: Job = { kind: 'provision', seenAt: e.time, sources: [e.source] };
    if (dec.kind === 'reset') job.reset = true;
    if (dec.occasion) job.occasion = dec.occasion;
    if (dec.kind === 'provision' && dec.check) job.check = true;
    return enqueue(name, job, wait);
  }

  return {
    resetOnce() {
      logged.clear();
      skipped.reset();
    },
    flush() {
      skipped.flush();
      goneLog.flush();
    },

    seen(e, wait = false) {
      core.metrics.event(e.sourceType);
      let ip = e.ip;
      const mac = e.mac;
      if (!ip && mac) ip = core.state.findByMac(mac)?.ip;
      if (!ip) {
        log.debug({ input: { mac }, source: e.source }, 'client seen without an IP yet; waiting for its lease');
        return done({ outcome: 'skipped', why: ['no IP address known for this client yet'] });
      }
      if (mac) return seenClient(e, ip, mac, wait);
      const known = ipToMac.get(ip) ?? core.state.findByIp(ip)?.mac;
      if (known || !lookupWorthwhile(ip)) return seenClient(e, ip, known, wait);
      const at = ip;
      return lookupMac(at).then((found) => seenClient(e, at, found, wait));
    },

    gone(e, opts = {}, wait = false) {
      core.metrics.event(e.sourceType);
      const found = matchRelease(e, core.state);
      const reason = e.reason ?? e.source;
      const rec = found.rec;
      const g = decideGone({ event: e, found, rule: rec && isAuthoritative(e.sourceType) ? ruleFor(core, rec) : undefined, policy: opts.policy });
      const d = g.decision;
      if (!rec) {
        if (found.named) {
          log.debug({ node: found.named.name, input: { ip: e.ip, mac: e.mac }, source: e.source, why: found.why }, `release of ${e.ip} ${e.mac} not taken: ${found.why}`);
          goneLog.add('mismatch', { ip: e.ip ?? found.named.ip, mac: e.mac, node: found.named.name, reason, source: e.source, why: found.why });
        }
        return done({ outcome: 'skipped', why: d.why });
      }
      const ex: GoneExample = { ip: rec.ip, mac: rec.mac, node: rec.name, reason, source: e.source };
      if (g.group === 'untrusted') {
        // what an unauthenticated source says goes into the timeline, and nothing else
        core.state.put({ ...rec, timeline: extendTimeline(rec.timeline, { time: e.time, what: `gone: ${reason} (not released: ${e.sourceType} is not authoritative)`, source: e.source }) });
        log.debug({ node: rec.name, ip: rec.ip, reason, source: e.source }, `client ${rec.ip} gone per ${e.sourceType}; node ${rec.name} not released (not an authoritative source)`);
        goneLog.add(`untrusted:${e.sourceType}`, ex);
        return done({ outcome: 'unchanged', node: core.state.get(rec.name), why: d.why });
      }
      core.state.put({ ...rec, timeline: extendTimeline(rec.timeline, { time: e.time, what: `gone: ${reason}`, source: e.source }) });
      if (d.kind !== 'release') {
        const group = g.group === 'kept' ? 'kept' : 'released';
        log.debug({ node: rec.name, ip: rec.ip, reason }, `client ${rec.ip} gone; node ${rec.name} ${group === 'kept' ? 'kept (on_release: keep)' : 'already released'}`);
        goneLog.add(group, ex);
        return done({ outcome: 'unchanged', node: core.state.get(rec.name) });
      }
      return enqueue(rec.name, { kind: 'release', policy: d.policy, reason, ...(d.lift ? { lift: true } : {}) }, wait);
    },
  };
}
