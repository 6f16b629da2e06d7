// One line of `journalctl -o json` -> program, message, cursor, and the sender as journald saw it.
// journald gives every value as a string, except byte arrays for non-UTF-8 values (a PXE ROM's
// garbage file name) and null for oversized fields; repeated fields become arrays.
//
// Fields whose names start with "_" are journald's own ("trusted fields"): a client cannot set
// them (journald drops them from what it receives), and _UID/_GID/_PID come from the kernel's
// credentials on the socket (SCM_CREDENTIALS), which only root can fake. _COMM and _EXE are read
// by journald from /proc/<_PID> and are absent when the sender exited first. So the tag
// (SYSLOG_IDENTIFIER) is a claim, and _UID plus _EXE/_COMM say whether the real daemon made it.

export interface JournalEntry {
  cursor?: string;
  /** SYSLOG_IDENTIFIER (the syslog tag) */
  identifier?: string;
  /** _COMM, set by journald from the kernel (absent for short-lived processes) */
  comm?: string;
  /** _UID: the sender's uid from the kernel's socket credentials */
  uid?: number;
  /** _EXE, the sender's executable (/proc/PID/exe; " (deleted)" after an upgrade is stripped); absent for short-lived processes */
  exe?: string;
  message: string;
  /** ms since the epoch (__REALTIME_TIMESTAMP is in µs) */
  time?: number;
}

/** A parsed entry, or why the line was not one (with what could be read of it: whose it is, its cursor). */
export type JournalParse = { ok: true; entry: JournalEntry } | { ok: false; reason: string; partial?: Omit<JournalEntry, 'message'> };

function field(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((x) => typeof x === 'number' && x >= 0 && x <= 255)) return Buffer.from(v as number[]).toString('latin1');
    const first = v.find((x) => typeof x === 'string');
    return typeof first === 'string' ? first : undefined;
  }
  return undefined;
}

/** Parse one JSON line from journalctl; entries without a MESSAGE are reported, not thrown. */
export function parseJournalLine(line: string): JournalParse {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'journalctl printed a line that is not JSON' };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { ok: false, reason: 'journal entry is not a JSON object' };
  const r = o as Record<string, unknown>;
  const entry: Omit<JournalEntry, 'message'> = {};
  const cursor = field(r.__CURSOR);
  if (cursor) entry.cursor = cursor;
  const id = field(r.SYSLOG_IDENTIFIER);
  if (id) entry.identifier = id;
  const comm = field(r._COMM);
  if (comm) entry.comm = comm;
  const uid = field(r._UID);
  if (uid !== undefined && /^\d{1,10}$/.test(uid) && Number(uid) <= 0xffff_fffe) entry.uid = Number(uid);
  const exe = field(r._EXE);
  if (exe) entry.exe = exe.endsWith(' (deleted)') ? exe.slice(0, -' (deleted)'.length) : exe;
  const us = field(r.__REALTIME_TIMESTAMP);
  if (us && /^\d{1,20}$/.test(us)) entry.time = Math.floor(Number(us) / 1000);
  const message = field(r.MESSAGE);
  if (message === undefined) return { ok: false, reason: 'journal entry has no usable MESSAGE (missing, or over 4096 bytes)', partial: entry };
  return { ok: true, entry: { ...entry, message } };
}

/** The trusted program an entry speaks for: its identifier, else its _COMM, if either is trusted. */
export function trustedProgramOf(e: JournalEntry, trusted: ReadonlySet<string>): string | undefined {
  if (e.identifier !== undefined && trusted.has(e.identifier)) return e.identifier;
  if (e.comm !== undefined && trusted.has(e.comm)) return e.comm;
  return undefined;
}

/**
 * The executable each program tag belongs to: an entry tagged `dnsmasq-dhcp` speaks for the daemon
 * whose binary is `dnsmasq`. A tag missing here can never be trusted evidence.
 */
export const PROGRAM_EXECUTABLES: Readonly<Record<string, string>> = {
  'in.tftpd': 'in.tftpd',
  atftpd: 'atftpd',
  dnsmasq: 'dnsmasq',
  'dnsmasq-tftp': 'dnsmasq',
  'dnsmasq-dhcp': 'dnsmasq',
};

/** Whether journald's trusted fields show the real daemon wrote an entry, and if not, why. */
export type JournalEvidence = { trusted: true; why: string } | { trusted: false; why: string };

