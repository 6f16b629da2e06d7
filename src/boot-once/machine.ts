// The boot-once state machine, pure: a node's queue of profiles (memtest, verify, ...), the one it
// boots now, how each ends, and quarantine. Every function takes a record and returns a new one (or
// the same one when nothing changes); the daemon stores it and writes the files `selection` names.
//
// Loop guard (the failure of tinkerbell/tink#116, #666 and tinkerbell#951): a profile gets at most
// one boot. A served profile is done at the first fetch of its program; a reporting profile whose
// node starts a second boot without a report has had its boot: told by boot evidence (src/trust.ts:
// the dnsmasq hook, or a journald entry whose sender is attested as the daemon) it is quarantined;
// told only by a log line any local user could forge, it is held:
// its files are withdrawn (the loaders' fallback, so no further boot of it) but nothing fails, its
// token still counts and its timeout decides. A profile that is done never comes back into the
// queue, and a later fetch of its program only makes the daemon write the files of whatever is
// current again.
import type { BootOnceRecord, CurrentProfile, ProfileConfig, ProfileOutcome, ProfileResult } from '../types.ts';
import { isProgramOf } from './programs.ts';

/** Finished profiles kept per node (status shows them; older ones are dropped). */
export const RESULTS_MAX = 16;

/** What a node's boot files are rendered from right now. */
export type Selection =
  | { kind: 'production' }
  | { kind: 'profile'; profile: string; current: CurrentProfile }
  /** the current profile booted again without a report (untrusted evidence): no per-node files */
  | { kind: 'held'; profile: string; current: CurrentProfile }
  | { kind: 'quarantine' };

/** Outcomes that send a node to quarantine instead of on. */
const FAILING: ReadonlySet<ProfileOutcome> = new Set(['fail', 'timeout', 'rebooted']);

/** A record with nothing queued, current or quarantined carries only history. */
export function isIdle(bo: BootOnceRecord | undefined): boolean {
  return !bo || (!bo.current && bo.queue.length === 0 && !bo.quarantined);
}

/** Which files the node gets: quarantine wins, then the current profile (held: none), then production. */
export function selection(bo: BootOnceRecord | undefined): Selection {
  if (bo?.quarantined) return { kind: 'quarantine' };
  if (bo?.current?.held) return { kind: 'held', profile: bo.current.profile, current: bo.current };
  if (bo?.current) return { kind: 'profile', profile: bo.current.profile, current: bo.current };
  return { kind: 'production' };
}

function pushResult(results: ProfileResult[], r: ProfileResult): ProfileResult[] {
  const next = results.concat([r]);
  return next.length > RESULTS_MAX ? next.slice(next.length - RESULTS_MAX) : next;
}

/**
 * Queue profiles for the next boots (after any already queued). Refused for a quarantined node:
 * it leaves quarantine only by release or cancel, never by a new queue.
 */
export function enqueue(bo: BootOnceRecord | undefined, profiles: string[]): { bo: BootOnceRecord } | { error: string } {
  const cur: BootOnceRecord = bo ?? { queue: [], results: [] };
  if (cur.quarantined) return { error: `quarantined since ${new Date(cur.quarantined.since).toISOString()} (${cur.quarantined.profile}: ${cur.quarantined.why}): release it or run boot-once --cancel first` };
  if (profiles.length === 0) return { error: 'no profile given' };
  const all = [...cur.queue, ...profiles];
  if (cur.current) return { bo: { ...cur, queue: all } };
  const [first, ...rest] = all;
  return { bo: { ...cur, current: { profile: first! }, queue: rest } };
}

