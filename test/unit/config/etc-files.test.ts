import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConfig, nodeFsProbe, type FsProbe } from '../../../src/config/index.ts';
import { formatProblem } from '../../../src/errors.ts';
import { matchClient } from '../../../src/rules.ts';
import { nodeNameFor } from '../../../src/naming.ts';
import { renderTemplate } from '../../../src/template.ts';
import { ipToHex, macHyphen } from '../../../src/validate.ts';

const ETC = fileURLToPath(new URL('../../../etc/', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const read = (rel: string) => readFileSync(ETC + rel, 'utf8');

function values(ip: string, mac: string, server: string, nfsPath: string, vars: Record<string, string>, node: string) {
  return { node, ip, ip_hex: ipToHex(ip), mac, mac_hyphen: macHyphen(mac), hostname: undefined, server, nfs_path: nfsPath, ...vars };
}

describe('etc/', () => {
  test('example/pxebootd.yaml is valid and its three leases match the subnet, the third via its host rule', async () => {
    const r = await checkConfig(ETC + 'example/pxebootd.yaml');
    assert.deepEqual(r.problems.map(formatProblem), []);
    const c = r.config!;
    assert.equal(c.tftp_root, ETC + 'example/run/tftp');
    assert.equal(c.subnets[0]!.root_dir, ETC + 'example/root');
    assert.deepEqual(c.sources, [{ type: 'dnsmasq-leases', path: ETC + 'example/leases/dnsmasq.leases' }]);
    const leases = read('example/leases/dnsmasq.leases').trim().split('\n').map((l) => l.split(' '));
    assert.equal(leases.length, 3);
    const names = leases.map(([, mac, ip]) => {
      const m = matchClient({ ip: ip!, mac: mac! }, c);
      assert.equal(m.kind, 'match', ip);
      if (m.kind !== 'match') return '';
      return nodeNameFor(m.rule.node_name, ip!, mac);
    });
    assert.deepEqual(names, ['0A4D000B', '0A4D000C', '52-54-00-77-00-03']);
    assert.equal(matchClient({ ip: '10.77.0.200' }, c).kind, 'ignored');
  });

  test('pxebootd.yaml (the documented example) is valid once its paths exist', async () => {
    const probe: FsProbe = {
      kind: (p) => (p.startsWith('/netboot/') ? 'dir' : nodeFsProbe.kind(p.replace('/etc/pxebootd/', ETC))),
      read: (p) => nodeFsProbe.read(p.replace('/etc/pxebootd/', ETC)),
    };
    const r = await checkConfig(ETC + 'pxebootd.yaml', probe);
    assert.deepEqual(r.problems.map(formatProblem), []);
    assert.equal(r.config!.default_template, '/etc/pxebootd/default.template');
    assert.equal(r.config!.subnets[1]!.ignore, true);
  });

  test('node templates render a complete boot file with the nfsroot of the node', () => {
    const vars = { kernel: 'vmlinuz', initrd: 'initrd.img', console: 'ttyS0' };
    const v = values('10.0.0.5', '52:54:00:12:34:56', '10.0.0.1', '/netboot/node/0A000005', vars, '0A000005');
    const pxe = renderTemplate(read('pxelinux.cfg.template'), v);
    assert.match(pxe, /^DEFAULT netboot-0A000005$/m);
    assert.match(pxe, /^LABEL netboot-0A000005$/m);
    assert.match(pxe, /^  APPEND .* root=\/dev\/nfs nfsroot=10\.0\.0\.1:\/netboot\/node\/0A000005,vers=3 ip=dhcp rw$/m);
    const grub = renderTemplate(read('grub.cfg.template'), v);
    assert.match(grub, /^  linux \/vmlinuz .*nfsroot=10\.0\.0\.1:\/netboot\/node\/0A000005,vers=3/m);
    const ipxe = renderTemplate(read('ipxe.template'), v);
    assert.ok(ipxe.startsWith('#!ipxe\n'), 'iPXE magic on line 1');
    assert.match(ipxe, /^kernel tftp:\/\/10\.0\.0\.1\/vmlinuz .*nfsroot=10\.0\.0\.1:\/netboot\/node\/0A000005/m);
    assert.match(ipxe, /^initrd tftp:\/\/10\.0\.0\.1\/initrd\.img$/m);
    assert.match(ipxe, /^boot$/m);
    for (const out of [pxe, grub, ipxe]) assert.doesNotMatch(out, /\{\{|<NODE>/);
  });

  test('default.template waits and re-runs pxelinux.0, using only {{server}}', () => {
    const out = renderTemplate(read('default.template'), { server: '10.0.0.1' });
    assert.match(out, /^DEFAULT retry$/m);
    assert.match(out, /^PROMPT 1$/m);
    assert.match(out, /^TIMEOUT 30$/m);
    assert.match(out, /^ONTIMEOUT retry$/m);
    assert.match(out, /^LABEL retry\n  KERNEL pxelinux\.0$/m);
    assert.match(out, /^SAY pxebootd on 10\.0\.0\.1:/m);
  });

  test('the example templates are the shipped ones', () => {
    for (const t of ['pxelinux.cfg.template', 'default.template', 'grub.cfg.template', 'ipxe.template']) {
      assert.equal(read(`example/templates/${t}`), read(t), t);
    }
  });

  test('pxebootd.service: notify, check before start and reload, HUP through sh, restarts, and no mount-namespace hardening', () => {
    const unit = read('pxebootd.service');
    const lines = [
      'Type=notify',
      'NotifyAccess=all',
      'ExecStartPre=/usr/bin/pxebootd check',
      'ExecStart=/usr/bin/pxebootd run',
      'ExecReload=/usr/bin/pxebootd check',
      // Debian 12 has no /bin/kill without procps: the shell's builtin sends the signal
      "ExecReload=/bin/sh -c 'kill -HUP ${MAINPID}'",
      'Restart=on-failure',
      'KillMode=mixed',
      'NoNewPrivileges=yes',
      'SystemCallArchitectures=native',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET',
    ];
    for (const l of lines) assert.match(unit, new RegExp(`^${l.replace(/[$/{}()]/g, '\\$&')}$`, 'm'), l);
    // the reload checks before it signals: a broken config never reaches the daemon
    assert.ok(unit.indexOf('ExecReload=/usr/bin/pxebootd check') < unit.indexOf('ExecReload=/bin/sh'));
    assert.doesNotMatch(unit, /^[^#\n]*(\/bin\/kill|\/usr\/local\/)/m);
    // each of these puts the service in a mount namespace whose mounts the NFS server cannot see
    for (const k of ['PrivateMounts', 'PrivateTmp', 'PrivateDevices', 'ProtectSystem', 'ProtectHome', 'ReadOnlyPaths', 'ReadWritePaths', 'InaccessiblePaths', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectHostname', 'ProtectProc', 'ProcSubset', 'TemporaryFileSystem', 'BindPaths', 'BindReadOnlyPaths', 'MountFlags', 'RootDirectory', 'RootImage']) {
      assert.doesNotMatch(unit, new RegExp(`^${k}=`, 'm'), k);
    }
  });

  test('pxebootd.service passes systemd-analyze verify with the packaged wrapper at /usr/bin/pxebootd', (t) => {
    const root = mkdtempSync(path.join(tmpdir(), 'pxebootd-verify-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    // a root with the system's units (for the targets it names), sh, and the package's files
    mkdirSync(path.join(root, 'lib/systemd'), { recursive: true });
    cpSync('/lib/systemd/system', path.join(root, 'lib/systemd/system'), { recursive: true, dereference: false });
    mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
    mkdirSync(path.join(root, 'bin'), { recursive: true });
    copyFileSync('/bin/sh', path.join(root, 'bin/sh'));
    copyFileSync(path.join(REPO, 'packaging/wrapper.sh'), path.join(root, 'usr/bin/pxebootd'));
    chmodSync(path.join(root, 'usr/bin/pxebootd'), 0o755);
    copyFileSync(ETC + 'pxebootd.service', path.join(root, 'lib/systemd/system/pxebootd.service'));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, 'pxebootd.service'], { encoding: 'utf8' });
    assert.equal(r.error, undefined, 'systemd-analyze (package systemd) must be installed');
    const ours = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('pxebootd'));
    assert.deepEqual(ours, [], 'systemd-analyze verify said about pxebootd.service');
    assert.equal(r.status, 0, r.stderr);
  });

  test('pxebootd-hook is an executable sh wrapper around `pxebootd hook`', () => {
    const hook = read('pxebootd-hook');
    assert.ok(hook.startsWith('#!/bin/sh\n'));
    assert.match(hook, /^exec pxebootd hook "\$@"$/m);
    assert.ok((statSync(ETC + 'pxebootd-hook').mode & 0o111) !== 0);
    execFileSync('sh', ['-n', ETC + 'pxebootd-hook']);
  });

  test('dnsmasq and tftpd-hpa snippets carry the settings pxebootd relies on', () => {
    const d = read('dnsmasq-pxebootd.conf');
    for (const l of ['dhcp-script=/usr/local/bin/pxebootd-hook', 'log-dhcp', 'enable-tftp', 'dhcp-vendorclass=set:pxe,PXEClient', 'dhcp-option-force=tag:pxe,tag:!efi64,60,PXEClient', 'dhcp-boot=tag:!efi64,tag:!httpclient,pxelinux.0', 'dhcp-boot=tag:efi64,tag:ipxe,ipxe/boot.ipxe']) {
      assert.match(d, new RegExp(`^${l}\\b`, 'm'), l);
    }
    assert.match(read('tftpd-hpa.default'), /^TFTP_OPTIONS="--secure -v"$/m);
  });
});