/**
 * Classify an entry that speaks for `program`: trusted when _UID is one of `trustedUids` (root and
 * the daemons' own users) and the sender's executable is the program's: _EXE's base name when
 * journald recorded it, and _COMM (15 chars at most) when it did; for root at least one of the two
 * must be there. A local user's `logger -t in.tftpd` fails on _UID; root's on _EXE/_COMM (logger).
 */
export function journalEvidence(e: JournalEntry, program: string, trustedUids: ReadonlySet<number>): JournalEvidence {
  const bin = Object.hasOwn(PROGRAM_EXECUTABLES, program) ? PROGRAM_EXECUTABLES[program] : undefined;
  if (bin === undefined) return { trusted: false, why: `no known executable for program ${program}` };
  if (e.uid === undefined) return { trusted: false, why: 'no _UID' };
  if (!trustedUids.has(e.uid)) return { trusted: false, why: `_UID ${e.uid} is not a trusted user` };
  // a short-lived sender (in.tftpd's per-transfer child) may exit before journald reads /proc:
  // a daemon user's uid alone still proves it (nothing else runs as tftp or dnsmasq), root's does not
  if (e.exe === undefined && e.comm === undefined) {
    return e.uid !== 0 ? { trusted: true, why: `uid ${e.uid}, a daemon user (the sender exited before journald read _EXE/_COMM)` } : { trusted: false, why: 'root, and neither _EXE nor _COMM (the sender exited first)' };
  }
  if (e.exe !== undefined && e.exe.slice(e.exe.lastIndexOf('/') + 1) !== bin) return { trusted: false, why: `_EXE ${e.exe} is not ${bin}` };
  if (e.comm !== undefined && e.comm !== bin.slice(0, 15)) return { trusted: false, why: `_COMM ${e.comm} is not ${bin}` };
  return { trusted: true, why: `${e.exe ?? e.comm}, uid ${e.uid}` };
}

/** Users whose processes count as the daemons when a journal source names none: root and the Debian packages' daemon users. */
export const DEFAULT_TRUSTED_USERS: readonly string[] = ['root', 'tftp', 'dnsmasq'];

/** name -> uid from /etc/passwd text; malformed lines are skipped (the first entry of a name wins). */
export function parsePasswd(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || f[0]!.startsWith('#') || !/^\d{1,10}$/.test(f[2]!)) continue;
    if (!out.has(f[0]!)) out.set(f[0]!, Number(f[2]));
  }
  return out;
}

/**
 * The uids of `names` (root is always uid 0). `missing` lists names /etc/passwd does not have:
 * a configured one is worth a warning; a default one (no tftpd-hpa on this host) is not.
 */
export function resolveTrustedUsers(names: readonly string[], passwd: ReadonlyMap<string, number>): { uids: Set<number>; missing: string[] } {
  const uids = new Set<number>();
  const missing: string[] = [];
  for (const n of names) {
    const uid = n === 'root' ? 0 : passwd.get(n);
    if (uid === undefined) missing.push(n);
    else uids.add(uid);
  }
  return { uids, missing };
}

/** `--since` value for a time in ms since the epoch (journalctl takes `@seconds.fraction`). */
export function sinceArg(ms: number): string {
  const t = Math.max(0, Math.floor(ms));
  return `--since=@${Math.floor(t / 1000)}.${String(t % 1000).padStart(3, '0')}`;
}

/** The fields the watcher reads; journalctl adds __CURSOR and the timestamps itself. */
export const JOURNAL_FIELDS = ['MESSAGE', 'SYSLOG_IDENTIFIER', '_COMM', '_UID', '_EXE'] as const;

/**
 * journalctl argv: follow JSON from now, or after `cursor` (a restart after lines were seen), or
 * from `sinceMs` (a restart before any line was seen: the lines logged while journalctl was down
 * are read, not skipped as `-n 0` would). No match terms: the watcher picks its programs itself
 * (trustedProgramOf). A disjunction `SYSLOG_IDENTIFIER=x + _COMM=x` made journalctl 252 with
 * `-f -n 0` drop the first matching entry after it started (seen with a fresh journald), and
 * `--output-fields` keeps the unmatched entries small.
 */
export function journalctlArgv(cmd: string, directory?: string, cursor?: string, sinceMs?: number): string[] {
  const argv = [cmd, '-f', '-o', 'json', `--output-fields=${JOURNAL_FIELDS.join(',')}`, '--no-pager'];
  if (cursor) argv.push(`--after-cursor=${cursor}`);
  else if (sinceMs !== undefined) argv.push(sinceArg(sinceMs));
  else argv.push('-n', '0');
  if (directory) argv.push('-D', directory);
  return argv;
}
