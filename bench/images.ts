// Image store: `image add` of a 1 GB tree of many files against `cp -a` of the same tree, and a
// second version that differs by one file (time and extra disk, against a full copy), in one run.
// BENCH_IMAGE_MB scales the tree.
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { tempDir } from '../test/helpers/lab.ts';
import { createRunner } from '../src/runner.ts';
import { silentLogger } from '../src/log.ts';
import { addVersion } from '../src/images/add.ts';
import { versionDir } from '../src/images/store.ts';
import { figure, type Figure } from './lib/report.ts';

const FILE_KB = 128;

function duKiB(paths: string[]): number {
  const out = execFileSync('du', ['-skc', ...paths], { encoding: 'utf8' }).trim().split('\n');
  return Number(out.at(-1)!.split('\t')[0]);
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}

export async function benchImages(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const mb = Number(process.env.BENCH_IMAGE_MB ?? 1024);
  const files = Math.round((mb * 1024) / FILE_KB);
  const root = tempDir('pxe-bench-img-');
  const src = path.join(root, 'src');
  for (let i = 0; i < files; i++) {
    const d = path.join(src, `d${i % 100}`);
    if (i < 100) mkdirSync(d, { recursive: true });
    const b = Buffer.alloc(FILE_KB * 1024, i & 0xff);
    b.writeUInt32LE(i, 0);
    writeFileSync(path.join(d, `f${i}`), b);
  }
  execFileSync('sync');
  log(`  tree: ${files} files of ${FILE_KB} KiB in 100 dirs (${mb} MB)`);
  // every timing includes the sync that puts the copy on disk
  const [, cpMs] = timed(() => {
    execFileSync('cp', ['-a', src, path.join(root, 'cp-copy')]);
    execFileSync('sync');
  });
  rmSync(path.join(root, 'cp-copy'), { recursive: true, force: true });
  const imagesDir = path.join(root, 'images');
  mkdirSync(imagesDir);
  const c = { imagesDir, runner: createRunner(silentLogger()), mount: 'mount', umount: 'umount' };
  let t0 = performance.now();
  const v1 = (await addVersion(c, 'bench', src)).version;
  execFileSync('sync');
  const addMs = performance.now() - t0;
  writeFileSync(path.join(src, 'd7', 'f7'), Buffer.alloc(FILE_KB * 1024, 0xee));
  t0 = performance.now();
  const v2 = (await addVersion(c, 'bench', src)).version;
  execFileSync('sync');
  const add2Ms = performance.now() - t0;
  const d1 = versionDir(imagesDir, 'bench', v1);
  const d2 = versionDir(imagesDir, 'bench', v2);
  const oneKiB = duKiB([d1]);
  const extraKiB = duKiB([d1, d2]) - oneKiB;
  log(`  cp -a ${(cpMs / 1000).toFixed(2)} s; image add ${(addMs / 1000).toFixed(2)} s; second version ${(add2Ms / 1000).toFixed(2)} s, +${extraKiB} KiB on disk (one version: ${oneKiB} KiB)`);
  const figures = [
    figure({ bench: 'images', metric: `image add of a ${mb} MB tree (${files} files)`, unit: 'ms', value: Math.round(addMs), baseline: { what: 'cp -a of the same tree', value: Math.round(cpMs) }, op: '~', limit: 1, tolerance: 0.5 }),
    figure({ bench: 'images', metric: 'second version, one file changed: time', unit: 'ms', value: Math.round(add2Ms), baseline: { what: 'cp -a of the same tree', value: Math.round(cpMs) }, op: 'info', limit: 0 }),
    // directories cannot be hard links: each of the 101 costs its 4 KiB block again
    figure({ bench: 'images', metric: 'second version, one file changed: extra disk', unit: 'KiB', value: extraKiB, baseline: { what: 'one full version (du)', value: oneKiB }, op: '<=', limit: FILE_KB + 101 * 4 + 64, notes: `one ${FILE_KB} KiB file + 101 directory blocks` }),
  ];
  return { figures, raw: { mb, files, cpMs, addMs, add2Ms, extraKiB, oneKiB } };
}
