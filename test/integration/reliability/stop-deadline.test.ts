// Attacks on stopping: a real `pxebootd run` with a journal source (a real journald, so a real
// journalctl child) gets SIGTERM while libuv's thread pool has workers blocked in reads of FIFOs
// that nobody writes (what a FIFO at a source path, or a hung NFS file, does to a worker):
//   - one worker blocked: the stop itself finishes, but process.exit() would join that worker
//     forever; the daemon must still leave, with status 0;
//   - every worker blocked: the stop cannot finish (state and socket cleanup need the pool); the
//     daemon must log what it waits for and leave anyway at its deadline.
// Either way it exits within 5 s of the signal (a busy machine gets a margin) and its journalctl
// is gone. The blocking is done by a module preloaded into the daemon (node --import), started on
// SIGUSR2 once the daemon runs, so no test hook lives in pxebootd itself.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, requireRoot, requireTool, startDaemon, tempDir, waitFor } from '../../helpers/lab.ts';
import { CLI, makeLab } from '../cli/cli-lab.ts';
import { startJournald } from '../logs/journald.ts';

after(cleanupAll);
requireRoot();
requireTool('journalctl');
requireTool('mkfifo');

/** libuv's default thread-pool size (the daemon does not change it). */
const POOL = 4;

/** PIDs whose parent is `ppid` and whose command name is `comm`. */
function childrenNamed(ppid: number, comm: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (Number(rest[1]) === ppid && name === comm) out.push(Number(e));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** Gone, or a zombie nobody reaped yet (its process no longer runs). */
function gone(pid: number): boolean {
  try {
    return / Z /.test(' ' + readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^\d+ \(.*\) /, '') + ' ');
  } catch {
    return true;
  }
}

async function stopWithBlockedWorkers(blocked: number) {
  const dir = tempDir('pxe-stop-');
  const j = await startJournald(path.join(dir));
  const lab = makeLab();
  const fifos = Array.from({ length: blocked }, (_, i) => path.join(lab.dir, `fifo-${i}`));
  for (const f of fifos) execFileSync('mkfifo', [f]);
  // whatever happens, the FIFOs get a writer at cleanup so no reader of ours stays blocked
  onCleanup('unblock fifos', () => {
    for (const f of fifos) {
      try {
        execFileSync('timeout', ['1', 'sh', '-c', `exec 3>'${f}'`], { stdio: 'ignore' });
      } catch {
        /* no reader left */
      }
    }
  });
  const blocker = path.join(lab.dir, 'block-workers.mjs');
  writeFileSync(
    blocker,
    `import { readFile } from 'node:fs';
process.on('SIGUSR2', () => {
  for (const f of ${JSON.stringify(fifos)}) readFile(f, () => {});
  process.stdout.write('BLOCKED ${blocked} workers\\n');
});
`,
  );
  const cfg = path.join(lab.dir, 'pxebootd-journal.yaml');
  writeFileSync(cfg, readFileSync(lab.config, 'utf8').replace('sources:\n', `sources:\n  - { type: journal, identifiers: [in.tftpd], directory: ${j.journalDir} }\n`));
  const logFile = path.join(lab.dir, 'daemon.log');
  const d = startDaemon('pxebootd', [process.execPath, '--import', blocker, CLI, 'run', '-c', cfg], { logFile });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor('daemon started', () => log().includes('pxebootd started'), 30_000);
  const journalctl = await waitFor('its journalctl', () => childrenNamed(d.pid, 'journalctl')[0], 20_000);
  process.kill(d.pid, 'SIGUSR2');
  await waitFor('workers blocked', () => log().includes(`BLOCKED ${blocked} workers`), 10_000);
  // let the reads reach the pool
  await new Promise((r) => setTimeout(r, 300));

  const t0 = Date.now();
  process.kill(d.pid, 'SIGTERM'); // the daemon only, not its group: it must end its children itself
  const code = await Promise.race([d.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
  const ms = Date.now() - t0;
  console.log(`${blocked} blocked worker(s): exit ${String(code)} ${ms} ms after SIGTERM`);
  assert.notEqual(code, 'hung', `the daemon did not exit within 15 s of SIGTERM; log:\n${log().slice(-3000)}`);
  assert.ok(ms < 8000, `exited ${ms} ms after SIGTERM (the bound is 5 s on a quiet machine)`);
  await waitFor(`journalctl ${journalctl} gone`, () => gone(journalctl), 5000);
  return { code, log: log() };
}

describe('stop always stops', () => {
  test('SIGTERM with one thread-pool worker blocked: clean stop, exit 0, journalctl gone', async () => {
    const r = await stopWithBlockedWorkers(1);
    assert.equal(r.code, 0, r.log.slice(-3000));
    assert.match(r.log, /pxebootd stopped/);
    assert.match(r.log, /exiting anyway/);
  });

  test('SIGTERM with every thread-pool worker blocked: the deadline logs what stop waits for and exits 1, journalctl gone', async () => {
    const r = await stopWithBlockedWorkers(POOL);
    assert.equal(r.code, 1, r.log.slice(-3000));
    assert.match(r.log, /stop did not finish within \d+ ms \(still [^)]+\); killing \d+ child process\(es\) and exiting/);
    assert.doesNotMatch(r.log, /pxebootd stopped/);
  });
});
