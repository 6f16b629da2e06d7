// The filesystem the benchmarks' labs (node and overlay dirs, state, TFTP root) live on. By default
// each benchmark gets a fresh journaled ext4, loop-mounted and made just before it, because the
// machine's own /tmp may be a poor stand-in for a boot server's disk: on ext4 without a journal
// (this VM's root) every new inode is checked against the inodes deleted in the last 1–6 minutes,
// so each bench's clean-up made the next one's mkdirs several times slower (docs/performance.md,
// finding 21). BENCH_FS=host keeps the labs in $TMPDIR as it is.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onCleanup, sh } from '../../test/helpers/lab.ts';

/** Sparse image size: room for 10,000 nodes' directories and the benches' lease files. */
const IMAGE_SIZE = '16G';
/** $TMPDIR as the bench was started with: where the images go, and what each clean-up restores. */
const OUTER_ENV = process.env.TMPDIR;
const OUTER = tmpdir();

/** What the labs of the next benchmark sit on, as recorded in the results. */
export interface LabFs {
  kind: 'fresh-ext4' | 'host';
  dir: string;
}

/**
 * Make and mount a fresh journaled ext4 and point $TMPDIR at it (undone by cleanupAll, after the
 * labs made on it are removed); with BENCH_FS=host, leave $TMPDIR alone.
 */
export function freshLabFs(): LabFs {
  if (process.env.BENCH_FS === 'host') return { kind: 'host', dir: tmpdir() };
  const base = mkdtempSync(path.join(OUTER, 'pxg-benchfs-'));
  const image = path.join(base, 'fs.img');
  const mnt = path.join(base, 'mnt');
  onCleanup(`bench fs ${base}`, () => {
    // lazily: a lab's overlay still being torn down must not keep the image (the loop device goes with the last user)
    sh('umount', ['-l', mnt], { allowFail: true });
    sh('rm', ['-rf', base], { allowFail: true });
    if (OUTER_ENV === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = OUTER_ENV;
  });
  sh('truncate', ['-s', IMAGE_SIZE, image]);
  sh('mkfs.ext4', ['-q', '-F', image]);
  sh('mkdir', [mnt]);
  sh('mount', ['-o', 'loop', image, mnt]);
  process.env.TMPDIR = mnt;
  return { kind: 'fresh-ext4', dir: mnt };
}
