// A plain root_dir rebuilt the usual way (a new tree moved over the old one) while a persistent node
// runs, then a server reboot (daemon SIGKILLed, its mounts gone, daemon started again): overlayfs
// refuses the node's upper on the new tree (ESTALE, "failed to verify upper root origin"). The
// restore must carry the upper onto it, say so, and bring the node back ready with its files, the
// new tree's files and the same fsid.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, sh, startDaemon, waitFor } from '../../helpers/lab.ts';
import { CLI, cli, leaseLine, makeLab, type Lab } from '../cli/cli-lab.ts';

after(cleanupAll);
requireRoot();
requireTool('exportfs');
requireTool('mount');

const NODE = { ip: '10.99.0.10', mac: '52:54:00:aa:00:10', node: '0A63000A' };

async function node(lab: Lab): Promise<{ state: string; fsid: number; lastError?: string } | undefined> {
  const r = await cli(['status', '--json', '-c', lab.config]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { nodes: Array<{ name: string; state: string; fsid: number; lastError?: string }> }).nodes.find((n) => n.name === NODE.node);
}

const mounted = (mp: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === mp);

describe('root_dir rebuilt in place', () => {
  test('a restart after the lower tree was replaced carries the upper onto the new tree: the node comes back ready', async () => {
    const lab = makeLab();
    const logFile = path.join(lab.dir, 'daemon.log');
    const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const start = () => startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
    let d = start();
    await waitFor('daemon started', () => log().includes('pxebootd started'), 20_000);
    appendFileSync(lab.leases, leaseLine(NODE.mac, NODE.ip));
    await waitFor('ready', async () => (await node(lab))?.state === 'ready', 20_000);
    const fsid = (await node(lab))!.fsid;
    const mp = path.join(lab.dir, 'run/node', NODE.node);
    // the client changes a file of the image (a copy-up below /etc) and adds its own
    writeFileSync(path.join(mp, 'etc/hostname'), 'node\n');
    writeFileSync(path.join(mp, 'etc/mine'), 'mine\n');
    const line = readFileSync(lab.exportsFile, 'utf8');

    // the rebuild: a new tree, moved into place; the old one deleted
    const root = path.join(lab.dir, 'root');
    cpSync(root, `${root}.new`, { recursive: true });
    writeFileSync(path.join(`${root}.new`, 'etc/added'), 'rebuilt\n');
    renameSync(root, `${root}.old`);
    renameSync(`${root}.new`, root);
    rmSync(`${root}.old`, { recursive: true, force: true });

    // the reboot: the daemon dies, its mount goes (as at a power cycle), it starts again
    process.kill(-d.pid, 'SIGKILL');
    await d.exited;
    sh('umount', [mp]);
    assert.equal(mounted(mp), false);
    // what the kernel says about this upper on the new tree, without pxebootd
    const upper = path.join(lab.dir, 'run/overlay', NODE.node, 'upper');
    const work = path.join(lab.dir, 'run/overlay', NODE.node, 'work');
    const bare = sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${root},upperdir=${upper},workdir=${work},index=on,nfs_export=on`, mp], { allowFail: true });
    assert.equal(mounted(mp), false, `the plain mount must fail on the rebuilt tree (${bare})`);

    const mark = log().length;
    d = start();
    await waitFor('ready again', async () => {
      const n = await node(lab);
      return n?.state === 'ready' && log().slice(mark).includes('pxebootd started') ? n : undefined;
    }, 30_000);
    const after1 = log().slice(mark);
    assert.match(after1, /carried the upper onto it/, after1);
    assert.ok(mounted(mp));
    assert.equal(readFileSync(path.join(mp, 'etc/mine'), 'utf8'), 'mine\n', 'its own file');
    assert.equal(readFileSync(path.join(mp, 'etc/hostname'), 'utf8'), 'node\n', 'its change');
    assert.equal(readFileSync(path.join(mp, 'etc/added'), 'utf8'), 'rebuilt\n', 'the new tree shows through its copied-up /etc');
    assert.equal((await node(lab))!.fsid, fsid);
    assert.equal(readFileSync(lab.exportsFile, 'utf8'), line, 'the same export, fsid included');
    await d.stop();
  });
});
