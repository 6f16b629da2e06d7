// Pieces the boot integration tests add to a cli-lab (test/integration/cli/cli-lab.ts): subnet rules
// in its layout, a second log source beside its lease file, the shipped profile templates, and a
// namespace standing in for booting nodes. Each registers its own cleanup where it makes something.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { onCleanup, sh, uniq } from './lab.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');

/** The part of a cli-lab these helpers touch. */
export interface CliLabFiles {
  dir: string;
  config: string;
}

/** A subnet rule (YAML, indented for cli-lab's `subnets:`) with the lab's node/overlay dirs, pxelinux template and kernel var; `keys` are its other lines, e.g. 'first_boot: [verify]'. */
export function subnetRule(cidr: string, keys: string[], o: { image?: string } = {}): string {
  const lines = [
    `cidr: ${cidr}`,
    o.image === undefined ? 'root_dir: root' : `image: ${o.image}`,
    'node_dir: run/node',
    'overlay_dir: run/overlay',
    'pxe_template: templates/pxelinux.cfg.template',
    'vars: { kernel: vmlinuz }',
    ...keys,
  ];
  return lines.map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`)).join('\n') + '\n';
}

const LEASE_SOURCE = '  - { type: dnsmasq-leases, path: leases/dnsmasq.leases }\n';

/** Adds a source (a YAML flow map) after the cli-lab config's lease source: the daemon reads both. */
export function addSource(lab: CliLabFiles, sourceMap: string): void {
  const text = readFileSync(lab.config, 'utf8');
  assert.ok(text.includes(LEASE_SOURCE), 'cli-lab config layout changed');
  writeFileSync(lab.config, text.replace(LEASE_SOURCE, `${LEASE_SOURCE}  - ${sourceMap}\n`));
}

/** An empty leases/tftp.log made a syslog source: the test appends TFTP lines to the path returned. */
export function addTftpLogSource(lab: CliLabFiles): string {
  const tftpLog = path.join(lab.dir, 'leases/tftp.log');
  writeFileSync(tftpLog, '');
  addSource(lab, '{ type: syslog, path: leases/tftp.log }');
  return tftpLog;
}

/** Copies the shipped etc/profiles/NAME templates into lab.dir/profiles/. */
export function copyShippedProfiles(lab: CliLabFiles, names: string[]): void {
  mkdirSync(path.join(lab.dir, 'profiles'), { recursive: true });
  for (const f of names) copyFileSync(path.join(REPO, 'etc/profiles', f), path.join(lab.dir, 'profiles', f));
}

/** A namespace joined to the host by a veth: host side hostAddr/24, namespace side the nodes' addresses (/24). */
export function makeNodeNetns(prefix: string, hostAddr: string, addrs: string[]): string {
  const id = uniq();
  const ns = `${prefix}-${id}`;
  const host = `v${prefix}${id}`;
  sh('ip', ['netns', 'add', ns]);
  onCleanup(`netns ${ns}`, () => sh('ip', ['netns', 'del', ns], { allowFail: true }));
  sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  onCleanup(`veth ${host}`, () => sh('ip', ['link', 'del', host], { allowFail: true }));
  sh('ip', ['addr', 'add', `${hostAddr}/24`, 'dev', host]);
  sh('ip', ['link', 'set', host, 'up']);
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  for (const a of addrs) sh('ip', ['-n', ns, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
  sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  return ns;
}
