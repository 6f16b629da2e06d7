// The on-disk shape of state.json, kept pure so that load and save are testable without files.
// fsids live in their own map (name -> fsid) next to a high-water mark, so that removing a node's
// record never frees its fsid and a node that comes back gets the same one.
import { NODE_STATES, type NodeRecord, type NodeState } from '../types.ts';
import path from 'node:path';
import { PxeError } from '../errors.ts';
import { printable } from '../validate.ts';

export const STATE_VERSION = 1;

/** Everything pxebootd persists. */
export interface StateData {
  /** the next fsid to hand out; never decreases */
  nextFsid: number;
  /** every fsid ever handed out, by node name; entries are never deleted */
  fsids: Map<string, number>;
  nodes: Map<string, NodeRecord>;
}

const STATES: readonly NodeState[] = NODE_STATES;

/** Records per piece of state.json text. */
const RECORDS_PER_PIECE = 200;

/**
 * state.json text in pieces: the head (version, fsids), then the records 200 at a time, then the
 * end. The store writes the pieces one by one into the temp file, so that a write at 10,000 nodes
 * never holds the whole ~5 MB text (nor its Buffer copy), and no record's JSON is kept between
 * writes (a per-record cache held 7 MB at 10,000 nodes, measured). The records are read as the
 * pieces are made: a record replaced meanwhile is written in its newer version. `fsidMembers` is
 * the store's incrementally kept fsid list (see serializeFsids).
 */
export function* stateText(d: StateData, fsidMembers?: string): Generator<string> {
  const members = fsidMembers ?? [...d.fsids].map(([k, v]) => fsidMember(k, v)).join(',');
  let piece: string[] = [`{"version":${STATE_VERSION},"nextFsid":${d.nextFsid},"fsids":{${members}},"nodes":[`];
  let n = 0;
  for (const rec of d.nodes.values()) {
    piece.push((n++ === 0 ? '' : ',') + JSON.stringify(rec));
    if (piece.length >= RECORDS_PER_PIECE) {
      yield piece.join('');
      piece = [];
    }
  }
  piece.push(']}\n');
  yield piece.join('');
}

/** The whole state.json text as one string (for tests and small states). */
export function serializeState(d: StateData, fsidMembers?: string): string {
  return [...stateText(d, fsidMembers)].join('');
}

/** How to get out of a broken state file, by file: each can be rebuilt from the other and the exports. */
function fixFor(file: string): string {
  const base = path.basename(file);
  if (base.startsWith('state.log')) return RECORD_LOG_FIX;
  return base === 'fsids.json'
    ? 'restore it from a backup, or move it away and pxebootd rebuilds it from state.json and its exports file'
    : 'restore it from a backup, or move it away and pxebootd rebuilds the fsids from fsids.json and its exports file';
}

/** How to get out of a broken state.log (or state.log.old): the records fall back to state.json. */
export const RECORD_LOG_FIX =
  'restore it from a backup, or move it away: pxebootd then starts from state.json, and a node whose newer record only this file held is provisioned again (fsids are kept in fsids.json and fsids.log)';

function fail(file: string, what: string, fix = fixFor(file)): never {
  throw new PxeError('STATE', `${file}: ${what}; ${fix}`);
}

/** JSON.parse of a state file; a syntax error names the file (and the line and column when known). */
function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    // V8 quotes a piece of the input in some messages: never echo file bytes (newlines) in the error
    const msg = printable((e as Error).message.replace(/\s*\(line \d+ column \d+\)$/, '').replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, ''), 120);
    const at = /at position (\d+)/.exec(msg)?.[1] ?? (/end of JSON input/.test(msg) ? String(text.length) : undefined);
    if (at === undefined) fail(file, `not valid JSON (${msg})`);
    const before = text.slice(0, Number(at));
    const line = before.split('\n').length;
    const col = before.length - before.lastIndexOf('\n');
    fail(`${file}:${line}:${col}`, `not valid JSON (${msg})`, fixFor(file));
  }
}

