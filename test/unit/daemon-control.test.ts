import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { NoDaemonError, sendControl, startControlServer } from '../../src/control.ts';
import { cleanupAll, tempDir } from '../helpers/lab.ts';

after(cleanupAll);

/** Send raw bytes, collect `n` response lines. */
function raw(sock: string, text: string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write(text));
    c.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n').filter(Boolean);
      if (lines.length >= n) {
        c.end();
        resolve(lines);
      }
    });
    c.on('error', reject);
  });
}

describe('control socket', () => {
  test('newline-delimited JSON: answers in order, bad lines get an error answer, the connection survives', async () => {
    const dir = tempDir('pxe-ctl-');
    const sock = path.join(dir, 'sub', 'c.sock');
    const srv = await startControlServer(sock, async (req) => {
      if (req.op === 'slow') await new Promise((r) => setTimeout(r, 30));
      return { ok: true, echo: req.op };
    });
    assert.equal(statSync(path.dirname(sock)).mode & 0o777, 0o755);
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const lines = await raw(sock, '{"op":"slow"}\nnot json\n{"op":"fast"}\n{"no":"op"}\n', 4);
    const r = lines.map((l) => JSON.parse(l) as { ok: boolean; echo?: string; error?: string });
    assert.deepEqual(r[0], { ok: true, echo: 'slow' });
    assert.equal(r[1]!.ok, false);
    assert.match(r[1]!.error!, /bad request/);
    assert.deepEqual(r[2], { ok: true, echo: 'fast' });
    assert.match(r[3]!.error!, /string "op"/);
    await srv.close();
  });

  test('a large answer (a status of many nodes) arrives whole', async () => {
    const sock = path.join(tempDir('pxe-ctl-'), 'c.sock');
    const nodes = Array.from({ length: 20_000 }, (_, i) => ({ name: `N${i}`, timeline: [{ what: 'x'.repeat(200) }] }));
    const srv = await startControlServer(sock, async () => ({ ok: true, nodes }));
    const r = await sendControl(sock, { op: 'status' }, { timeoutMs: 20_000 });
    assert.equal((r.nodes as unknown[]).length, 20_000);
    assert.deepEqual((r.nodes as typeof nodes)[19_999], nodes[19_999]);
    await srv.close();
  });

  test('a streamed nodes answer is byte for byte JSON.stringify of the response (with daemon info, 0/1/201/1000 nodes)', async () => {
    for (const count of [0, 1, 201, 1000]) {
      const sock = path.join(tempDir('pxe-ctl-'), 'c.sock');
      const resp = { ok: true, daemon: { pid: 1, queue: { depth: 0 } }, nodes: Array.from({ length: count }, (_, i) => ({ name: `N${i}`, ip: `10.99.0.${i & 255}`, timeline: [{ what: 'a"b\\c\u2028' }] })) };
      const srv = await startControlServer(sock, async () => resp);
      const raw = await new Promise<string>((resolve, reject) => {
        const c = net.createConnection(sock);
        let buf = '';
        c.setEncoding('utf8');
        c.on('connect', () => c.write('{"op":"status"}\n'));
        c.on('data', (d: string) => {
          buf += d;
          if (buf.endsWith('\n')) {
            c.end();
            resolve(buf);
          }
        });
        c.on('error', reject);
      });
      assert.equal(raw, JSON.stringify(resp) + '\n', `${count} nodes`);
      await srv.close();
    }
  });

  test('a handler that throws becomes an error answer', async () => {
    const sock = path.join(tempDir('pxe-ctl-'), 'c.sock');
    const srv = await startControlServer(sock, async () => {
      throw new Error('kaput');
    });
    assert.deepEqual(await sendControl(sock, { op: 'x' }), { ok: false, error: 'kaput' });
    await srv.close();
  });

  test('no daemon: NoDaemonError for a missing or dead socket', async () => {
    const dir = tempDir('pxe-ctl-');
    await assert.rejects(sendControl(path.join(dir, 'none.sock'), { op: 'ping' }), NoDaemonError);
    const sock = path.join(dir, 'c.sock');
    const srv = await startControlServer(sock, async () => ({ ok: true }));
    await srv.close();
    await assert.rejects(sendControl(sock, { op: 'ping' }), NoDaemonError);
  });

  test('refuses to replace a path that is not a socket', async () => {
    const sock = path.join(tempDir('pxe-ctl-'), 'c.sock');
    writeFileSync(sock, 'an admin file');
    await assert.rejects(startControlServer(sock, async () => ({ ok: true })), /exists and is not a socket/);
  });

  test('a request that never ends in a newline is cut off at the size limit', async () => {
    const sock = path.join(tempDir('pxe-ctl-'), 'c.sock');
    const srv = await startControlServer(sock, async () => ({ ok: true }));
    const lines = await raw(sock, 'x'.repeat((1 << 20) + 10), 1);
    assert.match(lines[0]!, /longer than/);
    await srv.close();
  });
});
