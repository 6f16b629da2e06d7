import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseAtftpdMessage,
  parseDnsmasqDhcpMessage,
  parseDnsmasqTftpMessage,
  parseTftpdHpaMessage,
  parseDaemonMessage,
} from '../../../../watchers/logs/log-messages.ts';

describe('tftpd-hpa', () => {
  test('RRQ', () => {
    assert.deepEqual(parseTftpdHpaMessage('RRQ from 10.99.0.164 filename pxelinux.cfg/01-52-54-00-aa-bb-06'), { kind: 'tftp', ip: '10.99.0.164', file: 'pxelinux.cfg/01-52-54-00-aa-bb-06' });
  });
  test('::ffff: mapped address (tftp-hpa 5.2 on a dual-stack socket)', () => {
    assert.deepEqual(parseTftpdHpaMessage('RRQ from ::ffff:192.168.1.50 filename pxelinux.0'), { kind: 'tftp', ip: '192.168.1.50', file: 'pxelinux.0' });
  });
  test('remapped variant keeps the name the client sent', () => {
    assert.deepEqual(parseTftpdHpaMessage('RRQ from 10.0.0.5 filename pxelinux.cfg/0A000005 remapped to /srv/x'), { kind: 'tftp', ip: '10.0.0.5', file: 'pxelinux.cfg/0A000005' });
  });
  test('trailing newline kept by some syslog daemons', () => {
    assert.equal((parseTftpdHpaMessage('RRQ from 10.0.0.5 filename a.b\n') as { file: string }).file, 'a.b');
  });
  test('NAK and others are ignored; a broken RRQ is bad; IPv6 quietly skipped', () => {
    assert.equal(parseTftpdHpaMessage('sending NAK (1, File not found) to 10.99.0.51'), undefined);
    assert.equal(parseTftpdHpaMessage('RRQ from 10.0.0.5')?.kind, 'bad');
    assert.equal(parseTftpdHpaMessage('RRQ from 1.2.3 filename x')?.kind, 'bad');
    assert.equal(parseTftpdHpaMessage('RRQ from fd99::5 filename x'), undefined);
  });
});

describe('atftpd', () => {
  test('Serving name to ip:port, plain and ::ffff:-mapped', () => {
    assert.deepEqual(parseAtftpdMessage('Serving pxelinux.0 to 192.168.1.50:2070'), { kind: 'tftp', ip: '192.168.1.50', file: 'pxelinux.0' });
    assert.deepEqual(parseAtftpdMessage('Serving pxelinux.cfg/C0A80132 to ::ffff:192.168.1.50:2071'), { kind: 'tftp', ip: '192.168.1.50', file: 'pxelinux.cfg/C0A80132' });
  });
  test('other lines', () => {
    assert.equal(parseAtftpdMessage('File /srv/tftp/x not found'), undefined);
    assert.equal(parseAtftpdMessage('Serving x')?.kind, 'bad');
  });
});

describe('dnsmasq-tftp', () => {
  test('sent and not found, relative to tftp_root', () => {
    assert.deepEqual(parseDnsmasqTftpMessage('sent /srv/tftp/pxelinux.0 to 10.0.0.5', '/srv/tftp'), { kind: 'tftp', ip: '10.0.0.5', file: 'pxelinux.0' });
    assert.deepEqual(parseDnsmasqTftpMessage('file /srv/tftp/pxelinux.cfg/0A000005 not found for 10.0.0.5', '/srv/tftp/'), { kind: 'tftp', ip: '10.0.0.5', file: 'pxelinux.cfg/0A000005' });
  });
  test('outside tftp_root, sibling prefix and .. escapes are ignored', () => {
    assert.equal(parseDnsmasqTftpMessage('sent /srv/other/pxelinux.0 to 10.0.0.5', '/srv/tftp'), undefined);
    assert.equal(parseDnsmasqTftpMessage('sent /srv/tftp2/pxelinux.0 to 10.0.0.5', '/srv/tftp'), undefined);
    assert.equal(parseDnsmasqTftpMessage('sent /srv/tftp/../etc/passwd to 10.0.0.5', '/srv/tftp'), undefined);
    assert.equal(parseDnsmasqTftpMessage('sent /srv/tftp to 10.0.0.5', '/srv/tftp'), undefined);
  });
  test('pre-2.87 "not found" without a client, and errors, are ignored', () => {
    assert.equal(parseDnsmasqTftpMessage('file /srv/tftp/x not found', '/srv/tftp'), undefined);
    assert.equal(parseDnsmasqTftpMessage('cannot access /srv/tftp/x: Permission denied', '/srv/tftp'), undefined);
    assert.equal(parseDnsmasqTftpMessage('error 0 TFTP Aborted received from 10.0.0.5', '/srv/tftp'), undefined);
  });
  test('IPv6 client with %iface is skipped quietly', () => {
    assert.equal(parseDnsmasqTftpMessage('sent /srv/tftp/x to fe80::1%eth0', '/srv/tftp'), undefined);
  });
});

