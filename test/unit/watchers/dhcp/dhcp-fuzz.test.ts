// Fuzz the packet parser with mutations of real captured packets: truncations, bad lengths, pad
// runs, oversized options, random bytes. No throw, no hang, and what comes out is well-formed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDhcpPacket } from '../../../../watchers/dhcp/dhcp-packet.ts';
import { eventFromDatagram } from '../../../../watchers/dhcp/dhcp-event.ts';
import { isIPv4 } from '../../../../src/validate.ts';
import { xorshift } from '../logs/test-context.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/dhcp');
const seeds = ['udhcpc-discover-pxe.bin', 'dhclient-discover.bin'].map((f) => readFileSync(path.join(FIX, f)));

function mutate(src: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(src);
  const n = 1 + (rnd() % 4);
  for (let k = 0; k < n; k++) {
    const opt = 240 + (rnd() % Math.max(1, b.length - 240));
    switch (rnd() % 8) {
      case 0: b = b.subarray(0, rnd() % (b.length + 1)); break; // truncate anywhere
      case 1: if (opt + 1 < b.length) b[opt + 1] = rnd() & 0xff; break; // bad length byte
      case 2: b = Buffer.concat([b.subarray(0, opt), Buffer.alloc(rnd() % 64), b.subarray(opt)]); break; // pad run
      case 3: b = Buffer.concat([b.subarray(0, opt), Buffer.from([rnd() & 0xff, 255]), Buffer.alloc(rnd() % 300, rnd() & 0xff), b.subarray(opt)]); break; // oversized option
      case 4: if (b.length) b[rnd() % b.length] = rnd() & 0xff; break; // flip a byte (header too)
      case 5: b = Buffer.concat([b, Buffer.from([52, 1, 1 + (rnd() % 3)])]); break; // overload
      case 6: if (b.length > 2) b[2] = rnd() & 0xff; break; // hlen
      default: { const r = Buffer.alloc(rnd() % 400); for (let i = 0; i < r.length; i++) r[i] = rnd() & 0xff; b = Buffer.concat([b.subarray(0, opt), r]); } // random tail
    }
  }
  return b;
}

test('fuzz: 150,000 mutated DHCP packets', () => {
  const rnd = xorshift(0xd4c9);
  let ok = 0;
  let events = 0;
  const t0 = Date.now();
  for (let i = 0; i < 150_000; i++) {
    const buf = mutate(seeds[i % seeds.length]!, rnd);
    const r = parseDhcpPacket(buf);
    if (r.ok) {
      ok++;
      assert.ok(r.packet.hlen <= 16);
      if (r.packet.mac) assert.match(r.packet.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      if (r.packet.requestedIp) assert.ok(isIPv4(r.packet.requestedIp));
      if (r.packet.hostname) assert.match(r.packet.hostname, /^[a-z0-9.-]+$/);
      if (r.packet.vendorClass) assert.match(r.packet.vendorClass, /^[\x20-\x7e]*$/);
    } else {
      assert.ok(r.error.message.length > 0);
    }
    const e = eventFromDatagram(buf, 's', 0);
    if (e.event) events++;
  }
  assert.ok(ok > 10_000, `some mutations must stay parseable (got ${ok})`);
  assert.ok(events > 1000);
  assert.ok(Date.now() - t0 < 20_000);
});

test('fuzz: 100,000 random datagrams, any length', () => {
  const rnd = xorshift(99);
  for (let i = 0; i < 100_000; i++) {
    const b = Buffer.alloc(rnd() % 700);
    for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
    if (b.length > 240 && rnd() % 2) b.set([99, 130, 83, 99], 236);
    parseDhcpPacket(b);
    eventFromDatagram(b, 's', 0);
  }
});
