import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { checkOverlayMount, mountArgv, planOverlay } from '../../../provisioners/overlay.ts';
import { nodePaths } from '../../../provisioners/paths.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';

const RULE = { root_dir: '/netboot/root', node_dir: '/netboot/node', overlay_dir: '/netboot/overlay' };
const P = nodePaths('0A630032', RULE);

describe('nodePaths', () => {
  test('layout', () => {
    assert.deepEqual(P, {
      node: '0A630032',
      lower: '/netboot/root',
      layerDir: '/netboot/overlay/0A630032',
      upper: '/netboot/overlay/0A630032/upper',
      work: '/netboot/overlay/0A630032/work',
      mountPoint: '/netboot/node/0A630032',
      nodeDir: '/netboot/node',
    });
  });
  test('refuses unsafe node names and configured dirs that would break mount -o', () => {
    for (const n of ['../x', 'a/b', '', 'x y', '0A63\n', 'A'.repeat(65), '.hidden', '*']) assert.throws(() => nodePaths(n, RULE), Error, n);
    for (const d of ['relative/dir', '/a,b', '/a:b', '/a b', '/a=b', '/', '/a(b)']) {
      assert.throws(() => nodePaths('0A630032', { ...RULE, root_dir: d }), Error, d);
      assert.throws(() => nodePaths('0A630032', { ...RULE, node_dir: d }), Error, d);
    }
  });
});

describe('overlay mount', () => {
  test('exact argv with index=on,nfs_export=on', () => {
    assert.deepEqual(mountArgv('/usr/bin/mount', P), [
      '/usr/bin/mount', '-t', 'overlay', 'overlay', '-o',
      'lowerdir=/netboot/root,upperdir=/netboot/overlay/0A630032/upper,workdir=/netboot/overlay/0A630032/work,index=on,nfs_export=on',
      '/netboot/node/0A630032',
    ]);
  });

  const ABSENT = { kind: 'absent' } as const;
  test('plan: mkdir, (ephemeral reset), mount, verify', () => {
    const cmd = { method: 'command', cmd: '/sbin/mount' } as const;
    assert.deepEqual(planOverlay(P, cmd, { fresh: false, current: ABSENT }).map((s) => s.op), ['mkdir', 'mount', 'verify-mount']);
    assert.deepEqual(planOverlay(P, cmd, { fresh: true, current: ABSENT }).map((s) => s.op), ['reset-layer', 'mkdir', 'mount', 'verify-mount']);
    assert.equal(planOverlay(P, cmd, { fresh: false, current: ABSENT })[1]!.describe, '/sbin/mount -t overlay overlay -o lowerdir=/netboot/root,upperdir=/netboot/overlay/0A630032/upper,workdir=/netboot/overlay/0A630032/work,index=on,nfs_export=on /netboot/node/0A630032');
  });

  test('plan against what is mounted: ours is a check, ours made fresh is unmounted first, anything else is refused', () => {
    const cmd = { method: 'command', cmd: '/sbin/mount', umount: '/sbin/umount' } as const;
    const ours = planOverlay(P, cmd, { fresh: false, current: { kind: 'ours' } });
    assert.deepEqual(ours.map((s) => s.op), ['verify-mount']);
    assert.match(ours[0]!.describe, /^already mounted: overlay at \/netboot\/node\/0A630032/);
    const fresh = planOverlay(P, cmd, { fresh: true, current: { kind: 'ours' } });
    assert.deepEqual(fresh.map((s) => s.op), ['umount', 'reset-layer', 'mkdir', 'mount', 'verify-mount']);
    assert.match(fresh[0]!.describe, /^\/sbin\/umount \/netboot\/node\/0A630032 /);
    for (const kind of ['conflict', 'no-export'] as const) {
      for (const f of [false, true]) {
        const r = planOverlay(P, cmd, { fresh: f, current: { kind, reason: 'a tmpfs is there' } });
        assert.deepEqual(r.map((s) => s.op), ['refuse']);
        assert.equal((r[0] as { reason: string }).reason, 'a tmpfs is there; not reusing it (unmount it by hand if it is stale)');
      }
    }
  });

  test('plan with mount(2): the equivalent mount(8) line, marked as done in-process', () => {
    const step = planOverlay(P, { method: 'syscall', cmd: '/sbin/mount' }, { fresh: false, current: ABSENT })[1]!;
    assert.deepEqual((step as { argv: string[] }).argv.slice(0, 4), ['mount', '-t', 'overlay', 'overlay']);
    assert.equal(step.describe, 'mount -t overlay overlay -o lowerdir=/netboot/root,upperdir=/netboot/overlay/0A630032/upper,workdir=/netboot/overlay/0A630032/work,index=on,nfs_export=on /netboot/node/0A630032  (as mount(2) inside pxebootd)');
  });

  const line = (fs: string, opts: string) => `50 27 0:40 / /netboot/node/0A630032 rw,relatime - ${fs} ${fs} ${opts}\n`;
  const check = (text: string) => checkOverlayMount(parseMountinfo(text).get(P.mountPoint), P);
  const OURS = 'rw,lowerdir=/netboot/root,upperdir=/netboot/overlay/0A630032/upper,workdir=/netboot/overlay/0A630032/work,index=on,uuid=on,nfs_export=on';

  test('absent / ours', () => {
    assert.deepEqual(check(''), { kind: 'absent' });
    assert.deepEqual(check(line('overlay', OURS)), { kind: 'ours' });
  });

  test('kernel fell back to nfs_export=off: no-export with the reason', () => {
    const r = check(line('overlay', OURS.replace(',index=on', '').replace(',nfs_export=on', '')));
    assert.equal(r.kind, 'no-export');
    assert.match((r as { reason: string }).reason, /nfs_export=off, index=off.*dmesg/);
  });

  test('other layers or another filesystem: conflict naming what was found', () => {
    const r = check(line('overlay', OURS.replace('lowerdir=/netboot/root', 'lowerdir=/other/root')));
    assert.equal(r.kind, 'conflict');
    assert.match((r as { reason: string }).reason, /expected lowerdir=\/netboot\/root, found lowerdir=\/other\/root/);
    const t = check(line('tmpfs', 'rw'));
    assert.equal(t.kind, 'conflict');
    assert.match((t as { reason: string }).reason, /tmpfs/);
  });
});
