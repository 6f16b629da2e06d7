// Step 1 of the pipeline (watcher -> INBOX -> decide -> queue -> job -> planNode -> applyPlan -> record):
// how events enter the daemon, read top to bottom:
// 1. the door: watcher events (nobody waits) and control requests (wait for an answer) go through
//    one admission, in arrival order, a slice per event-loop turn (inbox-turns.ts says why);
// 2. per-client order: events of one client are taken strictly in order: an IP-only event may wait
//    for a neighbour lookup of its MAC (inbox-mac.ts), and later events of that client wait behind
//    it; other clients do not wait;
// 3. the intake: a taken event is matched and decided (decide.ts), and the decision applied: the
//    node's record updated, a job queued (queue.ts, then jobs.ts).
// The common case (an event with IP and MAC) is handled synchronously, without a promise: in a burst
// of thousands of events every promise and closure kept in flight ends up promoted to the old space.
import type { Logger } from 'pino';
import type { Runner } from '../runner.ts';
import type { ClientEvent, ClientGone, ClientSeen, NodeRecord, ReleasePolicy } from '../types.ts';
import type { KeyedQueue, JobOutcome } from './queue.ts';
import { errorMessage } from '../errors.ts';
import { applySeen, extendTimeline, matchRelease } from '../daemon/records.ts';
import { ruleFor, type NodeContext, type Job } from './jobs.ts';
import { BOOT_GUARD_MS } from '../daemon/boot-detect.ts';
import { decideGone, decideNode, decideSeen } from './decide.ts';
import { createSkipLog } from '../daemon/skip-log.ts';
import { createBurstLog } from '../daemon/burst-log.ts';
import { isAuthoritative } from '../trust.ts';
import { createAdmission } from './inbox-turns.ts';
import { createMacFinder } from './inbox-mac.ts';
import { renderGone, type GoneExample } from './inbox-gone-log.ts';

/** `wait`: answer once the queued job's first attempt is over; `policy`: a release's policy. */
export interface SubmitOptions {
  wait?: boolean;
  policy?: ReleasePolicy;
}

/** The door's side of the inbox. */
interface Entry {
  /** a watcher's event: nobody waits for it, a failure is logged */
  event(e: ClientEvent): void;
  /** a request's event: resolves with what happened (after the job with `wait`) */
  submit(e: ClientEvent, opts?: SubmitOptions): Promise<SubmitResult>;
  /** start taking events (those that arrived during start-up first) */
  open(): void;
  /** drop events not taken yet; whoever waits for one is told */
  drop(): void;
}

type Waiting = { e: ClientEvent; opts: SubmitOptions; resolve: (r: SubmitResult | Promise<SubmitResult>) => void; reject: (err: unknown) => void };

/** The one door for watcher events and control requests, so a burst is taken a slice per event-loop turn. */
function createEntry(intake: Intake, log: Logger, perTurn?: number): Entry {
  const admission = createAdmission<ClientEvent | Waiting>(take, perTurn);
  const chains = new Map<string, Promise<void>>();

  function take(item: ClientEvent | Waiting): void {
    const e = 'kind' in item ? item : item.e;
    const w = 'kind' in item ? undefined : item;
    const key = e.ip ?? e.mac ?? '';
    const prev = chains.get(key);
    if (prev) return void chain(key, prev.then(() => handle(e, w)));
    const r = handle(e, w);
    if (r) chain(key, r);
  }
  function chain(key: string, p: Promise<void>): void {
    chains.set(key, p);
    void p.then(() => {
      if (chains.get(key) === p) chains.delete(key);
    });
  }
  /** Take one event; a promise only when it has to wait (a neighbour lookup). Never rejects. */
  function handle(e: ClientEvent, w: Waiting | undefined): Promise<void> | undefined {
    const wait = w?.opts.wait === true;
    let accepted: Accepted | Promise<Accepted>;
    try {
      accepted = e.kind === 'seen' ? intake.seen(e, wait) : intake.gone(e, w?.opts, wait);
    } catch (err) {
      failed(e, w, err);
      return undefined;
    }
    if (!(accepted instanceof Promise)) return void answer(accepted, w);
    return accepted.then(
      (a) => answer(a, w),
      (err: unknown) => failed(e, w, err),
    );
  }
  function answer(a: Accepted, w: Waiting | undefined): void {
    if (w) w.resolve(w.opts.wait && a.settled ? a.settled : a.now);
  }
  function failed(e: ClientEvent, w: Waiting | undefined, err: unknown): void {
    if (w) w.reject(err);
    else log.error({ err: errorMessage(err), source: e.source }, 'event handling failed');
  }

  return {
    event: (e) => admission.add(e),
    submit: (e, opts = {}) => new Promise((resolve, reject) => admission.add({ e, opts, resolve, reject })),
    open: () => admission.open(),
    drop() {
      for (const item of admission.drop()) if (!('kind' in item)) item.resolve({ outcome: 'failed', error: 'pxebootd is stopping; the request was not taken' });
    },
  };
}

