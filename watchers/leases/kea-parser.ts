// Kea memfile CSV (formats.md §5.4), read by its header: Kea 2.2 writes 11 columns, 2.4+ adds pool_id;
// rows with more columns than the header (a newer Kea appending to an older file) are read as Kea does.
// Rows are appended; the last row per address wins; valid_lifetime 0 deletes; state 0 = assigned.
// Pure and incremental: feed appended text, get the rows it completed.
import type { BadInput } from '../../src/types.ts';
import type { LeaseUpdate, ParseResult } from './lease.ts';
import { badInput, detachLease, leaseHostname, parseUint } from './parse-util.ts';
import { isIPv4, normalizeMac } from '../../src/validate.ts';
import { READ_LIMITS } from '../../src/safe-open.ts';

const KEA_STATES: Record<string, string> = { '0': 'assigned', '1': 'declined', '2': 'expired-reclaimed', '3': 'released', '4': 'registered' };
/** Kea's "infinite" valid lifetime (0xffffffff) */
const INFINITE_LIFETIME = 4294967295;
const REQUIRED = ['address', 'hwaddr', 'valid_lifetime', 'expire'] as const;

/** Column positions found in the header line. */
interface KeaColumns {
  count: number;
  address: number;
  hwaddr: number;
  valid_lifetime: number;
  expire: number;
  hostname: number;
  state: number;
}

/** Incremental state for one CSV file: the header once seen, the unfinished last line, the line count. */
export interface KeaParser {
  source: string;
  columns?: KeaColumns;
  headerReported: boolean;
  partial: string;
  line: number;
  /** inside a line longer than READ_LIMITS.lineBytes: dropped up to its newline, never buffered */
  skipping?: boolean;
}

/** A parser positioned at the start of a file. */
export function createKeaParser(source: string): KeaParser {
  return { source, headerReported: false, partial: '', line: 0 };
}

/** The header names its columns; a data row starts with an address, never with a column name. */
function isHeader(line: string): boolean {
  const names = line.split(',');
  return names.includes('address') && !isIPv4(names[0]!);
}

function readHeader(line: string): KeaColumns | string {
  const names = line.split(',').map((s) => s.trim());
  const missing = REQUIRED.filter((r) => !names.includes(r));
  if (missing.length) return `expected a Kea v4 header with ${REQUIRED.join(', ')}; missing ${missing.join(', ')}`;
  return {
    count: names.length,
    address: names.indexOf('address'),
    hwaddr: names.indexOf('hwaddr'),
    valid_lifetime: names.indexOf('valid_lifetime'),
    expire: names.indexOf('expire'),
    hostname: names.indexOf('hostname'),
    state: names.indexOf('state'),
  };
}

/** One data row -> a lease update, or undefined (reported to `bad`). */
function readRow(cols: KeaColumns, line: string, lineNo: number, source: string, bad: BadInput[]): LeaseUpdate | undefined {
  const f = line.split(',');
  const at = { line: lineNo };
  // a newer Kea appends rows with more columns under an older header (its mixed-schema load keeps
  // them); the header's columns are still where it says. Fewer columns than the header is a cut row.
  if (f.length < cols.count) {
    bad.push(badInput(source, at, `expected at least ${cols.count} columns (per the header), found ${f.length}: row skipped`, line));
    return undefined;
  }
  const ip = f[cols.address]!;
  if (!isIPv4(ip)) {
    bad.push(badInput(source, at, 'expected a dotted-quad IPv4 address: row skipped', line));
    return undefined;
  }
  const lifetime = parseUint(f[cols.valid_lifetime]!);
  const expire = parseUint(f[cols.expire]!);
  if (lifetime === undefined || expire === undefined) {
    bad.push(badInput(source, at, 'expected integer valid_lifetime and expire: row skipped', line));
    return undefined;
  }
  const stateCode = cols.state >= 0 ? f[cols.state]! || '0' : '0';
  const state = lifetime === 0 ? 'deleted' : (KEA_STATES[stateCode] ?? `state ${stateCode.slice(0, 10)}`);
  const active = lifetime !== 0 && stateCode === '0';
  const rawMac = f[cols.hwaddr]!;
  const mac = rawMac === '' ? undefined : normalizeMac(rawMac);
  if (active && mac === undefined) {
    bad.push(badInput(source, at, rawMac === '' ? 'no hwaddr: row skipped' : 'expected a 6-octet Ethernet hwaddr: row skipped', line));
    return undefined;
  }
  const u: LeaseUpdate = { ip, expires: lifetime === INFINITE_LIFETIME ? 0 : expire * 1000, active, state };
  if (mac !== undefined) u.mac = mac;
  if (active && cols.hostname >= 0) {
    const h = leaseHostname(f[cols.hostname]!.replaceAll('&#x2c', ','), bad, { source, line: lineNo });
    if (h !== undefined) u.hostname = h;
  }
  return detachLease(u);
}

/** Feed appended text; complete lines are parsed, the unfinished last line waits for the next feed. */
export function feedKeaParser(p: KeaParser, chunk: string): { updates: LeaseUpdate[]; bad: BadInput[] } {
  const bad: BadInput[] = [];
  const updates: LeaseUpdate[] = [];
  if (p.skipping) {
    const nl = chunk.indexOf('\n');
    if (nl < 0) return { updates, bad };
    p.skipping = false;
    p.line++; // the over-long line, reported when it passed the limit
    chunk = chunk.slice(nl + 1);
  }
  const text = p.partial + chunk;
  const end = text.lastIndexOf('\n');
  p.partial = end < 0 ? text : text.slice(end + 1);
  const lines = end < 0 ? [] : text.slice(0, end).split('\n');
  for (let line of lines) {
    p.line++;
    if (line.length > READ_LIMITS.lineBytes) {
      bad.push(badInput(p.source, { line: p.line }, `line longer than ${READ_LIMITS.lineBytes} bytes skipped`, line.slice(0, 200)));
      continue;
    }
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    if (isHeader(line)) {
      const h = readHeader(line);
      if (typeof h === 'string') bad.push(badInput(p.source, { line: p.line }, h, line));
      else p.columns = h;
      continue;
    }
    if (!p.columns) {
      if (!p.headerReported) bad.push(badInput(p.source, { line: p.line }, 'row before the CSV header line: skipped until a header appears', line));
      p.headerReported = true;
      continue;
    }
    const u = readRow(p.columns, line, p.line, p.source, bad);
    if (u) updates.push(u);
  }
  if (p.partial.length > READ_LIMITS.lineBytes) {
    bad.push(badInput(p.source, { line: p.line + 1 }, `line longer than ${READ_LIMITS.lineBytes} bytes skipped`, p.partial.slice(0, 200)));
    p.partial = '';
    p.skipping = true;
  }
  return { updates, bad };
}

/** Whole-file convenience: the last row per address (active or not) of a complete text. */
export function parseKeaCsv(text: string, source: string): ParseResult<LeaseUpdate> {
  const p = createKeaParser(source);
  const { updates, bad } = feedKeaParser(p, text.endsWith('\n') || text === '' ? text : text + '\n');
  const leases = new Map<string, LeaseUpdate>();
  for (const u of updates) leases.set(u.ip, u);
  return { leases, bad };
}
