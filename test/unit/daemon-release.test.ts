// Releases: which node a gone event names (every identifier must match), which sources may release
// (the trust table), and how a burst of gone events is logged (one info line per outcome).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { matchRelease } from '../../src/daemon/records.ts';
import { renderGone } from '../../src/pipeline/inbox-gone-log.ts';
import { BURST_MAX_WINDOWS, createBurstLog } from '../../src/daemon/burst-log.ts';
import { SOURCE_TRUST, isAuthoritative } from '../../src/trust.ts';
import { createFakeRunner } from '../helpers/fake-runner.ts';
import { cleanupAll, tempDir } from '../helpers/lab.ts';
import { harness, makeConfig, memoryLogger, seen, until } from './daemon-fakes.ts';
import type { ClientGone, Config, NodeRecord, SourceType } from '../../src/types.ts';

after(cleanupAll);
const running: Daemon[] = [];
after(async () => {
  for (const d of running) await d.stop();
});

const INFO = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const node = (name: string, ip: string, mac?: string): NodeRecord => ({ name, ip, ...(mac ? { mac } : {}), subnet: '10.88.0.0/24', state: 'ready', fsid: 1, lastSeen: 0, sources: [] });

describe('matchRelease: every identifier the event carries must match', () => {
  const A = node('0A58000A', '10.88.0.10', '52:54:00:88:00:10');
  const B = node('0A58000B', '10.88.0.11'); // MAC never learnt
  const store = {
    findByIp: (ip: string) => [A, B].find((n) => n.ip === ip),
    findByMac: (mac: string) => [A, B].find((n) => n.mac === mac),
  };
  const rows: Array<[string, Pick<ClientGone, 'ip' | 'mac'>, string | undefined, RegExp?]> = [
    ['MAC and IP both match', { ip: '10.88.0.10', mac: '52:54:00:88:00:10' }, '0A58000A'],
    ['IP alone matches', { ip: '10.88.0.10' }, '0A58000A'],
    ['MAC alone matches', { mac: '52:54:00:88:00:10' }, '0A58000A'],
    ['its MAC with another IP (the hook del of failure 3)', { ip: '10.88.0.99', mac: '52:54:00:88:00:10' }, undefined, /52:54:00:88:00:10 belongs to node 0A58000A at 10\.88\.0\.10, not 10\.88\.0\.99/],
    ['its IP with another MAC', { ip: '10.88.0.10', mac: '52:54:00:88:00:99' }, undefined, /10\.88\.0\.10 belongs to 52:54:00:88:00:10, not 52:54:00:88:00:99/],
    ['a MAC the record does not know', { ip: '10.88.0.11', mac: '52:54:00:88:00:11' }, undefined, /belongs to a node whose MAC is not known/],
    ['IP alone on a record without a MAC', { ip: '10.88.0.11' }, '0A58000B'],
    ['an IP no node holds, no MAC', { ip: '10.88.0.99' }, undefined, /^no node known/],
    ['an unknown MAC alone', { mac: '52:54:00:88:00:99' }, undefined, /^no node known/],
    ['nothing at all', {}, undefined, /^no node known/],
  ];
  for (const [name, e, want, why] of rows) {
    test(name, () => {
      const m = matchRelease(e, store);
      assert.equal(m.rec?.name, want);
      if (why) assert.match(m.why!, why);
    });
  }
});

describe('trust table', () => {
  test('lease files, the hook and the CLI may release; snoop, syslog, journal and http-log may only provision', () => {
    const all = Object.keys(SOURCE_TRUST).sort();
    assert.deepEqual(all, ['cli', 'dhcp-snoop', 'dnsmasq-leases', 'hook', 'http-log', 'isc-leases', 'journal', 'kea-leases', 'syslog']);
    assert.deepEqual(all.filter((t) => isAuthoritative(t)), ['cli', 'dnsmasq-leases', 'hook', 'isc-leases', 'kea-leases']);
    for (const t of all) assert.equal(SOURCE_TRUST[t as SourceType].provision, true, t);
    for (const t of ['', 'toString', '__proto__', 'constructor', 'hasOwnProperty', 'Hook']) assert.equal(isAuthoritative(t), false, t);
  });
});

