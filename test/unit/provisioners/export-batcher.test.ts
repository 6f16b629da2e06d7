import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../../src/log.ts';
import { ConflictError } from '../../../src/errors.ts';
import { createExportBatcher } from '../../../provisioners/export-batcher.ts';
import type { ExportBackend } from '../../../provisioners/export-backends.ts';
import type { ExportEntry } from '../../../provisioners/export-entry.ts';
import { parseKernelExports, renderKernelExports } from '../../../provisioners/exports-kernel.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function entry(i: number): ExportEntry {
  const node = (0x0a630000 + i).toString(16).toUpperCase().padStart(8, '0');
  return { node, path: `/n/${node}`, ip: `10.99.${i >> 8}.${(i & 255) || 1}`, fsid: 1000 + i };
}

function fakeBackend(file: string, fail: Set<string> = new Set(), reloadMs = 5) {
  const reloads: Array<{ live: string[]; gone: string[]; verifyOnly: boolean; fileAtReload: string }> = [];
  const backend: ExportBackend = {
    name: 'kernel',
    file,
    maxFsid: 0xffffffff,
    render: (e) => renderKernelExports(e, 'rw'),
    parse: parseKernelExports,
    async reload(live, gone, verifyOnly) {
      reloads.push({ live: live.map((e) => e.path), gone: gone.map((e) => e.path), verifyOnly, fileAtReload: existsSync(file) ? readFileSync(file, 'utf8') : '' });
      await sleep(reloadMs);
      return new Map(live.filter((e) => fail.has(e.path)).map((e) => [e.path, new Error(`${e.path} missing from etab`)]));
    },
  };
  return { backend, reloads };
}

