// A damaged state.log (node records journalled since state.json was last written), end to end with a
// real daemon: a SIGKILL leaves the ready records only in state.log; then
//  - a torn last line and NUL bytes after it (a crash during an append, a block allocated but never
//    written) must not stop start-up: they are warned about and cut, every node comes back ready
//    with its fsid, and state.log is folded into state.json;
//  - a garbage line before the last must stop start-up with one line naming state.log:line:col, what
//    was expected and found, and the fix, leaving the file as it is;
//  - a directory, a FIFO or a symlink in place of state.log must stop start-up naming it, without
//    hanging on the FIFO or writing through the symlink.
// Real overlay mounts and real exportfs; pxebootd runs as a child process, killed by its PID only.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, waitFor } from '../../helpers/lab.ts';
import { client, leaseLine, makeLab, rewriteInPlace, writeConfig } from '../../../bench/lib/lab.ts';
import { pxebootdArgv, startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { toStatusNodes } from './invariants.ts';
import { readStateOnDisk } from '../../helpers/state-on-disk.ts';
import { parseRecordLog } from '../../../src/state/record-log.ts';

/** `pxebootd run -c cfg` expected to fail at start-up: exit code, stderr; killed after 30 s. */
function runExpectingFailure(cfg: string): Promise<{ code: number | null; stderr: string; stdout: string; killed: boolean }> {
  const argv = pxebootdArgv();
  const child = spawn(argv[0]!, [...argv.slice(1), 'run', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PXEBOOTD_LOG_LEVEL: 'warn', PXEBOOTD_DEBUG: '' } });
  let stderr = '';
  let stdout = '';
  let killed = false;
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  const kill = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, 30_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, stderr, stdout, killed });
    }),
  );
}

describe('a damaged state.log', () => {
  after(cleanupAll);

  test('torn last line and NULs are cut and the nodes come back; a garbage line, a directory, a FIFO or a symlink stop start-up naming the file', { timeout: 240_000 }, async (t) => {
    requireRoot();
    requireTool('exportfs');
    const lab = makeLab('reclogbad');
    const cfg = writeConfig(lab, { retryBaseMs: 50, retryMaxMs: 500 });
    const clients = Array.from({ length: 3 }, (_, i) => client(99, i + 20));
    rewriteInPlace(lab.leases, clients.map((c) => leaseLine(c, Math.floor(Date.now() / 1000) + 3600)).join(''));
    const logFile = path.join(lab.stateDir, 'state.log');
    let d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-0.log'));
    const ready = await waitFor('3 ready, and ready in state.log', () => {
      const n = toStatusNodes(statusJson(cfg)).filter((x) => x.ip.startsWith('10.99.'));
      if (n.length !== 3 || n.some((x) => x.state !== 'ready')) return undefined;
      const onDisk = readStateOnDisk(lab.stateDir).nodes;
      return n.every((x) => onDisk.get(x.name)?.state === 'ready') ? n : undefined;
    }, 60_000, 200);
    process.kill(-d.pid, 'SIGKILL');
    await d.exited;
    assert.ok(statSync(logFile).size > 0, 'the records are in state.log');

    // 1. a torn last line and NUL bytes after it
    const whole = readFileSync(logFile);
    appendFileSync(logFile, '{"put":{"name":"0A6300FF","ip":"10.99.0.2');
    appendFileSync(logFile, Buffer.alloc(3000));
    const log1 = path.join(lab.dir, 'pxebootd-1.log');
    d = await startPxebootd(cfg, lab.socket, log1, [], [], 'info');
    await waitFor('3 ready again with their fsids', () => {
      const n = toStatusNodes(statusJson(cfg)).filter((x) => x.ip.startsWith('10.99.'));
      return n.length === 3 && ready.every((r) => n.some((x) => x.name === r.name && x.fsid === r.fsid && x.state === 'ready'));
    }, 60_000, 200);
    assert.match(readFileSync(log1, 'utf8'), /state\.log: ignored an incomplete last line/);
    const after1 = readFileSync(logFile);
    assert.equal(parseRecordLog(logFile, after1).torn, undefined, 'the torn line and the NULs were cut (the start-up fold emptied state.log; what follows is new)');
    assert.equal(after1.includes(0), false, 'no NUL byte left');
    const snap = JSON.parse(readFileSync(path.join(lab.stateDir, 'state.json'), 'utf8')) as { nodes: Array<{ name: string; state: string }> };
    for (const r of ready) assert.equal(snap.nodes.find((x) => x.name === r.name)?.state, 'ready', `${r.name} in state.json`);
    await d.stop();
    t.diagnostic(`torn line + 3000 NULs after ${whole.length} bytes of whole lines: started, cut, folded`);

    // 2. a garbage line before the last, 3. a directory, a FIFO or a symlink in its place
    const line = JSON.stringify(readStateOnDisk(lab.stateDir).nodes.get(ready[0]!.name));
    const elsewhere = path.join(lab.dir, 'elsewhere');
    const cases: Array<{ what: string; make: () => void; expect: RegExp; keep?: string }> = [
      { what: 'a garbage line before the last', make: () => writeFileSync(logFile, `{"put":${line}}\ngarbage here\n{"put":${line}}\n`), expect: /state\.log:2:1: expected one JSON object .*found "garbage here"/, keep: `{"put":${line}}\ngarbage here\n{"put":${line}}\n` },
      { what: 'NUL bytes before the last line', make: () => writeFileSync(logFile, `{"put":${line}}\n\0\0\0\0\n{"put":${line}}\n`), expect: /state\.log:2:1: expected one JSON object .*found "\\x00/ },
      { what: 'a directory', make: () => mkdirSync(logFile), expect: /state\.log: expected a regular file, found a directory/ },
      { what: 'a FIFO', make: () => execFileSync('mkfifo', [logFile]), expect: /state\.log: expected a regular file, found a FIFO/ },
      { what: 'a symlink', make: () => (writeFileSync(elsewhere, ''), symlinkSync(elsewhere, logFile)), expect: /state\.log: expected a regular file, found a symbolic link/ },
    ];
    for (const c of cases) {
      rmSync(logFile, { recursive: true, force: true });
      c.make();
      const r = await runExpectingFailure(cfg);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      assert.equal(r.killed, false, `${c.what}: start-up hung`);
      assert.notEqual(r.code, 0, `${c.what}: start-up must fail; stderr: ${r.stderr}`);
      assert.equal(lines.length, 1, `${c.what}: expected one line on stderr, got:\n${r.stderr}`);
      t.diagnostic(`${c.what}: ${lines[0]}`);
      assert.match(lines[0]!, c.expect, c.what);
      assert.match(lines[0]!, /move it away/, `${c.what}: the error must say how to fix it`);
      assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at /, `${c.what}: no stack trace`);
      if (c.keep !== undefined) assert.equal(readFileSync(logFile, 'utf8'), c.keep, `${c.what}: the file must be left as it is`);
      if (existsSync(elsewhere)) assert.equal(readFileSync(elsewhere, 'utf8'), '', `${c.what}: nothing written through the symlink`);
    }
    // moved away (the fix the error names): start-up succeeds from state.json
    rmSync(logFile, { recursive: true, force: true });
    d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd-2.log'));
    await waitFor('3 ready after state.log was moved away', () => {
      const n = toStatusNodes(statusJson(cfg)).filter((x) => x.ip.startsWith('10.99.'));
      return n.length === 3 && ready.every((r) => n.some((x) => x.name === r.name && x.fsid === r.fsid && x.state === 'ready'));
    }, 60_000, 200);
    await d.stop();
  });
});
