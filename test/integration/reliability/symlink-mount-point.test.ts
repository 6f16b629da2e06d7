// Attacks the overlay's directories: a symlink, FIFO, device or regular file at node_dir/<NODE>,
// overlay_dir/<NODE>, its upper or its work. mount(2) and mkdir -p follow a symlink, so the old
// code mounted the overlay on the link's target (a host directory) and made the upper layer there.
// Each attack must fail that node with an error naming the path, mount nothing, create nothing at
// the target, and leave the next node unaffected; on both mount methods, with real mounts.
// Also release --policy remove with the layer swapped for a link: the target must survive.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, requireTool, sh, tempDir, uniq, waitFor } from '../../helpers/lab.ts';
import { client, leaseLine, makeLab, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { toStatusNodes } from './invariants.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import type { Config, MountMethod, NodeRecord } from '../../../src/types.ts';
import type { Provisioner } from '../../../src/contracts.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { createMounter, loadSysMount } from '../../../provisioners/mounter.ts';
import { openLayerDirs } from '../../../provisioners/layer-dirs.ts';
import { nodePaths } from '../../../provisioners/paths.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from '../../unit/provisioners/fixtures.ts';

after(cleanupAll);

let base: string;
let config: Config;
let nextNode = 1;

/** mount points (from /proc/self/mountinfo) at or under one of `dirs` */
function mountsUnder(...dirs: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => dirs.some((d) => m === d || m.startsWith(d + '/')));
}

/** A host directory an attacker points a link at: a file and a subdirectory that must survive. */
function makeVictim(): string {
  const v = path.join(base, `victim-${uniq()}`);
  mkdirSync(path.join(v, 'sub'), { recursive: true });
  writeFileSync(path.join(v, 'precious'), 'host data\n');
  writeFileSync(path.join(v, 'sub/also'), 'more host data\n');
  return v;
}

/** Everything under a directory, recursively, with file contents: to show it was not touched. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) {
        out.push(`${r}/`);
        walk(path.join(d, e.name), r);
      } else out.push(`${r}: ${e.isFile() ? readFileSync(path.join(d, e.name), 'utf8') : '(special)'}`);
    }
  };
  walk(dir, '');
  return out;
}

function fresh(method: MountMethod): { prov: Provisioner; node: NodeRecord; mp: string; layer: string } {
  const node = makeNode(nextNode++);
  const prov = createProvisioner({ config: { ...config, mount_method: method }, runner: createRunner(silentLogger()), log: silentLogger() });
  onCleanup('close provisioner', () => void prov.close());
  return { prov, node, mp: `${base}/node/${node.name}`, layer: `${base}/overlay/${node.name}` };
}

/** Another node on the same provisioner mounts, exports and releases normally. */
async function otherNodeWorks(prov: Provisioner): Promise<void> {
  const other = makeNode(nextNode++);
  const mp = `${base}/node/${other.name}`;
  await prov.provision(other, makeRule(base));
  assert.deepEqual(mountsUnder(mp), [mp], 'the other node is mounted');
  assert.ok(existsSync(`${base}/tftp/pxelinux.cfg/01-${other.mac!.replace(/:/g, '-')}`), 'and has its boot file');
  await prov.release(other, makeRule(base), 'remove');
  assert.deepEqual(mountsUnder(mp), []);
}

before(() => {
  requireRoot();
  for (const t of ['exportfs', 'mount', 'umount', 'mkfifo', 'mknod']) requireTool(t);
  const sys = loadSysMount();
  assert.ok('mod' in sys, 'why' in sys ? sys.why : '');
  if (!existsSync('/etc/exports.d')) mkdirSync('/etc/exports.d');
  base = tempDir('pxd-symmp-');
  for (const d of ['root/etc', 'node', 'overlay', 'tftp', 'templates']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'root/etc/issue'), 'base image\n');
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  const file = `/etc/exports.d/pxebootd-test-${uniq()}.exports`;
  onCleanup(`rm ${file} + exportfs -r`, () => {
    rmSync(file, { force: true });
    sh('exportfs', ['-r'], { allowFail: true });
  });
  config = makeConfig(base, { exports: { file, etab: '/var/lib/nfs/etab' } });
});

type Plant = (where: string, victim: string) => void;
const link: Plant = (where, victim) => symlinkSync(victim, where);
const fifo: Plant = (where) => sh('mkfifo', [where]);
const device: Plant = (where) => sh('mknod', [where, 'c', '1', '3']);
const file: Plant = (where) => writeFileSync(where, 'not a directory\n');

