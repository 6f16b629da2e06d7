// The tables the daemon reads whole or in pieces (etab for the etab edit and its check, its own
// exports file, state.json) replaced by a FIFO, a directory, a symlink to /dev/zero, a file past the
// size limit, or one endless line. Read blindly, a FIFO blocks: readFileSync on the main thread
// stops the whole daemon, an async read holds a pool thread and every export flush behind it. Each
// reader must refuse at once, naming the path and what is there. Each read runs in a child
// (table-reader.ts) that is killed after a deadline, so the old code fails here instead of hanging.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAll, requireRoot, tempDir } from '../../helpers/lab.ts';

after(cleanupAll);

const READER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'table-reader.ts');
const DEADLINE_MS = 30_000;

/** Where each reader finds its table under its dir. */
const TABLE: Record<string, string> = { 'etab-edit': 'table', 'line-chunks': 'table', 'exports-file': 'table', 'pid-file': 'table', state: 'state/state.json' };

interface Outcome {
  ok?: unknown;
  error?: string;
  timedOut: boolean;
  stderr: string;
}

function read(kind: string, dir: string): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [READER, kind, dir], { timeout: DEADLINE_MS, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      const timedOut = !!(err as { killed?: boolean } | null)?.killed;
      const last = stdout.trim().split('\n').pop() ?? '';
      let out: { ok?: unknown; error?: string } = {};
      try {
        out = last ? (JSON.parse(last) as typeof out) : {};
      } catch {
        out = { error: `unparsed output: ${last}` };
      }
      resolve({ ...out, timedOut, stderr });
    });
  });
}

type Attack = [name: string, plant: (file: string) => void, expect: RegExp];
const ATTACKS: Attack[] = [
  ['a FIFO with no writer', (f) => execFileSync('mkfifo', [f]), /is a FIFO \(named pipe\), not a regular file/],
  ['a directory', (f) => mkdirSync(f), /is a directory, not a regular file/],
  ['a symlink to /dev/zero', (f) => symlinkSync('/dev/zero', f), /is a character device/],
  ['a sparse file of 300 MiB', (f) => (writeFileSync(f, ''), truncateSync(f, 300 << 20)), /is larger than (256 MiB|4 KiB)/],
];

for (const kind of Object.keys(TABLE)) {
  for (const [name, plant, expect] of ATTACKS) {
    // the line reader never reads a table whole, so its size limit is the line's (below)
    if (kind === 'line-chunks' && name.startsWith('a sparse file')) continue;
    test(`${kind}: ${name} in place of the table is refused at once, naming it`, { timeout: DEADLINE_MS + 30_000 }, async () => {
      requireRoot();
      const dir = tempDir(`pxg-table-${kind}-`);
      const file = path.join(dir, TABLE[kind]!);
      mkdirSync(path.dirname(file), { recursive: true });
      plant(file);
      const r = await read(kind, dir);
      assert.ok(!r.timedOut, `${kind} on ${name}: still reading after ${DEADLINE_MS} ms (blocked)`);
      assert.equal(r.ok, undefined, `${kind} on ${name} succeeded: ${JSON.stringify(r.ok)}`);
      assert.ok(r.error?.includes(file), `the error names ${file}: ${r.error} ${r.stderr}`);
      assert.match(r.error ?? '', expect);
    });
  }
}

test('line-chunks: a line of 300 MiB (a sparse file without a newline) is refused past 1 MiB', { timeout: DEADLINE_MS + 30_000 }, async () => {
  requireRoot();
  const dir = tempDir('pxg-table-line-');
  const file = path.join(dir, 'table');
  writeFileSync(file, 'first line\n');
  truncateSync(file, 300 << 20);
  const r = await read('line-chunks', dir);
  assert.ok(!r.timedOut, `still reading after ${DEADLINE_MS} ms`);
  assert.match(r.error ?? '', /has a line longer than 1 MiB/, `${r.error} ${r.stderr}`);
  assert.ok(r.error?.includes(file));
});

test('every reader still reads a regular table (the control case)', { timeout: DEADLINE_MS * 4 }, async () => {
  requireRoot();
  for (const kind of Object.keys(TABLE)) {
    const dir = tempDir(`pxg-table-ok-${kind}-`);
    const file = path.join(dir, TABLE[kind]!);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, kind === 'state' ? '{"version":1,"nextFsid":1000,"nodes":[]}\n' : kind === 'pid-file' ? `${process.pid}\n` : '');
    const r = await read(kind, dir);
    // the pid file is read, then refused for naming a process that is not ganesha.nfsd
    if (kind === 'pid-file') assert.match(r.error ?? '', /names PID \d+, which is "[^"]+", not ganesha\.nfsd/, JSON.stringify(r));
    else assert.ok(!r.timedOut && r.error === undefined && r.ok !== undefined, `${kind}: ${JSON.stringify(r)}`);
  }
});
