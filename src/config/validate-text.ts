// The pure core of config loading: text in, Config or every problem out. The file system is only
// reached through the injected probe, so unit tests need no files.
import path from 'node:path';
import { LineCounter, isCollection, isMap, isScalar, parseDocument, visit } from 'yaml';
import type { ConfigProblem } from '../errors.ts';
import type { Config } from '../types.ts';
import { buildConfig } from './build.ts';
import { checkFiles, type FsProbe } from './files-check.ts';
import { problemsFromIssues } from './issues.ts';
import { checkLayout } from './layout-check.ts';
import { createLocator } from './positions.ts';
import { asObj } from './raw.ts';
import { configSchema } from './schema.ts';
import { checkSemantics } from './semantics.ts';

/** Either a config (and no problems) or the problems (and no config). */
export interface CheckResult {
  config?: Config;
  problems: ConfigProblem[];
}

/** What to check besides the text itself. */
export interface CheckOptions {
  /** skip the file-system checks (paths exist, templates parse): `explain` still plans with a path missing */
  skipFiles?: boolean;
}

/** Validate config text named `file` (relative paths resolve against its directory). Never throws. */
export function validateConfigText(text: string, file: string, probe: FsProbe, opts: CheckOptions = {}): CheckResult {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const loc = createLocator(file, doc, lc);
  const at = (offset: number, message: string, p = ''): ConfigProblem => ({ file, ...loc.lineCol(offset), path: p, message });

  const syntax = firstPerBlock(text, [...doc.errors, ...doc.warnings].map((e) => at(e.pos[0], `YAML: ${yamlMessage(e.message)}`)));
  if (doc.errors.length > 0) return { problems: sortProblems(file, syntax) };
  // a map or list used as a key (`{ kernel }: 3`) has no meaning here; say where, instead of
  // letting toJS stringify it with a process warning
  const badKeys: ConfigProblem[] = [];
  visit(doc, {
    Pair(_k, pair) {
      const k = pair.key;
      if (isCollection(k)) badKeys.push(at(k.range?.[0] ?? 0, `YAML: expected a plain key, found a ${isMap(k) ? 'map' : 'list'} used as a key`));
      else if (isScalar(k) && typeof k.value === 'object' && k.value !== null) badKeys.push(at(k.range?.[0] ?? 0, 'YAML: expected a plain key, found binary data used as a key'));
    },
  });
  if (badKeys.length > 0) return { problems: sortProblems(file, [...syntax, ...badKeys]) };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    return { problems: [...syntax, at(0, `YAML: ${(e as Error).message}`)] };
  }
  const obj = asObj(raw);
  if (!obj) {
    const found = raw === null || raw === undefined ? 'an empty document' : Array.isArray(raw) ? 'a list' : `a ${typeof raw}`;
    return { problems: [...syntax, at(0, `expected a map of settings (server, subnets, ...), found ${found}`)] };
  }

  dropEmptySections(obj);
  const parsed = configSchema.safeParse(obj);
  const problems = [...syntax];
  if (!parsed.success) problems.push(...problemsFromIssues(parsed.error.issues, obj, loc));
  problems.push(...checkSemantics(obj, loc));
  const baseDir = path.dirname(path.resolve(file));
  problems.push(...checkLayout(obj, baseDir, loc));
  if (!opts.skipFiles) problems.push(...checkFiles(obj, baseDir, probe, loc));

  const unique = dedupe(problems);
  if (unique.length > 0 || !parsed.success) return { problems: sortProblems(file, unique) };
  return { config: buildConfig(parsed.data, file, loc), problems: [] };
}

/** The yaml package's message, with the fix where it is not obvious. */
function yamlMessage(m: string): string {
  return /^Tabs are not allowed as indentation/.test(m) ? `${m}: indent with spaces` : m;
}

/**
 * One syntax error usually makes the parser misread the rest of its block (a tab in one line gave 18
 * errors). Keep the first error of each top-level block (from a line that starts in column 1 to the
 * next), and say how many more that block had, so independent mistakes elsewhere are still shown.
 */
function firstPerBlock(text: string, ps: ConfigProblem[]): ConfigProblem[] {
  const lines = text.split('\n');
  const blockOf = (line: number) => {
    for (let l = Math.min(line, lines.length); l > 1; l--) {
      const c = lines[l - 1]!.charAt(0);
      if (c !== '' && c !== ' ' && c !== '\t' && c !== '#') return l;
    }
    return 1;
  };
  const first = new Map<number, { p: ConfigProblem; more: number }>();
  for (const p of [...ps].sort((a, b) => a.line - b.line || a.col - b.col)) {
    const b = blockOf(p.line);
    const seen = first.get(b);
    if (seen) seen.more++;
    else first.set(b, { p, more: 0 });
  }
  return [...first.values()].map(({ p, more }) => (more ? { ...p, message: `${p.message} (${more} more YAML error${more === 1 ? '' : 's'} after it in this block, most likely caused by it: fix this one first)` } : p));
}

/** Keys whose empty value (`hosts:` with every entry commented out) means "use the default". */
const EMPTY_MEANS_DEFAULT = ['sources', 'hosts', 'exports', 'commands', 'queue', 'trusted_programs'];

function dropEmptySections(obj: Record<string, unknown>): void {
  for (const k of EMPTY_MEANS_DEFAULT) if (obj[k] === null) delete obj[k];
  for (const list of [obj.subnets, obj.hosts]) {
    if (!Array.isArray(list)) continue;
    for (const r of list) {
      const rule = asObj(r);
      if (rule && rule.vars === null) delete rule.vars;
    }
  }
}

function dedupe(ps: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return ps.filter((p) => {
    const k = `${p.file}\0${p.line}\0${p.col}\0${p.path}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Config-file problems first, in file order; then template problems by file and position. */
function sortProblems(file: string, ps: ConfigProblem[]): ConfigProblem[] {
  return [...ps].sort((a, b) => {
    if (a.file !== b.file) return a.file === file ? -1 : b.file === file ? 1 : a.file < b.file ? -1 : 1;
    return a.line - b.line || a.col - b.col;
  });
}
