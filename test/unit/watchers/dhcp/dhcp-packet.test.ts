import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDhcpPacket } from '../../../../watchers/dhcp/dhcp-packet.ts';
import { eventFromDatagram } from '../../../../watchers/dhcp/dhcp-event.ts';
import { buildPacket } from './dhcp-build.ts';

const FIX = path.resolve(import.meta.dirname, '../../../fixtures/dhcp');
const fixture = (n: string) => readFileSync(path.join(FIX, n));

function parsed(buf: Uint8Array) {
  const r = parseDhcpPacket(buf);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.packet;
}

describe('captured packets', () => {
  test('udhcpc DISCOVER with PXE options 60/77/93/94/97', () => {
    const p = parsed(fixture('udhcpc-discover-pxe.bin'));
    assert.equal(p.op, 1);
    assert.equal(p.mac, '52:54:00:aa:bb:01');
    assert.equal(p.messageType, 1);
    assert.equal(p.requestedIp, '10.99.0.50');
    assert.equal(p.hostname, 'node01');
    assert.equal(p.vendorClass, 'PXEClient:Arch:00007:UNDI:003016');
    assert.equal(p.clientId, '01:52:54:00:aa:bb:01');
    assert.equal(p.userClass, 'iPXE');
    assert.deepEqual(p.archs, [7]);
    assert.deepEqual(p.ndi, [1, 2, 1]);
    assert.equal(p.uuid, 'b8945908-d6a6-41a9-611d-74a6ab80b83d');
    assert.deepEqual(p.warnings, []);
  });
  test('dhclient DISCOVER', () => {
    const p = parsed(fixture('dhclient-discover.bin'));
    assert.equal(p.mac, '52:54:00:aa:bb:01');
    assert.equal(p.messageType, 1);
    assert.equal(p.archs, undefined);
  });
  test('DISCOVER -> seen event with arch, uuid, vendor class, requested ip', () => {
    const r = eventFromDatagram(fixture('udhcpc-discover-pxe.bin'), 'dhcp-snoop:eth0', 1);
    assert.deepEqual(r.event, {
      kind: 'seen', mac: '52:54:00:aa:bb:01', ip: '10.99.0.50', arch: 7, uuid: 'b8945908-d6a6-41a9-611d-74a6ab80b83d',
      vendorClass: 'PXEClient:Arch:00007:UNDI:003016', hostname: 'node01', clientId: '01:52:54:00:aa:bb:01', source: 'dhcp-snoop:eth0', sourceType: 'dhcp-snoop', time: 1,
    });
  });
});

describe('option handling', () => {
  test('pad bytes anywhere (the npm dhcp package misparses after one)', () => {
    const p = parsed(buildPacket({ options: [0, 53, 1, 1, 0, 0, 0, 93, 2, 0, 7, 0, 255] }));
    assert.equal(p.messageType, 1);
    assert.deepEqual(p.archs, [7]);
  });
  test('arch list keeps the client order; odd length is a warning, not an error', () => {
    assert.deepEqual(parsed(buildPacket({ options: [53, 1, 1, 93, 4, 0, 9, 0, 7, 255] })).archs, [9, 7]);
    const p = parsed(buildPacket({ options: [53, 1, 1, 93, 3, 0, 7, 1, 255] }));
    assert.equal(p.archs, undefined);
    assert.match(p.warnings.join(), /option 93/);
  });
  test('long options split in two are concatenated (RFC 3396)', () => {
    const p = parsed(buildPacket({ options: [53, 1, 1, 60, 3, 80, 88, 69, 60, 3, 67, 108, 105, 255] }));
    assert.equal(p.vendorClass, 'PXECli');
  });
  test('overload (52): options in file, then sname', () => {
    const p = parsed(buildPacket({ options: [52, 1, 3, 255], file: [53, 1, 3, 255], sname: [50, 4, 10, 0, 0, 9, 255] }));
    assert.equal(p.messageType, 3);
    assert.equal(p.requestedIp, '10.0.0.9');
  });
  test('option 97 with a type other than 0, or short, gives no uuid', () => {
    assert.equal(parsed(buildPacket({ options: [53, 1, 1, 97, 17, 1, ...new Array(16).fill(0xab), 255] })).uuid, undefined);
    assert.equal(parsed(buildPacket({ options: [53, 1, 1, 97, 5, 0, 1, 2, 3, 4, 255] })).uuid, undefined);
  });
  test('hostname with shell characters is dropped', () => {
    const p = parsed(buildPacket({ options: [53, 1, 1, 12, 6, ...Buffer.from('a;rm -'), 255] }));
    assert.equal(p.hostname, undefined);
    assert.match(p.warnings.join(), /option 12/);
  });
  test('missing end option is tolerated when lengths hold', () => {
    assert.equal(parsed(buildPacket({ options: [53, 1, 1] })).messageType, 1);
  });
  test('InfiniBand-style chaddr: no mac; DISCOVER is reported as bad', () => {
    const buf = buildPacket({ htype: 32, hlen: 16, mac: new Array(16).fill(1), options: [53, 1, 1, 255] });
    const p = parsed(buf);
    assert.equal(p.mac, undefined);
    assert.equal(p.chaddr.split(':').length, 16);
    assert.match(eventFromDatagram(buf, 's', 0).bad!.reason, /no Ethernet MAC/);
  });
});

