// `pxebootd release --all` for decommissioning a boot server: real daemon, real overlay mounts and
// exportfs. Without --yes nothing happens; with it every node's boot files and export go, and with
// --policy remove its mount and layer too. Without a daemon the same runs in-process.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, startDaemon, waitFor } from '../../helpers/lab.ts';
import { CLI, cli, leaseLine, makeLab } from './cli-lab.ts';

after(cleanupAll);

const NODES = [
  { mac: '52:54:00:aa:00:a1', ip: '10.99.0.161', name: '0A6300A1' },
  { mac: '52:54:00:aa:00:a2', ip: '10.99.0.162', name: '0A6300A2' },
  { mac: '52:54:00:aa:00:a3', ip: '10.99.0.163', name: '0A6300A3' },
];
const mounted = (p: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);
const etabHas = (p: string) => existsSync('/var/lib/nfs/etab') && readFileSync('/var/lib/nfs/etab', 'utf8').split('\n').some((l) => l.startsWith(`${p}\t`));

describe('release --all', () => {
  test('with a daemon: --yes required; unexport takes boot files and exports, keeps layers; remove takes the rest', { timeout: 90_000 }, async (t) => {
    const lab = makeLab();
    writeFileSync(lab.leases, NODES.map((n) => leaseLine(n.mac, n.ip)).join(''));
    const logFile = path.join(lab.dir, 'daemon.log');
    const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
    t.after(() => d.stop());
    const boot = (n: (typeof NODES)[number]) => path.join(lab.tftp, 'pxelinux.cfg', `01-${n.mac.replaceAll(':', '-')}`);
    await waitFor('three nodes ready', () => NODES.every((n) => existsSync(boot(n))), 30_000);
    const nodeDir = (n: (typeof NODES)[number]) => path.join(lab.dir, 'run/node', n.name);
    const upper = (n: (typeof NODES)[number]) => path.join(lab.dir, 'run/overlay', n.name, 'upper');
    for (const n of NODES) writeFileSync(path.join(nodeDir(n), `own-${n.name}`), 'node data\n');

    const no = await cli(['release', '--all', '-c', lab.config]);
    assert.equal(no.code, 2);
    assert.match(no.stderr, /add --yes to confirm/);
    assert.ok(NODES.every((n) => existsSync(boot(n)) && etabHas(nodeDir(n))), 'nothing released without --yes');

    const r = await cli(['release', '--all', '--yes', '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^released 3 node\(s\)$/m);
    for (const n of NODES) {
      assert.equal(existsSync(boot(n)), false, `boot file of ${n.name}`);
      assert.equal(etabHas(nodeDir(n)), false, `export of ${n.name}`);
      assert.ok(mounted(nodeDir(n)), `unexport keeps the mount of ${n.name}`);
      assert.ok(existsSync(path.join(upper(n), `own-${n.name}`)), `unexport keeps the data of ${n.name}`);
    }
    assert.doesNotMatch(readFileSync(lab.exportsFile, 'utf8'), /10\.99\.0\.16[123]\(/);

    const rm = await cli(['release', '--all', '--yes', '--policy', 'remove', '-c', lab.config]);
    assert.equal(rm.code, 0, rm.stderr + rm.stdout);
    assert.match(rm.stdout, /^released 3 node\(s\) \(policy remove\)$/m);
    for (const n of NODES) {
      assert.equal(mounted(nodeDir(n)), false, `remove unmounts ${n.name}`);
      assert.equal(existsSync(upper(n)), false, `remove deletes the layer of ${n.name}`);
    }
  });

  test('without a daemon: runs in-process on the state file', { timeout: 60_000 }, async () => {
    const lab = makeLab();
    const p = await cli(['provision', NODES[0]!.ip, '--mac', NODES[0]!.mac, '-c', lab.config]);
    assert.equal(p.code, 0, p.stderr);
    const r = await cli(['release', '--all', '--yes', '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^released 1 node\(s\)$/m);
    const s = JSON.parse(readFileSync(lab.stateFile, 'utf8')) as { nodes: Array<{ state: string }> };
    assert.equal(s.nodes[0]!.state, 'released');
  });

  test('usage mistakes: a node together with --all, --yes without --all', async () => {
    const lab = makeLab();
    const a = await cli(['release', '10.99.0.161', '--all', '--yes', '-c', lab.config]);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /--all takes no node/);
    const b = await cli(['release', '10.99.0.161', '--yes', '-c', lab.config]);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--yes goes with --all/);
  });
});
