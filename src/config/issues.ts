// Turn zod issues into located ConfigProblems whose messages say what was expected and what was
// found, and for unknown keys, which keys are allowed (with a did-you-mean when one is close).
import type * as z from 'zod';
import type { ConfigProblem } from '../errors.ts';
import { ALLOWED_KEYS } from './schema.ts';
import type { KeyPath, Locator } from './positions.ts';

/** The raw (YAML -> JS) value at a key path, or undefined. */
export function rawAt(raw: unknown, p: KeyPath): unknown {
  let v = raw;
  for (const seg of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

/** A short description of a found value: `"abc"`, `number 5`, `a list`, `a map`, `nothing`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v);
  return `${typeof v} ${String(v)}`;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map',
  record: 'a map',
};

function allowedKeysAt(p: KeyPath, raw: unknown): string[] | undefined {
  const [a, b] = p;
  if (p.length === 0) return ALLOWED_KEYS.top;
  if (p.length === 1 && (a === 'exports' || a === 'commands' || a === 'queue' || a === 'metrics' || a === 'report')) return ALLOWED_KEYS[a];
  if (p.length === 2 && a === 'profiles' && typeof b === 'string') return ALLOWED_KEYS.profile;
  if (p.length === 2 && typeof b === 'number') {
    if (a === 'subnets') return ALLOWED_KEYS.subnet;
    if (a === 'hosts') return ALLOWED_KEYS.host;
    if (a === 'sources') {
      const t = rawAt(raw, [...p, 'type']);
      return typeof t === 'string' ? ALLOWED_KEYS.source[t] : undefined;
    }
  }
  return undefined;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** "did you mean X?" for a key within edit distance 2. */
export function suggestKey(key: string, allowed: string[]): string {
  let best: string | undefined;
  let bestD = 3;
  for (const k of allowed) {
    const dist = editDistance(key.toLowerCase(), k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

function messageFor(issue: z.core.$ZodIssue, raw: unknown): string {
  const found = rawAt(raw, issue.path as KeyPath);
  const last = issue.path[issue.path.length - 1];
  switch (issue.code) {
    case 'invalid_type':
      if (found === undefined) return `missing required key "${String(last)}"`;
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, found ${describeValue(found)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}, found ${describeValue(found)}`;
    case 'invalid_union': {
      const u = issue as z.core.$ZodIssueInvalidUnion & { options?: unknown[]; discriminator?: string };
      if (u.discriminator && u.options) {
        const opts = u.options.map((o) => JSON.stringify(o)).join(' | ');
        if (found === undefined) return `missing required key "${u.discriminator}": expected one of ${opts}`;
        return `expected ${u.discriminator} one of ${opts}, found ${describeValue(found)}`;
      }
      const exp = new Set(u.errors.flat().map((e) => (e.code === 'invalid_type' ? EXPECTED[e.expected] ?? e.expected : e.message)));
      return `expected ${[...exp].join(' or ')}, found ${describeValue(found)}`;
    }
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum;
      if (issue.origin === 'array') {
        const n = Array.isArray(found) ? found.length : 0;
        return `expected ${small ? 'at least' : 'at most'} ${String(bound)} item(s), found ${n}`;
      }
      return `expected a number ${small ? '>=' : '<='} ${String(bound)}, found ${describeValue(found)}`;
    }
    case 'invalid_key': {
      const inner = issue.issues.map((i) => i.message).join('; ');
      return `bad key ${JSON.stringify(String(last))}: ${inner}`;
    }
    default:
      return issue.message;
  }
}

/** Every zod issue as a located problem; unknown keys get one problem each, at the key. */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], raw: unknown, loc: Locator): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const p = issue.path as KeyPath;
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(p, raw);
      for (const key of issue.keys) {
        const hint = allowed ? `; allowed keys: ${allowed.join(', ')}${suggestKey(key, allowed)}` : '';
        out.push(loc.problem([...p, key], `unknown key "${key}"${hint}`, loc.offsetOfKey(p, key)));
      }
      continue;
    }
    if (issue.code === 'invalid_key') {
      const key = String(p[p.length - 1]);
      out.push(loc.problem(p, messageFor(issue, raw), loc.offsetOfKey(p.slice(0, -1), key)));
      continue;
    }
    out.push(loc.problem(p, messageFor(issue, raw)));
  }
  return out;
}
