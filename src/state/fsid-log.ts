// The text of fsids.log, pure: an append-only journal of fsid assignments next to fsids.json, so
// that making one new node's fsid durable appends one short line (and fsyncs it) instead of
// rewriting a file that grows with the node count. One JSON object per line, for an fsid handed
// out (never taken back): {"name":"0A000005","fsid":10001}. A raised high-water mark (fsids adopted
// from the exports at start-up) goes into fsids.json instead (the store compacts then).
// Only the last line can be incomplete (a crash during an append, before its fsync returned, so no
// export ever carried it): it is ignored. A bad line anywhere else is refused, naming file:line:col.
import { PxeError } from '../errors.ts';
import { journalLines, parseJournalLine, valueColumn } from './journal-lines.ts';

/** One line of the journal for an fsid handed out. */
export function fsidLogLine(name: string, fsid: number): string {
  return `{"name":${JSON.stringify(name)},"fsid":${fsid}}\n`;
}

/** What a journal holds. */
export interface FsidLog {
  nextFsid: number;
  fsids: Map<string, number>;
  /** bytes of whole lines; a torn last line starts here */
  goodBytes: number;
  /** the incomplete last line, when there was one (ignored) */
  torn?: string;
}

const FIX = 'restore it from a backup, or move it away and pxebootd rebuilds the fsids from fsids.json, state.json and its exports file';

function fail(where: string, what: string): never {
  throw new PxeError('STATE', `${where}: ${what}; ${FIX}`);
}

/** Parse fsids.log bytes; throws a STATE error naming file:line:col for a bad line that is not the last. */
export function parseFsidLog(file: string, buf: Uint8Array): FsidLog {
  const fsids = new Map<string, number>();
  const holder = new Map<number, string>();
  let nextFsid = 0;
  const { lines, goodBytes, torn } = journalLines(buf);
  for (const { line, text } of lines) {
    const o = parseJournalLine(file, line, text, 'one JSON object ({"name":"NODE","fsid":N})', fail) as { name?: unknown; fsid?: unknown } | null;
    if (!o || typeof o !== 'object' || Array.isArray(o)) fail(`${file}:${line}:1`, `expected a JSON object, found ${o === null ? 'null' : Array.isArray(o) ? 'an array' : typeof o}`);
    const at = (key: string) => `${file}:${line}:${valueColumn(text, key)}`;
    if (typeof o.name !== 'string' || o.name === '') fail(at('name'), `name: expected a non-empty string, found ${JSON.stringify(o.name ?? null)}`);
    if (!Number.isInteger(o.fsid) || (o.fsid as number) < 1) fail(at('fsid'), `fsid: expected an integer >= 1, found ${JSON.stringify(o.fsid ?? null)}`);
    const name = o.name;
    const fsid = o.fsid as number;
    const have = fsids.get(name);
    if (have !== undefined && have !== fsid) fail(at('fsid'), `node ${name} has fsid ${fsid} here but ${have} on an earlier line`);
    const other = holder.get(fsid);
    if (other !== undefined && other !== name) fail(at('fsid'), `fsid ${fsid} is used by nodes ${other} and ${name}`);
    fsids.set(name, fsid);
    holder.set(fsid, name);
    nextFsid = Math.max(nextFsid, fsid + 1);
  }
  return torn === undefined ? { nextFsid, fsids, goodBytes } : { nextFsid, fsids, goodBytes, torn };
}