/** where the attacker plants it, relative to the node: m = node_dir/<NODE>, l = overlay_dir/<NODE> */
const ATTACKS: Array<{ name: string; at: (mp: string, layer: string) => string; plant: Plant; error: RegExp }> = [
  { name: 'a symlink at node_dir/<NODE>', at: (mp) => mp, plant: link, error: /node_dir\/<NODE> .* is a symbolic link/ },
  { name: 'a symlink at overlay_dir/<NODE>', at: (_mp, l) => l, plant: link, error: /overlay_dir\/<NODE> .* is a symbolic link/ },
  { name: 'a symlink at upper', at: (_mp, l) => `${l}/upper`, plant: link, error: /upper .* is a symbolic link/ },
  { name: 'a symlink at work', at: (_mp, l) => `${l}/work`, plant: link, error: /work .* is a symbolic link/ },
  { name: 'a FIFO at node_dir/<NODE>', at: (mp) => mp, plant: fifo, error: /node_dir\/<NODE> .* is a FIFO/ },
  { name: 'a FIFO at upper', at: (_mp, l) => `${l}/upper`, plant: fifo, error: /upper .* is a FIFO/ },
  { name: 'a character device at work', at: (_mp, l) => `${l}/work`, plant: device, error: /work .* is a character device/ },
  { name: 'a regular file at node_dir/<NODE>', at: (mp) => mp, plant: file, error: /node_dir\/<NODE> .* is a regular file/ },
];

for (const method of ['syscall', 'command'] as const) {
  describe(`mount_method: ${method}`, () => {
    for (const a of ATTACKS) {
      test(`${a.name}: the node fails with a clear error, nothing is mounted or created, another node works`, async () => {
        const { prov, node, mp, layer } = fresh(method);
        const victim = makeVictim();
        const where = a.at(mp, layer);
        mkdirSync(path.dirname(where), { recursive: true });
        a.plant(where, victim);
        const before = tree(victim);
        const kind = lstatSync(where).mode;
        await assert.rejects(prov.provision(node, makeRule(base)), (e: Error) => {
          assert.match(e.message, a.error);
          assert.ok(e.message.includes(where), `names ${where}: ${e.message}`);
          return true;
        });
        assert.deepEqual(mountsUnder(base), [], 'nothing mounted anywhere under the test dir (victim included)');
        assert.deepEqual(tree(victim), before, 'the link target is untouched');
        assert.equal(lstatSync(where).mode, kind, 'what the attacker planted is left as it was');
        assert.ok(!existsSync(`${base}/tftp/pxelinux.cfg/01-${node.mac!.replace(/:/g, '-')}`), 'no boot file for the failed node');
        await otherNodeWorks(prov);
      });
    }

    test('provisioning the attacked node again, after the admin removed the link, works', async () => {
      const { prov, node, mp } = fresh(method);
      const victim = makeVictim();
      symlinkSync(victim, mp);
      await assert.rejects(prov.provision(node, makeRule(base)), /symbolic link/);
      rmSync(mp);
      await prov.provision(node, makeRule(base));
      assert.deepEqual(mountsUnder(base), [mp]);
      assert.ok(statSync(mp).isDirectory());
      await prov.release(node, makeRule(base), 'remove');
      assert.deepEqual(mountsUnder(base), []);
    });

    for (const swap of ['overlay_dir/<NODE>', 'upper'] as const) {
      test(`release --policy remove with ${swap} swapped for a symlink to a host directory deletes nothing there`, async () => {
        const { prov, node, mp, layer } = fresh(method);
        await prov.provision(node, makeRule(base));
        writeFileSync(`${mp}/etc/hostname`, 'node\n');
        const victim = makeVictim();
        const before = tree(victim);
        // the overlay holds the old directory open; the attacker moves it aside and plants a link
        const at = swap === 'upper' ? `${layer}/upper` : layer;
        renameSync(at, `${at}.moved`);
        symlinkSync(victim, at);
        if (swap === 'upper') {
          // inside a real layer dir, a link is content like any other: removed itself, never followed
          await prov.release(node, makeRule(base), 'remove');
          assert.ok(!existsSync(layer), 'the layer is gone');
        } else {
          await assert.rejects(prov.release(node, makeRule(base), 'remove'), /overlay_dir\/<NODE> .* is a symbolic link .*not deleting anything/);
          assert.ok(lstatSync(at).isSymbolicLink(), 'the link is left for the admin');
          assert.ok(existsSync(`${at}.moved/upper/etc/hostname`), 'and so is what it replaced');
        }
        assert.deepEqual(mountsUnder(base), [], 'unmounted');
        assert.deepEqual(tree(victim), before, 'the link target survives');
      });
    }
  });
}

