// createProvisioner end to end with a fake runner: mount, exportfs and the mount table are
// simulated, files are real (in a temp dir), so order, idempotence and failure handling show.
import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFakeRunner } from '../../helpers/fake-runner.ts';
import { silentLogger } from '../../../src/log.ts';
import { ConflictError, RunError } from '../../../src/errors.ts';
import type { Config } from '../../../src/types.ts';
import { createProvisioner } from '../../../provisioners/index.ts';
import { createApply } from '../../../src/pipeline/jobs.ts';
import { makeConfig, makeNode, makeRule, PXE_TEMPLATE } from './fixtures.ts';

interface Sim {
  base: string;
  config: Config;
  mounts: Map<string, string>;
  /** what the simulated kernel/exportfs do */
  mode: { dropNfsExport: boolean; mountFails: boolean; exportfsExit: number; exportfsStderr: string; etabOmit: Set<string> };
  events: string[];
  runner: ReturnType<typeof createFakeRunner>;
}

function setup(over: Partial<Config> = {}, dryRun = false): Sim {
  const base = mkdtempSync(path.join(tmpdir(), 'pxd-prov-'));
  process.on('exit', () => rmSync(base, { recursive: true, force: true }));
  for (const d of ['root', 'node', 'overlay', 'tftp', 'templates', 'exports.d']) mkdirSync(path.join(base, d));
  writeFileSync(path.join(base, 'templates/pxelinux.cfg.template'), PXE_TEMPLATE);
  const config = makeConfig(base, over);
  const mounts = new Map<string, string>();
  const mode = { dropNfsExport: false, mountFails: false, exportfsExit: 0, exportfsStderr: '', etabOmit: new Set<string>() };
  const events: string[] = [];
  let id = 100;
  const runner = createFakeRunner((argv) => {
    const tool = path.basename(argv[0]!);
    if (tool === 'mount') {
      const mp = argv.at(-1)!;
      events.push(`mount ${mp} bootfile=${existsSync(path.join(base, 'tftp/pxelinux.cfg')) && readdirSync(path.join(base, 'tftp/pxelinux.cfg')).length > 0}`);
      if (mode.mountFails) return { exitCode: 32, stderr: `mount: ${mp}: wrong fs type, bad option` };
      let opts = argv[5]!.replace('index=on,nfs_export=on', 'index=on,uuid=on,nfs_export=on');
      if (mode.dropNfsExport) opts = opts.replace(',index=on,uuid=on,nfs_export=on', ',uuid=on');
      mounts.set(mp, `${id++} 27 0:${id} / ${mp} rw,relatime - overlay overlay rw,${opts}`);
    } else if (tool === 'umount') {
      events.push(`umount ${argv[1]}`);
      mounts.delete(argv[1]!);
    } else if (tool === 'exportfs') {
      const files = existsSync(config.exports.file) ? readFileSync(config.exports.file, 'utf8') : '';
      events.push(`exportfs ${argv.slice(1).join(' ')}`);
      const etab = files
        .split('\n')
        .filter((l) => l.startsWith('/'))
        .filter((l) => !mode.etabOmit.has(l.split(' ')[0]!))
        .map((l) => {
          const [p, c] = l.split(' ');
          return `${p}\t${c!.replace('(', '(sync,wdelay,')}`;
        });
      writeFileSync(config.exports.etab, etab.join('\n') + '\n');
      return { exitCode: mode.exportfsExit, stderr: mode.exportfsStderr };
    }
  }, dryRun);
  return { base, config, mounts, mode, events, runner };
}

function provisionerFor(sim: Sim) {
  return createProvisioner(
    { config: sim.config, runner: sim.runner, log: silentLogger() },
    // the fake runner answers mount(2) calls like commands; pinned so the result is the same with or without the addon
    { readMountinfo: async () => [...sim.mounts.values()].join('\n') + '\n', mountMethod: { method: 'command', why: 'unit test' } },
  );
}

const runs = (sim: Sim, tool: string) => sim.runner.calls.filter((c) => path.basename(c.argv[0]!) === tool).length;

