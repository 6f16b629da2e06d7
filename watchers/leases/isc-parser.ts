// ISC dhcpd.leases (formats.md §5.3): an append-only journal of `lease <ip> { … }` blocks where the
// last block per IP wins. Pure: createIscParser keeps only scanner state; the caller feeds bytes.
import type { BadInput } from '../../src/types.ts';
import type { LeaseUpdate, ParseResult } from './lease.ts';
import { createIscScanner, feedIscScanner, type IscScanner } from './isc-scanner.ts';
import { badInput, detachLease, leaseHostname } from './parse-util.ts';
import { isIPv4, normalizeMac } from '../../src/validate.ts';

const ACTIVE_STATES = new Set(['active']);
const GONE_STATES = new Set(['free', 'expired', 'released', 'abandoned', 'backup', 'reset']);

type Token = { t: 'word' | 'str' | 'sym'; v: string };

/** Tokens of one block: words, quoted strings (escapes decoded), and { } ; — comments skipped. */
function tokenize(text: string): Token[] {
  const out: Token[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) i++;
    else if (c === 35) {
      const e = text.indexOf('\n', i);
      i = e < 0 ? n : e + 1;
    } else if (c === 123 || c === 125 || c === 59) {
      out.push({ t: 'sym', v: text[i]! });
      i++;
    } else if (c === 34) {
      let v = '';
      i++;
      while (i < n && text.charCodeAt(i) !== 34) {
        if (text.charCodeAt(i) === 92 && i + 1 < n) {
          const oct = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4));
          if (oct) {
            v += String.fromCharCode(parseInt(oct[0], 8) & 255);
            i += 1 + oct[0].length;
          } else {
            v += text[i + 1];
            i += 2;
          }
        } else v += text[i++];
      }
      i++;
      out.push({ t: 'str', v });
    } else {
      let j = i;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 32 || d === 9 || d === 10 || d === 13 || d === 123 || d === 125 || d === 59 || d === 34 || d === 35) break;
        j++;
      }
      out.push({ t: 'word', v: text.slice(i, j) });
      i = j;
    }
  }
  return out;
}

/** Length of the leading whitespace and comment lines, so offsets point at the statement itself. */
function skipLead(text: string): number {
  let i = 0;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) i++;
    else if (c === 35) {
      const e = text.indexOf('\n', i);
      if (e < 0) return text.length;
      i = e + 1;
    } else return i;
  }
}

/** "3 2024/05/01 22:34:56" (UTC) | "never" | "epoch 1714563296" -> ms since epoch (0 = never); NaN if bad */
function parseIscTime(words: string[]): number {
  if (words[0] === 'never') return 0;
  if (words[0] === 'epoch') return /^\d{1,15}$/.test(words[1] ?? '') ? Number(words[1]) * 1000 : NaN;
  const d = /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/.exec(words[1] ?? '');
  const t = /^(\d{1,2}):(\d{1,2}):(\d{1,2})$/.exec(words[2] ?? '');
  if (!d || !t) return NaN;
  return Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!, +t[1]!, +t[2]!, +t[3]!);
}

