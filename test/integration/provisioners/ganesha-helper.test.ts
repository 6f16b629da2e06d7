// The Ganesha test helper itself: starts in a namespace, sees an overlay mounted after start
// (shared subtree), serves an %include'd EXPORT after SIGHUP, and stops cleanly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, requireRoot, sh, tempDir, waitFor } from '../../helpers/lab.ts';
import { makeSharedSubtree, startGanesha } from '../../helpers/ganesha.ts';

after(cleanupAll);

test('ganesha helper: overlay mounted after start is exported and readable from the client namespace', async () => {
  requireRoot();
  const pair = makeNetnsPair('pxd');
  sh('ip', ['-n', pair.cli, 'addr', 'add', '10.99.0.50/24', 'dev', pair.cliIf]);
  const dir = tempDir('pxd-gh-');
  const lower = path.join(dir, 'lower');
  const nodes = path.join(dir, 'nodes');
  mkdirSync(lower);
  writeFileSync(path.join(lower, 'hello.txt'), 'hello from lower\n');
  mkdirSync(nodes);
  makeSharedSubtree(nodes);
  const exportsFile = path.join(dir, 'exports.conf');
  const g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile });
  assert.ok(existsSync(g.pidFile), 'pid file on a host path');
  assert.equal(g.pid, g.daemon.pid);
  // mount the overlay only now, after Ganesha started
  const n = path.join(nodes, 'n1');
  for (const d of ['upper', 'work', 'merged']) mkdirSync(path.join(n, d), { recursive: true });
  sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${n}/upper,workdir=${n}/work,index=on,nfs_export=on`, `${n}/merged`]);
  writeFileSync(exportsFile, `EXPORT { Export_Id = 101; Path = "${n}/merged"; Pseudo = "/n1"; Access_Type = None; Squash = No_Root_Squash; Protocols = 3, 4; Transports = TCP; SecType = sys; CLIENT { Clients = 10.99.0.50; Access_Type = RW; } FSAL { Name = VFS; } }\n`);
  g.reload();
  await waitFor('export listed', () => g.showmount(pair.cli).includes(`${n}/merged`), 5000);
  const out = sh('ip', ['netns', 'exec', pair.cli, 'nfs-cat', `nfs://${pair.srvIp}${n}/merged/hello.txt`]);
  assert.equal(out, 'hello from lower\n');
  // same export, client source address switched to 10.99.0.51: refused
  sh('ip', ['-n', pair.cli, 'addr', 'add', '10.99.0.51/24', 'dev', pair.cliIf]);
  sh('ip', ['-n', pair.cli, 'route', 'replace', `${pair.srvIp}/32`, 'dev', pair.cliIf, 'src', '10.99.0.51']);
  const denied = spawnSync('ip', ['netns', 'exec', pair.cli, 'nfs-cat', `nfs://${pair.srvIp}${n}/merged/hello.txt`], { encoding: 'utf8' });
  assert.notEqual(denied.status, 0, 'another IP must not read the export');
  assert.equal(denied.stdout, '');
  assert.match(denied.stderr, /ACCES|denied/i);
  console.log(`refused as expected: ${denied.stderr.trim()}`);
  sh('ip', ['-n', pair.cli, 'route', 'replace', `${pair.srvIp}/32`, 'dev', pair.cliIf, 'src', '10.99.0.50']);
  assert.equal(sh('ip', ['netns', 'exec', pair.cli, 'nfs-cat', `nfs://${pair.srvIp}${n}/merged/hello.txt`]), 'hello from lower\n');
  await g.stop();
  // unmount now succeeds (nobody holds it any more)
  sh('umount', [`${n}/merged`]);
});
