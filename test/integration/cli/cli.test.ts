// The CLI as users run it: real processes, a real daemon with real overlay mounts and exportfs
// (root), our own exports file, temp dirs, and only PIDs we started.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, startDaemon, tempDir, waitFor } from '../../helpers/lab.ts';
import { CLI, cli, cliSync, leaseLine, makeLab, REPO, type Lab } from './cli-lab.ts';

after(cleanupAll);
requireRoot();
requireTool('exportfs');
requireTool('mount');

interface StatusNode {
  name: string;
  ip: string;
  mac?: string;
  hostname?: string;
  subnet: string;
  state: string;
  fsid: number;
  lastSeen: number;
  sources: string[];
  lastError?: string;
  timeline?: Array<{ what: string }>;
}

async function status(lab: Lab): Promise<{ from: string; nodes: StatusNode[] }> {
  const r = await cli(['status', '--json', '-c', lab.config]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { from: string; nodes: StatusNode[] };
}

let runs = 0;
function startRun(lab: Lab, extra: string[] = []) {
  const logFile = path.join(lab.dir, `daemon-${++runs}.log`);
  const d = startDaemon('pxebootd', [process.execPath, CLI, 'run', '-c', lab.config, ...extra], { logFile });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  return { d, log, logFile };
}

async function waitStarted(lab: Lab, log: () => string): Promise<void> {
  await waitFor('daemon started', () => log().includes('pxebootd started'), 20_000);
  assert.ok(existsSync(lab.socket));
}

describe('pxebootd CLI', () => {
  test('check prints every problem as FILE:LINE:COL and exits non-zero', async () => {
    const dir = tempDir('pxe-cli-check-');
    writeFileSync(path.join(dir, 't.template'), 'DEFAULT <NODE>\nAPPEND {{nosuchvar}}\n');
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'server: 10.99.0.1',
        'colour: blue',
        'subnets:',
        '  - cidr: 10.99.0.0/33',
        '    root_dir: /r',
        '    node_dir: /n',
        '    overlay_dir: /o',
        '  - cidr: 10.99.1.0/24',
        '    root_dir: /r',
        '    node_dir: /n',
        '    overlay_dir: /o',
        '    pxe_template: t.template',
        '',
      ].join('\n'),
    );
    const r = cliSync(['check', '-c', file]);
    assert.notEqual(r.code, 0);
    const lines = r.stderr.split('\n');
    assert.ok(lines.some((l) => l.startsWith(`${file}:2:1: `) && l.includes('colour')), r.stderr);
    assert.ok(lines.some((l) => l.startsWith(`${file}:4:11: `) && l.includes('/33')), r.stderr);
    assert.ok(lines.some((l) => l.startsWith(`${path.join(dir, 't.template')}:2:8: `) && l.includes('nosuchvar')), r.stderr);
  });

  test('check passes a good config; bad usage exits 2; --version and --help work', async () => {
    const lab = makeLab();
    const ok = cliSync(['check', '-c', lab.config]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /ok \(2 subnets/);
    assert.equal(cliSync(['status', '--bogus', '-c', lab.config]).code, 2);
    assert.equal(cliSync(['nonsense']).code, 2);
    assert.equal(cliSync(['provision', 'not-an-ip', '-c', lab.config]).code, 2);
    const v = cliSync(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^pxebootd \d+\.\d+\.\d+/);
    assert.match(cliSync(['--help']).stdout, /explain <mac\|ip>/);
  });

  test('bin/pxebootd.js runs the CLI', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'pxebootd.js'), '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^pxebootd /);
  });

  test('bin/pxebootd.js run re-executes itself in place (same PID) with its memory profile, keeping what the caller set', async () => {
    const procArgs = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const procEnv = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const start = async (nodeFlags: string[], env: NodeJS.ProcessEnv) => {
      const lab = makeLab();
      const logFile = path.join(lab.dir, `bin-${++runs}.log`);
      const d = startDaemon('pxebootd', [process.execPath, ...nodeFlags, path.join(REPO, 'bin', 'pxebootd.js'), 'run', '-c', lab.config, '--dry-run'], { logFile, env: { ...process.env, ...env } });
      await waitStarted(lab, () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''));
      return d;
    };
    const plain = { ...process.env };
    delete plain.MALLOC_ARENA_MAX;
    delete plain.NODE_OPTIONS;
    const d = await start([], plain);
    const args = procArgs(d.pid);
    assert.equal(args[1], '--max-semi-space-size=2', `cmdline of pid ${d.pid}: ${args.join(' ')}`);
    assert.ok(procEnv(d.pid).includes('MALLOC_ARENA_MAX=1'));
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);

    const own = await start(['--max-semi-space-size=8'], { ...plain, MALLOC_ARENA_MAX: '4' });
    const ownArgs = procArgs(own.pid);
    assert.ok(ownArgs.includes('--max-semi-space-size=8') && !ownArgs.includes('--max-semi-space-size=2'), ownArgs.join(' '));
    assert.ok(procEnv(own.pid).includes('MALLOC_ARENA_MAX=4'));
    own.child.kill('SIGTERM');
    assert.equal(await own.exited, 0);

    // the one switch: no flag, no variable, no re-exec
    const off = await start([], { ...plain, PXEBOOTD_MEMORY_TUNING: 'off' });
    const offArgs = procArgs(off.pid);
    assert.ok(!offArgs.some((x) => x.startsWith('--max-semi-space-size')), offArgs.join(' '));
    assert.ok(!procEnv(off.pid).some((x) => x.startsWith('MALLOC_ARENA_MAX=')));
    off.child.kill('SIGTERM');
    assert.equal(await off.exited, 0);
  });

  test('bin/pxebootd.js refuses a Node older than 22.22 with a clear message', () => {
    const fake = `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '20.11.1' } }); await import(${JSON.stringify(path.join(REPO, 'bin', 'pxebootd.js'))});`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', fake], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /needs Node\.js >= 22\.22, found 20\.11\.1/);
  });

  test('explain shows the matching rule, why, and the exact plan; applies nothing', async () => {
    const lab = makeLab({ extra: 'hosts:\n  - { mac: "52:54:00:aa:00:05", vars: { kernel: vmlinuz-special } }\n' });
    const r = await cli(['explain', '10.99.0.5', '--mac', '52:54:00:aa:00:05', '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr);
    const node = path.join(lab.dir, 'run/node/0A630005');
    assert.match(r.stdout, /subnet 10\.99\.0\.0\/24 at .*pxebootd\.yaml:\d+:\d+ is the longest prefix/);
    assert.match(r.stdout, /host rule at .* matches by mac 52:54:00:aa:00:05/);
    assert.match(r.stdout, /fsid 4200 \(would be allocated\)/);
    assert.ok(r.stdout.includes(`mount -t overlay overlay -o lowerdir=${path.join(lab.dir, 'root')}`), r.stdout);
    assert.ok(r.stdout.includes(`${node} 10.99.0.5(`) && r.stdout.includes('fsid=4200'), r.stdout);
    assert.ok(r.stdout.includes(path.join(lab.tftp, 'pxelinux.cfg', '01-52-54-00-aa-00-05')), r.stdout);
    const j = await cli(['explain', '10.99.0.5', '--json', '-c', lab.config]);
    const plan = JSON.parse(j.stdout) as { match: string; plan: { fsid: number; exportEntry: string } };
    assert.equal(plan.match, 'match');
    assert.equal(plan.plan.fsid, 4200);
    const ign = await cli(['explain', '10.99.9.9', '-c', lab.config]);
    assert.match(ign.stdout, /ignored/);
    assert.equal(existsSync(node), false, 'explain mounted nothing');
    assert.equal(existsSync(lab.exportsFile), false, 'explain exported nothing');
    assert.equal(existsSync(path.join(lab.dir, 'state')), false, 'explain wrote no state');
  });

  test('hook with no daemon warns and exits 0 quickly', () => {
    const lab = makeLab();
    const r = cliSync(['hook', '-c', lab.config, 'add', '52:54:00:aa:00:01', '10.99.0.9', 'host1']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /no pxebootd answers/);
    // generous bound (node start-up included); the point is that it does not wait for anything
    assert.ok(r.ms < 3000, `hook took ${r.ms} ms`);
  });

  test('run: leases become ready nodes (real mounts + exportfs), status shows every field, SIGTERM exits 0', async () => {
    const lab = makeLab();
    writeFileSync(lab.leases, leaseLine('52:54:00:aa:00:11', '10.99.0.11', 'alpha') + leaseLine('52:54:00:aa:00:12', '10.99.0.12'));
    const { d, log } = startRun(lab);
    await waitStarted(lab, log);
    await waitFor('two ready', async () => (await status(lab)).nodes.filter((n) => n.state === 'ready').length === 2, 20_000, 100);
    const s = await status(lab);
    assert.equal(s.from, 'daemon');
    const a = s.nodes.find((n) => n.ip === '10.99.0.11')!;
    assert.equal(a.name, '0A63000B');
    assert.equal(a.mac, '52:54:00:aa:00:11');
    assert.equal(a.hostname, 'alpha');
    assert.equal(a.subnet, '10.99.0.0/24');
    assert.ok([4200, 4201].includes(a.fsid));
    assert.ok(a.lastSeen > 0);
    assert.ok(a.sources[0]!.startsWith('dnsmasq-leases:'));
    assert.ok(a.timeline!.some((t) => t.what === 'ready'));
    assert.ok(existsSync(path.join(lab.tftp, 'pxelinux.cfg', '01-52-54-00-aa-00-11')));
    assert.match(readFileSync(lab.exportsFile, 'utf8'), /run\/node\/0A63000B 10\.99\.0\.11\(.*fsid=42\d\d/);
    assert.match(readFileSync('/var/lib/nfs/etab', 'utf8'), new RegExp(`${lab.dir}/run/node/0A63000B\\t10\\.99\\.0\\.11\\(`));
    const table = await cli(['status', '-c', lab.config]);
    assert.match(table.stdout, /NODE\s+MAC\s+IP\s+HOSTNAME\s+SUBNET\s+STATE\s+FSID\s+LAST SEEN\s+SOURCES\s+LAST ERROR/);
    assert.match(table.stdout, /0A63000B\s+52:54:00:aa:00:11\s+10\.99\.0\.11\s+alpha\s+10\.99\.0\.0\/24\s+ready/);
    const one = await cli(['status', '10.99.0.11', '-c', lab.config]);
    assert.match(one.stdout, /^1 node /m);
    assert.match(one.stdout, /timeline of 0A63000B \(last boot\):\n.*dnsmasq-leases seen[\s\S]*ready/);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0, log().slice(-2000));
    assert.equal(existsSync(lab.socket), false, 'socket removed');
    // without a daemon, status reads the state file
    const after = await status(lab);
    assert.equal(after.from, 'state-file');
    assert.equal(after.nodes.find((n) => n.name === '0A63000B')?.fsid, a.fsid);
    // a restart keeps every fsid
    const again = startRun(lab);
    await waitStarted(lab, again.log);
    const s2 = await status(lab);
    assert.deepEqual(s2.nodes.map((n) => [n.name, n.fsid]).sort(), s.nodes.map((n) => [n.name, n.fsid]).sort());
    assert.match(again.log(), /restored 2 of 2 ready nodes/);
    again.d.child.kill('SIGINT');
    assert.equal(await again.d.exited, 0);
  });

  test('a second daemon on the same socket or state_dir is refused', async () => {
    const lab = makeLab();
    const { d, log } = startRun(lab);
    await waitStarted(lab, log);
    const r = await cli(['run', '-c', lab.config], { timeoutMs: 20_000 });
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /another pxebootd is already running/);
    // the same state_dir behind another socket: refused too (fsids would be handed out twice)
    const other = path.join(lab.dir, 'other.yaml');
    writeFileSync(other, readFileSync(lab.config, 'utf8').replace('control_socket: run/control.sock', 'control_socket: run/other.sock'));
    const r2 = await cli(['run', '-c', other], { timeoutMs: 20_000 });
    assert.equal(r2.code, 1);
    assert.match(r2.stdout + r2.stderr, /state_dir .* is in use by pxebootd pid/);
    assert.equal(existsSync(path.join(lab.dir, 'run/other.sock')), false, 'the refused daemon removed its socket');
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  });

  test('SIGHUP with a broken config keeps running with the old one', async () => {
    const lab = makeLab();
    const { d, log } = startRun(lab);
    await waitStarted(lab, log);
    const good = readFileSync(lab.config, 'utf8');
    writeFileSync(lab.config, good.replace('cidr: 10.99.0.0/24', 'cidr: 10.99.0.0/99') + 'bogus_key: 1\n');
    d.child.kill('SIGHUP');
    await waitFor('reload failure logged', () => log().includes('reload failed; keeping the running config'), 10_000);
    assert.match(log(), /pxebootd\.yaml:\d+:\d+: .*\/99/);
    assert.match(log(), /pxebootd\.yaml:\d+:\d+: .*bogus_key/);
    // still alive, still provisioning with the old rules
    appendFileSync(lab.leases, leaseLine('52:54:00:aa:00:21', '10.99.0.21'));
    await waitFor('ready after a failed reload', async () => (await status(lab)).nodes.some((n) => n.ip === '10.99.0.21' && n.state === 'ready'), 20_000, 100);
    writeFileSync(lab.config, good);
    d.child.kill('SIGHUP');
    await waitFor('reload ok', () => log().includes('config reloaded'), 10_000);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  });

  test('provision and release through the running daemon\'s queue', async () => {
    const lab = makeLab();
    const { d, log } = startRun(lab);
    await waitStarted(lab, log);
    const p = await cli(['provision', '10.99.0.31', '--mac', '52:54:00:aa:00:31', '--hostname', 'by-hand', '-c', lab.config]);
    assert.equal(p.code, 0, p.stderr + p.stdout);
    assert.match(p.stdout, /0A63001F 10\.99\.0\.31: ready/);
    assert.ok(existsSync(path.join(lab.tftp, 'pxelinux.cfg', '01-52-54-00-aa-00-31')));
    assert.deepEqual((await status(lab)).nodes.find((n) => n.name === '0A63001F')?.sources, ['cli:provision']);
    const ignored = await cli(['provision', '10.99.9.31', '-c', lab.config]);
    assert.equal(ignored.code, 1);
    const r = await cli(['release', '52:54:00:aa:00:31', '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /released/);
    assert.equal(existsSync(path.join(lab.tftp, 'pxelinux.cfg', '01-52-54-00-aa-00-31')), false, 'boot files gone with the export');
    assert.doesNotMatch(readFileSync(lab.exportsFile, 'utf8'), /10\.99\.0\.31\(/);
    const s = await status(lab);
    assert.equal(s.nodes.find((n) => n.name === '0A63001F')?.state, 'released');
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  });

  test('hook events from dnsmasq reach the daemon and provision the client', async () => {
    const lab = makeLab();
    const { d, log } = startRun(lab);
    await waitStarted(lab, log);
    const env = { ...process.env, DNSMASQ_VENDOR_CLASS: 'PXEClient:Arch:00000:UNDI:002001', DNSMASQ_INTERFACE: 'br0', SECRET_THING: 'not forwarded' };
    const r = cliSync(['hook', '-c', lab.config, 'add', '52:54:00:aa:00:41', '10.99.0.41', 'hooked'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    await waitFor('hooked node ready', async () => (await status(lab)).nodes.some((n) => n.ip === '10.99.0.41' && n.state === 'ready'), 20_000, 100);
    // dnsmasq calls the script without the "hook" word: that works too
    const r2 = cliSync(['old', '52:54:00:aa:00:42', '10.99.0.42'], { ...env, PXEBOOTD_CONFIG: lab.config });
    assert.equal(r2.code, 0, r2.stderr);
    await waitFor('second hooked node ready', async () => (await status(lab)).nodes.some((n) => n.ip === '10.99.0.42' && n.state === 'ready'), 20_000, 100);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  });

  test('provision and release without a daemon run in-process and save state', async () => {
    const lab = makeLab();
    const p = await cli(['provision', '10.99.0.51', '--mac', '52:54:00:aa:00:51', '-c', lab.config]);
    assert.equal(p.code, 0, p.stderr + p.stdout);
    assert.match(p.stderr, /no daemon .* running provision in this process/);
    const s = JSON.parse(readFileSync(lab.stateFile, 'utf8')) as { nodes: StatusNode[] };
    assert.equal(s.nodes[0]!.state, 'ready');
    assert.equal(s.nodes[0]!.fsid, 4200);
    assert.equal(statSync(lab.stateFile).mode & 0o777, 0o600);
    const r = await cli(['release', '10.99.0.51', '-c', lab.config]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const s2 = JSON.parse(readFileSync(lab.stateFile, 'utf8')) as { nodes: StatusNode[] };
    assert.equal(s2.nodes[0]!.state, 'released');
  });

  test('run --dry-run logs the plan and changes nothing', async () => {
    const lab = makeLab();
    writeFileSync(lab.leases, leaseLine('52:54:00:aa:00:61', '10.99.0.61'));
    const { d, log } = startRun(lab, ['--dry-run']);
    await waitStarted(lab, log);
    await waitFor('plan logged', () => log().includes('dry run: plan for 0A63003D'), 20_000);
    assert.match(log(), /mount -t overlay overlay/);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);
    assert.equal(existsSync(path.join(lab.dir, 'run/node/0A63003D')), false);
    assert.equal(existsSync(lab.exportsFile), false);
    assert.equal(existsSync(lab.stateFile), false);
    assert.equal(existsSync(path.join(lab.tftp, 'pxelinux.cfg')), false);
  });

  test('import-legacy prints YAML for a fuse_pxebootfs config', async () => {
    const dir = tempDir('pxe-cli-legacy-');
    const cfg = path.join(dir, 'pxebootfs.cfg');
    writeFileSync(cfg, '[PXEBOOTFS]\npxe_template = /etc/pxebootfs/pxelinux.cfg.template\nnode_dir = /srv/node\nroot_dir = /srv/root\noverlay_dir = /srv/overlay\nstart_fsid = 500\n');
    const r = await cli(['import-legacy', cfg, '--cidr', '10.5.0.0/16']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /start_fsid: 500/);
    assert.match(r.stdout, /cidr: 10\.5\.0\.0\/16/);
  });
});
