// Import circles make a module's meaning depend on load order and hide which side owns what:
// this lists the circles among src/, watchers/ and provisioners/ (type-only imports included)
// and fails on any circle at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));


function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) out.push(rel);
    }
  };
  for (const d of ['src', 'watchers', 'provisioners']) walk(d);
  return out;
}

function importGraph(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  const g = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(path.join(ROOT, f), 'utf8');
    const specs = [...text.matchAll(/(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gs), ...text.matchAll(/import\('(\.[^']+)'\)/g)].map((m) => m[1]!);
    g.set(f, specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(f), s))).filter((d) => known.has(d)));
  }
  return g;
}

/** Strongly connected components of more than one file (Tarjan), each as sorted paths. */
function circles(g: Map<string, string[]>): string[] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const c: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) out.push(c.sort().join(' , '));
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

test('no import circle among src/, watchers/ and provisioners/', () => {
  assert.deepEqual(circles(importGraph(sourceFiles())), []);
});

test('the circle finder sees a circle made of type-only imports', () => {
  const g = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['a.ts']],
    ['c.ts', ['a.ts']],
  ]);
  assert.deepEqual(circles(g), ['a.ts , b.ts']);
});
