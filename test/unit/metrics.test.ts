import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, createNullMetrics, parseListenAddress } from '../../src/metrics.ts';

/** value of one sample line `name{labels} value` in the exposition text, or undefined */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('createMetrics', () => {
  test('nodes by state: every state is present, and set replaces', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let t = await m.render();
    for (const s of ['pending', 'ready', 'failed', 'released']) assert.equal(sample(t, `pxebootd_nodes{state="${s}"}`), 0);
    m.nodesByState({ pending: 3, ready: 7, failed: 1, released: 0 });
    m.nodesByState({ pending: 0, ready: 10, failed: 1, released: 2 });
    t = await m.render();
    assert.equal(sample(t, 'pxebootd_nodes{state="pending"}'), 0);
    assert.equal(sample(t, 'pxebootd_nodes{state="ready"}'), 10);
    assert.equal(sample(t, 'pxebootd_nodes{state="released"}'), 2);
  });

  test('events and command failures count per label; tool paths reduce to basenames', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.event('dnsmasq-leases');
    m.event('dnsmasq-leases');
    m.event('syslog');
    m.commandFailure('exportfs');
    m.commandFailure('/usr/local/sbin/exportfs');
    m.commandFailure('mount');
    const t = await m.render();
    assert.equal(sample(t, 'pxebootd_events_total{source="dnsmasq-leases"}'), 2);
    assert.equal(sample(t, 'pxebootd_events_total{source="syslog"}'), 1);
    assert.equal(sample(t, 'pxebootd_command_failures_total{tool="exportfs"}'), 2);
    assert.equal(sample(t, 'pxebootd_command_failures_total{tool="mount"}'), 1);
  });

  test('seen-to-ready histogram takes ms, stores seconds, ignores nonsense', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.seenToReady(4);
    m.seenToReady(20);
    m.seenToReady(150);
    m.seenToReady(-1);
    m.seenToReady(Number.NaN);
    const t = await m.render();
    assert.equal(sample(t, 'pxebootd_seen_to_ready_seconds_count'), 3);
    assert.equal(sample(t, 'pxebootd_seen_to_ready_seconds_bucket{le="0.005"}'), 1);
    assert.equal(sample(t, 'pxebootd_seen_to_ready_seconds_bucket{le="0.03"}'), 2);
    assert.equal(sample(t, 'pxebootd_seen_to_ready_seconds_bucket{le="0.16"}'), 3);
    assert.ok(Math.abs(sample(t, 'pxebootd_seen_to_ready_seconds_sum')! - 0.174) < 1e-9);
  });

  test('a fresh registry says the last load succeeded, at its creation time (a start is a load)', async () => {
    const before = Date.now() / 1000;
    const t = await createMetrics({ defaultMetrics: false }).render();
    assert.equal(sample(t, 'pxebootd_last_reload_success'), 1);
    assert.ok(sample(t, 'pxebootd_last_reload_timestamp_seconds')! >= before - 1);
  });

  test('queue depth and reload result', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.queueDepth(42);
    const before = Date.now() / 1000;
    m.reload(true);
    m.reload(false);
    const t = await m.render();
    assert.equal(sample(t, 'pxebootd_queue_depth'), 42);
    assert.equal(sample(t, 'pxebootd_reloads_total{result="ok"}'), 1);
    assert.equal(sample(t, 'pxebootd_reloads_total{result="error"}'), 1);
    assert.equal(sample(t, 'pxebootd_last_reload_success'), 0);
    const ts = sample(t, 'pxebootd_last_reload_timestamp_seconds')!;
    assert.ok(ts >= before - 1 && ts <= Date.now() / 1000 + 1, `timestamp ${ts}`);
  });

  test('two instances do not share state; default metrics are on by default', async () => {
    const a = createMetrics();
    const b = createMetrics({ defaultMetrics: false });
    a.event('hook');
    assert.equal(sample(await b.render(), 'pxebootd_events_total{source="hook"}'), undefined);
    assert.match(await a.render(), /^pxebootd_process_resident_memory_bytes \d+/m);
    assert.doesNotMatch(await b.render(), /process_resident_memory_bytes/);
  });

  test('observeRunner exports the runner counts at scrape time, nothing before', async () => {
    const m = createMetrics({ defaultMetrics: false });
    assert.equal(sample(await m.render(), 'pxebootd_command_runs_total{tool="mount"}'), undefined);
    const stats = new Map([['mount', { runs: 3, failures: 1 }], ['exportfs', { runs: 2, failures: 0 }]]);
    m.observeRunner(() => stats);
    let t = await m.render();
    assert.equal(sample(t, 'pxebootd_command_runs_total{tool="mount"}'), 3);
    assert.equal(sample(t, 'pxebootd_command_runs_total{tool="exportfs"}'), 2);
    assert.equal(sample(t, 'pxebootd_command_nonzero_exits_total{tool="mount"}'), 1);
    assert.equal(sample(t, 'pxebootd_command_nonzero_exits_total{tool="exportfs"}'), undefined);
    stats.set('exportfs', { runs: 5, failures: 2 });
    t = await m.render();
    assert.equal(sample(t, 'pxebootd_command_runs_total{tool="exportfs"}'), 5);
    assert.equal(sample(t, 'pxebootd_command_nonzero_exits_total{tool="exportfs"}'), 2);
  });

  test('close without listen is a no-op; null metrics accept every call', async () => {
    await createMetrics({ defaultMetrics: false }).close();
    const n = createNullMetrics();
    n.event('cli');
    n.seenToReady(1);
    n.nodesByState({ pending: 0, ready: 0, failed: 0, released: 0 });
    n.queueDepth(0);
    n.commandFailure('mount');
    n.reload(true);
  });
});

describe('parseListenAddress', () => {
  test('accepts host:port, [v6]:port, :port and port', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
    assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
    assert.deepEqual(parseListenAddress(':9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress('9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress('localhost:80'), { host: 'localhost', port: 80 });
  });
  test('rejects garbage with the value in the message', () => {
    for (const bad of ['', 'host', '1.2.3.4:', '1.2.3.4:70000', '::1:80', 'a b:1', '1.2.3.4:-1']) {
      assert.throws(() => parseListenAddress(bad), (e: Error) => e.message.includes('metrics.listen') && e.message.includes(JSON.stringify(bad)), bad);
    }
  });
});
