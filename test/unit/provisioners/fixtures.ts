// Config, rule and node values for provisioner tests (unit and integration).
import type { Config, NodeRecord, ResolvedRule } from '../../../src/types.ts';

export function makeConfig(base: string, over: Omit<Partial<Config>, 'exports'> & { exports?: Partial<Config['exports']> } = {}): Config {
  const { exports, ...rest } = over;
  return {
    file: `${base}/pxebootd.yaml`,
    state_dir: `${base}/state`,
    tftp_root: `${base}/tftp`,
    server: '10.99.0.1',
    sources: [],
    exports: {
      backend: 'kernel',
      file: `${base}/exports.d/pxebootd.exports`,
      options: 'rw,no_root_squash,no_subtree_check,sync',
      start_fsid: 10000,
      etab: `${base}/etab`,
      ...exports,
    },
    grub_dir: 'grub',
    ipxe_dir: 'ipxe',
    commands: { mount: 'mount', umount: 'umount', exportfs: 'exportfs', journalctl: 'journalctl', ip: 'ip' },
    trusted_programs: [],
    control_socket: `${base}/control.sock`,
    queue: { concurrency: 64, retry_base_ms: 100, retry_max_ms: 1000 },
    subnets: [{ cidr: '10.99.0.0/24', root_dir: `${base}/root`, node_dir: `${base}/node`, overlay_dir: `${base}/overlay` }],
    hosts: [],
    ...rest,
  };
}

export function makeRule(base: string, over: Partial<ResolvedRule> = {}): ResolvedRule {
  return {
    subnet: { cidr: '10.99.0.0/24' },
    why: ['test'],
    root_dir: `${base}/root`,
    node_dir: `${base}/node`,
    overlay_dir: `${base}/overlay`,
    node_name: 'ip-hex',
    pxe_template: `${base}/templates/pxelinux.cfg.template`,
    overlay: 'persistent',
    on_release: 'keep',
    vars: { kernel: 'vmlinuz' },
    ...over,
  };
}

/** Node for 10.99.<c>.<d>: name = hex IP, MAC 52:54:00:00:<c>:<d>, fsid 10000 + index. */
export function makeNode(i: number, over: Partial<NodeRecord> = {}): NodeRecord {
  const c = Math.floor(i / 250);
  const d = (i % 250) + 2;
  const ip = `10.99.${c}.${d}`;
  const name = [10, 99, c, d].map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join('');
  const hex = (x: number) => x.toString(16).padStart(2, '0');
  return {
    name,
    ip,
    mac: `52:54:00:00:${hex(c)}:${hex(d)}`,
    subnet: '10.99.0.0/16',
    state: 'pending',
    fsid: 10000 + i,
    lastSeen: 0,
    sources: ['test'],
    ...over,
  };
}

export const PXE_TEMPLATE = `DEFAULT linux
LABEL linux
  KERNEL {{kernel}}
  APPEND root=/dev/nfs nfsroot={{server}}:{{nfs_path}},vers=3 ip=dhcp hostname={{hostname}} node=<NODE>
`;