/** End the current profile with `result` and go on (a pass or a serve) or into quarantine. */
export function finish(bo: BootOnceRecord, result: ProfileOutcome, now: number, details?: unknown): BootOnceRecord {
  const cur = bo.current;
  if (!cur) return bo;
  const r: ProfileResult = { profile: cur.profile, result, time: now };
  if (details !== undefined) r.details = details;
  else if (cur.held && result !== 'pass' && result !== 'fail') r.details = { rebootedWithoutReport: cur.held };
  if (cur.programs?.length) r.programs = cur.programs;
  const results = pushResult(bo.results, r);
  if (FAILING.has(result)) {
    const held = cur.held ? ` (it booted again without reporting, per ${cur.held.source ?? 'a log'})` : '';
    const why = result === 'timeout' ? `no result before its timeout${held}` : result === 'rebooted' ? 'booted again without reporting' : 'reported fail';
    return { queue: [], results, quarantined: { since: now, profile: cur.profile, why } };
  }
  const [next, ...rest] = bo.queue;
  return next === undefined ? { queue: [], results } : { queue: rest, results, current: { profile: next } };
}

/** boot-once --cancel or release: nothing queued, no quarantine; a current profile is recorded as cancelled. */
export function cancel(bo: BootOnceRecord | undefined, now: number, why: string): BootOnceRecord | undefined {
  if (!bo) return undefined;
  const results = bo.current ? pushResult(bo.results, { profile: bo.current.profile, result: 'cancelled', time: now, details: { why } }) : bo.results;
  return { queue: [], results };
}

/** The token was issued and the programs are known: the files are about to be written. */
export function issue(bo: BootOnceRecord, c: { now: number; tokenHash?: string; programs: string[]; timeoutMs?: number }): BootOnceRecord {
  if (!bo.current) return bo;
  const current: CurrentProfile = { profile: bo.current.profile, issuedAt: c.now, programs: c.programs };
  if (c.tokenHash !== undefined) current.tokenHash = c.tokenHash;
  if (c.timeoutMs !== undefined) current.deadline = c.now + c.timeoutMs;
  return { ...bo, current };
}

/** The files of the current profile are written (from now on they are kept as they are). */
export function activated(bo: BootOnceRecord, now: number): BootOnceRecord {
  if (!bo.current || bo.current.activeAt !== undefined) return bo;
  return { ...bo, current: { ...bo.current, activeAt: now } };
}

/** What a fetched file means for a node in boot-once. */
export type FetchOutcome =
  /** nothing to do */
  | { kind: 'none' }
  /** the current profile is done (served) or has had its one boot (rebooted): `bo` is the new record */
  | { kind: 'advanced'; bo: BootOnceRecord; result: ProfileResult }
  /** the reporting profile's program was fetched: the node is booting it */
  | { kind: 'booted'; bo: BootOnceRecord }
  /** a program of a profile that is already done: write the current files again (idempotent) */
  | { kind: 'stale'; profile: string }
  /** a second boot of a reporting profile told by a source that may not fail a node: its files are withdrawn (`bo` holds it) */
  | { kind: 'held'; bo: BootOnceRecord };

/**
 * A TFTP/HTTP fetch of `file` by the node at `now`. `isBootStart(file)` says whether the file starts
 * a boot (pxelinux.0, *.efi); `guardMs` is how long repeats belong to the same boot; `trusted` is
 * whether the event may end a profile as failed (trust.ts isBootEvidence: a syslog line may mark a
 * served profile done, it may not quarantine a node).
 */
