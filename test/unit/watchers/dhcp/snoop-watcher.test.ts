// The snoop watcher's decisions with the packet socket replaced by a fake that hands it packets as
// the addon would (IPv4 header first, packet type, ifindex): what it passes on, what it drops and
// the one summary line, the rate limit on new clients, and the errors users see. The real socket
// is tested in namespaces (test/integration/dhcp/snoop.test.ts, reliability/snoop-spoof.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../../../src/log.ts';
import { createSnoopWatcher, type PacketSock, type PacketSockAddon } from '../../../../watchers/dhcp/snoop-watcher.ts';
import { createAdmission } from '../../../../watchers/dhcp/admission.ts';
import { PACKET_TYPE, parseIpUdp } from '../../../../watchers/dhcp/ip-udp.ts';
import { collectingContext } from '../logs/test-context.ts';
import { buildPacket } from './dhcp-build.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/dhcp');
const DISCOVER = readFileSync(path.join(FIX, 'udhcpc-discover-pxe.bin'));

/** An IPv4/UDP packet around `payload`, as the packet socket hands it over. */
function ipUdp(payload: Uint8Array, o: { src?: number[]; srcPort?: number; dstPort?: number; proto?: number; frag?: number; pad?: number } = {}): Buffer {
  const udpLen = 8 + payload.length;
  const b = Buffer.alloc(20 + udpLen + (o.pad ?? 0));
  b[0] = 0x45;
  b.writeUInt16BE(20 + udpLen, 2);
  b.writeUInt16BE(o.frag ?? 0, 6);
  b[8] = 64;
  b[9] = o.proto ?? 17;
  b.set(o.src ?? [0, 0, 0, 0], 12);
  b.set([255, 255, 255, 255], 16);
  b.writeUInt16BE(o.srcPort ?? 68, 20);
  b.writeUInt16BE(o.dstPort ?? 67, 22);
  b.writeUInt16BE(udpLen, 24);
  b.set(payload, 28);
  return b;
}

const discover = (mac: number[], ip?: number[]) => buildPacket({ mac, options: [53, 1, 1, ...(ip ? [50, 4, ...ip] : []), 255] });

type Cb = Parameters<PacketSockAddon['open']>[2];

/** A fake addon: `feed` calls the watcher's callback as the C side would. */
function fakeAddon(o: { openError?: Error & { code?: string }; kernelDrops?: number } = {}) {
  let cb: Cb | undefined;
  let opened = 0;
  let closed = 0;
  let index = 7;
  const mod: PacketSockAddon = {
    open(_iface, _port, c) {
      if (o.openError) throw o.openError;
      opened++;
      cb = c;
      const sock: PacketSock = { ifindex: index, close: () => void closed++, stats: () => ({ packets: 0, drops: o.kernelDrops ?? 0 }) };
      return sock;
    },
    ifindex: () => index,
  };
  return {
    mod,
    get opened() {
      return opened;
    },
    get closed() {
      return closed;
    },
    setIndex(n: number) {
      index = n;
    },
    feed(packet: Buffer, pktType: number = PACKET_TYPE.BROADCAST, ifindex = 7, wireLength = packet.length) {
      cb!(null, Object.assign(packet, { wireLength }), pktType, ifindex);
    },
    fail(code: string) {
      cb!(Object.assign(new Error(`recvfrom on ifindex 7: ${code}`), { code }), undefined, -1, -1);
    },
  };
}

function snoop(burst = 100, perSecond = 10, fake = fakeAddon()) {
  const c = collectingContext({ type: 'dhcp-snoop', interface: 'eth1', port: 67, new_client_burst: burst, new_clients_per_second: perSecond });
  const lines: Array<{ level: number; msg: string; dropped?: Record<string, number> }> = [];
  c.ctx.log = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
  const w = createSnoopWatcher(c.ctx, () => fake.mod);
  return { ...c, w, fake, lines };
}

