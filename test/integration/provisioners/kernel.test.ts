// Real overlay mounts and the real `exportfs` (which keeps /var/lib/nfs/etab even without nfsd,
// see e2e-lab.md §3a), with our own exports file name, removed at cleanup. Only our own lines in
// the shared etab are asserted on.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, requireTool, sh, tempDir, uniq } from '../../helpers/lab.ts';
import { createRunner, type Runner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import type { Config, NodeRecord, ResolvedRule } from '../../../src/types.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from '../../unit/provisioners/fixtures.ts';

after(cleanupAll);

const ETAB = '/var/lib/nfs/etab';
let base: string;
let config: Config;
let rule: ResolvedRule;

function ourEtab(): string[] {
  const prefix = `${base}/node/`;
  return readFileSync(ETAB, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .sort();
}

function overlaysUnder(dir: string): Map<string, ReturnType<typeof parseMountinfo> extends Map<string, infer V> ? V : never> {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [dir]);
}

function countMountsAt(mp: string): number {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === mp).length;
}

function exportfsRuns(r: Runner): number {
  return r.stats().get('exportfs')?.runs ?? 0;
}

function newProvisioner() {
  const runner = createRunner(silentLogger());
  return { runner, p: createProvisioner({ config, runner, log: silentLogger() }) };
}

before(() => {
  requireRoot();
  for (const t of ['exportfs', 'mount', 'umount']) requireTool(t);
  base = tempDir('pxd-kern-');
  for (const d of ['root/etc', 'root/sbin', 'node', 'overlay', 'tftp', 'templates']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'root/etc/issue'), 'base image\n');
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  if (!existsSync('/etc/exports.d')) {
    mkdirSync('/etc/exports.d');
    onCleanup('rmdir /etc/exports.d', () => {
      try {
        rmdirSync('/etc/exports.d');
      } catch {
        /* someone else's file is in it now */
      }
    });
  }
  const file = `/etc/exports.d/pxebootd-test-${uniq()}.exports`;
  onCleanup(`rm ${file} + exportfs -r`, () => {
    rmSync(file, { force: true });
    sh('exportfs', ['-r'], { allowFail: true });
  });
  // unmount our overlays before the temp dir goes (registered after tempDir: runs first)
  onCleanup('umount overlays', () => {
    for (const mp of overlaysUnder(`${base}/node`).keys()) sh('umount', [mp], { allowFail: true });
  });
  config = makeConfig(base, { exports: { file, etab: ETAB } });
  rule = makeRule(base);
});

