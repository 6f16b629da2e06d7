// Losing or breaking pxebootd's state files. With state.json and fsids.json gone (SIGKILL, then the
// files deleted) and the leases seen in another order, every node must come back with the fsid its
// clients' file handles embed (rebuilt from pxebootd's own exports file), with no error and no
// doubled export line. A stale state.json without fsids.json must not reassign fsids either. A
// contradictory or unreadable state file must stop start-up with one line that names the file.
// Real overlay mounts and real exportfs; pxebootd runs as a child process, killed by its PID only.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, makeNetnsPair, requireRoot, requireTool, sh, waitFor } from '../../helpers/lab.ts';
import { makeSharedSubtree, startGanesha } from '../../helpers/ganesha.ts';
import { bootFile, client, leaseLine, makeLab, rewriteInPlace, writeConfig, type BenchLab, type Lease } from '../../../bench/lib/lab.ts';
import { pxebootdArgv, startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { checkConsistent, readExports, readMounts, toStatusNodes, xorshift, type StatusNode } from './invariants.ts';

const NODES = 200;
const SEED = Number(process.env.PXG_SEED ?? 20261123);

/** The lab's leases, in the given order. */
const table = (subset: Lease[], expiry: number) => subset.map((c) => leaseLine(c, expiry)).join('');

/** Fisher-Yates with a seeded PRNG, so that a failure can be replayed. */
function shuffled<T>(xs: T[], seed: number): T[] {
  const rnd = xorshift(seed);
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Wait until `n` lab nodes are ready and mounts, exports, etab and boot files agree (with `fsids`). */
async function settled(lab: BenchLab, cfg: string, n: number, what: string, fsids?: Map<string, number>): Promise<StatusNode[]> {
  let nodes: StatusNode[] = [];
  await waitFor(
    what,
    () => {
      nodes = toStatusNodes(statusJson(cfg)).filter((x) => x.ip.startsWith('10.99.'));
      if (nodes.length !== n) throw new Error(`status lists ${nodes.length} nodes, expected ${n}`);
      const problems = checkConsistent(lab, nodes, { fsids, bootFiles: (x) => [bootFile(lab, x.mac ?? '')] });
      if (problems.length) throw new Error(`${problems.length} problems, first: ${problems.slice(0, 5).join('; ')}`);
      return true;
    },
    90_000,
    300,
  );
  return nodes;
}

/** pino JSON lines of a log file at level error (50) or above. */
function errorLines(logFile: string): string[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{') && Number((JSON.parse(l) as { level?: number }).level) >= 50);
}

/** `pxebootd run -c cfg` expected to fail at start-up: exit code, stderr; killed after 30 s. */
function runExpectingFailure(cfg: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const argv = pxebootdArgv();
  const child = spawn(argv[0]!, [...argv.slice(1), 'run', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PXEBOOTD_LOG_LEVEL: 'warn', PXEBOOTD_DEBUG: '' } });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, stderr, stdout });
    }),
  );
}

