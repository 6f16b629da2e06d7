// One image command at a time per image: add, edit, promote, prune and rm each hold
// images_dir/<name>/.lock (a pid file created with O_EXCL). A lock whose process is gone is taken
// over, and so are the temp directories that process left behind.
import { open, readFile, readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { PxeError } from '../errors.ts';
import { unprotect, type MountTools } from './protect.ts';
import { parseMountinfo } from '../../provisioners/mountinfo.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the image's lock; resolves to its release. */
export async function lockImage(imageDir: string): Promise<() => Promise<void>> {
  const file = path.join(imageDir, '.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        const held = (await readFile(file, 'utf8').catch(() => '')).trim();
        if (held === String(process.pid)) await unlink(file).catch(() => {});
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new PxeError('USAGE', `no image ${path.basename(imageDir)} in ${path.dirname(imageDir)}`);
      if (code !== 'EEXIST') throw e;
      const pid = Number.parseInt((await readFile(file, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new PxeError('CONFLICT', `image ${path.basename(imageDir)} is busy: another image command (pid ${pid}) holds ${file}`);
      }
      await unlink(file).catch(() => {});
    }
  }
  throw new PxeError('CONFLICT', `cannot take ${file}`);
}

/** Temp entries (.tmp-PID-*, .edit-PID-*) of processes that are gone: unmounted and removed. */
export async function removeStaleTemps(t: MountTools, imageDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const e of await readdir(imageDir)) {
    const m = /^\.(tmp|edit)-(\d+)-/.exec(e);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && alive(pid)) continue;
    const dir = path.join(imageDir, e);
    const mounted = [...parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'), [dir]).keys()].sort((a, b) => b.length - a.length);
    for (const mp of mounted) await unprotect(t, mp);
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