describe('typed errors, never a throw', () => {
  const cases: Array<[string, Buffer, string]> = [
    ['short', Buffer.alloc(100), 'short'],
    ['hlen', (() => { const b = buildPacket({ options: [255] }); b[2] = 17; return b; })(), 'hlen'],
    ['cookie', (() => { const b = buildPacket({ options: [255] }); b[236] = 0; return b; })(), 'cookie'],
    ['overrun', buildPacket({ options: [53, 1, 1, 60, 200, 1, 2] }), 'option-overrun'],
    ['no length byte', buildPacket({ options: [53] }), 'option-overrun'],
    ['bad overload', buildPacket({ options: [52, 1, 9, 255] }), 'overload'],
    ['overrun in file field', buildPacket({ options: [52, 1, 1, 255], file: [...new Array(120).fill(0), 60, 50] }), 'option-overrun'],
  ];
  for (const [name, buf, code] of cases) {
    test(name, () => {
      const r = parseDhcpPacket(buf);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code);
    });
  }
});

describe('events', () => {
  test('REQUEST uses requested ip, else ciaddr', () => {
    assert.equal(eventFromDatagram(buildPacket({ options: [53, 1, 3, 50, 4, 10, 0, 0, 5, 255] }), 's', 0).event?.ip, '10.0.0.5');
    assert.equal(eventFromDatagram(buildPacket({ ciaddr: [10, 0, 0, 6], options: [53, 1, 3, 255] }), 's', 0).event?.ip, '10.0.0.6');
  });
  test('option 50 = 0.0.0.0, 255.255.255.255, loopback or multicast is no address (Wireshark dhcp.pcap sends 0.0.0.0)', () => {
    for (const ip of [[0, 0, 0, 0], [255, 255, 255, 255], [127, 0, 0, 1], [224, 0, 0, 1], [0, 1, 2, 3]]) {
      const e = eventFromDatagram(buildPacket({ options: [53, 1, 1, 50, 4, ...ip, 255] }), 's', 0).event;
      assert.equal(e?.kind, 'seen');
      assert.equal(e?.ip, undefined, `option 50 = ${ip.join('.')}`);
      // ciaddr is the fallback, and the same rule applies to it
      assert.equal(eventFromDatagram(buildPacket({ ciaddr: ip, options: [53, 1, 3, 50, 4, ...ip, 255] }), 's', 0).event?.ip, undefined);
    }
    assert.equal(eventFromDatagram(buildPacket({ ciaddr: [10, 0, 0, 7], options: [53, 1, 3, 50, 4, 0, 0, 0, 0, 255] }), 's', 0).event?.ip, '10.0.0.7');
    assert.equal(eventFromDatagram(buildPacket({ ciaddr: [255, 255, 255, 255], options: [53, 1, 7, 255] }), 's', 0).event?.ip, undefined);
  });
  test('RELEASE -> gone', () => {
    const e = eventFromDatagram(buildPacket({ ciaddr: [10, 0, 0, 6], options: [53, 1, 7, 255] }), 's', 0).event;
    assert.deepEqual(e, { kind: 'gone', mac: '52:54:00:12:34:56', ip: '10.0.0.6', source: 's', sourceType: 'dhcp-snoop', time: 0, reason: 'DHCPRELEASE' });
  });
  test('server replies, INFORM, DECLINE and no type give nothing', () => {
    assert.deepEqual(eventFromDatagram(buildPacket({ op: 2, options: [53, 1, 5, 255] }), 's', 0), {});
    assert.deepEqual(eventFromDatagram(buildPacket({ options: [53, 1, 8, 255] }), 's', 0), {});
    assert.deepEqual(eventFromDatagram(buildPacket({ options: [53, 1, 4, 255] }), 's', 0), {});
    assert.deepEqual(eventFromDatagram(buildPacket({ options: [255] }), 's', 0), {});
  });
});
