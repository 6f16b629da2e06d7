import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLineChunkReader } from '../../../provisioners/line-chunks.ts';
import { scanEtab } from '../../../provisioners/exports-kernel.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'pxd-chunks-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function pieces(file: string, size: number): string[] {
  const out: string[] = [];
  createLineChunkReader(file, size)((p) => out.push(p.toString('utf8')));
  return out;
}

test('pieces are whole lines, in order, and together the whole file (lines longer than the buffer too)', () => {
  const file = path.join(dir, 'lines');
  const lines = Array.from({ length: 300 }, (_, i) => `line ${i} ` + 'x'.repeat((i * 7) % 50));
  lines[150] = 'y'.repeat(100); // longer than the 16-byte buffer
  const text = lines.join('\n') + '\nlast line without a newline';
  writeFileSync(file, text);
  for (const size of [16, 64, 1000, 1 << 16]) {
    const got = pieces(file, size);
    assert.equal(got.join(''), text, `size ${size}`);
    assert.ok(got.slice(0, -1).every((p) => p.endsWith('\n')), `size ${size}: every piece but the last ends a line`);
    assert.equal(got.at(-1)!.endsWith('last line without a newline'), true);
  }
  assert.ok(pieces(file, 16).length > 10, 'a small buffer gives many pieces');
});

test('the reader is reusable, an empty file gives no piece, a missing one throws ENOENT', () => {
  const file = path.join(dir, 'again');
  writeFileSync(file, 'a\nb\n');
  const read = createLineChunkReader(file, 16);
  const seen: string[] = [];
  read((p) => seen.push(p.toString()));
  writeFileSync(file, 'c\n');
  read((p) => seen.push(p.toString()));
  assert.deepEqual(seen, ['a\nb\n', 'c\n']);
  writeFileSync(file, '');
  assert.deepEqual(pieces(file, 16), []);
  assert.throws(() => pieces(path.join(dir, 'missing'), 16), { code: 'ENOENT' });
});

test('etab scanned piece by piece finds the same lines as scanned whole', () => {
  const file = path.join(dir, 'etab');
  const lines = Array.from({ length: 2000 }, (_, i) => `/n/${i}\t10.99.${i >> 8}.${(i & 255) + 1}(rw,no_root_squash,fsid=${i + 1})`);
  writeFileSync(file, lines.join('\n') + '\n');
  const want = new Set(['/n/0', '/n/777', '/n/1999', '/n/nope']);
  const found: ReturnType<typeof scanEtab> = [];
  createLineChunkReader(file, 4096)((p) => found.push(...scanEtab(p, want)));
  assert.deepEqual(found, scanEtab(Buffer.from(lines.join('\n')), want));
  assert.deepEqual(found.map((e) => e.options), ['rw,no_root_squash,fsid=1', 'rw,no_root_squash,fsid=778', 'rw,no_root_squash,fsid=2000']);
});
