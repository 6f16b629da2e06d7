// Running this checkout's code (a test script, the CLI, the node binary under .node/) as uid
// 65534, the unprivileged local user of the attack tests. A checkout made by `mktemp -d` + `git
// clone` is (or sits in) a 0700 directory that uid 65534 cannot pass, so its paths are then
// rewritten to a read-only view of the checkout that every user can enter (undone at clean-up): an
// overlay whose top layer is an empty 0755 directory, so the view's root has that mode and
// everything below it is the checkout's own.
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { onCleanup, sh, tempDir } from './lab.ts';

/** The checkout's root. */
const REPO = path.resolve(import.meta.dirname, '..', '..');

/** setpriv's prefix: uid and gid 65534, no supplementary groups. */
export const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

/** Can others pass every directory from / down to `dir`? */
function othersCanReach(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

let view: string | undefined;

/** Where uid 65534 finds the checkout: REPO itself, or the read-only view of it, made once per process. */
function nobodysRepo(): string {
  if (view !== undefined) return view;
  if (othersCanReach(REPO)) return (view = REPO);
  const dir = tempDir('pxebootd-nobody-view-');
  chmodSync(dir, 0o755);
  const top = path.join(dir, 'top');
  const mnt = path.join(dir, 'repo');
  mkdirSync(top, { mode: 0o755 });
  chmodSync(top, 0o755);
  mkdirSync(mnt);
  // two lower layers and no upper: read-only; the root's mode is the top layer's
  sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${top}:${REPO}`, mnt]);
  // registered after tempDir's, so it runs first: the view is gone before its directory is removed
  onCleanup(`nobody's view ${mnt}`, () => sh('umount', ['-l', mnt], { allowFail: true }));
  return (view = mnt);
}

/** `p` as uid 65534 can reach it: paths inside the checkout move to its view; others stay. */
export function nobodyPath(p: string): string {
  const abs = path.resolve(p);
  if (abs !== REPO && !abs.startsWith(REPO + path.sep)) return p;
  return path.join(nobodysRepo(), path.relative(REPO, abs));
}

/** `argv` prefixed with AS_NOBODY, each argument that names a path in the checkout moved to where uid 65534 reaches it. */
export function asNobody(argv: readonly string[]): string[] {
  return [...AS_NOBODY, ...argv.map((a) => (path.isAbsolute(a) ? nobodyPath(a) : a))];
}
