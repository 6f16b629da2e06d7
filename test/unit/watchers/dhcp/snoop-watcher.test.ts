// The snoop watcher on loopback: receives, parses, never replies; EADDRINUSE gives the dnsmasq hint.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSnoopWatcher } from '../../../../watchers/dhcp/snoop-watcher.ts';
import { collectingContext } from '../logs/test-context.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/dhcp');
const port = 20_000 + (process.pid % 20_000);

describe('snoop watcher', () => {
  test('a datagram becomes an event; junk becomes bad input; nothing is sent back', async () => {
    const c = collectingContext({ type: 'dhcp-snoop', interface: 'lo', address: '127.0.0.1', port });
    const w = createSnoopWatcher(c.ctx);
    await w.start();
    const client = createSocket('udp4');
    let replies = 0;
    client.on('message', () => replies++);
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    client.send(readFileSync(path.join(FIX, 'udhcpc-discover-pxe.bin')), port, '127.0.0.1');
    client.send(Buffer.from('not dhcp'), port, '127.0.0.1');
    for (let i = 0; i < 50 && c.events.length + c.bad.length < 2; i++) await sleep(10);
    await sleep(50);
    assert.equal(c.events.length, 1);
    assert.equal(c.events[0]!.mac, '52:54:00:aa:bb:01');
    assert.equal(c.events[0]!.kind === 'seen' && c.events[0]!.arch, 7);
    assert.equal(c.bad.length, 1);
    assert.match(c.bad[0]!.reason, /8 bytes.*from 127\.0\.0\.1/);
    assert.equal(replies, 0);
    client.close();
    await w.stop();
  });
  test('port held without SO_REUSEADDR -> clear bind-interfaces message', async () => {
    const holder = createSocket({ type: 'udp4' });
    await new Promise<void>((r) => holder.bind(port + 1, '0.0.0.0', () => r()));
    const c = collectingContext({ type: 'dhcp-snoop', interface: 'eth0', address: '0.0.0.0', port: port + 1 });
    const w = createSnoopWatcher(c.ctx);
    await assert.rejects(w.start(), (e: Error) => {
      assert.match(e.message, /address already in use/);
      assert.match(e.message, /bind-interfaces/);
      assert.match(e.message, /bind-dynamic/);
      assert.match(e.message, /dhcp-script/);
      return true;
    });
    holder.close();
  });
  test('two reuseAddr listeners can share the port (dnsmasq with bind-interfaces)', async () => {
    const holder = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((r) => holder.bind(port + 2, '0.0.0.0', () => r()));
    const c = collectingContext({ type: 'dhcp-snoop', interface: 'eth0', address: '0.0.0.0', port: port + 2 });
    const w = createSnoopWatcher(c.ctx);
    await w.start();
    await w.stop();
    holder.close();
  });
});