function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'pxd-batch-'));
  process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('export batcher', () => {
  test('200 concurrent wants: one file write, one reload, all resolved', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend, reloads } = fakeBackend(file);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await Promise.all(Array.from({ length: 200 }, (_, i) => b.want(entry(i + 1))));
    assert.equal(reloads.length, 1);
    assert.equal(reloads[0]!.live.length, 200);
    assert.equal(reloads[0]!.verifyOnly, false);
    assert.equal(readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('/n/')).length, 200);
    assert.equal(reloads[0]!.fileAtReload, readFileSync(file, 'utf8'), 'the file is written before the reload');
    await b.close();
  });

  test('a flush writes the exports file with no thread-pool round trip (a lone lease waits on each)', async () => {
    const { createHook } = await import('node:async_hooks');
    const file = path.join(tmp(), 'sub', 'x.exports');
    const { backend } = fakeBackend(file);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await b.want(entry(1)); // the first flush also reads the file and sweeps stale temps (once)
    const seen: string[] = [];
    const hook = createHook({
      init(_id, type) {
        if (type === 'FSREQPROMISE' || type === 'FSREQCALLBACK') seen.push(type);
      },
    });
    hook.enable();
    try {
      await b.want(entry(2));
    } finally {
      hook.disable();
    }
    assert.deepEqual(seen, [], 'no fs request handed to the pool');
    assert.deepEqual(parseKernelExports(readFileSync(file, 'utf8')).entries.map((e) => e.path), [entry(1).path, entry(2).path]);
    await b.close();
  });

  test('partial failure rejects only the failing nodes and drops their lines afterwards', async () => {
    const file = path.join(tmp(), 'x.exports');
    const bad = new Set([entry(3).path, entry(7).path]);
    const { backend, reloads } = fakeBackend(file, bad);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => b.want(entry(i + 1))));
    const rejected = results.flatMap((r, i) => (r.status === 'rejected' ? [entry(i + 1).path] : []));
    assert.deepEqual(rejected.sort(), [...bad].sort());
    await b.flush();
    await b.close();
    const lines = readFileSync(file, 'utf8');
    for (const p of bad) assert.ok(!lines.includes(p + ' '), `${p} removed from the file`);
    assert.equal(lines.split('\n').filter((l) => l.startsWith('/n/')).length, 8);
    assert.ok(reloads.length >= 2, 'a clean-up reload follows');
  });

  test('a second node with the same fsid is a ConflictError; the first keeps it', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend } = fakeBackend(file);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    const a = entry(1);
    const clash = { ...entry(2), fsid: a.fsid };
    const [r1, r2] = await Promise.allSettled([b.want(a), b.want(clash)]);
    assert.equal(r1.status, 'fulfilled');
    assert.equal(r2.status, 'rejected');
    assert.ok((r2 as PromiseRejectedResult).reason instanceof ConflictError);
    await b.close();
  });

  test('wanting a verified entry again only verifies (no reload), and the file is not rewritten', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend, reloads } = fakeBackend(file);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await b.want(entry(1));
    const ino = (await import('node:fs')).statSync(file).ino;
    await b.want(entry(1));
    assert.deepEqual(reloads.map((r) => r.verifyOnly), [false, true]);
    assert.equal((await import('node:fs')).statSync(file).ino, ino);
    await b.want(entry(1), { force: true });
    assert.deepEqual(reloads.map((r) => r.verifyOnly), [false, true, false]);
    await b.close();
  });

  test('after a reload that threw (server down), the same entry again forces a real reload', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend, reloads } = fakeBackend(file);
    const real = backend.reload;
    let fail = true;
    backend.reload = async (live, gone, verifyOnly) => {
      if (fail) {
        fail = false;
        reloads.push({ live: [], gone: [], verifyOnly, fileAtReload: 'threw' });
        throw new Error('cannot read Ganesha pid file');
      }
      return real(live, gone, verifyOnly);
    };
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await assert.rejects(b.want(entry(1)), /pid file/);
    await b.want(entry(1));
    assert.deepEqual(reloads.map((r) => r.verifyOnly), [false, false]);
    await b.want(entry(1));
    assert.deepEqual(reloads.map((r) => r.verifyOnly), [false, false, true]);
    await b.close();
  });

  test('drop removes the line and reports the path as gone', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend, reloads } = fakeBackend(file);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await Promise.all([b.want(entry(1)), b.want(entry(2))]);
    await b.drop(entry(1).path);
    assert.deepEqual(reloads.at(-1)!.gone, [entry(1).path]);
    assert.ok(!readFileSync(file, 'utf8').includes(entry(1).path + ' '));
    assert.ok(readFileSync(file, 'utf8').includes(entry(2).path + ' '));
    await b.drop('/n/0A63FFFF'); // unknown: resolves, nothing to do
    await b.close();
  });

  test('existing lines in our file are kept (loaded on first use); lines we did not write are dropped', async () => {
    const file = path.join(tmp(), 'x.exports');
    writeFileSync(file, renderKernelExports([entry(5)], 'rw') + '/etc *(rw)\n');
    const { backend } = fakeBackend(file);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await b.want(entry(1));
    const text = readFileSync(file, 'utf8');
    assert.ok(text.includes(entry(5).path + ' '));
    assert.ok(!text.includes('/etc *(rw)'));
    assert.deepEqual([...(await b.entries()).keys()].sort(), [entry(1).path, entry(5).path].sort());
    await b.close();
  });

  test('temp files of our exports file left by a killed pxebootd are removed on first use', async () => {
    const dir = tmp();
    const file = path.join(dir, 'x.exports');
    const stale = path.join(dir, '.x.exports.999999999.0a1b2c3d.tmp');
    const foreign = path.join(dir, '.other.exports.999999999.0a1b2c3d.tmp');
    writeFileSync(stale, 'half');
    writeFileSync(foreign, 'not ours');
    const { backend } = fakeBackend(file);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await b.want(entry(1));
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(foreign), true);
    await b.close();
  });

  test('a storm trickling in over ~300 ms costs a few reloads, not one per node', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend, reloads } = fakeBackend(file, new Set(), 20);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    const all: Promise<void>[] = [];
    for (let i = 1; i <= 300; i++) {
      all.push(b.want(entry(i)));
      await sleep(1);
    }
    await Promise.all(all);
    assert.ok(reloads.length <= 20, `${reloads.length} reloads for 300 nodes`);
    assert.equal(new Set(reloads.flatMap((r) => r.live)).size, 300);
    await b.close();
  });

  test('a storm whose mounts finish slower than busyIdleMs still shares reloads while other callers are mounting', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend, reloads } = fakeBackend(file, new Set(), 30);
    let settled = 0;
    const n = 40;
    // every caller is in progress from the start (mounting); each reaches the batcher 25 ms after the previous
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false, activeCallers: () => n - settled });
    const all: Promise<void>[] = [];
    for (let i = 1; i <= n; i++) {
      all.push(b.want(entry(i)).finally(() => settled++));
      await sleep(25);
    }
    await Promise.all(all);
    // with a 15 ms idle flush this took one reload per node or two; the doubling window gives a handful
    assert.ok(reloads.length <= 10, `${reloads.length} reloads for ${n} nodes`);
    await b.close();
  });

  test('an exports file that cannot be read or written rejects the batch without a reload', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'notadir'), '');
    const { backend, reloads } = fakeBackend(path.join(dir, 'notadir', 'x.exports'));
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await assert.rejects(b.want(entry(1)), /ENOTDIR|not a directory/);
    await assert.rejects(b.want(entry(2)), /ENOTDIR|not a directory/);
    assert.equal(reloads.length, 0);
  });

  test('a file it wrote earlier is not rewritten by a new batcher while the set stays the same', async () => {
    const file = path.join(tmp(), 'x.exports');
    const first = fakeBackend(file);
    const a = createExportBatcher({ backend: first.backend, log: silentLogger(), dryRun: false });
    await Promise.all([a.want(entry(1)), a.want(entry(2))]);
    await a.close();
    const { statSync } = await import('node:fs');
    const ino = statSync(file).ino;
    const second = fakeBackend(file);
    const b = createExportBatcher({ backend: second.backend, log: silentLogger(), dryRun: false });
    await b.want(entry(2));
    assert.equal(statSync(file).ino, ino, 'same set: no rewrite');
    assert.deepEqual(second.reloads.map((r) => r.verifyOnly), [true]);
    await b.want(entry(3));
    assert.notEqual(statSync(file).ino, ino, 'a new entry: rewritten');
    assert.deepEqual(parseKernelExports(readFileSync(file, 'utf8')).entries.map((e) => e.fsid), [1001, 1002, 1003]);
    await b.close();
  });

  test('a batch whose file cannot be written is undone: its entries and fsids are as before', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend, reloads } = fakeBackend(file);
    const poisoned = entry(9).path;
    // the pieces are rendered while the file is written: a throw there fails the write itself
    backend.render = (entries) => {
      const list = [...entries];
      return (function* () {
        for (const e of list) {
          if (e.path === poisoned) throw new Error('render failed');
          yield renderKernelExports([e], 'rw');
        }
      })();
    };
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await b.want(entry(1));
    const before = readFileSync(file, 'utf8');
    const replaced = { ...entry(1), ip: '10.99.7.7' };
    const results = await Promise.allSettled([b.want(entry(9)), b.want(replaced), b.drop(entry(1).path)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    assert.equal(readFileSync(file, 'utf8'), before, 'the old file is intact');
    assert.deepEqual([...(await b.entries()).values()], [entry(1)], 'the set is as before the batch');
    // entry 9's fsid was never taken: another path may have it
    const other = { ...entry(10), fsid: entry(9).fsid };
    await b.want(other);
    assert.deepEqual(parseKernelExports(readFileSync(file, 'utf8')).entries.map((e) => [e.path, e.fsid]), [
      [entry(1).path, 1001],
      [other.path, 1009],
    ]);
    assert.equal(reloads.at(-1)!.live.length, 1);
    await b.close();
  });

  test('dry-run writes nothing and reloads nothing', async () => {
    const file = path.join(tmp(), 'x.exports');
    const { backend, reloads } = fakeBackend(file);
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: true });
    await b.want(entry(1));
    assert.equal(existsSync(file), false);
    assert.equal(reloads.length, 0);
    await b.close();
  });

  test('invalid entries are refused before they reach the batch', async () => {
    const { backend, reloads } = fakeBackend(path.join(tmp(), 'x.exports'));
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    await assert.rejects(b.want({ ...entry(1), ip: '*' }), /client/);
    await assert.rejects(b.want({ ...entry(1), fsid: 0 }), /fsid/);
    assert.equal(reloads.length, 0);
    await b.close();
  });

  test('a backend that can reconcile: a full sync (start-up, forced, after a failure) reconciles instead of reloading; undefined from it falls back to the reload', async () => {
    const file = path.join(tmp(), 'x.exports');
    writeFileSync(file, renderKernelExports([entry(1), entry(2)], 'rw'));
    const { backend, reloads } = fakeBackend(file);
    const calls: Array<{ desired: string[]; live: string[]; gone: string[] }> = [];
    let answer: 'ok' | 'none' | 'fail' = 'ok';
    backend.reconcile = async (desired, live, gone) => {
      calls.push({ desired: [...desired].map((e) => e.path).sort(), live: live.map((e) => e.path), gone: gone.map((e) => e.path) });
      if (answer === 'none') return undefined;
      return new Map(answer === 'fail' ? live.map((e) => [e.path, new Error('refused')]) : []);
    };
    const b = createExportBatcher({ backend, log: silentLogger(), dryRun: false });
    // start-up: the restore's forced wants
    await Promise.all([b.want(entry(1), { force: true }), b.want(entry(3), { force: true })]);
    assert.equal(reloads.length, 0, 'no reload');
    assert.deepEqual(calls, [{ desired: [entry(1).path, entry(2).path, entry(3).path], live: [entry(1).path, entry(3).path], gone: [] }]);
    // a refusal is the entry's error, with no reload
    answer = 'fail';
    await assert.rejects(b.want(entry(4), { force: true }), /refused/);
    assert.equal(reloads.length, 0);
    // nobody answers: the reload does the job
    answer = 'none';
    await b.want(entry(5), { force: true });
    assert.ok(calls.length >= 3, 'tried first');
    assert.deepEqual(reloads.map((r) => r.verifyOnly), [false]);
    assert.deepEqual(reloads[0]!.live, [entry(5).path]);
    assert.ok(!calls.at(-1)!.desired.includes(entry(4).path), 'the refused entry left the set');
    await b.close();
  });
});
