// state.log: a node record change is made durable by appending one line, not by rewriting state.json
// (which grows with the node count); a torn last line is ignored; a bad line elsewhere is refused with
// file:line:col; the fold (state.json rewritten) rotates the journal so appends go on meanwhile, and a
// crash at any point of it loses no acknowledged record.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, appendFileSync, existsSync, statSync, mkdirSync, symlinkSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createStateStore } from '../../../src/state/store.ts';
import { delLine, parseRecordLog, putLine, replayRecordLogs } from '../../../src/state/record-log.ts';
import { emptyState, parseState } from '../../../src/state/codec.ts';
import { writeFileAtomic } from '../../../src/atomic-file.ts';
import { createLogger, silentLogger } from '../../../src/log.ts';
import type { NodeRecord } from '../../../src/types.ts';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';
import { readStateOnDisk } from '../../helpers/state-on-disk.ts';

after(cleanupAll);

const log = silentLogger();
const node = (name: string, fsid: number, extra: Partial<NodeRecord> = {}): NodeRecord => ({ name, ip: '10.99.0.9', subnet: '10.99.0.0/24', state: 'pending', fsid, lastSeen: 1, sources: ['test'], ...extra });
const open = (dir: string, extra: Partial<Parameters<typeof createStateStore>[0]> = {}) => createStateStore({ dir, startFsid: 100, log, lazyMs: 60_000, retryMs: 20, ...extra });
const F = '/s/state.log';

