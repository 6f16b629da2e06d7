// One line of `journalctl -o json` -> program, message, cursor. journald gives every value as a
// string, except byte arrays for non-UTF-8 values (a PXE ROM's garbage file name) and null for
// oversized fields; repeated fields become arrays.

export interface JournalEntry {
  cursor?: string;
  /** SYSLOG_IDENTIFIER (the syslog tag) */
  identifier?: string;
  /** _COMM, set by journald from the kernel (absent for short-lived processes) */
  comm?: string;
  message: string;
  /** ms since the epoch (__REALTIME_TIMESTAMP is in µs) */
  time?: number;
}

/** A parsed entry, or why the line was not one. */
export type JournalParse = { ok: true; entry: JournalEntry } | { ok: false; reason: string };

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
  const message = field(r.MESSAGE);
  if (message === undefined) return { ok: false, reason: 'journal entry has no usable MESSAGE (missing, or over 4096 bytes)' };
  const entry: JournalEntry = { message };
  const cursor = field(r.__CURSOR);
  if (cursor) entry.cursor = cursor;
  const id = field(r.SYSLOG_IDENTIFIER);
  if (id) entry.identifier = id;
  const comm = field(r._COMM);
  if (comm) entry.comm = comm;
  const us = field(r.__REALTIME_TIMESTAMP);
  if (us && /^\d{1,20}$/.test(us)) entry.time = Math.floor(Number(us) / 1000);
  return { ok: true, entry };
}

/** The trusted program an entry speaks for: its identifier, else its _COMM, if either is trusted. */
export function trustedProgramOf(e: JournalEntry, trusted: ReadonlySet<string>): string | undefined {
  if (e.identifier !== undefined && trusted.has(e.identifier)) return e.identifier;
  if (e.comm !== undefined && trusted.has(e.comm)) return e.comm;
  return undefined;
}

/** `--since` value for a time in ms since the epoch (journalctl takes `@seconds.fraction`). */
export function sinceArg(ms: number): string {
  const t = Math.max(0, Math.floor(ms));
  return `--since=@${Math.floor(t / 1000)}.${String(t % 1000).padStart(3, '0')}`;
}

/**
 * journalctl argv: follow JSON from now, or after `cursor` (a restart after lines were seen), or
 * from `sinceMs` (a restart before any line was seen: the lines logged while journalctl was down
 * are read, not skipped as `-n 0` would). Matches SYSLOG_IDENTIFIER=x OR _COMM=x for each x:
 * journalctl ORs matches of the same field and ANDs different fields, so the two groups are
 * joined with "+" (a disjunction of groups).
 */
export function journalctlArgv(cmd: string, identifiers: readonly string[], directory?: string, cursor?: string, sinceMs?: number): string[] {
  const argv = [cmd, '-f', '-o', 'json', '--no-pager'];
  if (cursor) argv.push(`--after-cursor=${cursor}`);
  else if (sinceMs !== undefined) argv.push(sinceArg(sinceMs));
  else argv.push('-n', '0');
  if (directory) argv.push('-D', directory);
  for (const id of identifiers) argv.push(`SYSLOG_IDENTIFIER=${id}`);
  argv.push('+');
  for (const id of identifiers) argv.push(`_COMM=${id.slice(0, 15)}`);
  return argv;
}