describe('provision', () => {
  let sim: Sim;
  beforeEach(() => {
    sim = setup();
  });

  test('mount -> exportfs -> boot files, with the exact mount argv and export line', async () => {
    const p = provisionerFor(sim);
    const node = makeNode(48);
    const rule = makeRule(sim.base);
    await p.provision(node, rule);
    const b = sim.base;
    assert.deepEqual(sim.runner.calls.map((c) => c.argv), [
      ['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${b}/root,upperdir=${b}/overlay/0A630032/upper,workdir=${b}/overlay/0A630032/work,index=on,nfs_export=on`, `${b}/node/0A630032`],
      ['exportfs', '-r'],
    ]);
    assert.ok(sim.runner.calls.every((c) => c.opts.mutating));
    assert.match(readFileSync(sim.config.exports.file, 'utf8'), new RegExp(`^${b}/node/0A630032 10\\.99\\.0\\.50\\(rw,no_root_squash,no_subtree_check,sync,fsid=10048\\)$`, 'm'));
    const cfg = readFileSync(`${b}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`, 'utf8');
    assert.match(cfg, /^# pxebootd: generated for node 0A630032/);
    assert.match(cfg, new RegExp(`nfsroot=10\\.99\\.0\\.1:${b}/node/0A630032,vers=3 ip=dhcp hostname=0A630032 node=0A630032`));
    assert.equal(readlinkSync(`${b}/tftp/pxelinux.cfg/0A630032`), '01-52-54-00-00-00-32');
    assert.equal(statSync(`${b}/overlay/0A630032/upper`).mode & 0o777, 0o755);
    assert.equal(statSync(`${b}/overlay/0A630032/work`).mode & 0o777, 0o700);
    assert.deepEqual(sim.events.slice(0, 1), [`mount ${b}/node/0A630032 bootfile=false`]);
    await p.close();
  });

  test('exportGate: the mount runs at once, the export waits for the gate (the fsid on disk), then boot files', async () => {
    const p = provisionerFor(sim);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const done = p.provision(makeNode(48), makeRule(sim.base), { exportGate: gate });
    for (let i = 0; i < 50 && runs(sim, 'mount') === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(runs(sim, 'mount'), 1, 'mounted before the gate opened');
    assert.equal(runs(sim, 'exportfs'), 0, 'not exported before the gate opened');
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`), false);
    open();
    await done;
    assert.equal(runs(sim, 'exportfs'), 1);
    assert.ok(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`));
    await p.close();
  });

  test('exportGate rejecting (fsid write failed): no export, no boot files, the error is thrown', async () => {
    const p = provisionerFor(sim);
    const gate = Promise.reject(new Error('ENOSPC: fsids.json'));
    gate.catch(() => {}); // as the daemon does: the caller also awaits it, later
    await assert.rejects(p.provision(makeNode(48), makeRule(sim.base), { exportGate: gate }), /ENOSPC/);
    assert.equal(runs(sim, 'exportfs'), 0);
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`), false);
    await p.close();
  });

  test('provisioning again changes nothing: no mount, no exportfs, same file inode', async () => {
    const p = provisionerFor(sim);
    const node = makeNode(48);
    const rule = makeRule(sim.base);
    await p.provision(node, rule);
    const f = `${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`;
    const ino = statSync(f).ino;
    const exportsIno = statSync(sim.config.exports.file).ino;
    await p.provision(node, rule);
    assert.equal(runs(sim, 'mount'), 1);
    assert.equal(runs(sim, 'exportfs'), 1, 'the etab check alone confirmed the export');
    assert.equal(statSync(f).ino, ino);
    assert.equal(statSync(sim.config.exports.file).ino, exportsIno);
    await p.close();
  });

  test('a fresh provisioner (daemon restart) finds the mount in place and re-checks the export', async () => {
    const node = makeNode(48);
    const rule = makeRule(sim.base);
    await provisionerFor(sim).provision(node, rule);
    const p2 = provisionerFor(sim);
    await p2.provision(node, rule);
    assert.equal(runs(sim, 'mount'), 1);
    await p2.close();
  });

  test('kernel fell back to nfs_export=off: unmounted again, node fails, no export, no boot files', async () => {
    sim.mode.dropNfsExport = true;
    const p = provisionerFor(sim);
    await assert.rejects(p.provision(makeNode(48), makeRule(sim.base)), /without nfs_export=on.*dmesg/);
    assert.equal(runs(sim, 'umount'), 1);
    assert.equal(runs(sim, 'exportfs'), 0);
    assert.equal(sim.mounts.size, 0);
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`), false);
  });

  test('mount fails: RunError with the command; stale boot files of the node are removed', async () => {
    const p = provisionerFor(sim);
    const node = makeNode(48);
    await p.provision(node, makeRule(sim.base));
    // server "reboot": mount gone, and now mount fails
    sim.mounts.clear();
    sim.mode.mountFails = true;
    const p2 = provisionerFor(sim);
    const err = await p2.provision(node, makeRule(sim.base)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RunError);
    assert.match(err.command, /^mount -t overlay overlay -o lowerdir=/);
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`), false);
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/0A630032`), false);
  });

  test('export missing from etab: the node fails and gets no boot files; others in the batch succeed', async () => {
    const p = provisionerFor(sim);
    const rule = makeRule(sim.base);
    sim.mode.etabOmit.add(`${sim.base}/node/0A630033`);
    const [a, bad] = await Promise.allSettled([p.provision(makeNode(48), rule), p.provision(makeNode(49), rule)]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(bad.status, 'rejected');
    assert.match(String((bad as PromiseRejectedResult).reason), /0A630033 is not in .*etab/);
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-33`), false);
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`), true);
    assert.equal(runs(sim, 'exportfs') <= 3, true);
    await p.close();
  });

  test('exportfs exit 1 about someone else\'s line: our nodes are live (etab trusted)', async () => {
    sim.mode.exportfsExit = 1;
    sim.mode.exportfsStderr = 'exportfs: Failed to stat /srv/someone-else: No such file or directory\n';
    const p = provisionerFor(sim);
    await p.provision(makeNode(48), makeRule(sim.base));
    assert.ok(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`));
    await p.close();
  });

  test('exportfs exit 1 naming our path: the node fails', async () => {
    sim.mode.exportfsExit = 1;
    sim.mode.exportfsStderr = `exportfs: Failed to stat ${sim.base}/node/0A630032: No such file or directory\n`;
    const p = provisionerFor(sim);
    await assert.rejects(p.provision(makeNode(48), makeRule(sim.base)), (e: unknown) => e instanceof RunError && /exportfs -r/.test(e.command));
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`), false);
    await p.close();
  });

  test('something else mounted at the node dir: ConflictError, never reused or mounted over', async () => {
    sim.mounts.set(`${sim.base}/node/0A630032`, `90 27 0:90 / ${sim.base}/node/0A630032 rw - overlay overlay rw,lowerdir=/elsewhere,upperdir=/u,workdir=/w,index=on,nfs_export=on`);
    const p = provisionerFor(sim);
    await assert.rejects(p.provision(makeNode(48), makeRule(sim.base)), ConflictError);
    assert.equal(runs(sim, 'mount'), 0);
  });

  test('template needs {{mac}} but the MAC is unknown: clear error, no boot file', async () => {
    writeFileSync(`${sim.base}/templates/mac.template`, 'APPEND BOOTIF=01-{{mac_hyphen}}\n');
    const p = provisionerFor(sim);
    const { mac: _m, ...node } = makeNode(48);
    await assert.rejects(p.provision(node, makeRule(sim.base, { pxe_template: `${sim.base}/templates/mac.template` })), /uses \{\{mac\}\} but the MAC of 10\.99\.0\.50 \(node 0A630032\) is not known/);
    const dir = `${sim.base}/tftp/pxelinux.cfg`;
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
    await p.close();
  });

  test('no MAC and a template without {{mac}}: only pxelinux.cfg/<HEXIP>', async () => {
    const p = provisionerFor(sim);
    const { mac: _m, ...node } = makeNode(48);
    await p.provision(node, makeRule(sim.base));
    assert.deepEqual(readdirSync(`${sim.base}/tftp/pxelinux.cfg`), ['0A630032']);
    assert.ok(lstatSync(`${sim.base}/tftp/pxelinux.cfg/0A630032`).isFile());
    // the MAC shows up later: 01-<mac> becomes canonical and the hex-IP file turns into a link
    await p.provision(makeNode(48), makeRule(sim.base));
    assert.equal(readlinkSync(`${sim.base}/tftp/pxelinux.cfg/0A630032`), '01-52-54-00-00-00-32');
    await p.close();
  });

  test('an admin-written file at a node\'s name is never overwritten', async () => {
    mkdirSync(`${sim.base}/tftp/pxelinux.cfg`);
    writeFileSync(`${sim.base}/tftp/pxelinux.cfg/0A630032`, 'DEFAULT hand-made\n');
    const p = provisionerFor(sim);
    await assert.rejects(p.provision(makeNode(48), makeRule(sim.base)), /not a pxebootd file/);
    assert.equal(readFileSync(`${sim.base}/tftp/pxelinux.cfg/0A630032`, 'utf8'), 'DEFAULT hand-made\n');
    await p.close();
  });

  test('ephemeral: fresh upper when the node is not exported; kept while it is', async () => {
    const p = provisionerFor(sim);
    const rule = makeRule(sim.base, { overlay: 'ephemeral' });
    const node = makeNode(48);
    await p.provision(node, rule);
    writeFileSync(`${sim.base}/overlay/0A630032/upper/written-by-guest`, 'x');
    await p.provision(node, rule); // exported and mounted: left alone
    assert.ok(existsSync(`${sim.base}/overlay/0A630032/upper/written-by-guest`));
    await p.release(node, rule, 'unexport');
    await p.provision(node, rule); // a new boot after release: unexport was done, so umount -> wipe -> mount
    assert.equal(existsSync(`${sim.base}/overlay/0A630032/upper/written-by-guest`), false);
    assert.deepEqual(sim.events.filter((e) => !e.startsWith('exportfs')).map((e) => e.split(' ')[0]), ['mount', 'umount', 'mount']);
    await p.close();
  });
});

