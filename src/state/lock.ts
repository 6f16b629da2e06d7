// One pxebootd per state_dir. The control socket already keeps a second daemon with the same
// config out; this catches two configs that share a state_dir but not a socket, which would
// otherwise hand out the same fsids twice. A pid file, written atomically; a stale one (its
// process is gone, or is no pxebootd) is taken over.
import { readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.ts';
import { PxeError } from '../errors.ts';

const LOCK_FILE = 'pxebootd.pid';

async function isPxebootd(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return /pxebootd|cli\/main\.(ts|js)/.test(cmdline);
}

/** Claim `dir` for this process; resolves to the release function. */
export async function lockStateDir(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, LOCK_FILE);
  const held = Number.parseInt((await readFile(file, 'utf8').catch(() => '')).trim(), 10);
  if (Number.isInteger(held) && held > 0 && held !== process.pid && (await isPxebootd(held))) {
    throw new PxeError('CONFLICT', `state_dir ${dir} is in use by pxebootd pid ${held} (${file}); two daemons must not share a state_dir`);
  }
  await writeFileAtomic(file, `${process.pid}\n`, { mode: 0o644, mkdirp: true });
  return async () => {
    const now = (await readFile(file, 'utf8').catch(() => '')).trim();
    if (now === String(process.pid)) await unlink(file).catch(() => {});
  };
}
