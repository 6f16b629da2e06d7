// The SIGKILL tests' way of driving a writer child (fsid-writer.ts, record-writer.ts): start it,
// hand each line it prints to the test, and SIGKILL it `killAfterMs` after it prints "loaded".
import { spawn } from 'node:child_process';

/** Run `script args` under this Node, SIGKILL it killAfterMs after its "loaded" line; rejects if it exits any other way (60 s watchdog). */
export function killAfterLoaded(script: string, args: string[], killAfterMs: number, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.on('data', (d: string) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) {
        if (l === 'loaded') timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        else onLine(l);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code ?? signal} before the kill: ${err}`));
      else resolve();
    });
  });
}
