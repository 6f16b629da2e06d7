// The statmount(2) lookup against real mounts (root): it must say what mountinfo says about one
// mount point, including a mount someone else made or removed, at a cost that does not depend on
// how many mounts there are.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadMountLookup } from '../../../provisioners/mount-lookup.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { checkOverlayMount } from '../../../provisioners/overlay.ts';
import { cleanupAll, onCleanup, requireRoot, sh, tempDir } from '../../helpers/lab.ts';

after(cleanupAll);

const mountinfoAt = (mp: string) => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [mp]).get(mp);

test('statmount lookup: an overlay, a foreign tmpfs, a plain directory and a symlink, each as mountinfo has them', () => {
  requireRoot();
  const l = loadMountLookup();
  assert.ok('lookup' in l, `the lookup must load on this kernel (6.11+ with the addon built): ${'why' in l ? l.why : ''}`);
  const dir = tempDir('pxe-lookup-');
  const [lower, upper, work, mnt, foreign, plain] = ['lower', 'up per', 'work', 'node,A', 'foreign', 'plain'].map((d) => path.join(dir, d)) as [string, string, string, string, string, string];
  for (const d of [lower, upper, work, mnt, foreign, plain]) mkdirSync(d, { recursive: true });
  sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper.replace(/,/g, '\\,')},workdir=${work},index=on,nfs_export=on`, mnt]);
  onCleanup(`umount ${mnt}`, () => sh('umount', ['-l', mnt], { allowFail: true }));
  sh('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'someone-else', foreign]);
  onCleanup(`umount ${foreign}`, () => sh('umount', ['-l', foreign], { allowFail: true }));
  const link = path.join(dir, 'link');
  symlinkSync(mnt, link);

  const ov = l.lookup(mnt);
  const want = mountinfoAt(mnt);
  assert.ok(ov && want);
  assert.equal(ov.mountPoint, mnt);
  assert.equal(ov.fstype, 'overlay');
  assert.deepEqual(Object.fromEntries(ov.superOptions), Object.fromEntries(want.superOptions), 'the same options as mountinfo, unescaped alike');
  assert.equal(ov.superOptions.get('upperdir'), upper, 'a space and a comma in a layer path come back unescaped');
  assert.equal(checkOverlayMount(ov, { mountPoint: mnt, lower: lower!, upper: upper!, work: work! } as never).kind, 'ours');

  const t = l.lookup(foreign);
  assert.equal(t?.fstype, 'tmpfs');
  assert.equal(t?.source, 'someone-else');
  assert.equal(checkOverlayMount(t, { mountPoint: foreign } as never).kind, 'conflict', "someone else's mount at a node's point is a conflict");
  assert.equal(l.lookup(plain), undefined, 'a directory on its parent mount: nothing mounted there');
  assert.equal(l.lookup(link), undefined, 'a symlink to a mount point is not one (never followed)');
  assert.equal(l.lookup(path.join(dir, 'missing')), undefined);

  // removed by someone else: gone at once
  sh('umount', [foreign]);
  assert.equal(l.lookup(foreign), undefined);
  // mounted over by someone else: the topmost mount answers, as in mountinfo
  sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'over', mnt]);
  assert.equal(l.lookup(mnt)?.fstype, 'tmpfs');
  assert.equal(mountinfoAt(mnt)?.fstype, 'tmpfs');
  sh('umount', [mnt]);
  assert.equal(l.lookup(mnt)?.fstype, 'overlay');
});

test('statmount lookup: costs the same with 1,000 more mounts (mountinfo reading does not)', (t) => {
  requireRoot();
  const l = loadMountLookup();
  assert.ok('lookup' in l);
  const dir = tempDir('pxe-lookup-n-');
  const probe = path.join(dir, 'probe');
  mkdirSync(probe);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'probe', probe]);
  onCleanup(`umount ${probe}`, () => sh('umount', ['-l', probe], { allowFail: true }));
  const time = (fn: () => unknown, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    return (performance.now() - t0) / n;
  };
  const lookupBefore = time(() => l.lookup(probe), 2000);
  const readBefore = time(() => readFileSync('/proc/self/mountinfo'), 50);
  // 1,000 small tmpfs mounts under a private parent (not propagated to other namespaces' copies)
  const base = path.join(dir, 'many');
  mkdirSync(base);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'many', base]);
  sh('mount', ['--make-private', base]);
  onCleanup(`umount -R ${base}`, () => sh('umount', ['-R', '-l', base], { allowFail: true }));
  sh('sh', ['-ec', 'for i in $(seq 1 1000); do mkdir "$1/m$i" && mount -t tmpfs -o size=4k "m$i" "$1/m$i"; done', 'sh', base]);
  const lookupAfter = time(() => l.lookup(probe), 2000);
  const readAfter = time(() => readFileSync('/proc/self/mountinfo'), 50);
  assert.equal(l.lookup(probe)?.fstype, 'tmpfs');
  // generous: a loaded machine; the file read grows many times over with 1,000 more lines
  assert.ok(lookupAfter < Math.max(lookupBefore * 3, 0.05), `lookup ${lookupBefore.toFixed(4)} ms -> ${lookupAfter.toFixed(4)} ms with 1,000 more mounts`);
  // the cost the lookup avoids (a diagnostic only: other tests' mounts on this machine change the base)
  t.diagnostic(`mountinfo read ${readBefore.toFixed(3)} ms -> ${readAfter.toFixed(3)} ms; lookup ${lookupBefore.toFixed(4)} -> ${lookupAfter.toFixed(4)} ms`);
});
