// What `status` sends and prints, kept pure so that the daemon and the CLI share it: the query that
// names one node (looked up through the state store's indexes, never by scanning), the status JSON
// document written in pieces (one node a line, so that neither side ever holds the whole text),
// the slim records the table needs, and a reader that takes the document back apart line by line.
import type { NodeRecord } from './types.ts';
import { macHyphen, normalizeIPv4, normalizeMac, printable } from './validate.ts';

/** What `status X` names: an IP, a MAC (any separator, any case) or a node name. */
export type NodeQuery = { kind: 'ip'; ip: string } | { kind: 'mac'; mac: string } | { kind: 'name'; name: string };

/** Longest node name a query may carry (names are ip-hex or a hyphenated MAC). */
const NAME_MAX = 64;

/** Parse `status X`; undefined when X cannot be an IP, a MAC or a node name. */
export function parseNodeQuery(input: string): NodeQuery | undefined {
  const t = input.trim();
  const ip = normalizeIPv4(t);
  if (ip) return { kind: 'ip', ip };
  const mac = normalizeMac(t);
  if (mac) return { kind: 'mac', mac };
  if (t.length > 0 && t.length <= NAME_MAX && /^[A-Za-z0-9._-]+$/.test(t)) return { kind: 'name', name: t };
  return undefined;
}

/** The indexed lookups of the state store that a query needs. */
export interface NodeIndex {
  get(name: string): NodeRecord | undefined;
  findByIp(ip: string): NodeRecord | undefined;
  findByMac(mac: string): NodeRecord | undefined;
}

/** The one node a query names, through the store's indexes (a MAC also finds a MAC-named node). */
export function findNode(index: NodeIndex, q: NodeQuery): NodeRecord | undefined {
  switch (q.kind) {
    case 'ip':
      return index.findByIp(q.ip);
    case 'mac':
      return index.findByMac(q.mac) ?? index.get(macHyphen(q.mac));
    case 'name':
      // ip-hex names are upper case, MAC names lower case; people type either
      return index.get(q.name) ?? index.get(q.name.toUpperCase()) ?? index.get(q.name.toLowerCase());
  }
}

/** Does a record answer the query (for an answer that holds more nodes than were asked for)? */
export function queryMatches(n: Pick<NodeRecord, 'name' | 'ip' | 'mac'>, q: NodeQuery): boolean {
  switch (q.kind) {
    case 'ip':
      return n.ip === q.ip;
    case 'mac':
      return n.mac === q.mac || n.name === macHyphen(q.mac);
    case 'name':
      return n.name.toLowerCase() === q.name.toLowerCase();
  }
}

/** "no node X": the message `status X` exits 1 with. */
export function noNodeMessage(input: string): string {
  return `no node ${printable(input.trim())}`;
}

/** The fields of a record that the status table shows (what the daemon sends for the table). */
export type StatusRow = Pick<NodeRecord, 'name' | 'ip' | 'mac' | 'hostname' | 'subnet' | 'state' | 'fsid' | 'lastSeen' | 'sources' | 'lastError'>;

/** A record cut down to its table fields (no timeline, rule fingerprint, uuid). */
export function tableRow(n: NodeRecord): StatusRow {
  const r: StatusRow = { name: n.name, ip: n.ip, subnet: n.subnet, state: n.state, fsid: n.fsid, lastSeen: n.lastSeen, sources: n.sources };
  if (n.mac !== undefined) r.mac = n.mac;
  if (n.hostname !== undefined) r.hostname = n.hostname;
  if (n.lastError !== undefined) r.lastError = n.lastError;
  return r;
}

/** Order of the table: by node name. */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Nodes serialised per piece of the document. */
export const NODES_PER_PIECE = 200;

/** The last bytes of a complete document: a stream that ends otherwise was cut short. */
export const STATUS_DOC_END = '\n]}\n';

/**
 * The status document `{"from","daemon","nodes"}` in pieces: the head line, then one node a line
 * (NODES_PER_PIECE nodes a piece), then `]}`. Valid JSON as a whole, and the same value as
 * JSON.stringify({from, daemon, nodes}). Records are serialised as the pieces are taken, so a
 * writer that waits for its reader holds one piece at a time. `daemon` is null when none answered.
 */
export function* statusDocument(from: 'daemon' | 'state-file', daemon: unknown, nodes: Iterable<unknown>, perPiece = NODES_PER_PIECE): Generator<string> {
  let piece = `{"from":${JSON.stringify(from)},"daemon":${JSON.stringify(daemon ?? null)},"nodes":[`;
  let i = 0;
  for (const n of nodes) {
    piece += (i === 0 ? '\n' : ',\n') + JSON.stringify(n);
    if (++i % perPiece === 0) {
      yield piece;
      piece = '';
    }
  }
  yield piece + STATUS_DOC_END;
}

/**
 * Takes a status document apart as it arrives, chunk by chunk: the head (from, daemon) and each
 * node, parsed one line at a time. `end()` throws unless the document was complete.
 */
export class StatusDocReader<T = unknown> {
  private buf = '';
  private lines = 0;
  private done = false;
  head: { from?: string; daemon?: unknown } | undefined;

  /** Feed a chunk of text; returns the nodes completed by it. */
  push(chunk: string): T[] {
    this.buf += chunk;
    const out: T[] = [];
    let start = 0;
    let nl: number;
    while ((nl = this.buf.indexOf('\n', start)) >= 0) {
      this.line(this.buf.slice(start, nl), out);
      start = nl + 1;
    }
    this.buf = start ? this.buf.slice(start) : this.buf;
    return out;
  }

  private line(text: string, out: T[]): void {
    const n = this.lines++;
    if (this.done) throw new Error(`status document: text after its end (line ${n + 1})`);
    if (n === 0) {
      if (!text.endsWith('"nodes":[')) throw new Error(`status document: expected a head line ending in "nodes":[, found ${JSON.stringify(text.slice(0, 80))}`);
      this.head = JSON.parse(text + ']}') as { from?: string; daemon?: unknown };
      return;
    }
    if (text === ']}') {
      this.done = true;
      return;
    }
    out.push(JSON.parse(text.endsWith(',') ? text.slice(0, -1) : text) as T);
  }

  /** Throws when the document stopped before its last line. */
  end(): void {
    if (!this.done || this.buf !== '') throw new Error(`status document ended early (after ${Math.max(0, this.lines - 1)} lines)`);
  }
}

/**
 * A record as `status --json` shows it: with `next_image_version` when its image's current version
 * (`currents`: image -> current version) is not the one it runs, i.e. what its next boot switches to.
 */
export function withNextImage<T extends Pick<NodeRecord, 'image' | 'image_version'>>(n: T, currents: ReadonlyMap<string, string | undefined>): T | (T & { next_image_version: string }) {
  if (n.image === undefined || n.image_version === undefined) return n;
  const cur = currents.get(n.image);
  return cur !== undefined && cur !== n.image_version ? { ...n, next_image_version: cur } : n;
}