describe('kernel exports, real overlayfs + exportfs', () => {
  const nodes = [makeNode(48), makeNode(49), makeNode(50)];

  test('three nodes: nfs_export=on in mountinfo, one etab line each with IP and fsid, boot files after', async () => {
    const { runner, p } = newProvisioner();
    await Promise.all(nodes.map((n) => p.provision(n, rule)));
    const mounts = overlaysUnder(`${base}/node`);
    for (const n of nodes) {
      const m = mounts.get(`${base}/node/${n.name}`);
      assert.equal(m?.fstype, 'overlay');
      assert.equal(m?.superOptions.get('nfs_export'), 'on');
      assert.equal(m?.superOptions.get('index'), 'on');
    }
    const lines = ourEtab();
    assert.equal(lines.length, 3);
    for (const n of nodes) {
      const mine = lines.filter((l) => l.startsWith(`${base}/node/${n.name}\t`));
      assert.equal(mine.length, 1, `exactly one etab line for ${n.name}`);
      assert.match(mine[0]!, new RegExp(`\\t${n.ip.replace(/\./g, '\\.')}\\(.*fsid=${n.fsid}[,)]`));
    }
    // batching is asserted in the 200-node test; three mounts on a loaded machine may land in two batches
    assert.ok(exportfsRuns(runner) >= 1 && exportfsRuns(runner) <= 3);
    const cfg = readFileSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`, 'utf8');
    assert.match(cfg, new RegExp(`nfsroot=10\\.99\\.0\\.1:${base}/node/0A630032,vers=3`));
    assert.equal(readlinkSync(`${base}/tftp/pxelinux.cfg/0A630032`), '01-52-54-00-00-00-32');
    // the merged tree really is the lower image
    assert.equal(readFileSync(`${base}/node/0A630032/etc/issue`, 'utf8'), 'base image\n');
    await p.close();
  });

  test('provisioning again changes nothing: same etab, same inode, no extra mount, no exportfs run', async () => {
    const etabBefore = ourEtab();
    const ino = statSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`).ino;
    const { runner, p } = newProvisioner();
    await Promise.all(nodes.map((n) => p.provision(n, rule)));
    assert.deepEqual(ourEtab(), etabBefore);
    assert.equal(statSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`).ino, ino);
    for (const n of nodes) assert.equal(countMountsAt(`${base}/node/${n.name}`), 1);
    assert.equal(runner.stats().get('mount')?.runs ?? 0, 0);
    assert.equal(exportfsRuns(runner), 0, 'etab already had every line');
    await p.close();
  });

  test('the kernel silently falls back to nfs_export=off (lower on ramfs): node fails, nothing left behind', async () => {
    const ram = path.join(base, 'ramroot');
    mkdirSync(ram);
    sh('mount', ['-t', 'ramfs', 'pxdram', ram]);
    onCleanup(`umount ${ram}`, () => sh('umount', [ram], { allowFail: true }));
    const { runner, p } = newProvisioner();
    const n = makeNode(60);
    await assert.rejects(p.provision(n, makeRule(base, { root_dir: ram })), /without nfs_export=on\/index=on \(found nfs_export=off, index=off\).*dmesg; unmounted it again/);
    assert.equal(countMountsAt(`${base}/node/${n.name}`), 0);
    assert.equal(ourEtab().filter((l) => l.includes(n.name)).length, 0);
    assert.equal(existsSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-3e`), false);
    assert.equal(exportfsRuns(runner), 0);
    await p.close();
  });

  test("exportfs exits 1 for someone else's broken line: our node is still exported and ready", async () => {
    const broken = `/etc/exports.d/pxebootd-test-${uniq()}-broken.exports`;
    writeFileSync(broken, `${base}/does-not-exist 10.99.9.9(rw,no_subtree_check,fsid=424242)\n`);
    onCleanup(`rm ${broken}`, () => rmSync(broken, { force: true }));
    try {
      const { runner, p } = newProvisioner();
      const n = makeNode(61);
      await p.provision(n, rule);
      assert.equal(runner.stats().get('exportfs')?.failures, 1, 'exportfs did exit non-zero');
      assert.equal(ourEtab().filter((l) => l.startsWith(`${base}/node/${n.name}\t`)).length, 1);
      assert.ok(existsSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-3f`));
      await p.close();
    } finally {
      rmSync(broken, { force: true });
      sh('exportfs', ['-r'], { allowFail: true });
    }
  });

  test('simulated reboot (overlays unmounted, our lines gone from etab) then restore(): same fsids, one exportfs run', async () => {
    const all: NodeRecord[] = [...nodes, makeNode(61)].map((n) => ({ ...n, state: 'ready' }));
    const etabBefore = ourEtab();
    for (const mp of overlaysUnder(`${base}/node`).keys()) sh('umount', [mp]);
    writeFileSync(config.exports.file, '');
    sh('exportfs', ['-r']);
    assert.deepEqual(ourEtab(), []);
    assert.equal(overlaysUnder(`${base}/node`).size, 0);
    const { runner, p } = newProvisioner();
    const errors = await p.restore(all.map((node) => ({ node, rule })));
    assert.deepEqual([...errors.entries()], []);
    assert.equal(exportfsRuns(runner), 1);
    assert.deepEqual(ourEtab(), etabBefore);
    for (const n of all) assert.equal(overlaysUnder(`${base}/node`).get(`${base}/node/${n.name}`)?.superOptions.get('nfs_export'), 'on');
    await p.close();
  });

  test('200 nodes at once: a handful of exportfs runs, every node in etab', async () => {
    const many = Array.from({ length: 200 }, (_, i) => makeNode(300 + i));
    const { runner, p } = newProvisioner();
    const t0 = performance.now();
    await Promise.all(many.map((n) => p.provision(n, rule)));
    const ms = Math.round(performance.now() - t0);
    const runs = exportfsRuns(runner);
    console.log(`200 nodes: ${runs} exportfs runs, ${ms} ms (mount+export+boot files)`);
    assert.ok(runs >= 1 && runs <= 5, `${runs} exportfs runs`);
    const etab = ourEtab();
    for (const n of many) assert.ok(etab.some((l) => l.startsWith(`${base}/node/${n.name}\t${n.ip}(`)), n.name);
    await p.close();
  });

  test('release: keep leaves all, unexport drops boot files then the export, remove also unmounts and wipes', async () => {
    const { p } = newProvisioner();
    const [a, b, c] = nodes as [NodeRecord, NodeRecord, NodeRecord];
    await p.release(a, rule, 'keep');
    assert.equal(ourEtab().filter((l) => l.startsWith(`${base}/node/${a.name}\t`)).length, 1);
    assert.ok(existsSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`));

    await p.release(b, rule, 'unexport');
    assert.equal(ourEtab().filter((l) => l.startsWith(`${base}/node/${b.name}\t`)).length, 0);
    assert.equal(existsSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-33`), false);
    assert.equal(existsSync(`${base}/tftp/pxelinux.cfg/0A630033`), false);
    assert.equal(countMountsAt(`${base}/node/${b.name}`), 1, 'unexport keeps the mount');

    writeFileSync(`${base}/node/${c.name}/etc/written-by-client`, 'x');
    assert.ok(existsSync(`${base}/overlay/${c.name}/upper/etc/written-by-client`));
    await p.release(c, rule, 'remove');
    assert.equal(ourEtab().filter((l) => l.startsWith(`${base}/node/${c.name}\t`)).length, 0);
    assert.equal(countMountsAt(`${base}/node/${c.name}`), 0);
    assert.equal(existsSync(`${base}/overlay/${c.name}`), false);
    assert.equal(existsSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-34`), false);
    await p.close();
  });

  test('ephemeral: kept while exported; after a release, the next provision unmounts, wipes and remounts', async () => {
    const { p } = newProvisioner();
    const eph = makeRule(base, { overlay: 'ephemeral' });
    const n = makeNode(70);
    await p.provision(n, eph);
    writeFileSync(`${base}/node/${n.name}/etc/scratch`, 'from this boot');
    await p.provision(n, eph);
    assert.equal(readFileSync(`${base}/node/${n.name}/etc/scratch`, 'utf8'), 'from this boot', 'a ready, exported node is left alone');
    await p.release(n, eph, 'unexport');
    await p.provision(n, eph);
    assert.equal(existsSync(`${base}/node/${n.name}/etc/scratch`), false);
    assert.equal(existsSync(`${base}/overlay/${n.name}/upper/etc`), false, 'fresh upper');
    assert.equal(countMountsAt(`${base}/node/${n.name}`), 1);
    assert.equal(ourEtab().filter((l) => l.startsWith(`${base}/node/${n.name}\t`)).length, 1);
    await p.close();
  });

  test('orphans: real mounts, etab lines and boot files of nodes state does not know are found and cleaned', async () => {
    const { p } = newProvisioner();
    const keep = makeNode(80);
    const lost = makeNode(81);
    await Promise.all([p.provision(keep, rule), p.provision(lost, rule)]);
    const known = [keep, ...nodes.slice(0, 2)];
    const report = await p.findOrphans(known);
    assert.ok(report.mounts.includes(`${base}/node/${lost.name}`));
    assert.ok(!report.mounts.includes(`${base}/node/${keep.name}`));
    assert.ok(report.exports.some((l) => l.startsWith(`${base}/node/${lost.name} ${lost.ip}(`)));
    assert.ok(report.bootFiles.includes(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-53`));
    assert.ok(report.bootFiles.includes(`${base}/tftp/pxelinux.cfg/0A630053`));
    await p.cleanOrphans(report);
    assert.equal(countMountsAt(`${base}/node/${lost.name}`), 0);
    assert.equal(ourEtab().filter((l) => l.startsWith(`${base}/node/${lost.name}\t`)).length, 0);
    assert.equal(existsSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-53`), false);
    assert.equal(countMountsAt(`${base}/node/${keep.name}`), 1);
    assert.equal(ourEtab().filter((l) => l.startsWith(`${base}/node/${keep.name}\t`)).length, 1);
    assert.ok(existsSync(`${base}/overlay/${lost.name}/upper`), 'cleaning never deletes an upper layer');
    await p.close();
  });
});
