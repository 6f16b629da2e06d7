import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMountTable } from '../../../provisioners/mount-table.ts';
import { createLimiter } from '../../../provisioners/limiter.ts';

const line = (mp: string) => `1 0 0:1 / ${mp} rw - overlay overlay rw,index=on,nfs_export=on\n`;

test('mount table: a burst of 500 concurrent snapshot() calls costs one read', async () => {
  let reads = 0;
  const t = createMountTable(() => ['/n'], async () => {
    reads++;
    return line('/n/A') + line('/x/B');
  });
  const snaps = await Promise.all(Array.from({ length: 500 }, () => t.snapshot()));
  assert.equal(reads, 1);
  assert.equal(t.reads(), 1);
  assert.deepEqual([...snaps[499]!.keys()], ['/n/A'], 'limited to the managed dirs');
});

test('mount table: a call made after a read started gets a fresh read (sees mounts made meanwhile)', async () => {
  let text = line('/n/A');
  let release!: () => void;
  const t = createMountTable(() => ['/n'], async () => {
    const snapshot = text;
    await new Promise<void>((r) => (release = r));
    return snapshot;
  });
  const first = t.snapshot();
  await new Promise((r) => setImmediate(r)); // the first read has started
  text += line('/n/B'); // a mount completes while it runs
  const second = t.snapshot();
  release();
  assert.deepEqual([...(await first).keys()], ['/n/A']);
  await new Promise((r) => setImmediate(r));
  release();
  assert.deepEqual([...(await second).keys()].sort(), ['/n/A', '/n/B']);
  assert.equal(t.reads(), 2);
});

