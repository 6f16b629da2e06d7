// How overlays are mounted and unmounted: mount(2)/umount2(2) in-process through the native addon
// (provisioners/native/sysmount.c), or commands.mount/commands.umount as child processes. Either way
// through the Runner, so dry-run, the logged command line and the per-tool counts are the same.
import { loadAddon, type Addon } from '../src/native.ts';
import type { Runner, RunResult } from '../src/runner.ts';
import type { MountMethod, MountMethodSetting } from '../src/types.ts';
import { mountArgv, overlayOptions } from './overlay.ts';
import type { NodePaths } from './paths.ts';

/** The addon's functions (both validate their arguments and reject with an errno Error). */
interface SysMount {
  mount(source: string, target: string, fstype: string, flags: number, data: string): Promise<void>;
  umount(target: string, flags: number): Promise<void>;
}

/** Mounting and unmounting one node's overlay. */
export interface Mounter {
  readonly method: MountMethod;
  /** throws RunError when the mount fails */
  mount(p: NodePaths): Promise<void>;
  /** never throws for a failed umount: exitCode and stderr say what happened ("busy" is retried by the caller) */
  umount(target: string): Promise<RunResult>;
}

/** Load the mount(2) addon once; the reason it is unusable otherwise. */
export function loadSysMount(): Addon<SysMount> {
  return loadAddon<SysMount>('sysmount', 'mount(2)');
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
      mount: async (p) => void (await runner.run(mountArgv(commands.mount, p), { mutating: true })),
      umount: (target) => runner.run([commands.umount, target], { mutating: true, allowFailure: true }),
    };
  }
  const sys = loadSysMount();
  if (!('mod' in sys)) throw new Error(sys.why);
  const mod = sys.mod;
  return {
    method,
    // logged as the equivalent mount(8) line, which an admin can paste to do the same by hand
    mount: async (p) => void (await runner.call('mount', mountArgv('mount', p), () => mod.mount('overlay', p.mountPoint, 'overlay', 0, overlayOptions(p)), { mutating: true })),
    umount: (target) => runner.call('umount', ['umount', target], () => mod.umount(target, 0), { mutating: true, allowFailure: true }),
  };
}
