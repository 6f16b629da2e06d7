// writeFileAtomicSync and the temp names: sequential names are safe because the create is exclusive;
// a file planted at the next names is neither followed nor overwritten, the write moves on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEMP_TRIES, tempNameFor, writeFileAtomic, writeFileAtomicSync } from '../../src/atomic-file.ts';
import { isStaleTemp } from '../../provisioners/stale-temp.ts';

/** the temp name the next write of `file` will try first, and the ones after it */
function nextNames(file: string, n: number): string[] {
  const cur = path.basename(tempNameFor(file, 'tmp')).split('.');
  const seq = parseInt(cur[cur.length - 2]!, 16);
  return Array.from({ length: n }, (_, i) => {
    const parts = [...cur];
    parts[parts.length - 2] = ((seq + 1 + i) >>> 0).toString(16).padStart(8, '0');
    return path.join(path.dirname(file), parts.join('.'));
  });
}

test('temp names have the form stale-temp.ts sweeps (after the writer is gone)', () => {
  const name = path.basename(tempNameFor('/x/01-52-54-00-00-00-01', 'tmp'));
  assert.match(name, new RegExp(`^\\.01-52-54-00-00-00-01\\.${process.pid}\\.[0-9a-f]{8}\\.tmp$`));
  assert.equal(isStaleTemp(name.replace(String(process.pid), '999999999'), () => false), true);
});

for (const [what, write] of [
  ['writeFileAtomicSync', async (f: string, t: string) => writeFileAtomicSync(f, t, { mode: 0o644, noSync: true })],
  ['writeFileAtomic', (f: string, t: string) => writeFileAtomic(f, t, { mode: 0o644, noSync: true })],
] as const) {
  test(`${what}: a file and a link planted at the next temp names are skipped, not written through`, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pxg-atomic-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'boot');
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'victim\n');
    const [a, b] = nextNames(file, 2);
    writeFileSync(a!, 'planted\n');
    symlinkSync(victim, b!);
    await write(file, 'new\n');
    assert.equal(readFileSync(file, 'utf8'), 'new\n');
    assert.equal(readFileSync(victim, 'utf8'), 'victim\n', 'the link was not followed');
    assert.equal(readFileSync(a!, 'utf8'), 'planted\n');
    assert.equal(lstatSync(b!).isSymbolicLink(), true);
    assert.deepEqual(readdirSync(dir).sort(), [path.basename(a!), path.basename(b!), 'boot', 'victim'].sort(), 'no temp file left behind');
  });

  test(`${what}: gives up with EEXIST after ${TEMP_TRIES} planted names`, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pxg-atomic-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'boot');
    for (const n of nextNames(file, TEMP_TRIES)) writeFileSync(n, 'planted\n');
    await assert.rejects(write(file, 'new\n'), /EEXIST/);
  });
}
