// An in-memory FsProbe for config unit tests: files with contents, directories by path.
import type { FsProbe } from '../../../src/config/index.ts';

export function memProbe(files: Record<string, string> = {}, dirs: string[] = []): FsProbe & { reads: string[] } {
  const reads: string[] = [];
  const dirSet = new Set(dirs);
  return {
    reads,
    kind(p) {
      if (Object.prototype.hasOwnProperty.call(files, p)) return 'file';
      return dirSet.has(p) ? 'dir' : 'missing';
    },
    read(p) {
      reads.push(p);
      return files[p];
    },
  };
}

/** A valid config with one subnet, using /img/root and /tpl/pxe.tmpl (see BASE_PROBE). */
export const BASE_YAML = `server: 10.0.0.1
subnets:
  - cidr: 10.0.0.0/24
    root_dir: /img/root
    node_dir: /netboot/node
    overlay_dir: /netboot/overlay
    pxe_template: /tpl/pxe.tmpl
    vars: { kernel: vmlinuz }
`;

export const BASE_FILES: Record<string, string> = {
  '/tpl/pxe.tmpl': 'DEFAULT x\nLABEL x\n  KERNEL {{kernel}}\n  APPEND nfsroot={{server}}:{{nfs_path}} <NODE>\n',
};

export const BASE_DIRS = ['/img/root', '/img/other'];

export const baseProbe = () => memProbe(BASE_FILES, BASE_DIRS);
