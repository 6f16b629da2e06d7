// `pxebootd explain` where it used to give up: a MAC known only to a host rule, and a config whose
// root_dir does not exist yet. Real config files, the real CLI.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, onCleanup, sh } from '../../helpers/lab.ts';
import { cli, makeLab } from './cli-lab.ts';

after(cleanupAll);

describe('pxebootd explain', () => {
  test('a MAC with a host rule but no IP yet: the host rule, and which IP/subnet the plan still needs', async () => {
    const lab = makeLab({ extra: 'hosts:\n  - { mac: "52:54:00:aa:00:91", overlay: ephemeral }\n' });
    const r = await cli(['explain', '52:54:00:aa:00:91', '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^client: {2}mac 52:54:00:aa:00:91, ip unknown/m);
    assert.match(r.stdout, /^host rule: hosts by mac 52:54:00:aa:00:91 \(.*pxebootd\.yaml:\d+:\d+\): overlay ephemeral$/m);
    assert.match(r.stdout, /^needs: {3}the client's IP\. .*10\.99\.0\.0\/24/m);
    const j = await cli(['explain', '52:54:00:aa:00:91', '--json', '-c', lab.config]);
    const o = JSON.parse(j.stdout) as { needs: string; hostRules: Array<{ mac: string }> };
    assert.equal(o.needs, 'ip');
    assert.equal(o.hostRules[0]!.mac, '52:54:00:aa:00:91');
  });

  test('a host rule that names the IP gives the whole plan from the MAC alone', async () => {
    const lab = makeLab({ extra: 'hosts:\n  - { mac: "52:54:00:aa:00:92", ip: 10.99.0.92 }\n' });
    const r = await cli(['explain', '52:54:00:aa:00:92', '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^client: {2}ip 10\.99\.0\.92, mac 52:54:00:aa:00:92/m);
    assert.match(r.stdout, /^rule: {4}subnet 10\.99\.0\.0\/24.*, host 52:54:00:aa:00:92/m);
    assert.match(r.stdout, /^plan:$/m);
  });

  test('root_dir missing: still explained, with the missing path listed as a problem (exit 1)', async () => {
    const lab = makeLab();
    rmSync(path.join(lab.dir, 'root'), { recursive: true, force: true });
    const r = await cli(['explain', '10.99.0.93', '--mac', '52:54:00:aa:00:93', '-c', lab.config]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^plan:$/m);
    assert.match(r.stdout, /mount -t overlay overlay -o lowerdir=.*\/root,/);
    assert.match(r.stdout, /^problems \(the plan below is made without them.*\n {2}.*pxebootd\.yaml:\d+:\d+: subnets\[0\]\.root_dir: root_dir not found: /m);
    // a config that is wrong in itself still stops explain, with every problem
    const bad = makeLab({ extra: 'bogus_key: 1\n' });
    const b = await cli(['explain', '10.99.0.93', '-c', bad.config]);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /unknown key "bogus_key"/);
  });

  test('the plan is made against what is in place: an export already in the file is a check, a foreign mount a refusal', async () => {
    const lab = makeLab();
    // this test's exports file is its own, outside /etc/exports.d: nobody's exportfs reads it
    const exportsFile = path.join(lab.dir, 'pxebootd.exports');
    writeFileSync(lab.config, readFileSync(lab.config, 'utf8').replace(`file: ${lab.exportsFile}`, `file: ${exportsFile}`));
    const args = ['explain', '10.99.0.94', '--mac', '52:54:00:aa:00:94', '-c', lab.config];
    const first = await cli(args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^in place: nothing mounted at .*\/run\/node\/0A63005E; not in .*pxebootd\.exports$/m);
    assert.match(first.stdout, /^ {2}\d+\. add to .*pxebootd\.exports: /m);
    const { plan } = JSON.parse((await cli([...args, '--json'])).stdout) as { plan: { exportEntry: string } };
    writeFileSync(exportsFile, `${plan.exportEntry}\n`);
    const exported = await cli(args);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /^in place: nothing mounted at .*; exported in .*pxebootd\.exports as planned$/m);
    assert.match(exported.stdout, /^ {2}\d+\. already in .*pxebootd\.exports: .*exportfs -r only if it is not there/m);
    assert.doesNotMatch(exported.stdout, /\. add to /);
    // a tmpfs where the node's overlay goes: the plan stops there
    const mp = path.join(lab.dir, 'run/node/0A63005E');
    mkdirSync(mp, { recursive: true });
    sh('mount', ['-t', 'tmpfs', 'pxd-explain-test', mp]);
    onCleanup(`umount ${mp}`, () => sh('umount', [mp], { allowFail: true }));
    try {
      const busy = await cli(args);
      assert.equal(busy.code, 0, busy.stderr);
      assert.match(busy.stdout, /^ {2}1\. stop: .*0A63005E has a tmpfs mount \(pxd-explain-test\), expected our overlay; not reusing it/m);
      assert.doesNotMatch(busy.stdout, /mount -t overlay/);
      const j = JSON.parse((await cli([...args, '--json'])).stdout) as { current: { mount: { kind: string } } };
      assert.equal(j.current.mount.kind, 'conflict');
    } finally {
      sh('umount', [mp], { allowFail: true });
    }
  });
});