describe('stale exports', () => {
  test('an entry in our file whose node dir has no overlay mounted (server rebooted) is dropped at the next flush', async () => {
    const sim = setup();
    const stale = `${sim.base}/node/0A6300FF 10.99.0.255(rw,no_root_squash,no_subtree_check,sync,fsid=20000)`;
    mkdirSync(path.dirname(sim.config.exports.file), { recursive: true });
    writeFileSync(sim.config.exports.file, `# old\n${stale.replace('10.99.0.255', '10.99.0.254')}\n`);
    const p = provisionerFor(sim);
    await p.provision(makeNode(48), makeRule(sim.base));
    const text = readFileSync(sim.config.exports.file, 'utf8');
    assert.ok(!text.includes('0A6300FF'), text);
    assert.ok(text.includes(`${sim.base}/node/0A630032 `));
    await p.close();
  });
});

describe('release', () => {
  test('keep does nothing; unexport removes boot files then the export; remove also unmounts and wipes', async () => {
    const sim = setup();
    const p = provisionerFor(sim);
    const rule = makeRule(sim.base);
    const [n1, n2] = [makeNode(48), makeNode(49)];
    await Promise.all([p.provision(n1, rule), p.provision(n2, rule)]);
    const before = sim.runner.calls.length;
    await p.release(n1, rule, 'keep');
    assert.equal(sim.runner.calls.length, before);
    assert.ok(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`));

    await p.release(n1, rule, 'unexport');
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`), false);
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/0A630032`), false);
    assert.ok(!readFileSync(sim.config.exports.file, 'utf8').includes('0A630032 '));
    assert.ok(sim.mounts.has(`${sim.base}/node/0A630032`), 'unexport keeps the mount');

    await p.release(n2, rule, 'remove');
    assert.equal(sim.mounts.has(`${sim.base}/node/0A630033`), false);
    assert.equal(existsSync(`${sim.base}/overlay/0A630033`), false);
    assert.ok(!readFileSync(sim.config.exports.file, 'utf8').includes('0A630033 '));
    const order = sim.events.slice(-2).map((e) => e.split(' ')[0]);
    assert.deepEqual(order, ['exportfs', 'umount'], 'unexport before umount');
    await p.close();
  });
});

describe('restore', () => {
  test('50 ready nodes: every mount back, ONE exportfs run, same fsids, errors per node', async () => {
    const sim = setup();
    const rule = makeRule(sim.base);
    const nodes = Array.from({ length: 50 }, (_, i) => ({ node: makeNode(i + 10, { state: 'ready' as const }), rule }));
    nodes.push({ node: makeNode(5, { name: '../evil', state: 'ready' }), rule });
    const p = provisionerFor(sim);
    const errors = await p.restore(nodes);
    assert.deepEqual([...errors.keys()], ['../evil']);
    assert.equal(sim.mounts.size, 50);
    assert.equal(runs(sim, 'exportfs'), 1);
    const text = readFileSync(sim.config.exports.file, 'utf8');
    for (const { node } of nodes.slice(0, 50)) assert.ok(text.includes(`${sim.base}/node/${node.name} ${node.ip}(rw,no_root_squash,no_subtree_check,sync,fsid=${node.fsid})`));
    await p.close();
  });
});

describe('restore with a broken template', () => {
  test('the node whose template cannot render gets an error; the others are restored', async () => {
    const sim = setup();
    writeFileSync(`${sim.base}/templates/mac.template`, 'APPEND {{mac}}\n');
    const { mac: _m, ...noMac } = makeNode(11, { state: 'ready' });
    const p = provisionerFor(sim);
    const errors = await p.restore([
      { node: makeNode(10, { state: 'ready' }), rule: makeRule(sim.base) },
      { node: noMac, rule: makeRule(sim.base, { pxe_template: `${sim.base}/templates/mac.template` }) },
    ]);
    assert.deepEqual([...errors.keys()], ['0A63000D']);
    assert.match(errors.get('0A63000D')!.message, /MAC of 10\.99\.0\.13/);
    assert.ok(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-0c`));
    await p.close();
  });
});