export function onFetch(
  bo: BootOnceRecord,
  file: string,
  now: number,
  profiles: Readonly<Record<string, ProfileConfig>>,
  o: { isBootStart: (file: string) => boolean; guardMs: number; trusted: boolean; source?: string },
): FetchOutcome {
  const cur = bo.current;
  if (bo.quarantined) return { kind: 'none' };
  if (cur && cur.issuedAt !== undefined) {
    const cfg = profiles[cur.profile];
    // a second boot of a reporting profile: a trusted source ends it (quarantine); an untrusted one
    // holds it (files withdrawn, nothing failed), once
    const rebooted = (): FetchOutcome => {
      if (o.trusted) {
        const next = finish(bo, 'rebooted', now, { file });
        return { kind: 'advanced', bo: next, result: next.results[next.results.length - 1]! };
      }
      if (cur.held) return { kind: 'none' };
      const held: NonNullable<CurrentProfile['held']> = { since: now, file };
      if (o.source !== undefined) held.source = o.source;
      return { kind: 'held', bo: { ...bo, current: { ...cur, held } } };
    };
    if (isProgramOf(file, cur.programs)) {
      if (cfg?.done_when === 'served') {
        const next = finish(bo, 'served', now, { file });
        return { kind: 'advanced', bo: next, result: next.results[next.results.length - 1]! };
      }
      if (cur.bootedAt === undefined) return { kind: 'booted', bo: { ...bo, current: { ...cur, bootedAt: now } } };
      // the same program again, long after: a second boot of this profile
      if (now - cur.bootedAt < o.guardMs) return { kind: 'none' };
      return rebooted();
    }
    // a boot start (pxelinux.0, grubx64.efi) after the reporting profile's program: booting again
    if (cfg?.done_when === 'reported' && cur.bootedAt !== undefined && now - cur.bootedAt >= o.guardMs && o.isBootStart(file)) return rebooted();
  }
  // a served profile that is already done, booted again (its files were not replaced in time, or a
  // loader cached them): never queued again; the current files are written once more
  if (cur || bo.queue.length) {
    for (let i = bo.results.length - 1; i >= 0; i--) {
      const r = bo.results[i]!;
      if (r.result === 'served' && isProgramOf(file, r.programs) && !(cur && isProgramOf(file, cur.programs))) return { kind: 'stale', profile: r.profile };
    }
  }
  return { kind: 'none' };
}

/** Why a report for this record is refused, or undefined when the current profile takes one. */
export function reportRefusal(bo: BootOnceRecord | undefined, profiles: Readonly<Record<string, ProfileConfig>>): string | undefined {
  const cur = bo?.current;
  if (!cur) return 'no profile is current for this node';
  if (profiles[cur.profile]?.done_when !== 'reported') return `profile ${cur.profile} does not take reports`;
  if (!cur.tokenHash) return `profile ${cur.profile} has no unused token`;
  return undefined;
}

/** The current profile's deadline has passed: the node failed it. */
export function timedOut(bo: BootOnceRecord | undefined, now: number): boolean {
  const d = bo?.current?.deadline;
  return d !== undefined && !bo!.quarantined && now >= d;
}

/** One line on a node's boot-once state, for status and explain. */
export function describeBootOnce(bo: BootOnceRecord | undefined): string | undefined {
  if (!bo) return undefined;
  const parts: string[] = [];
  if (bo.quarantined) parts.push(`quarantined since ${new Date(bo.quarantined.since).toISOString()} (${bo.quarantined.profile}: ${bo.quarantined.why})`);
  if (bo.current) {
    const c = bo.current;
    const st = c.held
      ? `rebooted without reporting at ${new Date(c.held.since).toISOString()} per ${c.held.source ?? 'a log'}, not authoritative: boot files withdrawn`
      : c.bootedAt ? 'booted' : c.activeAt ? 'files written' : 'files pending';
    parts.push(`current ${c.profile} (${st}${c.deadline ? `, until ${new Date(c.deadline).toISOString()}` : ''})`);
  }
  if (bo.queue.length) parts.push(`queued ${bo.queue.join(', ')}`);
  if (bo.results.length) parts.push(`done ${bo.results.map((r) => `${r.profile}=${r.result}`).join(', ')}`);
  return parts.join('; ') || undefined;
}

/**
 * The node's files were taken away (release): the current profile starts over at its next
 * provision, with a new token and deadline; whatever booted with the old files can no longer report.
 */
export function deactivate(bo: BootOnceRecord | undefined): BootOnceRecord | undefined {
  if (!bo?.current || bo.current.issuedAt === undefined) return bo;
  return { ...bo, current: { profile: bo.current.profile } };
}
