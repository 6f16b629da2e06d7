// Temp files left behind when pxebootd was killed between writing a temp file (or temp symlink)
// and renaming it into place. Dot-files, so exportfs and TFTP clients never see them; this only
// keeps them from piling up over many crashes.
import { readdir, unlink } from 'node:fs/promises';
import path from 'node:path';

const TEMP_RE = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.(tmp|lnk)$/;

/** Does this base name look like one of our temp files, written by a process that is gone? */
export function isStaleTemp(base: string, alive: (pid: number) => boolean = pidAlive): boolean {
  const m = TEMP_RE.exec(base);
  if (!m) return false;
  const pid = Number(m[2]);
  return pid !== process.pid && !alive(pid);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stale temp files in `dir` (optionally only those for the file named `only`). */
export async function findStaleTemps(dir: string, only?: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => isStaleTemp(n) && (only === undefined || TEMP_RE.exec(n)![1] === only)).map((n) => path.join(dir, n));
}

/** Remove them; errors are ignored (another process may have done it). */
export async function removeStaleTemps(dir: string, only?: string): Promise<string[]> {
  const found = await findStaleTemps(dir, only);
  await Promise.all(found.map((f) => unlink(f).catch(() => {})));
  return found;
}