test('a configured overlay_dir that is itself a symlink (the admin\'s choice, above the managed names) still works, and provisioning again is a no-op', async () => {
  const { prov, node, mp } = fresh('syscall');
  const linked = path.join(base, `ovlink-${uniq()}`);
  symlinkSync(path.join(base, 'overlay'), linked);
  const rule = makeRule(base, { overlay_dir: linked });
  await prov.provision(node, rule);
  assert.deepEqual(mountsUnder(base), [mp]);
  const e = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [path.dirname(mp)]).get(mp)!;
  assert.equal(e.superOptions.get('upperdir'), `${base}/overlay/${node.name}/upper`, 'the kernel shows the resolved path');
  await prov.provision(node, rule);
  assert.deepEqual(mountsUnder(base), [mp], 'recognised as ours: not mounted twice, not refused');
  await prov.release(node, rule, 'remove');
  assert.deepEqual(mountsUnder(base), []);
  assert.ok(!existsSync(`${base}/overlay/${node.name}`));
});

describe('a link swapped in after the directories were opened (the race the descriptors close)', () => {
  for (const method of ['syscall', 'command'] as const) {
    for (const swap of ['node_dir/<NODE>', 'upper'] as const) {
      test(`mount_method: ${method}, ${swap}: ${method === 'syscall' ? 'the mount still lands on the directories that were checked' : 'the re-check refuses; nothing is mounted'}`, async () => {
        const node = makeNode(nextNode++);
        const p = nodePaths(node.name, makeRule(base));
        const victim = makeVictim();
        const before = tree(victim);
        const m = createMounter(method, createRunner(silentLogger()), { mount: 'mount', umount: 'umount' });
        const dirs = await openLayerDirs(p);
        const at = swap === 'upper' ? p.upper : p.mountPoint;
        try {
          renameSync(at, `${at}.aside`);
          symlinkSync(victim, at);
          if (method === 'command') {
            await assert.rejects(m.mount(p, dirs), /is now a symbolic link since pxebootd checked it; not mounting/);
            assert.deepEqual(mountsUnder(base), []);
          } else {
            await m.mount(p, dirs);
            const where = swap === 'upper' ? p.mountPoint : `${p.mountPoint}.aside`;
            assert.deepEqual(mountsUnder(base), [where], 'mounted on the checked directory, wherever it is now');
            const e = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [path.dirname(where)]).get(where)!;
            assert.equal(e.superOptions.get('upperdir'), swap === 'upper' ? `${p.upper}.aside` : p.upper, 'mountinfo shows the real upper');
            assert.equal(e.superOptions.get('nfs_export'), 'on');
            assert.equal((await m.umount(where)).exitCode, 0);
          }
        } finally {
          await dirs.close();
        }
        assert.deepEqual(tree(victim), before, 'the link target is untouched');
      });
    }
  }
});

test('the real daemon: the attacked node is failed with the reason in status, the other is ready, nothing is mounted on the target', { timeout: 90_000 }, async () => {
  const lab = makeLab('symmp');
  const cfg = writeConfig(lab);
  const bad = client(99, 7);
  const good = client(99, 8);
  const badName = '0A630007';
  const victim = path.join(lab.dir, 'victim');
  mkdirSync(victim);
  writeFileSync(path.join(victim, 'precious'), 'host data\n');
  symlinkSync(victim, path.join(lab.nodeDir, badName));
  const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd.log'));
  try {
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    writeFileSync(lab.leases, leaseLine(bad, expiry) + leaseLine(good, expiry));
    const nodes = await waitFor(
      'one node failed, the other ready',
      () => {
        const all = toStatusNodes(statusJson(cfg));
        const b = all.find((n) => n.ip === bad.ip);
        const g = all.find((n) => n.ip === good.ip);
        return b?.state === 'failed' && g?.state === 'ready' ? { b, g } : undefined;
      },
      30_000,
      100,
    );
    assert.match(nodes.b.lastError ?? '', new RegExp(`node_dir/<NODE> ${lab.nodeDir}/${badName} is a symbolic link \\(to "${victim}"\\)`));
    assert.deepEqual(mountsUnder(victim), []);
    assert.deepEqual(mountsUnder(lab.nodeDir), [path.join(lab.nodeDir, nodes.g.name)]);
    assert.deepEqual(readdirSync(victim), ['precious']);
  } finally {
    await d.stop();
  }
});