/** What happened to one submitted event (the control socket returns it). */
export interface SubmitResult {
  outcome: 'ready' | 'failed' | 'released' | 'skipped' | 'unchanged' | 'queued' | 'verifying' | 'quarantined';
  node?: NodeRecord;
  error?: string;
  why?: string[];
}

/** Bounded "log once" memory for clients whose node name cannot be derived. */
const ONCE_MAX = 50_000;

/** The immediate result of taking an event in, and the settled one when a job was queued and `wait` asked. */
interface Accepted {
  now: SubmitResult;
  settled?: Promise<SubmitResult>;
}

/** The deciding side of the inbox. */
interface Intake {
  /** synchronous unless the MAC has to be looked up in the neighbour table */
  seen(e: ClientSeen, wait?: boolean): Accepted | Promise<Accepted>;
  gone(e: ClientGone, opts?: { policy?: ReleasePolicy }, wait?: boolean): Accepted;
  /** forget which clients were already logged as unmatched (after a reload) */
  resetOnce(): void;
  /** write pending log summaries (at stop) */
  flush(): void;
}

/** Turns admitted events into node records and queued jobs. */
function createIntake(core: NodeContext, queue: KeyedQueue<Job>, runner: Runner): Intake {
  const logged = new Set<string>();
  const macs = createMacFinder(core, runner);
  const log = core.log;
  const skipped = createSkipLog(log);
  const goneLog = createBurstLog<GoneExample>(log, renderGone);

  const logOnce = (key: string, fn: () => void) => {
    if (logged.has(key)) return;
    if (logged.size >= ONCE_MAX) logged.clear();
    logged.add(key);
    fn();
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
    const n = decideNode(core.deps.matchClient({ ip, mac, hostname }, core.config()), ip, mac);
    if (n.kind === 'skip') {
      if (mac) macs.remember(ip, mac);
      if (n.match === 'name') logOnce(`name:${ip}`, () => log.warn({ input: { ip, mac }, source: e.source }, `client ${ip}: ${n.why[0]}; not provisioned yet`));
      else skipped.note({ kind: n.match, why: n.why, by: n.by, ip, mac, hostname, source: e.source });
      return done({ outcome: 'skipped', why: n.why });
    }
    const { name, rule } = n;
    // from here on the node's record knows this IP's MAC
    macs.forget(ip);
    const prev = core.state.get(name);
    const next = applySeen(prev, e, { name, ip, mac, hostname, subnet: rule.subnet.cidr });
    // boot-once: a new node starts its first_boot profiles (or a boot-once asked before it was seen);
    // a fetch of a profile's program may finish it, and then the next files are written
    if (!prev && core.bootOnce) {
      const bo = core.bootOnce.initial(ip, rule);
      if (bo) next.bootOnce = bo;
    }
    const advance = e.file !== undefined && next.bootOnce !== undefined && core.bootOnce !== undefined && core.bootOnce.fetched(next, e);
    const guardMs = core.config().boot_guard_ms ?? BOOT_GUARD_MS;
    const d = decideSeen({ event: e, rule, prev, next, busy: queue.has(name), startedAt: core.startedAt(), guardMs, advance });
    if (d.boot) bootSeen(next, d.boot === 'ephemeral', e);
    if (d.pending && next.state !== 'failed') next.state = 'pending';
    core.state.put(next);
    core.reportCounts();
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
      const known = macs.known(ip) ?? core.state.findByIp(ip)?.mac;
      const asked = known ? undefined : macs.lookup(ip);
      if (!asked) return seenClient(e, ip, known, wait);
      const at = ip;
      return asked.then((found) => seenClient(e, at, found, wait));
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

/** The daemon's inbox: the door (event, submit, open, drop) and the intake's housekeeping (resetOnce, flush). */
export interface Inbox extends Entry {
  /** forget which clients were already logged as unmatched (after a reload) */
  resetOnce(): void;
  /** write pending log summaries (at stop) */
  flush(): void;
}

/** Makes the daemon's inbox: events in, decisions applied, jobs queued. */
export function createInbox(core: NodeContext, queue: KeyedQueue<Job>, runner: Runner, log: Logger, perTurn?: number): Inbox {
  const intake = createIntake(core, queue, runner);
  const entry = createEntry(intake, log, perTurn);
  return { ...entry, resetOnce: () => intake.resetOnce(), flush: () => intake.flush() };
}
