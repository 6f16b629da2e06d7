// Streamed control answers over a real socket: a head line, then a body written only as fast as the
// client reads it, then the end of the connection.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openControlStream, sendControl, startControlServer, streamedResponse } from '../../src/control.ts';
import { cleanupAll, tempDir } from '../helpers/lab.ts';

after(cleanupAll);

async function readAll(body: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

describe('control socket: streamed answers', () => {
  test('head line, then the body as written, then the connection ends; a plain answer has no body', async () => {
    const sock = path.join(tempDir('pxe-ctl-stream-'), 'c.sock');
    const srv = await startControlServer(sock, async (req) => (req.op === 'big' ? streamedResponse({ ok: true, stream: 'test' }, (function* () {
      for (let i = 0; i < 1000; i++) yield `piece ${i} ${'é'.repeat(i % 7)}\n`;
    })()) : { ok: true, plain: 1 }));
    try {
      const a = await openControlStream(sock, { op: 'big' });
      assert.deepEqual(a.head, { ok: true, stream: 'test' });
      const text = await readAll(a.body!);
      assert.equal(text, Array.from({ length: 1000 }, (_, i) => `piece ${i} ${'é'.repeat(i % 7)}\n`).join(''));
      const b = await openControlStream(sock, { op: 'small' });
      assert.deepEqual(b.head, { ok: true, plain: 1 });
      assert.equal(b.body, undefined);
      // the ordinary client still works beside it
      assert.deepEqual(await sendControl(sock, { op: 'small' }), { ok: true, plain: 1 });
    } finally {
      await srv.close();
    }
  });

  test('the daemon produces the body only as fast as the client reads it', async () => {
    const sock = path.join(tempDir('pxe-ctl-stream-'), 'c.sock');
    let produced = 0;
    const piece = 'x'.repeat(64 * 1024);
    const srv = await startControlServer(sock, async () => streamedResponse({ ok: true, stream: 'test' }, (function* () {
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield piece;
      }
    })()));
    try {
      const a = await openControlStream(sock, { op: 'big' });
      // the client reads nothing for a while: 1000 pieces are 64 MB, the socket buffers hold a few
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(produced < 100, `${produced} pieces of 64 KB produced before the client read any`);
      assert.equal((await readAll(a.body!)).length, 1000 * piece.length);
      assert.equal(produced, 1000);
    } finally {
      await srv.close();
    }
  });

  test('a body that throws cuts the connection (no answer that looks whole) and the server goes on', async () => {
    const sock = path.join(tempDir('pxe-ctl-stream-'), 'c.sock');
    const srv = await startControlServer(sock, async (req) => (req.op === 'bad' ? streamedResponse({ ok: true, stream: 'test' }, (function* () {
      yield 'first\n';
      throw new Error('kaput');
    })()) : { ok: true }));
    try {
      const a = await openControlStream(sock, { op: 'bad' });
      let text = '';
      try {
        for await (const c of a.body!) text += c.toString();
      } catch {
        /* a reset is as good as an end here */
      }
      assert.equal(text, 'first\n');
      assert.deepEqual(await sendControl(sock, { op: 'ping' }), { ok: true });
    } finally {
      await srv.close();
    }
  });
});
