// `pxebootd explain` where it used to give up: a MAC known only to a host rule, and a config whose
// root_dir does not exist yet. Real config files, the real CLI.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll } from '../../helpers/lab.ts';
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
});
