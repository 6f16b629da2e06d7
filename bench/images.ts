// Image store: `image add` of a 1 GB tree of many files against `cp -a` of the same tree, and a
// second version that differs by one file (time and extra disk, against a full copy), in one run;
// then the next-boot switch of a node onto the second version (carry against fresh).
// BENCH_IMAGE_MB scales the tree.
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { onCleanup, tempDir, uniq } from '../test/helpers/lab.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from '../test/unit/provisioners/fixtures.ts';
import { createProvisioner } from '../provisioners/index.ts';
import { imageRule } from '../src/images/node-lower.ts';
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
    figure({ bench: 'images', metric: `image add of a ${mb} MB tree (${files} files)`, unit: 'ms', value: Math.round(addMs), baseline: { what: 'cp -a of the same tree', value: Math.round(cpMs) }, op: 'ratio<=', limit: 1.5 }),
    figure({ bench: 'images', metric: 'second version, one file changed: time', unit: 'ms', value: Math.round(add2Ms), baseline: { what: 'cp -a of the same tree', value: Math.round(cpMs) }, op: 'info', limit: 0 }),
    // directories cannot be hard links: each of the 101 costs its 4 KiB block again
    figure({ bench: 'images', metric: 'second version, one file changed: extra disk', unit: 'KiB', value: extraKiB, baseline: { what: 'one full version (du)', value: oneKiB }, op: '<=', limit: FILE_KB + 101 * 4 + 64, notes: `one ${FILE_KB} KiB file + 101 directory blocks` }),
  ];
  const sw = await benchSwitch(c, v1, v2, log);
  return { figures: [...figures, ...sw.figures], raw: { mb, files, cpMs, addMs, add2Ms, extraKiB, oneKiB, switch: sw.raw } };
}

/**
 * The switch at a node's next boot (boot files -> unexport -> umount -> upper carried -> mount on the
 * new version -> export with the same fsid -> boot files), for a node whose upper holds
 * BENCH_SWITCH_UPPER_MB (default 100) of its own files plus a copy-up of every directory of the
 * image; beside it, the same switch with on_image_change: fresh (no walk of the upper), same run.
 */
async function benchSwitch(c: { imagesDir: string; runner: ReturnType<typeof createRunner> }, v1: string, v2: string, log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const upperMb = Number(process.env.BENCH_SWITCH_UPPER_MB ?? 100);
  const base = tempDir('pxe-bench-switch-');
  for (const d of ['node', 'overlay', 'tftp', 'templates']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  const exportsFile = `/etc/exports.d/pxebootd-bench-${uniq()}.exports`;
  onCleanup(`rm ${exportsFile} + exportfs -r`, () => {
    rmSync(exportsFile, { force: true });
    execFileSync('exportfs', ['-r']);
  });
  onCleanup('umount bench overlays', () => {
    for (const mp of [path.join(base, 'node', CARRY.name), path.join(base, 'node', FRESH.name)]) spawnSync('umount', [mp]);
  });
  const config = makeConfig(base, { images_dir: c.imagesDir, exports: { file: exportsFile, etab: '/var/lib/nfs/etab' } });
  const p = createProvisioner({ config, runner: createRunner(silentLogger()), log: silentLogger() });
  const rule = (v: string, how: 'carry' | 'fresh') => imageRule(makeRule(base, { image: 'bench', on_image_change: how }), c.imagesDir, v);
  const rounds = Math.max(1, Number(process.env.BENCH_SWITCH_ROUNDS ?? 3));
  const ms: Record<'carry' | 'fresh', number[]> = { carry: [], fresh: [] };
  try {
    for (const [node, how] of [[CARRY, 'carry'], [FRESH, 'fresh']] as const) {
      await p.provision(node, rule(v1, how));
      const mp = path.join(base, 'node', node.name);
      // the node's own files, and a change in every directory of the image (copy-ups with an origin)
      const own = path.join(mp, 'home');
      mkdirSync(own);
      const n = Math.round((upperMb * 1024) / FILE_KB);
      for (let i = 0; i < n; i++) writeFileSync(path.join(own, `f${i}`), Buffer.alloc(FILE_KB * 1024, i & 0xff));
      for (let d = 0; d < 100; d++) writeFileSync(path.join(mp, `d${d}`, `f${d}`), 'changed by the node\n');
    }
    execFileSync('sync');
    // interleaved rounds, alternating v1 -> v2 and back, so both kinds see the same machine load
    for (let r = 0; r < rounds; r++) {
      const [from, to] = r % 2 === 0 ? [v1, v2] : [v2, v1];
      for (const [node, how] of [[CARRY, 'carry'], [FRESH, 'fresh']] as const) {
        const mp = path.join(base, 'node', node.name);
        const t0 = performance.now();
        await p.switchLayer(node, rule(from, how), rule(to, how), how === 'carry' ? { how } : { how, from, to });
        await p.provision(node, rule(to, how));
        ms[how].push(performance.now() - t0);
        if (how === 'carry' && readFileSync(path.join(mp, 'd7', 'f7'), 'utf8') !== 'changed by the node\n') throw new Error('carry lost a change');
      }
    }
    const last = rounds % 2 === 1 ? v2 : v1;
    for (const node of [CARRY, FRESH]) await p.release(node, rule(last, 'carry'), 'remove');
  } finally {
    await p.close();
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const span = (a: number[]) => `${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)} ms over ${a.length} rounds`;
  log(`  next-boot switch, ${upperMb} MB upper: carry median ${med(ms.carry).toFixed(0)} ms (${span(ms.carry)}), fresh median ${med(ms.fresh).toFixed(0)} ms (${span(ms.fresh)})`);
  return {
    figures: [
      figure({ bench: 'images', metric: `next-boot switch of one node, ${upperMb} MB upper, carry`, unit: 'ms', value: Math.round(med(ms.carry)), baseline: { what: 'the same switch with on_image_change: fresh (median)', value: Math.round(med(ms.fresh)) }, op: '<=', limit: 2000, notes: `median; carry ${span(ms.carry)}, fresh ${span(ms.fresh)}` }),
    ],
    raw: { upperMb, rounds, carryMs: ms.carry, freshMs: ms.fresh },
  };
}

const CARRY = makeNode(1, { subnet: '10.99.0.0/24' });
const FRESH = makeNode(2, { subnet: '10.99.0.0/24' });