describe('state.log text', () => {
  test('put and del lines read back in order; a torn last line or NUL bytes after the last newline are ignored', () => {
    const text = putLine(node('A', 100)) + putLine(node('B', 101)) + delLine('A') + putLine(node('B', 101, { state: 'ready' }));
    const l = parseRecordLog(F, Buffer.from(text));
    assert.deepEqual(
      l.ops.map((o) => (o.del !== undefined ? `del ${o.del}@${o.line}` : `put ${o.put.name} ${o.put.state}@${o.line}`)),
      ['put A pending@1', 'put B pending@2', 'del A@3', 'put B ready@4'],
    );
    assert.equal(l.goodBytes, Buffer.byteLength(text));
    assert.equal(l.torn, undefined);
    const torn = parseRecordLog(F, Buffer.from(text + '{"put":{"name":"C","ip'));
    assert.equal(torn.ops.length, 4);
    assert.equal(torn.goodBytes, Buffer.byteLength(text));
    assert.equal(torn.torn, '{"put":{"name":"C","ip');
    const nul = parseRecordLog(F, Buffer.concat([Buffer.from(text), Buffer.alloc(4096)]));
    assert.equal(nul.torn, '4096 NUL bytes');
    assert.equal(nul.ops.length, 4);
    assert.equal(parseRecordLog(F, Buffer.alloc(0)).ops.length, 0);
    const d = replayRecordLogs({ ...emptyState(100) }, [l]);
    assert.deepEqual([...d.nodes.keys()], ['B']);
    assert.equal(d.nodes.get('B')?.state, 'ready');
    assert.deepEqual([...d.fsids], [['A', 100], ['B', 101]], 'a deleted record keeps its fsid');
    assert.equal(d.nextFsid, 102);
  });

  test('a bad line before the last is refused naming file:line:col, what was expected and what was found', () => {
    const a = putLine(node('A', 100));
    assert.throws(() => parseRecordLog(F, Buffer.from(a + 'garbage\n' + a)), /\/s\/state\.log:2:1: expected one JSON object \(\{"put":\{\.\.\.\}\} or \{"del":"NAME"\}\), found "garbage"; restore it from a backup, or move it away/);
    assert.throws(() => parseRecordLog(F, Buffer.from(a + '{"put":{"name":"B"}x\n' + a)), /state\.log:2:20: expected one JSON object .*found "x"/);
    assert.throws(() => parseRecordLog(F, Buffer.from('\0\0\0\0\n' + a)), /state\.log:1:1: expected one JSON object .*found "\\x00\\x00\\x00\\x00"/);
    assert.throws(() => parseRecordLog(F, Buffer.from('[1]\n' + a)), /state\.log:1:1: expected a JSON object, found an array/);
    assert.throws(() => parseRecordLog(F, Buffer.from('{"set":{}}\n' + a)), /state\.log:1:1: expected one key, "put" or "del", found "set"/);
    assert.throws(() => parseRecordLog(F, Buffer.from('{"del":""}\n' + a)), /state\.log:1:8: del: expected a node name, found ""/);
    assert.throws(() => parseRecordLog(F, Buffer.from(putLine({ ...node('A', 100), fsid: 'x' as never }) + a)), /state\.log:1:8: put\.fsid: expected an integer >= 0, found "x"/);
    assert.throws(() => parseRecordLog(F, Buffer.from(putLine({ ...node('A', 100), state: 'gone' as never }) + a)), /state\.log:1:8: put\.state: expected one of .*found "gone"/);
  });

  test('a record whose fsid contradicts state.json or an earlier line is refused, naming the line', () => {
    const base = parseState('/s/state.json', JSON.stringify({ version: 1, nextFsid: 102, fsids: { A: 100, B: 101 }, nodes: [node('A', 100)] }), 100);
    assert.throws(() => replayRecordLogs(base, [parseRecordLog(F, Buffer.from(putLine(node('A', 105))))], '/s/state.json'), /\/s\/state\.log:1: node A has fsid 105 here but 100 in \/s\/state\.json/);
    assert.throws(() => replayRecordLogs(base, [parseRecordLog(F, Buffer.from(putLine(node('C', 101))))]), /state\.log:1: fsid 101 is used by nodes B and C/);
    assert.throws(() => replayRecordLogs(base, [parseRecordLog(F, Buffer.from(putLine(node('C', 110)) + putLine(node('D', 110))))]), /state\.log:2: fsid 110 is used by nodes C and D/);
    const ok = replayRecordLogs(base, [parseRecordLog(F, Buffer.from(putLine(node('A', 100, { state: 'ready' })) + putLine(node('C', 0))))]);
    assert.equal(ok.nodes.get('A')?.state, 'ready');
    assert.equal(ok.nodes.get('C')?.fsid, 0, 'a record without an fsid yet');
  });

  test('replaying a run of lines over a snapshot that already holds some of them (a fold meanwhile) ends at the newest records', () => {
    const run = [putLine(node('A', 100, { state: 'pending' })), putLine(node('B', 101)), delLine('B'), putLine(node('A', 100, { state: 'ready' }))];
    // the snapshot was made while the run was appended: it holds A ready and no B, or A pending and B
    for (const snapNodes of [[node('A', 100, { state: 'ready' })], [node('A', 100), node('B', 101)], []]) {
      const snap = parseState('s', JSON.stringify({ version: 1, fsids: {}, nodes: snapNodes }), 100);
      const d = replayRecordLogs(snap, [parseRecordLog(F, Buffer.from(run.join('')))]);
      assert.deepEqual([...d.nodes.values()].map((r) => `${r.name} ${r.state}`), ['A ready']);
    }
  });
});

