// The report endpoint over real HTTP on loopback, with the daemon's boot-once side behind it: only
// the node's own IP with its current token counts, once; wrong IP, wrong token, a replayed token,
// an oversized body, bad JSON, wrong method or path get a 4xx and change nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createStateStore, type StateStore } from '../../../src/state/store.ts';
import { silentLogger } from '../../../src/log.ts';
import { createBootOnce, type BootOnceRuntime } from '../../../src/daemon/boot-once.ts';
import { noopMetrics } from '../../../src/daemon/deps.ts';
import { hashToken, parseReport, peerIPv4, reportUrl, startReportServer, type ReportServer } from '../../../src/boot-once/report-server.ts';
import { issue, enqueue } from '../../../src/boot-once/machine.ts';
import type { BootOnceRecord, Config, NodeRecord } from '../../../src/types.ts';

const A = { ip: '127.0.0.2', name: '7F000002', token: 'token-of-a-0123456789' };
const B = { ip: '127.0.0.3', name: '7F000003', token: 'token-of-b-0123456789' };

let state: StateStore;
let rt: BootOnceRuntime;
let server: ReportServer;
let port: number;
const requeued: string[] = [];
const counted: string[] = [];

function verifying(token: string): BootOnceRecord {
  const q = enqueue(undefined, ['verify', 'memtest']);
  assert.ok('bo' in q);
  return issue(q.bo, { now: Date.now(), programs: ['vmlinuz'], tokenHash: hashToken(token), timeoutMs: 3_600_000 });
}

function node(n: typeof A, bo?: BootOnceRecord): NodeRecord {
  const r: NodeRecord = { name: n.name, ip: n.ip, subnet: '127.0.0.0/8', state: 'verifying', fsid: 0, lastSeen: 0, sources: [] };
  if (bo) r.bootOnce = bo;
  return r;
}

/** POST from `from` (a loopback address); resolves to status and JSON body. */
function post(from: string, body: string | Buffer, opts: { method?: string; path?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress: from, method: opts.method ?? 'POST', path: opts.path ?? '/v1/report', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : {} }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve({ status: 413, body: { reset: true } }) : reject(e)));
    req.end(body);
  });
}

const json = (o: unknown) => JSON.stringify(o);
const snapshot = () => JSON.stringify([state.get(A.name), state.get(B.name)]);

before(async () => {
  state = createStateStore({ dir: '/nonexistent-pxebootd-test', startFsid: 100, log: silentLogger(), memoryOnly: true });
  const config = { server: '127.0.0.1', profiles: { verify: { name: 'verify', done_when: 'reported', root: 'none', pxe_template: '/x' }, memtest: { name: 'memtest', done_when: 'served', root: 'none', pxe_template: '/y' } } } as unknown as Config;
  const metrics = { ...noopMetrics(), verification: (p: string, r: string) => counted.push(`${p}=${r}`) };
  rt = createBootOnce({ log: silentLogger(), state, metrics, config: () => config }, (name) => requeued.push(name));
  state.put(node(A, verifying(A.token)));
  state.put(node(B, verifying(B.token)));
  server = await startReportServer('127.0.0.1:0', (ip, r) => rt.report(ip, r));
  port = Number(server.address.split(':').pop());
});
after(() => server?.close());

