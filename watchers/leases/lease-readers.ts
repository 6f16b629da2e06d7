// One reader per lease-file flavour: each turns "something changed near the file" into a lease
// outcome, absorbing that flavour's write pattern (formats.md §5): dnsmasq's in-place truncate-and-
// rewrite, ISC's append journal with an hourly rename, Kea's append CSV with LFC rotation.
// (No push(...spread): a 4 MiB chunk of garbage can hold 100,000s of bad blocks.)
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { BadInput } from '../../src/types.ts';
import type { Lease, LeaseUpdate } from './lease.ts';
import { completeLines } from './dnsmasq-parser.ts';
import { buildDnsmasqState, updateDnsmasqState, type DnsmasqState } from './dnsmasq-incremental.ts';
import { createIscParser, feedIscParser, type IscParser } from './isc-parser.ts';
import { createKeaParser, feedKeaParser, type KeaParser } from './kea-parser.ts';
import { readAppended, type TailState } from './file-tail.ts';
import { openRegular, readOpened, READ_LIMITS } from '../../src/safe-open.ts';

/** What a read found: the file is missing, a full set of current leases, or updates since the last read. */
export type ReadOutcome =
  | { kind: 'missing' }
  | { kind: 'unchanged' }
  | { kind: 'full'; leases: Map<string, Lease>; partial: boolean; bad: BadInput[]; states?: Map<string, string> }
  | { kind: 'delta'; updates: LeaseUpdate[]; bad: BadInput[]; partial?: boolean };

/** A flavour's reader: `relevant` filters directory entries, `read` is called on every change. */
export interface LeaseReader {
  relevant(name: string): boolean;
  /** `poll`: only a periodic safety check; readers may answer 'unchanged' cheaply */
  read(poll: boolean): Promise<ReadOutcome>;
}

function enoent(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT';
}

/** A file that stays cut mid-line this long is taken as it is (a hand edit without a final newline). */
const STALE_PARTIAL_MS = 1000;

/**
 * dnsmasq: read the whole file, parse only the lines that changed since the last read; a trailing line
 * without "\n" (mid-rewrite) is cut off and the read flagged partial. A file whose whole lines are only
 * a beginning of the last text (truncated and not yet rewritten) changes nothing and is flagged partial
 * too, until it holds still for STALE_PARTIAL_MS (a real removal of the last leases is taken then).
 */
export function createDnsmasqReader(file: string, source: string): LeaseReader {
  const base = path.basename(file);
  let sig = '';
  let partialSince = 0;
  let state: DnsmasqState | undefined;
  return {
    relevant: (name) => name === base,
    async read(poll) {
      let opened;
      try {
        // only a regular file, never blocking (a FIFO) and never endless (/dev/zero): safe-open.ts
        opened = await openRegular(file);
      } catch (e) {
        if (enoent(e)) return { kind: 'missing' };
        throw e;
      }
      try {
        const st = opened.st;
        const s = `${st.ino}:${st.size}:${st.mtimeMs}`;
        if (poll && s === sig && partialSince === 0) return { kind: 'unchanged' };
        // one decode of the whole buffer: readFile(file, 'latin1') decodes per chunk into a cons string that
        // the first charCodeAt then flattens (two extra passes over a 7.5 MB file)
        const text = (await readOpened(file, opened.fh, st, READ_LIMITS.leaseFileBytes, 'a dnsmasq leases file')).toString('latin1');
        const now = Date.now();
        let c = completeLines(text);
        // dnsmasq's rewrite caught midway (truncated, then written in pieces): its whole lines are
        // only a beginning of the text we hold. Taken as is, that read would remove every lease after
        // the cut and the next read add them all back: O(leases) work and garbage on a lone lease's path
        let shrunk = state !== undefined && c.text.length < state.text.length && state.text.startsWith(c.text);
        if ((c.partial || shrunk) && s === sig && partialSince !== 0 && now - partialSince >= STALE_PARTIAL_MS) {
          c = { text, partial: false };
          shrunk = false;
        }
        if (!c.partial && !shrunk) partialSince = 0;
        else if (s !== sig || partialSince === 0) partialSince = now;
        sig = s;
        // nothing to take yet: read again soon (partial), and take it as is once it has held still
        if (shrunk) return { kind: 'delta', updates: [], partial: true, bad: [] };
        const bad: BadInput[] = [];
        if (!state) {
          state = buildDnsmasqState(c.text, source, bad);
          return { kind: 'full', leases: state.leases, partial: c.partial, bad };
        }
        const updates = updateDnsmasqState(state, c.text, source, bad);
        return { kind: 'delta', updates, partial: c.partial, bad };
      } finally {
        await opened.fh.close().catch(() => {});
      }
    },
  };
}