describe('state loss', () => {
  after(cleanupAll);

  test(`state.json and fsids.json deleted after SIGKILL, leases reordered: all ${NODES} nodes ready with their old fsids`, { timeout: 240_000 }, async () => {
    requireRoot();
    requireTool('exportfs');
    const lab = makeLab('stateloss');
    const cfg = writeConfig(lab, { retryBaseMs: 50, retryMaxMs: 500 });
    const clients = Array.from({ length: NODES }, (_, i) => client(99, i + 10));
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    rewriteInPlace(lab.leases, table(clients, expiry));
    let d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-0.log'));
    const before = await settled(lab, cfg, NODES, `first start: ${NODES} nodes ready`);
    const fsids = new Map(before.map((n) => [n.name, n.fsid]));
    assert.equal(new Set(fsids.values()).size, NODES);

    process.kill(-d.pid, 'SIGKILL');
    await d.exited;
    rmSync(path.join(lab.stateDir, 'state.json'), { force: true }); // written at folds: a fast SIGKILL may come before one
    for (const f of ['state.log', 'state.log.old']) rmSync(path.join(lab.stateDir, f), { force: true });
    rmSync(path.join(lab.stateDir, 'fsids.json'));
    rmSync(path.join(lab.stateDir, 'fsids.log'), { force: true });
    // another order: with fsids handed out in lease order, nearly every node would get another's fsid
    rewriteInPlace(lab.leases, table(shuffled(clients, SEED), expiry));

    const log1 = path.join(lab.dir, 'pxebootd-1.log');
    d = await startPxebootd(cfg, lab.socket, log1, [], [], 'info');
    await settled(lab, cfg, NODES, `after state loss: ${NODES} nodes ready with their old fsids`, fsids);
    const text = readFileSync(log1, 'utf8');
    assert.match(text, new RegExp(`recovered ${NODES} fsids from ${lab.exportsFile.replace(/[.]/g, '\\.')}`));
    assert.deepEqual(errorLines(log1), [], 'no error was logged');

    // a node never seen before gets an fsid that no recovered node has
    const extra = client(99, NODES + 10);
    rewriteInPlace(lab.leases, table([...clients, extra], expiry));
    const after = await settled(lab, cfg, NODES + 1, 'a new node after the recovery', fsids);
    const fresh = after.find((n) => n.ip === extra.ip)!;
    assert.ok(![...fsids.values()].includes(fresh.fsid), `new node got fsid ${fresh.fsid}, which a recovered node holds`);
    await d.stop();
  });

  test('Ganesha backend: both state files deleted after SIGKILL, leases reordered: every Export_Id comes back', { timeout: 180_000 }, async () => {
    requireRoot();
    requireTool('ganesha.nfsd');
    const lab = makeLab('stateloss-g');
    const pair = makeNetnsPair('pxsl');
    makeSharedSubtree(lab.nodeDir);
    const exportsFile = path.join(lab.dir, 'pxebootd-ganesha.conf');
    writeFileSync(exportsFile, '');
    const g = await startGanesha({ netns: pair.srv, bindIp: pair.srvIp, exportsFile });
    const cfg = writeConfig(lab, { retryBaseMs: 50, retryMaxMs: 500, backend: { kind: 'ganesha', file: exportsFile, pidFile: g.pidFile, pseudoRoot: '/nodes' } });
    const clients = Array.from({ length: 40 }, (_, i) => client(99, i + 10));
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    /** every lab node ready with the fsid it had (when given), and exactly one EXPORT block each with that Export_Id */
    const ready = (what: string, fsids?: Map<string, number>) => {
      let nodes: StatusNode[] = [];
      return waitFor(
        what,
        () => {
          nodes = toStatusNodes(statusJson(cfg)).filter((x) => x.ip.startsWith('10.99.'));
          const problems: string[] = [];
          if (nodes.length !== clients.length) problems.push(`status lists ${nodes.length} nodes`);
          for (const n of nodes) {
            if (n.state !== 'ready') problems.push(`${n.name} is ${n.state}: ${n.lastError ?? ''}`);
            if (fsids && fsids.get(n.name) !== n.fsid) problems.push(`${n.name}: fsid ${fsids.get(n.name)} became ${n.fsid}`);
            const blocks = readFileSync(exportsFile, 'utf8').split('\n').filter((l) => l.includes(`Path = "${path.join(lab.nodeDir, n.name)}"`));
            if (blocks.length !== 1 || !blocks[0]!.includes(`Export_Id = ${n.fsid};`)) problems.push(`${n.name}: blocks ${JSON.stringify(blocks)}`);
          }
          if (readMounts(lab.nodeDir).filter((m) => m.fstype === 'overlay').length !== clients.length) problems.push('not every node is mounted once');
          if (problems.length) throw new Error(`${problems.length} problems, first: ${problems.slice(0, 4).join('; ')}`);
          return nodes;
        },
        90_000,
        300,
      );
    };
    rewriteInPlace(lab.leases, table(clients, expiry));
    let d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-0.log'));
    const fsids = new Map((await ready('first start')).map((n) => [n.name, n.fsid]));
    process.kill(-d.pid, 'SIGKILL');
    await d.exited;
    rmSync(path.join(lab.stateDir, 'state.json'), { force: true }); // written at folds: a fast SIGKILL may come before one
    for (const f of ['state.log', 'state.log.old']) rmSync(path.join(lab.stateDir, f), { force: true });
    rmSync(path.join(lab.stateDir, 'fsids.json'));
    rmSync(path.join(lab.stateDir, 'fsids.log'), { force: true });
    rewriteInPlace(lab.leases, table(shuffled(clients, SEED), expiry));
    const log1 = path.join(lab.dir, 'pxebootd-1.log');
    d = await startPxebootd(cfg, lab.socket, log1, [], [], 'info');
    await ready('after state loss (Ganesha)', fsids);
    assert.match(readFileSync(log1, 'utf8'), new RegExp(`recovered ${clients.length} fsids from ${exportsFile.replace(/[.]/g, '\\.')}`));
    assert.deepEqual(errorLines(log1), [], 'no error was logged');
    await d.stop();
  });

  test('fsids.json deleted and state.json older than the exports: nodes it does not know keep their fsids', { timeout: 180_000 }, async () => {
    requireRoot();
    requireTool('exportfs');
    const lab = makeLab('stalestate');
    const cfg = writeConfig(lab, { retryBaseMs: 50, retryMaxMs: 500 });
    const clients = Array.from({ length: 40 }, (_, i) => client(99, i + 10));
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    rewriteInPlace(lab.leases, table(clients, expiry));
    let d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-0.log'));
    const before = await settled(lab, cfg, clients.length, 'first start');
    const fsids = new Map(before.map((n) => [n.name, n.fsid]));
    await d.stop();

    // state.json as a crash leaves it when its lazy write lagged: the last 20 nodes (and their
    // fsids) are not in it yet, while fsids.json, written before each export, is lost
    const file = path.join(lab.stateDir, 'state.json');
    const st = JSON.parse(readFileSync(file, 'utf8')) as { nextFsid: number; fsids: Record<string, number>; nodes: Array<{ name: string; fsid: number }> };
    const late = before.slice().sort((a, b) => a.fsid - b.fsid).slice(20);
    for (const n of late) delete st.fsids[n.name];
    st.nodes = st.nodes.filter((r) => !late.some((n) => n.name === r.name));
    st.nextFsid = Math.min(...late.map((n) => n.fsid));
    writeFileSync(file, JSON.stringify(st) + '\n');
    rmSync(path.join(lab.stateDir, 'fsids.json'));
    rmSync(path.join(lab.stateDir, 'fsids.log'), { force: true });
    rewriteInPlace(lab.leases, table(shuffled(clients, SEED), expiry));

    const log1 = path.join(lab.dir, 'pxebootd-1.log');
    d = await startPxebootd(cfg, lab.socket, log1, [], [], 'info');
    await settled(lab, cfg, clients.length, 'after fsids.json loss', fsids);
    assert.match(readFileSync(log1, 'utf8'), new RegExp(`recovered ${late.length} fsids from `));
    assert.deepEqual(errorLines(log1), [], 'no error was logged');
    await d.stop();
  });

  test('an exports file that contradicts state: state wins, start-up neither crashes nor stalls', { timeout: 180_000 }, async () => {
    requireRoot();
    requireTool('exportfs');
    const lab = makeLab('exportsvsstate');
    const cfg = writeConfig(lab, { retryBaseMs: 50, retryMaxMs: 500 });
    const clients = Array.from({ length: 3 }, (_, i) => client(99, i + 10));
    rewriteInPlace(lab.leases, table(clients, Math.floor(Date.now() / 1000) + 3600));
    let d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-0.log'));
    const nodes = await settled(lab, cfg, clients.length, 'first start');
    const fsids = new Map(nodes.map((n) => [n.name, n.fsid]));
    await d.stop();
    const [a, b] = nodes;

    // 1. a node state does not know, mounted and exported with the fsid state gives to A
    const x = '0A6300FA';
    const mp = path.join(lab.nodeDir, x);
    for (const dir of [mp, path.join(lab.dir, 'x/upper'), path.join(lab.dir, 'x/work')]) mkdirSync(dir, { recursive: true });
    sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lab.lower},upperdir=${lab.dir}/x/upper,workdir=${lab.dir}/x/work,nfs_export=on,index=on`, mp]);
    appendFileSync(lab.exportsFile, `${mp} 10.99.0.250(rw,no_root_squash,no_subtree_check,sync,fsid=${a!.fsid})\n`);
    const log1 = path.join(lab.dir, 'pxebootd-1.log');
    d = await startPxebootd(cfg, lab.socket, log1, [], [], 'info');
    await waitFor('the unknown node unexported', () => !readExports(lab.exportsFile).lines.some((l) => l.path === mp), 60_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}; log tail:\n${readFileSync(log1, 'utf8').split('\n').slice(-15).join('\n')}`);
    });
    sh('umount', [mp]);
    await settled(lab, cfg, clients.length, 'state wins over an unknown export', fsids);
    assert.match(readFileSync(log1, 'utf8'), /unexported 1 node\(s\) that state does not know/);
    assert.deepEqual(errorLines(log1), [], 'no error was logged');
    await d.stop();

    // 2. a known node's line carries another node's fsid: one restore is refused, then retried
    const text = readFileSync(lab.exportsFile, 'utf8');
    writeFileSync(lab.exportsFile, text.replace(new RegExp(`(/${b!.name} \\S+fsid=)${b!.fsid}\\)`), `$1${a!.fsid})`));
    assert.notEqual(readFileSync(lab.exportsFile, 'utf8'), text, 'the test edited the exports file');
    const log2 = path.join(lab.dir, 'pxebootd-2.log');
    d = await startPxebootd(cfg, lab.socket, log2, [], [], 'info');
    await settled(lab, cfg, clients.length, 'state wins over a contradicting line', fsids);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(d.child.exitCode, null, `pxebootd must still run; log:\n${readFileSync(log2, 'utf8').slice(-2000)}`);
    await d.stop();
  });

  test('a contradictory or unreadable state file stops start-up with one line naming the file', { timeout: 180_000 }, async (t) => {
    requireRoot();
    requireTool('exportfs');
    const lab = makeLab('badstate');
    const cfg = writeConfig(lab, { retryBaseMs: 50, retryMaxMs: 500 });
    const clients = Array.from({ length: 3 }, (_, i) => client(99, i + 10));
    rewriteInPlace(lab.leases, table(clients, Math.floor(Date.now() / 1000) + 3600));
    const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-0.log'));
    const nodes = await settled(lab, cfg, clients.length, 'first start');
    await d.stop();
    const stateFile = path.join(lab.stateDir, 'state.json');
    const fsidFile = path.join(lab.stateDir, 'fsids.json');
    const fsidLogFile = path.join(lab.stateDir, 'fsids.log');
    const good = readFileSync(stateFile, 'utf8');
    const goodFsids = readFileSync(fsidFile, 'utf8');
    const [a, b] = nodes;

    const cases: Array<{ what: string; file: string; text: string; expect: RegExp }> = [
      {
        what: 'two nodes with one fsid',
        file: stateFile,
        text: good.replace(`"fsid":${b!.fsid}`, `"fsid":${a!.fsid}`),
        expect: new RegExp(`fsid ${a!.fsid} is used by nodes (${a!.name} and ${b!.name}|${b!.name} and ${a!.name})`),
      },
      { what: 'not JSON', file: stateFile, text: good.slice(0, Math.floor(good.length / 2)), expect: /not valid JSON/ },
      { what: 'a wrong type', file: stateFile, text: good.replace(`"fsid":${a!.fsid}`, `"fsid":"${a!.fsid}"`), expect: /fsid: expected an integer/ },
      {
        what: 'fsids.json gives a node another fsid',
        file: fsidFile,
        text: goodFsids.replace(`"${a!.name}":${a!.fsid}`, `"${a!.name}":${a!.fsid + 1000}`),
        expect: new RegExp(`node ${a!.name} has fsid ${a!.fsid + 1000} here but ${a!.fsid} in ${stateFile}`),
      },
      {
        what: 'fsids.log gives a node another fsid',
        file: fsidLogFile,
        text: `{"name":"${a!.name}","fsid":${a!.fsid + 1000}}\n`,
        expect: new RegExp(`node ${a!.name} has fsid ${a!.fsid + 1000} here but ${a!.fsid} in ${stateFile}`),
      },
      { what: 'fsids.log with a bad line before the last', file: fsidLogFile, text: `garbage\n{"name":"${a!.name}","fsid":${a!.fsid}}\n`, expect: /fsids\.log:1:1: expected one JSON object \({"name":"NODE","fsid":N}\), found "garbage"/ },
    ];
    for (const c of cases) {
      writeFileSync(stateFile, good);
      writeFileSync(fsidFile, goodFsids);
      writeFileSync(fsidLogFile, '');
      writeFileSync(c.file, c.text);
      const r = await runExpectingFailure(cfg);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      assert.notEqual(r.code, 0, `${c.what}: start-up must fail; stderr: ${r.stderr}`);
      assert.equal(lines.length, 1, `${c.what}: expected one line on stderr, got:\n${r.stderr}`);
      t.diagnostic(`${c.what}: ${lines[0]}`);
      assert.ok(lines[0]!.includes(c.file), `${c.what}: the error must name ${c.file}: ${lines[0]}`);
      assert.match(lines[0]!, c.expect, c.what);
      assert.match(lines[0]!, /remove|restore|fix/, `${c.what}: the error must say how to fix it`);
      assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at /, `${c.what}: no stack trace`);
      // nothing was touched: the broken file is still there for the admin to look at
      assert.equal(readFileSync(c.file, 'utf8'), c.text, `${c.what}: the file must be left as it is`);
    }
  });
});