/** One complete `lease … { … }` statement -> a lease update, or undefined (other statements, bad blocks). */
export function parseIscLeaseBlock(text: string, offset: number, source: string, bad: BadInput[]): LeaseUpdate | undefined {
  const lead = skipLead(text);
  if (!text.startsWith('lease', lead)) return undefined;
  const toks = tokenize(text);
  if (toks[0]?.v !== 'lease' || toks[0].t !== 'word') return undefined;
  offset += lead;
  text = text.slice(lead);
  const ip = toks[1]?.v ?? '';
  if (toks[1]?.t !== 'word' || !isIPv4(ip) || toks[2]?.v !== '{') {
    bad.push(badInput(source, { offset }, 'expected "lease <IPv4> {": block skipped', text));
    return undefined;
  }
  let state = '';
  let expires = NaN;
  let mac: string | undefined;
  let macProblem: string | undefined;
  let rawHostname: string | undefined;
  // statements at depth 1; nested blocks (on expiry { … }) are skipped whole
  let depth = 1;
  let stmt: Token[] = [];
  for (let k = 3; k < toks.length && depth > 0; k++) {
    const tk = toks[k]!;
    if (tk.t === 'sym' && tk.v === '{') depth++;
    else if (tk.t === 'sym' && tk.v === '}') {
      depth--;
      if (depth === 1) stmt = [];
    } else if (depth > 1) continue;
    else if (tk.t === 'sym' && tk.v === ';') {
      const w = stmt.map((s) => s.v);
      if (w[0] === 'binding' && w[1] === 'state') state = w[2] ?? '';
      // the older, bare form that ISC's own reader still takes (and OpenBSD's dhcpd writes)
      else if (w[0] === 'abandoned' && w.length === 1) state = 'abandoned';
      else if (w[0] === 'ends') expires = parseIscTime(w.slice(1));
      else if (w[0] === 'hardware') {
        if (w[1] !== 'ethernet') macProblem = `non-Ethernet hardware type ${JSON.stringify(w[1] ?? '')}: lease skipped`;
        else if ((mac = normalizeMac(w[2] ?? '')) === undefined) macProblem = 'expected a 6-octet MAC address: lease skipped';
      } else if (w[0] === 'client-hostname' && stmt[1]?.t === 'str') rawHostname = stmt[1].v;
      stmt = [];
    } else stmt.push(tk);
  }
  if (depth > 0) {
    bad.push(badInput(source, { offset }, 'unbalanced braces in lease block: skipped', text));
    return undefined;
  }
  const active = state === '' || ACTIVE_STATES.has(state);
  if (!active && !GONE_STATES.has(state)) bad.push(badInput(source, { offset }, `unknown binding state ${JSON.stringify(state)}: treated as not active`, text));
  if (Number.isNaN(expires)) {
    if (active) {
      bad.push(badInput(source, { offset }, 'missing or unreadable "ends": lease skipped', text));
      return undefined;
    }
    expires = 0;
  }
  if (active && mac === undefined) {
    bad.push(badInput(source, { offset }, macProblem ?? 'no "hardware ethernet": lease skipped', text));
    return undefined;
  }
  const hostname = active ? leaseHostname(rawHostname, bad, { source, offset }) : undefined;
  const u: LeaseUpdate = { ip, expires, active, state: state || 'active' };
  if (mac !== undefined) u.mac = mac;
  if (hostname !== undefined) u.hostname = hostname;
  return detachLease(u);
}

/** Incremental parser state for one open lease file (one inode). */
export interface IscParser {
  scanner: IscScanner;
  source: string;
}

/** A parser positioned at the start of a file. */
export function createIscParser(source: string): IscParser {
  return { scanner: createIscScanner(), source };
}

/** Feed appended text (latin1, so offsets are bytes); returns the updates of the blocks it completed. */
export function feedIscParser(p: IscParser, chunk: string): { updates: LeaseUpdate[]; bad: BadInput[] } {
  const bad: BadInput[] = [];
  const updates: LeaseUpdate[] = [];
  const stmts = feedIscScanner(p.scanner, chunk, (offset, sample) =>
    bad.push(badInput(p.source, { offset }, 'statement longer than 1 MiB (unclosed brace or string?): skipped to the next lease', sample)),
  );
  for (const st of stmts) {
    const u = parseIscLeaseBlock(st.text, st.offset, p.source, bad);
    if (u) updates.push(u);
  }
  return { updates, bad };
}

/** Whole-file convenience: the last update per IP (active or not) of a complete text. */
export function parseIscLeases(text: string, source: string): ParseResult<LeaseUpdate> {
  const p = createIscParser(source);
  const { updates, bad } = feedIscParser(p, text);
  const leases = new Map<string, LeaseUpdate>();
  for (const u of updates) leases.set(u.ip, u);
  return { leases, bad };
}