test('limiter: never more than max in flight, all run', async () => {
  const lim = createLimiter(3);
  let now = 0;
  let peak = 0;
  const done = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      lim.run(async () => {
        now++;
        peak = Math.max(peak, now);
        await new Promise((r) => setTimeout(r, 1 + (i % 3)));
        now--;
        return i;
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.deepEqual(done, Array.from({ length: 50 }, (_, i) => i));
  await assert.rejects(lim.run(async () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(await lim.run(async () => 'still works'), 'still works');
});

test('stale temp files: only ours, only from dead PIDs', async () => {
  const { isStaleTemp } = await import('../../../provisioners/stale-temp.ts');
  const dead = () => false;
  assert.equal(isStaleTemp('.pxebootd.exports.123.0a1b2c3d.tmp', dead), true);
  assert.equal(isStaleTemp('.01-52-54-00-00-00-32.99.deadbeef.lnk', dead), true);
  assert.equal(isStaleTemp('.pxebootd.exports.123.0a1b2c3d.tmp', () => true), false, 'writer still alive');
  assert.equal(isStaleTemp(`.x.${process.pid}.0a1b2c3d.tmp`, dead), false, 'our own, in flight');
  for (const n of ['pxebootd.exports', '.hidden', '.x.12.zz.tmp', '.x.12.0a1b2c3d.bak', '01-52-54-00-00-00-32']) assert.equal(isStaleTemp(n, dead), false, n);
});

test('mount table: while other mounts run, a read waits for them (one read verifies many), at most maxDelayMs', async () => {
  let reads = 0;
  let busy = true;
  const t = createMountTable(() => ['/n'], async () => {
    reads++;
    return line('/n/A');
  }, { busy: () => busy, maxDelayMs: 10_000 });
  const a = t.snapshot();
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(reads, 0, 'waits while busy');
  t.nudge();
  assert.equal(reads, 0, 'a nudge while still busy does not start it');
  busy = false;
  t.nudge();
  assert.ok((await a).has('/n/A'));
  assert.equal(reads, 1);

  busy = true; // never idle again: the cap starts the read anyway
  const capped = createMountTable(() => ['/n'], async () => line('/n/B'), { busy: () => busy, maxDelayMs: 20 });
  const t0 = performance.now();
  assert.ok((await capped.snapshot()).has('/n/B'));
  assert.ok(performance.now() - t0 >= 15);
});

test('mount table: not busy reads at once; limiter.busy counts running and waiting runs', async () => {
  const lim = createLimiter(1);
  let release!: () => void;
  const first = lim.run(() => new Promise<void>((r) => (release = r)));
  const second = lim.run(async () => {});
  assert.equal(lim.busy(), 2);
  release();
  await Promise.all([first, second]);
  assert.equal(lim.busy(), 0);
  const t = createMountTable(() => ['/n'], async () => line('/n/A'), { busy: () => lim.busy() > 0 });
  assert.ok((await t.snapshot()).has('/n/A'));
});

test('mount table: snapshot(points) unpacks only those points; a caller without points in the same read gets all', async () => {
  const text = line('/n/A') + line('/n/B') + line('/n/C') + line('/x/D');
  const t = createMountTable(() => ['/n'], async () => Buffer.from(text));
  const [a, b] = await Promise.all([t.snapshot(['/n/A']), t.snapshot(['/n/B', '/n/Z'])]);
  assert.equal(t.reads(), 1);
  assert.strictEqual(a, b, 'one read, one result');
  assert.deepEqual([...a.keys()].sort(), ['/n/A', '/n/B']);
  const [c, all] = await Promise.all([t.snapshot(['/n/A']), t.snapshot()]);
  assert.strictEqual(c, all);
  assert.deepEqual([...all.keys()].sort(), ['/n/A', '/n/B', '/n/C']);
  assert.deepEqual([...(await t.snapshot(['/n/C'])).keys()], ['/n/C'], 'the wanted set starts empty again after a read');
});

test('mount table: by default it reads the real /proc/self/mountinfo (in pieces) and finds /', async () => {
  const t = createMountTable(() => ['/']);
  const all = await t.snapshot();
  assert.equal(all.get('/')?.mountPoint, '/');
  assert.ok(all.size >= 2, `mounts found: ${[...all.keys()].join(' ')}`);
  const only = await t.snapshot(['/']);
  assert.deepEqual([...only.keys()], ['/']);
  assert.equal(t.reads(), 2);
});

test('mount table: with a lookup, named points are asked one by one and the file is not read', async () => {
  let fileReads = 0;
  const asked: string[] = [];
  const t = createMountTable(() => ['/n'], async () => {
    fileReads++;
    return line('/n/A') + line('/n/B');
  }, {
    lookup: (mp) => {
      asked.push(mp);
      return mp === '/n/A' ? { mountPoint: mp, fstype: 'overlay', source: 'overlay', mountOptions: 'rw', superOptions: new Map([['nfs_export', 'on']]) } : undefined;
    },
  });
  const snap = await t.snapshot(['/n/A', '/n/B/../C']);
  assert.deepEqual([...snap.keys()], ['/n/A']);
  assert.deepEqual(asked, ['/n/A', '/n/C'], 'paths resolved before the lookup');
  assert.equal(fileReads, 0);
  assert.equal(t.reads(), 0);
  assert.equal(t.lookups(), 2);
  // listing every mount still reads the file
  assert.deepEqual([...(await t.snapshot()).keys()].sort(), ['/n/A', '/n/B']);
  assert.equal(t.reads(), 1);
});

test('mount table: a lookup the kernel cannot do (ENOSYS, EPERM) falls back to the file for good, saying so once', async () => {
  const why: string[] = [];
  let calls = 0;
  const t = createMountTable(() => ['/n'], async () => line('/n/A'), {
    lookup: () => {
      calls++;
      throw Object.assign(new Error('statmount(/n/A): Function not implemented'), { code: 'ENOSYS' });
    },
    onFallback: (w) => why.push(w),
  });
  assert.deepEqual([...(await t.snapshot(['/n/A'])).keys()], ['/n/A'], 'answered from the file');
  assert.deepEqual([...(await t.snapshot(['/n/A'])).keys()], ['/n/A']);
  assert.equal(calls, 1, 'not asked again');
  assert.equal(t.reads(), 2);
  assert.equal(why.length, 1);
  assert.match(why[0]!, /Function not implemented; reading \/proc\/self\/mountinfo from now on/);
});

test('mount table: another lookup error answers that snapshot from the file and keeps the lookup', async () => {
  let calls = 0;
  const t = createMountTable(() => ['/n'], async () => line('/n/A'), {
    lookup: (mp) => {
      if (calls++ === 0) throw Object.assign(new Error('statx: Permission denied'), { code: 'EACCES' });
      return { mountPoint: mp, fstype: 'overlay', source: 'overlay', mountOptions: 'rw', superOptions: new Map() };
    },
  });
  assert.deepEqual([...(await t.snapshot(['/n/A'])).keys()], ['/n/A']);
  assert.equal(t.reads(), 1);
  assert.deepEqual([...(await t.snapshot(['/n/A'])).keys()], ['/n/A']);
  assert.equal(t.reads(), 1, 'the second one was looked up');
});