describe('snoop watcher (fake packet socket)', () => {
  test('a client DISCOVER on the interface becomes an event; nothing is dropped or logged as dropped', async () => {
    const s = snoop();
    await s.w.start();
    s.fake.feed(ipUdp(DISCOVER, { pad: 10 })); // Ethernet padding after the IP packet is ignored
    s.fake.feed(ipUdp(DISCOVER, { src: [10, 99, 0, 50] }), PACKET_TYPE.HOST); // unicast to us (a renewal)
    assert.equal(s.events.length, 2);
    assert.equal(s.events[0]!.mac, '52:54:00:aa:bb:01');
    assert.equal(s.events[0]!.kind === 'seen' && s.events[0]!.arch, 7);
    await s.w.stop();
    assert.equal(s.fake.closed, 1);
    assert.deepEqual(s.lines.filter((l) => /dropped/.test(l.msg)), []);
  });

  test('sent by this host, for another host, on another interface, not from port 68, not UDP, fragments, loopback source: dropped, one summary line', async () => {
    const s = snoop();
    await s.w.start();
    const p = () => ipUdp(DISCOVER);
    s.fake.feed(p(), PACKET_TYPE.OUTGOING);
    s.fake.feed(p(), PACKET_TYPE.LOOPBACK);
    s.fake.feed(p(), PACKET_TYPE.OTHERHOST);
    s.fake.feed(p(), PACKET_TYPE.BROADCAST, 8);
    s.fake.feed(ipUdp(DISCOVER, { srcPort: 67 }));
    s.fake.feed(ipUdp(DISCOVER, { srcPort: 6800 }));
    s.fake.feed(ipUdp(DISCOVER, { dstPort: 68 }));
    s.fake.feed(ipUdp(DISCOVER, { proto: 6 }));
    s.fake.feed(ipUdp(DISCOVER, { frag: 0x2000 }));
    s.fake.feed(ipUdp(DISCOVER, { src: [127, 0, 0, 1] }));
    s.fake.feed(ipUdp(DISCOVER, { src: [255, 255, 255, 255] }));
    s.fake.feed(p().subarray(0, 100)); // cut: the IP length says more
    s.fake.feed(p(), PACKET_TYPE.BROADCAST, 7, 9000); // longer than we read
    assert.deepEqual(s.events, []);
    await s.w.stop();
    const summary = s.lines.filter((l) => /dhcp-snoop dropped/.test(l.msg));
    assert.equal(summary.length, 1);
    assert.equal(summary[0]!.level, 40);
    assert.match(summary[0]!.msg, /^dhcp-snoop dropped 13 packets on eth1 in \d+ s: /);
    assert.deepEqual(summary[0]!.dropped, { outgoing: 2, 'other-host': 1, 'other-interface': 1, 'not-from-68': 2, 'wrong-port': 1, malformed: 2, fragment: 1, 'bad-source': 2, 'too-large': 1 });
    assert.match(summary[0]!.msg, /2 not from UDP port 68/);
    assert.match(summary[0]!.msg, /2 sent by this host/);
  });

  test('new clients: a burst, then the rate; known clients and clients without an address pass freely', async () => {
    const s = snoop(3, 0.001);
    await s.w.start();
    for (let i = 0; i < 10; i++) s.fake.feed(ipUdp(discover([0x52, 0x54, 0, 0, 0, i], [10, 0, 0, i + 1])));
    assert.equal(s.events.length, 3);
    // the first three again: known, so never limited
    for (let k = 0; k < 5; k++) for (let i = 0; i < 3; i++) s.fake.feed(ipUdp(discover([0x52, 0x54, 0, 0, 0, i], [10, 0, 0, i + 1])));
    assert.equal(s.events.length, 18);
    // a known MAC with a new address is a new client (nodes are per address)
    s.fake.feed(ipUdp(discover([0x52, 0x54, 0, 0, 0, 0], [10, 0, 0, 99])));
    assert.equal(s.events.length, 18);
    // no address: it cannot make a node, so it is not limited
    for (let i = 0; i < 10; i++) s.fake.feed(ipUdp(discover([0x52, 0x54, 0, 0, 1, i])));
    assert.equal(s.events.length, 28);
    await s.w.stop();
    const summary = s.lines.filter((l) => /dhcp-snoop dropped/.test(l.msg));
    assert.equal(summary.length, 1);
    assert.match(summary[0]!.msg, /8 new clients over the rate limit \(burst 3, 0\.001\/s; last 52:54:00:00:00:00 10\.0\.0\.99\)/);
  });

  test('kernel drops (receive buffer full) are in the summary', async () => {
    const s = snoop(100, 10, fakeAddon({ kernelDrops: 42 }));
    await s.w.start();
    await s.w.stop();
    const summary = s.lines.filter((l) => /dhcp-snoop dropped/.test(l.msg));
    assert.equal(summary.length, 1);
    assert.match(summary[0]!.msg, /42 lost in the kernel \(receive buffer full\)/);
  });

  test('errors users see: no interface, no CAP_NET_RAW, loopback, addon missing', async () => {
    const cases: Array<[string, RegExp]> = [
      ['ENODEV', /interface "eth1": no such interface \(`ip link` lists them/],
      ['EPERM', /needs CAP_NET_RAW \(run pxebootd as root, or grant CAP_NET_RAW/],
      ['EINVAL', /it is a loopback interface/],
    ];
    for (const [code, re] of cases) {
      const s = snoop(100, 10, fakeAddon({ openError: Object.assign(new Error(`x: ${code}`), { code }) }));
      await assert.rejects(s.w.start(), (e: Error & { code?: string }) => {
        assert.match(e.message, /^dhcp-snoop: cannot read DHCP packets on interface "eth1": /);
        assert.match(e.message, re);
        assert.equal(e.code, 'RUN');
        return true;
      });
    }
    const c = collectingContext({ type: 'dhcp-snoop', interface: 'eth1', port: 67, new_client_burst: 1, new_clients_per_second: 1 });
    const w = createSnoopWatcher(c.ctx, () => {
      throw new Error('dhcp-snoop: the packet socket (dhcp-snoop) addon is not built');
    });
    await assert.rejects(w.start(), /addon is not built/);
  });

  test('ENETDOWN: logged once, the socket closed, a new one opened when the interface is back; "is back" with the first packet', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const s = snoop();
    await s.w.start();
    s.fake.fail('ENETDOWN');
    assert.equal(s.fake.closed, 1);
    s.fake.setIndex(0); // gone
    t.mock.timers.tick(5000);
    assert.equal(s.fake.opened, 1);
    s.fake.setIndex(9); // made again
    t.mock.timers.tick(5000);
    assert.equal(s.fake.opened, 2);
    s.fake.fail('ENETDOWN'); // bound while still down: the kernel says so at once
    t.mock.timers.tick(5000);
    assert.equal(s.fake.opened, 3);
    s.fake.feed(ipUdp(DISCOVER), PACKET_TYPE.BROADCAST, 9);
    assert.equal(s.events.length, 1);
    assert.equal(s.lines.filter((l) => /went down or away/.test(l.msg)).length, 1);
    assert.equal(s.lines.filter((l) => /is back; reading it again/.test(l.msg)).length, 1);
    await s.w.stop();
    t.mock.timers.tick(20_000);
    assert.equal(s.fake.opened, 3, 'no reopen after stop');
  });
});

describe('ip-udp', () => {
  test('the UDP payload, exactly: lengths from the headers, IP options skipped', () => {
    const b = ipUdp(DISCOVER, { src: [10, 1, 2, 3] });
    const v = parseIpUdp(b, b.length, 67);
    assert.ok(v.ok);
    assert.deepEqual(Buffer.from(v.payload), DISCOVER);
    assert.equal(v.src, '10.1.2.3');
    // IHL 6: 4 bytes of IP options before UDP
    const withOpt = Buffer.concat([b.subarray(0, 20), Buffer.from([1, 1, 1, 0]), b.subarray(20)]);
    withOpt[0] = 0x46;
    withOpt.writeUInt16BE(b.length + 4, 2);
    const w = parseIpUdp(withOpt, withOpt.length, 67);
    assert.ok(w.ok);
    assert.deepEqual(Buffer.from(w.payload), DISCOVER);
  });
  test('every cut and every bad length is a drop, never a throw', () => {
    const b = ipUdp(DISCOVER);
    for (let n = 0; n < b.length; n++) {
      const v = parseIpUdp(b.subarray(0, n), n, 67);
      assert.equal(v.ok, false, `cut at ${n}`);
    }
    const bad = Buffer.from(b);
    bad.writeUInt16BE(7, 24); // UDP length under its header
    assert.deepEqual(parseIpUdp(bad, bad.length, 67), { ok: false, drop: 'malformed' });
    bad.writeUInt16BE(0xffff, 24);
    assert.deepEqual(parseIpUdp(bad, bad.length, 67), { ok: false, drop: 'malformed' });
    const v6 = Buffer.from(b);
    v6[0] = 0x65;
    assert.deepEqual(parseIpUdp(v6, v6.length, 67), { ok: false, drop: 'malformed' });
  });
});

describe('admission', () => {
  test('refills at the rate, never above the burst; the remembered set is bounded', () => {
    const a = createAdmission(2, 1, 3);
    assert.deepEqual([a.admit('a', 0), a.admit('b', 0), a.admit('c', 0)], [true, true, false]);
    assert.equal(a.admit('c', 999), false);
    assert.equal(a.admit('c', 1000), true);
    assert.deepEqual([a.admit('d', 100_000), a.admit('e', 100_000), a.admit('f', 100_000)], [true, true, false]);
    // a, b, c, d, e admitted with room for 3: a and b were forgotten (least recently seen)
    assert.equal(a.admit('e', 100_000), true);
    assert.equal(a.admit('a', 100_000), false);
    // time going backwards gives no tokens
    assert.equal(a.admit('g', 50_000), false);
  });
});
