import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createStateStore } from '../../src/state/store.ts';
import { parseState, serializeState, emptyState } from '../../src/state/codec.ts';
import { writeFileAtomic } from '../../src/atomic-file.ts';
import { lockStateDir } from '../../src/state/lock.ts';
import { spawn } from 'node:child_process';
import { silentLogger } from '../../src/log.ts';
import type { NodeRecord } from '../../src/types.ts';
import { cleanupAll, onCleanup, sh, tempDir } from '../helpers/lab.ts';
import { readFsidsOnDisk } from '../helpers/fsids-on-disk.ts';
import { readStateOnDisk } from '../helpers/state-on-disk.ts';

after(cleanupAll);

const log = silentLogger();
const node = (name: string, ip: string, fsid = 0): NodeRecord => ({ name, ip, subnet: '10.99.0.0/24', state: 'pending', fsid, lastSeen: 1, sources: ['test'] });
const open = (dir: string, extra: Partial<Parameters<typeof createStateStore>[0]> = {}) => createStateStore({ dir, startFsid: 100, log, lazyMs: 5, retryMs: 20, ...extra });

describe('state store', () => {
  test('fsids are allocated from start_fsid, unique, and stable across a reopen from disk', async () => {
    const dir = tempDir('pxe-state-');
    const s = open(dir);
    await s.load();
    const got = ['A', 'B', 'C'].map((n, i) => {
      const f = s.fsidFor(n);
      s.put({ ...node(n, `10.99.0.${i + 10}`), fsid: f });
      return f;
    });
    assert.deepEqual(got, [100, 101, 102]);
    assert.equal(s.fsidFor('B'), 101, 'asking again never changes a fsid');
    await s.commit();
    await s.close();

    const s2 = open(dir);
    await s2.load();
    assert.equal(s2.get('B')?.fsid, 101);
    assert.equal(s2.fsidFor('A'), 100);
    assert.equal(s2.fsidFor('D'), 103, 'a new node gets the next fsid after a restart');
    assert.equal(s2.findByIp('10.99.0.12')?.name, 'C');
    await s2.close();
  });

  test('ip and mac indexes follow a record that moves, and never point at a node that lost the address', async () => {
    const s = open(tempDir('pxe-state-'), { memoryOnly: true });
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), mac: '52:54:00:00:00:01' });
    s.put({ ...node('A', '10.99.0.1'), mac: '52:54:00:00:00:01', state: 'ready' });
    assert.equal(s.findByIp('10.99.0.1')?.state, 'ready', 'the index gives the current record');
    s.put({ ...node('A', '10.99.0.2'), mac: '52:54:00:00:00:02' });
    assert.equal(s.findByIp('10.99.0.1'), undefined);
    assert.equal(s.findByMac('52:54:00:00:00:01'), undefined);
    assert.equal(s.findByIp('10.99.0.2')?.name, 'A');
    assert.equal(s.findByMac('52:54:00:00:00:02')?.name, 'A');
    // B takes A's address; A then moves away: B keeps it
    s.put({ ...node('B', '10.99.0.2'), mac: '52:54:00:00:00:02' });
    assert.equal(s.findByIp('10.99.0.2')?.name, 'B');
    s.put({ ...node('A', '10.99.0.3'), mac: '52:54:00:00:00:03' });
    assert.equal(s.findByIp('10.99.0.2')?.name, 'B');
    assert.equal(s.findByMac('52:54:00:00:00:02')?.name, 'B');
    s.remove('B');
    assert.equal(s.findByIp('10.99.0.2'), undefined);
    assert.equal(s.findByIp('10.99.0.3')?.name, 'A');
    await s.close();
  });

  test('a removed node keeps its fsid reserved and gets it back; it is never reused', async () => {
    const dir = tempDir('pxe-state-');
    const s = open(dir);
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), fsid: s.fsidFor('A') });
    s.put({ ...node('B', '10.99.0.2'), fsid: s.fsidFor('B') });
    s.remove('A');
    await s.commit();
    await s.close();
    const s2 = open(dir);
    await s2.load();
    assert.equal(s2.get('A'), undefined);
    assert.equal(s2.fsidFor('X'), 102, 'the removed node\'s fsid 100 is not handed to anyone else');
    assert.equal(s2.fsidFor('A'), 100, 'the node comes back with its old fsid');
    await s2.close();
  });

  test('start_fsid raised in the config moves the high-water mark up, never down', () => {
    const d = emptyState(100);
    d.fsids.set('A', 100);
    d.nextFsid = 101;
    const text = serializeState(d);
    assert.equal(parseState('s', text, 500).nextFsid, 500);
    assert.equal(parseState('s', text, 50).nextFsid, 101);
  });

  test('a torn temp file from a crash is ignored and removed; the state file stays valid', async () => {
    const dir = tempDir('pxe-state-');
    const s = open(dir);
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), fsid: s.fsidFor('A') });
    await s.commit();
    await s.close();
    const good = readFileSync(path.join(dir, 'state.json'), 'utf8');
    // what a SIGKILL halfway through writeFileAtomic leaves behind
    writeFileSync(path.join(dir, '.state.json.999.deadbeef.tmp'), good.slice(0, good.length / 2));
    const s2 = open(dir);
    await s2.load();
    assert.equal(s2.get('A')?.fsid, 100);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
    await s2.close();
  });

  test('a corrupt state file is refused with the file and the reason, not silently reset', async () => {
    const dir = tempDir('pxe-state-');
    writeFileSync(path.join(dir, 'state.json'), '{"version":1,"nextFsid":5,"nodes":[{"name":"A","ip":"1.2.3.4","fsid":"x","state":"ready"}]}');
    const s = open(dir);
    await assert.rejects(s.load(), (e: Error) => /state\.json: nodes\[0\]\.fsid: expected an integer/.test(e.message));
  });

  test('state.json is written (by a fold) in pieces of at most 200 records (no whole-file string), and reads back whole', async () => {
    const dir = tempDir('pxe-state-');
    let pieces: string[] = [];
    let replaced = false;
    const s = open(dir, {
      write: async (f, t) => {
        if (f.endsWith('state.json') && typeof t !== 'string') {
          pieces = [];
          for (const p of t) {
            pieces.push(p);
            // a record replaced while the file is being written goes out in its newer version
            if (pieces.length === 2 && !replaced) {
              replaced = true;
              s.put({ ...s.get('N999')!, state: 'ready' });
            }
          }
          return writeFileAtomic(f, pieces.join(''));
        }
        return writeFileAtomic(f, t);
      },
    });
    await s.load();
    for (let i = 0; i < 1000; i++) s.put({ ...node(`N${i}`, `10.99.${i >> 8}.${i & 255}`), fsid: s.fsidFor(`N${i}`) });
    await s.commit();
    await s.fold();
    assert.equal(pieces.length, 6, '1,000 records: the head with 200, four more of 200, the end');
    const text = readFileSync(path.join(dir, 'state.json'), 'utf8');
    assert.equal(pieces.join(''), text);
    assert.ok(pieces.every((p) => p.length < text.length / 3), 'no piece holds the whole file');
    const back = parseState('state.json', text, 100);
    assert.equal(back.nodes.size, 1000);
    assert.equal(back.nodes.get('N999')?.state, 'ready');
    assert.equal(back.fsids.get('N500'), 600);
    await s.close();
    const s2 = open(dir, { memoryOnly: true });
    await s2.load();
    assert.equal(s2.get('N999')?.state, 'ready', 'the closing write has the newer record too');
    assert.equal(s2.size(), 1000);
    await s2.close();
  });

  test('group commit: many concurrent commits share a few appends to state.log, and state.json is not rewritten', async () => {
    const dir = tempDir('pxe-state-');
    let folds = 0;
    const s = open(dir, {
      lazyMs: 10_000,
      write: async (f, t) => {
        if (f.endsWith('state.json')) folds++;
        await writeFileAtomic(f, t);
      },
    });
    await s.load();
    const commits: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) {
      const name = `N${i}`;
      s.put({ ...node(name, `10.99.${i >> 8}.${i & 255}`), fsid: s.fsidFor(name) });
      commits.push(s.commit());
    }
    await Promise.all(commits);
    const writes = s.writes().state;
    assert.ok(writes <= 3, `500 commits took ${writes} appends`);
    assert.equal(folds, 0, 'state.json is not rewritten for a commit');
    assert.equal(existsSync(path.join(dir, 'state.json')), false);
    const onDisk = readStateOnDisk(dir);
    assert.equal(onDisk.nodes.size, 500, 'every change a commit waited for is on disk');
    assert.equal(readFileSync(path.join(dir, 'state.log'), 'utf8').split('\n').length - 1, 500, 'one line per node, however many puts');
    await s.close();
  });

  test('a commit resolves only after a write that contains its change', async () => {
    const dir = tempDir('pxe-state-');
    const s = open(dir, { lazyMs: 10_000 });
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), fsid: s.fsidFor('A') });
    await s.commit();
    s.put({ ...node('B', '10.99.0.2'), fsid: s.fsidFor('B') });
    await s.commit();
    const onDisk = readStateOnDisk(dir);
    assert.deepEqual([...onDisk.nodes.keys()], ['A', 'B']);
    await s.close();
  });

  test('a replaced record is written anew (the per-record JSON cache follows put and remove)', async () => {
    const dir = tempDir('pxe-state-');
    const s = open(dir, { lazyMs: 10_000 });
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), fsid: s.fsidFor('A') });
    s.put({ ...node('B', '10.99.0.2'), fsid: s.fsidFor('B') });
    await s.commit();
    s.put({ ...s.get('A')!, state: 'ready', lastError: undefined });
    s.remove('B');
    await s.commit();
    const onDisk = readStateOnDisk(dir);
    assert.equal(onDisk.nodes.get('A')?.state, 'ready');
    assert.equal(onDisk.nodes.has('B'), false);
    assert.equal(readFsidsOnDisk(dir).fsids.B, 101, 'the removed node keeps its fsid on disk');
    await s.fold();
    assert.equal(parseState('x', readFileSync(path.join(dir, 'state.json'), 'utf8'), 100).fsids.get('B'), 101, 'and in state.json');
    await s.close();
  });

  test('unawaited writes wait while the daemon is busy, but not forever', async () => {
    const dir = tempDir('pxe-state-');
    let busy = true;
    const s = open(dir, { lazyMs: 5, busy: () => busy });
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), fsid: 0 });
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(s.writes().state, 0, 'no write while busy');
    busy = false;
    for (let i = 0; i < 100 && s.writes().state === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(s.writes().state, 1);
    await s.close();
  });

  test('a failed fold keeps the old state.json and the journals, loses nothing, and is retried later', async () => {
    const dir = tempDir('pxe-state-');
    let fail = false;
    const s = open(dir, {
      recordLogBound: 1,
      write: async (f, t) => {
        if (fail && f.endsWith('state.json')) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        await writeFileAtomic(f, t);
      },
    });
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), fsid: s.fsidFor('A') });
    await s.commit();
    await s.fold();
    const before = readFileSync(path.join(dir, 'state.json'), 'utf8');
    fail = true;
    s.put({ ...node('B', '10.99.0.2'), fsid: s.fsidFor('B') });
    await s.commit();
    await assert.rejects(s.fold(), /ENOSPC.*|no space/);
    assert.equal(readFileSync(path.join(dir, 'state.json'), 'utf8'), before);
    assert.ok(existsSync(path.join(dir, 'state.log.old')), 'the rotated journal stays until a fold succeeds');
    s.put({ ...node('C', '10.99.0.3'), fsid: s.fsidFor('C') });
    await s.commit();
    assert.deepEqual([...readStateOnDisk(dir).nodes.keys()], ['A', 'B', 'C'], 'acknowledged records are on disk');
    fail = false;
    for (let i = 0; i < 200 && existsSync(path.join(dir, 'state.log.old')); i++) await new Promise((r) => setTimeout(r, 10));
    const onDisk = parseState('x', readFileSync(path.join(dir, 'state.json'), 'utf8'), 100);
    assert.ok(onDisk.nodes.has('B') && onDisk.nodes.has('C'), 'the retry folded the changes in without anyone asking again');
    assert.equal(existsSync(path.join(dir, 'state.log.old')), false);
    await s.close();
  });

  test('a full disk (tiny tmpfs) rejects the commit and leaves the old state intact', async () => {
    const dir = tempDir('pxe-state-');
    const mnt = path.join(dir, 'tiny');
    mkdirSync(mnt);
    sh('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    onCleanup(`umount ${mnt}`, () => sh('umount', ['-l', mnt], { allowFail: true }));
    const s = open(mnt, { lazyMs: 10_000, retryMs: 60_000 });
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), fsid: s.fsidFor('A') });
    await s.commit();
    await s.fold();
    const before = readFileSync(path.join(mnt, 'state.json'), 'utf8');
    const logBefore = readFileSync(path.join(mnt, 'state.log'), 'utf8');
    // fill the file system
    try {
      writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(128 * 1024));
    } catch {
      /* ENOSPC once full: that is the point */
    }
    for (let i = 0; i < 300; i++) {
      const name = `N${i}`;
      s.put({ ...node(name, `10.99.1.${i & 255}`), fsid: s.fsidFor(name), timeline: [{ time: i, what: 'x'.repeat(200) }] });
    }
    await assert.rejects(s.commit(), /no space|ENOSPC/);
    assert.equal(readFileSync(path.join(mnt, 'state.json'), 'utf8'), before, 'old state intact');
    assert.equal(readFileSync(path.join(mnt, 'state.log'), 'utf8'), logBefore, 'a part-written append is cut back');
    assert.deepEqual(readdirSync(mnt).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind');
    const again = open(mnt);
    await again.load();
    assert.equal(again.get('A')?.fsid, 100);
    await assert.rejects(s.close(), /no space|ENOSPC/);
  });

  test('commitFsids makes new fsids durable in the fsids.log journal without waiting for state.json', async () => {
    const dir = tempDir('pxe-state-');
    const s = open(dir, { lazyMs: 60_000 });
    await s.load();
    const f = s.fsidFor('A');
    s.put({ ...node('A', '10.99.0.1'), fsid: f });
    await s.commitFsids();
    assert.equal(existsSync(path.join(dir, 'state.json')), false, 'the big file is written lazily');
    assert.equal(readFileSync(path.join(dir, 'fsids.log'), 'utf8'), '{"name":"A","fsid":100}\n', 'one line appended');
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'fsids.json'), 'utf8')), { version: 1, nextFsid: 100, fsids: {} }, 'the snapshot is not rewritten');
    assert.deepEqual(readFsidsOnDisk(dir), { nextFsid: 101, fsids: { A: 100 } });
    const writesBefore = s.writes().fsids;
    await s.commitFsids();
    assert.equal(s.writes().fsids, writesBefore, 'nothing new: no write');
    // crash now (no close): a restart must not hand fsid 100 to anyone else
    const s2 = open(dir);
    await s2.load();
    assert.equal(s2.get('A'), undefined, 'the record was not written yet');
    assert.equal(s2.fsidFor('B'), 101);
    assert.equal(s2.fsidFor('A'), 100, 'A comes back with its fsid');
    await s2.close();
    await s.close();
  });

  test('state_dir lock: a live pxebootd holding it is refused, a stale pid file is taken over', async () => {
    const dir = tempDir('pxe-state-');
    const lockFile = path.join(dir, 'pxebootd.pid');
    // a process whose command line says pxebootd
    const other = spawn('bash', ['-c', 'exec -a pxebootd-other sleep 30'], { stdio: 'ignore' });
    onCleanup('kill fake pxebootd', () => other.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(lockFile, `${other.pid}\n`);
    await assert.rejects(lockStateDir(dir), /in use by pxebootd pid \d+/);
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    const release = await lockStateDir(dir);
    assert.equal(readFileSync(lockFile, 'utf8'), `${process.pid}\n`);
    await release();
    assert.equal(existsSync(lockFile), false);
  });

  test('memory-only (dry run) reads the file and never writes', async () => {
    const dir = tempDir('pxe-state-');
    const s = open(dir, { memoryOnly: true });
    await s.load();
    s.put({ ...node('A', '10.99.0.1'), fsid: s.fsidFor('A') });
    await s.commit();
    await s.close();
    assert.deepEqual(readdirSync(dir), [], 'no state.json, state.log or fsids files');
  });
});
