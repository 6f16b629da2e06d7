// `pxebootd run` with `metrics.listen` on loopback and a free port: after a node is provisioned
// from a lease (and once after an injected mount failure), a real HTTP scrape of /metrics shows it.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, waitFor } from '../../helpers/lab.ts';
import { client, leaseLine, makeLab, rewriteInPlace, writeConfig } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { toStatusNodes } from '../reliability/invariants.ts';

function scrape(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** A loopback port nobody listens on right now (config requires 1..65535, so no port 0). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function value(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('pxebootd run with metrics.listen', () => {
  after(cleanupAll);

  test('scrape after provisioning a node and after a failed mount', { timeout: 60_000 }, async () => {
    requireRoot();
    const lab = makeLab('metrics');
    const flag = path.join(lab.dir, 'fail-mount');
    const wrapper = path.join(lab.dir, 'mount-wrapper');
    writeFileSync(wrapper, `#!/bin/sh\nif [ -e ${flag} ]; then echo "pxg injected fault" >&2; exit 32; fi\nexec ${requireTool('mount')} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const port = await freePort();
    const cfg = writeConfig(lab, { metrics: `127.0.0.1:${port}`, mount: wrapper, retryBaseMs: 100, retryMaxMs: 400 });
    const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd.log'));
    const url = `http://127.0.0.1:${port}/metrics`;
    const startedAt = Date.now() / 1000;
    await waitFor('metrics endpoint', () => scrape(url).then((r) => r.status === 200), 10_000, 100);
    // a clean start is a successful config load: a "last reload failed" alert must not fire
    const first = await scrape(url);
    assert.equal(value(first.body, 'pxebootd_last_reload_success'), 1);
    const loadedAt = value(first.body, 'pxebootd_last_reload_timestamp_seconds')!;
    assert.ok(loadedAt >= startedAt - 5 && loadedAt <= Date.now() / 1000 + 1, `start time ${loadedAt} vs ${startedAt}`);
    assert.equal(value(first.body, 'pxebootd_reloads_total{result="error"}') ?? 0, 0);

    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const a = client(99, 1);
    rewriteInPlace(lab.leases, leaseLine(a, expiry));
    await waitFor('node ready', () => toStatusNodes(statusJson(cfg)).some((n) => n.ip === a.ip && n.state === 'ready'), 20_000, 100);

    const body = await waitFor('ready gauge at 1', async () => {
      const r = await scrape(url);
      return value(r.body, 'pxebootd_nodes{state="ready"}') === 1 ? r.body : undefined;
    }, 10_000, 100);
    assert.ok(value(body, 'pxebootd_events_total{source="dnsmasq-leases"}')! >= 1, 'events counter');
    assert.equal(value(body, 'pxebootd_seen_to_ready_seconds_count'), 1);
    assert.ok(value(body, 'pxebootd_seen_to_ready_seconds_sum')! > 0);
    assert.equal(value(body, 'pxebootd_queue_depth'), 0);
    assert.match(body, /^pxebootd_process_resident_memory_bytes \d+/m);

    // a failing mount shows up as a command failure and a failed node, then heals
    writeFileSync(flag, '');
    const b = client(99, 2);
    rewriteInPlace(lab.leases, leaseLine(a, expiry) + leaseLine(b, expiry));
    const failing = await waitFor('failure counted', async () => {
      const r = await scrape(url);
      return (value(r.body, 'pxebootd_command_failures_total{tool="mount-wrapper"}') ?? 0) >= 1 ? r.body : undefined;
    }, 15_000, 100).catch(async (e: Error) => {
      const r = await scrape(url);
      const st = toStatusNodes(statusJson(cfg)).map((n) => `${n.ip} ${n.state} ${n.lastError ?? ''}`);
      throw new Error(`${e.message}\n${r.body.split('\n').filter((l) => /^pxebootd_(command|nodes)/.test(l)).join('\n')}\nstatus: ${st.join('; ')}`);
    });
    assert.ok(failing.includes('pxebootd_command_failures_total'));
    // the node gauges are refreshed on a throttle, so wait for them
    await waitFor('failed gauge', async () => value((await scrape(url)).body, 'pxebootd_nodes{state="failed"}') === 1, 10_000, 100);
    rmSync(flag);
    await waitFor('2 ready in metrics', async () => value((await scrape(url)).body, 'pxebootd_nodes{state="ready"}') === 2, 20_000, 100);
    assert.equal(value((await scrape(url)).body, 'pxebootd_seen_to_ready_seconds_count'), 2);
    await d.stop();
  });
});
