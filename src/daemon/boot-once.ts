// Boot-once in the daemon: the state machine (src/boot-once/machine.ts) wired to node records, the
// provision job (which files a node gets), TFTP fetches from the intake, reports from the report
// endpoint and profile timeouts. Every change ends in a provision job for the node, so its files
// are written by the one queue that serialises its work.
import { isBootEvidence } from '../trust.ts';
import { readTemplateFile } from '../safe-open.ts';
import { errorMessage } from '../errors.ts';
import type { BootSelection, Metrics } from '../contracts.ts';
import { QUARANTINE_PROFILE, type BootOnceRecord, type ClientSeen, type Config, type NodeRecord, type NodeState, type ProfileConfig, type ProfileResult, type ResolvedRule } from '../types.ts';
import { activated, cancel, enqueue, finish, isIdle, issue, onFetch, reportRefusal, selection, timedOut } from '../boot-once/machine.ts';
import { bootPrograms } from '../boot-once/programs.ts';
import { newToken, reportUrl, tokenMatches, type Report, type ReportAnswer } from '../boot-once/report-server.ts';
import { BOOT_GUARD_MS, isBootProgram } from './boot-detect.ts';
import { extendTimeline } from './records.ts';
import type { Logger } from 'pino';
import type { StateStore } from '../state/store.ts';
import { BOOT_ONCE_SWEEP_MS } from '../timing.ts';

/** How often profile deadlines are checked (src/timing.ts). */
export const SWEEP_MS = BOOT_ONCE_SWEEP_MS;
/** Largest `details` kept in state per result (bytes of JSON); a larger one is summarised. */
export const DETAILS_MAX = 8192;
/** boot-once requests for IPs not yet known, kept until the node is first seen (bounded). */
const PENDING_MAX = 10_000;
/** What a quarantine profile's templates get for {{report_token}}: a quarantined node has nothing to report. */
const NO_TOKEN = 'none';

/** What the provision job writes for a node, and the state it ends in. */
export interface PreparedBoot {
  boot: BootSelection;
  state: NodeState;
  /** the profile whose files are written now for the first time (activated once they are) */
  activate?: { profile: string; issuedAt: number };
}

/** The daemon's boot-once side; see the file comment. */
export interface BootOnceRuntime {
  /** profiles a node starts with when first seen: a pending `boot-once` for its IP, else its subnet's first_boot */
  initial(ip: string, rule: ResolvedRule): BootOnceRecord | undefined;
  /** `boot-once` for an IP no node holds yet: used when it is first seen */
  remember(ip: string, profiles: string[]): void;
  /** a TFTP/HTTP fetch by a node: updates `rec.bootOnce`; true when its files must be written again */
  fetched(rec: NodeRecord, e: ClientSeen): boolean;
  /** the provision job asks which files to write (token issued and stored first for a new profile) */
  prepare(rec: NodeRecord, rule: ResolvedRule): Promise<PreparedBoot>;
  /** the provision job wrote the profile's files */
  activated(name: string, a: { profile: string; issuedAt: number }): void;
  /** POST /v1/report from `ip` */
  report(ip: string, r: Report): ReportAnswer;
  /** a record changed outside this module (cancel, release): re-read its deadline */
  track(rec: NodeRecord): void;
  /** look for timed-out profiles now (the sweep calls this) */
  sweep(now?: number): void;
  start(): void;
  stop(): void;
}

/** A profile's templates as a selection's. */
function templatesOf(p: { pxe_template?: string; grub_template?: string; ipxe_template?: string }): BootSelection['templates'] {
  return { pxe_template: p.pxe_template, grub_template: p.grub_template, ipxe_template: p.ipxe_template };
}

/** `details` as kept in state: as sent when small, else its size only. */
export function boundDetails(details: unknown): unknown {
  if (details === undefined) return undefined;
  const text = JSON.stringify(details);
  return text.length <= DETAILS_MAX ? details : { truncated: true, bytes: text.length };
}

/** The programs a profile boots: `boot_file`, else its templates' loader lines. */
async function programsOf(p: ProfileConfig): Promise<string[]> {
  if (p.boot_file?.length) return [...p.boot_file];
  const out = new Set<string>();
  for (const t of [p.pxe_template, p.grub_template, p.ipxe_template]) {
    if (t === undefined) continue;
    for (const b of bootPrograms(await readTemplateFile(t))) out.add(b);
  }
  return [...out];
}

/** What boot-once needs of the daemon (jobs.ts's NodeContext has it; named here so this module does not import jobs.ts). */
export interface BootOnceContext {
  readonly log: Logger;
  readonly state: StateStore;
  readonly metrics: Metrics;
  config(): Config;
}

