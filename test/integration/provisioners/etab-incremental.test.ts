// Kernel backend at fleet scale, real exportfs and the real /var/lib/nfs/etab: with 10,000 of our
// exports live, adding and removing one node edits etab directly (no exportfs run), the result is
// what `exportfs -r` itself writes (an admin's later `exportfs -r` changes none of our lines), and
// other tools' entries (another exports.d file, an ad-hoc `exportfs -i -o` line) stay byte for byte.
// Only lines under this test's own temp dir are asserted on: other tests share etab.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, requireTool, sh, tempDir, uniq } from '../../helpers/lab.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import { createExportBackend } from '../../../provisioners/export-backends.ts';
import { createExportBatcher } from '../../../provisioners/export-batcher.ts';
import { parseKernelExports, renderKernelExports } from '../../../provisioners/exports-kernel.ts';
import type { ExportEntry } from '../../../provisioners/export-entry.ts';
import { makeConfig } from '../../unit/provisioners/fixtures.ts';

after(cleanupAll);

const ETAB = '/var/lib/nfs/etab';
const N = 10_000;
let base: string;
let file: string;
let otherFile: string;

const entry = (i: number): ExportEntry => {
  const node = `0A63${i.toString(16).toUpperCase().padStart(4, '0')}`;
  return { node, path: `${base}/node/${node}`, ip: `10.99.${i >> 8}.${i & 255}`, fsid: 20000 + i };
};
const etabLines = () => readFileSync(ETAB, 'utf8').split('\n');
const ours = () => etabLines().filter((l) => l.startsWith(`${base}/node/`)).sort();
const others = () => etabLines().filter((l) => l.startsWith(`${base}/other`) || l.startsWith(`${base}/adhoc`));
/** path, client and fsid of each of our etab lines, as "path ip fsid" */
const etabTriples = () => ours().map((l) => `${l.split('\t')[0]} ${l.split('\t')[1]!.split('(')[0]} ${/[(,]fsid=(\d+)/.exec(l)?.[1]}`).sort();
const fileTriples = () => parseKernelExports(readFileSync(file, 'utf8')).entries.map((e) => `${e.path} ${e.ip} ${e.fsid}`).sort();

before(() => {
  requireRoot();
  requireTool('exportfs');
  base = tempDir('pxd-etab-');
  mkdirSync('/etc/exports.d', { recursive: true });
  file = `/etc/exports.d/pxebootd-etab-${uniq()}.exports`;
  otherFile = `/etc/exports.d/pxg-othertool-${uniq()}.exports`;
  onCleanup(`rm ${file} ${otherFile} + exportfs -r`, () => {
    rmSync(file, { force: true });
    rmSync(otherFile, { force: true });
    sh('exportfs', ['-r'], { allowFail: true });
  });
  for (let i = 1; i <= N + 8; i++) mkdirSync(entry(i).path, { recursive: true });
  for (const d of ['other', 'adhoc']) mkdirSync(path.join(base, d));
  // 10,000 nodes already exported by an earlier pxebootd, and another tool's exports file
  writeFileSync(file, renderKernelExports(Array.from({ length: N }, (_, i) => entry(i + 1)), 'rw,no_root_squash,no_subtree_check,sync'));
  writeFileSync(otherFile, `${base}/other 192.0.2.7(ro,no_subtree_check)\n`);
});

test(`one node added and removed among ${N} exports: no exportfs run, etab as exportfs writes it, other entries untouched`, { timeout: 240_000 }, async () => {
  const config = makeConfig(base, { exports: { file, etab: ETAB } });
  const runner = createRunner(silentLogger());
  const runs = () => runner.stats().get('exportfs')?.runs ?? 0;
  const batcher = createExportBatcher({ backend: createExportBackend(config, runner, silentLogger()), log: silentLogger(), dryRun: false });
  try {
    // the first change after start-up: one `exportfs -r`, which shows how exportfs writes our lines
    await batcher.want(entry(N + 1));
    assert.equal(runs(), 1);
    assert.equal(ours().length, N + 1);
    assert.deepEqual(etabTriples(), fileTriples());

    // other tests on this machine may run `exportfs -r` meanwhile, which drops the ad-hoc line:
    // exportfs writes etab.tmp (pxebootd's temp files are named otherwise), so a step that saw one
    // is done again
    const seen = new Set<string>();
    const w = watch(path.dirname(ETAB), (_e, name) => name && seen.add(String(name)));
    onCleanup('etab dir watcher', () => w.close());
    const untouched = async (what: string, step: () => Promise<void>, check: () => void) => {
      for (let round = 0; ; round++) {
        if (!others().some((l) => l.startsWith(`${base}/adhoc\t`))) sh('exportfs', ['-i', '-o', 'ro,no_subtree_check', `192.0.2.8:${base}/adhoc`]);
        const theirs = others();
        assert.equal(theirs.length, 2, `another tool's lines in etab: ${theirs.join(' | ')}`);
        seen.clear();
        await step();
        check();
        const same = JSON.stringify(others()) === JSON.stringify(theirs);
        if (same || (seen.has('etab.tmp') && round < 10)) {
          if (same) return theirs;
          continue;
        }
        assert.deepEqual(others(), theirs, `another tool's etab lines changed by ${what} (round ${round}, seen in ${path.dirname(ETAB)}: ${[...seen].join(' ')})`);
      }
    };

    const beforeAdd = ours();
    let addMs = 0;
    let added = N + 1;
    const theirs = await untouched(
      'one add',
      async () => {
        const t0 = performance.now();
        await batcher.want(entry(++added));
        addMs = performance.now() - t0;
      },
      () => {
        assert.equal(runs(), 1, 'adding one node ran exportfs');
        assert.deepEqual(etabTriples(), fileTriples(), 'etab and the exports file disagree after the add');
      },
    );
    const afterAdd = ours();
    assert.equal(afterAdd.length, added);
    assert.ok(afterAdd.filter((l) => !beforeAdd.includes(l)).length >= 1);

    let dropMs = 0;
    let dropped = 6;
    await untouched(
      'one drop',
      async () => {
        const t1 = performance.now();
        await batcher.drop(entry(++dropped).path);
        dropMs = performance.now() - t1;
      },
      () => {
        assert.equal(runs(), 1, 'removing one node ran exportfs');
        assert.equal(ours().some((l) => l.startsWith(entry(dropped).path + '\t')), false);
      },
    );
    assert.deepEqual(etabTriples(), fileTriples(), 'etab and the exports file disagree after the drop');
    console.log(`  one add: ${addMs.toFixed(1)} ms, one drop: ${dropMs.toFixed(1)} ms at ${N} exports (information, not asserted)`);

    // an admin's `exportfs -r` now writes exactly our lines again, byte for byte (the ad-hoc
    // line goes, as exportfs -r always drops lines that are in no exports file)
    const mine = ours();
    sh('exportfs', ['-r']);
    assert.deepEqual(ours(), mine, "exportfs -r wrote our lines differently from pxebootd's edit");
    assert.deepEqual(others(), theirs.filter((l) => l.startsWith(`${base}/other`)));
    assert.equal(existsSync(ETAB), true);
  } finally {
    await batcher.close();
  }
});
