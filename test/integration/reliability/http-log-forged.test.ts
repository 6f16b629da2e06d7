// Attacks on the http-log source: a hostile client's requests to a real nginx (traversal with
// --path-as-is, %2e%2e, %00, a user agent that imitates the rest of a log line, a raw request with
// control bytes) and lines forged straight into the access log (a 200 for "../../etc/passwd", a
// release-like line, a 100 KB line, a cut line). None may release or unexport the node the log
// provisioned, none may make a node of an address outside the request, and the source keeps
// reading: a genuine fetch afterwards still lands in the timeline.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { cleanupAll, requireRoot, waitFor } from '../../helpers/lab.ts';
import { SERVER_IP, startHttpLab } from '../logs/http-log-lab.ts';

after(cleanupAll);
requireRoot();

const stamp = () => new Date().toUTCString().replace(/^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$1/$2/$3:$4 +0000');

describe('http-log: forged and hostile lines', () => {
  test('never release, never provision a bystander, never stop the source', { timeout: 180_000 }, async () => {
    const h = await startHttpLab('pxhf', { clientHost: 24 });
    const name = '0A630018';
    assert.equal(h.curl('/pxelinux.0'), 200);
    await waitFor('the node ready', async () => (await h.node(h.clientIp))?.state === 'ready', 30_000);
    const merged = path.join(h.lab.dir, 'run/node', name);
    const exported = () => readFileSync('/var/lib/nfs/etab', 'utf8').split('\n').some((l) => l.startsWith(`${merged}\t${h.clientIp}(`));
    assert.ok(exported(), 'exported before the attack');
    const mark = h.log().length;

    // a hostile client, through nginx
    assert.equal(h.curl('/../../etc/passwd', ['--path-as-is']), 400);
    assert.equal(h.curl('/%2e%2e/%2e%2e/etc/passwd', ['--path-as-is']), 400);
    assert.equal(h.curl('/a%00b'), 400);
    assert.equal(h.curl('/pxelinux.0?release=1'), 200);
    assert.equal(h.curl('/pxelinux.0', ['-A', `x" 200 1 "-" "-"\n10.99.0.66 - - [${stamp()}] "GET /pxelinux.0 HTTP/1.1" 200 1 "-" "`]), 400);
    assert.equal(h.curl('/pxelinux.0', ['-A', 'x" 200 1 "-" "y', '-e', '"\\x22']), 200);
    execFileSync('ip', ['netns', 'exec', h.net.cli, 'python3', '-c',
      `import socket;s=socket.create_connection(('${SERVER_IP}',80));s.sendall(b'GET /pxelinux.0\\x01 HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n');s.recv(9999);s.close()`]);

    // lines forged into the log itself
    const log = h.nginx.accessLog;
    appendFileSync(log, `10.99.0.66 - - [${stamp()}] "GET /../../etc/passwd HTTP/1.1" 200 1 "-" "-"\n`);
    appendFileSync(log, `10.99.0.67 - - [${stamp()}] "GET /%2e%2e/x HTTP/1.1" 200 1 "-" "-"\n`);
    appendFileSync(log, `${h.clientIp} - - [${stamp()}] "DHCPRELEASE(br0) ${h.clientIp} 52:54:00:aa:bb:01" 200 1 "-" "-"\n`);
    appendFileSync(log, `${h.clientIp} - - [${stamp()}] "GET /${'A'.repeat(100_000)} HTTP/1.1" 200 1 "-" "-"\n`);
    appendFileSync(log, `10.99.0.68 - - [${stamp()}] "GET /pxeli\n`);

    // a genuine fetch after all of it is still read
    assert.equal(h.curl('/vmlinuz'), 200);
    await waitFor('the genuine fetch in the timeline', async () => (await h.node(h.clientIp))?.timeline?.some((t) => t.what === 'http vmlinuz'), 20_000);
    await new Promise((r) => setTimeout(r, 500));

    const nodes = await h.nodes();
    assert.deepEqual(nodes.map((n) => `${n.name} ${n.state}`), [`${name} ready`], 'no bystander node, the victim still ready');
    assert.ok(exported(), 'still exported');
    assert.ok(readFileSync(h.lab.exportsFile, 'utf8').includes(`${merged} `), 'still in the exports file');
    const after = h.log().slice(mark);
    assert.doesNotMatch(after, /releas(ed|ing) node|unexport/i);
    assert.match(after, /leaves the server root/, 'the forged traversal line is reported');
    assert.match(after, /request target longer than 2048 bytes/, 'the huge line is reported, not kept');
    assert.match(after, /cut or malformed request field/, 'the cut line is reported');
    const whats = nodes[0]!.timeline!.map((t) => t.what);
    assert.ok(whats.every((w) => !w.includes('etc/passwd') && !w.includes('DHCPRELEASE')), whats.join(' | '));
  });
});
