// What is mounted at one mount point, asked of the kernel for that mount alone (statx + statmount,
// provisioners/native/statmount.c) instead of reading /proc/self/mountinfo, which the kernel renders
// whole on every read: its cost grows with the number of mounts (10,000 overlays: ~4 MB a read).
import { loadAddon } from '../src/native.ts';
import { parseSuperOptions, type MountEntry } from './mountinfo.ts';

/** The mount whose root is exactly at `mountPoint` (an absolute, resolved path), or undefined. */
export type MountLookup = (mountPoint: string) => MountEntry | undefined;

interface StatMountAddon {
  probe(path: string): boolean;
  mountAt(path: string): { mountPoint: string; fstype: string; source: string; options: string; readOnly: boolean; mountReadOnly: boolean } | undefined;
}

/**
 * The lookup, or why this machine cannot have it (addon not built; kernel before 6.8 or a seccomp
 * filter: ENOSYS/EPERM from probe). Errors of a later lookup are thrown to the caller, which reads
 * mountinfo instead (see mount-table.ts); `code` ENOSYS there means this kernel gives no options.
 */
export function loadMountLookup(): { lookup: MountLookup } | { why: string } {
  const a = loadAddon<StatMountAddon>('statmount', 'statmount(2)');
  if (!('mod' in a)) return a;
  const mod = a.mod;
  if (typeof mod.probe !== 'function' || typeof mod.mountAt !== 'function') return { why: 'the statmount(2) addon build/statmount.node is out of date; npm run build rebuilds it' };
  try {
    mod.probe('/');
  } catch (e) {
    return { why: `this kernel cannot say what is mounted at one path (${(e as Error).message}); reading /proc/self/mountinfo instead` };
  }
  return {
    lookup(mountPoint) {
      const m = mod.mountAt(mountPoint);
      // the path's own mount has its root elsewhere (a symlinked parent, say): nothing is mounted at this path
      if (!m || m.mountPoint !== mountPoint) return undefined;
      return {
        mountPoint: m.mountPoint,
        fstype: m.fstype,
        source: m.source,
        mountOptions: m.mountReadOnly ? 'ro' : 'rw',
        superOptions: parseSuperOptions(`${m.readOnly ? 'ro' : 'rw'}${m.options ? ',' + m.options : ''}`),
      };
    },
  };
}
