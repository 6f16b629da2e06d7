// The ganesha backend against a real NFS-Ganesha (test/helpers/ganesha.ts) in a namespace pair:
// the export is listed and readable/writable from the node's IP, refused from another IP, and
// release unexports (SIGHUP) before it unmounts (an exported overlay is busy under Ganesha).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, onCleanup, requireRoot, requireTool, sh, tempDir, waitFor, type NetnsPair } from '../../helpers/lab.ts';
import { makeSharedSubtree, startGanesha, type GaneshaHandle } from '../../helpers/ganesha.ts';
import { createRunner } from '../../../src/runner.ts';
import { silentLogger } from '../../../src/log.ts';
import type { Config, ResolvedRule } from '../../../src/types.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { parseMountinfo } from '../../../provisioners/mountinfo.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from '../../unit/provisioners/fixtures.ts';

after(cleanupAll);

let pair: NetnsPair;
let g: GaneshaHandle;
let base: string;
let config: Config;
let rule: ResolvedRule;

/** Run a libnfs tool in the client namespace from `src` (the route's source address). */
function nfs(tool: string, args: string[], src: string) {
  sh('ip', ['-n', pair.cli, 'route', 'replace', `${pair.srvIp}/32`, 'dev', pair.cliIf, 'src', src]);
  return spawnSync('ip', ['netns', 'exec', pair.cli, tool, ...args], { encoding: 'utf8', timeout: 20_000 });
}

/** Ganesha lists only the exports the asking client may mount, so the source address matters. */
function showmountFrom(src: string): string[] {
  sh('ip', ['-n', pair.cli, 'route', 'replace', `${pair.srvIp}/32`, 'dev', pair.cliIf, 'src', src]);
  return g.showmount(pair.cli);
}

before(async () => {
  requireRoot();
  for (const t of ['nfs-cat', 'nfs-cp', 'showmount', 'ganesha.nfsd']) requireTool(t);
  pair = makeNetnsPair('pxd');
  sh('ip', ['-n', pair.cli, 'addr', 'add', '10.99.0.50/24', 'dev', pair.cliIf]);
  sh('ip', ['-n', pair.cli, 'addr', 'add', '10.99.0.51/24', 'dev', pair.cliIf]);
  base = tempDir('pxd-gan-');
  for (const d of ['root/etc', 'node', 'overlay', 'tftp', 'templates']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'root/etc/issue'), 'base image\n');
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  // the mount-propagation pitfall: make node_dir a shared subtree BEFORE Ganesha starts
  makeSharedSubtree(path.join(base, 'node'));
  const exportsFile = path.join(base, 'pxebootd-ganesha.conf');
  g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile });
  config = makeConfig(base, { exports: { backend: 'ganesha', file: exportsFile, pid_file: g.pidFile, pseudo_root: '/nodes' } });
  rule = makeRule(base);
  onCleanup('umount overlays', () => {
    for (const mp of parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [`${base}/node`]).keys()) {
      if (mp !== `${base}/node`) sh('umount', [mp], { allowFail: true });
    }
  });
});

describe('ganesha exports, real NFS-Ganesha', () => {
  const a = makeNode(48); // 10.99.0.50, fsid 10048
  const b = makeNode(49); // 10.99.0.51, fsid 10049

  test('provision: the export is listed, readable via the pseudo path from the node IP, and writes land in upper', async () => {
    const runner = createRunner(silentLogger());
    const p = createProvisioner({ config, runner, log: silentLogger() });
    await p.provision(a, rule);
    await waitFor('showmount lists the export', () => showmountFrom(a.ip).includes(`${base}/node/${a.name}`), 5000);
    const cat = nfs('nfs-cat', [`nfs://${pair.srvIp}/nodes/${a.name}/etc/issue?version=4`], a.ip);
    assert.equal(cat.status, 0, cat.stderr);
    assert.equal(cat.stdout, 'base image\n');
    const local = path.join(base, 'from-client.txt');
    writeFileSync(local, 'written over NFS\n');
    const cp = nfs('nfs-cp', [local, `nfs://${pair.srvIp}${base}/node/${a.name}/written.txt`], a.ip);
    assert.equal(cp.status, 0, cp.stderr);
    assert.equal(readFileSync(`${base}/overlay/${a.name}/upper/written.txt`, 'utf8'), 'written over NFS\n');
    const cfg = readFileSync(`${base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`, 'utf8');
    assert.match(cfg, new RegExp(`nfsroot=10\\.99\\.0\\.1:/nodes/${a.name},vers=3`), '{{nfs_path}} is the Pseudo path');
    assert.match(readFileSync(g.logFile, 'utf8'), /Received SIGHUP/);
    await p.close();
  });

  test('another client IP is refused', () => {
    const r = nfs('nfs-cat', [`nfs://${pair.srvIp}${base}/node/${a.name}/etc/issue`], b.ip);
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /ACCES|denied/i);
  });

  test('provisioning again sends no SIGHUP and leaves the file alone', async () => {
    const before = readFileSync(g.logFile, 'utf8').match(/Received SIGHUP/g)?.length ?? 0;
    const p = createProvisioner({ config, runner: createRunner(silentLogger()), log: silentLogger() });
    await p.provision(a, rule);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(readFileSync(g.logFile, 'utf8').match(/Received SIGHUP/g)?.length ?? 0, before);
    await p.close();
  });

  test('release remove of an exported node: unexport (SIGHUP), then umount succeeds, layer deleted', async () => {
    const p = createProvisioner({ config, runner: createRunner(silentLogger()), log: silentLogger() });
    await p.provision(b, rule);
    await waitFor('b listed', () => showmountFrom(b.ip).includes(`${base}/node/${b.name}`), 5000);
    assert.equal(nfs('nfs-cat', [`nfs://${pair.srvIp}/nodes/${b.name}/etc/issue?version=4`], b.ip).stdout, 'base image\n');
    await p.release(b, rule, 'remove');
    assert.equal(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [`${base}/node`]).has(`${base}/node/${b.name}`), false);
    assert.equal(existsSync(`${base}/overlay/${b.name}`), false);
    await waitFor('b no longer listed', () => !showmountFrom(b.ip).includes(`${base}/node/${b.name}`), 5000);
    assert.ok(showmountFrom(a.ip).includes(`${base}/node/${a.name}`), 'the other node stays exported');
    assert.ok(!readFileSync(config.exports.file, 'utf8').includes(b.name));
    await p.close();
  });
});
