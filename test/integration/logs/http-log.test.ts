// http-log source end to end: a real nginx serving the lab's tftp_root (the shipped site snippet),
// real clients (curl, busybox wget) in their own namespace, and `pxebootd run` following nginx's
// access log. An HTTP fetch alone provisions the node and lands in its timeline; a boot program
// fetched over HTTP after the guard resets an ephemeral node, as a TFTP fetch does.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { accessLines } from '../../e2e/nginx.ts';
import { startHttpLab } from './http-log-lab.ts';

after(cleanupAll);
requireRoot();

const GUARD_MS = 1500;

describe('http-log source with a real nginx', () => {
  test('curl and busybox wget fetching pxelinux.0 and vmlinuz: the node is provisioned from the access log alone, its timeline says http FILE; an HTTP NBP fetch after the guard resets its ephemeral layer', { timeout: 180_000 }, async () => {
    const h = await startHttpLab('pxhl', { clientHost: 23, yaml: `boot_guard_ms: ${GUARD_MS}\nhosts:\n  - { ip: 10.99.0.23, overlay: ephemeral }\n` });
    const name = '0A630017';

    assert.equal(h.curl('/pxelinux.0'), 200);
    await waitFor('the node ready from the HTTP log', async () => (await h.node(h.clientIp))?.state === 'ready', 30_000);
    assert.equal(h.curl('/vmlinuz'), 200);
    assert.ok(h.wget('/vmlinuz'), 'busybox wget fetched vmlinuz');
    await waitFor('http vmlinuz in the timeline', async () => (await h.node(h.clientIp))?.timeline?.some((t) => t.what === 'http vmlinuz'), 15_000);
    const n = (await h.node(h.clientIp))!;
    assert.equal(n.name, name);
    const whats = n.timeline!.map((t) => t.what);
    assert.ok(whats.includes('http pxelinux.0'), whats.join(' | '));
    assert.ok(n.timeline!.every((t) => !t.what.startsWith('http ') || t.source === `http-log:${h.nginx.accessLog}`), JSON.stringify(n.timeline));
    // nginx logged them in the format the source reads
    assert.ok(accessLines(h.nginx).some((l) => l.startsWith(`${h.clientIp} - - [`) && l.includes('"GET /vmlinuz HTTP/1.1" 200 200000')), accessLines(h.nginx).join('\n'));
    assert.doesNotMatch(h.log(), /is booting again/, 'the first boot\'s own fetches are within the guard');

    // the client writes into its root; then it reboots: pxelinux.0 over HTTP past the guard
    const merged = path.join(h.lab.dir, 'run/node', name);
    writeFileSync(path.join(merged, 'written-by-client'), 'state\n');
    await new Promise((r) => setTimeout(r, GUARD_MS + 300));
    assert.equal(h.curl('/pxelinux.0'), 200);
    await waitFor('the ephemeral reset', () => h.log().includes('ready with a fresh ephemeral layer'), 30_000);
    await waitFor('boot (ephemeral reset) in the timeline', async () => (await h.node(h.clientIp))?.timeline?.some((t) => t.what === 'boot (ephemeral reset)'), 15_000);
    assert.equal(existsSync(path.join(merged, 'written-by-client')), false, 'the fresh layer lost what the client wrote');
    assert.equal((await h.node(h.clientIp))!.state, 'ready');
  });
});
