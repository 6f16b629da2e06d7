import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { createFakeRunner } from '../helpers/fake-runner.ts';
import { ConfigError } from '../../src/errors.ts';
import { sendControl } from '../../src/control.ts';
import { cleanupAll, tempDir } from '../helpers/lab.ts';
import { harness, makeConfig, memoryLogger, seen, until, type Harness } from './daemon-fakes.ts';
import type { Config, NodeRecord } from '../../src/types.ts';

after(cleanupAll);

const MAC = '52:54:00:12:34:56';
const running: Daemon[] = [];
after(async () => {
  for (const d of running) await d.stop();
});

async function boot(over: Partial<Config> = {}, opts: { control?: boolean } = {}) {
  const dir = tempDir('pxe-daemon-');
  const config = makeConfig(dir, over);
  const h = harness(config.state_dir);
  const { log, lines } = memoryLogger();
  const d = createDaemon({ configFile: config.file, config, log, runner: createFakeRunner(), deps: h.deps, control: opts.control ?? false });
  running.push(d);
  await d.start();
  return { dir, config, h, d, lines };
}

const nodeOf = (d: Daemon, name: string): NodeRecord | undefined => d.nodes().find((n) => n.name === name);

describe('daemon', () => {
  test('event -> match -> provision -> ready, with the fsid on disk before provisioning', async () => {
    const { d, h } = await boot();
    h.sink().event(seen('10.99.0.50', MAC, { hostname: 'n50' } as never));
    await until('ready', () => nodeOf(d, '0A630032')?.state === 'ready');
    const n = nodeOf(d, '0A630032')!;
    assert.equal(n.fsid, 1000);
    assert.equal(n.mac, MAC);
    assert.equal(n.hostname, 'n50');
    assert.equal(n.subnet, '10.99.0.0/24');
    assert.deepEqual(n.sources, ['dnsmasq-leases:/leases']);
    assert.deepEqual(n.timeline?.map((t) => t.what), ['dnsmasq-leases seen', 'ready']);
    const call = h.provisioner.calls.find((c) => c.op === 'provision')!;
    assert.equal(call.fsid, 1000);
    assert.equal(call.fsidOnDisk, 1000, 'the fsid was durable before the export could go live');
    assert.equal(h.metrics.seenToReady.length, 1);
  });

  test('a ready node seen again is not re-provisioned; its TFTP requests go into the timeline', async () => {
    const { d, h } = await boot();
    h.sink().event(seen('10.99.0.51', MAC));
    await until('ready', () => nodeOf(d, '0A630033')?.state === 'ready');
    h.sink().event(seen('10.99.0.51', undefined, { source: 'syslog:/var/log/syslog', sourceType: 'syslog', file: 'pxelinux.cfg/01-52-54-00-12-34-56' } as never));
    h.sink().event(seen('10.99.0.51', MAC));
    await d.idle();
    await until('timeline', () => (nodeOf(d, '0A630033')?.timeline?.length ?? 0) >= 4);
    assert.equal(h.provisioner.calls.filter((c) => c.op === 'provision').length, 1);
    const n = nodeOf(d, '0A630033')!;
    assert.equal(n.mac, MAC, 'the TFTP event (IP only) was enriched with the known MAC');
    assert.deepEqual(n.timeline?.map((t) => t.what), ['dnsmasq-leases seen', 'ready', 'tftp pxelinux.cfg/01-52-54-00-12-34-56', 'dnsmasq-leases seen']);
  });

  test('unmatched and ignored clients are logged once each and never provisioned', async () => {
    const { d, h, lines } = await boot();
    for (let i = 0; i < 3; i++) {
      h.sink().event(seen('192.168.1.5', '52:54:00:00:00:05'));
      h.sink().event(seen('10.99.9.5', '52:54:00:00:00:06'));
    }
    await d.idle();
    await new Promise((r) => setTimeout(r, 20));
    // per client: one debug line, however often it is seen
    assert.deepEqual(lines.filter((l) => String(l.msg).includes('matches no subnet rule')).map((l) => l.level), [20]);
    assert.deepEqual(lines.filter((l) => String(l.msg).includes('ignored by rule')).map((l) => l.level), [20]);
    assert.equal(h.provisioner.calls.filter((c) => c.op === 'provision').length, 0);
    assert.equal(d.nodes().length, 0);
    // per rule: one info summary with the count (written at the latest at stop)
    await d.stop();
    const summaries = lines.filter((l) => l.level === 30 && l.skipped).map((l) => [l.rule, l.clients]);
    assert.deepEqual(summaries.sort(), [['no subnet rule', 1], ['subnet 10.99.9.0/24 at cfg:20:5', 1]]);
  });

  test('a provision failure shows as failed with its error, is retried, and recovers', async () => {
    const { d, h } = await boot();
    h.provisioner.failures.set('0A630034', 2);
    h.sink().event(seen('10.99.0.52', MAC));
    await until('failed', () => nodeOf(d, '0A630034')?.state === 'failed');
    assert.match(nodeOf(d, '0A630034')!.lastError!, /mount failed/);
    // another node is not held up by the failing one
    h.sink().event(seen('10.99.0.53', '52:54:00:00:00:53'));
    await until('other ready', () => nodeOf(d, '0A630035')?.state === 'ready');
    await until('recovered', () => nodeOf(d, '0A630034')?.state === 'ready');
    assert.equal(nodeOf(d, '0A630034')!.lastError, undefined);
    assert.equal(h.provisioner.calls.filter((c) => c.op === 'provision' && c.node === '0A630034').length, 3);
    assert.equal(nodeOf(d, '0A630034')!.fsid, h.provisioner.calls.find((c) => c.node === '0A630034')!.fsid, 'retries keep the fsid');
  });

  test('repeat sightings of a failing node do not cut its backoff short', async () => {
    const { d, h } = await boot({ queue: { concurrency: 8, retry_base_ms: 400, retry_max_ms: 400 } });
    h.provisioner.failures.set('0A630036', 1);
    h.sink().event(seen('10.99.0.54', MAC));
    await until('failed', () => nodeOf(d, '0A630036')?.state === 'failed');
    for (let i = 0; i < 5; i++) h.sink().event(seen('10.99.0.54', undefined, { source: 'syslog:x', sourceType: 'syslog', file: `f${i}` } as never));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.provisioner.calls.filter((c) => c.op === 'provision').length, 1, 'still waiting for the retry');
    await until('retried and ready', () => nodeOf(d, '0A630036')?.state === 'ready');
    assert.equal(h.provisioner.calls.filter((c) => c.op === 'provision').length, 2);
  });

  test('a gone client is released per on_release; keep does nothing', async () => {
    const { d, h } = await boot({
      subnets: [
        { cidr: '10.99.0.0/25', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', on_release: 'unexport' },
        { cidr: '10.99.0.128/25', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', on_release: 'keep' },
      ],
    });
    h.sink().event(seen('10.99.0.10', '52:54:00:00:00:10'));
    h.sink().event(seen('10.99.0.200', '52:54:00:00:00:20'));
    await until('both ready', () => d.nodes().filter((n) => n.state === 'ready').length === 2);
    h.sink().event({ kind: 'gone', ip: '10.99.0.10', mac: '52:54:00:00:00:10', source: 's', sourceType: 'dnsmasq-leases', time: Date.now() });
    h.sink().event({ kind: 'gone', ip: '10.99.0.200', source: 's', sourceType: 'dnsmasq-leases', time: Date.now() });
    await until('released', () => nodeOf(d, '0A63000A')?.state === 'released');
    await d.idle();
    const rel = h.provisioner.calls.filter((c) => c.op === 'release');
    assert.deepEqual(rel, [{ op: 'release', node: '0A63000A', policy: 'unexport' }]);
    assert.equal(nodeOf(d, '0A6300C8')?.state, 'ready', 'on_release: keep leaves the node ready');
    // it comes back: provisioned again with the same fsid
    const fsid = nodeOf(d, '0A63000A')!.fsid;
    h.sink().event(seen('10.99.0.10', '52:54:00:00:00:10'));
    await until('ready again', () => nodeOf(d, '0A63000A')?.state === 'ready');
    assert.equal(nodeOf(d, '0A63000A')!.fsid, fsid);
  });

  test('an IP-only client gets its MAC from the neighbour table', async () => {
    const dir = tempDir('pxe-daemon-');
    const config = makeConfig(dir, { subnets: [{ cidr: '10.99.0.0/24', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', node_name: 'mac' }] });
    const h = harness(config.state_dir);
    h.neighbours.set('10.99.0.77', '52:54:00:00:00:77');
    const d = createDaemon({ configFile: config.file, config, log: memoryLogger().log, runner: createFakeRunner(), deps: h.deps, control: false });
    running.push(d);
    await d.start();
    h.sink().event(seen('10.99.0.77', undefined, { source: 'syslog:x', sourceType: 'syslog', file: 'pxelinux.0' } as never));
    await until('ready', () => nodeOf(d, '52-54-00-00-00-77')?.state === 'ready');
  });

  test('events of one client behind a neighbour lookup stay in order; other clients do not wait for it', async () => {
    const dir = tempDir('pxe-daemon-');
    const config = makeConfig(dir, { subnets: [{ cidr: '10.99.0.0/24', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', node_name: 'mac' }] });
    const h = harness(config.state_dir);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const deps = { ...h.deps, lookupNeighbourMac: async () => (await gate, '52:54:00:00:00:78') };
    const d = createDaemon({ configFile: config.file, config, log: memoryLogger().log, runner: createFakeRunner(), deps, control: false });
    running.push(d);
    await d.start();
    h.sink().event(seen('10.99.0.78', undefined, { source: 'syslog:x', sourceType: 'syslog', file: 'pxelinux.0' } as never));
    h.sink().event(seen('10.99.0.78', '52:54:00:00:00:78', { hostname: 'late' } as never));
    h.sink().event(seen('10.99.0.79', '52:54:00:00:00:79'));
    await until('the other client is ready', () => nodeOf(d, '52-54-00-00-00-79')?.state === 'ready');
    assert.equal(nodeOf(d, '52-54-00-00-00-78'), undefined, 'the waiting client was not taken out of order');
    release();
    await until('ready', () => nodeOf(d, '52-54-00-00-00-78')?.state === 'ready');
    await d.idle();
    const n = nodeOf(d, '52-54-00-00-00-78')!;
    assert.equal(n.hostname, 'late', 'the later event was applied after the earlier one');
    assert.deepEqual(n.timeline?.slice(0, 2).map((t) => t.what), ['tftp pxelinux.0', 'dnsmasq-leases seen']);
  });

  test('a burst of 250 new clients through the sink is taken in slices; all get ready and a request made meanwhile is answered', async () => {
    const { d, h } = await boot();
    const hex = (i: number) => i.toString(16).padStart(2, '0');
    for (let i = 1; i <= 250; i++) h.sink().event(seen(`10.99.0.${i}`, `52:54:00:00:01:${hex(i)}`));
    const r = await d.submit({ kind: 'seen', ip: '10.99.0.251', mac: '52:54:00:00:01:fb', source: 'cli:provision', sourceType: 'cli', time: Date.now() }, { wait: true });
    assert.equal(r.outcome, 'ready');
    await d.idle();
    await until('all ready', () => d.nodes().filter((n) => n.state === 'ready').length === 251);
    assert.equal(h.provisioner.calls.filter((c) => c.op === 'provision').length, 251, 'each node provisioned once');
  });

  test('neighbour lookups: none outside every subnet, and a miss is not repeated per log line', async () => {
    const dir = tempDir('pxe-daemon-');
    const config = makeConfig(dir);
    const h = harness(config.state_dir);
    let lookups = 0;
    const deps = { ...h.deps, lookupNeighbourMac: async () => (lookups++, undefined) };
    const d = createDaemon({ configFile: config.file, config, log: memoryLogger().log, runner: createFakeRunner(), deps, control: false });
    running.push(d);
    await d.start();
    for (let i = 0; i < 5; i++) h.sink().event(seen('192.168.7.7', undefined, { source: 'syslog:x', sourceType: 'syslog', file: `f${i}` } as never));
    for (let i = 0; i < 5; i++) h.sink().event(seen('10.99.0.88', undefined, { source: 'syslog:x', sourceType: 'syslog', file: `f${i}` } as never));
    await until('provisioned without a MAC (ip-hex)', () => nodeOf(d, '0A630058')?.state === 'ready');
    await d.idle();
    assert.equal(lookups, 1, 'one lookup for the in-subnet client, none for the outsider');
  });

  test('reload with a broken config keeps the old one and logs every problem', async () => {
    const { d, h, lines, config } = await boot();
    h.nextConfig.error = new ConfigError([
      { file: config.file, line: 3, col: 1, path: 'subnets[0].cidr', message: 'bad cidr' },
      { file: config.file, line: 9, col: 7, path: 'exports.options', message: 'bad options' },
    ]);
    assert.equal(await d.reload(), false);
    assert.equal(d.config(), config);
    const errs = lines.filter((l) => String(l.msg).startsWith('reload: '));
    assert.equal(errs.length, 2);
    assert.match(String(errs[0]!.msg), /pxebootd\.yaml:3:1: subnets\[0\]\.cidr: bad cidr/);
    h.sink().event(seen('10.99.0.60', MAC));
    await until('still provisions with the old rules', () => nodeOf(d, '0A63003C')?.state === 'ready');
  });

  test('a rule change after reload re-provisions a ready node at its next event', async () => {
    const { d, h, config } = await boot();
    h.sink().event(seen('10.99.0.61', MAC));
    await until('ready', () => nodeOf(d, '0A63003D')?.state === 'ready');
    h.sink().event(seen('10.99.0.61', MAC));
    await d.idle();
    assert.equal(h.provisioner.calls.filter((c) => c.op === 'provision').length, 1, 'same rule: nothing to do');
    h.nextConfig.value = { ...config, subnets: [{ ...config.subnets[0]!, vars: { kernel: 'vmlinuz-2' } }, config.subnets[1]!] };
    assert.equal(await d.reload(), true);
    h.sink().event(seen('10.99.0.61', MAC));
    await d.idle();
    await until('re-provisioned', () => h.provisioner.calls.filter((c) => c.op === 'provision').length === 2);
    assert.equal(nodeOf(d, '0A63003D')!.fsid, 1000, 'same fsid after the rule change');
  });

  test('reload: keys the running parts were built from keep their values until a restart, with a warning', async () => {
    const { d, h, lines, config } = await boot();
    h.nextConfig.value = { ...config, tftp_root: '/elsewhere', exports: { ...config.exports, start_fsid: 5 }, hosts: [{ mac: MAC, vars: { x: '1' } }] };
    assert.equal(await d.reload(), true);
    assert.equal(d.config().tftp_root, config.tftp_root);
    assert.equal(d.config().exports.start_fsid, 1000);
    assert.deepEqual(d.config().hosts, [{ mac: MAC, vars: { x: '1' } }], 'rules do change');
    const warn = lines.find((l) => String(l.msg).includes('take effect after a restart'));
    assert.deepEqual(warn?.keys, ['tftp_root', 'exports']);
  });

  test('start-up restores ready nodes (same fsid) before any watcher starts, and requeues unfinished ones', async () => {
    const dir = tempDir('pxe-daemon-');
    const config = makeConfig(dir);
    mkdirSync(config.state_dir, { recursive: true });
    const rec = (name: string, ip: string, fsid: number, state: NodeRecord['state']): NodeRecord => ({ name, ip, mac: undefined, subnet: '10.99.0.0/24', state, fsid, lastSeen: 1, sources: [] });
    writeFileSync(
      path.join(config.state_dir, 'state.json'),
      JSON.stringify({ version: 1, nextFsid: 1010, fsids: { '0A630001': 1003, '0A630002': 1007 }, nodes: [rec('0A630001', '10.99.0.1', 1003, 'ready'), rec('0A630002', '10.99.0.2', 1007, 'pending')] }),
    );
    const h = harness(config.state_dir);
    const d = createDaemon({ configFile: config.file, config, log: memoryLogger().log, runner: createFakeRunner(), deps: h.deps, control: false });
    running.push(d);
    await d.start();
    assert.equal(h.order[0], 'restore');
    assert.ok(h.order.indexOf('restore') < h.order.indexOf('watcher start'));
    assert.deepEqual(h.provisioner.calls.find((c) => c.op === 'restore')!.nodes, ['0A630001']);
    await until('pending node finished', () => nodeOf(d, '0A630002')?.state === 'ready');
    assert.equal(nodeOf(d, '0A630002')!.fsid, 1007);
    assert.ok(h.provisioner.calls.some((c) => c.op === 'findOrphans'));
  });

  test('a restore that throws marks the ready nodes failed and retries them through the queue', async () => {
    const dir = tempDir('pxe-daemon-');
    const config = makeConfig(dir);
    mkdirSync(config.state_dir, { recursive: true });
    writeFileSync(
      path.join(config.state_dir, 'state.json'),
      JSON.stringify({ version: 1, nextFsid: 1001, fsids: { '0A630001': 1000 }, nodes: [{ name: '0A630001', ip: '10.99.0.1', subnet: '10.99.0.0/24', state: 'ready', fsid: 1000, lastSeen: 1, sources: [] }] }),
    );
    const h = harness(config.state_dir);
    h.provisioner.restore = async () => {
      throw new Error('exportfs exploded');
    };
    const d = createDaemon({ configFile: config.file, config, log: memoryLogger().log, runner: createFakeRunner(), deps: h.deps, control: false });
    running.push(d);
    await d.start();
    await until('re-provisioned', () => h.provisioner.calls.some((c) => c.op === 'provision' && c.node === '0A630001'));
    await until('ready', () => nodeOf(d, '0A630001')?.state === 'ready');
    assert.equal(nodeOf(d, '0A630001')!.fsid, 1000);
  });

  test('control socket: 0600, status, hook and provision through the same queue; a second daemon is refused', async () => {
    const { d, h, config } = await boot({}, { control: true });
    assert.equal(statSync(config.control_socket).mode & 0o777, 0o600);
    const hook = await sendControl(config.control_socket, { op: 'hook', argv: ['add', MAC, '10.99.0.70'], env: { DNSMASQ_VENDOR_CLASS: 'PXEClient' } });
    assert.deepEqual(hook, { ok: true, accepted: true });
    await until('hooked node ready', () => nodeOf(d, '0A630046')?.state === 'ready');
    const prov = await sendControl(config.control_socket, { op: 'provision', ip: '10.99.0.71', mac: '52:54:00:00:00:71' });
    assert.equal(prov.ok, true);
    assert.equal((prov.result as { outcome: string }).outcome, 'ready');
    const bad = await sendControl(config.control_socket, { op: 'provision', ip: '10.99.0.71; rm -rf /' });
    assert.equal(bad.ok, false);
    assert.match(bad.error!, /expected an IPv4 address/);
    const st = await sendControl(config.control_socket, { op: 'status' });
    assert.deepEqual((st.nodes as NodeRecord[]).map((n) => n.name).sort(), ['0A630046', '0A630047']);
    const rel = await sendControl(config.control_socket, { op: 'release', target: '10.99.0.71' });
    assert.equal(rel.ok, true);
    assert.equal(nodeOf(d, '0A630047')?.state, 'released');
    const second = createDaemon({ configFile: config.file, config, log: memoryLogger().log, runner: createFakeRunner(), deps: h.deps });
    await assert.rejects(second.start(), /another pxebootd is already running/);
    await d.stop();
    running.splice(running.indexOf(d), 1);
    assert.throws(() => statSync(config.control_socket), /ENOENT/, 'the socket is removed at stop');
    const onDisk = JSON.parse(readFileSync(path.join(config.state_dir, 'state.json'), 'utf8')) as { nodes: NodeRecord[] };
    assert.equal(onDisk.nodes.find((n) => n.name === '0A630047')?.state, 'released', 'stop flushed the state');
  });

  test('a stale socket from a killed daemon is replaced', async () => {
    const dir = tempDir('pxe-daemon-');
    const config = makeConfig(dir);
    const net = await import('node:net');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(config.control_socket, r));
    // simulate a SIGKILLed daemon: the socket file stays, nothing listens
    (srv as unknown as { _handle: { close(): void } | null })._handle?.close();
    const h: Harness = harness(config.state_dir);
    const d = createDaemon({ configFile: config.file, config, log: memoryLogger().log, runner: createFakeRunner(), deps: h.deps });
    running.push(d);
    await d.start();
    const r = await sendControl(config.control_socket, { op: 'ping' });
    assert.equal(r.ok, true);
  });
});