describe('dnsmasq-dhcp', () => {
  test('DHCPACK with and without hostname, with xid, trailing space', () => {
    assert.deepEqual(parseDnsmasqDhcpMessage('DHCPACK(eth0) 192.168.1.50 52:54:00:12:34:56 node01'), { kind: 'ack', ip: '192.168.1.50', mac: '52:54:00:12:34:56', hostname: 'node01' });
    assert.deepEqual(parseDnsmasqDhcpMessage('DHCPACK(eth0) 192.168.1.50 52:54:00:12:34:56 '), { kind: 'ack', ip: '192.168.1.50', mac: '52:54:00:12:34:56' });
    assert.deepEqual(parseDnsmasqDhcpMessage('1234567 DHCPACK(br0) 10.0.0.9 52:54:00:AB:CD:EF '), { kind: 'ack', ip: '10.0.0.9', mac: '52:54:00:ab:cd:ef' });
  });
  test('invalid hostname dropped, event kept', () => {
    assert.deepEqual(parseDnsmasqDhcpMessage('DHCPACK(eth0) 192.168.1.50 52:54:00:12:34:56 bad_name;rm'), { kind: 'ack', ip: '192.168.1.50', mac: '52:54:00:12:34:56' });
  });
  test('DHCPRELEASE', () => {
    assert.deepEqual(parseDnsmasqDhcpMessage('DHCPRELEASE(eth0) 192.168.1.50 52:54:00:12:34:56 '), { kind: 'release', ip: '192.168.1.50', mac: '52:54:00:12:34:56' });
  });
  test('other DHCP lines ignored; broken ACK is bad', () => {
    for (const l of ['DHCPDISCOVER(eth0) 52:54:00:12:34:56 ', 'DHCPOFFER(eth0) 192.168.1.50 52:54:00:12:34:56 ', 'DHCPNAK(eth0) 192.168.1.50 52:54:00:12:34:56 wrong network', '1234567 vendor class: PXEClient', 'PXE(eth0) 52:54:00:12:34:56 proxy']) {
      assert.equal(parseDnsmasqDhcpMessage(l), undefined, l);
    }
    assert.equal(parseDnsmasqDhcpMessage('DHCPACK(eth0) 192.168.1.50')?.kind, 'bad');
    assert.equal(parseDnsmasqDhcpMessage('DHCPACK(eth0) 192.168.1.50 20-aa:bb ')?.kind, 'bad');
  });
});

describe('dispatch by program', () => {
  test('a TFTP shape from dnsmasq-dhcp is not parsed, nor DHCP shapes from in.tftpd', () => {
    assert.equal(parseDaemonMessage('dnsmasq-dhcp', 'RRQ from 1.2.3.4 filename x', '/srv/tftp'), undefined);
    assert.equal(parseDaemonMessage('in.tftpd', 'DHCPACK(eth0) 1.2.3.4 52:54:00:12:34:56 ', '/srv/tftp'), undefined);
    assert.equal(parseDaemonMessage('atftpd', 'Serving x to 1.2.3.4:9', '/srv/tftp')?.kind, 'tftp');
  });
});