describe('report endpoint', () => {
  test('refused, nothing changes: bad JSON, wrong shape, wrong method and path, oversized body', async () => {
    const before = snapshot();
    assert.equal((await post(A.ip, '{"token": ')).status, 400);
    assert.equal((await post(A.ip, 'null')).status, 400);
    assert.equal((await post(A.ip, json({ token: A.token, result: 'maybe' }))).status, 400);
    assert.equal((await post(A.ip, json({ token: A.token, result: 'pass', details: [1] }))).status, 400);
    assert.equal((await post(A.ip, json({ token: A.token, result: 'pass', extra: 1 }))).status, 400);
    assert.equal((await post(A.ip, json({ token: A.token, result: 'pass' }), { method: 'GET' })).status, 405);
    assert.equal((await post(A.ip, json({ token: A.token, result: 'pass' }), { path: '/v1/other' })).status, 404);
    // 64 KB + 1 of valid JSON with A's own token: too big, whatever it says
    const pad = 'x'.repeat(64 * 1024);
    assert.equal((await post(A.ip, json({ token: A.token, result: 'pass', details: { pad } }))).status, 413);
    assert.equal(snapshot(), before);
    assert.deepEqual(requeued, []);
  });

  test('wrong IP: A\'s token from an address no node holds, and from node B', async () => {
    const before = snapshot();
    const stranger = await post('127.0.0.9', json({ token: A.token, result: 'pass' }));
    assert.equal(stranger.status, 403);
    const fromB = await post(B.ip, json({ token: A.token, result: 'fail' }));
    assert.equal(fromB.status, 403);
    assert.match(String(fromB.body.error), /not this node's current one/);
    assert.equal(snapshot(), before);
  });

  test('wrong token from the right IP', async () => {
    const before = snapshot();
    assert.equal((await post(A.ip, json({ token: 'not-the-token', result: 'pass' }))).status, 403);
    assert.equal((await post(A.ip, json({ token: A.token.toUpperCase(), result: 'pass' }))).status, 403);
    assert.equal(snapshot(), before);
  });

  test('the right token from the node\'s IP counts once; a replay is refused and changes nothing', async () => {
    const ok = await post(A.ip, json({ token: A.token, result: 'pass', details: { memtester: 'ok', dimms: 4 } }));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body, { ok: true, node: A.name, profile: 'verify', result: 'pass', next: 'profile memtest' });
    const a = state.get(A.name)!;
    assert.equal(a.bootOnce?.current?.profile, 'memtest');
    assert.deepEqual(a.bootOnce?.results.at(-1)?.details, { memtester: 'ok', dimms: 4 });
    assert.deepEqual(requeued, [A.name]);
    assert.deepEqual(counted, ['verify=pass']);
    const after1 = snapshot();
    const replay = await post(A.ip, json({ token: A.token, result: 'fail' }));
    assert.equal(replay.status, 409);
    assert.equal(snapshot(), after1);
    assert.deepEqual(requeued, [A.name]);
  });

  test('fail quarantines the node', async () => {
    const r = await post(B.ip, json({ token: B.token, result: 'fail', details: { memtester: 'FAILURE at 0x1000' } }));
    assert.equal(r.status, 200);
    assert.equal(r.body.next, 'quarantine');
    const b = state.get(B.name)!;
    assert.equal(b.bootOnce?.quarantined?.profile, 'verify');
    assert.deepEqual(b.bootOnce?.queue, []);
    assert.deepEqual(counted, ['verify=pass', 'verify=fail']);
  });
});

describe('report helpers', () => {
  test('parseReport, peerIPv4, reportUrl', () => {
    assert.deepEqual(parseReport('{"token":"t","result":"fail"}'), { token: 't', result: 'fail' });
    assert.match(String(parseReport('{"token":"","result":"pass"}')), /token/);
    assert.equal(peerIPv4('::ffff:10.0.0.5'), '10.0.0.5');
    assert.equal(peerIPv4('fe80::1'), undefined);
    // one validator: an address the regex took but no IPv4 address is (999.1.1.1, 01.2.3.4) is refused
    assert.equal(peerIPv4('999.1.1.1'), undefined);
    assert.equal(peerIPv4('::ffff:300.0.0.1'), undefined);
    assert.equal(reportUrl('0.0.0.0:9643', '10.0.0.1'), 'http://10.0.0.1:9643/v1/report');
    assert.equal(reportUrl('10.0.0.2:80', '10.0.0.1'), 'http://10.0.0.2:80/v1/report');
  });
});
