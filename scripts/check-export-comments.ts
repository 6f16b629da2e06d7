// Lists exported functions, consts and classes with no comment right above them (STYLE.md: a
// one-line "why" on each export). `node scripts/check-export-comments.ts [PATH...]` checks the
// given files or folders (default: src, watchers, provisioners); exit code 1 when any lacks one.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const EXPORT_RE = /^export\s+(?:default\s+)?(?:async\s+)?(?:function\*?|const|let|class|abstract\s+class)\s+([A-Za-z_$][\w$]*)/;

/** The exports of one file's text that have no comment on the line(s) just above them: [line, name]. */
export function missingExportComments(text: string): Array<{ line: number; name: string }> {
  const lines = text.split('\n');
  const out: Array<{ line: number; name: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const m = EXPORT_RE.exec(lines[i]!);
    if (!m) continue;
    let j = i - 1;
    while (j >= 0 && lines[j]!.trim().startsWith('@')) j--;
    const prev = j >= 0 ? lines[j]!.trim() : '';
    if (!(prev.startsWith('//') || prev.endsWith('*/'))) out.push({ line: i + 1, name: m[1]! });
  }
  return out;
}

function tsFiles(p: string): string[] {
  if (!statSync(p).isDirectory()) return p.endsWith('.ts') ? [p] : [];
  return readdirSync(p, { withFileTypes: true }).flatMap((e) => (e.name === 'node_modules' ? [] : tsFiles(path.join(p, e.name))));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const args = process.argv.slice(2);
  const targets = args.length ? args : ['src', 'watchers', 'provisioners'].map((d) => path.join(root, d));
  let n = 0;
  for (const f of targets.flatMap(tsFiles).sort()) {
    for (const m of missingExportComments(readFileSync(f, 'utf8'))) {
      console.log(`${path.relative(root, path.resolve(f))}:${m.line}: export ${m.name} has no comment saying why it exists`);
      n++;
    }
  }
  if (n) {
    console.log(`${n} export(s) without a comment`);
    process.exitCode = 1;
  }
}
