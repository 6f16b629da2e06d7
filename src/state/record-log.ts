// The text of state.log, pure: an append-only journal of node-record changes next to state.json, so
// that making a change durable appends one short line per changed node instead of rewriting a file
// that grows with the node count. One JSON object per line, each the whole new state of one node:
//   {"put":{"name":"0A630001","ip":"10.99.0.1",...}}   the node's record (replaces any earlier one)
//   {"del":"0A630001"}                                  the node's record is gone (its fsid stays reserved)
// Because every line is a whole record, replaying a run of lines over any snapshot that already holds
// everything before the run gives the newest records, whether or not the snapshot holds some of the
// run too: that is what lets state.json be written while appends go on (store.ts, fold).
// Only the last line can be incomplete (a crash during an append, before its fsync returned, so no
// caller was told it was durable): it is ignored. A bad line anywhere else is refused, naming
// file:line:col, what was expected and what was found.
import type { NodeRecord } from '../types.ts';
import { PxeError } from '../errors.ts';
import { printable } from '../validate.ts';
import { checkNode, RECORD_LOG_FIX, type StateData } from './codec.ts';
import { journalLines, parseJournalLine, valueColumn } from './journal-lines.ts';

/** The line for a record put (inserted or replaced). */
export function putLine(rec: NodeRecord): string {
  return `{"put":${JSON.stringify(rec)}}\n`;
}

/** The line for a record removed. */
export function delLine(name: string): string {
  return `{"del":${JSON.stringify(name)}}\n`;
}

/** One change read back, with where it was. */
export type RecordOp = { line: number; put: NodeRecord; del?: undefined } | { line: number; del: string; put?: undefined };

/** What a journal holds. */
export interface RecordLog {
  file: string;
  ops: RecordOp[];
  /** bytes of whole lines; a torn last line starts here */
  goodBytes: number;
  /** the incomplete last line, when there was one (ignored) */
  torn?: string;
}

function fail(where: string, what: string): never {
  throw new PxeError('STATE', `${where}: ${what}; ${RECORD_LOG_FIX}`);
}

/** Parse state.log bytes; throws a STATE error naming file:line:col for a bad line that is not the last. */
export function parseRecordLog(file: string, buf: Uint8Array): RecordLog {
  const { lines, goodBytes, torn } = journalLines(buf);
  const ops: RecordOp[] = [];
  for (const { line, text } of lines) {
    const o = parseJournalLine(file, line, text, 'one JSON object ({"put":{...}} or {"del":"NAME"})', fail) as { put?: unknown; del?: unknown } | null;
    if (!o || typeof o !== 'object' || Array.isArray(o)) fail(`${file}:${line}:1`, `expected a JSON object, found ${o === null ? 'null' : Array.isArray(o) ? 'an array' : typeof o}`);
    const keys = Object.keys(o);
    if (keys.length !== 1 || (keys[0] !== 'put' && keys[0] !== 'del')) fail(`${file}:${line}:1`, `expected one key, "put" or "del", found ${JSON.stringify(printable(keys.join(','), 40))}`);
    if (o.del !== undefined) {
      if (typeof o.del !== 'string' || o.del === '') fail(`${file}:${line}:${valueColumn(text, 'del')}`, `del: expected a node name, found ${JSON.stringify(o.del)}`);
      ops.push({ line, del: o.del });
    } else ops.push({ line, put: checkNode(`${file}:${line}:${valueColumn(text, 'put')}`, 'put', o.put) });
  }
  return torn === undefined ? { file, ops, goodBytes } : { file, ops, goodBytes, torn };
}

/**
 * The state after replaying journals, in order, over `d` (state.json's). A record's fsid must agree
 * with every fsid known so far (state.json's and earlier lines'): a node with two fsids, or an fsid on
 * two nodes, is refused naming the line, as state.json refuses it.
 */
export function replayRecordLogs(d: StateData, logs: readonly RecordLog[], stateFile = 'state.json'): StateData {
  const nodes = new Map(d.nodes);
  const fsids = new Map(d.fsids);
  const holder = new Map<number, string>();
  for (const [k, v] of fsids) holder.set(v, k);
  let next = d.nextFsid;
  for (const log of logs) {
    for (const op of log.ops) {
      if (op.del !== undefined) {
        nodes.delete(op.del);
        continue;
      }
      const r = op.put;
      if (r.fsid !== 0) {
        const have = fsids.get(r.name);
        if (have !== undefined && have !== r.fsid) fail(`${log.file}:${op.line}`, `node ${r.name} has fsid ${r.fsid} here but ${have} in ${stateFile} or an earlier line`);
        const other = holder.get(r.fsid);
        if (other !== undefined && other !== r.name) fail(`${log.file}:${op.line}`, `fsid ${r.fsid} is used by nodes ${other} and ${r.name}`);
        fsids.set(r.name, r.fsid);
        holder.set(r.fsid, r.name);
        next = Math.max(next, r.fsid + 1);
      }
      nodes.set(r.name, r);
    }
  }
  return { nextFsid: next, fsids, nodes };
}
