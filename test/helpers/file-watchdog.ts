// A per-file time bound for `node --test` (package.json loads this with --import; node --test passes
// it on to every test file's process). node:test bounds each test (--test-timeout), and
// --test-force-exit ends a file whose tests are done but whose handles stay open; neither ends a
// file that hangs outside a test (a top-level await) or inside process.exit() (which waits for a
// thread-pool worker blocked in a read, say of a FIFO a test left behind). So each test file's
// process gets an outside watchdog: `timeout N tail --pid` (no polling from Node, nothing kept
// open) that, after PXEBOOTD_TEST_FILE_TIMEOUT_S seconds (default 900; 0 turns it off), says so on
// the file's stderr (the runner shows it with the failure), sends SIGTERM (the lab's cleanup traps run) and SIGKILL 30 s later. It only
// ever signals the one file process that started it.
import { spawn } from 'node:child_process';

const DEFAULT_S = 900;

if (process.env.NODE_TEST_CONTEXT) {
  const raw = process.env.PXEBOOTD_TEST_FILE_TIMEOUT_S;
  const seconds = raw === undefined || raw === '' ? DEFAULT_S : Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`PXEBOOTD_TEST_FILE_TIMEOUT_S: expected seconds (0 = off), found ${JSON.stringify(raw)}`);
  if (seconds > 0) {
    const script = [
      'p=$1 n=$2 f=$3',
      'timeout "$n" tail --pid="$p" -f /dev/null && exit 0',
      'kill -0 "$p" 2>/dev/null || exit 0',
      'echo "file-watchdog: $f still running after $n s (PXEBOOTD_TEST_FILE_TIMEOUT_S): SIGTERM to pid $p, SIGKILL in 30 s" >&2',
      'kill -TERM "$p" 2>/dev/null',
      'timeout 30 tail --pid="$p" -f /dev/null && exit 0',
      'kill -KILL "$p" 2>/dev/null',
    ].join('\n');
    const file = process.argv[1] ?? '(unknown file)';
    const w = spawn('sh', ['-c', script, 'file-watchdog', String(process.pid), String(Math.ceil(seconds)), file], { detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
    w.on('error', (e) => process.stderr.write(`file-watchdog: not started (${e.message}); ${file} has no per-file bound\n`));
    w.unref();
  }
}