/** ISC: follow appends from the last offset; a new inode (hourly rename) or truncation -> full re-read. */
export function createIscReader(file: string, source: string): LeaseReader {
  const base = path.basename(file);
  let tail: TailState | undefined;
  let parser: IscParser = createIscParser(source);
  let known = new Map<string, LeaseUpdate>();
  return {
    // dhcpd.leases~ (hard link to the old file) and dhcpd.leases.<time> (the new one, pre-rename) are not ours
    relevant: (name) => name === base,
    async read() {
      const updates: LeaseUpdate[] = [];
      const bad: BadInput[] = [];
      let fresh: Map<string, LeaseUpdate> | undefined;
      const r = await readAppended(
        file,
        tail,
        (text) => {
          const out = feedIscParser(parser, text);
          for (const u of out.updates) (fresh ?? known).set(u.ip, u);
          if (!fresh) for (const u of out.updates) updates.push(u);
          for (const b of out.bad) bad.push(b);
        },
        () => {
          parser = createIscParser(source);
          fresh = new Map();
        },
      );
      if (!r) return { kind: 'missing' };
      tail = r.state;
      if (fresh) {
        known = fresh;
        return { kind: 'full', leases: activeOnly(known), partial: false, bad, states: inactiveStates(known) };
      }
      return { kind: 'delta', updates, bad };
    },
  };
}

function activeOnly(m: Map<string, LeaseUpdate>): Map<string, Lease> {
  const out = new Map<string, Lease>();
  for (const [ip, u] of m) if (u.active) out.set(ip, u);
  return out;
}

/** ip -> the source's word for why it is not active ("free", "deleted", …), for gone reasons */
function inactiveStates(m: Map<string, LeaseUpdate>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [ip, u] of m) if (!u.active) out.set(ip, u.state);
  return out;
}

interface KeaFile {
  tail?: TailState;
  parser: KeaParser;
  rows: Map<string, LeaseUpdate>;
}

/**
 * Kea: the state is `.completed` (when kea-lfc left one) or `.2` ∪ `.1`, then the live file, last row
 * per address winning. Each file is followed by offset; LFC's renames show up as new inodes.
 */
export function createKeaReader(file: string, source: string, hooks: { afterFile?: (suffix: string) => Promise<void> } = {}): LeaseReader {
  const base = path.basename(file);
  const suffixes = ['.completed', '.2', '.1', ''] as const;
  const files = new Map<string, KeaFile>(suffixes.map((s) => [s, { parser: createKeaParser(`${source}${s}`), rows: new Map() }]));
  return {
    relevant: (name) => name === base || suffixes.some((s) => s !== '' && name === base + s),
    async read() {
      const bad: BadInput[] = [];
      const present = new Set<string>();
      // kea-lfc renames and unlinks between our reads of the four files: a read that saw an old `.2`
      // but not the `.1` (or `.completed`) that superseded it would bring back a deleted lease. The
      // set of files is checked again after reading them, and read again until it held still.
      for (let attempt = 0; attempt < KEA_CONSISTENT_READS; attempt++) {
        present.clear();
        await readKeaFiles(bad, present);
        if (await sameFiles(file, suffixes, files)) break;
      }
      if (present.size === 0) return { kind: 'missing' };
      const order = present.has('.completed') ? (['.completed', ''] as const) : (['.2', '.1', ''] as const);
      const merged = new Map<string, LeaseUpdate>();
      for (const s of order) for (const [ip, u] of files.get(s)!.rows) merged.set(ip, u);
      return { kind: 'full', leases: activeOnly(merged), partial: false, bad, states: inactiveStates(merged) };
    },
  };

  // `hooks.afterFile` lets a test rename files between two of these reads, as kea-lfc does
  async function readKeaFiles(bad: BadInput[], present: Set<string>): Promise<void> {
    for (const s of suffixes) {
      const f = files.get(s)!;
      const r = await readAppended(
        file + s,
        f.tail,
        (text) => {
          const out = feedKeaParser(f.parser, text);
          for (const u of out.updates) f.rows.set(u.ip, u);
          for (const b of out.bad) bad.push(b);
        },
        () => {
          f.parser = createKeaParser(`${source}${s}`);
          f.rows = new Map();
        },
      );
      if (r) {
        f.tail = r.state;
        present.add(s);
      } else {
        f.tail = undefined;
        f.rows = new Map();
      }
      await hooks.afterFile?.(s);
    }
  }
}

/** How often a Kea read is repeated while kea-lfc changes the file set under it. */
const KEA_CONSISTENT_READS = 10;

/** Whether each of the Kea files is still the one (or still absent as) last read. */
async function sameFiles(file: string, suffixes: readonly string[], files: Map<string, KeaFile>): Promise<boolean> {
  for (const s of suffixes) {
    const was = files.get(s)!.tail;
    let now: { dev: number; ino: number } | undefined;
    try {
      now = await stat(file + s);
    } catch {
      now = undefined;
    }
    if ((was === undefined) !== (now === undefined)) return false;
    if (was && now && (was.dev !== now.dev || was.ino !== now.ino)) return false;
  }
  return true;
}