describe('dry-run', () => {
  test('provision, release and restore write nothing and run nothing', async () => {
    const sim = setup({}, true);
    const real = provisionerFor(sim);
    // dry-run is decided by the apply stage, in front of the provisioner
    const p = { ...createApply(real, silentLogger(), () => sim.config, true), close: () => real.close() };
    const rule = makeRule(sim.base);
    const snapshot = () => readdirSync(sim.base, { recursive: true }).sort().join('\n');
    const before = snapshot();
    await p.provision(makeNode(48), rule);
    await p.release(makeNode(48), rule, 'remove');
    await p.restore([{ node: makeNode(49), rule }]);
    await p.writeDefault();
    assert.equal(snapshot(), before);
    assert.equal(sim.runner.calls.filter((c) => c.opts.mutating).length, 0);
    await p.close();
  });
});

describe('plan', () => {
  test('exact plan: steps in order, export line, nfs path, boot files', async () => {
    const sim = setup();
    const p = provisionerFor(sim);
    const plan = await p.plan(makeNode(48), makeRule(sim.base));
    assert.deepEqual(plan.steps.map((s) => s.op), ['mkdir', 'mount', 'verify-mount', 'export', 'reload', 'write', 'link']);
    assert.equal(plan.exportEntry, `${sim.base}/node/0A630032 10.99.0.50(rw,no_root_squash,no_subtree_check,sync,fsid=10048)`);
    assert.equal(plan.nfsPath, `${sim.base}/node/0A630032`);
    assert.deepEqual(plan.bootFiles, [`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`, `${sim.base}/tftp/pxelinux.cfg/0A630032`]);
    assert.deepEqual(p.planRelease(makeNode(48), makeRule(sim.base), 'remove').steps.map((s) => s.op), ['unlink', 'unlink', 'unexport', 'umount', 'wipe']);
    assert.equal(sim.runner.calls.length, 0);
  });

  test('the plan is made against what is in place: after a provision, a check of the mount and the export; restore exports again', async () => {
    const sim = setup();
    const p = provisionerFor(sim);
    const rule = makeRule(sim.base);
    await p.provision(makeNode(48), rule);
    const before = sim.runner.calls.length;
    assert.deepEqual((await p.plan(makeNode(48), rule)).steps.map((s) => s.op), ['verify-mount', 'verify-export', 'write', 'link']);
    assert.deepEqual((await p.plan(makeNode(48), rule, { restore: true })).steps.map((s) => s.op), ['verify-mount', 'export', 'reload', 'write', 'link']);
    // another IP for the same node: its entry is replaced
    assert.deepEqual((await p.plan(makeNode(48, { ip: '10.99.0.77' }), rule)).steps.map((s) => s.op), ['verify-mount', 'export', 'reload', 'write', 'link']);
    // the overlay gone behind pxebootd's back: mounted again, the export checked
    sim.mounts.clear();
    assert.deepEqual((await p.plan(makeNode(48), rule)).steps.map((s) => s.op), ['mkdir', 'mount', 'verify-mount', 'verify-export', 'write', 'link']);
    // planning read, it ran nothing
    assert.equal(sim.runner.calls.length, before);
    await p.close();
  });

  test('ganesha: EXPORT block with the pseudo path, and {{nfs_path}} is the pseudo path', async () => {
    const sim = setup({ exports: { backend: 'ganesha', file: '', options: '', start_fsid: 1, etab: '', pseudo_root: '/nodes' } as never });
    sim.config.exports = { ...sim.config.exports, backend: 'ganesha', file: `${sim.base}/ganesha-exports.conf`, pseudo_root: '/nodes', pid_file: `${sim.base}/ganesha.pid` };
    const p = provisionerFor(sim);
    const plan = await p.plan(makeNode(48, { fsid: 101 }), makeRule(sim.base));
    assert.equal(plan.nfsPath, '/nodes/0A630032');
    assert.match(plan.exportEntry, /Export_Id = 101; Path = ".*\/node\/0A630032"; Pseudo = "\/nodes\/0A630032"; Access_Type = None;.*CLIENT \{ Clients = 10\.99\.0\.50; Access_Type = RW; \}/);
    await assert.rejects(p.plan(makeNode(48, { fsid: 70000 }), makeRule(sim.base)), /1\.\.65535/);
    // the pid file names a process that is not ganesha.nfsd (this test process): refuse to signal it
    writeFileSync(`${sim.base}/ganesha.pid`, `${process.pid}\n`);
    await assert.rejects(p.provision(makeNode(48, { fsid: 101 }), makeRule(sim.base)), /not ganesha\.nfsd/);
    assert.equal(existsSync(`${sim.base}/tftp/pxelinux.cfg/01-52-54-00-00-00-32`), false);
    await p.close().catch(() => {});
  });
});