describe('gone-event summaries', () => {
  test('a burst longer than the window is one line; a stream is cut every BURST_MAX_WINDOWS windows (mocked clock)', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { log, lines } = memoryLogger();
    const b = createBurstLog<number>(log, (g, n) => ({ fields: { n }, msg: `${g} ${n}` }), 100);
    // one event every 10 ms for 600 ms: six windows, never a quiet half window
    for (let i = 0; i < 60; i++) {
      b.add('g', i);
      t.mock.timers.tick(10);
    }
    assert.equal(lines.length, 0, 'the burst is still going on');
    t.mock.timers.tick(100);
    assert.deepEqual(lines.map((l) => l.msg), ['g 60']);
    // a stream that never pauses: one line per BURST_MAX_WINDOWS windows
    for (let i = 0; i < 250; i++) {
      b.add('g', i);
      t.mock.timers.tick(10);
    }
    assert.deepEqual(lines.map((l) => l.msg), ['g 60', `g ${BURST_MAX_WINDOWS * 10}`, `g ${BURST_MAX_WINDOWS * 10}`]);
    t.mock.timers.tick(200);
    assert.deepEqual(lines.map((l) => l.msg).slice(3), ['g 50']);
  });

  test('one event reads like the old per-node line; many give the count and an example', () => {
    const ex = { ip: '10.88.0.10', node: '0A58000A', reason: 'removed', source: 'dnsmasq-leases:/l' };
    assert.equal(renderGone('kept', 1, ex).msg, 'client 10.88.0.10 gone (removed); node 0A58000A kept (on_release: keep)');
    assert.equal(renderGone('kept', 100_000, ex).msg, '100000 clients gone; their nodes kept (on_release: keep), e.g. 10.88.0.10 (node 0A58000A, removed)');
    assert.equal(renderGone('untrusted:syslog', 2, ex).msg, '2 clients gone per syslog; no node released (syslog is not an authoritative source), e.g. 10.88.0.10 (node 0A58000A, removed)');
    assert.match(renderGone('mismatch', 1, { ...ex, mac: '52:54:00:88:00:99', why: 'w' }).msg, /^release of 10\.88\.0\.10 52:54:00:88:00:99 from dnsmasq-leases:\/l not taken: w$/);
    assert.equal(renderGone('kept', 3, ex).fields.clients, 3);
  });

  test('a burst log writes one line per group per window, and flush writes at once', async () => {
    const { log, lines } = memoryLogger();
    const b = createBurstLog<number>(log, (g, n, ex) => ({ fields: { g, n, ex }, msg: `${g} ${n}` }), 20);
    for (let i = 0; i < 1000; i++) b.add(i % 2 ? 'odd' : 'even', i);
    await sleep(60);
    assert.deepEqual(lines.map((l) => [l.msg, l.ex]), [['even 500', 0], ['odd 500', 1]]);
    b.add('x', 7);
    b.flush();
    assert.equal(lines.at(-1)!.msg, 'x 1');
    await sleep(40);
    assert.equal(lines.length, 3);
  });
});