/** One node record as read from a file (`where` names it there: nodes[3], put); throws a STATE error. */
export function checkNode(file: string, where: string, n: unknown): NodeRecord {
  const r = n as Partial<NodeRecord> | null;
  if (!r || typeof r !== 'object' || Array.isArray(r)) fail(file, `${where}: expected an object`);
  if (typeof r.name !== 'string' || r.name === '') fail(file, `${where}.name: expected a non-empty string`);
  if (typeof r.ip !== 'string') fail(file, `${where}.ip: expected a string, found ${typeof r.ip}`);
  if (!Number.isInteger(r.fsid) || (r.fsid as number) < 0) fail(file, `${where}.fsid: expected an integer >= 0, found ${JSON.stringify(r.fsid)}`);
  if (!STATES.includes(r.state as NodeState)) fail(file, `${where}.state: expected one of ${STATES.join('|')}, found ${JSON.stringify(r.state)}`);
  return {
    ...(r as NodeRecord),
    sources: Array.isArray(r.sources) ? r.sources.filter((s) => typeof s === 'string') : [],
    lastSeen: typeof r.lastSeen === 'number' ? r.lastSeen : 0,
    subnet: typeof r.subnet === 'string' ? r.subnet : '',
  };
}

/** The `fsids` object of either file: name -> positive integer, no fsid on two names. */
function checkFsidMap(file: string, v: unknown): Map<string, number> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(file, 'fsids: expected an object');
  const fsids = new Map<string, number>();
  const holder = new Map<number, string>();
  for (const [k, f] of Object.entries(v)) {
    if (!Number.isInteger(f) || (f as number) < 1) fail(file, `fsids.${k}: expected an integer >= 1, found ${JSON.stringify(f)}`);
    const other = holder.get(f as number);
    if (other !== undefined) fail(file, `fsid ${f as number} is used by nodes ${other} and ${k} (fsids)`);
    holder.set(f as number, k);
    fsids.set(k, f as number);
  }
  return fsids;
}

/**
 * Parse state.json text; throws a STATE error naming the file, the bad field and the fix. A node
 * with two fsids, or an fsid on two nodes, is refused rather than guessed at: clients' file
 * handles embed the fsid, and either guess could hand one node's handles to another.
 */
export function parseState(file: string, text: string, startFsid: number): StateData {
  const raw = parseJson(file, text);
  const o = raw as { version?: unknown; nextFsid?: unknown; fsids?: unknown; nodes?: unknown } | null;
  if (!o || typeof o !== 'object' || Array.isArray(o)) fail(file, 'expected a JSON object');
  if (o.version !== STATE_VERSION) fail(file, `version: expected ${STATE_VERSION}, found ${JSON.stringify(o.version)}`);
  if (!Array.isArray(o.nodes)) fail(file, 'nodes: expected an array');
  if (o.nextFsid !== undefined && !Number.isInteger(o.nextFsid)) fail(file, `nextFsid: expected an integer, found ${JSON.stringify(o.nextFsid)}`);
  const fsids = o.fsids === undefined ? new Map<string, number>() : checkFsidMap(file, o.fsids);
  const holder = new Map<number, string>();
  for (const [k, f] of fsids) holder.set(f, `${k} (fsids)`);
  const nodes = new Map<string, NodeRecord>();
  const at = new Map<string, number>();
  const recHolder = new Map<number, string>();
  o.nodes.forEach((n, i) => {
    const r = checkNode(file, `nodes[${i}]`, n);
    const dup = at.get(r.name);
    if (dup !== undefined) fail(file, `node ${r.name} is listed twice (nodes[${dup}] and nodes[${i}])`);
    at.set(r.name, i);
    nodes.set(r.name, r);
    if (r.fsid === 0) return; // not allocated yet
    const twin = recHolder.get(r.fsid);
    if (twin !== undefined) fail(file, `fsid ${r.fsid} is used by nodes ${twin} and ${r.name} (nodes[${at.get(twin)}] and nodes[${i}])`);
    recHolder.set(r.fsid, r.name);
    const mapped = fsids.get(r.name);
    if (mapped !== undefined && mapped !== r.fsid) fail(file, `node ${r.name} has fsid ${r.fsid} in nodes[${i}] but ${mapped} in fsids`);
    const other = holder.get(r.fsid);
    if (mapped === undefined && other !== undefined) fail(file, `fsid ${r.fsid} is used by nodes ${other} and ${r.name} (nodes[${i}])`);
    fsids.set(r.name, r.fsid);
    holder.set(r.fsid, r.name);
  });
  let high = Number.isInteger(o.nextFsid) ? (o.nextFsid as number) : startFsid;
  for (const v of fsids.values()) high = Math.max(high, v + 1);
  return { nextFsid: Math.max(high, startFsid), fsids, nodes };
}

