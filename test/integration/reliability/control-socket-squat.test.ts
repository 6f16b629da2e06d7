// Attacks on the control socket by an unprivileged local user (uid 65534, through setpriv):
//   - squatting the socket path in a world-writable directory before pxebootd starts: the daemon
//     must refuse the directory (naming it and the fix), and root's `pxebootd hook` must send
//     nothing to the squatter;
//   - a squatter listening in a directory that passes the owner/mode checks (it was the user's
//     when the socket was made, root's afterwards): the CLI's SO_PEERCRED check must refuse it
//     before anything is sent;
//   - a client that can connect (an admin widened the socket to 0666 for monitoring) sending
//     `hook del` for a ready node: the daemon must refuse it by uid, and the node stays ready.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, startDaemon, tempDir, waitFor, type Daemon } from '../../helpers/lab.ts';
import { CLI, cli, makeLab, type Lab } from '../cli/cli-lab.ts';
import { asNobody } from '../../helpers/as-nobody.ts';

after(cleanupAll);
requireRoot();
requireTool('setpriv');

const NOBODY = 65534;

/** A process of uid 65534 that listens on `sock`, answers every line with ok, and logs what it got. */
function startSquatter(dir: string, sock: string): { d: Daemon; log: () => string } {
  const code = `
    const net = require('node:net');
    net.createServer((c) => c.on('data', (b) => { process.stdout.write('GOT ' + JSON.stringify(String(b)) + '\\n'); c.write('{"ok":true,"pid":' + process.pid + '}\\n'); }))
      .listen(${JSON.stringify(sock)}, () => process.stdout.write('listening uid ' + process.getuid() + '\\n'));`;
  const logFile = path.join(dir, `squatter-${path.basename(sock)}.log`);
  const d = startDaemon('squatter', asNobody([process.execPath, '-e', code]), { logFile });
  return { d, log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '') };
}

/** The lab's config with its socket moved to `sock`. */
function withSocket(lab: Lab, sock: string): string {
  const file = path.join(lab.dir, `pxebootd-${path.basename(path.dirname(sock))}.yaml`);
  writeFileSync(file, readFileSync(lab.config, 'utf8').replace('control_socket: run/control.sock', `control_socket: ${sock}`));
  return file;
}

