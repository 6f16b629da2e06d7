import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { checkConfig, loadConfig } from '../../../src/config/index.ts';
import { ConfigError, formatProblem } from '../../../src/errors.ts';
import { cleanupAll, tempDir } from '../../helpers/lab.ts';

after(cleanupAll);

describe('checkConfig / loadConfig on real files', () => {
  test('a missing config file is one located problem, not a throw', async () => {
    const r = await checkConfig('/nonexistent/pxa/pxebootd.yaml');
    assert.deepEqual(r.problems.map(formatProblem), ['/nonexistent/pxa/pxebootd.yaml:1:1: cannot read config file: ENOENT']);
    await assert.rejects(loadConfig('/nonexistent/pxa/pxebootd.yaml'), (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG');
  });

  test('three mistakes in a file: loadConfig throws one ConfigError listing all three', async () => {
    const dir = tempDir('pxa-load-');
    mkdirSync(path.join(dir, 'root'));
    writeFileSync(path.join(dir, 'pxe.tmpl'), 'LABEL x\n  APPEND nfsroot={{server}}:{{nfs_path}} {{kernal}}\n');
    const file = path.join(dir, 'pxebootd.yaml');
    writeFileSync(file, `server: 10.0.0.1
subnets:
  - cidr: 10.0.0.0/24
    root_dir: root
    node_dir: node
    overlay_dir: overlay
    pxe_template: pxe.tmpl
    overlay: persistant
hosts:
  - { mac: "52:54:00:12:34:5g" }
`);
    let err: ConfigError | undefined;
    try {
      await loadConfig(file);
    } catch (e) {
      err = e as ConfigError;
    }
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.message.split('\n'), [
      `${file}:8:14: subnets[0].overlay: expected one of "persistent" | "ephemeral", found "persistant"`,
      `${file}:10:12: hosts[0].mac: expected a MAC address such as 52:54:00:12:34:56, found "52:54:00:12:34:5g"`,
      `${dir}/pxe.tmpl:2:42: subnets[0].pxe_template: unknown template variable {{kernal}} (subnet 10.0.0.0/24; known: node, ip, ip_hex, mac, mac_hyphen, hostname, server, nfs_path)`,
    ]);
    assert.equal(err.problems.length, 3);
  });

  test('fixture three-mistakes/: the exact lines `pxebootd check` prints (expected.txt)', async () => {
    const dir = fileURLToPath(new URL('../../fixtures/config/three-mistakes', import.meta.url));
    const config = path.relative(process.cwd(), path.join(dir, 'pxebootd.yaml'));
    const expected = readFileSync(path.join(dir, 'expected.txt'), 'utf8').replaceAll('${CONFIG}', config).replaceAll('${DIR}', dir);
    const r = await checkConfig(config);
    assert.equal(r.config, undefined);
    assert.equal(r.problems.map(formatProblem).join('\n') + '\n', expected);
  });

  test('a valid file loads, with paths relative to its directory', async () => {
    const dir = tempDir('pxa-load-');
    mkdirSync(path.join(dir, 'img'));
    writeFileSync(path.join(dir, 'grub.tmpl'), 'linux /vmlinuz nfsroot={{server}}:{{nfs_path}}\n');
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'server: 10.0.0.1\nsubnets:\n  - { cidr: 10.0.0.0/24, root_dir: img, node_dir: n, overlay_dir: o, grub_template: grub.tmpl }\n');
    const c = await loadConfig(file);
    assert.equal(c.file, file);
    assert.equal(c.subnets[0]!.root_dir, path.join(dir, 'img'));
    assert.equal(c.subnets[0]!.grub_template, path.join(dir, 'grub.tmpl'));
    assert.equal(c.subnets[0]!.pos, `${file}:3:5`);
  });
});
