// The on-disk shape of state.json, kept pure so that load and save are testable without files.
// fsids live in their own map (name -> fsid) next to a high-water mark, so that removing a node's
// record never frees its fsid and a node that comes back gets the same one.
import type { NodeRecord, NodeState } from '../types.ts';
import { PxeError } from '../errors.ts';

export const STATE_VERSION = 1;

/** Everything pxebootd persists. */
export interface StateData {
  /** the next fsid to hand out; never decreases */
  nextFsid: number;
  /** every fsid ever handed out, by node name; entries are never deleted */
  fsids: Map<string, number>;
  nodes: Map<string, NodeRecord>;
}

const STATES: readonly NodeState[] = ['pending', 'ready', 'failed', 'released'];

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

function fail(file: string, what: string): never {
  throw new PxeError('STATE', `${file}: ${what}; the file is kept as is, move it away to start with empty state (fsids would then be reassigned)`);
}

function checkNode(file: string, i: number, n: unknown): NodeRecord {
  const r = n as Partial<NodeRecord> | null;
  const where = `nodes[${i}]`;
  if (!r || typeof r !== 'object') fail(file, `${where}: expected an object`);
  if (typeof r.name !== 'string' || r.name === '') fail(file, `${where}.name: expected a non-empty string`);
  if (typeof r.ip !== 'string') fail(file, `${where}.ip: expected a string, found ${typeof r.ip}`);
  if (!Number.isInteger(r.fsid)) fail(file, `${where}.fsid: expected an integer, found ${JSON.stringify(r.fsid)}`);
  if (!STATES.includes(r.state as NodeState)) fail(file, `${where}.state: expected one of ${STATES.join('|')}, found ${JSON.stringify(r.state)}`);
  return {
    ...(r as NodeRecord),
    sources: Array.isArray(r.sources) ? r.sources.filter((s) => typeof s === 'string') : [],
    lastSeen: typeof r.lastSeen === 'number' ? r.lastSeen : 0,
    subnet: typeof r.subnet === 'string' ? r.subnet : '',
  };
}

/** Parse state.json text; throws a STATE error naming the file and the bad field. */
export function parseState(file: string, text: string, startFsid: number): StateData {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(file, `not valid JSON (${(e as Error).message})`);
  }
  const o = raw as { version?: unknown; nextFsid?: unknown; fsids?: unknown; nodes?: unknown } | null;
  if (!o || typeof o !== 'object') fail(file, 'expected a JSON object');
  if (o.version !== STATE_VERSION) fail(file, `version: expected ${STATE_VERSION}, found ${JSON.stringify(o.version)}`);
  if (!Array.isArray(o.nodes)) fail(file, 'nodes: expected an array');
  const fsids = new Map<string, number>();
  if (o.fsids && typeof o.fsids === 'object') {
    for (const [k, v] of Object.entries(o.fsids)) {
      if (!Number.isInteger(v)) fail(file, `fsids.${k}: expected an integer, found ${JSON.stringify(v)}`);
      fsids.set(k, v as number);
    }
  }
  const nodes = new Map<string, NodeRecord>();
  o.nodes.forEach((n, i) => {
    const r = checkNode(file, i, n);
    nodes.set(r.name, r);
    // a record is the authority for its own fsid; the map is the memory of removed nodes
    if (r.fsid > 0) fsids.set(r.name, r.fsid);
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

/** Parse fsids.json; throws a STATE error naming the file and the bad field. */
export function parseFsids(file: string, text: string): { nextFsid: number; fsids: Map<string, number> } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(file, `not valid JSON (${(e as Error).message})`);
  }
  const o = raw as { version?: unknown; nextFsid?: unknown; fsids?: unknown } | null;
  if (!o || typeof o !== 'object') fail(file, 'expected a JSON object');
  if (o.version !== STATE_VERSION) fail(file, `version: expected ${STATE_VERSION}, found ${JSON.stringify(o.version)}`);
  if (!Number.isInteger(o.nextFsid)) fail(file, `nextFsid: expected an integer, found ${JSON.stringify(o.nextFsid)}`);
  if (!o.fsids || typeof o.fsids !== 'object') fail(file, 'fsids: expected an object');
  const fsids = new Map<string, number>();
  for (const [k, v] of Object.entries(o.fsids)) {
    if (!Number.isInteger(v)) fail(file, `fsids.${k}: expected an integer, found ${JSON.stringify(v)}`);
    fsids.set(k, v as number);
  }
  return { nextFsid: o.nextFsid as number, fsids };
}

/**
 * Union of the fsids in state.json and fsids.json. They come from one in-memory map, so a name
 * never has two values; the high-water mark is above every fsid either file knows.
 */
export function mergeFsids(d: StateData, f: { nextFsid: number; fsids: Map<string, number> }): StateData {
  const fsids = new Map(d.fsids);
  for (const [k, v] of f.fsids) if (!fsids.has(k)) fsids.set(k, v);
  let next = Math.max(d.nextFsid, f.nextFsid);
  for (const v of fsids.values()) next = Math.max(next, v + 1);
  return { ...d, fsids, nextFsid: next };
}

/** Fresh, empty state. */
export function emptyState(startFsid: number): StateData {
  return { nextFsid: startFsid, fsids: new Map(), nodes: new Map() };
}