describe('the store with state.log', () => {
  test('commit() appends one line per changed node and fdatasyncs it; state.json is not rewritten, whatever the node count', async () => {
    const dir = tempDir('pxe-reclog-');
    const s = open(dir);
    await s.load();
    for (let i = 0; i < 10_000; i++) s.put(node(`N${i}`, s.fsidFor(`N${i}`)));
    await s.commit();
    await s.close();
    const s2 = open(dir);
    await s2.load();
    assert.equal(statSync(path.join(dir, 'state.log')).size, 0, 'a clean stop folded the journal into state.json');
    const jsonBefore = readFileSync(path.join(dir, 'state.json'));
    assert.ok(jsonBefore.length > 1_000_000, `state.json holds the 10,000 (${jsonBefore.length} bytes)`);
    s2.put({ ...s2.get('N42')!, state: 'ready' });
    s2.put({ ...s2.get('N42')!, state: 'ready', readyAt: 5 });
    s2.remove('N43');
    await s2.commit();
    assert.equal(readFileSync(path.join(dir, 'state.log'), 'utf8'), putLine({ ...node('N42', 142), state: 'ready', readyAt: 5 }) + delLine('N43'));
    assert.deepEqual(readFileSync(path.join(dir, 'state.json')), jsonBefore, 'the snapshot is untouched');
    assert.equal(s2.writes().folds, 0);
    // crash now (no close): the restart has both changes and folds them in
    const s3 = open(dir);
    await s3.load();
    assert.equal(s3.get('N42')?.readyAt, 5);
    assert.equal(s3.get('N43'), undefined);
    assert.equal(s3.fsidFor('N43'), 143, 'a removed node keeps its fsid');
    assert.equal(s3.size(), 9_999);
    assert.equal(statSync(path.join(dir, 'state.log')).size, 0);
    assert.equal(parseState('x', readFileSync(path.join(dir, 'state.json'), 'utf8'), 100).nodes.get('N42')?.readyAt, 5);
    await s3.close();
    await s2.close();
  });

  test('a torn last line is ignored (warned) and cut; the whole lines before it are kept', async () => {
    const dir = tempDir('pxe-reclog-');
    const s = open(dir);
    await s.load();
    s.put(node('A', s.fsidFor('A')));
    await s.commit();
    appendFileSync(path.join(dir, 'state.log'), '{"put":{"name":"B","ip":"10.');
    const warn: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (l: string) => void warn.push(l) } as never });
    // the start-up fold cannot write state.json: the journal must still be cut to its whole lines
    const s2 = open(dir, { log: logger, write: async (f, t) => (f.endsWith('state.json') ? Promise.reject(new Error('ENOSPC: no space left on device')) : writeFileAtomic(f, t)) });
    await s2.load();
    assert.ok(warn.some((l) => /state\.log: ignored an incomplete last line/.test(l)), warn.join('\n'));
    assert.ok(warn.some((l) => /could not fold .*state\.log into .*state\.json \(ENOSPC/.test(l)), warn.join('\n'));
    assert.equal(readFileSync(path.join(dir, 'state.log'), 'utf8'), putLine(node('A', 100)));
    s2.put(node('C', s2.fsidFor('C')));
    await s2.commit();
    assert.deepEqual([...readStateOnDisk(dir).nodes.keys()], ['A', 'C']);
    await s2.close();
    await s.close();
  });

  test('a crash in the middle of a fold (state.log rotated, state.json not yet written) loses nothing; appends go on meanwhile', async () => {
    const dir = tempDir('pxe-reclog-');
    let release: (() => void) | undefined;
    let hold = false;
    const s = open(dir, {
      write: async (f, t) => {
        if (hold && f.endsWith('state.json')) await new Promise<void>((r) => (release = r));
        return writeFileAtomic(f, t);
      },
    });
    await s.load();
    s.put(node('A', s.fsidFor('A')));
    s.put(node('B', s.fsidFor('B')));
    await s.commit();
    hold = true;
    const folding = s.fold();
    for (let i = 0; i < 100 && !existsSync(path.join(dir, 'state.log.old')); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(existsSync(path.join(dir, 'state.log.old')), 'rotated');
    // while state.json is being written, changes are acknowledged through the new state.log
    const t0 = performance.now();
    s.put(node('A', 100, { state: 'ready' }));
    s.remove('B');
    s.put(node('C', s.fsidFor('C')));
    await s.commit();
    assert.ok(performance.now() - t0 < 5000, 'a commit does not wait for the fold');
    assert.equal(readFileSync(path.join(dir, 'state.log'), 'utf8'), putLine(node('A', 100, { state: 'ready' })) + delLine('B') + putLine(node('C', 102)));
    // SIGKILL now: a restart reads state.json (none yet), state.log.old, then state.log
    const crashed = readStateOnDisk(dir);
    assert.deepEqual([...crashed.nodes.values()].map((r) => `${r.name} ${r.state}`), ['A ready', 'C pending']);
    const s2 = open(dir, { memoryOnly: true });
    await s2.load();
    assert.deepEqual(s2.all().map((r) => `${r.name} ${r.state}`), ['A ready', 'C pending']);
    await s2.close();
    hold = false;
    release!();
    await folding;
    assert.equal(existsSync(path.join(dir, 'state.log.old')), false, 'removed once state.json holds it');
    assert.deepEqual([...readStateOnDisk(dir).nodes.values()].map((r) => `${r.name} ${r.state}`), ['A ready', 'C pending']);
    await s.close();
    assert.deepEqual([...parseState('x', readFileSync(path.join(dir, 'state.json'), 'utf8'), 100).nodes.keys()], ['A', 'C']);
    assert.equal(readFileSync(path.join(dir, 'state.log'), 'utf8'), '');
  });

  test('state.log past its bound is folded by itself, but not while jobs run (up to the longest deferral)', async () => {
    const dir = tempDir('pxe-reclog-');
    let busy = true;
    const s = open(dir, { lazyMs: 5, recordLogBound: 2000, busy: () => busy, foldMaxDeferMs: 60_000 });
    await s.load();
    for (let i = 0; i < 40; i++) s.put(node(`N${i}`, s.fsidFor(`N${i}`)));
    await s.commit();
    assert.ok(statSync(path.join(dir, 'state.log')).size > 2000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.writes().folds, 0, 'no fold while busy');
    busy = false;
    for (let i = 0; i < 200 && s.writes().folds === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.writes().folds, 1);
    assert.equal(statSync(path.join(dir, 'state.log')).size, 0);
    assert.equal(readStateOnDisk(dir).nodes.size, 40);
    await s.close();
  });

  test('dry run: reads state.json and the journals, writes nothing (no state.log, no cut of a torn line)', async () => {
    const dir = tempDir('pxe-reclog-');
    writeFileSync(path.join(dir, 'state.log'), putLine(node('A', 100)) + '{"put":');
    const s = open(dir, { memoryOnly: true });
    await s.load();
    assert.equal(s.get('A')?.fsid, 100);
    s.put(node('B', s.fsidFor('B')));
    await s.commit();
    await s.fold();
    await s.close();
    assert.equal(readFileSync(path.join(dir, 'state.log'), 'utf8'), putLine(node('A', 100)) + '{"put":');
    assert.equal(existsSync(path.join(dir, 'state.json')), false);
  });

  test('a directory, a FIFO or a symlink in place of state.log or fsids.log stops start-up with the file named; nothing is followed', async () => {
    for (const [kind, base] of [['dir', 'state.log'], ['fifo', 'state.log'], ['symlink', 'state.log'], ['dir', 'fsids.log'], ['fifo', 'fsids.log'], ['symlink', 'fsids.log']] as const) {
      const dir = tempDir('pxe-reclog-');
      const f = path.join(dir, base);
      const target = path.join(dir, 'elsewhere');
      writeFileSync(target, '');
      if (kind === 'dir') mkdirSync(f);
      else if (kind === 'fifo') execFileSync('mkfifo', [f]);
      else symlinkSync(target, f);
      const s = open(dir);
      // a FIFO must not hang the read: bounded by the test's own deadline
      const r = await Promise.race([s.load().then(() => 'loaded', (e: Error) => e.message), new Promise((res) => setTimeout(() => res('hung'), 10_000))]);
      assert.notEqual(r, 'hung', `${kind}: load hung`);
      assert.notEqual(r, 'loaded', `${kind}: started over a ${kind}`);
      assert.ok(String(r).includes(f) && /expected a regular file/.test(String(r)), `${kind}: ${String(r)}`);
      assert.equal(readFileSync(target, 'utf8'), '', `${kind}: nothing written through it`);
      await s.close().catch(() => {});
      rmSync(f, { recursive: true, force: true });
    }
  });
});
