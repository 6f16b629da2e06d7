// A scratch pxebootd installation for CLI tests: a config in a temp dir (lower root, templates,
// lease file, TFTP root, state, socket) with its own exports file under /etc/exports.d, removed
// at cleanup. The CLI runs as a real process from the TypeScript sources.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup, sh, tempDir, uniq } from '../../helpers/lab.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(REPO, 'src', 'cli', 'main.ts');

export interface Lab {
  dir: string;
  config: string;
  leases: string;
  tftp: string;
  socket: string;
  exportsFile: string;
  stateFile: string;
}

/** Write a lab config; `extra` is appended YAML (hosts, more subnets). */
export function makeLab(opts: { subnetExtra?: string; extra?: string; onRelease?: string } = {}): Lab {
  const dir = tempDir('pxe-cli-');
  const exportsFile = `/etc/exports.d/pxebootd-test-pxe-${uniq()}.exports`;
  onCleanup(`exports ${exportsFile}`, () => {
    if (existsSync(exportsFile)) {
      rmSync(exportsFile, { force: true });
      sh('exportfs', ['-r'], { allowFail: true });
    }
  });
  for (const d of ['root/etc', 'templates', 'leases', 'tftp']) mkdirSync(path.join(dir, d), { recursive: true });
  writeFileSync(path.join(dir, 'root/etc/hostname'), 'lower\n');
  writeFileSync(path.join(dir, 'templates/pxelinux.cfg.template'), 'DEFAULT <NODE>\nLABEL <NODE>\n  KERNEL {{kernel}}\n  APPEND root=/dev/nfs nfsroot={{server}}:{{nfs_path}} ip=dhcp\n');
  writeFileSync(path.join(dir, 'templates/default.template'), 'DEFAULT wait\nLABEL wait\n  COM32 reboot.c32\n');
  const leases = path.join(dir, 'leases/dnsmasq.leases');
  writeFileSync(leases, '');
  const config = path.join(dir, 'pxebootd.yaml');
  writeFileSync(
    config,
    `state_dir: state
tftp_root: tftp
server: 10.99.0.1
control_socket: run/control.sock
sources:
  - { type: dnsmasq-leases, path: leases/dnsmasq.leases }
exports:
  backend: kernel
  file: ${exportsFile}
  start_fsid: 4200
default_template: templates/default.template
queue: { concurrency: 8, retry_base_ms: 50, retry_max_ms: 400 }
subnets:
  - cidr: 10.99.0.0/24
    root_dir: root
    node_dir: run/node
    overlay_dir: run/overlay
    pxe_template: templates/pxelinux.cfg.template
    on_release: ${opts.onRelease ?? 'unexport'}
    vars: { kernel: vmlinuz }
${opts.subnetExtra ?? ''}  - { cidr: 10.99.9.0/24, ignore: true }
${opts.extra ?? ''}`,
  );
  return { dir, config, leases, tftp: path.join(dir, 'tftp'), socket: path.join(dir, 'run/control.sock'), exportsFile, stateFile: path.join(dir, 'state/state.json') };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run the CLI to completion (async, so a daemon started by the same test keeps running). */
export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Synchronous variant for quick commands. */
export function cliSync(args: string[], env?: NodeJS.ProcessEnv): CliResult {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: env ?? process.env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

/** A dnsmasq lease line. */
export function leaseLine(mac: string, ip: string, host = '*'): string {
  return `${Math.floor(Date.now() / 1000) + 3600} ${mac} ${ip} ${host} 01:${mac}\n`;
}