describe('control socket: squatters and unprivileged clients', () => {
  test('a squatter in a world-writable directory: the daemon refuses the directory, root\'s hook sends nothing', async () => {
    const lab = makeLab();
    chmodSync(lab.dir, 0o755); // let uid 65534 reach the shared directory
    const shared = path.join(lab.dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const sock = path.join(shared, 'control.sock');
    const sq = startSquatter(lab.dir, sock);
    await waitFor('the squatter listening', () => sq.log().includes(`listening uid ${NOBODY}`), 20_000);

    const run = await cli(['run', '-c', withSocket(lab, sock)], { timeoutMs: 30_000 });
    assert.notEqual(run.code, 0, 'the daemon must not start');
    assert.match(run.stderr + run.stdout, new RegExp(`control socket directory ${shared} is writable by group or others \\(mode 1777\\).*chmod go-w`));
    assert.doesNotMatch(run.stderr + run.stdout, /pxebootd started/);

    const hook = await cli(['hook', 'add', '52:54:00:77:00:01', '10.99.0.77', '--socket', sock], { timeoutMs: 30_000 });
    assert.equal(hook.code, 0, 'hook never fails dnsmasq');
    assert.match(hook.stderr, /event not delivered: control socket directory .* is writable by group or others/);
    assert.doesNotMatch(sq.log(), /GOT/, 'the squatter received nothing');

    // the same directory with nobody in it is refused too, and one owned by another user
    await sq.d.stop();
    const empty = await cli(['run', '-c', withSocket(lab, path.join(shared, 'other.sock'))], { timeoutMs: 30_000 });
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /is writable by group or others/);
    const theirs = path.join(lab.dir, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, NOBODY, NOBODY);
    const owned = await cli(['run', '-c', withSocket(lab, path.join(theirs, 'control.sock'))], { timeoutMs: 30_000 });
    assert.notEqual(owned.code, 0);
    assert.match(owned.stderr, new RegExp(`control socket directory ${theirs} is owned by uid ${NOBODY}, not root`));
  });

  test('a squatter served by uid 65534 in a directory that looks right: the CLI checks SO_PEERCRED and sends nothing', async () => {
    const lab = makeLab();
    chmodSync(lab.dir, 0o755);
    const dir = path.join(lab.dir, 'sq');
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, NOBODY, NOBODY);
    const sock = path.join(dir, 'control.sock');
    const sq = startSquatter(lab.dir, sock);
    await waitFor('the squatter listening', () => sq.log().includes(`listening uid ${NOBODY}`), 20_000);
    // now directory and socket file are root's: only the process behind the socket is not
    chownSync(dir, 0, 0);
    lchownSync(sock, 0, 0);

    const hook = await cli(['hook', 'add', '52:54:00:77:00:02', '10.99.0.78', '--socket', sock], { timeoutMs: 30_000 });
    assert.equal(hook.code, 0);
    assert.match(hook.stderr, new RegExp(`event not delivered: control socket ${sock} is served by uid ${NOBODY} \\(pid \\d+\\), not root`));
    const cfg = withSocket(lab, sock);
    const status = await cli(['status', '--json', '-c', cfg], { timeoutMs: 30_000 });
    assert.equal(status.code, 1, status.stdout);
    assert.match(status.stderr, /is served by uid 65534/);
    const prov = await cli(['provision', '10.99.0.79', '-c', cfg], { timeoutMs: 30_000 });
    assert.equal(prov.code, 1, prov.stdout);
    assert.match(prov.stderr, /is served by uid 65534/);
    assert.doesNotMatch(sq.log(), /GOT/, 'the squatter received nothing');
  });

  test('an unprivileged client that can connect: hook del and provision are refused by uid, status answers', async () => {
    requireTool('exportfs');
    const lab = makeLab();
    chmodSync(lab.dir, 0o755);
    const logFile = path.join(lab.dir, 'daemon.log');
    const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config], { logFile });
    const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    await waitFor('daemon started', () => log().includes('pxebootd started'), 30_000);
    const prov = await cli(['provision', '10.99.0.60', '--mac', '52:54:00:77:00:60', '-c', lab.config], { timeoutMs: 120_000 });
    assert.equal(prov.code, 0, prov.stderr + prov.stdout);
    chmodSync(lab.socket, 0o666); // an admin opened the socket for monitoring
    const del = await cliAsNobody(['hook', 'del', '52:54:00:77:00:60', '10.99.0.60', '--socket', lab.socket]);
    assert.equal(del.code, 0, 'hook never fails dnsmasq');
    assert.match(del.stderr, new RegExp(`daemon refused the event: hook: refused: the client runs as uid ${NOBODY} \\(pid \\d+\\); only root`));
    const prov2 = await cliAsNobody(['provision', '10.99.0.61', '-c', lab.config]);
    assert.equal(prov2.code, 1, prov2.stdout);
    assert.match(prov2.stderr, /provision: refused: the client runs as uid 65534/);
    const st = await cliAsNobody(['status', '--json', '-c', lab.config]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /10\.99\.0\.60/, 'status stays readable to whoever can connect');
    assert.match(log(), /control socket: hook: refused: the client runs as uid 65534/);

    const node = async () => {
      const r = await cli(['status', '10.99.0.60', '--json', '-c', lab.config]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.match(await node(), /"state": ?"ready"/, 'the refused del released nothing');
    assert.doesNotMatch(await node(), /10\.99\.0\.61/);
    // the same del from root is taken: the uid is what was refused
    const rootDel = await cli(['hook', 'del', '52:54:00:77:00:60', '10.99.0.60', '--socket', lab.socket]);
    assert.equal(rootDel.stderr, '');
    await waitFor('root\'s del released the node', async () => /"state": ?"released"/.test(await node()), 60_000);
    await d.stop();
  });
});

/** Run the CLI as uid 65534. */
async function cliAsNobody(args: string[]) {
  const { execFile } = await import('node:child_process');
  const argv = asNobody([process.execPath, CLI, ...args]);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}
