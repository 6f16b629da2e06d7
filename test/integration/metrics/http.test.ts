// Scrapes /metrics over a real HTTP connection on loopback, from a metrics object driven directly.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createMetrics } from '../../../src/metrics.ts';
import { cleanupAll, onCleanup } from '../../helpers/lab.ts';

function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('metrics HTTP endpoint', () => {
  after(cleanupAll);

  test('serves the exposition format on /metrics, 404 elsewhere, 405 for POST', async () => {
    const m = createMetrics();
    const addr = await m.listen('127.0.0.1:0');
    onCleanup('metrics server', () => void m.close());
    assert.match(addr, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(addr, '127.0.0.1:0');

    m.nodesByState({ pending: 1, ready: 5, failed: 0, released: 0 });
    m.event('dnsmasq-leases');
    m.seenToReady(12);
    m.commandFailure('exportfs');
    m.queueDepth(3);
    m.reload(true);

    const r = await get(`http://${addr}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^pxebootd_nodes\{state="ready"\} 5$/m);
    assert.match(r.body, /^pxebootd_events_total\{source="dnsmasq-leases"\} 1$/m);
    assert.match(r.body, /^pxebootd_seen_to_ready_seconds_bucket\{le="0\.015"\} 1$/m);
    assert.match(r.body, /^pxebootd_command_failures_total\{tool="exportfs"\} 1$/m);
    assert.match(r.body, /^pxebootd_queue_depth 3$/m);
    assert.match(r.body, /^pxebootd_last_reload_success 1$/m);
    assert.match(r.body, /^pxebootd_process_resident_memory_bytes \d+$/m);
    assert.match(r.body, /^# HELP pxebootd_seen_to_ready_seconds /m);

    // a later scrape sees later values
    m.event('dnsmasq-leases');
    assert.match((await get(`http://${addr}/metrics?x=1`)).body, /^pxebootd_events_total\{source="dnsmasq-leases"\} 2$/m);

    assert.equal((await get(`http://${addr}/`)).status, 404);
    assert.equal((await get(`http://${addr}/metrics`, 'POST')).status, 405);
    const head = await get(`http://${addr}/metrics`, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');

    await m.close();
    await assert.rejects(get(`http://${addr}/metrics`), /ECONNREFUSED/);
  });

  test('a port already in use is an error, not a crash', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const addr = await a.listen('127.0.0.1:0');
    onCleanup('metrics server a', () => void a.close());
    const b = createMetrics({ defaultMetrics: false });
    await assert.rejects(b.listen(addr), /EADDRINUSE/);
    await assert.rejects(a.listen(addr), /already listening/);
    await a.close();
  });
});