/** The daemon's boot-once runtime over the node records (one per daemon). */
export function createBootOnce(core: BootOnceContext, requeue: (name: string) => void): BootOnceRuntime {
  const log = core.log;
  const deadlines = new Map<string, number>();
  const pending = new Map<string, string[]>();
  let timer: NodeJS.Timeout | undefined;
  const profiles = () => core.config().profiles ?? {};

  const track = (rec: NodeRecord) => {
    const d = rec.bootOnce?.quarantined ? undefined : rec.bootOnce?.current?.deadline;
    if (d === undefined) deadlines.delete(rec.name);
    else deadlines.set(rec.name, d);
  };

  /** Store a node's new boot-once record (with a timeline line), count a finished profile, and queue its files. */
  function commit(rec: NodeRecord, bo: BootOnceRecord, what: string, result?: ProfileResult): NodeRecord {
    const next: NodeRecord = { ...rec, bootOnce: bo, timeline: extendTimeline(rec.timeline, { time: Date.now(), what }) };
    core.state.put(next);
    track(next);
    if (result) core.metrics.verification(result.profile, result.result);
    requeue(rec.name);
    return next;
  }

  const sayResult = (rec: NodeRecord, r: ProfileResult, bo: BootOnceRecord) => {
    const next = bo.quarantined ? 'quarantined: production boot files are withheld until release or boot-once --cancel' : bo.current ? `next: profile ${bo.current.profile}` : 'next: production';
    const fields = { node: rec.name, ip: rec.ip, profile: r.profile, result: r.result };
    if (bo.quarantined) log.warn(fields, `node ${rec.name} (${rec.ip}) ${r.profile}: ${r.result}; ${next}`);
    else log.info(fields, `node ${rec.name} (${rec.ip}) ${r.profile}: ${r.result}; ${next}`);
  };

  const rt: BootOnceRuntime = {
    initial(ip, rule) {
      const asked = pending.get(ip);
      if (asked) pending.delete(ip);
      const names = (asked ?? rule.subnet.first_boot ?? []).filter((p) => profiles()[p] !== undefined);
      if (names.length === 0) return undefined;
      const r = enqueue(undefined, names);
      return 'bo' in r ? r.bo : undefined;
    },

    remember(ip, names) {
      if (pending.size >= PENDING_MAX && !pending.has(ip)) pending.delete(pending.keys().next().value!);
      pending.set(ip, names);
    },

    fetched(rec, e) {
      const bo = rec.bootOnce;
      if (e.file === undefined || !bo || isIdle(bo)) return false;
      const out = onFetch(bo, e.file, e.time, profiles(), { isBootStart: isBootProgram, guardMs: core.config().boot_guard_ms ?? BOOT_GUARD_MS, trusted: isBootEvidence(e), source: e.sourceType });
      switch (out.kind) {
        case 'advanced':
          rec.bootOnce = out.bo;
          rec.timeline = extendTimeline(rec.timeline, { time: e.time, what: `profile ${out.result.profile}: ${out.result.result}${e.evidence === 'trusted' ? ` (per ${e.sourceType}, sender attested)` : ''}`, source: e.source });
          track(rec);
          core.metrics.verification(out.result.profile, out.result.result);
          sayResult(rec, out.result, out.bo);
          return true;
        case 'booted':
          rec.bootOnce = out.bo;
          rec.timeline = extendTimeline(rec.timeline, { time: e.time, what: `profile ${out.bo.current!.profile}: booting`, source: e.source });
          return false;
        case 'stale':
          log.info({ node: rec.name, ip: rec.ip, profile: out.profile, input: { file: e.file }, source: e.source }, `node ${rec.name} fetched a program of profile ${out.profile}, which is done; writing its current boot files again`);
          return true;
        case 'held': {
          // no quarantine on a line anyone could write; but no second run either: its files go
          rec.bootOnce = out.bo;
          const p = out.bo.current!.profile;
          rec.timeline = extendTimeline(rec.timeline, { time: e.time, what: `profile ${p}: rebooted without reporting (per ${e.sourceType}, not authoritative): boot files withdrawn`, source: e.source });
          log.warn({ node: rec.name, ip: rec.ip, profile: p, input: { file: e.file }, source: e.source }, `node ${rec.name} (${rec.ip}) is booting again without a report from profile ${p} (${e.sourceType} is not authoritative, so it is not failed): its boot files are withdrawn; its report still counts, else its timeout quarantines it`);
          return true;
        }
        default:
          return false;
      }
    },

    async prepare(rec, rule) {
      const production: PreparedBoot = { boot: { templates: templatesOf(rule), root: true }, state: 'ready' };
      const bo = rec.bootOnce;
      const sel = selection(bo);
      if (sel.kind === 'production' || !bo) return production;
      const report = core.config().report;
      const url = report ? reportUrl(report.listen, core.config().server) : 'none';
      // held: no per-node files, so the loaders' fallbacks apply (it must not boot the profile again)
      if (sel.kind === 'held') return { boot: { templates: {}, root: false }, state: 'verifying' };
      if (sel.kind === 'quarantine') {
        const q = profiles()[QUARANTINE_PROFILE];
        // no quarantine profile: no per-node files, so the loaders' fallbacks (pxelinux.cfg/default) apply
        if (!q) return { boot: { templates: {}, root: false }, state: 'quarantined' };
        return { boot: { templates: templatesOf(q), root: q.root === 'own', values: { report_url: url, report_token: NO_TOKEN } }, state: 'quarantined' };
      }
      const cfg = profiles()[sel.profile];
      if (!cfg) {
        // the profile was removed from the config since it was queued: skipped, the queue goes on
        const next = finish(bo, 'cancelled', Date.now(), { why: `profile ${sel.profile} is no longer configured` });
        core.state.put({ ...rec, bootOnce: next });
        track({ ...rec, bootOnce: next });
        log.warn({ node: rec.name, profile: sel.profile }, `node ${rec.name}: profile ${sel.profile} is no longer configured; skipped`);
        return rt.prepare({ ...rec, bootOnce: next }, rule);
      }
      const base = { templates: templatesOf(cfg), root: cfg.root === 'own' };
      // its files hold the token the node booted with: written once, then kept
      if (sel.current.activeAt !== undefined) return { boot: { ...base, keepFiles: true }, state: 'verifying' };
      const now = Date.now();
      const programs = await programsOf(cfg);
      const t = cfg.done_when === 'reported' ? newToken() : undefined;
      const issued = issue(bo, { now, programs, ...(t ? { tokenHash: t.hash } : {}), ...(cfg.timeout_ms !== undefined ? { timeoutMs: cfg.timeout_ms } : {}) });
      // stored before the files are written: a node can report as soon as it has them
      const cur = core.state.get(rec.name) ?? rec;
      const stored = { ...cur, bootOnce: issued };
      core.state.put(stored);
      track(stored);
      return { boot: { ...base, values: { report_url: url, report_token: t?.token ?? NO_TOKEN } }, state: 'verifying', activate: { profile: sel.profile, issuedAt: now } };
    },

    activated(name, a) {
      const rec = core.state.get(name);
      const cur = rec?.bootOnce?.current;
      // a fast node may have finished it already (served): then there is nothing to mark
      if (!rec || !cur || cur.profile !== a.profile || cur.issuedAt !== a.issuedAt) return;
      core.state.put({ ...rec, bootOnce: activated(rec.bootOnce!, Date.now()), timeline: extendTimeline(rec.timeline, { time: Date.now(), what: `profile ${a.profile}: boot files written` }) });
    },

    report(ip, r) {
      const rec = core.state.findByIp(ip);
      if (!rec) return { status: 403, body: { ok: false, error: `no node at ${ip}` } };
      const why = reportRefusal(rec.bootOnce, profiles());
      if (why) return { status: 409, body: { ok: false, error: `node ${rec.name}: ${why}` } };
      const cur = rec.bootOnce!.current!;
      if (!tokenMatches(r.token, cur.tokenHash!)) {
        log.warn({ node: rec.name, ip, profile: cur.profile }, `report for ${rec.name} (${ip}) refused: the token is not its current one`);
        return { status: 403, body: { ok: false, error: 'the token is not this node\'s current one' } };
      }
      // the token is used up with the profile: finish() moves on from it
      const bo = finish(rec.bootOnce!, r.result, Date.now(), boundDetails(r.details));
      const res = bo.results[bo.results.length - 1]!;
      commit(rec, bo, `profile ${cur.profile}: reported ${r.result}`, res);
      sayResult(rec, res, bo);
      const next = bo.quarantined ? 'quarantine' : bo.current ? `profile ${bo.current.profile}` : 'production';
      return { status: 200, body: { ok: true, node: rec.name, profile: cur.profile, result: r.result, next } };
    },

    track,

    sweep(now = Date.now()) {
      for (const [name, d] of deadlines) {
        if (d > now) continue;
        const rec = core.state.get(name);
        if (!rec || !timedOut(rec.bootOnce, now)) {
          if (rec) track(rec);
          else deadlines.delete(name);
          continue;
        }
        const bo = finish(rec.bootOnce!, 'timeout', now);
        const res = bo.results[bo.results.length - 1]!;
        commit(rec, bo, `profile ${res.profile}: timeout`, res);
        sayResult(rec, res, bo);
      }
    },

    start() {
      for (const n of core.state.all()) if (n.bootOnce?.current?.deadline !== undefined) track(n);
      timer = setInterval(() => {
        try {
          rt.sweep();
        } catch (e) {
          log.error({ err: errorMessage(e) }, `boot-once timeout check failed: ${errorMessage(e)}`);
        }
      }, SWEEP_MS);
      timer.unref();
    },

    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
  return rt;
}

/** `boot-once --cancel` (or a release by hand): the node leaves its queue and quarantine; the next provision writes production. */
export function cancelBootOnce(core: Pick<BootOnceContext, 'state' | 'metrics'> & { readonly bootOnce?: BootOnceRuntime }, rec: NodeRecord, why: string): NodeRecord {
  const bo = cancel(rec.bootOnce, Date.now(), why);
  const cur = rec.bootOnce?.current;
  if (cur) core.metrics.verification(cur.profile, 'cancelled');
  const next: NodeRecord = { ...rec, timeline: extendTimeline(rec.timeline, { time: Date.now(), what: `boot-once cancelled (${why})` }) };
  if (bo) next.bootOnce = bo;
  core.state.put(next);
  core.bootOnce?.track(next);
  return next;
}
