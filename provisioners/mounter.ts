// How overlays are mounted and unmounted: mount(2)/umount2(2) in-process through the native addon
// (provisioners/native/sysmount.c), or commands.mount/commands.umount as child processes. Either way
// through the Runner, so dry-run, the logged command line and the per-tool counts are the same.
// mount(2) mounts through the directory descriptors openLayerDirs holds, so no symlink swapped in
// can redirect it; a command gets paths, checked again just before it runs (a residual race).
// With an addon that has mountNode, mount(2) also makes and opens the directories in the same
// thread-pool call (mountNode below), so a storm's per-node syscalls leave the main thread.
import { loadAddon, type Addon } from '../src/native.ts';
import type { Runner, RunResult } from '../src/runner.ts';
import type { MountMethod, MountMethodSetting } from '../src/types.ts';
import path from 'node:path';
import { layerDirError, recheckLayerDirs, type LayerDirFailure, type LayerDirs } from './layer-dirs.ts';
import { DIR_MODES, mountArgv } from './overlay.ts';
import type { NodePaths } from './paths.ts';

/** umount2(2): do not follow a symlink at the target (<linux/fs.h> UMOUNT_NOFOLLOW). */
const UMOUNT_NOFOLLOW = 8;

/** The addon's functions (both validate their arguments and reject with an errno Error). */
interface SysMount {
  mount(source: string, target: string, fstype: string, flags: number, data: string): Promise<void>;
  umount(target: string, flags: number): Promise<void>;
  mountOverlay(targetFd: number, lowerdir: string, upperFd: number, workFd: number, upperPath: string, workPath: string, label: string): Promise<void>;
  /** makes and opens the node's directories and mounts through them, in one thread-pool call (sysmount.c) */
  mountNode?(nodeRoot: string, layerRoot: string, node: string, modes: number[], lowerdir: string, upperPath: string, workPath: string, label: string): Promise<LayerDirFailure | undefined>;
}

/** Mounting and unmounting one node's overlay. */
export interface Mounter {
  readonly method: MountMethod;
  /** mounts onto `dirs` (opened by openLayerDirs); throws RunError when the mount fails */
  mount(p: NodePaths, dirs: LayerDirs): Promise<void>;
  /** never throws for a failed umount: exitCode and stderr say what happened ("busy" is retried by the caller) */
  umount(target: string): Promise<RunResult>;
  /**
   * When present: make and open the node's directories (the rules of openLayerDirs, the same
   * errors) and mount onto them, in one call off the main thread; mount(2) only, not in dry-run.
   */
  mountNode?(p: NodePaths): Promise<void>;
}

/** The modes of the directories mountNode creates: mount point, layer dir, upper, work. */
const NODE_DIR_MODES = [DIR_MODES.mountPoint, DIR_MODES.layerDir, DIR_MODES.upper, DIR_MODES.work];

/** Load the mount(2) addon once; the reason it is unusable otherwise. */
export function loadSysMount(): Addon<SysMount> {
  const a = loadAddon<SysMount>('sysmount', 'mount(2)');
  if ('mod' in a && typeof a.mod.mountOverlay !== 'function') return { why: 'the mount(2) addon build/sysmount.node is out of date (no mountOverlay); npm run build rebuilds it' };
  return a;
}

/**
 * Pure: which method a setting means. `auto` is mount(2) when the addon loads and commands.mount and
 * commands.umount are the stock tools (a configured wrapper is always run); `syscall` without the
 * addon is an error.
 */
export function resolveMountMethod(
  setting: MountMethodSetting,
  commands: { mount: string; umount: string },
  addon: { mod: unknown } | { why: string },
): { method: MountMethod; why: string } {
  if (setting === 'command') return { method: 'command', why: 'mount_method: command' };
  if ('why' in addon) {
    if (setting === 'syscall') throw new Error(`mount_method: syscall, but ${addon.why}`);
    return { method: 'command', why: addon.why };
  }
  if (setting === 'auto' && (commands.mount !== 'mount' || commands.umount !== 'umount')) {
    return { method: 'command', why: `commands.mount/umount are set (${commands.mount}, ${commands.umount}): running them` };
  }
  return { method: 'syscall', why: `mount_method: ${setting}` };
}

/** A Mounter of the given method. */
export function createMounter(method: MountMethod, runner: Runner, commands: { mount: string; umount: string }): Mounter {
  if (method === 'command') {
    return {
      method,
      mount: async (p, dirs) => {
        await recheckLayerDirs(p, dirs);
        await runner.run(mountArgv(commands.mount, p), { mutating: true });
      },
      umount: (target) => runner.run([commands.umount, target], { mutating: true, allowFailure: true }),
    };
  }
  const sys = loadSysMount();
  if (!('mod' in sys)) throw new Error(sys.why);
  const mod = sys.mod;
  const mountNode = mod.mountNode;
  return {
    method,
    // dry-run keeps openLayerDirs + a skipped mount, as with the older addon
    ...(typeof mountNode === 'function' && !runner.dryRun
      ? {
          mountNode: async (p: NodePaths) => {
            // a directory step that failed is a failed call (counted and logged as one), thrown as its own error
            let dirError: Error | undefined;
            try {
              await runner.call(
                'mount',
                mountArgv('mount', p),
                async () => {
                  const failed: LayerDirFailure | undefined = (await mountNode.call(mod, p.nodeDir, path.dirname(p.layerDir), p.node, NODE_DIR_MODES, p.lower, p.upper, p.work, p.mountPoint)) ?? undefined;
                  if (failed) throw (dirError = await layerDirError(p, failed));
                },
                { mutating: true },
              );
            } catch (e) {
              throw dirError ?? e;
            }
          },
        }
      : {}),
    // logged as the equivalent mount(8) line, which an admin can paste to do the same by hand
    mount: async (p, dirs) =>
      void (await runner.call('mount', mountArgv('mount', p), () => mod.mountOverlay(dirs.target.fd, p.lower, dirs.upper.fd, dirs.work.fd, p.upper, p.work, p.mountPoint), { mutating: true })),
    umount: (target) => runner.call('umount', ['umount', target], () => mod.umount(target, UMOUNT_NOFOLLOW), { mutating: true, allowFailure: true }),
  };
}