/** One `"name":fsid` member of the fsids object (fsids are append-only, so the text can be too). */
export function fsidMember(name: string, fsid: number): string {
  return `${JSON.stringify(name)}:${fsid}`;
}

/**
 * JSON text for fsids.json: the high-water mark and every fsid ever handed out. `members` is the
 * comma-joined fsidMember() list, kept up to date by the store so that a write at 10,000 nodes
 * does not re-serialise them all.
 */
export function serializeFsids(nextFsid: number, members: string): string {
  return `{"version":${STATE_VERSION},"nextFsid":${nextFsid},"fsids":{${members}}}\n`;
}

/** Parse fsids.json; throws a STATE error naming the file, the bad field and the fix. */
export function parseFsids(file: string, text: string): { nextFsid: number; fsids: Map<string, number> } {
  const raw = parseJson(file, text);
  const o = raw as { version?: unknown; nextFsid?: unknown; fsids?: unknown } | null;
  if (!o || typeof o !== 'object' || Array.isArray(o)) fail(file, 'expected a JSON object');
  if (o.version !== STATE_VERSION) fail(file, `version: expected ${STATE_VERSION}, found ${JSON.stringify(o.version)}`);
  if (!Number.isInteger(o.nextFsid)) fail(file, `nextFsid: expected an integer, found ${JSON.stringify(o.nextFsid)}`);
  return { nextFsid: o.nextFsid as number, fsids: checkFsidMap(file, o.fsids) };
}

/**
 * Union of the fsids in state.json and fsids.json. Both are written from one in-memory map that
 * only grows, so one may know names the other does not yet, but they never disagree: a name with
 * two fsids, or an fsid on two names, is refused (naming both files), not guessed at.
 */
export function mergeFsids(d: StateData, f: { nextFsid: number; fsids: Map<string, number> }, files: { state: string; fsids: string } = { state: 'state.json', fsids: 'fsids.json' }): StateData {
  const fsids = new Map(d.fsids);
  const holder = new Map<number, string>();
  for (const [k, v] of fsids) holder.set(v, k);
  const fix = `the two files disagree: restore the wrong one from a backup, or move it away and pxebootd rebuilds it from the other and its exports file`;
  for (const [k, v] of f.fsids) {
    const have = fsids.get(k);
    if (have !== undefined && have !== v) fail(files.fsids, `node ${k} has fsid ${v} here but ${have} in ${files.state}`, fix);
    const other = holder.get(v);
    if (other !== undefined && other !== k) fail(files.fsids, `fsid ${v} is used by nodes ${k} here and ${other} in ${files.state}`, fix);
    fsids.set(k, v);
    holder.set(v, k);
  }
  let next = Math.max(d.nextFsid, f.nextFsid);
  for (const v of fsids.values()) next = Math.max(next, v + 1);
  return { ...d, fsids, nextFsid: next };
}

/** Fresh, empty state. */
export function emptyState(startFsid: number): StateData {
  return { nextFsid: startFsid, fsids: new Map(), nodes: new Map() };
}