describe('orphans and default', () => {
  test('findOrphans reports mounts, exports and marked boot files state does not know; cleanOrphans removes them', async () => {
    const sim = setup();
    const p = provisionerFor(sim);
    const rule = makeRule(sim.base);
    const nodes = [makeNode(48), makeNode(49), makeNode(50)];
    await Promise.all(nodes.map((n) => p.provision(n, rule)));
    writeFileSync(`${sim.base}/tftp/pxelinux.cfg/admin-file`, 'DEFAULT x\n');
    writeFileSync(`${sim.base}/tftp/pxelinux.cfg/.01-52-54-00-00-00-32.999999999.0a1b2c3d.tmp`, 'half written by a killed pxebootd');
    const report = await p.findOrphans([nodes[0]!]);
    assert.deepEqual(report.mounts, [`${sim.base}/node/0A630033`, `${sim.base}/node/0A630034`]);
    assert.equal(report.exports.length, 2);
    assert.ok(report.exports.every((l) => /0A63003[34] 10\.99\.0\.5[12]\(/.test(l)));
    assert.deepEqual(report.bootFiles.map((f) => path.basename(f)).sort(), ['.01-52-54-00-00-00-32.999999999.0a1b2c3d.tmp', '01-52-54-00-00-00-33', '01-52-54-00-00-00-34', '0A630033', '0A630034']);
    await p.cleanOrphans(report);
    assert.deepEqual(readdirSync(`${sim.base}/tftp/pxelinux.cfg`).sort(), ['01-52-54-00-00-00-32', '0A630032', 'admin-file']);
    assert.deepEqual([...sim.mounts.keys()], [`${sim.base}/node/0A630032`]);
    assert.deepEqual(await p.findOrphans([nodes[0]!]), { mounts: [], exports: [], bootFiles: [] });
    await p.close();
  });

  test('writeDefault renders default_template into pxelinux.cfg/default', async () => {
    const sim = setup();
    writeFileSync(`${sim.base}/templates/default`, 'DEFAULT wait\nAPPEND server={{server}}\n');
    sim.config.default_template = `${sim.base}/templates/default`;
    await provisionerFor(sim).writeDefault();
    assert.equal(readFileSync(`${sim.base}/tftp/pxelinux.cfg/default`, 'utf8'), 'DEFAULT wait\nAPPEND server=10.99.0.1\n');
  });
});
