// fsids.log: a new node's fsid is made durable by appending one line, not by rewriting a file that
// grows with the node count; a torn last line is ignored; the files of earlier versions (fsids.json
// only) are read and carried over; the journal is folded into fsids.json at start-up and at a bound.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, appendFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createStateStore } from '../../../src/state/store.ts';
import { fsidLogLine, parseFsidLog } from '../../../src/state/fsid-log.ts';
import { silentLogger, createLogger } from '../../../src/log.ts';
import type { NodeRecord } from '../../../src/types.ts';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';
import { readFsidsOnDisk } from '../../helpers/fsids-on-disk.ts';

after(cleanupAll);

const log = silentLogger();
const node = (name: string, fsid: number): NodeRecord => ({ name, ip: '10.99.0.9', subnet: '10.99.0.0/24', state: 'pending', fsid, lastSeen: 1, sources: ['test'] });
const open = (dir: string, extra: Partial<Parameters<typeof createStateStore>[0]> = {}) => createStateStore({ dir, startFsid: 100, log, lazyMs: 60_000, retryMs: 20, ...extra });

describe('fsids.log text', () => {
  test('whole lines are read; a torn last line (or NUL bytes after the last newline) is ignored', () => {
    const text = fsidLogLine('A', 100) + fsidLogLine('B', 101);
    const whole = parseFsidLog('/s/fsids.log', Buffer.from(text));
    assert.deepEqual([...whole.fsids], [['A', 100], ['B', 101]]);
    assert.equal(whole.nextFsid, 102);
    assert.equal(whole.goodBytes, Buffer.byteLength(text));
    assert.equal(whole.torn, undefined);
    const torn = parseFsidLog('/s/fsids.log', Buffer.from(text + '{"name":"C","fs'));
    assert.deepEqual([...torn.fsids.keys()], ['A', 'B']);
    assert.equal(torn.goodBytes, Buffer.byteLength(text));
    assert.equal(torn.torn, '{"name":"C","fs');
    const nul = parseFsidLog('/s/fsids.log', Buffer.concat([Buffer.from(text), Buffer.alloc(40)]));
    assert.equal(nul.torn, '40 NUL bytes');
    assert.equal(nul.fsids.size, 2);
    assert.equal(parseFsidLog('/s/fsids.log', Buffer.alloc(0)).fsids.size, 0);
  });

  test('a bad line before the last, a name with two fsids, or an fsid on two names is refused with file:line:col', () => {
    const refused = (text: string, message: string) => assert.throws(() => parseFsidLog('/s/fsids.log', Buffer.from(text)), (e: Error) => {
      assert.equal(e.message.slice(0, message.length), message);
      return true;
    });
    refused(fsidLogLine('A', 100) + 'garbage\n' + fsidLogLine('B', 101), '/s/fsids.log:2:1: expected one JSON object ({"name":"NODE","fsid":N}), found "garbage"');
    refused(fsidLogLine('A', 100) + '{"name":"B","fsid":1x}\n' + fsidLogLine('C', 101), '/s/fsids.log:2:21: expected one JSON object ({"name":"NODE","fsid":N}), found "x}"');
    refused(fsidLogLine('A', 100) + '[1,2]\n' + fsidLogLine('B', 101), '/s/fsids.log:2:1: expected a JSON object, found an array');
    refused(fsidLogLine('A', 100) + fsidLogLine('A', 105), '/s/fsids.log:2:20: node A has fsid 105 here but 100 on an earlier line');
    refused(fsidLogLine('A', 100) + fsidLogLine('B', 100), '/s/fsids.log:2:20: fsid 100 is used by nodes A and B');
    refused('{"name":"A","fsid":0}\n', '/s/fsids.log:1:20: fsid: expected an integer >= 1, found 0');
    refused('{"name":"","fsid":3}\n', '/s/fsids.log:1:9: name: expected a non-empty string, found ""');
    refused('{"fsid":3}\n', '/s/fsids.log:1:1: name: expected a non-empty string, found null');
    // the same line twice is what a retried append or an interrupted compaction leaves: fine
    assert.equal(parseFsidLog('/s/fsids.log', Buffer.from(fsidLogLine('A', 100) + fsidLogLine('A', 100))).fsids.get('A'), 100);
  });
});