async function boot(over: Partial<Config> = {}, state?: unknown) {
  const dir = tempDir('pxe-release-');
  const config = makeConfig(dir, over);
  if (state) {
    mkdirSync(config.state_dir, { recursive: true });
    writeFileSync(path.join(config.state_dir, 'state.json'), JSON.stringify(state));
  }
  const h = harness(config.state_dir);
  const { log, lines } = memoryLogger();
  const d = createDaemon({ configFile: config.file, config, log, runner: createFakeRunner(), deps: h.deps, control: false });
  running.push(d);
  await d.start();
  return { d, h, lines };
}
const gone = (ip: string | undefined, mac: string | undefined, sourceType: SourceType): ClientGone => ({
  kind: 'gone',
  ...(ip ? { ip } : {}),
  ...(mac ? { mac } : {}),
  source: `${sourceType}:x`,
  sourceType,
  time: Date.now(),
  reason: 'DHCPRELEASE',
});
const REMOVE: Partial<Config> = { subnets: [{ cidr: '10.99.0.0/24', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', on_release: 'remove', pos: 'cfg:1:1' }] };

describe('daemon: releases', () => {
  test('a hook del naming the MAC with another IP, or the IP with another MAC, releases nothing', async () => {
    const { d, h } = await boot(REMOVE);
    await d.submit(seen('10.99.0.10', '52:54:00:00:00:10'), { wait: true });
    const r1 = await d.submit(gone('10.99.0.99', '52:54:00:00:00:10', 'hook'), { wait: true });
    const r2 = await d.submit(gone('10.99.0.10', '52:54:00:00:00:99', 'hook'), { wait: true });
    assert.equal(r1.outcome, 'skipped');
    assert.match(r1.why!.join(), /belongs to node 0A63000A at 10\.99\.0\.10, not 10\.99\.0\.99/);
    assert.equal(r2.outcome, 'skipped');
    await d.idle();
    assert.deepEqual(h.provisioner.calls.filter((c) => c.op === 'release'), []);
    assert.equal(d.nodes()[0]!.state, 'ready');
    // the right pair does release it
    const r3 = await d.submit(gone('10.99.0.10', '52:54:00:00:00:10', 'hook'), { wait: true });
    assert.equal(r3.outcome, 'released');
    assert.deepEqual(h.provisioner.calls.filter((c) => c.op === 'release'), [{ op: 'release', node: '0A63000A', policy: 'remove' }]);
  });

  test('snoop, syslog, journal and http-log gone events go into the timeline and release nothing', async () => {
    const { d, h, lines } = await boot(REMOVE);
    await d.submit(seen('10.99.0.10', '52:54:00:00:00:10'), { wait: true });
    for (const t of ['dhcp-snoop', 'syslog', 'journal', 'http-log'] as const) {
      const r = await d.submit(gone('10.99.0.10', '52:54:00:00:00:10', t), { wait: true });
      assert.equal(r.outcome, 'unchanged', t);
      assert.match(r.why!.join(), new RegExp(`${t} is not an authoritative source`));
    }
    await d.idle();
    assert.deepEqual(h.provisioner.calls.filter((c) => c.op === 'release'), []);
    const n = d.nodes()[0]!;
    assert.equal(n.state, 'ready');
    const whats = n.timeline!.map((x) => x.what);
    assert.ok(whats.includes('gone: DHCPRELEASE (not released: dhcp-snoop is not authoritative)'), whats.join(' | '));
    assert.ok(whats.includes('gone: DHCPRELEASE (not released: journal is not authoritative)'), whats.join(' | '));
    await d.stop(); // flushes the summaries
    const info = lines.filter((l) => l.level === INFO && l.outcome);
    assert.deepEqual(info.map((l) => l.outcome).sort(), ['untrusted:dhcp-snoop', 'untrusted:http-log', 'untrusted:journal', 'untrusted:syslog']);
  });

  test('10,000 leases gone at once under on_release: keep: one info line with the count, a debug line per node', async () => {
    const ipOf = (i: number) => `10.99.${(i >> 8) + 1}.${i & 255}`;
    const macOf = (i: number) => `52:54:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    const hex = (ip: string) => ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('').toUpperCase();
    const N = 10_000;
    // 10,000 ready nodes from a state file (restored at start-up), not 10,000 provision runs
    const nodes = Array.from({ length: N }, (_, i) => ({ ...node(hex(ipOf(i)), ipOf(i), macOf(i)), subnet: '10.99.0.0/16', fsid: 1000 + i }));
    const fsids = Object.fromEntries(nodes.map((n) => [n.name, n.fsid]));
    const { d, lines } = await boot({ subnets: [{ cidr: '10.99.0.0/16', root_dir: '/r', node_dir: '/n', overlay_dir: '/o', on_release: 'keep', pos: 'cfg:1:1' }] }, { version: 1, nextFsid: 1000 + N, fsids, nodes });
    assert.equal(d.nodes().filter((n) => n.state === 'ready').length, N);
    const before = lines.length;
    for (let i = 0; i < N; i++) d.submit(gone(ipOf(i), macOf(i), 'dnsmasq-leases')).catch(() => {});
    await until('all gone recorded', () => d.nodes().every((n) => n.timeline?.at(-1)?.what === 'gone: DHCPRELEASE'), 60_000);
    await d.stop();
    const after = lines.slice(before);
    const info = after.filter((l) => (l.level as number) >= INFO && /gone/.test(String(l.msg)));
    assert.equal(info.length, 1, info.map((l) => l.msg).join('\n'));
    assert.equal(info[0]!.clients, N);
    assert.match(String(info[0]!.msg), /^10000 clients gone; their nodes kept \(on_release: keep\), e\.g\. /);
    assert.equal(after.filter((l) => /gone; node .* kept/.test(String(l.msg))).length, N, 'each node still at debug');
  });
});
