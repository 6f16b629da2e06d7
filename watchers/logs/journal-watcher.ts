// Watcher for journald: runs `journalctl -f -o json` through the Runner, turns trusted entries into
// events with the same message parsers as the syslog file, and restarts journalctl with backoff if
// it exits: after the last cursor, or (when no line was seen yet) from the first start's time, so
// lines logged while journalctl was down are read, never skipped. An event whose entry journald's
// trusted fields show came from the real daemon (journalEvidence) carries `evidence: 'trusted'`.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { WatcherContext } from '../../src/contracts.ts';
import type { Watcher } from '../../src/types.ts';
import { printable } from '../../src/validate.ts';
import { DEFAULT_TRUSTED_USERS, journalctlArgv, journalEvidence, parseJournalLine, parsePasswd, resolveTrustedUsers, trustedProgramOf } from './journal-entry.ts';
import { eventFromMessage } from './log-events.ts';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** a journalctl that ran this long was healthy: the next failure starts the backoff afresh */
const HEALTHY_MS = 10_000;
/** distinct reasons for unattested entries logged per watcher (each once) */
const UNATTESTED_MAX = 32;
/** stop() waits this long for journalctl to exit on SIGTERM before it sends SIGKILL */
const KILL_AFTER_MS = 1000;

/** The uids whose entries may be attested, from `passwdPath` (a missing default user is not worth a warning). */
function trustedUidsOf(ctx: WatcherContext, names: readonly string[] | undefined, passwdPath: string, source: string): Set<number> {
  let passwd = new Map<string, number>();
  try {
    passwd = parsePasswd(readFileSync(passwdPath, 'utf8'));
  } catch (e) {
    ctx.log.warn({ source, path: passwdPath }, `cannot read ${passwdPath} (${(e as Error).message}): only root's entries can be attested`);
  }
  const r = resolveTrustedUsers(names ?? DEFAULT_TRUSTED_USERS, passwd);
  if (names !== undefined && r.missing.length) ctx.log.warn({ source, users: r.missing }, `trusted_users: no user ${r.missing.join(', ')} in ${passwdPath}; ignored`);
  return r.uids;
}

/** The `journal` source: `{ type: 'journal', identifiers, directory?, trusted_users? }`; `passwdPath` is for tests. */
export function createJournalWatcher(ctx: WatcherContext, o: { passwdPath?: string } = {}): Watcher {
  if (ctx.source.type !== 'journal') throw new Error(`journal watcher given a ${ctx.source.type} source`);
  const src = ctx.source;
  const ids = src.identifiers.length ? src.identifiers : ctx.config.trusted_programs;
  const trusted = new Set(ids);
  const source = `journal:${src.directory ?? 'system'}`;
  const opts = { source, sourceType: 'journal' as const, tftpRoot: ctx.config.tftp_root };
  let child: ReturnType<WatcherContext['runner']['spawn']> | undefined;
  let cursor: string | undefined;
  /** when the first journalctl started (with -n 0): a restart without a cursor reads from here */
  let firstLaunchAt: number | undefined;
  let stopped = true;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let lineNo = 0;
  /** resolved at start: entries from these uids running the program's executable are attested */
  let trustedUids: ReadonlySet<number> = new Set();
  /** why entries were not attested, each said once (bounded: _EXE paths are chosen by whoever logs) */
  const unattested = new Set<string>();
  const noteUnattested = (program: string, why: string) => {
    const key = `${program}: ${why}`;
    if (unattested.has(key) || unattested.size >= UNATTESTED_MAX) return;
    unattested.add(key);
    ctx.log.info({ source, program, why: printable(why) }, `journal: a ${program} entry is not attested as the daemon's (${printable(why)}): such entries provision nodes and may hold a boot-once profile, never fail it (said once per reason)`);
  };

  const onLine = (line: string) => {
    lineNo++;
    if (line.length === 0) return;
    const r = parseJournalLine(line);
    if (!r.ok) {
      if (r.partial?.cursor) cursor = r.partial.cursor;
      // journalctl prints every entry: another program's unusable entry is none of our business
      if (!r.partial || trustedProgramOf({ ...r.partial, message: '' }, trusted) !== undefined) ctx.sink.bad({ source, line: lineNo, reason: r.reason, sample: printable(line) });
      return;
    }
    if (r.entry.cursor) cursor = r.entry.cursor;
    const program = trustedProgramOf(r.entry, trusted);
    if (program === undefined) return; // journalctl prints every entry: only the trusted programs' count
    const ev = eventFromMessage(program, r.entry.message, opts);
    if (ev.bad) ctx.sink.bad({ ...ev.bad, line: lineNo });
    if (ev.event?.kind === 'seen') {
      const why = journalEvidence(r.entry, program, trustedUids);
      if (why.trusted) ev.event.evidence = 'trusted';
      else noteUnattested(program, why.why);
    }
    if (ev.event) ctx.sink.event(ev.event);
  };

  const launch = () => {
    if (stopped) return;
    const startedAt = Date.now();
    const argv = journalctlArgv(ctx.config.commands.journalctl, src.directory, cursor, firstLaunchAt);
    firstLaunchAt ??= startedAt;
    let sub: NonNullable<typeof child>;
    try {
      sub = ctx.runner.spawn(argv);
    } catch (e) {
      scheduleRestart(startedAt, `could not start journalctl: ${(e as Error).message}`);
      return;
    }
    child = sub;
    let stderr = '';
    sub.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
    });
    if (sub.stdout) createInterface({ input: sub.stdout, crlfDelay: Infinity }).on('line', onLine);
    void sub.then((res) => {
      if (child === sub) child = undefined;
      if (stopped) return;
      const how = res.signal ? `killed by ${res.signal}` : `exit ${res.exitCode}`;
      scheduleRestart(startedAt, `journalctl ended (${how})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-2).join(' | ')}` : ''}`);
    });
  };

  const scheduleRestart = (startedAt: number, why: string) => {
    if (Date.now() - startedAt > HEALTHY_MS) failures = 0;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** failures);
    failures++;
    ctx.log.warn({ source, delayMs: delay, failures }, `${why}; restarting in ${delay} ms${cursor ? ' after the last entry seen' : ''}`);
    restartTimer = setTimeout(launch, delay);
  };

  return {
    name: source,
    async start() {
      trustedUids = trustedUidsOf(ctx, src.trusted_users, o.passwdPath ?? '/etc/passwd', source);
      ctx.log.info({ source, uids: [...trustedUids] }, trustedUids.size ? `journal entries from uid ${[...trustedUids].join(', ')} running the tagged daemon's executable are attested (boot evidence)` : 'no journal entry is attested (trusted_users is empty)');
      stopped = false;
      launch();
    },
    async stop() {
      stopped = true;
      if (restartTimer) clearTimeout(restartTimer);
      const c = child;
      child = undefined;
      if (c) {
        c.kill('SIGTERM');
        const hard = setTimeout(() => c.kill('SIGKILL'), KILL_AFTER_MS);
        await c;
        clearTimeout(hard);
      }
    },
  };
}
