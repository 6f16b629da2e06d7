import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { convertLegacyConfig, loadConfig, validateConfigText } from '../../../src/config/index.ts';
import { formatProblem } from '../../../src/errors.ts';
import { matchClient } from '../../../src/rules.ts';
import { nodeNameFor } from '../../../src/naming.ts';
import { renderTemplate } from '../../../src/template.ts';
import { ipToHex } from '../../../src/validate.ts';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';

after(cleanupAll);

const FIX = new URL('../../fixtures/config/legacy/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIX), 'utf8');

describe('convertLegacyConfig', () => {
  test('the old config converts, loads, and renders exactly what fuse_pxebootfs served', async () => {
    const dir = tempDir('pxa-legacy-');
    // the old server's absolute paths, moved under a temp dir so that root_dir and the template exist
    const ini = fixture('pxebootfs.cfg').replaceAll('/netboot/', `${dir}/netboot/`).replaceAll('/etc/pxebootfs/', `${dir}/etc/pxebootfs/`);
    mkdirSync(path.join(dir, 'netboot/root'), { recursive: true });
    mkdirSync(path.join(dir, 'etc/pxebootfs'), { recursive: true });
    writeFileSync(path.join(dir, 'etc/pxebootfs/pxelinux.cfg.template'), fixture('pxelinux.cfg.template'));

    const { yaml, problems } = convertLegacyConfig(ini, 'pxebootfs.cfg', { server: '10.0.0.1', cidr: '0.0.0.0/0' });
    assert.deepEqual(problems, []);
    const file = path.join(dir, 'pxebootd.yaml');
    writeFileSync(file, yaml);
    const config = await loadConfig(file);
    assert.equal(config.tftp_root, '/srv/tftp');
    assert.equal(config.exports.start_fsid, 100);
    assert.equal(config.subnets[0]!.cidr, '0.0.0.0/0');

    const ip = '10.0.0.5';
    const m = matchClient({ ip }, config);
    assert.equal(m.kind, 'match');
    if (m.kind !== 'match') return;
    const node = nodeNameFor(m.rule.node_name, ip, undefined);
    assert.equal(node, '0A000005');
    const text = readFileSync(m.rule.pxe_template!, 'utf8');
    const out = renderTemplate(text, { node, ip, ip_hex: ipToHex(ip), mac: undefined, mac_hyphen: undefined, hostname: undefined, server: config.server, nfs_path: `${m.rule.node_dir}/${node}`, ...m.rule.vars });
    assert.equal(out, fixture('expected-0A000005.cfg'));
    assert.ok(out.includes(' nfsroot=10.0.0.1:/netboot/node/0A000005,vers=3 '));
  });

  test('YAML text keeps the template path, maps mountpoint to tftp_root and comments unknown keys', () => {
    const { yaml, problems } = convertLegacyConfig(fixture('pxebootfs.cfg'), 'pxebootfs.cfg', { server: '10.0.0.1', cidr: '10.0.0.0/24' });
    assert.deepEqual(problems, []);
    assert.match(yaml, /^server: 10\.0\.0\.1$/m);
    assert.match(yaml, /^tftp_root: \/srv\/tftp$/m);
    assert.match(yaml, /^  start_fsid: 100$/m);
    assert.match(yaml, /^  - cidr: 10\.0\.0\.0\/24$/m);
    assert.match(yaml, /^    root_dir: \/netboot\/root$/m);
    assert.match(yaml, /^    node_dir: \/netboot\/node$/m);
    assert.match(yaml, /^    overlay_dir: \/netboot\/overlay$/m);
    assert.match(yaml, /^    node_name: ip-hex/m);
    assert.match(yaml, /^    pxe_template: \/etc\/pxebootfs\/pxelinux\.cfg\.template$/m);
    assert.match(yaml, /^# WARNING: fuse_pxebootfs key "logfile" \(pxebootfs\.cfg:10\) has no pxebootd equivalent/m);
    assert.match(yaml, /overlay_dir\/<NODE>\/upper/);
  });

  test('a cidr given as a plain string (CLI shorthand) is used', () => {
    const { yaml } = convertLegacyConfig(fixture('pxebootfs.cfg'), 'p.cfg', '10.1.0.0/16');
    assert.match(yaml, /^  - cidr: 10\.1\.0\.0\/16$/m);
  });

  test('what the user must supply is a problem; the YAML then fails check too', () => {
    const { yaml, problems, fatal } = convertLegacyConfig(fixture('pxebootfs.cfg'), 'p.cfg', { cidr: '10.0.0.0/24' });
    assert.equal(fatal, false);
    assert.deepEqual(problems.map(formatProblem), [`p.cfg:1:1: server: fuse_pxebootfs had no "server" key: set server: in the YAML to this host's address on the boot network`]);
    assert.match(yaml, /^server: ""/m);
    const checked = validateConfigText(yaml, '/x/pxebootd.yaml', { kind: () => 'dir', read: () => '' });
    assert.ok(checked.problems.some((p) => p.path === 'server' && p.line === 10), JSON.stringify(checked.problems));
  });

  test('missing section, missing keys, bad start_fsid, bad cidr', () => {
    const other = convertLegacyConfig('[OTHER]\nx = 1\n', 'p.cfg', { server: 's', cidr: '10.0.0.0/24' });
    assert.deepEqual(other.problems.map(formatProblem), [
      'p.cfg:1:1: PXEBOOTFS: no [PXEBOOTFS] section: is this a fuse_pxebootfs config?',
    ]);
    assert.equal(other.fatal, true);
    const r = convertLegacyConfig('[PXEBOOTFS]\nroot_dir = /r\nstart_fsid = ten\n', 'p.cfg', { server: '10.0.0.1', cidr: '10.0.0.1/24' });
    assert.deepEqual(r.problems.map(formatProblem), [
      'p.cfg:1:1: PXEBOOTFS.node_dir: missing key "node_dir"',
      'p.cfg:1:1: PXEBOOTFS.overlay_dir: missing key "overlay_dir"',
      'p.cfg:1:1: PXEBOOTFS.pxe_template: missing key "pxe_template"',
      'p.cfg:3:14: PXEBOOTFS.start_fsid: expected a whole number >= 1, found "ten"',
      'p.cfg:1:1: cidr: host bits set in 10.0.0.1/24: expected the network address 10.0.0.0/24',
    ]);
    assert.equal(r.fatal, true);
  });

  test('without a cidr nothing is converted: fuse_pxebootfs served everyone, pxebootd serves a subnet', () => {
    const r = convertLegacyConfig(fixture('pxebootfs.cfg'), 'p.cfg', { server: '10.0.0.1' });
    assert.equal(r.fatal, true);
    assert.deepEqual(r.problems.map((p) => p.path), ['cidr']);
    assert.match(r.problems[0]!.message, /--cidr/);
  });

  test('ConfigParser syntax: ":" separators, comments, upper-case keys, %(x)s interpolation, continuation lines', () => {
    const ini = `[DEFAULT]
base = /export
[PXEBOOTFS]
; a comment
ROOT_DIR: %(base)s/root
node_dir = %(base)s/node ; inline comment (Python 2 style)
overlay_dir = %(base)s/overlay
pxe_template = /etc/t
extra = one
  two
bad = %(nope)s
`;
    const r = convertLegacyConfig(ini, 'p.cfg', { server: '10.0.0.1', cidr: '10.0.0.0/24' });
    assert.deepEqual(r.problems.map(formatProblem), []);
    assert.match(r.yaml, /^    root_dir: \/export\/root$/m);
    assert.match(r.yaml, /^    node_dir: \/export\/node$/m);
    assert.match(r.yaml, /^    overlay_dir: \/export\/overlay$/m);
    assert.match(r.yaml, /WARNING: fuse_pxebootfs key "extra" \(p\.cfg:9\).*"one\\ntwo"/);
    assert.match(r.yaml, /WARNING: fuse_pxebootfs key "bad"/);
  });

  test('a template path with YAML-special characters is quoted safely', () => {
    const r = convertLegacyConfig('[PXEBOOTFS]\nroot_dir=/r\nnode_dir=/n\noverlay_dir=/o\npxe_template=/t/a: #b\n', 'p.cfg', { server: '10.0.0.1' });
    assert.match(r.yaml, /^    pxe_template: "\/t\/a: #b"$/m);
  });
});

describe('the original fuse_pxebootfs syntax (key: value, a relative template, interpolation)', () => {
  const ORIG = new URL('../../fixtures/config/legacy-original/', import.meta.url);
  const orig = (name: string) => readFileSync(new URL(name, ORIG), 'utf8');

  test('relative paths resolve against the old config\'s directory and are written absolute; the YAML loads from elsewhere', async () => {
    const dir = tempDir('pxa-legacy-orig-');
    const oldDir = path.join(dir, 'etc/pxebootfs');
    const newDir = path.join(dir, 'etc/pxebootd');
    mkdirSync(oldDir, { recursive: true });
    mkdirSync(newDir, { recursive: true });
    mkdirSync(path.join(dir, 'netboot/root'), { recursive: true });
    // the files as they were, but for the absolute /netboot paths moved under the temp dir
    const cfg = path.join(oldDir, 'pxebootfs.cfg');
    writeFileSync(cfg, orig('pxebootfs.cfg').replaceAll('/netboot/', `${dir}/netboot/`));
    writeFileSync(path.join(oldDir, 'pxelinux.cfg.template'), orig('pxelinux.cfg.template'));

    const r = convertLegacyConfig(readFileSync(cfg, 'utf8'), cfg, { server: '10.0.0.1', cidr: '10.0.0.0/24', syslogPath: '/var/log/syslog' });
    assert.deepEqual(r.problems, []);
    assert.equal(r.fatal, false);
    assert.ok(r.yaml.includes(`    pxe_template: ${oldDir}/pxelinux.cfg.template\n`), r.yaml);
    assert.ok(r.yaml.includes(`    overlay_dir: ${dir}/netboot/root/../overlay\n`), r.yaml);
    assert.match(r.yaml, /^  start_fsid: 10000$/m);
    assert.match(r.yaml, /^  - \{ type: syslog, path: \/var\/log\/syslog \}$/m);
    assert.match(r.yaml, /^# default_template: /m);
    const file = path.join(newDir, 'pxebootd.yaml');
    writeFileSync(file, r.yaml);
    const config = await loadConfig(file);
    assert.equal(config.subnets[0]!.pxe_template, path.join(oldDir, 'pxelinux.cfg.template'));
    const text = readFileSync(config.subnets[0]!.pxe_template!, 'utf8');
    const out = renderTemplate(text, { node: '0A000005', ip: '10.0.0.5', ip_hex: '0A000005', mac: undefined, mac_hyphen: undefined, hostname: undefined, server: '10.0.0.1', nfs_path: '' });
    assert.ok(out.includes(' nfsroot=10.0.0.1:/netboot/node/0A000005,v3 '));
  });

  test('no syslog file on this machine: the converted config reads journald instead', () => {
    const r = convertLegacyConfig(orig('pxebootfs.cfg'), '/etc/pxebootfs/pxebootfs.cfg', { server: '10.0.0.1', cidr: '10.0.0.0/24' });
    assert.match(r.yaml, /^  - \{ type: journal \}$/m);
    assert.doesNotMatch(r.yaml, /type: syslog/);
  });

  test('an empty required key is named', () => {
    const r = convertLegacyConfig('[PXEBOOTFS]\nroot_dir:\nnode_dir: /n\noverlay_dir: /o\npxe_template: /t\n', 'p.cfg', { cidr: '10.0.0.0/24' });
    assert.equal(r.fatal, true);
    assert.ok(r.problems.some((p) => p.path === 'PXEBOOTFS.root_dir' && /empty/.test(p.message)), JSON.stringify(r.problems));
  });
});