describe('the store with fsids.log', () => {
  test('a new fsid is made durable by appending one line; fsids.json is not rewritten, whatever the node count', async () => {
    const dir = tempDir('pxe-journal-');
    const s = open(dir);
    await s.load();
    for (let i = 0; i < 10_000; i++) s.fsidFor(`N${i}`);
    await s.commitFsids();
    await s.close();
    // a restart folds the 10,000 into fsids.json and empties the journal
    const s2 = open(dir);
    await s2.load();
    assert.equal(statSync(path.join(dir, 'fsids.log')).size, 0);
    const jsonBefore = readFileSync(path.join(dir, 'fsids.json'));
    assert.ok(jsonBefore.length > 100_000, `fsids.json holds the 10,000 (${jsonBefore.length} bytes)`);
    const f = s2.fsidFor('NEW');
    s2.put(node('NEW', f));
    await s2.commitFsids();
    assert.equal(f, 10_100);
    assert.equal(readFileSync(path.join(dir, 'fsids.log'), 'utf8'), '{"name":"NEW","fsid":10100}\n');
    assert.deepEqual(readFileSync(path.join(dir, 'fsids.json')), jsonBefore, 'the snapshot is untouched');
    // crash now (no close): the restart has it
    const s3 = open(dir);
    await s3.load();
    assert.equal(s3.fsidFor('NEW'), 10_100);
    assert.equal(s3.fsidFor('N42'), 142);
    assert.equal(s3.fsidFor('NEXT'), 10_101);
    await s3.close();
    await s2.close();
  });

  test('a torn last record is ignored and cut; the whole ones keep their fsids; the journal is folded in at start-up', async () => {
    const dir = tempDir('pxe-journal-');
    const s = open(dir);
    await s.load();
    for (const n of ['A', 'B']) s.fsidFor(n);
    await s.commitFsids();
    // SIGKILL (or power loss) during the next append: a part of its line reached the file
    appendFileSync(path.join(dir, 'fsids.log'), '{"name":"C","fsid":1');
    const warn: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (l: string) => void warn.push(l) } as never });
    const s2 = open(dir, { log: logger });
    await s2.load();
    assert.ok(warn.some((l) => /fsids\.log: ignored an incomplete last line/.test(l)), warn.join('\n'));
    assert.equal(s2.fsidFor('A'), 100);
    assert.equal(s2.fsidFor('B'), 101);
    assert.equal(statSync(path.join(dir, 'fsids.log')).size, 0, 'folded into fsids.json and emptied');
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'fsids.json'), 'utf8')).fsids, { A: 100, B: 101 });
    // C was never acknowledged (no export carries fsid 102): it gets a fresh, unique one
    assert.equal(s2.fsidFor('C'), 102);
    await s2.commitFsids();
    await s2.close();
    assert.deepEqual(readFsidsOnDisk(dir).fsids, { A: 100, B: 101, C: 102 });
  });

  test('a torn record that cannot be folded in (full disk at start-up) is cut, so the next append starts a line of its own', async () => {
    const dir = tempDir('pxe-journal-');
    const s = open(dir);
    await s.load();
    s.fsidFor('A');
    await s.commitFsids();
    // as a SIGKILL leaves it: A whole in the journal, B's line cut short
    const whole = readFileSync(path.join(dir, 'fsids.log'), 'utf8');
    assert.equal(whole, fsidLogLine('A', 100));
    appendFileSync(path.join(dir, 'fsids.log'), '{"name":"B","fs');
    let fail = true;
    const s2 = open(dir, {
      write: async (f, t) => {
        if (fail) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        const { writeFileAtomic } = await import('../../../src/atomic-file.ts');
        await writeFileAtomic(f, t);
      },
    });
    await s2.load();
    assert.equal(readFileSync(path.join(dir, 'fsids.log'), 'utf8'), whole, 'the torn line is cut, the whole one stays');
    fail = false;
    assert.equal(s2.fsidFor('A'), 100);
    assert.equal(s2.fsidFor('B'), 101);
    await s2.commitFsids();
    assert.equal(readFileSync(path.join(dir, 'fsids.log'), 'utf8'), whole + fsidLogLine('B', 101));
    await s2.close();
    assert.equal(readFileSync(path.join(dir, 'fsids.log'), 'utf8'), '', 'a clean stop folds the journal in');
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'fsids.json'), 'utf8')).fsids, { A: 100, B: 101 });
    await s.close();
  });

  test('the files of an earlier version (fsids.json rewritten whole, no journal) are read and carried over', async () => {
    const dir = tempDir('pxe-journal-');
    writeFileSync(path.join(dir, 'fsids.json'), '{"version":1,"nextFsid":205,"fsids":{"OLD1":100,"OLD2":204}}\n', { mode: 0o600 });
    writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ version: 1, nextFsid: 150, fsids: { OLD1: 100 }, nodes: [node('OLD1', 100)] }) + '\n', { mode: 0o600 });
    const s = open(dir);
    await s.load();
    assert.equal(existsSync(path.join(dir, 'fsids.log')), true);
    assert.equal(s.get('OLD1')?.fsid, 100);
    assert.equal(s.fsidFor('OLD2'), 204);
    assert.equal(s.fsidFor('NEW'), 205, 'above the old high-water mark');
    await s.commitFsids();
    const s2 = open(dir);
    await s2.load();
    assert.deepEqual([s2.fsidFor('OLD1'), s2.fsidFor('OLD2'), s2.fsidFor('NEW'), s2.fsidFor('NEXT')], [100, 204, 205, 206]);
    await s2.close();
    await s.close();
  });

  test('the journal is folded into fsids.json once it outgrows its bound, and nothing is lost', async () => {
    const dir = tempDir('pxe-journal-');
    const s = open(dir, { journalBound: 200, lazyMs: 5 });
    await s.load();
    for (let i = 0; i < 40; i++) {
      s.fsidFor(`N${i}`);
      await s.commitFsids();
    }
    // the fold is a write of its own, soon after the append that crossed the bound; the bound then
    // grows with fsids.json, so the journal never holds more than about as much as the snapshot
    const logSize = () => statSync(path.join(dir, 'fsids.log')).size;
    const snapCount = () => Object.keys((JSON.parse(readFileSync(path.join(dir, 'fsids.json'), 'utf8')) as { fsids: object }).fsids).length;
    for (let i = 0; i < 200 && snapCount() < 20; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(snapCount() >= 20, `fsids.json has ${snapCount()} of 40`);
    assert.ok(logSize() <= Math.max(200, statSync(path.join(dir, 'fsids.json')).size) + 40, `journal ${logSize()} bytes, fsids.json ${statSync(path.join(dir, 'fsids.json')).size}`);
    const onDisk = readFsidsOnDisk(dir).fsids;
    for (let i = 0; i < 40; i++) assert.equal(onDisk[`N${i}`], 100 + i);
    await s.close();
  });
});

describe('the cost of making one fsid durable', () => {
  test('one thread-pool round trip: the fdatasync (the size and the write are synchronous calls)', async () => {
    const { createHook } = await import('node:async_hooks');
    const dir = tempDir('pxb-fsid-pool-');
    const s = open(dir);
    await s.load();
    s.fsidFor('A');
    await s.commitFsids(); // the first append (and anything load left to do)
    const seen: string[] = [];
    const hook = createHook({
      init(_id, type) {
        if (type === 'FSREQPROMISE' || type === 'FSREQCALLBACK') seen.push(type);
      },
    });
    const fsid = s.fsidFor('B');
    hook.enable();
    try {
      await s.commitFsids();
    } finally {
      hook.disable();
    }
    assert.deepEqual(seen, ['FSREQPROMISE'], 'one fs request handed to the pool per append');
    assert.match(readFileSync(path.join(dir, 'fsids.log'), 'utf8'), new RegExp(`"name":"B","fsid":${fsid}\\}\\n$`), 'the line is in the file when commitFsids resolves');
    await s.close();
  });
});
